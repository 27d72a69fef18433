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
from pipeline.process import process_file
from readers.base import FileInput
from readers.detect import detect, is_companion
from readers.platemap import parse_platemap
from readers.text import decode
from readers.units import factor_to_pg_ml
from schemas.config import Config, load_config
from schemas.manifest import Manifest
from warehouse.raw import sha256_of

_FALLBACK_LABEL = "read through the allotropy fallback"

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


def inspect_file(path: Path, config: Config | None = None, assay: str | None = None) -> Inspection:
    """Detect and read ``path`` (with its plate map, if one lies beside it named after it). ``assay`` (an
    assay_id, `--assay`) says which assay an export that does not name its analyte is."""
    siblings = {
        p.name: p.read_bytes() for p in sorted(path.parent.iterdir()) if p != path and is_sibling(path, p)
    }
    data = path.read_bytes()
    cfg = config or load_config()
    file = FileInput(name=path.name, data=data, siblings=siblings)
    if is_companion(file):
        return _platemap(file)
    reader = detect(file)  # raises a ReaderError: one short paragraph, each format's reason in .details
    read = reader.read(file)
    outcome = process_file(file, sha256_of(data), cfg, Manifest.empty(), assay=assay)
    warnings = list(read.warnings)
    if outcome.wells is not None and outcome.wells.height:
        rows = outcome.wells.rename({"plate_id": "plate"})
    else:
        # The file reads but would not load (e.g. its assay is not configured): show what was read,
        # converted the same way, and say why it would not load.
        warnings.append(f"would not load: {outcome.message}")
        rows = _as_read(read.wells, cfg).rename({"plate_id": "plate"})
    unnamed = rows.filter(
        pl.col("analyte").is_null() & (pl.col("analyte_as_written").str.strip_chars() == "")
    )
    if unnamed.height:
        warnings.append(
            f"the analyte is unknown for {unnamed.height} values: the export does not name it; give the "
            "assay "
            "(--assay ASSAY_ID), an analyte block in the plate map, or a file_patterns entry in assays.yaml"
        )
    rows = rows.with_columns(
        pl.when(pl.col("analyte").is_null() & (pl.col("analyte_as_written").str.strip_chars() == ""))
        .then(pl.lit("(unknown)"))
        .otherwise(pl.coalesce("analyte", "analyte_as_written"))
        .alias("analyte")
    )
    counts = dict(rows.group_by("qualifier").len().iter_rows())
    summary = f"{rows.height} values read (well × analyte): " + ", ".join(
        f"{q} {counts.get(q, 0)}" for q in ("=", "<", ">", "NR")
    )
    return Inspection(
        format=read.format,  # the reader that read it: "allotropy:<vendor>" when the fallback did
        label=reader.label if read.format == reader.name else f"{_FALLBACK_LABEL} ({read.format})",
        plates=[p.plate_id for p in read.plates],
        rows=rows.select(INSPECT_COLUMNS),
        message=summary,
        warnings=warnings,
    )


def _as_read(wells: pl.DataFrame, config: Config) -> pl.DataFrame:
    """Reader rows with the catalogue name and the pg/mL conversion (dilution applied once)."""
    units = wells["unit"].drop_nulls().unique().to_list()
    factors = {u: factor_to_pg_ml(u) for u in units}
    names = {a: config.catalogue.resolve(a) for a in wells["analyte_as_written"].unique().to_list()}
    factor = pl.col("unit").replace_strict(factors, default=None, return_dtype=pl.Float64())
    dil = pl.when(pl.col("dilution_applied")).then(pl.lit(1.0)).otherwise(pl.col("dilution"))
    return wells.with_columns(
        pl.col("analyte_as_written")
        .replace_strict(names, default=None, return_dtype=pl.String())
        .alias("analyte"),
        (pl.col("value") * factor * dil).alias("conc_pg_ml"),
    )


def _platemap(file: FileInput) -> Inspection:
    """A plate map is not loaded on its own: show its layout, one row per well, its variables as columns."""
    pm = parse_platemap(decode(file.data), name=file.name)
    rows = pl.DataFrame(
        [{"well": w, **{v: pm.value(w, v) for v in pm.variables}} for w in pm.wells],
        schema={"well": pl.String(), **{v: pl.String() for v in pm.variables}},
    )
    return Inspection(
        format="platemap",
        label="plate map (plater format), read together with the export named after it",
        plates=[],
        rows=rows,
        message=f"{rows.height} wells described; variables: {', '.join(pm.variables)}",
        warnings=list(pm.warnings),
    )
