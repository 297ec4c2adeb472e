"""``hypoxia-markers survival``: survival analysis of any one marker of a cohort table."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from ... import CITATION, __version__
from ...errors import InputError
from ...io.outputs import atomic_output_dir, write_json
from ...progress import progress_bar
from ...report.km_figure import plot_kaplan_meier
from ...stats.cohort import analyse_marker, parse_cutoff, parse_horizon, read_table, split_names
from ...stats.survival import TIME_UNITS_PER_MONTH, horizon_in_time_units

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
    parser.add_argument("--cutoff", default="optimal", metavar="X|optimal",
                        help="value >= X is 'high'; 'optimal' selects it (maximally selected log-rank statistic)")
    parser.add_argument("--min-prop", type=float, default=0.1,
                        help="optimal cutoff: minimum share of patients in the low group (maxstat minprop)")
    parser.add_argument("--max-prop", type=float, default=None,
                        help="optimal cutoff: maximum share in the low group (default 1 - min-prop)")
    parser.add_argument("--permutations", type=int, default=1000,
                        help="permutations for the optimal cutoff's permutation p-value (0: none)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the permutations")
    parser.add_argument("--horizon", default="60", metavar="MONTHS|none",
                        help="censor follow-up beyond this many months")
    parser.add_argument("--time-unit", choices=sorted(TIME_UNITS_PER_MONTH), default="months",
                        help="unit of the time column")
    parser.add_argument("--covariates", default="", metavar="A,B",
                        help="clinical covariates for a multivariate Cox model with the marker")
    parser.add_argument("--categorical", default="", metavar="A,B",
                        help="covariates to treat as categories even if coded as numbers")
    parser.add_argument("--conf-level", type=float, default=0.95, help="confidence level of HRs and KM bands")
    parser.add_argument("--sheet", default=None, help="Excel sheet (default: the first)")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="output folder: results.json, km.png, km.csv")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def km_table(result) -> pd.DataFrame:
    """The Kaplan-Meier estimates of each group as one long table."""
    frames = []
    for group, km in result.km.items():
        frames.append(pd.DataFrame({
            "group": group, "time": km.time, "n_risk": km.n_risk, "n_event": km.n_event, "n_censor": km.n_censor,
            "survival": km.survival, "std_err": km.std_err, "ci_low": km.ci_low, "ci_high": km.ci_high,
        }))
    return pd.concat(frames, ignore_index=True)


def annotation(result) -> str:
    cox = result.cox_dichotomous.coefficient(f"{result.name}_high")
    return (f"HR {cox['hr']:.2f} ({cox['ci_low']:.2f}-{cox['ci_high']:.2f}), "
            f"log-rank p = {result.logrank.p:.2g}")


def run(args: argparse.Namespace) -> int:
    if args.permutations < 0:
        raise InputError("the number of permutations is negative", source="--permutations", expected="N >= 0")
    cutoff = parse_cutoff(args.cutoff, "--cutoff")
    horizon_months = parse_horizon(args.horizon)
    horizon = horizon_in_time_units(horizon_months, args.time_unit)
    table = read_table(args.table, sheet=args.sheet)
    for option, column in (("--time", args.time), ("--event", args.event), ("--marker", args.marker)):
        if column not in table.columns:
            raise InputError(f"column {column!r} not found", source=args.table, field=option,
                             expected="one of " + ", ".join(map(str, table.columns)))
    covariates = split_names(args.covariates)
    categorical = split_names(args.categorical)
    cov_frame = None
    if covariates:
        missing = [c for c in covariates if c not in table.columns]
        if missing:
            raise InputError(f"covariate column(s) {', '.join(missing)} not found", source=args.table,
                             field="--covariates", expected="one of " + ", ".join(map(str, table.columns)))
        cov_frame = table[covariates]
    with progress_bar("permutations", unit="perm", enabled=not args.quiet) as progress:
        result = analyse_marker(
            table[args.time], table[args.event], table[args.marker], cutoff=cutoff, name=args.marker,
            horizon=horizon, min_prop=args.min_prop, max_prop=args.max_prop, permutations=args.permutations,
            seed=args.seed, covariates=cov_frame, categorical=categorical, conf_level=args.conf_level,
            source=args.table, progress=progress,
        )
    parameters = {
        "table": str(Path(args.table)), "time": args.time, "event": args.event, "marker": args.marker,
        "cutoff": cutoff, "min_prop": args.min_prop,
        "max_prop": args.max_prop if args.max_prop is not None else 1.0 - args.min_prop,
        "permutations": args.permutations, "seed": args.seed, "horizon_months": horizon_months,
        "time_unit": args.time_unit, "horizon_in_time_unit": horizon, "covariates": covariates,
        "categorical": categorical, "conf_level": args.conf_level, "high_rule": "marker >= cutoff",
        "km_conf_type": "log (Greenwood), as R survfit",
    }
    with atomic_output_dir(Path(args.out)) as out:
        results = {"version": __version__, "parameters": parameters, **result.to_dict(),
                   "figures": {"kaplan_meier": "km.png"}}
        write_json(results, out / "results.json")
        km_table(result).to_csv(out / "km.csv", index=False)
        label = {"high": f"{args.marker} >= {result.cutoff.value:g}", "low": f"{args.marker} < {result.cutoff.value:g}"}
        plot_kaplan_meier({label[g]: km for g, km in result.km.items()}, out / "km.png",
                          title=f"{args.marker}: cutoff {result.cutoff.value:g} ({result.cutoff.method})",
                          time_label=f"Time ({args.time_unit})", horizon=horizon, annotation=annotation(result))
    print(f"{args.marker}: n={result.n}, events={result.events}, cutoff {result.cutoff.value:g} "
          f"({result.cutoff.method}), {annotation(result)}; results in {args.out}")
    return 0
