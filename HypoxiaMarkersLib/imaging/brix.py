"""The Brix pharmacokinetic model and a least-squares fitter batched over all voxels.

Model (fast bolus), with t' = t - t_lag in minutes and RSI = 0 for t' <= 0::

    RSI(t) = A * k_ep * (exp(-k_el t') - exp(-k_ep t')) / (k_ep - k_el)

A ("A_Brix") is the amplitude: as k_el -> 0 the curve tends to A (1 - exp(-k_ep t')), so A is the plateau of
enhancement. (A, k_ep, k_el) and (A k_ep / k_el, k_el, k_ep) give the same curve, so A is defined only with the
convention k_ep > k_el. The fitter enforces it by fitting k_ep = k_el + d with d > 0.

With a finite injection duration tau (Hoffmann et al. 1995) the curve is the fast-bolus curve averaged over a box
input of length tau; it tends to the fast-bolus curve as tau -> 0.

Both are written through one function u(k, t) = box-average of exp(-k s) over the injection, so that::

    RSI = A * k_ep * (u(k_el) - u(k_ep)) / (k_ep - k_el)

and the k_ep = k_el limit is -A * k * du/dk, computed without 0/0.

Why a hand-written fitter: scipy's least_squares/curve_fit fit one curve per call, a Python loop over 10^5 voxels
(see benchmarks/brix_fit.py). Here a coarse grid (with A solved in closed form) gives robust starts for all voxels
at once, then a Levenberg-Marquardt iteration with analytic Jacobians and bound handling runs on all voxels as
arrays.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional, Tuple

import numpy as np

from ..progress import ProgressCallback, report

# Fit status codes written into fit_status.nrrd. Keep the numbers: they are part of the output format.
STATUS_OUTSIDE = 0
STATUS_CONVERGED = 1
STATUS_HIT_BOUND = 2
STATUS_NO_SIGNAL = 3
STATUS_TOO_FEW_POINTS = 4
STATUS_FAILED = 5
STATUS_NAMES = {
    STATUS_OUTSIDE: "outside tumour",
    STATUS_CONVERGED: "converged",
    STATUS_HIT_BOUND: "hit bound",
    STATUS_NO_SIGNAL: "no signal",
    STATUS_TOO_FEW_POINTS: "not enough points",
    STATUS_FAILED: "failed",
}
FITTED_STATUSES = (STATUS_CONVERGED, STATUS_HIT_BOUND)
MIN_POINTS = 4


@dataclass(frozen=True)
class BrixBounds:
    """Bounds of the fitted parameters (SPEC §1.3 defaults). Rates in 1/min."""

    a_min: float = 0.0
    a_max: float = 10.0
    k_el_min: float = 0.0
    k_el_max: float = 1.0
    k_diff_min: float = 1e-3  # k_ep - k_el
    k_diff_max: float = 20.0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class BrixFit:
    """Per-voxel results of :func:`fit_brix` (1D arrays over the voxels fitted).

    Attributes
    ----------
    a, k_ep, k_el : ndarray
        Fitted A_Brix (dimensionless) and rates (1/min); NaN where the fit was not possible or failed.
    r_squared, rmse : ndarray
        Goodness of fit on the samples used.
    status : ndarray of uint8
        One of the ``STATUS_*`` codes.
    iterations : ndarray of int
        Levenberg-Marquardt iterations used.
    """

    a: np.ndarray
    k_ep: np.ndarray
    k_el: np.ndarray
    r_squared: np.ndarray
    rmse: np.ndarray
    status: np.ndarray
    iterations: np.ndarray

    @property
    def fitted(self) -> np.ndarray:
        return np.isin(self.status, FITTED_STATUSES)


# ----------------------------------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------------------------------


def _phi(x: np.ndarray) -> np.ndarray:
    """(1 - exp(-x)) / x, with its limit 1 at x = 0."""
    x = np.asarray(x, dtype=float)
    small = np.abs(x) < 1e-4
    safe = np.where(small, 1.0, x)
    return np.where(small, 1.0 - x / 2.0 + x * x / 6.0, -np.expm1(-safe) / safe)


def _psi(x: np.ndarray) -> np.ndarray:
    """(1 - exp(-x) (1 + x)) / x^2, with its limit 1/2 at x = 0."""
    x = np.asarray(x, dtype=float)
    small = np.abs(x) < 1e-3
    safe = np.where(small, 1.0, x)
    direct = (-np.expm1(-safe) - safe * np.exp(-safe)) / (safe * safe)
    return np.where(small, 0.5 - x / 3.0 + x * x / 8.0, direct)


def _box_average(k: np.ndarray, t: np.ndarray, tau: float) -> Tuple[np.ndarray, np.ndarray]:
    """u(k, t) and du/dk: exp(-k t) averaged over an injection of length tau (t in min after arrival).

    For tau = 0 this is exp(-k t) itself (zero before arrival is handled by the caller).
    """
    if tau <= 0:
        e = np.exp(-k * t)
        return e, -t * e

    def integral(tt):
        # I(t) = int_0^t exp(-k s) ds and J(t) = int_0^t s exp(-k s) ds, both 0 for t <= 0.
        tt = np.maximum(tt, 0.0)
        return tt * _phi(k * tt), tt * tt * _psi(k * tt)

    i1, j1 = integral(t)
    i0, j0 = integral(t - tau)
    return (i1 - i0) / tau, -(j1 - j0) / tau


def brix_curve(
    t_min: np.ndarray,
    a: np.ndarray,
    k_ep: np.ndarray,
    k_el: np.ndarray,
    tau_min: float = 0.0,
) -> np.ndarray:
    """The Brix relative signal increase at times ``t_min`` (minutes after bolus arrival).

    Parameters broadcast against ``t_min`` (e.g. ``a[:, None]`` against ``t[None, :]``). Any order of k_ep and
    k_el is accepted; k_ep = k_el uses the limit A k t' exp(-k t') (fast bolus). RSI is 0 for t' <= 0.

    Parameters
    ----------
    t_min : array_like
        Time after bolus arrival, minutes.
    a, k_ep, k_el : array_like
        Amplitude (A_Brix) and rates (1/min).
    tau_min : float
        Injection duration in minutes (0 = fast bolus).

    Returns
    -------
    ndarray
        RSI, broadcast shape of the inputs.
    """
    t = np.asarray(t_min, dtype=float)
    a = np.asarray(a, dtype=float)
    k_ep = np.asarray(k_ep, dtype=float)
    k_el = np.asarray(k_el, dtype=float)
    d = k_ep - k_el
    tt = np.maximum(t, 0.0)
    near = np.abs(d) < 1e-8
    if tau_min <= 0:
        # exp(-k_el t) (1 - exp(-d t)) / d, written with expm1 so that d -> 0 is exact.
        q = np.exp(-k_el * tt) * tt * _phi(d * tt)
    else:
        u_el, du_el = _box_average(k_el, tt, tau_min)
        u_ep, _ = _box_average(k_ep, tt, tau_min)
        q = np.where(near, -du_el, (u_el - u_ep) / np.where(near, 1.0, d))
    return np.where(t > 0, a * k_ep * q, 0.0)


def _model_and_jacobian(theta: np.ndarray, t: np.ndarray, tau: float) -> Tuple[np.ndarray, np.ndarray]:
    """Model and Jacobian for parameters theta = (A, k_el, d = k_ep - k_el), shape (n, 3), at times t >= 0."""
    a = theta[:, 0:1]
    k_el = theta[:, 1:2]
    d = theta[:, 2:3]
    k_ep = k_el + d
    tt = t[None, :]
    if tau <= 0:
        e_el = np.exp(-k_el * tt)
        e_ep = np.exp(-k_ep * tt)
        q = e_el * tt * _phi(d * tt)  # (u(k_el) - u(k_ep)) / d
        du_el = -tt * e_el
        du_ep = -tt * e_ep
    else:
        u_el, du_el = _box_average(k_el, tt, tau)
        u_ep, du_ep = _box_average(k_ep, tt, tau)
        q = (u_el - u_ep) / d
    f = a * k_ep * q
    jac = np.empty(f.shape + (3,))
    jac[..., 0] = k_ep * q
    jac[..., 1] = a * q + a * k_ep * (du_el - du_ep) / d
    # d/dd of k_ep * q = q + k_ep * (-du_ep - q) / d
    jac[..., 2] = a * q + a * k_ep * (-du_ep - q) / d
    return f, jac


# ----------------------------------------------------------------------------------------------------------------
# The fitter
# ----------------------------------------------------------------------------------------------------------------


def _grid(bounds: BrixBounds) -> np.ndarray:
    """Starting grid over (k_el, d) covering the bounds; d log-spaced over its orders of magnitude."""
    k_el = bounds.k_el_min + (bounds.k_el_max - bounds.k_el_min) * np.array(
        [0.0, 0.01, 0.03, 0.06, 0.1, 0.16, 0.25, 0.4, 0.65, 1.0]
    )
    d = np.geomspace(bounds.k_diff_min, bounds.k_diff_max, 24)
    kk, dd = np.meshgrid(k_el, d, indexing="ij")
    return np.column_stack([kk.ravel(), dd.ravel()])


def _grid_start(y: np.ndarray, w: np.ndarray, t: np.ndarray, tau: float, bounds: BrixBounds) -> np.ndarray:
    """Best grid point per voxel, with A solved in closed form (and clipped to its bounds)."""
    grid = _grid(bounds)
    theta = np.column_stack([np.ones(len(grid)), grid])
    basis, _ = _model_and_jacobian(theta, t, tau)  # (n_grid, n_t), A = 1
    by = (y * w) @ basis.T  # (n, n_grid)
    if np.all(w == 1):
        bb = np.sum(basis * basis, axis=1)[None, :]
    else:  # missing samples change the norm of the basis curve per voxel
        bb = w @ (basis * basis).T
    a = by / np.maximum(bb, 1e-300)
    np.clip(a, bounds.a_min, bounds.a_max, out=a)
    # SSE minus ||y||^2 (the same for every grid point): a^2 bb - 2 a by
    sse = a * bb
    sse -= 2.0 * by
    sse *= a
    best = np.argmin(sse, axis=1)
    return np.column_stack([a[np.arange(len(y)), best], grid[best]])


def fit_brix(
    rsi: np.ndarray,
    t_min: np.ndarray,
    *,
    tau_min: float = 0.0,
    bounds: BrixBounds = BrixBounds(),
    max_iterations: int = 1000,
    chunk_size: int = 20000,
    progress: Optional[ProgressCallback] = None,
) -> BrixFit:
    """Fit the Brix model to many RSI curves at once.

    Parameters
    ----------
    rsi : ndarray, shape (n_voxels, n_times)
        Relative signal increase of each voxel at ``t_min``. NaN samples are left out of that voxel's fit.
    t_min : ndarray, shape (n_times,)
        Time after bolus arrival, minutes (samples at t <= 0 should not be passed: they carry no information
        about the parameters).
    tau_min : float
        Injection duration, minutes (0 = fast bolus).
    bounds : BrixBounds
        Parameter bounds.
    max_iterations : int
        Levenberg-Marquardt iterations at most.
    chunk_size : int
        Voxels fitted together (bounds memory use; progress is reported per chunk).
    progress : callable, optional
        ``progress(done, total)``; return False to cancel.

    Returns
    -------
    BrixFit
        Per-voxel parameters, goodness of fit and status.
    """
    rsi = np.asarray(rsi, dtype=float)
    t = np.asarray(t_min, dtype=float)
    if rsi.ndim != 2 or rsi.shape[1] != t.size:
        raise ValueError(f"rsi must be (n_voxels, {t.size}), got {rsi.shape}")
    n = rsi.shape[0]
    out = BrixFit(
        a=np.full(n, np.nan), k_ep=np.full(n, np.nan), k_el=np.full(n, np.nan),
        r_squared=np.full(n, np.nan), rmse=np.full(n, np.nan),
        status=np.full(n, STATUS_FAILED, dtype=np.uint8), iterations=np.zeros(n, dtype=int),
    )
    report(progress, 0, n)
    for start in range(0, n, chunk_size):
        stop = min(n, start + chunk_size)
        _fit_chunk(rsi[start:stop], t, tau_min, bounds, max_iterations, out, slice(start, stop))
        report(progress, stop, n)
    return out


def _fit_chunk(y, t, tau, bounds, max_iterations, out: BrixFit, where: slice) -> None:
    w = np.isfinite(y).astype(float)
    y = np.where(w > 0, y, 0.0)
    n_points = w.sum(axis=1)
    enough = n_points >= MIN_POINTS
    status = np.where(enough, STATUS_FAILED, STATUS_TOO_FEW_POINTS).astype(np.uint8)

    lower = np.array([bounds.a_min, bounds.k_el_min, bounds.k_diff_min])
    upper = np.array([bounds.a_max, bounds.k_el_max, bounds.k_diff_max])

    idx = np.flatnonzero(enough)
    yy, ww = y[idx], w[idx]
    theta = _grid_start(yy, ww, t, tau, bounds)
    f, jac = _model_and_jacobian(theta, t, tau)
    sse = np.sum(ww * (yy - f) ** 2, axis=1)
    lam = np.full(len(idx), 1e-3)
    active = np.ones(len(idx), dtype=bool)
    iterations = np.zeros(len(idx), dtype=int)
    for _ in range(max_iterations):
        act = np.flatnonzero(active)
        if act.size == 0:
            break
        iterations[act] += 1
        th, fa, ja, wa, ya = theta[act], f[act], jac[act], ww[act], yy[act]
        r = (ya - fa) * wa
        jw = ja * wa[:, :, None]
        jtj = np.matmul(jw.transpose(0, 2, 1), ja)
        g = np.matmul(jw.transpose(0, 2, 1), r[:, :, None])[:, :, 0]  # -(1/2) gradient of the SSE
        # Parameters sitting on a bound with the descent direction pointing outward are held fixed.
        held = ((th <= lower + 1e-12) & (g < 0)) | ((th >= upper - 1e-12) & (g > 0))
        diag = jtj[:, np.arange(3), np.arange(3)]
        scale = np.maximum(diag, 1e-12)
        system = jtj + (lam[act, None] * scale)[:, :, None] * np.eye(3)
        system[held[:, :, None] | held[:, None, :]] = 0.0
        system[:, np.arange(3), np.arange(3)] += np.where(held, 1.0, 0.0)
        g = np.where(held, 0.0, g)
        try:
            step = np.linalg.solve(system, g[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:  # a singular system somewhere in the batch: pseudo-inverse for all
            step = np.einsum("npq,nq->np", np.linalg.pinv(system), g)
        candidate = np.clip(th + step, lower, upper)
        f_new, j_new = _model_and_jacobian(candidate, t, tau)
        sse_new = np.sum(wa * (ya - f_new) ** 2, axis=1)
        finite = np.isfinite(sse_new)
        better = finite & (sse_new < sse[act])
        gain = np.where(better, sse[act] - sse_new, 0.0)
        acc = act[better]
        theta[acc], f[acc], jac[acc], sse[acc] = candidate[better], f_new[better], j_new[better], sse_new[better]
        lam[acc] = np.maximum(lam[acc] / 10.0, 1e-12)
        lam[act[~better]] *= 10.0
        # Converged: a relative SSE gain or a step too small to matter, or no step can improve (local minimum).
        rel_step = np.max(np.abs(candidate - th) / np.maximum(np.abs(th), 1e-3), axis=1)
        done = (better & (gain <= 1e-9 * np.maximum(sse[act], 1e-30))) | (rel_step < 1e-9)
        done |= lam[act] > 1e8
        done |= sse[act] <= 1e-28
        active[act[done]] = False

    converged = ~active & np.all(np.isfinite(theta), axis=1) & np.isfinite(sse)
    at_bound = (
        (theta[:, 0] <= lower[0] + 1e-9) | (theta[:, 0] >= upper[0] - 1e-9)
        | (theta[:, 1] >= upper[1] - 1e-9)
        | (theta[:, 2] <= lower[2] + 1e-9) | (theta[:, 2] >= upper[2] - 1e-9)
    )
    chunk_status = np.where(converged, np.where(at_bound, STATUS_HIT_BOUND, STATUS_CONVERGED), STATUS_FAILED)
    status[idx] = chunk_status

    a = np.full(len(y), np.nan)
    k_el = np.full(len(y), np.nan)
    k_ep = np.full(len(y), np.nan)
    r2 = np.full(len(y), np.nan)
    rmse = np.full(len(y), np.nan)
    ok = idx[converged]
    a[ok] = theta[converged, 0]
    k_el[ok] = theta[converged, 1]
    k_ep[ok] = theta[converged, 1] + theta[converged, 2]
    yo, wo = y[ok], w[ok]
    mean = np.sum(yo * wo, axis=1) / n_points[ok]
    sst = np.sum(wo * (yo - mean[:, None]) ** 2, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2[ok] = np.where(sst > 0, 1.0 - sse[converged] / sst, np.nan)
    rmse[ok] = np.sqrt(sse[converged] / n_points[ok])

    out.a[where], out.k_ep[where], out.k_el[where] = a, k_ep, k_el
    out.r_squared[where], out.rmse[where] = r2, rmse
    out.status[where] = status
    iters = np.zeros(len(y), dtype=int)
    iters[idx] = iterations
    out.iterations[where] = iters
