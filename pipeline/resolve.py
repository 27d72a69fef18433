"""Results → participant, site, visit, matrix and collection date through the sample manifest.

- A sample ID in the manifest fills participant_id, site_id, visit, visitnum (study.yaml), matrix,
  collection_date and sample_condition.
- A sample ID not in any manifest received so far keeps its results with participant null (status
  ``unresolved``, set by pipeline/validate) and gets one row per plate × sample in the unresolved queue,
  with a sentence a lab person can act on. Nothing is dropped: the result loads once the ID resolves.
- A plate holds one matrix, decided by its samples (the matrix most of its resolved samples have; a tie
  decides none). A sample whose manifest matrix differs from that is held (``mixed_matrix``), as are all
  resolved samples of a plate whose samples split evenly between matrices. Unresolved results take the
  plate's matrix (so plausibility can still be checked).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from pipeline.replicates import ROW_NUMBER
from pipeline.validate import add_flag, add_reason, quarantine_frame
from schemas.config import Config
from schemas.manifest import Manifest
from schemas.manifest_join import join_manifest
from schemas.results import HOLD_TEXT, UNRESOLVED_SCHEMA


@dataclass(frozen=True)
class Resolution:
    results: pl.DataFrame  # same rows, manifest columns filled
    unresolved: pl.DataFrame  # UNRESOLVED_SCHEMA
    quarantine: pl.DataFrame
    plate_matrix: dict[str, str | None]  # plate_id → matrix of its samples (None: none resolved / a tie)


def _sort_wells(wells: list[str]) -> list[str]:
    def key(w: str) -> tuple[int, int]:
        return (ord(w[0]), int(w[1:]) if w[1:].isdigit() else 0)

    return sorted(set(wells), key=key)


def resolve(results: pl.DataFrame, manifest: Manifest, config: Config) -> Resolution:
    visitnum = {v.code: v.visitnum for v in config.study.visits}
    # the manifest's matrix and file, kept: the plate's matrix and the messages below use them
    joined = join_manifest(results, manifest.samples, visitnum, how="left").with_columns(
        _matrix=pl.col("matrix"), _manifest_file=pl.col("manifest_file")
    )

    # the plate's matrix: what most of its resolved samples are
    per_sample = joined.filter(pl.col("_matrix").is_not_null()).unique(["plate_id", "sample_id"])
    counts = per_sample.group_by("plate_id", "_matrix").agg(n=pl.len())
    plate_matrix: dict[str, str | None] = {}
    for pid in joined["plate_id"].unique().to_list():
        c = counts.filter(pl.col("plate_id") == pid).sort("n", "_matrix", descending=[True, False])
        if c.height == 0 or (c.height > 1 and c["n"][0] == c["n"][1]):
            plate_matrix[pid] = None
        else:
            plate_matrix[pid] = c["_matrix"][0]
    split_plates = {
        pid
        for pid in plate_matrix
        if plate_matrix[pid] is None and counts.filter(pl.col("plate_id") == pid).height > 1
    }
    pm = pl.col("plate_id").replace_strict(plate_matrix, default=None, return_dtype=pl.String())
    odd = pl.col("_matrix").is_not_null() & (
        (pm.is_not_null() & (pl.col("_matrix") != pm)) | pl.col("plate_id").is_in(list(split_plates))
    )
    q: list[dict[str, object]] = []
    odd_rows = joined.filter(odd)
    for (pid, sid), g in odd_rows.group_by("plate_id", "sample_id", maintain_order=True):
        mx = g["_matrix"][0]
        others = plate_matrix.get(str(pid))
        if others is None:
            kinds = sorted(counts.filter(pl.col("plate_id") == pid)["_matrix"].to_list())
            why = f"the plate's samples split evenly between {' and '.join(kinds)}, so its matrix is unclear"
        else:
            why = (
                f"sample {sid} is {mx} in the manifest ({g['_manifest_file'][0]}) but the plate's other "
                f"samples are {others}"
            )
        q.append(
            {
                "source_file": g["source_file"][0],
                "source_sha256": g["source_sha256"][0],
                "plate_id": pid,
                "well": ",".join(_sort_wells(",".join(g["wells"].to_list()).split(","))),
                "row_number": g[ROW_NUMBER].min(),
                "sample_id": sid,
                "value_text": mx,
                "rule": "mixed_matrix",
                "severity": "hold",
                "message": f"Plate {pid}: {why}, so its {g.height} result(s) are held; check the sample "
                "ID on the plate map, or correct the matrix in the manifest.",
            }
        )
    joined = joined.with_columns(
        add_flag(pl.col("flags"), "mixed_matrix", odd).alias("flags"),
        add_reason(pl.col("hold_reason"), HOLD_TEXT["mixed_matrix"], odd).alias("hold_reason"),
        matrix=pl.when(pl.col("participant_id").is_null()).then(pm).otherwise(pl.col("matrix")),
    )

    # the unresolved queue: one row per plate × sample
    unres = joined.filter(pl.col("participant_id").is_null())
    n_files = manifest.n_files
    checked = f"checked {n_files} manifest file{'s' if n_files != 1 else ''}"
    urows = []
    for (pid, sid), g in unres.group_by("plate_id", "sample_id", maintain_order=True):
        wells = _sort_wells(",".join(g["wells"].to_list()).split(","))
        urows.append(
            {
                "source_file": g["source_file"][0],
                "source_sha256": g["source_sha256"][0],
                "plate_id": pid,
                "sample_id": sid,
                "wells": ",".join(wells),
                "n_results": g.height,
                "reason": f"sample ID {sid!r} is not in any sample manifest received so far ({checked}); "
                "check the ID on the plate map or send the manifest — the results are kept and will load "
                "once the ID resolves",
            }
        )
    unresolved = (
        pl.DataFrame(urows, schema=UNRESOLVED_SCHEMA, orient="row")
        if urows
        else pl.DataFrame(schema=UNRESOLVED_SCHEMA)
    )
    out = joined.select(results.columns)
    return Resolution(out, unresolved, quarantine_frame(q), plate_matrix)


__all__ = ["Resolution", "resolve"]
