"""Benchmark: the batched Brix fitter against a per-voxel scipy curve_fit loop, on the same phantom curves.

Run: ``python benchmarks/brix_fit.py [--voxels-curve-fit 400] [--large]``

Prints voxels per second of each, their ratio (measured in this run, on this machine), the accuracy of both against
the phantom's truth, and the peak memory of a whole ``analyse_dce`` on a 256 x 256 x 12 x 40 series (``--large``).

The baseline is what a user would otherwise write: ``scipy.optimize.curve_fit`` in a loop over voxels, with the
model's bounds (which selects the 'trf' method) and one fixed starting guess. The unbounded Levenberg-Marquardt
variant ('lm', which cannot enforce k_ep > k_el) is timed too, for information.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from HypoxiaMarkersLib.imaging.analysis import analyse_dce  # noqa: E402
from HypoxiaMarkersLib.imaging.brix import fit_brix  # noqa: E402
from HypoxiaMarkersLib.imaging.phantom import make_phantom  # noqa: E402
from HypoxiaMarkersLib.io import write_dce  # noqa: E402
from HypoxiaMarkersLib.io.volumes import write_volume  # noqa: E402


def brix(t, a, k_ep, k_el):
    """The model as a user would write it for curve_fit (fast bolus, t in minutes after arrival)."""
    return a * k_ep * (np.exp(-k_el * t) - np.exp(-k_ep * t)) / (k_ep - k_el)


def curve_fit_loop(rsi: np.ndarray, t: np.ndarray, bounded: bool) -> np.ndarray:
    a = np.full(len(rsi), np.nan)
    kwargs = {"bounds": ([0, 0, 0], [10, 21, 1])} if bounded else {"maxfev": 2000}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        for i, y in enumerate(rsi):
            try:
                p, _ = curve_fit(brix, t, y, p0=[1.5, 1.0, 0.05], **kwargs)
            except (RuntimeError, ValueError):
                continue
            a[i] = p[0]
    return a


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--voxels-curve-fit", type=int, default=400, help="voxels fitted by the curve_fit loops")
    parser.add_argument("--n-frames", type=int, default=30, help="frames (20-40 in the acceptance)")
    parser.add_argument("--large", action="store_true", help="also measure peak memory on 256 x 256 x 12 x 40")
    args = parser.parse_args()

    baseline = 8
    phantom = make_phantom(seed=0, noise=0.03, size=(160, 160, 10), tumour_radii_mm=(30, 25, 20),
                           n_frames=args.n_frames, baseline_frames=baseline)
    mask = phantom.tumour_mask
    signal = phantom.series.signal[:, mask].T.astype(float)
    s0 = signal[:, :baseline].mean(axis=1)
    rsi = signal[:, baseline:] / s0[:, None] - 1.0
    t = (phantom.series.times_s[baseline:] - phantom.t_lag_s) / 60.0
    a_true = phantom.a_brix[mask].astype(float)
    n = len(rsi)
    print(f"phantom: {n} tumour voxels, {args.n_frames} frames ({args.n_frames - baseline} after arrival), "
          f"noise 3% of peak RSI")

    fit_brix(rsi[:2000], t)  # warm-up
    start = time.perf_counter()
    ours = fit_brix(rsi, t)
    ours_rate = n / (time.perf_counter() - start)

    m = min(args.voxels_curve_fit, n)
    pick = np.random.default_rng(0).choice(n, m, replace=False)
    rates = {}
    accuracy = {"batched fitter": np.nanmedian(np.abs(ours.a - a_true) / a_true)}
    for label, bounded in (("curve_fit (trf, bounds)", True), ("curve_fit (lm, no bounds)", False)):
        start = time.perf_counter()
        a_cf = curve_fit_loop(rsi[pick], t, bounded)
        rates[label] = m / (time.perf_counter() - start)
        accuracy[label] = np.nanmedian(np.abs(a_cf - a_true[pick]) / a_true[pick])
        if bounded:
            agree = np.nanmedian(np.abs(a_cf - ours.a[pick]) / np.abs(a_cf))

    print(f"\n{'fitter':28s} {'voxels/s':>12s} {'median |dA|/A vs truth':>24s}")
    print(f"{'batched fitter (ours)':28s} {ours_rate:12.0f} {accuracy['batched fitter']:24.4f}")
    for label, rate in rates.items():
        print(f"{label:28s} {rate:12.0f} {accuracy[label]:24.4f}")
    print(f"\nratio ours / curve_fit (trf, bounds): {ours_rate / rates['curve_fit (trf, bounds)']:.0f}x")
    print(f"ratio ours / curve_fit (lm, no bounds): {ours_rate / rates['curve_fit (lm, no bounds)']:.0f}x")
    print(f"median relative difference of A, ours vs curve_fit (trf): {agree:.2e}")
    print(f"k_ep > k_el in every fitted voxel: {bool(np.all(ours.k_ep[ours.fitted] > ours.k_el[ours.fitted]))}")

    if args.large:
        large_series_memory()


def large_series_memory() -> None:
    """Peak memory of the whole `image` command on a 256 x 256 x 12 x 40 series, in a child process of its own."""
    big = make_phantom(seed=1, size=(256, 256, 12), spacing=(0.8, 0.8, 5.0), tumour_radii_mm=(40, 35, 25),
                       n_frames=40, baseline_frames=10)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_dce(big.series, folder / "dce.seq.nrrd")
        write_volume(big.t2w_tumour_mask, big.t2w_geometry, folder / "mask.nrrd")
        tracemalloc.start()
        start = time.perf_counter()
        result = analyse_dce(big.series, big.tumour_mask)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "HypoxiaMarkersLib.cli", "image", str(folder / "dce.seq.nrrd"),
                        "--mask", str(folder / "mask.nrrd"), "--out", str(folder / "out"), "--quiet"], check=True)
        command = time.perf_counter() - start
        child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"\n256 x 256 x 12 x 40 series ({big.series.signal.nbytes / 2**20:.0f} MiB as float32), "
          f"{result.n_tumour_voxels} tumour voxels:")
    print(f"  analyse_dce: {elapsed:.1f} s, memory allocated at peak by the analysis {peak / 2**20:.0f} MiB")
    print(f"  `hypoxia-markers image` (read, resample, fit, write) in its own process: {command:.1f} s, "
          f"peak RSS {child_rss:.0f} MiB (target < 2048 MiB)")

if __name__ == "__main__":
    main()
