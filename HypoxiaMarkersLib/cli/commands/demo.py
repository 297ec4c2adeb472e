"""``hypoxia-markers demo``: a synthetic cohort through the whole pipeline to a report."""

from __future__ import annotations

import argparse
import sys
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
    from tqdm import tqdm

    from ...pipeline.demo import run_demo
    from ...pipeline.demo_data import CohortSettings
    from .batch import PatientBar, report_stages, settings_from

    start = time.perf_counter()
    settings = settings_from(args)
    cohort = CohortSettings(patients=args.patients, seed=args.seed, hr_both=args.hr_both)
    patients = PatientBar(args.quiet)
    # a bar on a terminal only: on a pipe, carriage-return bars would glue into one line
    writing = tqdm(desc="synthetic patients", unit="patient", total=args.patients, file=sys.stderr,
                   disable=args.quiet or not patients.interactive)

    def written(done, total):
        writing.update(1)
        if done == total:
            writing.close()

    try:
        with patients.warnings_on_own_lines():
            demo = run_demo(args.out, cohort, settings, patient_progress=written, batch_progress=patients,
                            log=patients.log)
    finally:
        writing.close()
        patients.close()
    c = demo.record["counts"]
    if not args.quiet:
        print(f"demo: {c['patients']} synthetic patients, {c['in_cohort_table']} analysed, {c['failures']} "
              f"failure(s), {time.perf_counter() - start:.0f} s")
    status = report_stages(demo.record, quiet=args.quiet, indent="  ")
    if not args.quiet:
        if demo.report is not None:
            print(f"report: {demo.report}")
        else:
            print(f"results: {demo.results} (no report written)")
    return status
