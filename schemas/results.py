"""Sample-level results, quarantine rows and the unresolved queue: the tables a processed file yields.

A result is one sample × analyte × assay run: the replicate wells aggregated, resolved to participant and
visit through the manifest, with its censoring (qualifier + limit) and its trail back to the wells.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from schemas.wells import QUALIFIERS

RESULT_STATUSES = ("loaded", "held", "unresolved", "run_rejected")
"""``loaded``: resolved and valid (current unless superseded/excluded); ``held``: failed a data rule
(plausibility, unit…) and waits for review; ``unresolved``: sample ID not in the manifest yet;
``run_rejected``: the run (plate × analyte) failed acceptance — kept, never current (``hold_reason`` says
which rule)."""

RESULT_SCHEMA: dict[str, pl.DataType] = {
    "result_id": pl.String(),  # stable: sha256 of source_sha256|plate_id|sample_id|analyte|assay_id (32 hex)
    "study_id": pl.String(),
    "participant_id": pl.String(),  # null while unresolved
    "site_id": pl.String(),
    "visit": pl.String(),  # visit code (study.yaml)
    "visitnum": pl.Float64(),
    "matrix": pl.String(),
    "collection_date": pl.Date(),
    "sample_id": pl.String(),
    "sample_condition": pl.String(),  # from the manifest, e.g. HEMOLYZED
    "analyte": pl.String(),
    "analyte_class": pl.String(),
    "assay_id": pl.String(),
    "platform": pl.String(),
    "kit_lot": pl.String(),
    "plate_id": pl.String(),
    "conc_pg_ml": pl.Float64(),  # replicate mean; the limit (× dilution) when censored; null when NR
    "qualifier": pl.String(),  # = < > NR
    "lloq_pg_ml": pl.Float64(),  # quantification limits of this run for this sample (× dilution)
    "uloq_pg_ml": pl.Float64(),
    "cv_pct": pl.Float64(),  # replicate CV of the numeric replicates (null with fewer than 2)
    "n_replicates": pl.Int32(),  # replicates that gave a number
    "n_wells": pl.Int32(),
    "dilution": pl.Float64(),
    "wells": pl.String(),  # "A3,A4"
    "reported_texts": pl.String(),  # the wells' concentration cells as written, "|"-separated
    "unit_as_written": pl.String(),
    "extrapolated": pl.Boolean(),
    "flags": pl.String(),  # ";"-separated: high_cv, extrapolated, mixed_censoring, ...
    "status": pl.String(),  # RESULT_STATUSES
    "hold_reason": pl.String(),
    "source_file": pl.String(),
    "source_sha256": pl.String(),
}

QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "source_file": pl.String(),
    "source_sha256": pl.String(),
    "plate_id": pl.String(),
    "well": pl.String(),
    "row_number": pl.Int64(),
    "sample_id": pl.String(),
    "analyte": pl.String(),
    "value_text": pl.String(),
    "rule": pl.String(),  # short stable code, e.g. plausible_range, unknown_analyte, unreadable_file
    "severity": pl.String(),  # reject (not loaded) | hold (loaded, not current) | warning (loaded, flagged)
    "message": pl.String(),  # one plain sentence for a lab person, ending with what to do
}

UNRESOLVED_SCHEMA: dict[str, pl.DataType] = {
    "source_file": pl.String(),
    "source_sha256": pl.String(),
    "plate_id": pl.String(),
    "sample_id": pl.String(),
    "wells": pl.String(),
    "n_results": pl.Int32(),
    "reason": pl.String(),
}

SEVERITIES = ("reject", "hold", "warning")


def empty(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


class ResultModel(pa.DataFrameModel):
    """Structural and censoring rules every result row obeys before it may be loaded."""

    result_id: str = pa.Field(unique=True, str_matches=r"^[0-9a-f]{32}$")
    study_id: str
    participant_id: str = pa.Field(nullable=True)
    site_id: str = pa.Field(nullable=True)
    visit: str = pa.Field(nullable=True)
    visitnum: float = pa.Field(nullable=True)
    matrix: str = pa.Field(nullable=True)
    collection_date: pl.Date = pa.Field(nullable=True)
    sample_id: str
    sample_condition: str = pa.Field(nullable=True)
    analyte: str
    analyte_class: str
    assay_id: str
    platform: str
    kit_lot: str = pa.Field(nullable=True)
    plate_id: str
    conc_pg_ml: float = pa.Field(nullable=True, ge=0)
    qualifier: str = pa.Field(isin=list(QUALIFIERS))
    lloq_pg_ml: float = pa.Field(nullable=True, ge=0)
    uloq_pg_ml: float = pa.Field(nullable=True, ge=0)
    cv_pct: float = pa.Field(nullable=True, ge=0)
    n_replicates: pl.Int32 = pa.Field(ge=0)
    n_wells: pl.Int32 = pa.Field(ge=1)
    dilution: float = pa.Field(gt=0)
    wells: str
    reported_texts: str = pa.Field(nullable=True)
    unit_as_written: str = pa.Field(nullable=True)
    extrapolated: bool
    flags: str = pa.Field(nullable=True)
    status: str = pa.Field(isin=list(RESULT_STATUSES))
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
