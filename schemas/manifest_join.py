"""What the sample manifest says of a result: one join, used where a file's results are resolved
(pipeline/resolve.py) and where results kept unresolved are resolved by a manifest that came later
(warehouse/late_resolution.py).

It lives on the ground floor, below both: late resolution reads the unresolved queue, writes the resolved
rows, their currency and audit entries in one warehouse transaction, so it belongs to the warehouse floor,
which may not import the pipeline; the join is a fact about the manifest, not about processing a file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import polars as pl

FROM_MANIFEST = {
    "participant_id": "participant_id",
    "site_id": "site_id",
    "visit": "visit",
    "matrix": "matrix",
    "collection_date": "collection_date",
    "sample_condition": "condition",
}
"""Result column ← manifest column (MANIFEST_SCHEMA), filled from the manifest row of the result's sample."""


def join_manifest(
    rows: pl.DataFrame,
    samples: pl.DataFrame,
    visitnum: Mapping[str, float],
    *,
    how: Literal["left", "inner"] = "left",
) -> pl.DataFrame:
    """``rows`` (results: anything with ``sample_id``) in their order, with the :data:`FROM_MANIFEST`
    columns and ``visitnum`` (the visit's VISITNUM in study.yaml, ``visitnum``) taken from ``samples`` (a
    manifest, MANIFEST_SCHEMA), plus ``manifest_file`` and ``shipment_id`` of the listing. ``how="left"``
    keeps a result whose sample is in no manifest, those columns null; ``"inner"`` keeps only listed ones.
    Whatever the rows held in those columns before is replaced: keep a copy first to compare."""
    side = {f"_manifest_{col}": src for col, src in FROM_MANIFEST.items()}
    m = samples.select(
        "sample_id", *[pl.col(src).alias(tmp) for tmp, src in side.items()], "manifest_file", "shipment_id"
    )
    joined = rows.join(m, on="sample_id", how=how, maintain_order="left")
    return joined.with_columns(
        *[pl.col(f"_manifest_{col}").alias(col) for col in FROM_MANIFEST],
        visitnum=pl.col("_manifest_visit").replace_strict(
            dict(visitnum), default=None, return_dtype=pl.Float64()
        ),
    ).drop(list(side))


__all__ = ["FROM_MANIFEST", "join_manifest"]
