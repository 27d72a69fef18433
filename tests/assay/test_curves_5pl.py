"""The 5PL beside the 4PL (assay/curves.py): fit against an independent fit, both orientations, status as
data, predict/inverse."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy.optimize import minimize

from assay.curves import CurveFit, Model, Weighting, fit_4pl, fit_curve

# A 5PL with its asymmetry at the low end (b < 0, the form Bio-Plex Manager writes), standards 3-fold from
# ~85% of the top down to ~7× background — a well-designed kit.
TRUE5 = CurveFit(
    a=15000.0, b=-1.2, c=900.0, d=10.0, r_squared=1.0, weighting="none", converged=True, message="",
    model="5PL", g=0.7,
)  # fmt: skip
X5 = np.array([2750 / 3**i for i in range(8)])
# Reference dataset: TRUE5 at X5 with 3% multiplicative noise (numpy default_rng(11)), written out so the
# test does not depend on a random stream.
Y5 = np.array([12761.6, 9688.1, 5305.5, 2262.8, 943.9, 382.1, 163.5, 69.8])
TRUE4 = CurveFit(a=0.05, b=1.3, c=250.0, d=2.8, r_squared=1.0, weighting="none", converged=True, message="")
X4 = np.array([2000 / 2**i for i in range(8)])
Y4 = np.array([2.6862, 2.277, 2.1, 1.4209, 0.8615, 0.4376, 0.2201, 0.1245])

WEIGHTINGS: tuple[Weighting, ...] = ("none", "1/y", "1/y2")


def _independent_fit(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    weighting: Weighting,
    start: tuple[float, float, float, float, float],
    five: bool,
) -> dict[str, float]:
    """Minimise the weighted sum of squares from first principles: the logistic written out here,
    derivative-free Nelder–Mead then Powell (not the least-squares machinery fit_curve uses), repeated
    until the objective stops improving, in a scaled space (a, d / max|y|, ln c, ln g)."""
    w = {"1/y2": 1 / y**2, "1/y": 1 / np.abs(y), "none": np.ones_like(y)}[weighting]
    s = float(np.max(np.abs(y)))

    def unpack(t: NDArray[np.float64]) -> tuple[float, float, float, float, float]:
        return t[0] * s, t[1], math.exp(t[2]), t[3] * s, math.exp(t[4]) if five else 1.0

    def objective(t: NDArray[np.float64]) -> float:
        a, b, c, d, g = unpack(t)
        with np.errstate(all="ignore"):
            r = y - (d + (a - d) / (1 + (x / c) ** b) ** g)
        v = float(np.sum(w * r * r))
        return v if math.isfinite(v) else 1e300

    a, b, c, d, g = start
    t = np.array([a / s, b, math.log(c), d / s, math.log(g)])
    if not five:
        t = t[:4]
    best = objective(t)
    for _ in range(10):
        nm = minimize(
            objective, t, method="Nelder-Mead",
            options={"xatol": 1e-10, "fatol": 1e-16, "maxiter": 50_000, "maxfev": 50_000},
        )  # fmt: skip
        pw = minimize(objective, nm.x, method="Powell", options={"xtol": 1e-12, "ftol": 1e-15})
        t = pw.x
        if best - pw.fun <= 1e-10 * best:
            break
        best = pw.fun
    names = "abcdg" if five else "abcd"
    return dict(zip(names, unpack(t), strict=False))


@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize(
    ("model", "x", "y", "start"),
    [
        ("5PL", X5, Y5, (12000.0, -2.0, 400.0, 30.0, 1.5)),
        ("4PL", X4, Y4, (0.2, 2.0, 100.0, 2.0, 1.0)),
    ],
)
def test_fit_matches_an_independent_minimisation(
    model: Model,
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    start: tuple[float, float, float, float, float],
    weighting: Weighting,
) -> None:
    fit = fit_curve(x, y, model=model, weighting=weighting)
    assert fit.converged and fit.message == "converged" and fit.model == model
    reference = _independent_fit(x, y, weighting, start, five=model == "5PL")
    assert set(fit.parameters) == set(reference)
    for name, want in reference.items():
        assert fit.parameters[name] == pytest.approx(want, rel=1e-3), name  # 0.1% in every parameter


@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("b", [-1.2, 1.2])
@pytest.mark.parametrize("g", [0.4, 0.7, 2.5])
def test_5pl_recovers_known_parameters_from_noiseless_standards(
    b: float, g: float, weighting: Weighting
) -> None:
    # both orientations: asymmetry at the low end (b < 0) and at the high end (b > 0)
    a, d = (15000.0, 10.0) if b < 0 else (10.0, 15000.0)
    true = CurveFit(a, b, 900.0, d, 1.0, "none", True, "", model="5PL", g=g)
    x = np.array([*(20000 / 3**i for i in range(10)), 0.0])
    fit = fit_curve(x, true.predict(x), model="5PL", weighting=weighting)
    assert fit.converged and fit.model == "5PL" and fit.g is not None
    for name, want in true.parameters.items():
        assert fit.parameters[name] == pytest.approx(want, rel=1e-4), name
    assert fit.r_squared == pytest.approx(1.0)
    assert fit.n_points == x.size and len(fit.residuals) == x.size
    assert max(abs(r) for r in fit.residuals) < 1e-6 * 15000


def test_5pl_of_symmetric_data_is_the_4pl() -> None:
    y = TRUE4.predict(np.array([*X4, 0.0]))
    fit = fit_curve([*X4, 0.0], y, model="5PL", weighting="1/y2")
    assert fit.converged and fit.g == pytest.approx(1.0, rel=1e-4)
    grid = np.geomspace(10, 3000, 25)
    assert np.allclose(fit.predict(grid), TRUE4.predict(grid), rtol=1e-6)


def test_5pl_fits_asymmetric_data_better_than_the_4pl() -> None:
    f4 = fit_curve(X5, Y5, model="4PL", weighting="1/y2")
    f5 = fit_curve(X5, Y5, model="5PL", weighting="1/y2")
    assert f4.converged and f5.converged
    ss4 = sum((r / y) ** 2 for r, y in zip(f4.residuals, Y5, strict=True))
    ss5 = sum((r / y) ** 2 for r, y in zip(f5.residuals, Y5, strict=True))
    assert ss5 < ss4


def test_fit_4pl_is_fit_curve_4pl() -> None:
    assert fit_4pl(X4, Y4) == fit_curve(X4, Y4, model="4PL", weighting="1/y2")
    assert fit_4pl(X4, Y4).g is None and set(fit_4pl(X4, Y4).parameters) == {"a", "b", "c", "d"}


@pytest.mark.parametrize(
    ("conc", "signal", "why"),
    [
        ([1.0, 2.0, 3.0, 4.0], [0.1, 0.2, 0.3, 0.4], "a 5PL needs at least 5 distinct"),
        ([0.0, 0.0, 10.0, 100.0, 1000.0, 1000.0], [0.1, 0.1, 0.5, 1.0, 1.5, 1.4], "got 4"),
        ([1.0, 10.0, 100.0, 1000.0, 1e4], [0.5] * 5, "same signal"),
        ([1.0, 2.0], [0.1, 0.2, 0.3], "differ in shape"),
    ],
)
def test_unfittable_5pl_is_a_status(conc: list[float], signal: list[float], why: str) -> None:
    fit = fit_curve(conc, signal, model="5PL", weighting="1/y2")
    assert not fit.converged and why in fit.message and fit.model == "5PL"
    assert math.isnan(fit.predict(10.0)) and math.isnan(fit.inverse(1.0))


def test_a_parameter_on_its_bound_is_named() -> None:
    # a near-step response pushes the asymmetry to its bound (Bio-Plex's own footers sit there too)
    x = np.array([1.0, 2, 4, 8, 16, 32, 64, 128])
    y = np.array([10.0, 10, 11, 12, 5000, 9000, 9800, 9990])
    fit = fit_curve(x, y, model="5PL", weighting="1/y2")
    assert fit.converged
    assert "at its bound" in fit.message or fit.message == "converged"


def test_inverse_outside_the_asymptotes_is_nan_for_both_orientations() -> None:
    # b < 0: d (10) is the zero-concentration asymptote, a (15000) the top
    assert TRUE5.response_at_zero == 10.0 and TRUE5.response_at_infinity == 15000.0
    assert TRUE5.inverse(10.0) == 0.0
    assert math.isnan(TRUE5.inverse(5.0)) and math.isnan(TRUE5.inverse(15000.0))
    assert math.isnan(TRUE5.inverse(16000.0))
    assert TRUE5.below_curve(10.0) and TRUE5.below_curve(3.0) and not TRUE5.below_curve(11.0)
    arr = TRUE5.inverse(np.array([5.0, TRUE5.predict(100.0), 2e4]))
    assert math.isnan(arr[0]) and arr[1] == pytest.approx(100.0) and math.isnan(arr[2])
    assert TRUE5.predict(0.0) == 10.0
    up = CurveFit(10.0, 1.2, 900.0, 15000.0, 1.0, "none", True, "", model="5PL", g=0.7)
    assert up.response_at_zero == 10.0 and up.inverse(10.0) == 0.0 and math.isnan(up.inverse(15000.0))
    down = CurveFit(15000.0, 1.2, 900.0, 10.0, 1.0, "none", True, "", model="5PL", g=0.7)  # competitive
    assert down.below_curve(15000.0) and not down.below_curve(14000.0)
    assert down.inverse(down.predict(321.0)) == pytest.approx(321.0)


@settings(max_examples=300, deadline=None)
@given(
    a=st.floats(0.0, 500.0),
    span=st.floats(100.0, 30000.0),
    b=st.floats(0.3, 6.0),
    negative=st.booleans(),
    log_c=st.floats(-2.0, 4.0),
    g=st.floats(0.1, 10.0),
    fraction=st.floats(0.02, 0.98),
)
def test_5pl_predict_then_inverse_round_trips(
    a: float, span: float, b: float, negative: bool, log_c: float, g: float, fraction: float
) -> None:
    bottom, top = a, a + span
    fit = CurveFit(
        top if negative else bottom, -b if negative else b, 10**log_c, bottom if negative else top,
        1.0, "none", True, "", model="5PL", g=g,
    )  # fmt: skip
    # a signal a fraction of the way up the span, and the concentration that gives it
    y = bottom + fraction * span
    x = fit.inverse(y)
    assert math.isfinite(x) and x > 0
    assert fit.predict(x) == pytest.approx(y, rel=1e-9, abs=1e-9 * span)


def test_fits_are_fast() -> None:
    import time

    fit_curve(X5, Y5, model="5PL", weighting="1/y2")  # warm-up (imports, first call)
    times = []
    for _ in range(7):
        t = time.perf_counter()
        fit_curve(X5, Y5, model="5PL", weighting="1/y2")
        times.append(time.perf_counter() - t)
    assert sorted(times)[3] < 0.05  # median well under the 50 ms per plate × analyte budget
