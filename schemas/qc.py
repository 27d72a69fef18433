"""Per-run assay QC records a processed file yields: fitted curves, calibrator levels, acceptance rules.

They are part of the record (ICH M10 / GCLP: the curve and the run verdict a result was reported under),
stored beside the results and traceable by ``source_sha256`` + ``plate_id`` + ``analyte``.
"""

from __future__ import annotations

import polars as pl

from schemas.table import UTC_TIMESTAMP, Column, Table, polars_schema

CURVE_COLUMNS = (
    Column("source_sha256", pl.String(), not_null=True),
    Column("plate_id", pl.String(), not_null=True),
    Column("analyte", pl.String(), not_null=True),
    Column("assay_id", pl.String()),
    Column("kit_lot", pl.String()),
    Column("model", pl.String(), note="4PL | 5PL"),
    Column("weighting", pl.String(), note="none | 1/y | 1/y2"),
    Column("a", pl.Float64(), note="response at zero concentration"),
    Column("b", pl.Float64(), note="slope"),
    Column("c", pl.Float64(), note="inflection (EC50 for the 4PL), in-well concentration"),
    Column("d", pl.Float64(), note="response at infinite concentration"),
    Column("g", pl.Float64(), note="5PL asymmetry (null for the 4PL)"),
    Column("r_squared", pl.Float64()),
    Column("converged", pl.Boolean()),
    Column("fit_message", pl.String()),
    Column("n_levels", pl.Int32(), note="non-zero calibrator levels run"),
    Column("n_accepted", pl.Int32(), note="non-zero levels in the final curve and within limits"),
    Column("masked_levels", pl.String(), note='in masking order, e.g. "S4;S7"'),
    Column("lloq_in_well", pl.Float64(), note="lowest / highest accepted standard (in-well, pg/mL)"),
    Column("uloq_in_well", pl.Float64()),
    Column("max_signal", pl.Float64(), note="mean signal of the top standard (Levey-Jennings metric)"),
    Column("calibration_passed", pl.Boolean()),
    Column("concentrations_from", pl.String(), note='"fitted curve" | "instrument"'),
    Column("notes", pl.String()),
    Column(
        "residual_rmse",
        pl.Float64(),
        note="RMS of (mean signal − fitted signal) over the levels in the final fit",
        added="issue 4: curve residuals",
    ),
    Column(
        "residual_rms_pct",
        pl.Float64(),
        note="RMS of the same residuals as % of the fitted signal",
        added="issue 4: curve residuals",
    ),
    Column(
        "ec50",
        pl.Float64(),
        note="concentration at the mid-response (a + d) / 2: c for a 4PL, not for a 5PL",
        added="issue 4: curve residuals",
    ),
)

CURVE_SCHEMA: dict[str, pl.DataType] = polars_schema(CURVE_COLUMNS)

CALIBRATOR_COLUMNS = (
    Column("source_sha256", pl.String(), not_null=True),
    Column("plate_id", pl.String(), not_null=True),
    Column("analyte", pl.String(), not_null=True),
    Column("level", pl.String(), not_null=True),
    Column("nominal", pl.Float64()),
    Column("n_wells", pl.Int32()),
    Column("mean_signal", pl.Float64()),
    Column("cv_pct", pl.Float64()),
    Column("back_calc", pl.Float64()),
    Column("recovery_pct", pl.Float64()),
    Column("limit_pct", pl.Float64()),
    Column("within_limits", pl.Boolean()),
    Column("masked", pl.Boolean()),
    Column("mask_reason", pl.String()),
    Column(
        "fitted_signal",
        pl.Float64(),
        note="the final curve at the nominal concentration",
        added="issue 4: curve residuals",
    ),
    Column(
        "residual",
        pl.Float64(),
        note="mean signal − fitted signal (masked levels too: how far off they sit)",
        added="issue 4: curve residuals",
    ),
    Column(
        "residual_pct",
        pl.Float64(),
        note="residual as % of the fitted signal",
        added="issue 4: curve residuals",
    ),
)

CALIBRATOR_SCHEMA: dict[str, pl.DataType] = polars_schema(CALIBRATOR_COLUMNS)

ACCEPTANCE_COLUMNS = (
    Column("source_sha256", pl.String(), not_null=True),
    Column("plate_id", pl.String(), not_null=True),
    Column("analyte", pl.String(), not_null=True),
    Column("run_accepted", pl.Boolean(), not_null=True, note="the verdict for this plate × analyte"),
    Column(
        "rule",
        pl.String(),
        not_null=True,
        note="CAL_PASS_FRACTION, CAL_MIN_LEVELS, QC_PASS_FRACTION, QC_LEVEL_PASS_FRACTION, ...",
    ),
    Column("subject", pl.String(), note="e.g. QC-H for a per-level rule"),
    Column("passed", pl.Boolean(), not_null=True),
    Column("observed", pl.Float64()),
    Column("limit_value", pl.String()),
    Column("reason", pl.String(), not_null=True),
)

ACCEPTANCE_SCHEMA: dict[str, pl.DataType] = polars_schema(ACCEPTANCE_COLUMNS)

# The run-metric series and the Levey–Jennings record (pipeline/trend.py judges; warehouse/trend_history.py
# stores and reads back): here, below both, since issue 17.
HISTORY_SCHEMA: dict[str, pl.DataType] = {
    "assay_id": pl.String(),
    "analyte": pl.String(),
    "kit_lot": pl.String(),
    "metric": pl.String(),
    "run_id": pl.String(),  # source_sha256:plate_id
    "run_order": pl.Int64(),  # load sequence of the file
    "value": pl.Float64(),
    "accepted": pl.Boolean(),
}
"""A run metric series (earlier runs from the store; this file's runs from its outcome)."""

TREND_COLUMNS = (
    Column("source_sha256", pl.String(), not_null=True),
    Column("plate_id", pl.String(), not_null=True),
    Column("analyte", pl.String(), not_null=True),
    Column("assay_id", pl.String()),
    Column("kit_lot", pl.String()),
    Column("series", pl.String(), not_null=True, note="QC level name (QC-L, QC-M, QC-H), EC50 or max_signal"),
    Column("value", pl.Float64(), note="pg/mL (QC levels, EC50) or signal units (max_signal)"),
    Column("unit", pl.String()),
    Column(
        "scale",
        pl.String(),
        note="linear | log10: the scale the guide set, z and rules are on (log10 for EC50)",
    ),
    Column("run_accepted", pl.Boolean(), note="the run's own acceptance (before any Westgard rejection)"),
    Column("guide_kind", pl.String(), note="run-based | value-based; null: no guide set yet"),
    Column("guide_mean", pl.Float64()),
    Column("guide_sd", pl.Float64()),
    Column("guide_n", pl.Int32(), note="runs in a run-based guide set"),
    Column("z", pl.Float64(), note="(value − guide mean) / guide SD"),
    Column("n_history", pl.Int32(), note="earlier accepted runs of the series the rules looked back on"),
    Column("rules_violated", pl.String(), note='";"-joined Westgard rules, null when none'),
    Column("action", pl.String(), note="warning | reject when a rule fired, else null"),
    Column("note", pl.String(), note="why the value was not judged (no guide set yet …)"),
    Column("judged_at", UTC_TIMESTAMP, not_null=True),
)

TREND_SCHEMA: dict[str, pl.DataType] = polars_schema(TREND_COLUMNS)

LOG_METRICS = ("EC50",)
"""Judged on log10: an EC50 is log-normal (a concentration on a log axis; a curve that barely bends inside
the standards throws it decades away), so a guide set's arithmetic mean sits above most runs and 10x would
fire on nearly every run. Its guide mean and SD are of log10(EC50); a value-based guide set for EC50 is
configured as [geometric mean in pg/mL, SD of log10]."""

CURVES_TABLE = Table(
    "curves",
    CURVE_COLUMNS,
    primary_key=("source_sha256", "plate_id", "analyte"),
    note="Assay QC of each run (plate × analyte): the curve results were read through, every calibrator "
    "level with its recovery and masking, and each acceptance rule's verdict (ICH M10 defaults, "
    "config/assays.yaml).",
)
CALIBRATORS_TABLE = Table("calibrators", CALIBRATOR_COLUMNS)
RUN_ACCEPTANCE_TABLE = Table("run_acceptance", ACCEPTANCE_COLUMNS)
QC_TREND_TABLE = Table(
    "qc_trend",
    TREND_COLUMNS,
    note="issue 4: Levey–Jennings / Westgard judged when each run is loaded (pipeline/trend.py): one row "
    "per plate × analyte × series (QC level, EC50, max_signal), against the earlier accepted runs of the "
    "kit lot.",
)
