"""Many small bounded least-squares problems solved together: assay/trust_region.py's Trust Region
Reflective iteration (SciPy's ``trf`` with the exact solver) run on K problems at once, over arrays.

Why: a plate's calibrations are ~30 analytes × a few fits each, every fit ~10 iterations of a few
microseconds of arithmetic on a dozen points. Solved one by one, the Python around the arithmetic is the
cost (issue 18: the workers spent half their time there). Here every line of the iteration is one NumPy
operation over the K problems (``(K, n)`` parameters, ``(K, m)`` residuals, ``(K, m, n)`` Jacobians, one
stacked SVD), so that cost is paid once per iteration for the whole plate.

Why not ``scipy.optimize.least_squares`` on the stacked parameters with a block-sparse ``jac_sparsity``:
that is ONE problem to SciPy — one trust-region radius, one step acceptance and one termination test
(``ftol`` on the summed cost) for all curves, and ``jac_sparsity`` forces the inexact ``lsmr`` solver. The
curves would stop at different points than their own fits do (a curve's parameters are only determined to
about its own tolerance), so the stacked solve cannot reproduce today's parameters within 1e-6. Here each
problem keeps its own state (radius, Levenberg–Marquardt parameter, evaluation count, termination status)
and takes exactly the steps it takes alone; a problem that has stopped is left out of the arithmetic.
Every statement mirrors ``trust_region.solve`` (itself SciPy's ``trf_bounds`` statement for statement),
vectorised with masks; tests/assay/test_batch_fit.py checks the results against the one-by-one path.
Public NumPy only (``numpy.linalg.svd`` is LAPACK's ``gesdd``, as SciPy's ``svd``).

All problems of one call share m (residuals), n (parameters), the tolerances, ``max_nfev`` and
``x_scale``; the caller groups its problems by those (assay/curves.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
BoolArray = NDArray[np.bool_]
# residuals of the problems ``rows`` (indices into the batch) at parameters X (len(rows), n) -> (len(rows), m)
BatchResiduals = Callable[[FloatArray, IntArray], FloatArray]
# their Jacobians -> (len(rows), m, n)
BatchJacobian = Callable[[FloatArray, IntArray], FloatArray]

_EPS = np.finfo(float).eps
_FD_STEP = np.finfo(np.float64).eps ** 0.5

TERMINATION_MESSAGES = {
    0: "The maximum number of function evaluations is exceeded.",
    1: "`gtol` termination condition is satisfied.",
    2: "`ftol` termination condition is satisfied.",
    3: "`xtol` termination condition is satisfied.",
    4: "Both `ftol` and `xtol` termination conditions are satisfied.",
}


@dataclass(frozen=True)
class BatchSolution:
    """Where one problem stopped: as ``trust_region.Solution`` (``status`` 0 = the evaluation budget ran
    out, 1–4 = converged), or ``error`` (the ValueError text ``trust_region.solve`` would raise)."""

    x: FloatArray
    status: int
    nfev: int
    error: str | None = None

    @property
    def success(self) -> bool:
        return self.error is None and self.status > 0

    @property
    def message(self) -> str:
        return self.error if self.error is not None else TERMINATION_MESSAGES[self.status]


# The products below go through ``matmul`` (BLAS ddot/gemv per row), not ``einsum``: they then round as
# the one-problem solver's ``np.dot``/``J.T.dot`` do, bit for bit, so both paths take the same steps.
def _dot(a: FloatArray, b: FloatArray) -> FloatArray:
    """Row-wise dot products of (K, n) arrays."""
    out: FloatArray = (a[:, np.newaxis, :] @ b[:, :, np.newaxis])[:, 0, 0]
    return out


def _norm(a: FloatArray) -> FloatArray:
    return np.sqrt(_dot(a, a))


def _matvec(m: FloatArray, v: FloatArray) -> FloatArray:
    """(K, r, c) @ (K, c) -> (K, r)."""
    out: FloatArray = (m @ v[:, :, np.newaxis])[:, :, 0]
    return out


def _rmatvec(m: FloatArray, v: FloatArray, *, fortran: bool = False) -> FloatArray:
    """(K, r, c)ᵀ @ (K, r) -> (K, c), summed in the order ``M.T.dot(v)`` sums for one matrix ``M`` stored
    in C order — or, ``fortran``, in Fortran order (BLAS runs a transposed product in another order): the
    finite-difference Jacobian and LAPACK's U are Fortran-ordered in the one-problem solver."""
    if fortran:
        out: FloatArray = (np.ascontiguousarray(np.transpose(m, (0, 2, 1))) @ v[:, :, np.newaxis])[:, :, 0]
        return out
    out = (v[:, np.newaxis, :] @ m)[:, 0, :]
    return out


def _strictly_feasible(x: FloatArray, lb: FloatArray, ub: FloatArray, rstep: float) -> FloatArray:
    """SciPy's make_strictly_feasible, element-wise (any shape)."""
    x_new = x.copy()
    if rstep == 0:
        lower = x <= lb
        upper = x >= ub
        x_new[lower] = np.nextafter(lb[lower], ub[lower])
        x_new[upper] = np.nextafter(ub[upper], lb[upper])
    else:
        lower_dist = x - lb
        upper_dist = ub - x
        lower_threshold = rstep * np.maximum(1, np.abs(lb))
        upper_threshold = rstep * np.maximum(1, np.abs(ub))
        lower = np.isfinite(lb) & (lower_dist <= np.minimum(upper_dist, lower_threshold))
        upper = np.isfinite(ub) & (upper_dist <= np.minimum(lower_dist, upper_threshold))
        lower &= ~upper  # SciPy marks lower (-1) then upper (1): a coordinate that is both is upper
        x_new[lower] = lb[lower] + rstep * np.maximum(1, np.abs(lb[lower]))
        x_new[upper] = ub[upper] - rstep * np.maximum(1, np.abs(ub[upper]))
    tight = (x_new < lb) | (x_new > ub)
    x_new[tight] = 0.5 * (lb[tight] + ub[tight])
    return x_new


def _cl_scaling(
    x: FloatArray, g: FloatArray, lb: FloatArray, ub: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Coleman–Li scaling vector and its derivative (SciPy's CL_scaling_vector), element-wise."""
    v = np.ones_like(x)
    dv = np.zeros_like(x)
    mask = (g < 0) & np.isfinite(ub)
    v[mask] = ub[mask] - x[mask]
    dv[mask] = -1
    mask = (g > 0) & np.isfinite(lb)
    v[mask] = x[mask] - lb[mask]
    dv[mask] = 1
    return v, dv


def _step_to_bound(
    x: FloatArray, s: FloatArray, lb: FloatArray, ub: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """SciPy's step_size_to_bound per row: (K,) smallest step to a bound, (K, n) which bound each hits."""
    nz = s != 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        both = np.maximum((lb - x) / s, (ub - x) / s)
    steps = np.where(nz, both, np.inf)
    min_step = steps.min(axis=1)
    hits = np.equal(steps, min_step[:, None]) * np.sign(s).astype(int)
    return min_step, hits


def _quadratic(j: FloatArray, g: FloatArray, s: FloatArray, diag: FloatArray) -> FloatArray:
    """SciPy's evaluate_quadratic per row: ½ sᵀ(JᵀJ + diag)s + gᵀs."""
    js = _matvec(j, s)
    q = _dot(js, js) + _dot(s * diag, s)
    return 0.5 * q + _dot(s, g)


def _quadratic_1d(
    j: FloatArray, g: FloatArray, s: FloatArray, diag: FloatArray, s0: FloatArray | None
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """SciPy's build_quadratic_1d per row: (a, b, c) of f(t) along s0 + t·s (c = 0 without s0)."""
    v = _matvec(j, s)
    a = _dot(v, v)
    a = a + _dot(s * diag, s)
    a = a * 0.5
    b = _dot(g, s)
    if s0 is None:
        return a, b, np.zeros_like(a)
    u = _matvec(j, s0)
    b = b + _dot(u, v)
    c = 0.5 * _dot(u, u) + _dot(g, s0)
    b = b + _dot(s0 * diag, s)
    c = c + 0.5 * _dot(s0 * diag, s0)
    return a, b, c


def _minimize_1d(
    a: FloatArray, b: FloatArray, lb: FloatArray, ub: FloatArray, c: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """SciPy's minimize_quadratic_1d per row (candidates lb, ub, then the interior extremum; first
    minimum wins, as np.argmin)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ext = -0.5 * b / a
    use_ext = (a != 0) & (lb < ext) & (ext < ub)
    t = np.column_stack([lb, ub, np.where(use_ext, ext, 0.0)])
    y = t * (a[:, None] * t + b[:, None]) + c[:, None]
    y[:, 2] = np.where(use_ext, y[:, 2], np.inf)
    i = np.argmin(y, axis=1)
    rows = np.arange(t.shape[0])
    return t[rows, i], y[rows, i]


def _intersect_tr(x: FloatArray, s: FloatArray, delta: FloatArray) -> tuple[FloatArray, BoolArray]:
    """SciPy's intersect_trust_region per row: the positive root, and where SciPy would raise."""
    a = _dot(s, s)
    b = _dot(x, s)
    c = _dot(x, x) - delta**2
    bad = (a == 0) | (c > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.sqrt(b * b - a * c)
        q = -(b + np.copysign(d, b))
        t1 = q / a
        t2 = c / q
    return np.maximum(t1, t2), bad


def _select_step(
    x: FloatArray,
    j_h: FloatArray,
    diag_h: FloatArray,
    g_h: FloatArray,
    p: FloatArray,
    p_h: FloatArray,
    d: FloatArray,
    delta: FloatArray,
    lb: FloatArray,
    ub: FloatArray,
    theta: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray, BoolArray]:
    """SciPy's trf select_step per row: (step, scaled step, predicted reduction, rows where SciPy's
    intersect_trust_region would raise)."""
    xp = x + p
    inside = np.all((xp >= lb) & (xp <= ub), axis=1)
    step, step_h = p.copy(), p_h.copy()
    predicted = -_quadratic(j_h, g_h, p_h, diag_h)
    bad = np.zeros(x.shape[0], dtype=bool)
    out = np.flatnonzero(~inside)
    if out.size == 0:
        return step, step_h, predicted, bad
    x, j_h, diag_h, g_h, p, p_h = x[out], j_h[out], diag_h[out], g_h[out], p[out], p_h[out]
    d, delta, lb, ub, theta = d[out], delta[out], lb[out], ub[out], theta[out]

    p_stride, hits = _step_to_bound(x, p, lb, ub)
    r_h = p_h.copy()
    r_h[hits.astype(bool)] *= -1
    r = d * r_h
    p = p * p_stride[:, None]
    p_h = p_h * p_stride[:, None]
    x_on_bound = x + p
    to_tr, raises = _intersect_tr(p_h, r_h, delta)
    to_bound, _ = _step_to_bound(x_on_bound, r, lb, ub)
    r_stride = np.minimum(to_bound, to_tr)
    positive = r_stride > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        r_stride_l = np.where(positive, (1 - theta) * p_stride / r_stride, 0.0)
    r_stride_u = np.where(positive, np.where(r_stride == to_bound, theta * to_bound, to_tr), -1.0)
    avail = r_stride_l <= r_stride_u
    a, b, c = _quadratic_1d(j_h, g_h, r_h, diag_h, p_h)
    r_t, r_value = _minimize_1d(a, b, r_stride_l, r_stride_u, c)
    r_h = np.where(avail[:, None], r_h * r_t[:, None] + p_h, r_h)
    r = np.where(avail[:, None], r_h * d, r)
    r_value = np.where(avail, r_value, np.inf)

    p = p * theta[:, None]
    p_h = p_h * theta[:, None]
    p_value = _quadratic(j_h, g_h, p_h, diag_h)

    ag_h = -g_h
    ag = d * ag_h
    with np.errstate(divide="ignore"):
        to_tr = delta / _norm(ag_h)
    to_bound, _ = _step_to_bound(x, ag, lb, ub)
    ag_stride = np.where(to_bound < to_tr, theta * to_bound, to_tr)
    a, b, _ = _quadratic_1d(j_h, g_h, ag_h, diag_h, None)
    ag_t, ag_value = _minimize_1d(a, b, np.zeros_like(ag_stride), ag_stride, np.zeros_like(a))
    ag_h = ag_h * ag_t[:, None]
    ag = ag * ag_t[:, None]

    take_p = (p_value < r_value) & (p_value < ag_value)
    take_r = ~take_p & (r_value < p_value) & (r_value < ag_value)
    chosen = np.where(take_p[:, None], p, np.where(take_r[:, None], r, ag))
    chosen_h = np.where(take_p[:, None], p_h, np.where(take_r[:, None], r_h, ag_h))
    value = np.where(take_p, p_value, np.where(take_r, r_value, ag_value))
    step[out], step_h[out], predicted[out] = chosen, chosen_h, -value
    bad[out] = raises
    return step, step_h, predicted, bad


def _phi(
    alpha: FloatArray, suf: FloatArray, s: FloatArray, delta: FloatArray
) -> tuple[FloatArray, FloatArray]:
    denom = s**2 + alpha[:, None]
    p = suf / denom
    p_norm = _norm(p)
    return p_norm - delta, -(suf**2 / denom**3).sum(axis=1) / p_norm


def _solve_tr(
    m: int, uf: FloatArray, s: FloatArray, v: FloatArray, delta: FloatArray, initial_alpha: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """SciPy's solve_lsq_trust_region per row (rtol 0.01, 10 iterations): (step, LM parameter)."""
    k, n = uf.shape
    suf = s * uf
    full_rank = s[:, -1] > _EPS * m * s[:, 0] if m >= n else np.zeros(k, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        p_gn = -_matvec(v, uf / s)
        gn_ok = full_rank & (_norm(p_gn) <= delta)
        alpha_upper = _norm(suf) / delta
        phi0, phi0_prime = _phi(np.zeros(k), suf, s, delta)
        alpha_lower = np.where(full_rank, -phi0 / phi0_prime, 0.0)
        reset = np.maximum(0.001 * alpha_upper, (alpha_lower * alpha_upper) ** 0.5)
        alpha = np.where(~full_rank & (initial_alpha == 0), reset, initial_alpha)
        running = ~gn_ok
        for _ in range(10):
            if not running.any():
                break
            out_of = (alpha < alpha_lower) | (alpha > alpha_upper)
            alpha_try = np.where(
                out_of, np.maximum(0.001 * alpha_upper, (alpha_lower * alpha_upper) ** 0.5), alpha
            )
            phi, phi_prime = _phi(alpha_try, suf, s, delta)
            upper_new = np.where(phi < 0, alpha_try, alpha_upper)
            ratio = phi / phi_prime
            lower_new = np.maximum(alpha_lower, alpha_try - ratio)
            alpha_new = alpha_try - (phi + delta) * ratio / delta
            alpha = np.where(running, alpha_new, alpha)
            alpha_upper = np.where(running, upper_new, alpha_upper)
            alpha_lower = np.where(running, lower_new, alpha_lower)
            running &= ~(np.abs(phi) < 0.01 * delta)
        p = -_matvec(v, suf / (s**2 + alpha[:, None]))
        p = p * (delta / _norm(p))[:, None]
    p = np.where(gn_ok[:, None], p_gn, p)
    return p, np.where(gn_ok, 0.0, alpha)


def _fd_jacobian(
    fun: BatchResiduals,
    rows: IntArray,
    x0: FloatArray,
    f0: FloatArray,
    lb: FloatArray,
    ub: FloatArray,
) -> FloatArray:
    """SciPy's 2-point differences (as trust_region._fd_jacobian) for every row at once."""
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
    k, n = x0.shape
    jac = np.empty((k, f0.shape[1], n))
    for i in range(n):
        x1 = x0.copy()
        x1[:, i] = x0[:, i] + h[:, i]
        dx = (x0[:, i] + h[:, i]) - x0[:, i]
        jac[:, :, i] = (fun(x1, rows) - f0) / dx[:, None]
    return jac


def _svd(a: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Thin SVD of a stack; a matrix LAPACK cannot decompose raises for the whole stack, so the stack is
    retried matrix by matrix (that one gets NaNs and is reported as failed by the caller)."""
    try:
        u, s, vt = np.linalg.svd(a, full_matrices=False)
        return u, s, vt
    except np.linalg.LinAlgError:
        k, r, c = a.shape
        u = np.full((k, r, c), np.nan)
        s = np.full((k, c), np.nan)
        vt = np.full((k, c, c), np.nan)
        for i in range(k):
            try:
                u[i], s[i], vt[i] = np.linalg.svd(a[i], full_matrices=False)
            except np.linalg.LinAlgError:
                continue
        return u, s, vt


def solve_batch(
    fun: BatchResiduals,
    x0: FloatArray,
    lb: FloatArray,
    ub: FloatArray,
    *,
    jac: BatchJacobian | None = None,
    x_scale_jac: bool = False,
    ftol: float = 1e-8,
    xtol: float = 1e-8,
    gtol: float = 1e-8,
    max_nfev: int | None = None,
) -> list[BatchSolution]:
    """``trust_region.solve`` for each row of ``x0`` (K, n) with its own bounds ``lb``/``ub`` (K, n):
    one :class:`BatchSolution` per row. ``fun(X, rows)`` returns the residuals of the problems ``rows``
    at ``X``; ``jac(X, rows)`` their Jacobians (None: 2-point differences). Callers hold
    ``np.errstate(all="ignore")`` as for the one-problem solver."""
    x0 = np.atleast_2d(np.asarray(x0, dtype=np.float64))
    k, n = x0.shape
    errors: dict[int, str] = {}
    for i in np.flatnonzero(np.any(lb >= ub, axis=1)):
        errors[int(i)] = "Each lower bound must be strictly less than each upper bound."
    for i in np.flatnonzero(~np.all((x0 >= lb) & (x0 <= ub), axis=1)):
        errors.setdefault(int(i), "Initial guess is outside of provided bounds")
    if max_nfev is None:
        max_nfev = n * 100
    all_rows = np.arange(k)
    x = _strictly_feasible(x0, lb, ub, 1e-10)
    ok = np.array([i not in errors for i in range(k)])
    f = np.zeros((k, 0))
    rows = all_rows[ok]
    if rows.size:
        f_ok = np.asarray(fun(x[rows], rows), dtype=np.float64)
        f = np.zeros((k, f_ok.shape[1]))
        f[rows] = f_ok
        for i in rows[~np.all(np.isfinite(f_ok), axis=1)]:
            errors[int(i)] = "Residuals are not finite in the initial point."
    m = f.shape[1]
    active = np.array([i not in errors for i in range(k)])

    def jacobian(xs: FloatArray, fs: FloatArray, which: IntArray) -> FloatArray:
        if jac is not None:
            return np.asarray(jac(xs, which), dtype=np.float64)
        return _fd_jacobian(fun, which, xs, fs, lb[which], ub[which])

    J = np.zeros((k, m, n))
    rows = all_rows[active]
    if rows.size:
        J[rows] = jacobian(x[rows].copy(), f[rows], rows)
    nfev = np.ones(k, dtype=np.intp)
    cost = 0.5 * _dot(f, f)
    fd = jac is None  # its Jacobian is Fortran-ordered in the one-problem solver
    g = _rmatvec(J, f, fortran=fd)
    if x_scale_jac:
        scale_inv = np.sqrt(np.sum(J**2, axis=1))
        scale_inv[scale_inv == 0] = 1
        scale = 1 / scale_inv
    else:
        scale, scale_inv = np.ones((k, n)), 1 / np.ones((k, n))
    v, dv = _cl_scaling(x, g, lb, ub)
    v[dv != 0] *= scale_inv[dv != 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = _norm(x * scale_inv / v**0.5)
    delta[delta == 0] = 1.0
    alpha = np.zeros(k)
    status = np.zeros(k, dtype=np.intp)  # 0 = not terminated (yet)
    outer = np.ones(k, dtype=bool)  # at the top of trf's outer loop
    # the outer iteration's quantities, per problem (set at its top)
    d = np.ones((k, n))
    diag_h = np.zeros((k, n))
    g_h = np.zeros((k, n))
    j_h = np.zeros((k, m, n))
    uf = np.zeros((k, n))
    sv = np.ones((k, n))
    vv = np.zeros((k, n, n))
    theta = np.ones(k)
    actual = np.full(k, -1.0)
    x_new = x.copy()
    f_new = f.copy()
    cost_new = cost.copy()

    while active.any():
        top = np.flatnonzero(active & outer)
        if top.size:
            vt, dvt = _cl_scaling(x[top], g[top], lb[top], ub[top])
            g_norm = np.abs(g[top] * vt).max(axis=1)
            status[top[g_norm < gtol]] = 1
            stop = (status[top] != 0) | (nfev[top] == max_nfev)
            active[top[stop]] = False
            keep = ~stop
            top, vt, dvt, g_norm = top[keep], vt[keep], dvt[keep], g_norm[keep]
        if top.size:
            vt[dvt != 0] *= scale_inv[top][dvt != 0]
            dt = vt**0.5 * scale[top]
            dh = g[top] * dvt * scale[top]
            jh = J[top] * dt[:, None, :]
            aug = np.concatenate([jh, np.einsum("ki,ij->kij", dh**0.5, np.eye(n))], axis=1)
            finite = np.all(np.isfinite(aug), axis=(1, 2))
            for i in top[~finite]:
                errors[int(i)] = "array must not contain infs or NaNs"
                active[i] = False
            top, aug, dt, dh, jh, g_norm = (
                top[finite],
                aug[finite],
                dt[finite],
                dh[finite],
                jh[finite],
                g_norm[finite],
            )
            if top.size:
                u, s, vtr = _svd(aug)
                failed = ~np.all(np.isfinite(s), axis=1)
                for i in top[failed]:
                    errors[int(i)] = "SVD did not converge"
                    active[i] = False
                f_aug = np.concatenate([f[top], np.zeros((top.size, n))], axis=1)
                d[top], diag_h[top], g_h[top], j_h[top] = dt, dh, dt * g[top], jh
                uf[top] = _rmatvec(u, f_aug, fortran=True)
                sv[top] = s
                vv[top] = np.transpose(vtr, (0, 2, 1))
                theta[top] = np.maximum(0.995, 1 - g_norm)
                actual[top] = -1.0
                outer[top] = False
        inner = active & ~outer
        spent = inner & (nfev >= max_nfev)
        outer[spent] = True  # trf's inner loop ends without a better point: back to the top, which stops
        step_rows = np.flatnonzero(inner & ~spent)
        if step_rows.size == 0:
            continue
        r = step_rows
        p_h, alpha[r] = _solve_tr(m, uf[r], sv[r], vv[r], delta[r], alpha[r])
        p = d[r] * p_h
        step, step_h, predicted, raises = _select_step(
            x[r], j_h[r], diag_h[r], g_h[r], p, p_h, d[r], delta[r], lb[r], ub[r], theta[r]
        )
        for i in r[raises]:
            errors[int(i)] = "`x` is not within the trust region."
            active[i] = False
        keep = ~raises
        r, step, step_h, predicted = r[keep], step[keep], step_h[keep], predicted[keep]
        if r.size == 0:
            continue
        xn = _strictly_feasible(x[r] + step, lb[r], ub[r], 0.0)
        fn = np.asarray(fun(xn, r), dtype=np.float64)
        nfev[r] += 1
        step_h_norm = _norm(step_h)
        finite = np.all(np.isfinite(fn), axis=1)
        delta[r[~finite]] = 0.25 * step_h_norm[~finite]
        r, xn, fn, step, step_h_norm, predicted = (
            r[finite],
            xn[finite],
            fn[finite],
            step[finite],
            step_h_norm[finite],
            predicted[finite],
        )
        if r.size == 0:
            continue
        cn = 0.5 * _dot(fn, fn)
        reduction = cost[r] - cn
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(
                predicted > 0,
                reduction / predicted,
                np.where((predicted == 0) & (reduction == 0), 1.0, 0.0),
            )
        hit = step_h_norm > 0.95 * delta[r]
        delta_new = np.where(
            ratio < 0.25, 0.25 * step_h_norm, np.where((ratio > 0.75) & hit, delta[r] * 2.0, delta[r])
        )
        step_norm = _norm(step)
        ftol_ok = (reduction < ftol * cost[r]) & (ratio > 0.25)
        xtol_ok = step_norm < xtol * (xtol + _norm(x[r]))
        term = np.where(ftol_ok & xtol_ok, 4, np.where(ftol_ok, 2, np.where(xtol_ok, 3, 0)))
        status[r] = term
        going = term == 0
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha[r[going]] *= delta[r[going]] / delta_new[going]
        delta[r[going]] = delta_new[going]
        actual[r] = reduction
        x_new[r], f_new[r], cost_new[r] = xn, fn, cn
        leave = (term != 0) | (reduction > 0)
        outer[r[leave]] = True
        accept = r[reduction > 0]
        if accept.size:
            x[accept], f[accept], cost[accept] = x_new[accept], f_new[accept], cost_new[accept]
            J[accept] = jacobian(x[accept].copy(), f[accept], accept)
            g[accept] = _rmatvec(J[accept], f[accept], fortran=fd)
            if x_scale_jac:
                si = np.maximum(np.sqrt(np.sum(J[accept] ** 2, axis=1)), scale_inv[accept])
                scale_inv[accept] = si
                scale[accept] = 1 / si
    return [
        BatchSolution(x=x[i].copy(), status=int(status[i]), nfev=int(nfev[i]), error=errors.get(i))
        for i in range(k)
    ]
