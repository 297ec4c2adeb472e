"""The Brix fit's compiled engine (optional: numba, ``pip install HypoxiaMarkersLib[fast]``).

The same Levenberg-Marquardt iteration as :mod:`.brix_numpy`, step for step (it compiles the very same damped
step), run per voxel in compiled code without the GIL, chunks on all cores (threads of fit_brix). One pass over the
samples per evaluation gives the SSE and the normal equations together, and for evenly spaced frames the
exponentials come by exact recurrence, exp(-k (t0 + (i+1) dt)) = exp(-k (t0 + i dt)) exp(-k dt), so an evaluation
calls 4 transcendental functions instead of 2 per frame (1 - exp(-d t) by its own recurrence, which has no
cancellation).

numba is imported only when a fit asks for this engine. When numba is absent, cannot compile here, or the fit has
an injection duration (the Hoffmann box average is in the numpy engine only), :func:`compiled_engine` returns None
and the numpy engine runs; ``BrixFit.engine`` says which ran. numba 0.60 is the last line supporting both Python
3.9 and numpy 1.26 (Slicer 5.8). Compiled code is cached on disk where the package folder (or numba's user cache)
is writable: the first compile takes seconds, later ones a fraction of a second.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import warnings
from typing import Optional

import numpy as np

from .brix import (
    GAIN_TOL,
    LAMBDA_MAX,
    LAMBDA_MIN,
    LAMBDA_START,
    SSE_ZERO,
    STEP_TOL,
    BrixBounds,
)
from .brix_numpy import damped_step

# Frames closer to even spacing than this (relative to the interval) use the exponential recurrence.
EVEN_SPACING_TOL = 1e-9

_kernel = None  # the compiled fit, once built; False when numba is absent or failed
_kernel_lock = threading.RLock()  # one build, whichever thread asks first


def _build():
    """Compile (or load from the on-disk cache) the per-voxel fit; None when numba is not usable."""
    import numba

    def jit(fn):
        # nogil: chunks run in threads of fit_brix (numba's own parallel layers are left aside: GNU OpenMP makes a
        # later fork() abort, as batch --workers does, and workqueue aborts when two threads enter it)
        try:
            return numba.njit(cache=True, nogil=True)(fn)
        except Exception:  # no writable cache location: compile in memory
            return numba.njit(cache=False, nogil=True)(fn)

    step = jit(damped_step)

    def evaluate(a, k_el, d, y, w, has_w, t, even, dt):
        """SSE and normal equations (h00 h01 h02 h11 h12 h22 g0 g1 g2) of one voxel at (a, k_el, d)."""
        k_ep = k_el + d
        ak = a * k_ep
        ak_d = ak / d
        e = r_e = m = c = 0.0
        if even:
            e = np.exp(-k_el * t[0])
            r_e = np.exp(-k_el * dt)
            m = -np.expm1(-d * t[0])
            c = -np.expm1(-d * dt)
        sse = h00 = h01 = h02 = h11 = h12 = h22 = g0 = g1 = g2 = 0.0
        for i in range(t.size):
            ti = t[i]
            if even:
                if i > 0:
                    e *= r_e
                    m += c * (1.0 - m)
            else:
                e = np.exp(-k_el * ti)
                m = -np.expm1(-d * ti)
            q = e * m / d
            r = y[i] - q * ak
            j0 = q * k_ep
            j1 = (a - ak * ti) * q
            j2 = ak_d * (ti * e * (1.0 - m) - q) + q * a
            wi = w[i] if has_w else 1.0
            rw = r * wi
            sse += r * rw
            h00 += j0 * j0 * wi
            h01 += j0 * j1 * wi
            h02 += j0 * j2 * wi
            h11 += j1 * j1 * wi
            h12 += j1 * j2 * wi
            h22 += j2 * j2 * wi
            g0 += j0 * rw
            g1 += j1 * rw
            g2 += j2 * rw
        return sse, h00, h01, h02, h11, h12, h22, g0, g1, g2

    evaluate = jit(evaluate)

    def clip(x, lo, up):
        # NaN stays NaN (as np.clip), so a failed step is rejected
        if x < lo:
            return lo
        if x > up:
            return up
        return x

    clip = jit(clip)

    def fit_voxel(y, w, has_w, a, k_el, d, t, even, dt, lo, up, max_iterations):
        sse, h00, h01, h02, h11, h12, h22, g0, g1, g2 = evaluate(a, k_el, d, y, w, has_w, t, even, dt)
        lam = LAMBDA_START
        iterations = 0
        converged = False
        while iterations < max_iterations:
            iterations += 1
            s0, s1, s2 = step(h00, h01, h02, h11, h12, h22, g0, g1, g2, lam, a, k_el, d,
                              lo[0], lo[1], lo[2], up[0], up[1], up[2])
            ca = clip(a + s0, lo[0], up[0])
            ck = clip(k_el + s1, lo[1], up[1])
            cd = clip(d + s2, lo[2], up[2])
            small = (abs(ca - a) / max(abs(a), 1e-3) < STEP_TOL and abs(ck - k_el) / max(abs(k_el), 1e-3) < STEP_TOL
                     and abs(cd - d) / max(abs(d), 1e-3) < STEP_TOL)
            new = evaluate(ca, ck, cd, y, w, has_w, t, even, dt)
            better = np.isfinite(new[0]) and new[0] < sse
            gain = 0.0
            if better:
                gain = sse - new[0]
                a, k_el, d = ca, ck, cd
                sse, h00, h01, h02, h11, h12, h22, g0, g1, g2 = new
                lam = max(lam / 10.0, LAMBDA_MIN)
            else:
                lam *= 10.0
            if ((better and gain <= GAIN_TOL * max(sse, 1e-30)) or small or lam > LAMBDA_MAX
                    or sse <= SSE_ZERO):
                converged = True
                break
        return a, k_el, d, sse, iterations, converged

    fit_voxel = jit(fit_voxel)

    def fit_all(y, w, has_w, theta, t, even, dt, lo, up, max_iterations, out_theta, out_sse, out_it, out_conv):
        for v in range(y.shape[0]):
            wv = w[v] if has_w else w[0]
            a, k_el, d, sse, it, conv = fit_voxel(y[v], wv, has_w, theta[0, v], theta[1, v], theta[2, v], t, even,
                                                  dt, lo, up, max_iterations)
            out_theta[0, v] = a
            out_theta[1, v] = k_el
            out_theta[2, v] = d
            out_sse[v] = sse
            out_it[v] = it
            out_conv[v] = conv

    return jit(fit_all)


def _get_kernel():
    with _kernel_lock:
        return _get_kernel_locked()


def _get_kernel_locked():
    global _kernel
    if _kernel is None:
        try:
            _kernel = _build()
            _CompiledEngine.smoke_test(_kernel)
        except Exception as error:  # numba absent or not working here: the numpy engine runs
            if not isinstance(error, ImportError):
                warnings.warn(f"the compiled Brix fit is not available ({error}); using the numpy engine",
                              RuntimeWarning, stacklevel=3)
            _kernel = False
    return _kernel or None


class _CompiledEngine:
    """Fits each submitted chunk at once; results into theta (3, n), sse, iterations, converged.

    Chunks may be submitted from several threads at once (``threads``, one per core): the kernel runs without the
    GIL and each chunk writes its own voxels.
    """

    name = "numba"
    # One thread per core; one in a worker process of a pool (batch --workers, dask), whose processes already
    # share the cores: threads on top of them only contend.
    threads = 1 if multiprocessing.parent_process() is not None else max(1, min(os.cpu_count() or 1, 8))
    chunk_size = 2048  # default: small enough that the threads end together

    def __init__(self, kernel, n, t, bounds: BrixBounds, max_iterations: int):
        self.kernel = kernel
        self.t = np.ascontiguousarray(t, dtype=float)
        steps = np.diff(self.t)
        self.dt = float(steps.mean()) if steps.size else 0.0
        self.even = bool(steps.size == 0 or np.all(np.abs(steps - self.dt) <= EVEN_SPACING_TOL * abs(self.dt)))
        self.lo = np.array([bounds.a_min, bounds.k_el_min, bounds.k_diff_min])
        self.up = np.array([bounds.a_max, bounds.k_el_max, bounds.k_diff_max])
        self.max_iterations = int(max_iterations)
        self.theta = np.full((3, n), np.nan)
        self.sse = np.full(n, np.nan)
        self.iterations = np.zeros(n, dtype=np.int64)
        self.converged = np.zeros(n, dtype=bool)

    def submit(self, gid: np.ndarray, y: np.ndarray, w: Optional[np.ndarray], theta: np.ndarray) -> None:
        m = len(gid)
        if m == 0:
            return
        out_theta = np.empty((3, m))
        out_sse = np.empty(m)
        out_it = np.empty(m, dtype=np.int64)
        out_conv = np.empty(m, dtype=np.bool_)
        has_w = w is not None
        w = np.ascontiguousarray(w, dtype=float) if has_w else np.ones((1, y.shape[1]))
        self.kernel(np.ascontiguousarray(y, dtype=float), w, has_w, np.ascontiguousarray(theta), self.t, self.even,
                    self.dt, self.lo, self.up, self.max_iterations, out_theta, out_sse, out_it, out_conv)
        self.theta[:, gid] = out_theta
        self.sse[gid] = out_sse
        self.iterations[gid] = out_it
        self.converged[gid] = out_conv

    def finish(self) -> None:
        pass

    @staticmethod
    def smoke_test(kernel) -> None:
        """One tiny fit, evenly and unevenly spaced: compiles (or loads) the kernel and checks that it answers."""
        t = np.array([0.1, 0.3, 0.5, 0.7, 0.9])
        for times in (t, t ** 1.1):
            y = 2.0 * 3.1 * (np.exp(-0.1 * times) - np.exp(-3.1 * times)) / 3.0  # A = 2, k_ep = 3.1, k_el = 0.1
            engine = _CompiledEngine(kernel, 1, times, BrixBounds(), 200)
            engine.submit(np.array([0]), y[None, :], None, np.array([[1.0], [0.0], [1.0]]))
            if not (engine.converged[0] and abs(engine.theta[0, 0] - 2.0) < 1e-6):
                raise RuntimeError(f"the compiled fit gave A = {engine.theta[0, 0]} on a test curve with A = 2")


def compiled_engine(n: int, t: np.ndarray, tau: float, bounds: BrixBounds, max_iterations: int):
    """The compiled engine for a fit of ``n`` voxels at times ``t``, or None when the numpy engine must run."""
    if tau > 0:
        return None
    kernel = _get_kernel()
    if kernel is None:
        return None
    return _CompiledEngine(kernel, n, t, bounds, max_iterations)
