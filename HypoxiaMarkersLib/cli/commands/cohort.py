"""``hypoxia-markers cohort``: the whole statistics of a cohort table (markers, both-rule, composite, groups)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ... import CITATION
from ...errors import InputError
from ...io.outputs import atomic_output_dir, write_json
from ...progress import progress_bar
from ...report.km_figure import plot_composite_line, plot_kaplan_meier
from ...stats.cohort import analyse_cohort, parse_cutoff, parse_horizon, read_table, split_names
from ...stats.composite import ALTERNATIVES, hscomp
from ...stats.cutoff import STATISTICS
from ...stats.survival import TIME_UNITS_PER_MONTH, horizon_in_time_units, kaplan_meier
from .survival import annotation

ORDER = 50

PATIENT_COLUMNS = ["id", "included", "time", "event", "imaging", "genes", "imaging_high", "genes_high",
                   "both_high", "composite_high", "group", "group_name", "hscomp"]


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
    parser.add_argument("--covariates", default="", metavar="A,B",
                        help="clinical covariates (multivariate Cox; Kruskal-Wallis across groups if numeric)")
    parser.add_argument("--categorical", default="", metavar="A,B",
                        help="covariates to treat as categories even if coded as numbers (e.g. FIGO stage)")
    parser.add_argument("--imaging-cutoff", default="0.27", metavar="X|optimal",
                        help="hypoxic fraction >= X is more hypoxic")
    parser.add_argument("--gene-cutoff", default="0", metavar="X|optimal", help="gene score >= X is more hypoxic")
    parser.add_argument("--horizon", default="60", metavar="MONTHS|none",
                        help="censor follow-up beyond this many months")
    parser.add_argument("--time-unit", choices=sorted(TIME_UNITS_PER_MONTH), default="months",
                        help="unit of the time column")
    parser.add_argument("--min-prop", type=float, default=0.1,
                        help="minimum share of patients on each side of a searched cutoff or line")
    parser.add_argument("--permutations", type=int, default=1000,
                        help="permutations of the outcome (optimal cutoffs and the composite search)")
    parser.add_argument("--seed", type=int, default=0, help="seed of permutations and resampling")
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
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="output folder: results.json, patients.csv, KM figures, composite_line.png")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for option in ("permutations", "resamples"):
        if getattr(args, option) < 0:
            raise InputError(f"--{option} is negative", source=f"--{option}", expected="a number >= 0")
    table = read_table(args.table, sheet=args.sheet)
    horizon_months = parse_horizon(args.horizon)
    horizon = horizon_in_time_units(horizon_months, args.time_unit)
    with progress_bar("composite permutations", unit="perm", enabled=not args.quiet) as progress:
        result = analyse_cohort(
            table, id_col=args.id, time_col=args.time, event_col=args.event, imaging_col=args.imaging,
            genes_col=args.genes, covariates=split_names(args.covariates), categorical=split_names(args.categorical),
            imaging_cutoff=parse_cutoff(args.imaging_cutoff, "--imaging-cutoff"),
            gene_cutoff=parse_cutoff(args.gene_cutoff, "--gene-cutoff"), horizon_months=horizon_months,
            time_unit=args.time_unit, min_prop=args.min_prop, permutations=args.permutations, seed=args.seed,
            n_directions=args.directions, statistic=args.statistic, alternative=args.alternative,
            optimism=args.optimism,
            resamples=args.resamples, folds=args.folds, conf_level=args.conf_level, source=args.table,
            progress=progress,
        )
    result.parameters["table"] = str(Path(args.table))
    time_label = f"Time ({args.time_unit})"
    figures = {}
    with atomic_output_dir(Path(args.out)) as out:
        for name, marker in result.markers.items():
            value = marker.cutoff.value
            labels = {"high": "more hypoxic", "low": "less hypoxic"}
            if name in ("imaging", "genes"):
                labels = {"high": f"more hypoxic ({name} >= {value:g})", "low": f"less hypoxic ({name} < {value:g})"}
            figure = f"km_{name}.png"
            plot_kaplan_meier({labels[g]: km for g, km in marker.km.items()}, out / figure,
                              title=f"{name}", time_label=time_label, horizon=horizon, annotation=annotation(marker))
            figures[name] = figure
        patients = result.patients
        included = patients[patients["included"]]
        group = included["group"].to_numpy(dtype=int)
        curves = {f"group {g}": kaplan_meier(included["time"].to_numpy()[group == g],
                                             included["event"].to_numpy(dtype=int)[group == g])
                  for g in (1, 2, 3, 4) if (group == g).any()}
        plot_kaplan_meier(curves, out / "km_groups.png", title="groups 1-4", time_label=time_label, horizon=horizon)
        figures["groups"] = "km_groups.png"
        line = result.line
        x = included["imaging"].to_numpy()
        y = included["genes"].to_numpy()
        plot_composite_line(x, y, hscomp(x, y, line["x0"], line["y0"]) >= 0, line["x0"], line["y0"],
                            out / "composite_line.png", imaging_cutoff=result.markers["imaging"].cutoff.value,
                            gene_cutoff=result.markers["genes"].cutoff.value,
                            events=included["event"].to_numpy(dtype=int) == 1)
        figures["composite_line"] = "composite_line.png"
        results = result.to_dict()
        results["figures"] = figures
        write_json(results, out / "results.json")
        patients[PATIENT_COLUMNS].to_csv(out / "patients.csv", index=False)
    comp = result.markers["composite"]
    p_permutation = line.get("p_permutation")
    p_text = "not computed" if p_permutation is None else f"{p_permutation:.3g}"
    print(f"cohort: n={int(patients['included'].sum())}, excluded={len(result.excluded)}; composite line "
          f"x0={line['x0']:.3g}, y0={line['y0']:.3g}, {annotation(comp)}, permutation p = {p_text}; "
          f"results in {args.out}")
    return 0
