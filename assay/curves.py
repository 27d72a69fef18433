"""Standard curves: the four- and five-parameter logistics (4PL, 5PL) that turn a signal into a concentration.

A plate-reader grid carries signals only; the kit's standards (known concentrations on the same plate)
define the curve, and each well's concentration is read back through its inverse. The 4PL is the reference
model for immunoassays and the 5PL the one for asymmetric curves (ICH M10; domain.md §5). Both are fitted by
``scipy.optimize.curve_fit`` — weighted 1/y² by default because the signal noise grows with the signal:
unweighted fits let the top standards dominate and bias the low end, where CSF values sit.

Parametrisation (the one SoftMax Pro, Gen5, drc and Bio-Plex Manager use)::

    4PL: y = d + (a − d) / (1 + (x / c) ** b)
    5PL: y = d + (a − d) / (1 + (x / c) ** b) ** g

``c`` is the inflection point of the 4PL (EC50, in concentration units) and ``b`` the slope. For the 4PL
``b > 0`` always (a 4PL with ``b < 0`` is the same curve with ``a`` and ``d`` swapped), so ``a`` is the
response at zero concentration and ``d`` the response at infinite concentration; a decreasing curve, as in
a competitive ELISA, has ``a > d``. For the 5PL the sign of ``b`` is *not* a convention: the asymmetry
``g`` sits on the high-concentration side when ``b > 0`` and on the low-concentration side when ``b < 0``
(then ``a`` is the response at infinite and ``d`` at zero concentration). Bio-Plex Manager writes its 5PL
with ``b < 0`` (``FI = d + (a − d) / ((1 + (Conc / c)^-b'))^g``), so both orientations are fitted and the
better one is kept; :attr:`CurveFit.response_at_zero` / :attr:`CurveFit.response_at_infinity` say which
asymptote is which whatever the sign.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, overload

import numpy as np
import polars as pl
from numpy.typing import NDArray
from scipy.special import expit

from assay import batching, trust_region, trust_region_batch
from schemas.wells import conform

Weighting = Literal["none", "1/y", "1/y2"]
Model = Literal["4PL", "5PL"]
FloatArray = NDArray[np.float64]

MIN_LEVELS = 4  # four parameters need at least four distinct standard concentrations
MIN_LEVELS_5PL = 5  # … and five for the 5PL
_B_BOUNDS = (0.05, 20.0)  # |b|
_G_BOUNDS = (0.1, 10.0)  # the asymmetry; Bio-Plex Manager bounds it the same way (its footers pin 0.1 / 10)
_AT_LIMIT_RTOL = 1e-9  # a back-calculated value this close to a limit *is* at the limit (float round-off)
_TIGHT = 1e-12  # ftol/xtol/gtol of the 5PL fits: the 5PL is ill-conditioned, default tolerances stop early
_WARM_TOL = 1e-8  # a warm-started 5PL (see _refit5) is already close: scipy's default tolerances suffice
_QUICK_NFEV = 20  # first-pass evaluation budget per 5PL orientation (see _fit5)


def _logistic(x: FloatArray, a: float, b: float, c: float, d: float) -> FloatArray:
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return d + (a - d) / (1.0 + np.power(x / c, b))


def _logistic5(x: FloatArray, a: float, b: float, c: float, d: float, g: float) -> FloatArray:
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return d + (a - d) / np.power(1.0 + np.power(x / c, b), g)


# The 5PL as the optimiser sees it: ln c instead of c (c spans decades), and (1 + u)^-g written as
# exp(-g·softplus(w)) with w = b·ln(x/c), which stays finite for x = 0, huge x and either sign of b.
def _stable5(x: FloatArray, a: float, b: float, lc: float, d: float, g: float) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        w = b * (np.log(x) - lc)
        return d + (a - d) * np.exp(-g * np.logaddexp(0.0, w))


def _stable5_jac(x: FloatArray, a: float, b: float, lc: float, d: float, g: float) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        logx = np.log(x) - lc
        w = b * logx
        soft = np.logaddexp(0.0, w)
        dm = np.exp(-g * soft)  # (1 + u)^-g, in [0, 1]
        dy_dw = -(a - d) * g * dm * expit(w)
        d_b = np.where(x > 0, dy_dw * logx, 0.0)  # at x = 0 the response is an asymptote: no slope
        d_lc = np.where(x > 0, -b * dy_dw, 0.0)
        d_g = np.where(np.isfinite(soft), -(a - d) * dm * soft, 0.0)
        return np.column_stack([dm, d_b, d_lc, 1.0 - dm, d_g])


def _stable4(x: FloatArray, a: float, b: float, lc: float, d: float) -> FloatArray:
    return _stable5(x, a, b, lc, d, 1.0)


def _stable4_jac(x: FloatArray, a: float, b: float, lc: float, d: float) -> FloatArray:
    return _stable5_jac(x, a, b, lc, d, 1.0)[:, :4]


@dataclass(frozen=True)
class CurveFit:
    """A fitted 4PL or 5PL (module docstring); non-convergence is a status, not an exception.

    ``g`` is None for a 4PL. ``residuals`` are observed − fitted signals of the points that were fitted
    (in input order, non-finite pairs dropped), ``r_squared`` the unweighted coefficient of determination
    on them, ``n_points`` their number. When ``converged`` is False the parameters may be NaN and
    ``message`` says why; callers must not use ``predict``/``inverse`` of such a fit (they return NaN).
    """

    a: float
    b: float
    c: float
    d: float
    r_squared: float
    weighting: Weighting
    converged: bool
    message: str
    model: Model = "4PL"
    n_points: int = 0
    g: float | None = None
    residuals: tuple[float, ...] = ()

    @property
    def parameters(self) -> dict[str, float]:
        """The parameters by name: a, b, c, d (and g for a 5PL)."""
        out = {"a": self.a, "b": self.b, "c": self.c, "d": self.d}
        if self.g is not None:
            out["g"] = self.g
        return out

    @property
    def response_at_zero(self) -> float:
        """The asymptote approached as the concentration goes to 0 (``a`` when b > 0, else ``d``)."""
        return self.a if self.b > 0 else self.d

    @property
    def response_at_infinity(self) -> float:
        """The asymptote approached as the concentration grows without bound."""
        return self.d if self.b > 0 else self.a

    @overload
    def predict(self, x: float) -> float: ...
    @overload
    def predict(self, x: FloatArray) -> FloatArray: ...
    def predict(self, x: float | FloatArray) -> float | FloatArray:
        """Signal expected at concentration ``x`` (≥ 0)."""
        arr = np.asarray(x, dtype=np.float64)
        if self.g is None:
            y = _logistic(arr, self.a, self.b, self.c, self.d)
        else:
            y = _logistic5(arr, self.a, self.b, self.c, self.d, self.g)
        return float(y) if np.ndim(x) == 0 else y

    @overload
    def inverse(self, y: float) -> float: ...
    @overload
    def inverse(self, y: FloatArray) -> FloatArray: ...
    def inverse(self, y: float | FloatArray) -> float | FloatArray:
        """Concentration giving signal ``y``; NaN when ``y`` is not strictly between the asymptotes (0 at
        the zero-concentration asymptote), because no concentration produces it."""
        arr = np.asarray(y, dtype=np.float64)
        g = 1.0 if self.g is None else self.g
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ratio = np.power((self.a - self.d) / (arr - self.d), 1.0 / g) - 1.0
            x = self.c * np.power(ratio, 1.0 / self.b)
        lo, hi = self.response_at_zero, self.response_at_infinity
        inside = (arr >= lo) & (arr < hi) if lo < hi else (arr > hi) & (arr <= lo)
        x = np.where(inside & np.isfinite(x), x, np.nan)
        return float(x) if np.ndim(y) == 0 else x

    def below_curve(self, y: float) -> bool:
        """True when ``y`` lies beyond the zero-concentration asymptote (or on it)."""
        lo, hi = self.response_at_zero, self.response_at_infinity
        return (y <= lo) if lo < hi else (y >= lo)


def _failed(message: str, weighting: Weighting, n: int, model: Model = "4PL") -> CurveFit:
    nan = math.nan
    g = nan if model == "5PL" else None
    return CurveFit(nan, nan, nan, nan, nan, weighting, False, message, model=model, n_points=n, g=g)


def _sigma(y: FloatArray, weighting: Weighting) -> FloatArray | None:
    """curve_fit's sigma for a weighting (weights = 1/sigma²), with a floor so a signal near 0 (a
    background-subtracted blank) cannot take all the weight."""
    floor = 1e-3 * max(abs(float(y.min())), abs(float(y.max())))
    if weighting == "1/y2":
        return np.maximum(np.abs(y), floor)
    if weighting == "1/y":
        return np.sqrt(np.maximum(np.abs(y), floor))
    return None


@dataclass(frozen=True)
class _Data:
    x: FloatArray
    y: FloatArray
    sigma: FloatArray | None
    nonzero: FloatArray  # distinct non-zero concentrations
    asymptote_bounds: tuple[float, float]


def _prepare(
    conc: Sequence[float] | FloatArray,
    signal: Sequence[float] | FloatArray,
    weighting: Weighting,
    model: Model,
) -> _Data | CurveFit:
    """The pairs to fit, or a failed fit saying why there is no curve to fit."""
    x = np.asarray(conc, dtype=np.float64)
    y = np.asarray(signal, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        msg = f"concentrations and signals differ in shape ({x.shape} vs {y.shape})"
        return _failed(msg, weighting, 0, model)
    keep = np.isfinite(x) & np.isfinite(y) & (x >= 0)
    x, y = x[keep], y[keep]
    n = int(x.size)
    levels = np.unique(x)
    need = MIN_LEVELS if model == "4PL" else MIN_LEVELS_5PL
    if levels.size < need:
        return _failed(
            f"a {model} needs at least {need} distinct standard concentrations with a signal; "
            f"got {levels.size}",
            weighting,
            n,
            model,
        )
    nonzero = levels[levels > 0]
    if nonzero.size < need - 1:
        return _failed(f"fewer than {need - 1} non-zero standard concentrations", weighting, n, model)
    ymin, ymax = float(y.min()), float(y.max())
    span = ymax - ymin
    if not span > 0:
        return _failed("every standard has the same signal: no curve to fit", weighting, n, model)
    return _Data(x, y, _sigma(y, weighting), nonzero, (ymin - 5 * span, ymax + 5 * span))


def _generic_start(data: _Data) -> tuple[float, float, float, float]:
    """4PL starting values from the data alone: a at the low-concentration end, d at the high end, c at
    the geometric median of the non-zero concentrations, b = 1."""
    x, y, nonzero = data.x, data.y, data.nonzero
    ymin, ymax = float(y.min()), float(y.max())
    increasing = float(np.corrcoef(np.log(np.maximum(x, nonzero.min() / 10)), y)[0, 1]) >= 0
    a0, d0 = (ymin, ymax) if increasing else (ymax, ymin)
    return a0, 1.0, float(np.exp(np.median(np.log(nonzero)))), d0


@dataclass(frozen=True)
class _Attempt:
    params: FloatArray
    cost: float  # weighted sum of squared residuals
    finished: bool  # False: stopped at the evaluation cap (params = where it had got to)


def _cost(fn: Callable[..., FloatArray], data: _Data, params: FloatArray) -> float:
    resid = data.y - fn(data.x, *params)
    w = 1.0 if data.sigma is None else 1.0 / data.sigma**2
    cost = float(np.sum(w * resid**2))
    return cost if math.isfinite(cost) else math.inf


class _Residuals:
    """The weighted residuals ``(model(x, p) − y) / sigma`` and their Jacobian, as ``least_squares`` sees
    them — what ``curve_fit`` builds from (model, sigma), fused into one call each.

    Why: a fit is ~15 trust-region iterations of a few microseconds of arithmetic on a dozen points, and
    ``curve_fit``'s wrappers (memoiser, sigma transform, argument unpacking, an ``errstate`` per call) cost
    more than the arithmetic. The expressions are the ones ``curve_fit`` evaluates, in the same order, so
    the optimiser sees bit-identical numbers and reaches the same parameters; what is saved is the Python
    around them: ln x is taken once per fit, and the logistic terms of the last residual evaluation are
    reused by the Jacobian at the same point (trf evaluates the Jacobian where it last evaluated the
    residuals). Callers hold ``np.errstate(all="ignore")`` around the optimisation (asymptotes overflow by
    design, see ``_stable5``).
    """

    def __init__(self, kind: Literal["logistic", "stable4", "stable5"], data: _Data) -> None:
        self.kind = kind
        self.x = data.x
        self.y = data.y
        self.transform = None if data.sigma is None else 1.0 / data.sigma
        with np.errstate(divide="ignore"):  # ln 0 = -inf: the zero standard sits on an asymptote
            self.logx = np.log(data.x) if kind != "logistic" else data.x
        self.positive = data.x > 0
        self._at: tuple[float, ...] | None = None
        self._terms: tuple[FloatArray, FloatArray, FloatArray] = (data.x, data.x, data.x)

    def _stable_terms(self, p: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """w = b·ln(x/c), softplus(w) and (1 + u)^-g of ``_stable5`` at ``p`` (cached for the Jacobian)."""
        key = tuple(p.tolist())
        if key != self._at:
            b, lc = p[1], p[2]
            g = p[4] if self.kind == "stable5" else 1.0
            w = b * (self.logx - lc)
            soft = np.logaddexp(0.0, w)
            self._terms = (w, soft, np.exp(-g * soft))
            self._at = key
        return self._terms

    def model(self, p: FloatArray) -> FloatArray:
        if self.kind == "logistic":
            a, b, c, d = p
            return d + (a - d) / (1.0 + np.power(self.x / c, b))
        a, d = p[0], p[3]
        return d + (a - d) * self._stable_terms(p)[2]

    def fun(self, p: FloatArray) -> FloatArray:
        if self.transform is None:
            return self.model(p) - self.y
        return self.transform * (self.model(p) - self.y)

    def jac(self, p: FloatArray) -> FloatArray:
        """``_stable5_jac`` (``_stable4_jac``: its first four columns), rows scaled by 1/sigma."""
        a, b, d = p[0], p[1], p[3]
        g = p[4] if self.kind == "stable5" else 1.0
        logx = self.logx - p[2]
        w, soft, dm = self._stable_terms(p)
        dy_dw = -(a - d) * g * dm * expit(w)
        cols = [dm, np.where(self.positive, dy_dw * logx, 0.0), np.where(self.positive, -b * dy_dw, 0.0)]
        cols.append(1.0 - dm)
        if self.kind == "stable5":
            cols.append(np.where(np.isfinite(soft), -(a - d) * dm * soft, 0.0))
        jac = np.column_stack(cols)
        return jac if self.transform is None else self.transform[:, np.newaxis] * jac


_MODELS: dict[Callable[..., FloatArray], Literal["logistic", "stable4", "stable5"]] = {
    _logistic: "logistic",
    _stable4: "stable4",
    _stable5: "stable5",
}


def _run(
    fn: Callable[..., FloatArray],
    data: _Data,
    p0: Sequence[float] | FloatArray,
    bounds: tuple[Sequence[float], Sequence[float]],
    jac: Callable[..., FloatArray] | None,
    max_nfev: int = 10_000,
    tol: float = _TIGHT,
) -> _Attempt | str:
    """One bounded trust-region least-squares run (what ``curve_fit(fn, x, y, p0, sigma, bounds, jac,
    maxfev, ...)`` runs, called directly — see :class:`_Residuals`): the attempt (finished, or where it was
    when ``max_nfev`` ran out) or why it failed. ``jac`` None: the historical 4PL path (finite-difference
    Jacobian, default tolerances); else the refined path (analytic Jacobian, ``tol``, x_scale="jac")."""
    lower, upper = bounds
    start = np.clip(np.asarray(p0, dtype=np.float64), lower, upper)
    if not (np.all(np.isfinite(data.x)) and np.all(np.isfinite(data.y)) and np.all(np.isfinite(start))):
        return "array must not contain infs or NaNs"  # curve_fit's check_finite (never hit: _prepare)
    residuals = _Residuals(_MODELS[fn], data)
    lb, ub = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
    try:
        with np.errstate(all="ignore"):
            refined = jac is not None
            tolerances = {"ftol": tol, "xtol": tol, "gtol": tol} if refined else {}
            res = trust_region.solve(
                residuals.fun,
                start,
                lb,
                ub,
                jac=residuals.jac if refined else None,
                x_scale_jac=refined,
                max_nfev=max_nfev,
                **tolerances,
            )
    except (ValueError, FloatingPointError) as exc:
        return str(exc)
    if not res.success:
        if jac is not None and res.status == 0 and res.nfev > 1 and np.all(np.isfinite(res.x)):
            return _Attempt(res.x, _cost(fn, data, res.x), finished=False)
        return "Optimal parameters not found: " + res.message
    popt = np.asarray(res.x, dtype=np.float64)
    if not np.all(np.isfinite(popt)):
        return "non-finite parameters"
    return _Attempt(popt, _cost(fn, data, popt), finished=True)


def _at_bound(named: dict[str, tuple[float, float, float]]) -> list[str]:
    return [
        name
        for name, (value, lo, hi) in named.items()
        if math.isclose(value, lo, rel_tol=1e-6, abs_tol=1e-12) or math.isclose(value, hi, rel_tol=1e-6)
    ]


def _finish(
    data: _Data,
    params: tuple[float, float, float, float, float | None],
    weighting: Weighting,
    model: Model,
    at_bound: list[str],
    note: str = "",
) -> CurveFit:
    a, b, c, d, g = params
    fitted = _logistic(data.x, a, b, c, d) if g is None else _logistic5(data.x, a, b, c, d, g)
    resid = data.y - fitted
    ss_res = float(np.sum(resid**2))
    ss_tot = float(np.sum((data.y - data.y.mean()) ** 2))
    message = "converged" if not at_bound else f"converged with {', '.join(at_bound)} at its bound"
    return CurveFit(
        a,
        b,
        c,
        d,
        1.0 - ss_res / ss_tot,
        weighting,
        True,
        message + note,
        model=model,
        n_points=int(data.x.size),
        g=g,
        residuals=tuple(float(r) for r in resid),
    )


@dataclass(frozen=True)
class _RunRequest:
    """One bounded least-squares run a fit needs: the arguments of :func:`_run`."""

    fn: Callable[..., FloatArray]
    data: _Data
    p0: Sequence[float] | FloatArray
    bounds: tuple[Sequence[float], Sequence[float]]
    jac: Callable[..., FloatArray] | None
    max_nfev: int = 10_000
    tol: float = _TIGHT


# A fit, written once as a sequence of runs (assay/batching.py): it yields the runs it needs next (those
# in one list are independent of each other) and receives their outcomes, in the same order.
_FitSteps = Generator[list[_RunRequest], list["_Attempt | str"], CurveFit]


def _run_request(req: _RunRequest) -> _Attempt | str:
    """A run on its own (the per-curve path)."""
    return _run(req.fn, req.data, req.p0, req.bounds, req.jac, req.max_nfev, req.tol)


def _fit4_steps(data: _Data, weighting: Weighting, start: CurveFit | None = None) -> _FitSteps:
    """The 4PL: one start from the data (the historical fit, unchanged) — or from ``start``, a converged
    4PL of nearly the same points, when given; only when that fails, the refined parametrisation (ln c,
    analytic Jacobian) from a few starts."""
    a0, b0, c0, d0 = _generic_start(data)
    lo_y, hi_y = data.asymptote_bounds
    c_lo, c_hi = float(data.nonzero.min()) / 1000, float(data.nonzero.max()) * 1000
    lower = [lo_y, _B_BOUNDS[0], c_lo, lo_y]
    upper = [hi_y, _B_BOUNDS[1], c_hi, hi_y]
    p0 = [a0, b0, c0, d0]
    if start is not None and start.converged and start.g is None and start.b > 0 and start.c > 0:
        p0 = [start.a, start.b, start.c, start.d]
    (got,) = yield [_RunRequest(_logistic, data, p0, (lower, upper), None)]
    if isinstance(got, str):
        first_error = got
        best: _Attempt | None = None
        box = ([lo_y, _B_BOUNDS[0], math.log(c_lo), lo_y], [hi_y, _B_BOUNDS[1], math.log(c_hi), hi_y])
        starts = ((1.0, c0), (2.0, c0), (1.0, float(data.nonzero.min())), (1.0, c_hi / 1e3))
        trials = yield [
            _RunRequest(_stable4, data, [a0, b_start, math.log(c_start), d0], box, _stable4_jac)
            for b_start, c_start in starts
        ]
        for trial in trials:
            if isinstance(trial, _Attempt) and (best is None or trial.cost < best.cost):
                best = trial
        if best is None:
            return _failed(f"the 4PL fit did not converge: {first_error}", weighting, int(data.x.size))
        a, b, lc, d = (float(p) for p in best.params)
        popt = np.array([a, b, math.exp(lc), d])
        note = " (from a fallback start)"
    else:
        popt, note = got.params, ""
    a, b, c, d = (float(p) for p in popt)
    named = {k: (v, lo, hi) for k, v, lo, hi in zip("abcd", (a, b, c, d), lower, upper, strict=True)}
    return _finish(data, (a, b, c, d, None), weighting, "4PL", _at_bound(named), note)


def _fit5_steps(data: _Data, weighting: Weighting) -> _FitSteps:
    """The 5PL from the 4PL solution (g = 1 makes them equal), in both orientations (b > 0: asymmetry at
    the top; b < 0: at the bottom); the smaller weighted sum of squares wins.

    Speed: an orientation that the data do not favour often crawls along a flat valley towards a bound of
    g for hundreds of evaluations. So each orientation first gets ``_QUICK_NFEV`` evaluations; one that has
    not finished by then is resumed (full budget) only if it is already better than the best finished one
    — the sum of squares only decreases along a run, so one that is still worse is abandoned. This halves
    the time of a typical 5PL fit; on the 35 Bio-Plex curves of the corpus it never changed the fit chosen.
    """
    four = yield from _fit4_steps(data, weighting)
    if four.converged:
        a4, b4, c4, d4 = four.a, four.b, four.c, four.d
    else:
        a4, b4, c4, d4 = _generic_start(data)
    lo_y, hi_y = data.asymptote_bounds
    lc_lo = math.log(float(data.nonzero.min()) / 1000)
    lc_hi = math.log(float(data.nonzero.max()) * 1000)
    lc4 = min(max(math.log(c4), lc_lo), lc_hi)
    b_ranges = ((_B_BOUNDS[0], _B_BOUNDS[1]), (-_B_BOUNDS[1], -_B_BOUNDS[0]))
    starts = ([a4, b4, lc4, d4, 1.0], [d4, -b4, lc4, a4, 1.0])
    boxes = [
        ([lo_y, b_lo, lc_lo, lo_y, _G_BOUNDS[0]], [hi_y, b_hi, lc_hi, hi_y, _G_BOUNDS[1]])
        for b_lo, b_hi in b_ranges
    ]
    errors: list[str] = []
    done: list[tuple[_Attempt, int]] = []
    pending: list[tuple[_Attempt, int]] = []
    quick = yield [
        _RunRequest(_stable5, data, p0, box, _stable5_jac, max_nfev=_QUICK_NFEV)
        for p0, box in zip(starts, boxes, strict=True)
    ]
    for i, got in enumerate(quick):
        if isinstance(got, str):
            errors.append(got)
        else:
            (done if got.finished else pending).append((got, i))
    for attempt, i in sorted(pending, key=lambda t: t[0].cost):
        best_done = min((a.cost for a, _ in done), default=math.inf)
        if attempt.cost >= best_done:
            continue
        (got,) = yield [_RunRequest(_stable5, data, attempt.params, boxes[i], _stable5_jac)]
        if isinstance(got, str):
            errors.append(got)
        else:
            done.append((got, i))
    if not done:
        reason = "; ".join(errors) or "no orientation converged"
        return _failed(f"the 5PL fit did not converge: {reason}", weighting, int(data.x.size), "5PL")
    best, i = min(done, key=lambda t: t[0].cost)
    a, b, lc, d, g = (float(p) for p in best.params)
    b_lo, b_hi = b_ranges[i]
    named = {
        "a": (a, lo_y, hi_y),
        "b": (b, b_lo, b_hi),
        "c": (lc, lc_lo, lc_hi),
        "d": (d, lo_y, hi_y),
        "g": (g, *_G_BOUNDS),
    }
    return _finish(data, (a, b, math.exp(lc), d, g), weighting, "5PL", _at_bound(named))


def _refit5_steps(
    data: _Data, weighting: Weighting, start: CurveFit
) -> Generator[list[_RunRequest], list[_Attempt | str], CurveFit | None]:
    """A 5PL from a nearby solution (``start``, e.g. the fit of a superset of these points), in its
    orientation only: one refined run instead of the two-orientation search. None when it cannot be used."""
    if not (start.converged and start.g is not None and start.c > 0 and math.isfinite(start.b)):
        return None
    lo_y, hi_y = data.asymptote_bounds
    lc_lo = math.log(float(data.nonzero.min()) / 1000)
    lc_hi = math.log(float(data.nonzero.max()) * 1000)
    b_lo, b_hi = (_B_BOUNDS[0], _B_BOUNDS[1]) if start.b > 0 else (-_B_BOUNDS[1], -_B_BOUNDS[0])
    box = ([lo_y, b_lo, lc_lo, lo_y, _G_BOUNDS[0]], [hi_y, b_hi, lc_hi, hi_y, _G_BOUNDS[1]])
    p0 = [start.a, start.b, math.log(start.c), start.d, start.g]
    (got,) = yield [_RunRequest(_stable5, data, p0, box, _stable5_jac, tol=_WARM_TOL)]
    if isinstance(got, str):
        return None
    a, b, lc, d, g = (float(p) for p in got.params)
    named = {"a": (a, lo_y, hi_y), "b": (b, b_lo, b_hi), "c": (lc, lc_lo, lc_hi), "d": (d, lo_y, hi_y)}
    named["g"] = (g, *_G_BOUNDS)
    return _finish(data, (a, b, math.exp(lc), d, g), weighting, "5PL", _at_bound(named))


@dataclass(frozen=True)
class CurveSpec:
    """The arguments of one :func:`fit_curve` call, for :func:`fit_curves_batched`."""

    conc: Sequence[float] | FloatArray
    signal: Sequence[float] | FloatArray
    model: Model
    weighting: Weighting
    start: CurveFit | None = None


def _fit_steps(spec: CurveSpec) -> _FitSteps:
    data = _prepare(spec.conc, spec.signal, spec.weighting, spec.model)
    if isinstance(data, CurveFit):
        return data
    if spec.start is not None and spec.model == "5PL":
        warm = yield from _refit5_steps(data, spec.weighting, spec.start)
        if warm is not None:
            return warm
    if spec.model == "4PL":
        return (yield from _fit4_steps(data, spec.weighting, spec.start))
    return (yield from _fit5_steps(data, spec.weighting))


def fit_curve(
    conc: Sequence[float] | FloatArray,
    signal: Sequence[float] | FloatArray,
    *,
    model: Model,
    weighting: Weighting,
    start: CurveFit | None = None,
) -> CurveFit:
    """Fit a 4PL or 5PL to standards (concentration, signal); pairs with a non-finite value are ignored.

    ``start``: a converged fit of nearly the same points (leave-one-out refits in assay/standards.py) —
    a 4PL starts from it instead of from the data; a 5PL starts from it, in its orientation, instead of
    searching both (several times faster).

    Zero-concentration standards (blanks in the series) are kept: they pin the zero-concentration
    asymptote. Bounds keep the optimiser in a sane region (asymptotes within 5 signal spans of the data,
    ``0.05 ≤ |b| ≤ 20``, ``c`` within 1000× of the standards, ``0.1 ≤ g ≤ 10``), so a well-behaved
    standard series converges without hand tuning; a parameter that ends on its bound is named in
    ``message``. The 5PL starts from the 4PL solution. Never raises for bad data: a fit that cannot be
    made has ``converged=False`` and the reason in ``message``.

    This is the per-curve path, the reference; :func:`fit_curves_batched` fits many curves together
    with the same steps.
    """
    spec = CurveSpec(conc, signal, model, weighting, start)
    return batching.drive_one(_fit_steps(spec), _run_request)


def fit_curves_batched(specs: Sequence[CurveSpec]) -> list[CurveFit]:
    """:func:`fit_curve` for every spec, solved together: the fits advance in lockstep and every round of
    runs they need is one vectorised solve (assay/trust_region_batch.py) per shape of problem. Same
    models, starts, bounds, weights, tolerances and decisions as :func:`fit_curve`; the parameters agree
    with it to the solver's round-off (tests/assay/test_batch_fit.py)."""
    return batching.drive_many([_fit_steps(s) for s in specs], _run_requests)


class _BatchResiduals:
    """:class:`_Residuals` for many problems of one kind and one number of points, over arrays: row k of
    the parameters belongs to problem k. ``weighting="none"`` rows are scaled by exactly 1."""

    def __init__(self, kind: Literal["logistic", "stable4", "stable5"], datas: Sequence[_Data]) -> None:
        self.kind = kind
        self.x = np.stack([d.x for d in datas])
        self.y = np.stack([d.y for d in datas])
        self.transform = np.stack([np.ones_like(d.y) if d.sigma is None else 1.0 / d.sigma for d in datas])
        with np.errstate(divide="ignore"):
            self.logx = np.log(self.x) if kind != "logistic" else self.x
        self.positive = self.x > 0

    def _stable_terms(self, p: FloatArray, rows: NDArray[np.intp]) -> tuple[FloatArray, ...]:
        b, lc = p[:, 1:2], p[:, 2:3]
        g = p[:, 4:5] if self.kind == "stable5" else 1.0
        w = b * (self.logx[rows] - lc)
        soft = np.logaddexp(0.0, w)
        return w, soft, np.exp(-g * soft)

    def fun(self, p: FloatArray, rows: NDArray[np.intp]) -> FloatArray:
        a, d = p[:, 0:1], p[:, 3:4]
        if self.kind == "logistic":
            b, c = p[:, 1:2], p[:, 2:3]
            model = d + (a - d) / (1.0 + np.power(self.x[rows] / c, b))
        else:
            model = d + (a - d) * self._stable_terms(p, rows)[2]
        return self.transform[rows] * (model - self.y[rows])

    def jac(self, p: FloatArray, rows: NDArray[np.intp]) -> FloatArray:
        a, b, d = p[:, 0:1], p[:, 1:2], p[:, 3:4]
        g = p[:, 4:5] if self.kind == "stable5" else 1.0
        logx = self.logx[rows] - p[:, 2:3]
        w, soft, dm = self._stable_terms(p, rows)
        positive = self.positive[rows]
        dy_dw = -(a - d) * g * dm * expit(w)
        cols = [dm, np.where(positive, dy_dw * logx, 0.0), np.where(positive, -b * dy_dw, 0.0), 1.0 - dm]
        if self.kind == "stable5":
            cols.append(np.where(np.isfinite(soft), -(a - d) * dm * soft, 0.0))
        return np.stack(cols, axis=2) * self.transform[rows][:, :, np.newaxis]


def _run_requests(requests: list[_RunRequest]) -> list[_Attempt | str]:
    """Every run of a round, solved together: one vectorised solve per group of runs that share the
    model, the number of points and the solver settings; a group of one is run on its own."""
    out: list[_Attempt | str | None] = [None] * len(requests)
    groups: dict[tuple[object, ...], list[int]] = {}
    for i, req in enumerate(requests):
        key = (_MODELS[req.fn], req.jac is None, req.data.x.size, req.max_nfev, req.tol)
        groups.setdefault(key, []).append(i)
    for members in groups.values():
        if len(members) == 1:
            out[members[0]] = _run_request(requests[members[0]])
            continue
        for i, got in zip(members, _run_group([requests[i] for i in members]), strict=True):
            out[i] = got
    return [o if o is not None else "no outcome" for o in out]


def _run_group(reqs: list[_RunRequest]) -> list[_Attempt | str]:
    """:func:`_run` for runs of one shape, in one ``trust_region_batch.solve_batch``."""
    first = reqs[0]
    lb = np.array([r.bounds[0] for r in reqs], dtype=np.float64)
    ub = np.array([r.bounds[1] for r in reqs], dtype=np.float64)
    start = np.clip(np.array([np.asarray(r.p0, dtype=np.float64) for r in reqs]), lb, ub)
    residuals = _BatchResiduals(_MODELS[first.fn], [r.data for r in reqs])
    refined = first.jac is not None
    tolerances = {"ftol": first.tol, "xtol": first.tol, "gtol": first.tol} if refined else {}
    with np.errstate(all="ignore"):
        solutions = trust_region_batch.solve_batch(
            residuals.fun,
            start,
            lb,
            ub,
            jac=residuals.jac if refined else None,
            x_scale_jac=refined,
            max_nfev=first.max_nfev,
            **tolerances,
        )
    out: list[_Attempt | str] = []
    for req, res in zip(reqs, solutions, strict=True):
        if res.error is not None:
            out.append(res.error)
        elif not res.success:
            if refined and res.status == 0 and res.nfev > 1 and np.all(np.isfinite(res.x)):
                out.append(_Attempt(res.x, _cost(req.fn, req.data, res.x), finished=False))
            else:
                out.append("Optimal parameters not found: " + res.message)
        elif not np.all(np.isfinite(res.x)):
            out.append("non-finite parameters")
        else:
            out.append(_Attempt(res.x, _cost(req.fn, req.data, res.x), finished=True))
    return out


def fit_4pl(
    conc: Sequence[float] | FloatArray,
    signal: Sequence[float] | FloatArray,
    *,
    weighting: Weighting = "1/y2",
) -> CurveFit:
    """Fit a 4PL to standards: :func:`fit_curve` with ``model="4PL"``."""
    return fit_curve(conc, signal, model="4PL", weighting=weighting)


def _add_flag(flags: str | None, *new: str) -> str:
    parts = [f for f in (flags or "").split(";") if f]
    parts += [f for f in new if f not in parts]
    return ";".join(parts)


def _curve_key(analyte: str | None, as_written: str | None) -> str:
    return analyte if analyte is not None else (as_written or "")


@dataclass(frozen=True)
class AcceptedCurve:
    """A calibration already decided elsewhere (assay/standards.py: fitted, levels masked, limits from the
    accepted levels), to read signals through as it is — so the unknowns are read through exactly the curve
    recorded for the run. ``signal_offset`` is subtracted from a signal first (the blank, for curves fitted
    on background-subtracted signals)."""

    fit: CurveFit
    lloq: float
    uloq: float
    signal_offset: float = 0.0


def concentrations_from_signal(
    wells: pl.DataFrame,
    *,
    unit: str | None,
    weighting: Weighting = "1/y2",
    model: Model = "4PL",
    accepted: Mapping[str, AcceptedCurve] | None = None,
) -> tuple[pl.DataFrame, dict[str, CurveFit]]:
    """Fill ``value``/``qualifier`` of one plate's signal-only rows from a 4PL (or ``model``) per analyte.

    For each analyte (``analyte``, else ``analyte_as_written``) the standards' mean signal per level is
    fitted; every row with a signal (standards included, so their back-calculation can be checked) gets
    ``value`` = the in-well concentration — the dilution is *not* applied here (``dilution_applied`` stays
    False; the pipeline multiplies exactly once). Outside the lowest non-zero / highest standard, or beyond
    an asymptote, the row is censored ``<``/``>`` with the limit as ``value``; exactly at a limit is in
    range. ``unit`` (the assay's configured unit) is recorded with ``unit_source="config"``; None leaves
    the unit unknown so the pipeline holds the rows. A failed fit leaves the analyte's rows ``NR`` with the
    flag ``curve_failed`` and the reason. Rows that already carry a value are left as they are.

    ``accepted``: per analyte key, the run's accepted calibration (after masking); such an analyte is read
    through it and censored at its accepted limits instead of being fitted here on every level.

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
        given = (accepted or {}).get(key)
        offset = 0.0
        if given is not None:
            fit, lloq, uloq, offset = given.fit, given.lloq, given.uloq, given.signal_offset
        else:
            means = [float(np.mean(by_level[lv])) for lv in levels]
            fit = fit_curve(levels, means, model=model, weighting=weighting)
            nonzero = [lv for lv in levels if lv > 0]
            lloq, uloq = (min(nonzero), max(nonzero)) if nonzero else (math.nan, math.nan)
        fits[key] = fit
        targets = [i for i in rows if value[i] is None]
        if not fit.converged:
            reason = "curve_message=" + fit.message.replace(";", ",")
            for i in targets:
                qualifier[i] = "NR"
                flags[i] = _add_flag(flags[i], "curve_failed", reason)
            continue
        for i in targets:
            s = signal[i]
            if s is None or not math.isfinite(s):
                continue  # no reading: stays NR with the reader's flag
            q, v = _censor(fit, float(s) - offset, lloq, uloq)
            qualifier[i], value[i], applied[i] = q, v, False
            if unit is not None:
                unit_col[i], unit_source[i] = unit, "config"
            flags[i] = _add_flag(flags[i], f"conc_from_{model.lower()}")
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
