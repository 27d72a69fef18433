"""Bounded non-linear least squares for the standard curves: SciPy's Trust Region Reflective algorithm
(``scipy.optimize.least_squares(method="trf")`` with the exact trust-region solver and the linear loss),
restated without its general-purpose layers.

Why a restatement: a curve fit is a dozen points and five parameters; each of its ~15 iterations does a few
microseconds of arithmetic, and ``least_squares`` wraps it in argument checking, a memoising
``VectorFunction``, finite-difference dispatch, per-call ``np.errstate``/``norm``/``svd`` validation and an
``OptimizeResult`` per iteration — several times the arithmetic, paid ~1,500 times per 120 files. The
iteration here is SciPy's ``trf_bounds`` statement for statement (same helpers from ``scipy.optimize._lsq``,
same LAPACK ``gesdd`` for the SVD, same finite-difference steps), so it computes bit-for-bit the numbers
``least_squares`` computes and reaches the same parameters: tests/assay/test_trust_region.py checks that
against ``least_squares`` itself on the corpus-shaped problems, so a SciPy upgrade that changes the
algorithm fails a test instead of silently changing fitted curves.

Only what the curves use is supported: finite bounds on every parameter, ``x_scale`` "jac" or 1, a callable
Jacobian or SciPy's default 2-point finite differences, ``max_nfev``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import get_lapack_funcs
from scipy.optimize._lsq.common import (
    CL_scaling_vector,
    check_termination,
    compute_jac_scale,
    make_strictly_feasible,
    update_tr_radius,
)
from scipy.optimize._lsq.least_squares import TERMINATION_MESSAGES
from scipy.optimize._lsq.trf import select_step

FloatArray = NDArray[np.float64]
Residuals = Callable[[FloatArray], FloatArray]
Jacobian = Callable[[FloatArray], FloatArray]

_EPS = np.finfo(float).eps
_FD_STEP = np.finfo(np.float64).eps ** 0.5  # SciPy's relative step for 2-point differences


@dataclass(frozen=True)
class Solution:
    """Where the optimisation stopped. ``status`` is SciPy's: 0 = the evaluation budget ran out (``x`` is
    where it had got to), 1–4 = converged (gtol, ftol, xtol, ftol and xtol)."""

    x: FloatArray
    status: int
    nfev: int

    @property
    def success(self) -> bool:
        return self.status > 0

    @property
    def message(self) -> str:
        """least_squares' message for the status."""
        return str(TERMINATION_MESSAGES[self.status])


def _norm(v: FloatArray) -> float:
    """numpy.linalg.norm of a 1-D float vector, as numpy computes it (sqrt of the dot product)."""
    return math.sqrt(v.dot(v))


def _phi_and_derivative(
    alpha: float, suf: FloatArray, s: FloatArray, delta: float
) -> tuple[np.float64, np.float64]:
    denom = s**2 + alpha
    p = suf / denom
    p_norm = np.sqrt(p.dot(p))
    return p_norm - delta, -(suf**2 / denom**3).sum() / p_norm


def _solve_lsq_trust_region(
    n: int, m: int, uf: FloatArray, s: FloatArray, V: FloatArray, Delta: float, initial_alpha: float
) -> tuple[FloatArray, float]:
    """scipy.optimize._lsq.common.solve_lsq_trust_region (rtol 0.01, 10 iterations), with its norms as
    numpy computes them: (step, Levenberg–Marquardt parameter)."""
    suf = s * uf
    full_rank = s[-1] > _EPS * m * s[0] if m >= n else False
    if full_rank:
        p = -V.dot(uf / s)
        if np.sqrt(p.dot(p)) <= Delta:
            return p, 0.0
    alpha_upper = np.sqrt(suf.dot(suf)) / Delta
    alpha_lower: float
    if full_rank:
        phi, phi_prime = _phi_and_derivative(0.0, suf, s, Delta)
        alpha_lower = -phi / phi_prime
    else:
        alpha_lower = 0.0
    if not full_rank and initial_alpha == 0:
        alpha = max(0.001 * alpha_upper, (alpha_lower * alpha_upper) ** 0.5)
    else:
        alpha = initial_alpha
    for _ in range(10):
        if alpha < alpha_lower or alpha > alpha_upper:
            alpha = max(0.001 * alpha_upper, (alpha_lower * alpha_upper) ** 0.5)
        phi, phi_prime = _phi_and_derivative(alpha, suf, s, Delta)
        if phi < 0:
            alpha_upper = alpha
        ratio = phi / phi_prime
        alpha_lower = max(alpha_lower, alpha - ratio)
        alpha -= (phi + Delta) * ratio / Delta
        if np.abs(phi) < 0.01 * Delta:
            break
    p = -V.dot(suf / (s**2 + alpha))
    p *= Delta / np.sqrt(p.dot(p))
    return p, alpha


def _strictly_feasible(x: FloatArray, lb: FloatArray, ub: FloatArray) -> FloatArray:
    """make_strictly_feasible(x, lb, ub, rstep=0): a coordinate on (or beyond) a bound moves to the
    nearest float inside it."""
    lower = x <= lb
    upper = x >= ub
    if not (lower.any() or upper.any()):
        return x.copy()
    return make_strictly_feasible(x, lb, ub, rstep=0)


class _Svd:
    """scipy.linalg.svd(a, full_matrices=False) for one shape: the same LAPACK gesdd and work size, looked
    up once instead of on every call."""

    def __init__(self, a: FloatArray) -> None:
        gesdd, gesdd_lwork = get_lapack_funcs(("gesdd", "gesdd_lwork"), (a,), ilp64="preferred")
        work, info = gesdd_lwork(a.shape[0], a.shape[1], compute_uv=True, full_matrices=False)
        if info != 0:
            raise ValueError(f"Internal work array size computation failed: {info}")
        self.gesdd = gesdd
        self.lwork = int(np.ceil(work.real)) if work.real != int(work.real) else int(work.real)

    def __call__(self, a: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        if not np.isfinite(a).all():
            raise ValueError("array must not contain infs or NaNs")
        u, s, vt, info = self.gesdd(
            a, compute_uv=True, lwork=self.lwork, full_matrices=False, overwrite_a=False
        )
        if info > 0:
            raise np.linalg.LinAlgError("SVD did not converge")
        if info < 0:
            raise ValueError(f"illegal value in {-info}th argument of internal gesdd")
        return u, s, vt


def _fd_jacobian(
    fun: Residuals, x0: FloatArray, f0: FloatArray, lb: FloatArray, ub: FloatArray
) -> FloatArray:
    """SciPy's ``approx_derivative(fun, x0, method="2-point", f0=f0, bounds=(lb, ub))``: forward steps of
    √eps·max(1, |x|) (signed like x), reversed or shortened where a bound is in the way."""
    sign_x0 = (x0 >= 0).astype(float) * 2 - 1
    h = _FD_STEP * sign_x0 * np.maximum(1.0, np.abs(x0))
    h_adjusted = h.copy()
    lower_dist = x0 - lb
    upper_dist = ub - x0
    x = x0 + h
    violated = (x < lb) | (x > ub)
    fitting = np.abs(h) <= np.maximum(lower_dist, upper_dist)
    h_adjusted[violated & fitting] *= -1
    forward = (upper_dist >= lower_dist) & ~fitting
    h_adjusted[forward] = upper_dist[forward]
    backward = (upper_dist < lower_dist) & ~fitting
    h_adjusted[backward] = -lower_dist[backward]
    h = h_adjusted
    n, m = x0.size, f0.size
    jac_t = np.empty((n, m))
    for i in range(n):
        x1 = np.copy(x0)
        x1[i] = x0[i] + h[i]
        dx = (x0[i] + h[i]) - x0[i]
        jac_t[i] = (fun(x1) - f0) / dx
    return jac_t.T


def solve(
    fun: Residuals,
    x0: FloatArray,
    lb: FloatArray,
    ub: FloatArray,
    *,
    jac: Jacobian | None = None,
    x_scale_jac: bool = False,
    ftol: float = 1e-8,
    xtol: float = 1e-8,
    gtol: float = 1e-8,
    max_nfev: int | None = None,
) -> Solution:
    """Minimise ½·Σ fun(x)² over lb ≤ x ≤ ub from ``x0`` (inside the bounds): what
    ``least_squares(fun, x0, jac=jac or "2-point", bounds=(lb, ub), method="trf", ftol=ftol, xtol=xtol,
    gtol=gtol, x_scale="jac" if x_scale_jac else 1.0, max_nfev=max_nfev)`` returns (``x``, ``status``,
    ``nfev``). Raises ValueError where ``least_squares`` does (non-finite residuals at the start, a
    non-finite Jacobian reaching the SVD)."""
    x0 = np.atleast_1d(x0).astype(float)
    if np.any(lb >= ub):
        raise ValueError("Each lower bound must be strictly less than each upper bound.")
    if not np.all((x0 >= lb) & (x0 <= ub)):
        raise ValueError("Initial guess is outside of provided bounds")
    x0 = make_strictly_feasible(x0, lb, ub)

    def jacobian(x: FloatArray, f: FloatArray) -> FloatArray:
        return np.atleast_2d(jac(x)) if jac is not None else _fd_jacobian(fun, x, f, lb, ub)

    f0 = np.atleast_1d(fun(x0.copy()))
    if not np.all(np.isfinite(f0)):
        raise ValueError("Residuals are not finite in the initial point.")
    J = jacobian(x0.copy(), f0)
    if max_nfev is None:
        max_nfev = x0.size * 100
    # scipy.optimize._lsq.trf.trf_bounds, exact solver, linear loss (its comments there)
    x = x0.copy()
    f = f0
    nfev = 1
    m, n = J.shape
    cost = 0.5 * np.dot(f, f)
    g = J.T.dot(f)
    if x_scale_jac:
        scale, scale_inv = compute_jac_scale(J)
    else:
        scale, scale_inv = np.ones(n), 1 / np.ones(n)
    v, dv = CL_scaling_vector(x, g, lb, ub)
    v[dv != 0] *= scale_inv[dv != 0]
    Delta = _norm(x0 * scale_inv / v**0.5)
    if Delta == 0:
        Delta = 1.0
    f_augmented = np.zeros(m + n)
    J_augmented = np.empty((m + n, n))
    svd = _Svd(J_augmented)
    alpha = 0.0
    termination_status: int | None = None
    while True:
        v, dv = CL_scaling_vector(x, g, lb, ub)
        g_norm = np.abs(g * v).max()
        if g_norm < gtol:
            termination_status = 1
        if termination_status is not None or nfev == max_nfev:
            break
        v[dv != 0] *= scale_inv[dv != 0]
        d = v**0.5 * scale
        diag_h = g * dv * scale
        g_h = d * g
        f_augmented[:m] = f
        J_augmented[:m] = J * d
        J_h = J_augmented[:m]
        J_augmented[m:] = np.diag(diag_h**0.5)
        U, s, V = svd(J_augmented)
        V = V.T
        uf = U.T.dot(f_augmented)
        theta = max(0.995, 1 - g_norm)
        actual_reduction = -1.0
        while actual_reduction <= 0 and nfev < max_nfev:
            p_h, alpha = _solve_lsq_trust_region(n, m, uf, s, V, Delta, alpha)
            p = d * p_h
            step, step_h, predicted_reduction = select_step(
                x, J_h, diag_h, g_h, p, p_h, d, Delta, lb, ub, theta
            )
            x_new = _strictly_feasible(x + step, lb, ub)
            f_new = np.atleast_1d(fun(x_new))
            nfev += 1
            step_h_norm = _norm(step_h)
            if not np.isfinite(f_new).all():
                Delta = 0.25 * step_h_norm
                continue
            cost_new = 0.5 * np.dot(f_new, f_new)
            actual_reduction = cost - cost_new
            Delta_new, ratio = update_tr_radius(
                Delta, actual_reduction, predicted_reduction, step_h_norm, step_h_norm > 0.95 * Delta
            )
            step_norm = _norm(step)
            termination_status = check_termination(
                actual_reduction, cost, step_norm, _norm(x), ratio, ftol, xtol
            )
            if termination_status is not None:
                break
            alpha *= Delta / Delta_new
            Delta = Delta_new
        if actual_reduction > 0:
            x = x_new
            f = f_new
            cost = cost_new
            J = jacobian(x, f)
            g = J.T.dot(f)
            if x_scale_jac:
                scale, scale_inv = compute_jac_scale(J, scale_inv)
    return Solution(x=x, status=0 if termination_status is None else termination_status, nfev=nfev)
