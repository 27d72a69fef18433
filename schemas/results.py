"""Sample-level results, quarantine rows and the unresolved queue: the tables a processed file yields.

A result is one sample × analyte × assay run: the replicate wells aggregated, resolved to participant and
visit through the manifest, with its censoring (qualifier + limit) and its trail back to the wells.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from schemas.table import UTC_TIMESTAMP, Column, Table, model_columns, polars_schema
from schemas.wells import QUALIFIERS

RESULT_STATUSES = ("loaded", "held", "unresolved", "run_rejected")
"""``loaded``: resolved and valid (current unless superseded/excluded); ``held``: failed a data rule
(plausibility, unit…) and waits for review; ``unresolved``: sample ID not in the manifest yet;
``run_rejected``: the run (plate × analyte) failed acceptance — kept, never current (``hold_reason`` says
which rule)."""

SEVERITIES = ("reject", "hold", "warning")


def empty(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


class ResultModel(pa.DataFrameModel):
    """Structural and censoring rules every result row obeys before it may be loaded.

    Its fields are the result table's columns, dtypes and order (:data:`RESULT_SCHEMA`) and the store's
    ``results_all`` columns (:data:`RESULTS_TABLE`): one declaration (schemas/table.py)."""

    result_id: str = pa.Field(
        unique=True,
        str_matches=r"^[0-9a-f]{32}$",
        description="stable: sha256 of source_sha256|plate_id|sample_id|analyte|assay_id (32 hex)",
    )
    study_id: str
    participant_id: str = pa.Field(nullable=True, description="null while unresolved")
    site_id: str = pa.Field(nullable=True)
    visit: str = pa.Field(nullable=True, description="visit code (study.yaml)")
    visitnum: float = pa.Field(nullable=True)
    matrix: str = pa.Field(nullable=True)
    collection_date: pl.Date = pa.Field(nullable=True)
    sample_id: str
    sample_condition: str = pa.Field(nullable=True, description="from the manifest, e.g. HEMOLYZED")
    analyte: str
    analyte_class: str
    assay_id: str
    platform: str
    kit_lot: str = pa.Field(nullable=True)
    plate_id: str
    conc_pg_ml: float = pa.Field(
        nullable=True, ge=0, description="replicate mean; the limit (x dilution) when censored; null when NR"
    )
    qualifier: str = pa.Field(isin=list(QUALIFIERS), description="= < > NR")
    lloq_pg_ml: float = pa.Field(
        nullable=True, ge=0, description="quantification limits of this run for this sample (x dilution)"
    )
    uloq_pg_ml: float = pa.Field(nullable=True, ge=0)
    cv_pct: float = pa.Field(
        nullable=True, ge=0, description="replicate CV of the numeric replicates (null with fewer than 2)"
    )
    n_replicates: pl.Int32 = pa.Field(ge=0, description="replicates that gave a number")
    n_wells: pl.Int32 = pa.Field(ge=1)
    dilution: float = pa.Field(gt=0)
    wells: str = pa.Field(description='"A3,A4"')
    reported_texts: str = pa.Field(
        nullable=True, description="the wells' concentration cells as written, '|'-separated"
    )
    unit_as_written: str = pa.Field(nullable=True)
    extrapolated: bool
    flags: str = pa.Field(
        nullable=True, description="';'-separated: high_cv, extrapolated, mixed_censoring, ..."
    )
    status: str = pa.Field(isin=list(RESULT_STATUSES), description="RESULT_STATUSES")
    hold_reason: str = pa.Field(nullable=True)
    source_file: str
    source_sha256: str = pa.Field(str_matches=r"^[0-9a-f]{64}$")

    class Config:
        strict = True
        ordered = True

    @pa.dataframe_check
    @classmethod
    def censored_values_carry_their_limit(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """Rule 3: a ``<``/``>`` result is stored with its limit, never as a bare qualifier."""
        q = pl.col("qualifier")
        return data.lazyframe.select(~q.is_in(["<", ">"]) | pl.col("conc_pg_ml").is_not_null())

    @pa.dataframe_check
    @classmethod
    def numbers_only_when_reported(cls, data: pa.PolarsData) -> pl.LazyFrame:
        q = pl.col("qualifier")
        return data.lazyframe.select((q == "NR") == pl.col("conc_pg_ml").is_null())

    @pa.dataframe_check
    @classmethod
    def resolved_unless_unresolved(cls, data: pa.PolarsData) -> pl.LazyFrame:
        resolved = pl.col("participant_id").is_not_null() & pl.col("visit").is_not_null()
        return data.lazyframe.select(pl.col("status").is_in(["unresolved", "run_rejected"]) | resolved)


RESULT_SCHEMA: dict[str, pl.DataType] = polars_schema(model_columns(ResultModel))
"""The result table a processed file yields (polars dtypes, in order): :class:`ResultModel`'s fields."""

_RUN_ID = Column("run_id", pl.String(), not_null=True)

RESULTS_TABLE = Table(
    "results_all",
    (*model_columns(ResultModel), Column("loaded_at", UTC_TIMESTAMP, not_null=True), _RUN_ID),
    primary_key=("result_id",),
)
"""The store's ``results_all``: every result ever loaded, with when and by which run."""

QUARANTINE_COLUMNS = (
    Column("source_file", pl.String(), not_null=True),
    Column("source_sha256", pl.String(), not_null=True),
    Column("plate_id", pl.String()),
    Column("well", pl.String()),
    Column("row_number", pl.Int64()),
    Column("sample_id", pl.String()),
    Column("analyte", pl.String()),
    Column("value_text", pl.String()),
    Column(
        "rule",
        pl.String(),
        not_null=True,
        note="short stable code, e.g. plausible_range, unknown_analyte, unreadable_file",
    ),
    Column(
        "severity",
        pl.String(),
        not_null=True,
        note="reject (not loaded) | hold (loaded, not current) | warning (loaded, flagged)",
    ),
    Column(
        "message",
        pl.String(),
        not_null=True,
        note="one plain sentence for a lab person, ending with what to do",
    ),
)

QUARANTINE_SCHEMA: dict[str, pl.DataType] = polars_schema(QUARANTINE_COLUMNS)

QUARANTINE_TABLE = Table(
    "quarantine", (*QUARANTINE_COLUMNS, Column("created_at", UTC_TIMESTAMP, not_null=True), _RUN_ID)
)

UNRESOLVED_COLUMNS = (
    Column("source_file", pl.String(), not_null=True),
    Column("source_sha256", pl.String(), not_null=True),
    Column("plate_id", pl.String(), not_null=True),
    Column("sample_id", pl.String(), not_null=True),
    Column("wells", pl.String()),
    Column("n_results", pl.Int32(), not_null=True),
    Column("reason", pl.String(), not_null=True),
)

UNRESOLVED_SCHEMA: dict[str, pl.DataType] = polars_schema(UNRESOLVED_COLUMNS)

UNRESOLVED_TABLE = Table(
    "unresolved", (*UNRESOLVED_COLUMNS, Column("created_at", UTC_TIMESTAMP, not_null=True), _RUN_ID)
)


# What a hold reason says to a lab person (pipeline/validate.py and the warehouse's late resolution both
# write it): here since issue 17.
HOLD_TEXT = {
    "unit_unknown": "no concentration unit the pipeline can convert to pg/mL",
    "dilution_missing": "no dilution factor for this sample in the export",
    "limit_unknown": "a censored replicate has no known limit (no standards on the plate, none configured)",
    "negative_value": "a replicate reports a negative concentration",
    "non_finite_value": "a replicate reports an infinite or overflowing number",
    "conflicting_censoring": "replicates are both below and above the quantifiable range",
    "mixed_dilution": "replicates were run at different dilutions",
    "mixed_matrix": "the sample's matrix differs from the plate's other samples",
    "plausible_range": "outside the plausible range for the analyte and matrix",
    "curve_failed": "no standard curve could be fitted for the analyte on this plate",
    "standards_off_scale": "the plate's standards for the analyte are far off the kit's series (unit?)",
}
"""Short reasons used in ``hold_reason`` (the quarantine row carries the full sentence)."""
