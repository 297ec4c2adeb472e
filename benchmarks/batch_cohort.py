"""Benchmark: `hypoxia-markers batch` over the demo cohort, serial and with both cores (patients per minute).

Run: ``python benchmarks/batch_cohort.py [--patients 24] [--workers 2] [--repeats 3] [--engine numba]``

Writes a synthetic cohort (the demo's, fewer patients by default), then times ``hypoxia-markers batch`` on it with
``--workers 1`` and ``--workers N`` (imaging, genes and cohort statistics; heterogeneity and report left out, so
the number is the per-patient analysis), back to back and ``--repeats`` times (the machine may be shared: the load
average is printed beside each pair), each in a fresh output folder, and prints patients per minute, the ratio,
the CPU time of all processes, and each stage's wall time from batch.json (``timings_s``), so that what cannot
run in parallel is seen: the cohort statistics after the images, and each worker's start (imports, loading the
compiled fit engine). A "serial" run is not single-threaded: the compiled fit runs its chunks on all cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from HypoxiaMarkersLib.imaging.brix import ENGINE_VARIABLE  # noqa: E402
from HypoxiaMarkersLib.pipeline.demo_data import CohortSettings, write_cohort  # noqa: E402


def run_batch(manifest: Path, out: Path, workers: int, engine: str) -> tuple:
    """Wall time, CPU time (this run's processes, all threads) and the stages' wall times of one batch run."""
    env = dict(os.environ, **{ENGINE_VARIABLE: engine})
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import sys; from HypoxiaMarkersLib.cli import main; sys.exit(main())",
                    "batch", str(manifest), "--out", str(out),
                    "--workers", str(workers), "--no-heterogeneity", "--no-report", "--quiet",
                    "--permutations", "100"], check=True, cwd=str(ROOT), env=env, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    stages = json.loads((out / "batch.json").read_text())["timings_s"]
    return wall, cpu, stages


def _stages(stages: dict) -> str:
    return ", ".join(f"{name} {seconds:.1f}" for name, seconds in stages.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=24, help="patients in the synthetic cohort")
    parser.add_argument("--workers", type=int, default=2, help="workers of the parallel run")
    parser.add_argument("--repeats", type=int, default=3, help="serial/parallel pairs per engine")
    parser.add_argument("--engine", choices=("numba", "numpy", "both"), default="both", help="Brix fit engine")
    args = parser.parse_args()
    print(f"`hypoxia-markers batch`, {args.patients} demo patients (heterogeneity and report left out), "
          f"{os.cpu_count()} cores:")
    engines = ("numpy", "numba") if args.engine == "both" else (args.engine,)
    with tempfile.TemporaryDirectory() as tmp:
        cohort = write_cohort(Path(tmp) / "cohort", CohortSettings(patients=args.patients))
        manifest = cohort / "manifest.csv"
        for engine in engines:
            ratios = []
            for repeat in range(args.repeats):
                load = os.getloadavg()[0]
                serial = run_batch(manifest, Path(tmp) / f"serial-{engine}-{repeat}", 1, engine)
                parallel = run_batch(manifest, Path(tmp) / f"parallel-{engine}-{repeat}", args.workers, engine)
                ratios.append(serial[0] / parallel[0])
                print(f"  {engine} engine (load {load:.1f}): --workers 1: {serial[0]:5.1f} s, "
                      f"{60 * args.patients / serial[0]:5.1f} patients/min, {serial[1]:5.1f} CPU-s "
                      f"[{_stages(serial[2])}]; --workers {args.workers}: {parallel[0]:5.1f} s, "
                      f"{60 * args.patients / parallel[0]:5.1f} patients/min, {parallel[1]:5.1f} CPU-s "
                      f"[{_stages(parallel[2])}]: {ratios[-1]:.2f}x")
            print(f"  {engine} engine: parallel/serial {min(ratios):.2f}-{max(ratios):.2f}x over {len(ratios)} pairs")


if __name__ == "__main__":
    main()
