"""Benchmark: `hypoxia-markers batch` over the demo cohort, serial and with both cores (patients per minute).

Run: ``python benchmarks/batch_cohort.py [--patients 24] [--workers 2]``

Writes a synthetic cohort (the demo's, fewer patients by default), then times ``hypoxia-markers batch`` on it with
``--workers 1`` and ``--workers N`` (imaging, genes and cohort statistics; heterogeneity and report left out, so
the number is the per-patient analysis), each in a fresh output folder, with each Brix fit engine, and prints
patients per minute and the ratio. All runs are timed in this one run on this machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from HypoxiaMarkersLib.imaging.brix import ENGINE_VARIABLE  # noqa: E402
from HypoxiaMarkersLib.pipeline.demo_data import CohortSettings, write_cohort  # noqa: E402


def run_batch(manifest: Path, out: Path, workers: int, engine: str) -> float:
    env = dict(os.environ, **{ENGINE_VARIABLE: engine})
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import sys; from HypoxiaMarkersLib.cli import main; sys.exit(main())",
                    "batch", str(manifest), "--out", str(out),
                    "--workers", str(workers), "--no-heterogeneity", "--no-report", "--quiet",
                    "--permutations", "100"], check=True, cwd=str(ROOT), env=env, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=24, help="patients in the synthetic cohort")
    parser.add_argument("--workers", type=int, default=2, help="workers of the parallel run")
    args = parser.parse_args()
    print(f"`hypoxia-markers batch`, {args.patients} demo patients (heterogeneity and report left out):")
    with tempfile.TemporaryDirectory() as tmp:
        cohort = write_cohort(Path(tmp) / "cohort", CohortSettings(patients=args.patients))
        manifest = cohort / "manifest.csv"
        for engine in ("numpy", "numba"):
            serial = run_batch(manifest, Path(tmp) / f"serial-{engine}", 1, engine)
            parallel = run_batch(manifest, Path(tmp) / f"parallel-{engine}", args.workers, engine)
            print(f"  {engine} engine, --workers 1: {serial:6.1f} s, {60 * args.patients / serial:6.1f} "
                  f"patients/minute; --workers {args.workers}: {parallel:6.1f} s, "
                  f"{60 * args.patients / parallel:6.1f} patients/minute ({serial / parallel:.2f}x)")


if __name__ == "__main__":
    main()
