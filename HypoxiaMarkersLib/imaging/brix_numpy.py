"""The Brix fit's numpy engine: Levenberg-Marquardt over many voxels as arrays (what Slicer 5.8 runs).

Laid out for throughput (issue 14): curves are time-major ``(n_t, n_voxels)`` so that every operation runs over
contiguous voxels; a chunk of a few thousand voxels keeps its arrays near the cache; per voxel only the normal
equations are kept (SSE, the six distinct entries of JᵀJ, Jᵀr) and the damped 3×3 systems are solved in closed
form; the Jacobian is computed only where a step was accepted; the working set is compacted only when the active
voxels have halved; and the few slow voxels left at a chunk's end ("stragglers") are pooled across chunks and
fitted together instead of running near-empty iterations chunk after chunk.

The iteration is the one of :mod:`.brix` (settings there), the same as the compiled engine's, step for step.
"""

from __future__ import annotations

import threading
from typing import List, Optional, Tuple

import numpy as np

from .brix import (
    BOUND_TOL,
    GAIN_TOL,
    HELD_TOL,
    LAMBDA_MAX,
    LAMBDA_MIN,
    LAMBDA_START,
    SSE_ZERO,
    STEP_TOL,
    BrixBounds,
    _box_average,
    _grid,
)

__all__ = ["StartGrid", "NumpyEngine", "damped_step", "model_tm"]


# ----------------------------------------------------------------------------------------------------------------
# Model, Jacobian and normal equations, time-major
# ----------------------------------------------------------------------------------------------------------------


def model_tm(a: np.ndarray, k_el: np.ndarray, d: np.ndarray, t: np.ndarray, tau: float):
    """Model values (n_t, n) of parameters (A, k_el, d = k_ep - k_el), each (n,), at times ``t`` (n_t, 1).

    Returns ``(f, parts)``; ``parts`` is what :func:`jacobian_tm` needs to finish the Jacobian without a second
    evaluation of the exponentials.
    """
    k_ep = k_el + d
    if tau <= 0:
        e_el = np.exp(t * -k_el)
        m = np.expm1(t * -d)
        np.negative(m, out=m)  # 1 - exp(-d t), exact as d t -> 0
        q = e_el * m
        q /= d  # (exp(-k_el t) - exp(-k_ep t)) / d
        parts = (e_el, m, q)
    else:
        u_el, du_el = _box_average(k_el, t, tau)
        u_ep, du_ep = _box_average(k_ep, t, tau)
        q = (u_el - u_ep) / d
        parts = (du_el, du_ep, q)
    f = q * (a * k_ep)
    return f, parts


def jacobian_tm(a, k_el, d, t, tau, parts) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """d f / d(A, k_el, d), each (n_t, n), from the parts of :func:`model_tm`."""
    k_ep = k_el + d
    ak = a * k_ep
    if tau <= 0:
        e_el, m, q = parts
        j0 = q * k_ep
        # d/dk_el of k_ep q = q - k_ep t q (both exponentials move together)
        j1 = t * -ak + a
        j1 *= q
        # d/dd of k_ep q = q + k_ep (t exp(-k_ep t) - q) / d
        j2 = 1.0 - m
        j2 *= e_el
        j2 *= t
        j2 -= q
        j2 *= ak / d
        j2 += q * a
    else:
        du_el, du_ep, q = parts
        j0 = q * k_ep
        j1 = q * a + ak * (du_el - du_ep) / d
        j2 = q * a + ak * (-du_ep - q) / d
    return j0, j1, j2


def _sum_of_products(x: np.ndarray, y: np.ndarray, w: Optional[np.ndarray] = None) -> np.ndarray:
    """Per voxel sum over time of x y (w), time-major (n_t, n): added in time order for any number of voxels.

    (einsum takes another, unrolled, summation for a single voxel: other rounding, and a voxel's fit would depend
    on how many voxels are left with it.)
    """
    if x.shape[1] == 1:
        prod = x * y if w is None else x * y * w
        out = prod[0].copy()
        for row in prod[1:]:
            out += row
        return out
    return np.einsum("tn,tn->n", x, y) if w is None else np.einsum("tn,tn,tn->n", x, y, w)


def normal_equations(j: Tuple[np.ndarray, np.ndarray, np.ndarray], r: np.ndarray, w: Optional[np.ndarray]):
    """JᵀWJ (six entries) and JᵀWr per voxel, as a (9, n) array: h00 h01 h02 h11 h12 h22 g0 g1 g2."""
    j0, j1, j2 = j
    if w is not None:
        r = r * w
        jw0, jw1, jw2 = j0 * w, j1 * w, j2 * w
    else:
        jw0, jw1, jw2 = j0, j1, j2
    pairs = ((jw0, j0), (jw0, j1), (jw0, j2), (jw1, j1), (jw1, j2), (jw2, j2), (jw0, r), (jw1, r), (jw2, r))
    return np.stack([_sum_of_products(x, y) for x, y in pairs])


def damped_step(h00, h01, h02, h11, h12, h22, g0, g1, g2, lam, a, k_el, d, lo0, lo1, lo2, up0, up1, up2):
    """The Levenberg-Marquardt step (JᵀJ + λ diag(JᵀJ)) s = Jᵀr with parameters held on their bounds.

    A parameter on a bound whose descent direction points outward is held (its row and column dropped, its step
    0). The 3×3 symmetric system is solved by cofactors. Written in arithmetic only, so that the same function
    serves arrays (numpy engine) and scalars (compiled engine).
    """
    held0 = ((a <= lo0 + HELD_TOL) & (g0 < 0)) | ((a >= up0 - HELD_TOL) & (g0 > 0))
    held1 = ((k_el <= lo1 + HELD_TOL) & (g1 < 0)) | ((k_el >= up1 - HELD_TOL) & (g1 > 0))
    held2 = ((d <= lo2 + HELD_TOL) & (g2 < 0)) | ((d >= up2 - HELD_TOL) & (g2 > 0))
    keep0 = 1.0 - held0
    keep1 = 1.0 - held1
    keep2 = 1.0 - held2
    s00 = (h00 + lam * np.maximum(h00, 1e-12)) * keep0 + held0
    s11 = (h11 + lam * np.maximum(h11, 1e-12)) * keep1 + held1
    s22 = (h22 + lam * np.maximum(h22, 1e-12)) * keep2 + held2
    s01 = h01 * (keep0 * keep1)
    s02 = h02 * (keep0 * keep2)
    s12 = h12 * (keep1 * keep2)
    b0 = g0 * keep0
    b1 = g1 * keep1
    b2 = g2 * keep2
    c00 = s11 * s22 - s12 * s12
    c01 = s02 * s12 - s01 * s22
    c02 = s01 * s12 - s02 * s11
    c11 = s00 * s22 - s02 * s02
    c12 = s01 * s02 - s00 * s12
    c22 = s00 * s11 - s01 * s01
    inv_det = 1.0 / (s00 * c00 + s01 * c01 + s02 * c02)
    return ((c00 * b0 + c01 * b1 + c02 * b2) * inv_det,
            (c01 * b0 + c11 * b1 + c12 * b2) * inv_det,
            (c02 * b0 + c12 * b1 + c22 * b2) * inv_det)


# ----------------------------------------------------------------------------------------------------------------
# Start grid
# ----------------------------------------------------------------------------------------------------------------


class StartGrid:
    """The start grid's curves (A = 1) at the fit's times, made once per fit and shared by both engines."""

    block = 512  # voxels per block (a multiple of 8): the (block, n_grid) work arrays stay in cache, reused

    def __init__(self, t: np.ndarray, tau: float, bounds: BrixBounds):
        self.points = _grid(bounds)
        ones = np.ones(len(self.points))
        f, _ = model_tm(ones, self.points[:, 0].copy(), self.points[:, 1].copy(), np.asarray(t, float)[:, None], tau)
        self.basis_t = np.ascontiguousarray(f)  # (n_t, n_grid)
        self.squared_t = self.basis_t * self.basis_t
        self.norm = np.maximum(np.sum(self.squared_t, axis=0), 1e-300)[None, :]
        self.a_min, self.a_max = bounds.a_min, bounds.a_max
        self._local = threading.local()  # work arrays per thread (chunks may be started from several threads)

    def _buffers(self):
        buffers = getattr(self._local, "buffers", None)
        if buffers is None:
            shape = (self.block, len(self.points))
            buffers = self._local.buffers = tuple(np.empty(shape) for _ in range(4))
        return buffers

    def start(self, y: np.ndarray, w: Optional[np.ndarray]) -> np.ndarray:
        """Best grid point per voxel of curves ``y`` (n, n_t) with A solved in closed form (clipped to bounds).

        A matrix product of the curves with all grid curves, block by block. Returns theta = (A, k_el, d), (3, n).
        """
        n = y.shape[0]
        theta = np.empty((3, n))
        buf_by, buf_bb, buf_a, buf_sse = self._buffers()
        for lo in range(0, n, self.block):
            hi = min(n, lo + self.block)
            k = hi - lo
            by = self._product(y[lo:hi], self.basis_t, buf_by)
            if w is None:
                bb = self.norm
            else:  # missing samples change the basis norm per voxel
                bb = self._product(w[lo:hi], self.squared_t, buf_bb)
                np.maximum(bb, 1e-300, out=bb)
            a = np.divide(by, bb, out=buf_a[:k])
            np.clip(a, self.a_min, self.a_max, out=a)
            # SSE minus ||y||^2 (the same for every grid point): a^2 bb - 2 a by
            sse = np.multiply(a, bb, out=buf_sse[:k])
            by *= 2.0
            sse -= by
            sse *= a
            best = np.argmin(sse, axis=1)
            theta[0, lo:hi] = a[np.arange(k), best]
            theta[1:, lo:hi] = self.points[best].T
        return theta

    @staticmethod
    def _product(x: np.ndarray, basis: np.ndarray, out: np.ndarray) -> np.ndarray:
        """x @ basis into out[:len(x)], the same for a voxel wherever it sits in the chunk.

        BLAS computes rows in tiles and the rows of a partial tile with other code (other rounding); padding to
        whole tiles of 8 rows makes a voxel's start, and so its whole fit, independent of its neighbours.
        """
        k = len(x)
        padded = -(-k // 8) * 8
        if padded != k:
            x = np.concatenate([x, np.zeros((padded - k, x.shape[1]))])
        return np.matmul(x, basis, out=out[:padded])[:k]


# ----------------------------------------------------------------------------------------------------------------
# The engine
# ----------------------------------------------------------------------------------------------------------------


class _Set:
    """A working set of voxels: time-major curves and, per voxel, parameters, λ, SSE and normal equations."""

    def __init__(self, gid, y, w, theta, sse, lam, normal, iterations):
        self.gid, self.y, self.w = gid, y, w
        self.theta, self.sse, self.lam, self.normal, self.iterations = theta, sse, lam, normal, iterations
        self.active = np.ones(len(gid), dtype=bool)
        self.converged = np.zeros(len(gid), dtype=bool)

    def take(self, keep: np.ndarray) -> _Set:
        s = _Set(self.gid[keep], np.ascontiguousarray(self.y[:, keep]),
                 None if self.w is None else np.ascontiguousarray(self.w[:, keep]),
                 self.theta[:, keep], self.sse[keep], self.lam[keep], self.normal[:, keep], self.iterations[keep])
        s.active, s.converged = self.active[keep], self.converged[keep]
        return s

    @staticmethod
    def join(sets: List[_Set]) -> _Set:
        w = None
        if any(s.w is not None for s in sets):
            w = np.concatenate([np.ones_like(s.y) if s.w is None else s.w for s in sets], axis=1)
        return _Set(np.concatenate([s.gid for s in sets]), np.concatenate([s.y for s in sets], axis=1), w,
                    np.concatenate([s.theta for s in sets], axis=1), np.concatenate([s.sse for s in sets]),
                    np.concatenate([s.lam for s in sets]), np.concatenate([s.normal for s in sets], axis=1),
                    np.concatenate([s.iterations for s in sets]))


class NumpyEngine:
    """Levenberg-Marquardt over chunks of voxels; results into ``theta`` (3, n), ``sse``, ``iterations``, ``converged``.

    ``submit`` a chunk (global voxel indices, curves, optional 0/1 weights, start parameters), then
    ``finish`` once: stragglers of all chunks are fitted together there.
    """

    name = "numpy"
    threads = 1  # one thread: straggler pooling carries state from chunk to chunk
    chunk_size = 4096  # default: ~1 MB per time-major work array at 30 frames

    def __init__(self, n: int, t: np.ndarray, tau: float, bounds: BrixBounds, max_iterations: int, chunk_size: int):
        self.t = np.asarray(t, dtype=float)[:, None]
        self.tau = tau
        self.lower = (bounds.a_min, bounds.k_el_min, bounds.k_diff_min)
        self.upper = (bounds.a_max, bounds.k_el_max, bounds.k_diff_max)
        self.max_iterations = max_iterations
        self.chunk_size = chunk_size
        self.theta = np.full((3, n), np.nan)
        self.sse = np.full(n, np.nan)
        self.iterations = np.zeros(n, dtype=int)
        self.converged = np.zeros(n, dtype=bool)
        self._pool: List[_Set] = []
        self._pooled = 0

    def submit(self, gid: np.ndarray, y: np.ndarray, w: Optional[np.ndarray], theta: np.ndarray) -> None:
        """Fit voxels ``gid`` with curves ``y`` (n, n_t), weights ``w`` (n, n_t, 0/1) or None, from ``theta``."""
        if len(gid) == 0:
            return
        y = np.ascontiguousarray(y.T)
        w = None if w is None else np.ascontiguousarray(w.T)
        f, parts = model_tm(theta[0], theta[1], theta[2], self.t, self.tau)
        r = y - f
        sse = _sum_of_products(r, r, w)
        normal = normal_equations(jacobian_tm(theta[0], theta[1], theta[2], self.t, self.tau, parts), r, w)
        work = _Set(gid, y, w, theta, sse, np.full(len(gid), LAMBDA_START), normal, np.zeros(len(gid), dtype=int))
        # Voxels still iterating when a chunk is down to a sixteenth wait in the pool for the next ones.
        left = self._iterate(work, stop_below=max(self.chunk_size // 16, 1))
        if left is not None:
            self._pool.append(left)
            self._pooled += len(left.gid)
            if self._pooled >= self.chunk_size:
                self._run_pool()

    def finish(self) -> None:
        if self._pool:
            self._run_pool()

    def _run_pool(self) -> None:
        work = _Set.join(self._pool)
        self._pool, self._pooled = [], 0
        self._iterate(work, stop_below=0)

    def _store(self, s: _Set, which: np.ndarray) -> None:
        g = s.gid[which]
        self.theta[:, g] = s.theta[:, which]
        self.sse[g] = s.sse[which]
        self.iterations[g] = s.iterations[which]
        self.converged[g] = s.converged[which]

    def _iterate(self, s: _Set, stop_below: int) -> Optional[_Set]:
        """Iterate the set until every voxel is done (None) or fewer than ``stop_below`` are left (returned)."""
        t, tau = self.t, self.tau
        lo, up = self.lower, self.upper
        while True:
            n_active = int(np.count_nonzero(s.active))
            leaving = n_active < stop_below  # the rest waits in the pool: only active voxels go there
            if n_active <= len(s.gid) // 2 or (leaving and n_active < len(s.gid)):
                # compact only when it halves: gathers are not free
                self._store(s, ~s.active)
                if n_active == 0:
                    return None
                s = s.take(s.active)
            if leaving:
                return s
            active = s.active
            s.iterations += active
            a, k_el, d = s.theta
            step = damped_step(*s.normal, s.lam, a, k_el, d, *lo, *up)
            cand = np.empty_like(s.theta)
            for i in range(3):
                np.add(s.theta[i], step[i], out=cand[i])
                np.clip(cand[i], lo[i], up[i], out=cand[i])
            with np.errstate(invalid="ignore"):
                rel_step = np.max(np.abs(cand - s.theta) / np.maximum(np.abs(s.theta), 1e-3), axis=0)
            f, parts = model_tm(cand[0], cand[1], cand[2], t, tau)
            r = np.subtract(s.y, f, out=f)
            with np.errstate(invalid="ignore", over="ignore"):
                sse_new = _sum_of_products(r, r, s.w)
                better = active & np.isfinite(sse_new) & (sse_new < s.sse)
                gain = s.sse - sse_new
            n_better = int(np.count_nonzero(better))
            if n_better:
                if n_better == len(better):
                    normal = normal_equations(jacobian_tm(cand[0], cand[1], cand[2], t, tau, parts), r, s.w)
                    s.normal = normal
                else:  # the Jacobian only where the step was accepted
                    sub = tuple(np.ascontiguousarray(p[:, better]) for p in parts)
                    w_sub = None if s.w is None else s.w[:, better]
                    jac = jacobian_tm(cand[0, better], cand[1, better], cand[2, better], t, tau, sub)
                    s.normal[:, better] = normal_equations(jac, r[:, better], w_sub)
                s.theta[:, better] = cand[:, better]
                s.sse[better] = sse_new[better]
            lam = s.lam
            lam[better] = np.maximum(lam[better] / 10.0, LAMBDA_MIN)
            lam[active & ~better] *= 10.0
            # Converged: a relative SSE gain or a step too small to matter, or no step can improve (local minimum).
            with np.errstate(invalid="ignore"):
                done = (better & (gain <= GAIN_TOL * np.maximum(s.sse, 1e-30))) | (rel_step < STEP_TOL)
            done |= lam > LAMBDA_MAX
            done |= s.sse <= SSE_ZERO
            done &= active
            s.converged |= done
            s.active = active & ~done & (s.iterations < self.max_iterations)


def at_bound(theta: np.ndarray, bounds: BrixBounds) -> np.ndarray:
    """Fitted parameters (3, n) on a bound (k_el = 0 is a value, not a bound hit)."""
    a, k_el, d = theta
    return ((a <= bounds.a_min + BOUND_TOL) | (a >= bounds.a_max - BOUND_TOL) | (k_el >= bounds.k_el_max - BOUND_TOL)
            | (d <= bounds.k_diff_min + BOUND_TOL) | (d >= bounds.k_diff_max - BOUND_TOL))
