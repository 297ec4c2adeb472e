"""``hypoxia-markers cohort``: the whole statistics of a cohort table (markers, both-rule, composite, groups)."""

from __future__ import annotations

import argparse

from ... import CITATION
from ..options import (
    ALTERNATIVES,
    STATISTICS,
    add_covariates,
    add_horizon,
    add_imaging_and_gene_cutoffs,
    add_out_dir,
    add_permutations,
    add_quiet,
    add_seed,
    add_survival_reporting,
    add_time_unit,
    parse_cutoff,
    parse_horizon,
    split_names,
)

ORDER = 50


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cohort",
        help="cohort statistics: imaging and gene markers, both-rule, composite score HScomp, groups 1-4",
        description=(
            "The whole cohort analysis: survival by the imaging value (hypoxic fraction), the gene score, the "
            "'both' rule and the composite score HScomp (separating line searched for the strongest association "
            "with PFS, with a permutation p-value that reruns the search and an optimism-corrected HR); groups "
            "1-4 with the 2x2 table, concordance, Fisher's test, correlations and Kruskal-Wallis tests. "
            f"Method: {CITATION}"
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("table", metavar="TABLE", help="cohort table (CSV, TSV or Excel), one row per patient")
    parser.add_argument("--id", required=True, metavar="COL", help="patient id column")
    parser.add_argument("--time", required=True, metavar="COL", help="PFS time column")
    parser.add_argument("--event", required=True, metavar="COL", help="PFS event column: 1 = event, 0 = censored")
    parser.add_argument("--imaging", required=True, metavar="COL", help="imaging value column (hypoxic fraction)")
    parser.add_argument("--genes", required=True, metavar="COL", help="gene score column")
    add_covariates(parser)
    add_imaging_and_gene_cutoffs(parser)
    add_horizon(parser)
    add_time_unit(parser)
    add_survival_reporting(parser)
    parser.add_argument("--min-prop", type=float, default=0.1,
                        help="minimum share of patients on each side of a searched cutoff or line, in (0, 0.5)")
    add_permutations(parser)
    add_seed(parser)
    parser.add_argument("--directions", type=int, default=90,
                        help="composite search: number of line directions (every cut along each is tried)")
    parser.add_argument("--statistic", choices=STATISTICS, default="logrank",
                        help="composite search: statistic ranking the lines")
    parser.add_argument("--alternative", choices=ALTERNATIVES, default="greater",
                        help="composite search: 'greater' looks for the line whose more hypoxic side does worse "
                             "(the direction hypoxia acts in); 'two-sided' for the strongest association either way")
    parser.add_argument("--optimism", choices=("bootstrap", "cv", "none"), default="bootstrap",
                        help="composite HR corrected for the search's optimism")
    parser.add_argument("--resamples", type=int, default=200,
                        help="bootstrap resamples (or cross-validation repeats) of the optimism correction")
    parser.add_argument("--folds", type=int, default=5, help="folds of --optimism cv")
    parser.add_argument("--conf-level", type=float, default=0.95, help="confidence level of HRs and KM bands")
    parser.add_argument("--sheet", default=None, help="Excel sheet (default: the first)")
    extra = parser.add_argument_group(
        "why imaging and genes disagree, tumour-cell fraction, training/validation (optional columns; by default "
        "the usual names tumour_volume_ml, biopsy_slice_hf, n_biopsies, tumour_cell_fraction or "
        "tumor_cell_fraction are used when the table has them, and the analysis is skipped, saying so, when not)")
    extra.add_argument("--tumour-volume", metavar="COL", default=None, help="tumour volume column (volume by group)")
    extra.add_argument("--biopsy-slice-hf", metavar="COL", default=None,
                       help="hypoxic fraction of the biopsy slice (imaging from the biopsy slice instead of the "
                            "whole tumour)")
    extra.add_argument("--n-biopsies", metavar="COL", default=None,
                       help="number of biopsies behind the gene score (same/different status by it)")
    extra.add_argument("--tumour-cell-fraction", metavar="COL", default=None,
                       help="tumour-cell fraction of the biopsies (gene score against it)")
    extra.add_argument("--validation-column", metavar="COL", default=None,
                       help="column marking validation patients (1/true/yes/validation) against training patients "
                            "(0/false/no/training), e.g. those not used to build the gene signature: the "
                            "imaging-gene correlation, concordance and Fisher's test for all, training and "
                            "validation patients")
    extra.add_argument("--validation-table", metavar="FILE", default=None,
                       help="table (CSV, TSV or Excel) with the --id column and the --validation-column, when the mark "
                            "is not in the cohort table (e.g. the patients the gene signature was built on)")
    add_out_dir(parser, "output folder: results.json, patients.csv, KM figures, composite_line.png", metavar="DIR")
    add_quiet(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ...pipeline.cohort import CohortAnalysisSettings, run_cohort
    from ...pipeline.survival import annotation, time_unit_text
    from ...progress import progress_bar
    from ..console import print_warnings

    settings = CohortAnalysisSettings(
        id=args.id, time=args.time, event=args.event, imaging=args.imaging, genes=args.genes,
        covariates=split_names(args.covariates), categorical=split_names(args.categorical),
        imaging_cutoff=parse_cutoff(args.imaging_cutoff, "--imaging-cutoff"),
        gene_cutoff=parse_cutoff(args.gene_cutoff, "--gene-cutoff"), horizon_months=parse_horizon(args.horizon),
        time_unit=args.time_unit, min_prop=args.min_prop,
        permutations=args.permutations, seed=args.seed, directions=args.directions,
        statistic=args.statistic, alternative=args.alternative, optimism=args.optimism,
        resamples=args.resamples, folds=args.folds, conf_level=args.conf_level,
        sheet=args.sheet, allow_horizon_censoring=args.allow_horizon_censoring, endpoint_label=args.endpoint_label,
        tumour_volume=args.tumour_volume, biopsy_slice_hf=args.biopsy_slice_hf, n_biopsies=args.n_biopsies,
        cell_fraction=args.tumour_cell_fraction, validation=args.validation_column,
        validation_table=args.validation_table,
    )
    with progress_bar("composite permutations", unit="perm", enabled=not args.quiet) as progress:
        output = run_cohort(args.table, args.out, settings, progress=progress, force=args.force)
    result = output.result
    patients = result.patients
    line = result.line
    comp = result.markers["composite"]
    horizon = result.parameters.get("horizon_in_time_unit")
    print(f"{time_unit_text(args.time_unit, horizon)}; cohort: n={int(patients['included'].sum())}, "
          f"excluded={len(result.excluded)}; composite line "
          f"x0={line['x0']:.3g}, y0={line['y0']:.3g}, {annotation(comp)}; results in {args.out}")
    print_warnings("cohort", result.warnings)
    return 0
