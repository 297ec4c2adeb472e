"""``hypoxia-markers batch``: the whole pipeline for a cohort listed in a manifest."""

from __future__ import annotations

import argparse
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

from ...errors import InputError
from ..options import (
    REFERENCE_MODES,
    add_a_threshold,
    add_biopsy_slice,
    add_covariates,
    add_hf_cutoff,
    add_horizon,
    add_imaging_and_gene_cutoffs,
    add_injection_duration,
    add_map_format,
    add_permutations,
    add_quiet,
    add_seed,
    add_time_unit,
    parse_cutoff,
    parse_horizon,
    split_names,
)

ORDER = 70


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "batch",
        help="run imaging, genes, cohort statistics, heterogeneity and the report for a cohort manifest",
        description=(
            "Run `image` for every patient of MANIFEST (reusing a patient's result only when its input files and "
            "settings are unchanged, so an interrupted run resumes; --force refits everyone), score the genes, "
            "build the cohort table and run `cohort`, `heterogeneity` and the report. One patient's bad input goes "
            "into failures.csv and does not stop the others; a stage that fails makes the exit status 1. "
            "Manifest columns: patient, dce, mask, pfs_time, pfs_event (required); label, segment, times, "
            "frame_interval, baseline_frames; expression + samples (';'-separated sample IDs) or gene_score; "
            "any other column is a clinical covariate."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("manifest", type=Path, metavar="MANIFEST", help="CSV with one row per patient")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--dicom-out", type=Path, default=None, metavar="DIR",
                        help="also write each patient's maps and segmentation as DICOM into DIR/<patient> (as "
                             "`image --dicom-out`; a series that is not DICOM is filed under the manifest's patient "
                             "ID; needs Python 3.10+ and pip install \"HypoxiaMarkersLib[dicom]\")")
    add_batch_options(parser)
    parser.set_defaults(func=run)


def add_batch_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``batch`` and ``demo``."""
    scale = parser.add_argument_group("scale")
    scale.add_argument("--workers", type=int, default=1, help="patients analysed in parallel on this machine")
    scale.add_argument("--dask-scheduler", default=None, metavar="ADDRESS",
                       help="run the patients on an existing Dask distributed cluster (e.g. tcp://host:8786)")
    scale.add_argument("--force", action="store_true",
                       help="refit patients already done; write into an output folder that holds other files "
                            "(files of the batch's own names in it are replaced)")
    imaging = parser.add_argument_group("imaging (as in `image`)")
    add_a_threshold(imaging)
    add_hf_cutoff(imaging)
    add_biopsy_slice(imaging)
    add_injection_duration(imaging)
    add_map_format(imaging)
    imaging.add_argument("--min-r2", type=float, default=None, metavar="R",
                         help="leave fitted voxels with R² below R out of the hypoxic fraction (a sensitivity check, "
                              "as in `image`; default: keep every fit)")
    imaging.add_argument("--exclude-bound-fits", action="store_true",
                         help="leave voxels whose fit ended on a parameter bound out of the hypoxic fraction")
    genes = parser.add_argument_group("genes (as in `genes`)")
    genes.add_argument("--signature", default=None, help="signature file (with stored reference values, if any)")
    genes.add_argument("--gene-reference", choices=REFERENCE_MODES, default="auto")
    cohort = parser.add_argument_group("cohort statistics (as in `cohort`)")
    add_covariates(cohort)
    add_imaging_and_gene_cutoffs(cohort)
    add_permutations(cohort)
    add_horizon(cohort)
    add_time_unit(cohort)
    cohort.add_argument("--validation-column", metavar="COL", default=None,
                        help="manifest (or --validation-table) column marking validation patients (1/true/yes/"
                             "validation) against training patients (0/false/no/training): the imaging-gene "
                             "association for all, training and validation patients")
    cohort.add_argument("--validation-table", metavar="FILE", default=None,
                        help="table with a 'patient' column and the --validation-column, when the mark is not in "
                             "the manifest")
    add_seed(parser)
    parser.add_argument("--no-heterogeneity", action="store_true", help="skip the heterogeneity analysis")
    parser.add_argument("--no-report", action="store_true", help="skip the report")
    add_quiet(parser)


def settings_from(args: argparse.Namespace):
    """The :class:`~HypoxiaMarkersLib.pipeline.batch.BatchSettings` of the parsed options."""
    from ...pipeline.batch import BatchImaging, BatchSettings

    if args.workers < 1:
        raise InputError("at least one worker is needed", source="--workers", expected="an integer >= 1")
    return BatchSettings(
        workers=args.workers, dask_scheduler=args.dask_scheduler, force=args.force,
        imaging=BatchImaging(a_threshold=args.a_threshold, hf_cutoff=args.hf_cutoff, biopsy_slice=args.biopsy_slice,
                             injection_duration_s=args.injection_duration, min_r2=args.min_r2,
                             exclude_bound_fits=args.exclude_bound_fits),
        signature=args.signature, gene_reference=args.gene_reference, covariates=split_names(args.covariates),
        categorical=split_names(args.categorical),
        imaging_cutoff=parse_cutoff(args.imaging_cutoff, "--imaging-cutoff"),
        gene_cutoff=parse_cutoff(args.gene_cutoff, "--gene-cutoff"), permutations=args.permutations,
        seed=args.seed, horizon=parse_horizon(args.horizon), time_unit=args.time_unit,
        heterogeneity=not args.no_heterogeneity, report=not args.no_report, map_format=args.format,
        dicom_out=getattr(args, "dicom_out", None),
        validation_column=args.validation_column, validation_table=args.validation_table,
    )


class PatientBar:
    """The batch's ``progress`` and ``log`` on the command line.

    On a terminal: a progress bar showing each patient's status as it finishes (it appears with the first patient
    or message), messages and warnings written above it on their own lines. On a pipe or file (not a terminal): no
    bar and no carriage returns, one line per finished patient. With ``quiet``: nothing but errors (a patient that
    failed, a stage that failed), on stderr.
    """

    def __init__(self, quiet: bool, *, stream=None):
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.counts = {"done": 0, "skipped": 0, "failed": 0}
        self._bar = None

    @property
    def interactive(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    @property
    def bar(self):
        if self._bar is None and not self.quiet and self.interactive:
            from tqdm import tqdm

            self._bar = tqdm(desc="patients", unit="patient", leave=True, file=self.stream)
        return self._bar

    def __call__(self, done, total, outcome) -> None:
        self.counts[outcome.status] += 1
        status = outcome.status + (f" (refitted: {outcome.refit_reason})" if outcome.refit_reason and
                                   outcome.refit_reason != "--force" else "")
        if outcome.status == "failed":
            self.error(f"{outcome.patient}: failed: {outcome.error}")
        if self.quiet:
            return
        for message in outcome.warnings:
            self.write(f"{outcome.patient}: warning: {message}")
        bar = self.bar
        if bar is None:
            if outcome.status != "failed":
                self.write(f"[{done}/{total}] {outcome.patient} {status}")
            return
        bar.total = total
        bar.set_postfix_str(f"{outcome.patient} {outcome.status}; " +
                            ", ".join(f"{k} {v}" for k, v in self.counts.items()))
        bar.update(1)
        if outcome.refit_reason and outcome.refit_reason != "--force" and outcome.status != "failed":
            self.write(f"{outcome.patient}: {status}")

    def write(self, message: str) -> None:
        """A line of its own (above the bar on a terminal)."""
        if self._bar is not None:
            self._bar.write(message, file=self.stream)
        else:
            print(message, file=self.stream, flush=True)

    def error(self, message: str) -> None:
        """Printed even with ``quiet``."""
        self.write(message)

    def log(self, message: str) -> None:
        """The stages' messages: those saying a stage was not done are errors, the others progress."""
        if "not done" in message:
            self.error(message)
        elif not self.quiet:
            self.write(message)

    @contextmanager
    def warnings_on_own_lines(self):
        """Python warnings during the run as lines of their own (none with ``quiet``)."""
        def show(message, category, filename, lineno, file=None, line=None):
            if not self.quiet:
                self.write(f"warning: {message}")

        with warnings.catch_warnings():
            warnings.showwarning = show
            yield

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def report_stages(record: dict, *, quiet: bool, indent: str = "") -> int:
    """Print the stages' status (not with ``quiet``) and which failed (on stderr, also with ``quiet``: the reasons
    were printed as the stages failed); 1 when a stage failed."""
    failed = record.get("failed_stages") or []
    if not quiet:
        for stage, status in record["stages"].items():
            print(f"{indent}{stage}: {status}")
    if failed:
        print(f"{indent}failed stage(s): {', '.join(failed)} (see batch.json)", file=sys.stderr)
        return 1
    return 0


def run(args: argparse.Namespace) -> int:
    from ...pipeline.batch import run_batch

    settings = settings_from(args)
    bar = PatientBar(args.quiet)
    try:
        with bar.warnings_on_own_lines():
            record = run_batch(args.manifest, args.out, settings, progress=bar, log=bar.log)
    finally:
        bar.close()
    c = record["counts"]
    if not args.quiet:
        print(f"{c['patients']} patients: imaging {c['imaging_done']} done, {c['imaging_skipped']} already done, "
              f"{c['imaging_failed']} failed; {c['in_cohort_table']} in the cohort table; "
              f"{c['failures']} failure(s) listed in {Path(args.out) / 'failures.csv'}")
        refit = record.get("refit", {})
        changed = {p: r for p, r in refit.items() if r != "--force"}
        if changed:
            print(f"refitted {len(changed)} patient(s) whose inputs or settings changed (batch.json 'refit'): " +
                  "; ".join(f"{p}: {r}" for p, r in list(changed.items())[:10]) +
                  (" ..." if len(changed) > 10 else ""))
    return report_stages(record, quiet=args.quiet)
