"""Standard curves: the four-parameter logistic (4PL) that turns a plate reader's OD into concentrations.

A plate-reader grid carries signals only; the kit's standards (known concentrations on the same plate)
define the curve, and each well's concentration is read back through its inverse. The 4PL is the reference
model for immunoassays (ICH M10; domain.md §5), fitted by ``scipy.optimize.curve_fit`` with 1/y² weighting
by default because the OD noise grows with the signal — unweighted fits let the top standards dominate and
bias the low end, where CSF values sit.

Parametrisation (the one SoftMax Pro, Gen5 and drc use)::

    y = d + (a − d) / (1 + (x / c) ** b)

``a`` is the response at zero concentration, ``d`` the response at infinite concentration, ``c`` the
inflection point (EC50, in concentration units) and ``b`` the slope (> 0 here; a decreasing curve, as in a
competitive ELISA, has ``a > d``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, overload

import numpy as np
import polars as pl
from numpy.typing import NDArray
from scipy.optimize import OptimizeWarning, curve_fit

from schemas.wells import conform

Weighting = Literal["none", "1/y", "1/y2"]
FloatArray = NDArray[np.float64]

MIN_LEVELS = 4  # four parameters need at least four distinct standard concentrations
_B_BOUNDS = (0.05, 20.0)
_AT_LIMIT_RTOL = 1e-9  # a back-calculated value this close to a limit *is* at the limit (float round-off)


def _logistic(x: FloatArray, a: float, b: float, c: float, d: float) -> FloatArray:
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return d + (a - d) / (1.0 + np.power(x / c, b))


@dataclass(frozen=True)
class CurveFit:
    """A fitted 4PL, ``y = d + (a − d) / (1 + (x/c)^b)``; non-convergence is a status, not an exception.

    When ``converged`` is False the parameters may be NaN and ``message`` says why; callers must not use
    ``predict``/``inverse`` of such a fit (they return NaN).
    """

    a: float
    b: float
    c: float
    d: float
    r_squared: float
    weighting: Weighting
    converged: bool
    message: str
    model: Literal["4PL"] = "4PL"
    n_points: int = 0

    @overload
    def predict(self, x: float) -> float: ...
    @overload
    def predict(self, x: FloatArray) -> FloatArray: ...
    def predict(self, x: float | FloatArray) -> float | FloatArray:
        """Signal expected at concentration ``x`` (≥ 0)."""
        arr = np.asarray(x, dtype=np.float64)
        y = _logistic(arr, self.a, self.b, self.c, self.d)
        return float(y) if np.ndim(x) == 0 else y

    @overload
    def inverse(self, y: float) -> float: ...
    @overload
    def inverse(self, y: FloatArray) -> FloatArray: ...
    def inverse(self, y: float | FloatArray) -> float | FloatArray:
        """Concentration giving signal ``y``; NaN when ``y`` is not strictly between the asymptotes (0 at
        ``y == a``), because no concentration produces it."""
        arr = np.asarray(y, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ratio = (self.a - self.d) / (arr - self.d) - 1.0
            x = self.c * np.power(ratio, 1.0 / self.b)
        lo, hi = min(self.a, self.d), max(self.a, self.d)
        inside = (arr >= lo) & (arr < hi) if self.a < self.d else (arr > lo) & (arr <= hi)
        x = np.where(inside & np.isfinite(x), x, np.nan)
        return float(x) if np.ndim(y) == 0 else x

    def below_curve(self, y: float) -> bool:
        """True when ``y`` lies beyond the zero-concentration asymptote ``a`` (or on it)."""
        return (y <= self.a) if self.a < self.d else (y >= self.a)


def _failed(message: str, weighting: Weighting, n: int) -> CurveFit:
    nan = math.nan
    return CurveFit(nan, nan, nan, nan, nan, weighting, False, message, n_points=n)


def fit_4pl(
    conc: Sequence[float] | FloatArray,
    signal: Sequence[float] | FloatArray,
    *,
    weighting: Weighting = "1/y2",
) -> CurveFit:
    """Fit a 4PL to standards (concentration, signal); pairs with a non-finite value are ignored.

    Starting values follow the data (a at the low-concentration end, d at the high end, c at the
    geometric median of the non-zero concentrations, b = 1) and bounds keep the optimiser in a sane
    region, so a well-behaved standard series converges without hand tuning. Zero-concentration standards
    (blanks in the series) are kept: they pin ``a``.
    """
    x = np.asarray(conc, dtype=np.float64)
    y = np.asarray(signal, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        return _failed(f"concentrations and signals differ in shape ({x.shape} vs {y.shape})", weighting, 0)
    keep = np.isfinite(x) & np.isfinite(y) & (x >= 0)
    x, y = x[keep], y[keep]
    n = int(x.size)
    levels = np.unique(x)
    if levels.size < MIN_LEVELS:
        return _failed(
            f"a 4PL needs at least {MIN_LEVELS} distinct standard concentrations with a signal; "
            f"got {levels.size}",
            weighting,
            n,
        )
    nonzero = levels[levels > 0]
    if nonzero.size < MIN_LEVELS - 1:
        return _failed("fewer than 3 non-zero standard concentrations", weighting, n)
    ymin, ymax = float(y.min()), float(y.max())
    span = ymax - ymin
    if not span > 0:
        return _failed("every standard has the same signal: no curve to fit", weighting, n)
    increasing = float(np.corrcoef(np.log(np.maximum(x, nonzero.min() / 10)), y)[0, 1]) >= 0
    a0, d0 = (ymin, ymax) if increasing else (ymax, ymin)
    c0 = float(np.exp(np.median(np.log(nonzero))))
    lower = [ymin - 5 * span, _B_BOUNDS[0], float(nonzero.min()) / 1000, ymin - 5 * span]
    upper = [ymax + 5 * span, _B_BOUNDS[1], float(nonzero.max()) * 1000, ymax + 5 * span]
    floor = 1e-3 * max(abs(ymin), abs(ymax))
    sigma: FloatArray | None
    if weighting == "1/y2":
        sigma = np.maximum(np.abs(y), floor)
    elif weighting == "1/y":
        sigma = np.sqrt(np.maximum(np.abs(y), floor))
    else:
        sigma = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            popt, _ = curve_fit(
                _logistic,
                x,
                y,
                p0=[a0, 1.0, c0, d0],
                sigma=sigma,
                bounds=(lower, upper),
                maxfev=10_000,
            )
    except (RuntimeError, ValueError, FloatingPointError) as exc:
        return _failed(f"the 4PL fit did not converge: {exc}", weighting, n)
    a, b, c, d = (float(p) for p in popt)
    if not all(math.isfinite(p) for p in (a, b, c, d)):
        return _failed("the 4PL fit returned non-finite parameters", weighting, n)
    fitted = _logistic(x, a, b, c, d)
    ss_res = float(np.sum((y - fitted) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot
    at_bound = [
        name
        for name, value, lo, hi in zip("abcd", (a, b, c, d), lower, upper, strict=True)
        if math.isclose(value, lo, rel_tol=1e-6, abs_tol=1e-12) or math.isclose(value, hi, rel_tol=1e-6)
    ]
    message = "converged" if not at_bound else f"converged with {', '.join(at_bound)} at its bound"
    return CurveFit(a, b, c, d, r2, weighting, True, message, n_points=n)


def _add_flag(flags: str | None, *new: str) -> str:
    parts = [f for f in (flags or "").split(";") if f]
    parts += [f for f in new if f not in parts]
    return ";".join(parts)


def _curve_key(analyte: str | None, as_written: str | None) -> str:
    return analyte if analyte is not None else (as_written or "")


def concentrations_from_signal(
    wells: pl.DataFrame,
    *,
    unit: str | None,
    weighting: Weighting = "1/y2",
) -> tuple[pl.DataFrame, dict[str, CurveFit]]:
    """Fill ``value``/``qualifier`` of one plate's signal-only rows from a 4PL per analyte.

    For each analyte (``analyte``, else ``analyte_as_written``) the standards' mean signal per level is
    fitted; every row with a signal (standards included, so their back-calculation can be checked) gets
    ``value`` = the in-well concentration — the dilution is *not* applied here (``dilution_applied`` stays
    False; the pipeline multiplies exactly once). Outside the lowest non-zero / highest standard, or beyond
    an asymptote, the row is censored ``<``/``>`` with the limit as ``value``; exactly at a limit is in
    range. ``unit`` (the assay's configured unit) is recorded with ``unit_source="config"``; None leaves
    the unit unknown so the pipeline holds the rows. A failed fit leaves the analyte's rows ``NR`` with the
    flag ``curve_failed`` and the reason. Rows that already carry a value are left as they are.

    Returns the conformed table (same rows, same order) and the fits by analyte key.
    """
    df = conform(wells)
    keys = [_curve_key(a, w) for a, w in zip(df["analyte"], df["analyte_as_written"], strict=True)]
    sample_type = df["sample_type"].to_list()
    signal = df["signal"].to_list()
    expected = df["expected_conc"].to_list()
    qualifier = df["qualifier"].to_list()
    value = df["value"].to_list()
    unit_col = df["unit"].to_list()
    unit_source = df["unit_source"].to_list()
    flags = df["flags"].to_list()
    applied = df["dilution_applied"].to_list()
    fits: dict[str, CurveFit] = {}
    for key in dict.fromkeys(keys):
        rows = [i for i, k in enumerate(keys) if k == key]
        by_level: dict[float, list[float]] = {}
        for i in rows:
            s, e = signal[i], expected[i]
            if sample_type[i] == "standard" and s is not None and e is not None and math.isfinite(s):
                by_level.setdefault(float(e), []).append(float(s))
        levels = sorted(by_level)
        fit = fit_4pl(levels, [float(np.mean(by_level[lv])) for lv in levels], weighting=weighting)
        fits[key] = fit
        targets = [i for i in rows if value[i] is None]
        if not fit.converged:
            reason = "curve_message=" + fit.message.replace(";", ",")
            for i in targets:
                qualifier[i] = "NR"
                flags[i] = _add_flag(flags[i], "curve_failed", reason)
            continue
        nonzero = [lv for lv in levels if lv > 0]
        lloq, uloq = min(nonzero), max(nonzero)
        for i in targets:
            s = signal[i]
            if s is None or not math.isfinite(s):
                continue  # no reading: stays NR with the reader's flag
            q, v = _censor(fit, float(s), lloq, uloq)
            qualifier[i], value[i], applied[i] = q, v, False
            if unit is not None:
                unit_col[i], unit_source[i] = unit, "config"
            flags[i] = _add_flag(flags[i], "conc_from_4pl")
    out = df.with_columns(
        pl.Series("qualifier", qualifier, dtype=pl.String),
        pl.Series("value", value, dtype=pl.Float64),
        pl.Series("unit", unit_col, dtype=pl.String),
        pl.Series("unit_source", unit_source, dtype=pl.String),
        pl.Series("flags", flags, dtype=pl.String),
        pl.Series("dilution_applied", applied, dtype=pl.Boolean),
        pl.col("extrapolated").fill_null(False),
    )
    return conform(out), fits


def _censor(fit: CurveFit, signal: float, lloq: float, uloq: float) -> tuple[str, float]:
    """Qualifier and value for one signal: in range, or censored at the nearer standard limit."""
    x = fit.inverse(signal)
    if math.isnan(x):
        return ("<", lloq) if fit.below_curve(signal) else (">", uloq)
    for limit in (lloq, uloq):
        if math.isclose(x, limit, rel_tol=_AT_LIMIT_RTOL):
            return "=", limit
    if x < lloq:
        return "<", lloq
    if x > uloq:
        return ">", uloq
    return "=", x
