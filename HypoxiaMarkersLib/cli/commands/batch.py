"""``hypoxia-markers batch``: the whole pipeline for a cohort listed in a manifest."""

from __future__ import annotations

import argparse
from pathlib import Path

ORDER = 70


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "batch",
        help="run imaging, genes, cohort statistics, heterogeneity and the report for a cohort manifest",
        description=(
            "Run `image` for every patient of MANIFEST (skipping patients already done unless --force, so an "
            "interrupted run resumes), score the genes, build the cohort table and run `cohort`, `heterogeneity` "
            "and the report. One patient's bad input goes into failures.csv and does not stop the others. "
            "Manifest columns: patient, dce, mask, pfs_time, pfs_event (required); label, segment, times, "
            "frame_interval, baseline_frames; expression + samples (';'-separated sample IDs) or gene_score; "
            "any other column is a clinical covariate."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("manifest", type=Path, metavar="MANIFEST", help="CSV with one row per patient")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    add_batch_options(parser)
    parser.set_defaults(func=run)


def add_batch_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``batch`` and ``demo``."""
    scale = parser.add_argument_group("scale")
    scale.add_argument("--workers", type=int, default=1, help="patients analysed in parallel on this machine")
    scale.add_argument("--dask-scheduler", default=None, metavar="ADDRESS",
                       help="run the patients on an existing Dask distributed cluster (e.g. tcp://host:8786)")
    scale.add_argument("--force", action="store_true", help="refit patients already done")
    imaging = parser.add_argument_group("imaging (as in `image`)")
    imaging.add_argument("--a-threshold", type=float, default=1.56)
    imaging.add_argument("--hf-cutoff", type=float, default=0.27)
    imaging.add_argument("--biopsy-slice", type=int, default=1)
    imaging.add_argument("--injection-duration", type=float, default=0.0)
    genes = parser.add_argument_group("genes (as in `genes`)")
    genes.add_argument("--signature", default=None, help="signature file (with stored reference values, if any)")
    genes.add_argument("--gene-reference", choices=("auto", "stored", "cohort"), default="auto")
    cohort = parser.add_argument_group("cohort statistics (as in `cohort`)")
    cohort.add_argument("--covariates", default="", metavar="A,B", help="clinical covariates for multivariate Cox")
    cohort.add_argument("--categorical", default="", metavar="A,B", help="covariates to treat as categories")
    cohort.add_argument("--imaging-cutoff", default="0.27", metavar="X|optimal")
    cohort.add_argument("--gene-cutoff", default="0", metavar="X|optimal")
    cohort.add_argument("--permutations", type=int, default=1000)
    cohort.add_argument("--horizon", default="60", metavar="MONTHS|none")
    cohort.add_argument("--time-unit", default="months", choices=("days", "months", "years"))
    parser.add_argument("--seed", type=int, default=0, help="seed of permutations, resampling, virtual biopsies")
    parser.add_argument("--no-heterogeneity", action="store_true", help="skip the heterogeneity analysis")
    parser.add_argument("--no-report", action="store_true", help="skip the report")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def settings_from(args: argparse.Namespace):
    from ...errors import InputError
    from ...pipeline.batch import BatchSettings
    from ...stats.cohort import split_names as names

    if args.workers < 1:
        raise InputError("at least one worker is needed", source="--workers", expected="an integer >= 1")

    return BatchSettings(
        workers=args.workers, dask_scheduler=args.dask_scheduler, force=args.force,
        imaging={"a_threshold": args.a_threshold, "hf_cutoff": args.hf_cutoff, "biopsy_slice": args.biopsy_slice,
                 "injection_duration_s": args.injection_duration},
        signature=args.signature, gene_reference=args.gene_reference, covariates=names(args.covariates),
        categorical=names(args.categorical), imaging_cutoff=args.imaging_cutoff, gene_cutoff=args.gene_cutoff,
        permutations=args.permutations, seed=args.seed, horizon=args.horizon, time_unit=args.time_unit,
        heterogeneity=not args.no_heterogeneity, report=not args.no_report,
    )


def run_with_progress(manifest: Path, out: Path, settings, quiet: bool) -> dict:
    """Run the batch with a progress bar that shows each patient's status as it finishes."""
    from tqdm import tqdm

    from ...pipeline.batch import run_batch

    counts = {"done": 0, "skipped": 0, "failed": 0}
    bar = tqdm(desc="patients", unit="patient", disable=quiet, leave=True)

    def progress(done, total, outcome):
        bar.total = total
        counts[outcome.status] += 1
        bar.set_postfix_str(f"{outcome.patient} {outcome.status}; " +
                            ", ".join(f"{k} {v}" for k, v in counts.items()))
        bar.update(1)
        if outcome.status == "failed":
            bar.write(f"{outcome.patient}: failed: {outcome.error}")

    try:
        return run_batch(manifest, out, settings, progress=progress, log=bar.write)
    finally:
        bar.close()


def run(args: argparse.Namespace) -> int:
    record = run_with_progress(args.manifest, args.out, settings_from(args), args.quiet)
    c = record["counts"]
    print(f"{c['patients']} patients: imaging {c['imaging_done']} done, {c['imaging_skipped']} already done, "
          f"{c['imaging_failed']} failed; {c['in_cohort_table']} in the cohort table; "
          f"{c['failures']} failure(s) listed in {Path(args.out) / 'failures.csv'}")
    for stage, status in record["stages"].items():
        print(f"{stage}: {status}")
    return 0
