"""Per-run assay QC records a processed file yields: fitted curves, calibrator levels, acceptance rules.

They are part of the record (ICH M10 / GCLP: the curve and the run verdict a result was reported under),
stored beside the results and traceable by ``source_sha256`` + ``plate_id`` + ``analyte``.
"""

from __future__ import annotations

import polars as pl

CURVE_SCHEMA: dict[str, pl.DataType] = {
    "source_sha256": pl.String(),
    "plate_id": pl.String(),
    "analyte": pl.String(),
    "assay_id": pl.String(),
    "kit_lot": pl.String(),
    "model": pl.String(),  # 4PL | 5PL
    "weighting": pl.String(),  # none | 1/y | 1/y2
    "a": pl.Float64(),  # response at zero concentration
    "b": pl.Float64(),  # slope
    "c": pl.Float64(),  # inflection (EC50 for the 4PL), in-well concentration
    "d": pl.Float64(),  # response at infinite concentration
    "g": pl.Float64(),  # 5PL asymmetry (null for the 4PL)
    "r_squared": pl.Float64(),
    "converged": pl.Boolean(),
    "fit_message": pl.String(),
    "n_levels": pl.Int32(),  # non-zero calibrator levels run
    "n_accepted": pl.Int32(),  # non-zero levels in the final curve and within limits
    "masked_levels": pl.String(),  # in masking order, e.g. "S4;S7"
    "lloq_in_well": pl.Float64(),  # lowest / highest accepted standard (in-well, pg/mL)
    "uloq_in_well": pl.Float64(),
    "max_signal": pl.Float64(),  # mean signal of the top standard (Levey-Jennings metric)
    "calibration_passed": pl.Boolean(),
    "concentrations_from": pl.String(),  # "fitted curve" | "instrument"
    "notes": pl.String(),
    "residual_rmse": pl.Float64(),  # RMS of (mean signal − fitted signal) over the levels in the final fit
    "residual_rms_pct": pl.Float64(),  # RMS of the same residuals as % of the fitted signal
    "ec50": pl.Float64(),  # concentration at the mid-response (a + d) / 2: c for a 4PL, not for a 5PL
}

CALIBRATOR_SCHEMA: dict[str, pl.DataType] = {
    "source_sha256": pl.String(),
    "plate_id": pl.String(),
    "analyte": pl.String(),
    "level": pl.String(),
    "nominal": pl.Float64(),
    "n_wells": pl.Int32(),
    "mean_signal": pl.Float64(),
    "cv_pct": pl.Float64(),
    "back_calc": pl.Float64(),
    "recovery_pct": pl.Float64(),
    "limit_pct": pl.Float64(),
    "within_limits": pl.Boolean(),
    "masked": pl.Boolean(),
    "mask_reason": pl.String(),
    "fitted_signal": pl.Float64(),  # the final curve at the nominal concentration
    "residual": pl.Float64(),  # mean signal − fitted signal (masked levels too: how far off they sit)
    "residual_pct": pl.Float64(),  # residual as % of the fitted signal
}

ACCEPTANCE_SCHEMA: dict[str, pl.DataType] = {
    "source_sha256": pl.String(),
    "plate_id": pl.String(),
    "analyte": pl.String(),
    "run_accepted": pl.Boolean(),  # the verdict for this plate × analyte
    "rule": pl.String(),  # CAL_PASS_FRACTION, CAL_MIN_LEVELS, QC_PASS_FRACTION, QC_LEVEL_PASS_FRACTION, ...
    "subject": pl.String(),  # e.g. QC-H for a per-level rule
    "passed": pl.Boolean(),
    "observed": pl.Float64(),
    "limit_value": pl.String(),
    "reason": pl.String(),
}

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

TREND_SCHEMA: dict[str, pl.DataType] = {
    "source_sha256": pl.String(),
    "plate_id": pl.String(),
    "analyte": pl.String(),
    "assay_id": pl.String(),
    "kit_lot": pl.String(),
    "series": pl.String(),  # QC level name (QC-L, QC-M, QC-H), EC50 or max_signal
    "value": pl.Float64(),  # pg/mL (QC levels, EC50) or signal units (max_signal)
    "unit": pl.String(),
    "scale": pl.String(),  # linear | log10: the scale the guide set, z and rules are on (log10 for EC50)
    "run_accepted": pl.Boolean(),  # the run's own acceptance (before any Westgard rejection)
    "guide_kind": pl.String(),  # run-based | value-based; null: no guide set yet
    "guide_mean": pl.Float64(),
    "guide_sd": pl.Float64(),
    "guide_n": pl.Int32(),  # runs in a run-based guide set
    "z": pl.Float64(),  # (value − guide mean) / guide SD
    "n_history": pl.Int32(),  # earlier accepted runs of the series the rules looked back on
    "rules_violated": pl.String(),  # ";"-joined Westgard rules, null when none
    "action": pl.String(),  # warning | reject when a rule fired, else null
    "note": pl.String(),  # why the value was not judged (no guide set yet …)
    "judged_at": pl.Datetime("us", "UTC"),
}

LOG_METRICS = ("EC50",)
"""Judged on log10: an EC50 is log-normal (a concentration on a log axis; a curve that barely bends inside
the standards throws it decades away), so a guide set's arithmetic mean sits above most runs and 10x would
fire on nearly every run. Its guide mean and SD are of log10(EC50); a value-based guide set for EC50 is
configured as [geometric mean in pg/mL, SD of log10]."""
