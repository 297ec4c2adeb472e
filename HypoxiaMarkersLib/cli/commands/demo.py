"""``hypoxia-markers demo``: a synthetic cohort through the whole pipeline to a report."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

ORDER = 5


def register(subparsers) -> None:
    from .batch import add_batch_options

    parser = subparsers.add_parser(
        "demo",
        help="generate a synthetic cohort and run the whole pipeline on it, up to the report",
        description=(
            "Generate a synthetic cohort with known truth (DCE-MRI phantoms, expression of one to three biopsies "
            "per tumour, progression-free survival drawn from a model in which hypoxia by both markers raises the "
            "hazard) in OUT/data, run `batch` on it into OUT/results and write the report. Shape as in the "
            "method's cohort: about a third more hypoxic by each marker, about three quarters concordant."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--patients", type=int, default=118, help="number of patients")
    parser.add_argument("--hr-both", type=float, default=4.8,
                        help="true hazard ratio of tumours more hypoxic by both markers")
    add_batch_options(parser)
    parser.set_defaults(func=run, workers=2, covariates="figo_stage,lymph_node,tumour_volume_ml",
                        categorical="figo_stage")


def run(args: argparse.Namespace) -> int:
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    from ...errors import InputError
    from ...pipeline.demo_data import CohortSettings, write_cohort
    from .batch import run_with_progress, settings_from

    if args.patients < 20:
        raise InputError("a cohort needs at least 20 patients for the statistics", source="--patients",
                         expected="an integer >= 20")
    start = time.perf_counter()
    data = args.out / "data"
    cohort = CohortSettings(patients=args.patients, seed=args.seed, hr_both=args.hr_both)
    bar = tqdm(desc="synthetic patients", unit="patient", disable=args.quiet, total=args.patients)

    def progress(done, total):
        bar.update(1)

    try:
        if args.workers > 1:
            with ProcessPoolExecutor(max_workers=args.workers) as pool:
                write_cohort(data, cohort, map_function=pool.map, progress=progress)
        else:
            write_cohort(data, cohort, progress=progress)
    finally:
        bar.close()

    settings = settings_from(args)
    if settings.signature is None:
        settings.signature = str(data / "reference_signature.json")
    results = args.out / "results"
    record = run_with_progress(data / "manifest.csv", results, settings, args.quiet)
    c = record["counts"]
    print(f"demo: {c['patients']} synthetic patients, {c['in_cohort_table']} analysed, {c['failures']} failure(s), "
          f"{time.perf_counter() - start:.0f} s")
    for stage, status in record["stages"].items():
        print(f"  {stage}: {status}")
    report = results / "report" / "index.html"
    if report.is_file():
        print(f"report: {report}")
    else:
        print(f"results: {results} (no report written)")
    return 0
