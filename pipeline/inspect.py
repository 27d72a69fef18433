"""Reading one export the way ingestion would, without a manifest or a warehouse (``biomarkers inspect``).

It runs the same processing as the flow (so what a lab sees here is what would be loaded), with an empty
manifest: sample identities are not resolved, but every well's qualifier, value, unit and pg/mL
conversion are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipeline.discover import is_sibling
from pipeline.manifest import Manifest
from pipeline.process import process_file
from readers.base import FileInput, ReaderError
from readers.detect import all_readers
from schemas.config import Config, load_config
from warehouse.raw import sha256_of

INSPECT_COLUMNS = [
    "plate",
    "well",
    "row_number",
    "sample_id",
    "sample_type",
    "analyte",
    "analyte_as_written",
    "signal",
    "signal_kind",
    "reported_text",
    "qualifier",
    "value",
    "unit",
    "conc_pg_ml",
    "dilution",
    "dilution_applied",
    "expected_conc",
    "flags",
]


@dataclass(frozen=True)
class Inspection:
    format: str
    label: str
    plates: list[str]
    rows: pl.DataFrame
    message: str
    warnings: list[str] = field(default_factory=list)


def inspect_file(path: Path, config: Config | None = None) -> Inspection:
    """Detect and read ``path`` (with its plate map, if one lies beside it named after it)."""
    siblings = {
        p.name: p.read_bytes() for p in sorted(path.parent.iterdir()) if p != path and is_sibling(path, p)
    }
    data = path.read_bytes()
    outcome = process_file(
        FileInput(name=path.name, data=data, siblings=siblings),
        sha256_of(data),
        config or load_config(),
        Manifest.empty(),
    )
    if outcome.format is None or outcome.wells is None:
        raise ReaderError(outcome.message)
    labels = {r.name: r.label for r in all_readers()}
    rows = outcome.wells.rename({"plate_id": "plate"}).with_columns(
        pl.coalesce("analyte", "analyte_as_written").alias("analyte")
    )
    counts = dict(rows.group_by("qualifier").len().iter_rows())
    summary = f"{rows.height} values read (well × analyte): " + ", ".join(
        f"{q} {counts.get(q, 0)}" for q in ("=", "<", ">", "NR")
    )
    return Inspection(
        format=outcome.format,
        label=labels.get(outcome.format, outcome.format),
        plates=[p.plate_id for p in outcome.plates],
        rows=rows.select(INSPECT_COLUMNS),
        message=summary,
        warnings=outcome.warnings,
    )
