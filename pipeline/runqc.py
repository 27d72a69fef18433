"""Assay QC of one plate: per analyte, the standard curve (fit, back-calculation, masking), and the run's
acceptance (ICH M10 defaults from the assay's configuration).

Every analyte with calibrators on the plate gets a curve record and its level table, whether the reported
concentrations came from our fit (plate-reader grids) or from the instrument (then the fit is the check,
and the instrument value stays the reported one). A run that fails acceptance keeps its results, never
current (``run_rejected``), with the reasons in plain words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from assay.acceptance import evaluate_run
from assay.compare import InstrumentComparison
from assay.curves import CurveFit
from assay.standards import StandardCurve, StandardWell, fit_standards_batched, standard_wells
from readers.base import PlateInfo
from schemas.config import Assay
from schemas.qc import ACCEPTANCE_SCHEMA, CALIBRATOR_SCHEMA, CURVE_SCHEMA


@dataclass
class PlateQc:
    curves: pl.DataFrame
    calibrators: pl.DataFrame
    acceptance: pl.DataFrame
    rejected: dict[str, str] = field(default_factory=dict)  # analyte → why the run failed (one sentence)
    notes: list[str] = field(default_factory=list)


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _curve_row(
    sha: str,
    plate: PlateInfo,
    assay: Assay,
    analyte: str,
    c: StandardCurve,
    from_fit: bool,
    levels_table: pl.DataFrame | None = None,
) -> dict[str, object]:
    f = c.fit
    levels = [lv for lv in c.levels if not lv.is_zero and lv.mean_signal is not None]
    top = max(levels, key=lambda lv: lv.nominal).mean_signal if levels else None
    return {
        "source_sha256": sha,
        "plate_id": plate.plate_id,
        "analyte": analyte,
        "assay_id": assay.assay_id,
        "kit_lot": plate.kit_lot or assay.kit_lot,
        "model": f.model,
        "weighting": f.weighting,
        "a": _finite(f.a),
        "b": _finite(f.b),
        "c": _finite(f.c),
        "d": _finite(f.d),
        "g": _finite(f.g) if f.g is not None else None,
        "r_squared": _finite(f.r_squared),
        "converged": f.converged,
        "fit_message": f.message,
        "n_levels": c.n_nonzero,
        "n_accepted": c.n_accepted,
        "masked_levels": ";".join(c.masked) or None,
        "lloq_in_well": c.lloq,
        "uloq_in_well": c.uloq,
        "max_signal": _finite(top),
        "calibration_passed": c.passed,
        "concentrations_from": "fitted curve" if from_fit else "instrument",
        "notes": "; ".join([*c.notes, *c.reasons]) or None,
        **_residual_summary(c, levels_table),
        "ec50": ec50(f),
    }


def ec50(fit: CurveFit) -> float | None:
    """The concentration at the mid-response (a + d) / 2 — the EC50 a Levey–Jennings chart trends. For a
    4PL it is ``c``; for a 5PL it is ``c·(2^(1/g) − 1)^(1/b)``, and ``c`` alone drifts with ``g`` (the two
    trade off in the fit), so trending ``c`` would chart the optimiser, not the assay."""
    if not fit.converged:
        return None
    return _finite(float(fit.inverse((fit.a + fit.d) / 2.0)))


def level_residuals(levels: pl.DataFrame, fit: CurveFit) -> pl.DataFrame:
    """``levels`` (StandardCurve.table()) with ``fitted_signal``, ``residual`` (mean − fitted) and
    ``residual_pct`` (% of fitted) against the final curve; null when the curve did not converge."""
    nominal = np.asarray(levels["nominal"].to_list(), dtype=np.float64)
    fitted = fit.predict(nominal) if fit.converged else np.full(nominal.shape, np.nan)
    return levels.with_columns(
        pl.Series("fitted_signal", fitted, dtype=pl.Float64).fill_nan(None),
    ).with_columns(
        residual=pl.col("mean_signal") - pl.col("fitted_signal"),
        residual_pct=pl.when(pl.col("fitted_signal") != 0).then(
            (pl.col("mean_signal") - pl.col("fitted_signal")) / pl.col("fitted_signal") * 100.0
        ),
    )


def _residual_summary(c: StandardCurve, levels_table: pl.DataFrame | None = None) -> dict[str, float | None]:
    """RMS residual (signal units, and % of fitted) over the levels in the final fit — the spread a
    reviewer compares across runs; a masked level is out of the fit and out of this summary.
    ``levels_table``: ``level_residuals(c.table(), c.fit)`` when the caller already has it."""
    if not c.fit.converged or not c.levels:
        return {"residual_rmse": None, "residual_rms_pct": None}
    if levels_table is None:
        levels_table = level_residuals(c.table(), c.fit)
    t = levels_table.filter(~pl.col("masked") & pl.col("residual").is_not_null())
    if t.height == 0:
        return {"residual_rmse": None, "residual_rms_pct": None}
    rmse = float(np.sqrt(np.mean(np.square(t["residual"].to_numpy()))))
    pct = t["residual_pct"].drop_nulls().to_numpy()
    return {
        "residual_rmse": _finite(rmse),
        "residual_rms_pct": _finite(float(np.sqrt(np.mean(np.square(pct))))) if pct.size else None,
    }


def _analytes(wells: pl.DataFrame, assay: Assay) -> list[str]:
    return [a for a in wells["analyte"].drop_nulls().unique().sort().to_list() if a in assay.analytes]


def _by_analyte(wells: pl.DataFrame, assay: Assay) -> dict[str, pl.DataFrame]:
    """The plate's rows of each of its assay's analytes (sorted by name), split in one pass: the same
    frames as ``wells.filter(pl.col("analyte") == analyte)``, without a scan of the plate per analyte."""
    names = _analytes(wells, assay)
    if not names:
        return {}
    parts = wells.filter(pl.col("analyte").is_in(names)).partition_by(
        "analyte", maintain_order=True, as_dict=True
    )
    return {a: parts[(a,)] for a in names}


def fit_curves(wells: pl.DataFrame, assay: Assay) -> dict[str, StandardCurve]:
    """The calibration (fit, masking, limits) of every analyte of one plate that has calibrator signals.

    Fitted once per plate × analyte, by pipeline/prepare (the run's limits come from it); pass the result
    to :func:`assess_plate` so the run is judged on the same curve."""
    acc = assay.acceptance
    series: dict[str, list[StandardWell]] = {}
    for analyte, w in _by_analyte(wells, assay).items():
        has_signal = (
            (pl.col("sample_type") == "standard")
            & pl.col("expected_conc").is_not_null()
            & pl.col("signal").is_not_null()
        )
        if not w.select(has_signal.any()).item():
            continue
        series[analyte] = standard_wells(w, signal_offset=background(w))
    # all analytes of the plate in one batched solve (issue 18); fit_standards is the per-curve reference
    curves = fit_standards_batched(
        list(series.values()),
        model=assay.curve_model,
        weighting=assay.curve_weighting,
        recovery_limits=(acc.calibrators.recovery_pct, acc.calibrators.recovery_pct_at_limits),
        min_fraction=acc.calibrators.min_pass_fraction,
        min_levels=acc.calibrators.min_levels,
    )
    return dict(zip(series, curves, strict=True))


def comparison_note(cmp: InstrumentComparison) -> str | None:
    """One phrase for the curve record: how far the instrument's concentrations are from our curve's."""
    if cmp.median_abs_diff_pct is None:
        return None
    text = (
        f"instrument vs our curve: median |diff| {cmp.median_abs_diff_pct:.2f}% over {cmp.n_compared} "
        f"unknown/QC well{'s' if cmp.n_compared != 1 else ''} (max {cmp.max_abs_diff_pct:.2f}%)"
    )
    if cmp.n_outside_curve:
        text += f", {cmp.n_outside_curve} outside our curve"
    return text


def assess_plate(
    wells: pl.DataFrame,
    plate: PlateInfo,
    assay: Assay,
    sha256: str,
    curves: dict[str, StandardCurve] | None = None,
    comparisons: dict[str, InstrumentComparison] | None = None,
) -> PlateQc:
    """Curves, calibrator tables and acceptance for every analyte of ``wells`` (one plate, prepared).

    ``curves``: the calibrations already fitted by :func:`fit_curves` (pipeline/prepare), reused as they
    are; fitted here when not given. ``comparisons``: per analyte, the instrument's concentrations against
    our curve (assay/compare.py), summarised in the curve record's ``notes``."""
    acc = assay.acceptance
    if curves is None:
        curves = fit_curves(wells, assay)
    comparisons = comparisons or {}
    curve_rows: list[dict[str, object]] = []
    calibrators: list[pl.DataFrame] = []
    rules: list[dict[str, object]] = []
    out = PlateQc(
        pl.DataFrame(schema=CURVE_SCHEMA),
        pl.DataFrame(schema=CALIBRATOR_SCHEMA),
        pl.DataFrame(schema=ACCEPTANCE_SCHEMA),
    )
    for analyte, w in _by_analyte(wells, assay).items():
        curve = curves.get(analyte)
        if curve is None:
            out.notes.append(f"{analyte}: no calibrator signals in the export, so the run cannot be judged")
            continue
        from_fit = bool(w["flags"].fill_null("").str.contains("conc_from_").any())
        levels = level_residuals(curve.table(), curve.fit)
        row = _curve_row(sha256, plate, assay, analyte, curve, from_fit, levels)
        cmp = comparisons.get(analyte)
        summary = comparison_note(cmp) if cmp is not None else None
        if summary:
            row["notes"] = f"{row['notes']}; {summary}" if row["notes"] else summary
        curve_rows.append(row)
        calibrators.append(
            levels.select(
                pl.lit(sha256).alias("source_sha256"),
                pl.lit(plate.plate_id).alias("plate_id"),
                pl.lit(analyte).alias("analyte"),
                "level",
                "nominal",
                pl.col("n_wells").cast(pl.Int32),
                "mean_signal",
                "cv_pct",
                "back_calc",
                "recovery_pct",
                "limit_pct",
                "within_limits",
                "masked",
                "mask_reason",
                "fitted_signal",
                "residual",
                "residual_pct",
            )
        )
        qcs = w.filter(pl.col("sample_type") == "qc").select(
            "sample_id", "expected_conc", "value", "qualifier"
        )
        verdict = evaluate_run(levels, qcs, acc)
        if not curve.fit.converged:
            verdict_ok = False
            reasons = [f"the standard curve did not converge ({curve.fit.message})"]
        else:
            verdict_ok = verdict.accepted
            reasons = verdict.reasons
        for r in verdict.rules:
            rules.append(
                {
                    "source_sha256": sha256,
                    "plate_id": plate.plate_id,
                    "analyte": analyte,
                    "run_accepted": verdict_ok,
                    "rule": r.code,
                    "subject": r.subject,
                    "passed": r.passed,
                    "observed": _finite(r.observed),
                    "limit_value": None if r.limit is None else str(r.limit),
                    "reason": r.reason,
                }
            )
        if not verdict_ok:
            out.rejected[analyte] = "; ".join(reasons)
    if curve_rows:
        out.curves = pl.DataFrame(curve_rows, schema=CURVE_SCHEMA, orient="row")
    if calibrators:
        out.calibrators = pl.concat(calibrators, how="vertical").cast(CALIBRATOR_SCHEMA)  # type: ignore[arg-type]
    if rules:
        out.acceptance = pl.DataFrame(rules, schema=ACCEPTANCE_SCHEMA, orient="row")
    return out


def background(wells: pl.DataFrame) -> float:
    """Bio-Plex fits its curves on FI minus the plate's mean blank FI (its ``Std. Curve`` is in FI − Bkgd
    units), so its standards are refitted the same way; other platforms fit the signal as exported."""
    if not wells["format"].drop_nulls().str.starts_with("bioplex").any():
        return 0.0
    blank = wells.filter(pl.col("sample_type") == "blank")["signal"].drop_nulls()
    return float(blank.mean()) if blank.len() else 0.0  # type: ignore[arg-type]
