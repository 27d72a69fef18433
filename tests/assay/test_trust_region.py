"""assay/trust_region.py must compute exactly what scipy.optimize.least_squares(method="trf") computes: the
standard curves were validated with SciPy's optimiser, and a fit is a pure function of its points. These
tests run both on standard-curve problems (the residuals assay/curves.py builds) and demand bit-identical
parameters, status and evaluation counts — a SciPy upgrade that changes the algorithm fails here."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import least_squares

from assay import trust_region
from assay.curves import _B_BOUNDS, _G_BOUNDS, _TIGHT, _prepare, _Residuals

LEVELS = np.array([0.0, *(2000 / 3**i for i in range(7))])


def _problem(seed: int, asym: float, noise: float, decreasing: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a, d = (30000.0, 40.0) if decreasing else (40.0, 30000.0)
    y = d + (a - d) / (1 + (LEVELS / 150.0) ** 1.2) ** asym
    return LEVELS, y * (1 + noise * rng.standard_normal(LEVELS.size))


def _scipy(fun, x0, lb, ub, **kw):  # type: ignore[no-untyped-def]
    with np.errstate(all="ignore"):
        return least_squares(fun, x0, bounds=(lb, ub), method="trf", **kw)


def _same(ours: trust_region.Solution, theirs: object) -> None:
    assert np.array_equal(ours.x, theirs.x)  # type: ignore[attr-defined]
    assert ours.status == theirs.status  # type: ignore[attr-defined]
    assert ours.nfev == theirs.nfev  # type: ignore[attr-defined]
    assert ours.message == theirs.message  # type: ignore[attr-defined]


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    asym=st.sampled_from([0.4, 1.0, 2.5]),
    noise=st.sampled_from([0.0, 0.02, 0.1]),
    decreasing=st.booleans(),
    budget=st.sampled_from([20, 10_000]),
)
def test_refined_5pl_runs_are_bit_identical_to_least_squares(
    seed: int, asym: float, noise: float, decreasing: bool, budget: int
) -> None:
    x, y = _problem(seed, asym, noise, decreasing)
    data = _prepare(x, y, "1/y2", "5PL")
    lo_y, hi_y = data.asymptote_bounds  # type: ignore[union-attr]
    lc = (math.log(LEVELS[-1] / 1000), math.log(LEVELS[1] * 1000))
    for b_lo, b_hi, b0 in ((_B_BOUNDS[0], _B_BOUNDS[1], 1.0), (-_B_BOUNDS[1], -_B_BOUNDS[0], -1.0)):
        lb = np.array([lo_y, b_lo, lc[0], lo_y, _G_BOUNDS[0]])
        ub = np.array([hi_y, b_hi, lc[1], hi_y, _G_BOUNDS[1]])
        x0 = np.clip(np.array([y.min(), b0, math.log(150.0), y.max(), 1.0]), lb, ub)
        r = _Residuals("stable5", data)  # type: ignore[arg-type]
        with np.errstate(all="ignore"):  # as assay/curves.py runs it: asymptotes overflow by design
            ours = trust_region.solve(
                r.fun,
                x0,
                lb,
                ub,
                jac=r.jac,
                x_scale_jac=True,
                ftol=_TIGHT,
                xtol=_TIGHT,
                gtol=_TIGHT,
                max_nfev=budget,
            )
        r2 = _Residuals("stable5", data)  # type: ignore[arg-type]
        theirs = _scipy(
            r2.fun,
            x0,
            lb,
            ub,
            jac=r2.jac,
            x_scale="jac",
            ftol=_TIGHT,
            xtol=_TIGHT,
            gtol=_TIGHT,
            max_nfev=budget,
        )
        _same(ours, theirs)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), noise=st.sampled_from([0.0, 0.03, 0.15]), decreasing=st.booleans())
def test_finite_difference_4pl_runs_are_bit_identical_to_least_squares(
    seed: int, noise: float, decreasing: bool
) -> None:
    x, y = _problem(seed, 1.0, noise, decreasing)
    data = _prepare(x, y, "1/y2", "4PL")
    lo_y, hi_y = data.asymptote_bounds  # type: ignore[union-attr]
    lb = np.array([lo_y, _B_BOUNDS[0], LEVELS[-1] / 1000, lo_y])
    ub = np.array([hi_y, _B_BOUNDS[1], LEVELS[1] * 1000, hi_y])
    a0, d0 = (y.max(), y.min()) if decreasing else (y.min(), y.max())
    x0 = np.clip(np.array([a0, 1.0, 150.0, d0]), lb, ub)
    with np.errstate(all="ignore"):
        ours = trust_region.solve(_Residuals("logistic", data).fun, x0, lb, ub, max_nfev=10_000)  # type: ignore[arg-type]
    theirs = _scipy(_Residuals("logistic", data).fun, x0, lb, ub, max_nfev=10_000)  # type: ignore[arg-type]
    _same(ours, theirs)


def test_a_start_with_non_finite_residuals_raises_like_least_squares() -> None:
    def fun(p: np.ndarray) -> np.ndarray:
        return np.array([np.nan, p[0]])

    lb, ub = np.array([-1.0]), np.array([1.0])
    with pytest.raises(ValueError, match="not finite in the initial point"):
        trust_region.solve(fun, np.array([0.5]), lb, ub)
    with pytest.raises(ValueError, match="not finite in the initial point"):
        least_squares(fun, np.array([0.5]), bounds=(lb, ub))
