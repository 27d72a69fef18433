"""The canonical well-level table every reader produces, its Pandera model, and the store's ``wells``.

One row = one value read from one well (or one replicate-average row) for one analyte. The columns keep
what the file said verbatim (``reported_text``, ``unit``, ``analyte_as_written``) beside what we made of it,
so any number in the warehouse can be traced back to the cell it came from.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from schemas.table import Column, Table, model_columns, polars_schema

QUALIFIERS = ("=", "<", ">", "NR")
"""``=`` in range; ``<`` below / ``>`` above the quantifiable range (``value`` is then the limit);
``NR`` not reported (``***``, ``NaN``, empty cell): ``value`` is null and the text says why."""

SAMPLE_TYPES = ("unknown", "standard", "qc", "blank", "control")


class WellModel(pa.DataFrameModel):
    """Structural rules of the well table (data rules that need configuration live in pipeline/validate).

    Its fields are the canonical well table's columns, dtypes and order (:data:`WELL_SCHEMA`) and the
    store's ``wells`` columns (:data:`WELLS_TABLE`): one declaration (schemas/table.py)."""

    source_file: str = pa.Field(nullable=False, description="file name as received (never used as a path)")
    format: str = pa.Field(nullable=False, description='reader that produced the row, e.g. "xponent"')
    plate_id: str = pa.Field(nullable=False, str_length={"min_value": 1})
    well: str = pa.Field(
        nullable=False,
        str_matches=r"^[A-P]([1-9]|1[0-9]|2[0-4])(,[A-P]([1-9]|1[0-9]|2[0-4]))*$",
        description='normalised "A1".."P24"; replicate-average rows list them: "A3,A4"',
    )
    row_number: int = pa.Field(
        nullable=True, ge=1, description="1-based line (CSV) or row (sheet) where the value was read"
    )
    sample_id: str = pa.Field(
        nullable=True, description='as written (standards/QCs: their name, e.g. "Standard1")'
    )
    sample_type: str = pa.Field(nullable=False, isin=list(SAMPLE_TYPES), description="one of SAMPLE_TYPES")
    expected_conc: float = pa.Field(
        nullable=True, description="nominal concentration of a standard/QC, in `unit`"
    )
    analyte_as_written: str = pa.Field(nullable=False)
    analyte: str = pa.Field(
        nullable=True, description="canonical catalogue name; null when not in the catalogue"
    )
    signal: float = pa.Field(nullable=True, description="raw signal (MFI, OD, ECL...) when the file has one")
    signal_kind: str = pa.Field(nullable=True, description='"MFI", "OD450", ...')
    reported_text: str = pa.Field(
        nullable=True, description="the concentration cell exactly as written (null: no such cell)"
    )
    qualifier: str = pa.Field(nullable=False, isin=list(QUALIFIERS), description="one of QUALIFIERS")
    value: float = pa.Field(
        nullable=True, description="the number as the file reports it, in `unit`; the limit when censored"
    )
    extrapolated: bool = pa.Field(
        nullable=False, description='leading "*" (Luminex/Bio-Plex): beyond the standards'
    )
    unit: str = pa.Field(
        nullable=True,
        description="unit as written in the file, or from assay configuration (see unit_source)",
    )
    unit_source: str = pa.Field(
        nullable=True,
        isin=["file", "config"],
        description='"file" | "config" | null (unknown: the row is held)',
    )
    conc_pg_ml: float = pa.Field(
        nullable=True, description="value converted to pg/mL, dilution applied exactly once"
    )
    dilution: float = pa.Field(nullable=False, gt=0, description="sample dilution factor")
    dilution_applied: bool = pa.Field(
        nullable=False, description="True when the file's value already includes the dilution"
    )
    flags: str = pa.Field(
        nullable=True, description="reader remarks, ';'-separated (e.g. outlier, low bead count)"
    )

    class Config:
        strict = True
        ordered = True


WELL_SCHEMA: dict[str, pl.DataType] = polars_schema(model_columns(WellModel))
"""The canonical well table every reader produces (polars dtypes, in order): :class:`WellModel`'s fields."""

WELL_COLUMNS = list(WELL_SCHEMA)

RECOMPUTED_COLUMNS = (
    Column(
        "recomputed_conc",
        pl.Float64(),
        note="in-well, file unit: the signal through our curve (instrument value kept)",
        added="per-well recomputed concentrations",
    ),
    Column(
        "recomputed_diff_pct",
        pl.Float64(),
        note="(ours - instrument) / instrument x 100, on the instrument's basis",
        added="per-well recomputed concentrations",
    ),
)
"""What pipeline/prepare adds to each well: the instrument's concentration recomputed through our curve."""

RECOMPUTED_SCHEMA: dict[str, pl.DataType] = polars_schema(RECOMPUTED_COLUMNS)

WELLS_TABLE = Table(
    "wells",
    (Column("source_sha256", pl.String(), not_null=True), *model_columns(WellModel), *RECOMPUTED_COLUMNS),
)
"""The store's ``wells``: the file's SHA-256, the canonical well columns, the recomputed comparison."""


def empty_wells() -> pl.DataFrame:
    return pl.DataFrame(schema=WELL_SCHEMA)


def conform(df: pl.DataFrame) -> pl.DataFrame:
    """Add missing canonical columns as nulls, cast to the canonical dtypes, order the columns.

    Readers build what they know; this keeps every reader's output the same shape.
    """
    missing = [pl.lit(None, dtype=t).alias(c) for c, t in WELL_SCHEMA.items() if c not in df.columns]
    out = df.with_columns(missing) if missing else df
    return out.select([pl.col(c).cast(t, strict=True) for c, t in WELL_SCHEMA.items()])
