"""The Brix fitter as it was before the rebuild for speed (issue 14), kept verbatim as the reference.

The rebuilt fitter must give the same statuses and, per voxel, an SSE never worse than this one by more than
numerical noise (test_brix_engines.py); the benchmark reports its speed beside the new paths.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from HypoxiaMarkersLib.imaging.brix import (
    MIN_POINTS,
    STATUS_CONVERGED,
    STATUS_FAILED,
    STATUS_HIT_BOUND,
    STATUS_TOO_FEW_POINTS,
    BrixBounds,
    _box_average,
    _grid,
    _phi,
)


def legacy_fit(y: np.ndarray, t: np.ndarray, tau: float = 0.0, bounds: Optional[BrixBounds] = None,
               max_iterations: int = 1000):
    """Fit all curves ``y`` (n, n_t) in one chunk; returns (status, theta = (A, k_el, d), sse, iterations)."""
    y = np.asarray(y, dtype=float)
    return _fit_chunk(y, np.asarray(t, dtype=float), tau, bounds or BrixBounds(), max_iterations)


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


def _fit_chunk(y, t, tau, bounds, max_iterations):
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

    full_theta = np.full((len(y), 3), np.nan)
    full_sse = np.full(len(y), np.nan)
    full_it = np.zeros(len(y), dtype=int)
    full_theta[idx], full_sse[idx], full_it[idx] = theta, sse, iterations
    return status, full_theta, full_sse, full_it
