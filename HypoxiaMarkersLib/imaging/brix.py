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
at once, then a Levenberg-Marquardt iteration with analytic Jacobians and bound handling runs per voxel, in one of
two engines that run the same iteration: :mod:`.brix_numpy` (arrays over voxels, always there) and
:mod:`.brix_numba` (compiled, optional). This module holds the model, the statuses, the iteration's settings and
:func:`fit_brix`, which prepares the curves chunk by chunk and turns the engine's parameters into the results.
"""

from __future__ import annotations

import contextlib
import os
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
#: Ended on a bound with R² < 0: the curve fits worse than a flat line through the data's mean, so it is no fit
#: (e.g. an injection duration longer than the enhancement). Set by the analysis, never by the fitter itself.
STATUS_BOUND_WORSE_THAN_FLAT = 6
STATUS_NAMES = {
    STATUS_OUTSIDE: "outside tumour",
    STATUS_CONVERGED: "converged",
    STATUS_HIT_BOUND: "hit bound",
    STATUS_NO_SIGNAL: "no signal",
    STATUS_TOO_FEW_POINTS: "not enough points",
    STATUS_FAILED: "failed",
    STATUS_BOUND_WORSE_THAN_FLAT: "at a bound, worse than a flat line",
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
    engine : str
        The engine that ran the fit: "numba" (compiled) or "numpy".
    sse : ndarray, optional
        Sum of squared residuals at the last parameters, NaN where no fit was tried.
    """

    a: np.ndarray
    k_ep: np.ndarray
    k_el: np.ndarray
    r_squared: np.ndarray
    rmse: np.ndarray
    status: np.ndarray
    iterations: np.ndarray
    engine: str = "numpy"
    sse: Optional[np.ndarray] = None

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



# ----------------------------------------------------------------------------------------------------------------
# The fitter
# ----------------------------------------------------------------------------------------------------------------

# Levenberg-Marquardt settings shared by both engines (brix_numpy, brix_numba): what "converged" means rests on them.
LAMBDA_START = 1e-3
LAMBDA_MIN = 1e-12
LAMBDA_MAX = 1e8  # no step can improve: a local minimum
GAIN_TOL = 1e-9  # relative SSE gain of an accepted step below which the fit has converged
STEP_TOL = 1e-9  # relative step below which the fit has converged
SSE_ZERO = 1e-28  # an exact fit
HELD_TOL = 1e-12  # a parameter this close to a bound, with the descent pointing outward, is held on it
BOUND_TOL = 1e-9  # a fitted parameter this close to a bound reports STATUS_HIT_BOUND

# "auto": the compiled engine when numba is installed and works, else numpy; the environment variable below
# sets what "auto" means for every fit of a process (CLI, batch workers, Slicer).
ENGINES = ("auto", "numpy", "numba")
ENGINE_VARIABLE = "HYPOXIA_MARKERS_FIT_ENGINE"


def _grid(bounds: BrixBounds) -> np.ndarray:
    """Starting grid over (k_el, d) covering the bounds; d log-spaced over its orders of magnitude."""
    k_el = bounds.k_el_min + (bounds.k_el_max - bounds.k_el_min) * np.array(
        [0.0, 0.01, 0.03, 0.06, 0.1, 0.16, 0.25, 0.4, 0.65, 1.0]
    )
    d = np.geomspace(bounds.k_diff_min, bounds.k_diff_max, 24)
    kk, dd = np.meshgrid(k_el, d, indexing="ij")
    return np.column_stack([kk.ravel(), dd.ravel()])


def fit_brix(
    rsi: np.ndarray,
    t_min: np.ndarray,
    *,
    tau_min: float = 0.0,
    bounds: BrixBounds = BrixBounds(),
    max_iterations: int = 1000,
    chunk_size: Optional[int] = None,
    progress: Optional[ProgressCallback] = None,
    engine: str = "auto",
) -> BrixFit:
    """Fit the Brix model to many RSI curves at once.

    A coarse grid over (k_el, k_ep - k_el), with A solved in closed form, gives every voxel its start (one matrix
    product); then a Levenberg-Marquardt iteration with analytic Jacobians and bound handling runs per voxel. Two
    engines run the same iteration: numpy (always there) and a compiled one (numba, the optional extra
    ``HypoxiaMarkersLib[fast]``); they give the same statuses and SSEs to rounding.

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
    chunk_size : int, optional
        Voxels fitted together (bounds memory use; progress is reported per chunk); default: the engine's
        (numpy 4096, compiled 2048).
    progress : callable, optional
        ``progress(done, total)``; return False to cancel.
    engine : {"auto", "numpy", "numba"}
        "auto" runs the compiled engine when numba is installed and compiles, else numpy (or what the environment
        variable ``HYPOXIA_MARKERS_FIT_ENGINE`` says); "numba" asks for the compiled engine (still numpy, said in
        ``BrixFit.engine``, when numba is absent, fails, or the fit has an injection duration).

    Returns
    -------
    BrixFit
        Per-voxel parameters, goodness of fit, status, and the engine that ran.
    """
    from .brix_numpy import NumpyEngine, StartGrid, at_bound  # here: the engines import this module

    if engine == "auto":  # the user's choice for every fit (e.g. "numpy" to leave numba aside)
        engine = os.environ.get(ENGINE_VARIABLE, "auto").strip().lower() or "auto"
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    rsi = np.asarray(rsi, dtype=float)
    t = np.asarray(t_min, dtype=float)
    if rsi.ndim != 2 or rsi.shape[1] != t.size:
        raise ValueError(f"rsi must be (n_voxels, {t.size}), got {rsi.shape}")
    n = rsi.shape[0]
    status = np.full(n, STATUS_FAILED, dtype=np.uint8)
    n_points = np.zeros(n)
    sst = np.full(n, np.nan)
    runner = None
    if engine != "numpy":
        from .brix_numba import compiled_engine

        runner = compiled_engine(n, t, tau_min, bounds, max_iterations)
    if runner is None:
        runner = NumpyEngine(n, t, tau_min, bounds, max_iterations, chunk_size or NumpyEngine.chunk_size)
    chunk_size = chunk_size or runner.chunk_size
    grid = StartGrid(t, tau_min, bounds)
    report(progress, 0, n)

    def submit(start: int, stop: int) -> None:
        y = rsi[start:stop]
        finite = np.isfinite(y)
        counts = finite.sum(axis=1)
        n_points[start:stop] = counts
        enough = counts >= MIN_POINTS
        status[start:stop][~enough] = STATUS_TOO_FEW_POINTS
        idx = np.flatnonzero(enough)
        yy = y[idx]
        w = None
        if not bool(finite[idx].all()):
            w = finite[idx].astype(float)
            yy[w == 0] = 0.0
        # SST for R² (missing samples left out)
        dev = yy - (yy.sum(axis=1) / counts[idx])[:, None]
        if w is not None:
            dev *= w
        sst[start + idx] = np.einsum("nt,nt->n", dev, dev)
        runner.submit(start + idx, yy, w, grid.start(yy, w))

    chunks = [(start, min(n, start + chunk_size)) for start in range(0, n, chunk_size)]
    with _one_blas_thread(n):
        if runner.threads > 1 and len(chunks) > 1:
            _submit_in_threads(submit, chunks, runner.threads, progress, n)
        else:
            for start, stop in chunks:
                submit(start, stop)
                if stop < n:
                    report(progress, stop, n)
        runner.finish()
    report(progress, n, n)

    theta, sse = runner.theta, runner.sse
    converged = runner.converged & np.all(np.isfinite(theta), axis=0) & np.isfinite(sse)
    tried = status != STATUS_TOO_FEW_POINTS
    status[tried] = np.where(converged[tried], np.where(at_bound(theta[:, tried], bounds), STATUS_HIT_BOUND,
                                                        STATUS_CONVERGED), STATUS_FAILED)
    out = BrixFit(
        a=np.where(converged, theta[0], np.nan), k_ep=np.where(converged, theta[1] + theta[2], np.nan),
        k_el=np.where(converged, theta[1], np.nan), r_squared=np.full(n, np.nan), rmse=np.full(n, np.nan),
        status=status, iterations=np.where(tried, runner.iterations, 0), engine=runner.name,
        sse=np.where(tried, sse, np.nan),
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        out.r_squared[converged] = np.where(sst[converged] > 0, 1.0 - sse[converged] / sst[converged], np.nan)
        out.rmse[converged] = np.sqrt(sse[converged] / n_points[converged])
    return out


def _submit_in_threads(submit, chunks, threads: int, progress, n: int) -> None:
    """Chunks fitted by ``threads`` threads (the compiled engine releases the GIL; so do BLAS and numpy's loops),
    each taking the next chunk when done: dynamic, so a core that other work slows down takes fewer chunks."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=threads)
    try:
        futures = [pool.submit(submit, start, stop) for start, stop in chunks]
        for (_, stop), future in zip(chunks, futures):
            future.result()
            if stop < n:
                report(progress, stop, n)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_blas_controller = None  # threadpoolctl's view of the loaded BLAS: finding it costs milliseconds, so once


@contextlib.contextmanager
def _one_blas_thread(n_voxels: int):
    """BLAS on one thread inside the fit (its products are small; threads there only contend), if threadpoolctl
    is installed. Fits too small for BLAS to thread (the mean curve's) skip it."""
    global _blas_controller
    if n_voxels < 256:
        yield
        return
    if _blas_controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _blas_controller = False
        else:
            _blas_controller = ThreadpoolController()
    if not _blas_controller:
        yield
        return
    with _blas_controller.limit(limits=1, user_api="blas"):
        yield
