"""``hypoxia-markers survival``: survival analysis of any one marker of a cohort table."""

from __future__ import annotations

import argparse

from ... import CITATION
from ..options import (
    OPTIMAL,
    add_covariates,
    add_cutoff,
    add_horizon,
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

ORDER = 40


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "survival",
        help="Kaplan-Meier, log-rank, Cox and the optimal cutoff (with honest p-values) of one marker",
        description=(
            "Survival analysis of one marker of a cohort table: Cox proportional hazards for the continuous "
            "marker and dichotomised at a cutoff (value >= cutoff is 'high'), log-rank test, Kaplan-Meier curves "
            "with numbers at risk, survival at the horizon, and a proportional-hazards check. With --cutoff "
            "optimal the cutoff maximises the standardized log-rank statistic (R maxstat) and the p-value is "
            "adjusted for that selection (Lausen-Schumacher 1992/1994, permutation). "
            f"Method: {CITATION}"
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("table", metavar="TABLE", help="cohort table (CSV, TSV or Excel), one row per patient")
    parser.add_argument("--time", required=True, metavar="COL", help="follow-up time column (PFS)")
    parser.add_argument("--event", required=True, metavar="COL", help="event column: 1 = event, 0 = censored")
    parser.add_argument("--marker", required=True, metavar="COL", help="marker column (numeric)")
    add_cutoff(parser, "--cutoff", OPTIMAL, "the marker")
    parser.add_argument("--min-prop", type=float, default=0.1,
                        help="optimal cutoff: minimum share of patients in the low group, in (0, 0.5) "
                             "(maxstat minprop)")
    parser.add_argument("--max-prop", type=float, default=None,
                        help="optimal cutoff: maximum share in the low group (default 1 - min-prop)")
    add_permutations(parser)
    add_seed(parser)
    add_horizon(parser)
    add_time_unit(parser)
    add_survival_reporting(parser)
    add_covariates(parser)
    parser.add_argument("--conf-level", type=float, default=0.95, help="confidence level of HRs and KM bands")
    parser.add_argument("--sheet", default=None, help="Excel sheet (default: the first)")
    add_out_dir(parser, "output folder: results.json, km.png, km.csv", metavar="DIR")
    add_quiet(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ...pipeline.survival import SurvivalSettings, annotation, run_survival, time_unit_text
    from ...progress import progress_bar
    from ..console import print_warnings

    settings = SurvivalSettings(
        time=args.time, event=args.event, marker=args.marker, cutoff=parse_cutoff(args.cutoff, "--cutoff"),
        min_prop=args.min_prop, max_prop=args.max_prop,
        permutations=args.permutations, seed=args.seed,
        horizon_months=parse_horizon(args.horizon), time_unit=args.time_unit,
        covariates=split_names(args.covariates), categorical=split_names(args.categorical),
        conf_level=args.conf_level, sheet=args.sheet,
        allow_horizon_censoring=args.allow_horizon_censoring, endpoint_label=args.endpoint_label,
    )
    with progress_bar("permutations", unit="perm", enabled=not args.quiet) as progress:
        output = run_survival(args.table, args.out, settings, progress=progress, force=args.force)
    result = output.result
    print(f"{time_unit_text(args.time_unit, output.horizon)}; "
          f"{args.marker}: n={result.n}, events={result.events}, cutoff {result.cutoff.value:g} "
          f"({result.cutoff.method}), {annotation(result)}; results in {args.out}")
    print_warnings("survival", result.warnings)
    return 0
