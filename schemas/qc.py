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
