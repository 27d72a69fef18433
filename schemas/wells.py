"""The canonical well-level table every reader produces, and its Pandera model.

One row = one value read from one well (or one replicate-average row) for one analyte. The columns keep
what the file said verbatim (``reported_text``, ``unit``, ``analyte_as_written``) beside what we made of it,
so any number in the warehouse can be traced back to the cell it came from.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

QUALIFIERS = ("=", "<", ">", "NR")
"""``=`` in range; ``<`` below / ``>`` above the quantifiable range (``value`` is then the limit);
``NR`` not reported (``***``, ``NaN``, empty cell): ``value`` is null and the text says why."""

SAMPLE_TYPES = ("unknown", "standard", "qc", "blank", "control")

WELL_SCHEMA: dict[str, pl.DataType] = {
    "source_file": pl.String(),  # file name as received (never used as a path)
    "format": pl.String(),  # reader that produced the row, e.g. "xponent"
    "plate_id": pl.String(),
    "well": pl.String(),  # normalised "A1".."P24"; replicate-average rows list them: "A3,A4"
    "row_number": pl.Int64(),  # 1-based line (CSV) or row (sheet) where the value was read
    "sample_id": pl.String(),  # as written (standards/QCs: their name, e.g. "Standard1")
    "sample_type": pl.String(),  # one of SAMPLE_TYPES
    "expected_conc": pl.Float64(),  # nominal concentration of a standard/QC, in `unit`
    "analyte_as_written": pl.String(),
    "analyte": pl.String(),  # canonical catalogue name; null when not in the catalogue
    "signal": pl.Float64(),  # raw signal (MFI, OD, ECL...) when the file has one
    "signal_kind": pl.String(),  # "MFI", "OD450", ...
    "reported_text": pl.String(),  # the concentration cell exactly as written (null: no such cell)
    "qualifier": pl.String(),  # one of QUALIFIERS
    "value": pl.Float64(),  # the number as the file reports it, in `unit`; the limit when censored
    "extrapolated": pl.Boolean(),  # leading "*" (Luminex/Bio-Plex): beyond the standards
    "unit": pl.String(),  # unit as written in the file, or from assay configuration (see unit_source)
    "unit_source": pl.String(),  # "file" | "config" | null (unknown: the row is held)
    "conc_pg_ml": pl.Float64(),  # value converted to pg/mL, dilution applied exactly once
    "dilution": pl.Float64(),  # sample dilution factor
    "dilution_applied": pl.Boolean(),  # True when the file's value already includes the dilution
    "flags": pl.String(),  # reader remarks, ';'-separated (e.g. "outlier", "low bead count")
}

WELL_COLUMNS = list(WELL_SCHEMA)


def empty_wells() -> pl.DataFrame:
    return pl.DataFrame(schema=WELL_SCHEMA)


def conform(df: pl.DataFrame) -> pl.DataFrame:
    """Add missing canonical columns as nulls, cast to the canonical dtypes, order the columns.

    Readers build what they know; this keeps every reader's output the same shape.
    """
    missing = [pl.lit(None, dtype=t).alias(c) for c, t in WELL_SCHEMA.items() if c not in df.columns]
    out = df.with_columns(missing) if missing else df
    return out.select([pl.col(c).cast(t, strict=True) for c, t in WELL_SCHEMA.items()])


class WellModel(pa.DataFrameModel):
    """Structural rules of the well table (data rules that need configuration live in pipeline/validate)."""

    source_file: str = pa.Field(nullable=False)
    format: str = pa.Field(nullable=False)
    plate_id: str = pa.Field(nullable=False, str_length={"min_value": 1})
    well: str = pa.Field(
        nullable=False, str_matches=r"^[A-P]([1-9]|1[0-9]|2[0-4])(,[A-P]([1-9]|1[0-9]|2[0-4]))*$"
    )
    row_number: int = pa.Field(nullable=True, ge=1)
    sample_id: str = pa.Field(nullable=True)
    sample_type: str = pa.Field(nullable=False, isin=list(SAMPLE_TYPES))
    expected_conc: float = pa.Field(nullable=True)
    analyte_as_written: str = pa.Field(nullable=False)
    analyte: str = pa.Field(nullable=True)
    signal: float = pa.Field(nullable=True)
    signal_kind: str = pa.Field(nullable=True)
    reported_text: str = pa.Field(nullable=True)
    qualifier: str = pa.Field(nullable=False, isin=list(QUALIFIERS))
    value: float = pa.Field(nullable=True)
    extrapolated: bool = pa.Field(nullable=False)
    unit: str = pa.Field(nullable=True)
    unit_source: str = pa.Field(nullable=True, isin=["file", "config"])
    conc_pg_ml: float = pa.Field(nullable=True)
    dilution: float = pa.Field(nullable=False, gt=0)
    dilution_applied: bool = pa.Field(nullable=False)
    flags: str = pa.Field(nullable=True)

    class Config:
        strict = True
        ordered = True
