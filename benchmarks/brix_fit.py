"""Benchmark: the Brix fit's two engines against a per-voxel scipy curve_fit loop, on the same phantom curves.

Run: ``python benchmarks/brix_fit.py [--voxels-curve-fit 400] [--no-command] [--large]``

Prints, all measured in this one run on this machine:

1. the fit alone, on a held-out phantom (evenly spaced frames, then the same truth sampled at unevenly spaced
   frames): voxels per second of a ``scipy.optimize.curve_fit`` loop with its default method (``lm``) and a
   sensible start (what a user writes), of the bounded ``trf`` loop, of the fitter before issue 14 (kept in
   Testing/Python/brix_legacy.py), of the numpy engine and of the compiled engine, their ratios to the ``lm`` loop,
   and the accuracy of each against the phantom's truth (median |ΔA|/A, voxels classified right at A = 1.56).
   Each time is the best of 3 runs (the machine may be shared); voxels per CPU-second (all threads of this
   process) are printed beside, as a check that does not depend on other load;
2. the whole ``hypoxia-markers image`` command (read, resample, fit, write), so that the reader sees where the time
   goes: (i) the fit alone (the ratios of 1.), (ii) the command net of start-up: its time on a big phantom minus
   its time on a tiny one, per engine, as voxels per second and as a ratio to the ``lm`` loop (wall time, and CPU
   time of the command's process against the loop's), (iii) the same net also of decoding the input (the gzip
   series' read time, big minus tiny, measured in this run); and the command called in the benchmark's own
   process per engine (no interpreter start-up, imports or compile), with the wall time of its phases (read the
   series, read and resample the mask, analyse, write);
3. peak memory: of reading that series from each 4D format (NRRD, NIfTI, NIfTI gz, compressed MetaImage) and of
   the ``image`` command on 256 x 256 x 12 x 40, and (``--large``) of ``analyse_dce`` and of the
   ``image`` command on 512 x 512 x 30 x 60, each in a process of its own, against the size of the series.

The compiled engine's first compile is timed apart (numba caches it on disk; later runs load it).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "Testing" / "Python"))

from brix_legacy import legacy_fit  # noqa: E402

from HypoxiaMarkersLib.imaging.brix import ENGINE_VARIABLE, brix_curve, fit_brix  # noqa: E402
from HypoxiaMarkersLib.imaging.phantom import make_phantom  # noqa: E402

A_THRESHOLD = 1.56
BASELINE = 8


def brix(t, a, k_ep, k_el):
    """The model as a user would write it for curve_fit (fast bolus, t in minutes after arrival)."""
    return a * k_ep * (np.exp(-k_el * t) - np.exp(-k_ep * t)) / (k_ep - k_el)


def curve_fit_loop(rsi: np.ndarray, t: np.ndarray, bounded: bool) -> np.ndarray:
    """A per voxel: curve_fit from a sensible start (typical tumour values); 'lm' by default, 'trf' with bounds."""
    a = np.full(len(rsi), np.nan)
    kwargs = {"bounds": ([0, 0, 0], [10, 21, 1])} if bounded else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        for i, y in enumerate(rsi):
            try:
                p, _ = curve_fit(brix, t, y, p0=[1.5, 1.0, 0.05], **kwargs)
            except (RuntimeError, ValueError):
                continue
            a[i] = p[0] if p[1] > p[2] else p[0] * p[1] / p[2]  # the k_ep > k_el convention
    return a


def held_out_curves(n_frames: int, uneven: bool):
    """RSI after arrival (n, n_t), times (min) and true A of a phantom no test uses (seed 101, ~40k voxels)."""
    ph = make_phantom(seed=101, noise=0.03, size=(192, 192, 12), tumour_radii_mm=(38, 33, 27), n_frames=n_frames,
                      baseline_frames=BASELINE)
    mask = ph.tumour_mask
    a_true = ph.a_brix[mask].astype(float)
    times = (ph.series.times_s[BASELINE:] - ph.t_lag_s) / 60.0
    signal = ph.series.signal[:, mask].T.astype(float)
    rsi = signal[:, BASELINE:] / signal[:, :BASELINE].mean(axis=1)[:, None] - 1.0
    if uneven:  # the same truth and noise level, sampled at jittered frame times
        rng = np.random.default_rng(5)
        times = np.sort(times + rng.uniform(-0.3, 0.3, times.size) * np.diff(times).mean())
        clean = brix_curve(times[None, :], a_true[:, None], ph.k_ep[mask].astype(float)[:, None],
                           ph.k_el[mask].astype(float)[:, None])
        rsi = clean + rng.normal(0.0, 0.03 * clean.max(axis=1).mean(), clean.shape)
    return rsi, times, a_true


def accuracy(a, a_true):
    ok = np.isfinite(a)
    rel = np.median(np.abs(a[ok] - a_true[ok]) / a_true[ok])
    agree = np.mean((a[ok] < A_THRESHOLD) == (a_true[ok] < A_THRESHOLD))
    return rel, agree, ok.mean()


def timed(fn, repeats=3):
    """Best wall time of ``repeats`` runs (this machine may be shared: the best run is the least disturbed), the
    CPU time of this process in that run (all threads), and the value."""
    best, cpu, value = np.inf, np.inf, None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        value = fn()
        wall = time.perf_counter() - start
        if wall < best:
            best, cpu = wall, time.process_time() - start_cpu
    return best, cpu, value


def fit_benchmark(n_frames: int, uneven: bool, n_curve_fit: int) -> dict:
    rsi, t, a_true = held_out_curves(n_frames, uneven)
    n = len(rsi)
    label = "unevenly" if uneven else "evenly"
    print(f"\n== the fit alone: {n} tumour voxels, {t.size} frames after arrival, {label} spaced, 3% noise ==")
    rows = {}
    pick = np.random.default_rng(0).choice(n, min(n_curve_fit, n), replace=False)
    for name, bounded in (("curve_fit loop, lm (default)", False), ("curve_fit loop, trf (bounds)", True)):
        wall, cpu, a = timed(lambda bounded=bounded: curve_fit_loop(rsi[pick], t, bounded))
        rows[name] = (len(pick) / wall, len(pick) / cpu, accuracy(a, a_true[pick]))
    wall, cpu, legacy = timed(lambda: legacy_fit(rsi, t), repeats=1)
    a_legacy = np.where(np.isin(legacy[0], (1, 2)), legacy[1][:, 0], np.nan)
    rows["fitter before issue 14"] = (n / wall, n / cpu, accuracy(a_legacy, a_true))
    fits = {}
    for engine in ("numpy", "numba"):
        fit_brix(rsi[:2000], t, engine=engine)  # warm-up (and compile or cache load)
        wall, cpu, fits[engine] = timed(lambda engine=engine: fit_brix(rsi, t, engine=engine))
        rows[f"{fits[engine].engine} engine"] = (n / wall, n / cpu, accuracy(fits[engine].a, a_true))
    lm, lm_cpu = rows["curve_fit loop, lm (default)"][:2]
    trf = rows["curve_fit loop, trf (bounds)"][0]
    print(f"{'fitter':30s} {'voxels/s':>9s} {'x lm loop':>9s} {'x trf':>6s} {'voxels/CPU-s':>12s} "
          f"{'median |dA|/A':>13s} {'class. right':>12s} {'fitted':>6s}")
    for name, (rate, cpu_rate, (rel, agree, fitted)) in rows.items():
        print(f"{name:30s} {rate:9.0f} {rate / lm:8.1f}x {rate / trf:5.0f}x {cpu_rate:12.0f} {rel:13.4f} "
              f"{agree:12.4f} {fitted:6.4f}")
    same = np.array_equal(fits["numpy"].status, fits["numba"].status)
    tried = np.isfinite(fits["numpy"].sse)
    rel_sse = np.abs(fits["numba"].sse[tried] - fits["numpy"].sse[tried]) / fits["numpy"].sse[tried]
    print(f"numpy vs compiled engine: same statuses {same}, largest relative SSE difference {rel_sse.max():.1e}")
    worse = (fits["numpy"].sse[tried] - legacy[2][tried]) / legacy[2][tried]
    print(f"new vs old fitter: largest relative SSE increase {max(worse.max(), 0.0):.1e}, statuses same "
          f"{np.array_equal(fits['numpy'].status, legacy[0])}")
    return {"lm": (lm, lm_cpu), "ratios": {name: rows[name][0] / lm for name in rows if name.endswith("engine")}}


def run_image(folder: Path, dce: Path, mask: Path, engine: str) -> tuple:
    """Wall time and CPU time (user + system, all threads) of one `image` command in a process of its own."""
    env = dict(os.environ, **{ENGINE_VARIABLE: engine})
    out = tempfile.mkdtemp(dir=folder, prefix=f"out-{engine}-")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    cli("image", str(dce), "--mask", str(mask), "--out", out, "--quiet", env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def write_case(folder: Path, phantom) -> tuple:
    from HypoxiaMarkersLib.io import write_dce
    from HypoxiaMarkersLib.io.volumes import write_volume

    folder.mkdir(parents=True, exist_ok=True)
    write_dce(phantom.series, folder / "dce.seq.nrrd")
    write_volume(phantom.t2w_tumour_mask, phantom.t2w_geometry, folder / "mask.nrrd")
    return folder / "dce.seq.nrrd", folder / "mask.nrrd"


def command_benchmark(lm_rate: tuple, fit_ratios: dict) -> None:
    """The whole `image` command: (i) the fit alone (from above), (ii) net of start-up (time on a big phantom minus
    time on a tiny one), (iii) net of start-up and of decoding the input (the same difference for reading the
    series, measured in this run), and where the time of one in-process run goes."""
    big = make_phantom(seed=102, size=(192, 192, 12), tumour_radii_mm=(38, 33, 27), n_frames=32,
                       baseline_frames=BASELINE)
    tiny = make_phantom(seed=103, size=(24, 24, 3), tumour_radii_mm=(5, 5, 4), n_frames=32, baseline_frames=BASELINE)
    n_big = int(big.tumour_mask.sum())
    print(f"\n== the whole `hypoxia-markers image` command: {n_big} vs {int(tiny.tumour_mask.sum())} tumour voxels, "
          f"32 frames (gzip .seq.nrrd, as the demo writes) ==")
    if fit_ratios:
        print("(i) the fit alone (above, evenly spaced frames): "
              + ", ".join(f"{name} {ratio:.0f}x" for name, ratio in fit_ratios.items()) + " the lm loop")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        big_files = write_case(root / "big", big)
        tiny_files = write_case(root / "tiny", tiny)
        read_net = read_time(big_files[0]) - read_time(tiny_files[0])
        print(f"reading (decoding) the series, in this process: {read_net:.3f} s more for the big one than the tiny "
              f"one ({big_files[0].stat().st_size / 2**20:.0f} MiB gzip, {big.series.signal.nbytes / 2**20:.0f} MiB "
              f"decoded)")
        print(f"{'engine':8s} {'big (s)':>8s} {'tiny (s)':>8s} {'(ii) net voxels/s':>18s} {'x lm loop':>10s} "
              f"{'x lm (CPU)':>11s} {'(iii) net of reading':>21s} {'x lm loop':>10s}")
        for engine in ("numpy", "numba"):
            run_image(root / "tiny", *tiny_files, engine)  # warm caches (files, numba's compiled code)
            big_runs = [run_image(root / "big", *big_files, engine) for _ in range(3)]
            tiny_runs = [run_image(root / "tiny", *tiny_files, engine) for _ in range(3)]
            t_big, t_tiny = min(r[0] for r in big_runs), min(r[0] for r in tiny_runs)
            c_big, c_tiny = min(r[1] for r in big_runs), min(r[1] for r in tiny_runs)
            rate = n_big / (t_big - t_tiny) if t_big > t_tiny else float("nan")  # nan: other load swamped it
            cpu_rate = n_big / (c_big - c_tiny) if c_big > c_tiny else float("nan")
            net = t_big - t_tiny - read_net
            rate_no_read = n_big / net if net > 0 else float("nan")
            print(f"{engine:8s} {t_big:8.2f} {t_tiny:8.2f} {rate:18.0f} {rate / lm_rate[0]:9.1f}x "
                  f"{cpu_rate / lm_rate[1]:10.1f}x {rate_no_read:21.0f} {rate_no_read / lm_rate[0]:9.1f}x")
        for engine in ("numpy", "numba"):
            wall, cpu, phases = in_process_image(root / "big", *big_files, engine)
            print(f"in this process ({engine} engine; start-up, imports and compile outside the timing): "
                  f"{wall:.3f} s, {cpu:.3f} CPU-s = {n_big / wall:.0f} voxels/s ({n_big / wall / lm_rate[0]:.1f}x lm "
                  f"loop); " + ", ".join(f"{name} {seconds:.3f}" for name, seconds in phases.items()))


def read_time(path: Path) -> float:
    """Best of 3 wall times of reading a series (decoding included) in this process."""
    from HypoxiaMarkersLib.io import read_dce

    times = []
    for _ in range(3):
        start = time.perf_counter()
        read_dce(path)
        times.append(time.perf_counter() - start)
    return min(times)


PHASES = (("read", "HypoxiaMarkersLib.io", "read_dce"), ("mask", "HypoxiaMarkersLib.io.masks", "read_mask"),
          ("resample", "HypoxiaMarkersLib.io.masks", "resample_mask"),
          ("analyse", "HypoxiaMarkersLib.imaging.analysis", "analyse_dce"),
          ("write", "HypoxiaMarkersLib.pipeline.image", "write_imaging_result"))


def in_process_image(folder: Path, dce: Path, mask: Path, engine: str) -> tuple:
    """Best wall and CPU time of the `image` command called in this process (no interpreter start, no imports),
    and the wall time of its phases in that run: what reading, resampling, the analysis and writing cost."""
    import importlib

    from HypoxiaMarkersLib.cli import main as cli_main

    previous = os.environ.get(ENGINE_VARIABLE)
    os.environ[ENGINE_VARIABLE] = engine
    originals, spent = [], {}
    for name, module_name, function in PHASES:  # the pipeline looks these up when it runs: wrapped in place
        module = importlib.import_module(module_name)
        original = getattr(module, function)
        originals.append((module, function, original))

        def timed_phase(*args, _name=name, _original=original, **kwargs):
            start = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                spent[_name] = spent.get(_name, 0.0) + time.perf_counter() - start
        setattr(module, function, timed_phase)
    runs = []
    try:
        for _ in range(4):  # the first run warms imports and caches: dropped
            spent.clear()
            out = tempfile.mkdtemp(dir=folder, prefix="in-process-")
            start, cpu = time.perf_counter(), time.process_time()
            with contextlib.redirect_stdout(io.StringIO()):  # the command's one-line result
                cli_main(["image", str(dce), "--mask", str(mask), "--out", out, "--quiet"])
            runs.append((time.perf_counter() - start, time.process_time() - cpu, dict(spent)))
    finally:
        for module, function, original in originals:
            setattr(module, function, original)
        if previous is None:
            os.environ.pop(ENGINE_VARIABLE)
        else:
            os.environ[ENGINE_VARIABLE] = previous
    best = min(runs[1:], key=lambda r: r[0])
    phases = dict(best[2])
    phases["rest"] = best[0] - sum(phases.values())
    return best[0], min(r[1] for r in runs[1:]), phases


# Peak memory is the process's VmHWM (/proc/self/status): getrusage's ru_maxrss keeps, across exec, the peak of
# the process that forked it (here the one that made a multi-GB phantom), so it cannot measure a child.
PEAK = "int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]) // 1024"

MEMORY_CHILD = f"""
import sys, time
import numpy as np
from HypoxiaMarkersLib.imaging.analysis import analyse_dce
from HypoxiaMarkersLib.volume import DceSeries, Geometry
d = np.load(sys.argv[1])
series = DceSeries(signal=np.load(sys.argv[2]), times_s=d["times"], geometry=Geometry(
    size=tuple(int(v) for v in d["size"]), spacing=tuple(d["spacing"]), origin=(0.0, 0.0, 0.0)))
mask = d["mask"]
before = {PEAK}
start = time.perf_counter()
result = analyse_dce(series, mask)
print(before, {PEAK}, time.perf_counter() - start, result.n_tumour_voxels)
"""

# The CLI in a process of its own, printing its peak memory (MiB) on stderr's last line.
CLI_CHILD = f"""
import sys
from HypoxiaMarkersLib.cli import main
try:
    code = main(sys.argv[1:])
finally:
    print("peak", {PEAK}, file=sys.stderr)
sys.exit(code)
"""


# Reading a series in a process of its own: its peak memory beyond the process before the read, and the read time.
READ_CHILD = f"""
import sys, time
from HypoxiaMarkersLib.io import read_dce
before = {PEAK}
start = time.perf_counter()
series = read_dce(sys.argv[1])
print(before, {PEAK}, time.perf_counter() - start)
"""


def read_memory(series, folder: Path) -> None:
    """Peak memory and time of reading the series from each 4D format, against the series' size: NRRD is decoded a
    slab at a time, uncompressed NIfTI and MetaImage a frame at a time, compressed ones whole (io/dce.py)."""
    from HypoxiaMarkersLib.io import write_dce

    series_mib = series.signal.nbytes / 2**20
    folder = folder / "formats"
    for name in ("dce.seq.nrrd", "dce.nii", "dce.nii.gz", "dce.mha"):
        path = write_dce(series, folder / name)
        out = subprocess.run([sys.executable, "-c", READ_CHILD, str(path)], check=True, capture_output=True,
                             text=True, cwd=str(ROOT)).stdout.split()
        extra = (int(out[1]) - int(out[0])) / series_mib
        what = ("gzip, streamed" if "nrrd" in name else "compressed, read whole" if name.endswith((".gz", ".mha"))
                else "raw, streamed")
        print(f"reading {name} ({what}): {float(out[2]):.2f} s, peak {extra:.2f}x the series above the process "
              f"before the read")
        path.unlink()


def cli(*args: str, env=None) -> int:
    """Run `hypoxia-markers ARGS...` in a process of its own; returns its peak memory in MiB."""
    run = subprocess.run([sys.executable, "-c", CLI_CHILD, *args], cwd=str(ROOT), env=env, capture_output=True,
                         text=True)
    if run.returncode != 0:
        raise RuntimeError(f"hypoxia-markers {' '.join(args)} failed:\n{run.stdout}{run.stderr}")
    return int(run.stderr.strip().splitlines()[-1].split()[1])


def memory_benchmark(size, frames, radii, analysis_only_too: bool) -> None:
    """Peak RSS of the `image` command (and of analyse_dce alone) in processes of their own, against the series."""
    phantom = make_phantom(seed=104, size=size, spacing=(0.8, 0.8, 4.0), tumour_radii_mm=radii, n_frames=frames,
                           baseline_frames=10)
    series_mib = phantom.series.signal.nbytes / 2**20
    label = " x ".join(str(v) for v in (*size, frames))
    print(f"\n== peak memory, {label} series ({series_mib:.0f} MiB as float32), "
          f"{int(phantom.tumour_mask.sum())} tumour voxels ==")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if analysis_only_too:
            np.save(root / "signal.npy", phantom.series.signal)
            np.savez(root / "case.npz", times=phantom.series.times_s, size=np.array(size), mask=phantom.tumour_mask,
                     spacing=np.array(phantom.series.geometry.spacing))
        files = write_case(root, phantom)
        if not analysis_only_too:
            read_memory(phantom.series, root)
        del phantom
        if analysis_only_too:
            out = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(root / "case.npz"), str(root / "signal.npy")],
                                 check=True, capture_output=True, text=True, cwd=str(ROOT)).stdout.split()
            before, peak = int(out[0]), int(out[1])
            print(f"analyse_dce alone: {float(out[2]):.1f} s; peak RSS {peak} MiB = {peak / series_mib:.2f}x the "
                  f"series (the process with the series loaded, before the analysis: {before} MiB)")
        start = time.perf_counter()
        peak = cli("image", str(files[0]), "--mask", str(files[1]), "--out", str(root / "out"), "--quiet")
        seconds = time.perf_counter() - start
        print(f"`hypoxia-markers image` (read, resample, fit, write): {seconds:.1f} s; peak RSS {peak} MiB = "
              f"{peak / series_mib:.2f}x the series")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--voxels-curve-fit", type=int, default=400, help="voxels fitted by the curve_fit loops")
    parser.add_argument("--n-frames", type=int, default=32, help="frames of the series (8 baseline)")
    parser.add_argument("--no-fit", action="store_true", help="skip the fit-alone measurements")
    parser.add_argument("--no-command", action="store_true", help="skip the whole-command and memory measurements")
    parser.add_argument("--large", action="store_true",
                        help="also measure peak memory on 512 x 512 x 30 x 60 (minutes; ~8 GB while the phantom is "
                             "made)")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; numpy {np.__version__}")
    ratios = {}
    if not args.no_fit:
        evenly = fit_benchmark(args.n_frames, uneven=False, n_curve_fit=args.voxels_curve_fit)
        lm, ratios = evenly["lm"], evenly["ratios"]
        fit_benchmark(args.n_frames, uneven=True, n_curve_fit=args.voxels_curve_fit)
    else:  # the lm loop alone, as the whole command's baseline
        rsi, t, _ = held_out_curves(args.n_frames, uneven=False)
        pick = np.random.default_rng(0).choice(len(rsi), min(args.voxels_curve_fit, len(rsi)), replace=False)
        wall, cpu, _ = timed(lambda: curve_fit_loop(rsi[pick], t, False))
        lm = (len(pick) / wall, len(pick) / cpu)
    if not args.no_command:
        command_benchmark(lm, ratios)
        memory_benchmark((256, 256, 12), 40, (40, 35, 25), analysis_only_too=False)
    if args.large:
        memory_benchmark((512, 512, 30), 60, (60, 50, 45), analysis_only_too=True)


if __name__ == "__main__":
    main()
