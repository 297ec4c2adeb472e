"""The Survival section of the report: hazard ratios, cutoffs and adjusted p-values, groups 1–4, Kaplan–Meier
curves and the composite line, all read from ``cohort/``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple

import numpy as np
import pandas as pd

from .batch_folder import is_finite_number as _finite
from .context import MARKER_TITLES, MARKERS, Context, bool_column, stage_note
from .cutoff_figures import cutoff_and_forest_figures
from .formats import (
    DASH,
    figure_annotation,
    fmt_ci,
    fmt_frac,
    fmt_hr,
    fmt_hr_reason,
    fmt_int,
    fmt_num,
    fmt_p,
    hr_text,
    p_text,
)

if TYPE_CHECKING:
    from .page import Page


def _survival_data(ctx: Context) -> Optional[Dict[str, Any]]:
    cohort, patients = ctx.batch.cohort, ctx.batch.cohort_patients
    if cohort is None or patients is None:
        return None
    included = patients[bool_column(patients["included"])].reset_index(drop=True)
    params = cohort.get("parameters", {})
    return {
        "patients": included,
        "time": included["time"].to_numpy(dtype=float),
        "event": included["event"].to_numpy(dtype=float).astype(int),
        "horizon": params.get("horizon_in_time_unit"),
        "horizon_months": params.get("horizon_months"),
        "time_unit": params.get("time_unit", "months"),
        "conf_level": float(params.get("conf_level", 0.95)),
        "params": params,
    }


def _km_caption(entry: dict, labels: Tuple[str, str], data: Dict[str, Any], ctx: Context) -> str:
    cox = entry.get("cox_dichotomous") or {}
    n = entry.get("n_per_group") or {}
    ev = entry.get("events_per_group") or {}
    horizon = data["horizon_months"]
    conf = int(round(100 * data["conf_level"]))
    return (f"Kaplan–Meier estimates of progression-free survival (PFS): {labels[0]} (n = {fmt_int(n.get('high'))}, "
            f"{fmt_int(ev.get('high'))} events) against {labels[1]} (n = {fmt_int(n.get('low'))}, "
            f"{fmt_int(ev.get('low'))} events). Shaded: pointwise {conf}% confidence intervals (Greenwood, log "
            f"scale); ticks: censored follow-up; below: numbers at risk. "
            + (f"Follow-up censored at {horizon:g} months (dotted line). " if _finite(horizon) else "")
            + f"Dichotomous Cox {hr_text(entry)}, Wald p = {fmt_p(cox.get('p'))}; {p_text(entry)}; "
            f"n = {fmt_int(entry.get('n'))}." + ctx.seed_text)


def section_survival(page: Page, ctx: Context) -> None:
    """Hazard ratios, cutoffs, groups 1–4, Kaplan–Meier curves and the composite line (or what is missing)."""
    page.start("survival", "Survival: imaging, genes, both rule, composite")
    cohort = ctx.batch.cohort
    data = _survival_data(ctx)
    if data is None:
        what = "cohort/results.json" if cohort is None else "cohort/patients.csv"
        note = ctx.batch.notes.get("cohort" if cohort is None else "cohort_patients", "not found")
        page.missing(f"{what}: {note}. The cohort statistics (hazard ratios, cutoffs, Kaplan–Meier curves, "
                     "groups 1–4, composite score) need the cohort command's output in cohort/."
                     + stage_note(ctx.batch, "cohort"))
        return
    cut = {name: (cohort.get(name) or {}).get("cutoff", {}).get("value") for name in ("imaging", "genes")}
    line = cohort.get("line") or {}
    groups = cohort.get("groups") or {}
    _hazard_ratio_tables(page, cohort, data, cut, line)
    _cutoff_table(page, cohort, data["params"], line)
    cutoff_and_forest_figures(page, ctx, cohort, data)
    _groups_tables(page, groups, data["patients"], data["horizon_months"], data["conf_level"])
    page.heading("Kaplan–Meier curves and the composite line")
    _marker_curves(page, ctx, cohort, data, cut, line)
    if "group" in data["patients"]:
        _group_curves(page, ctx, groups, data, cut)
    if line and _finite(line.get("x0")) and _finite(line.get("y0")):
        _composite_figure(page, ctx, groups, data, cut, line)


def _hazard_ratio_tables(page: Page, cohort: dict, data: Dict[str, Any], cut: Dict[str, Any], line: dict) -> None:
    """Dichotomous, continuous and (folded) multivariate Cox models of every marker."""
    conf = data["conf_level"]
    params = data["params"]
    page.heading("Hazard ratios for PFS")
    rows = []
    for name in MARKERS:
        entry = cohort.get(name) or {}
        cox = entry.get("cox_dichotomous") or {}
        n = entry.get("n_per_group") or {}
        ev = entry.get("events_per_group") or {}
        horizon = entry.get("survival_at_horizon") or {}
        ph = [term for term in (cox.get("ph_test") or {}).get("terms", []) if term.get("term") == "GLOBAL"]
        rows.append([name, _rule(name, cut, line), f"{fmt_int(n.get('high'))} / {fmt_int(n.get('low'))}",
                     f"{fmt_int(ev.get('high'))} / {fmt_int(ev.get('low'))}", fmt_hr_reason(cox),
                     fmt_ci(cox.get("ci_low"), cox.get("ci_high")), fmt_p(cox.get("p")),
                     fmt_p((entry.get("logrank") or {}).get("p")), fmt_p(ph[0].get("p") if ph else None),
                     f"{fmt_frac((horizon.get('high') or {}).get('survival'))} / "
                     f"{fmt_frac((horizon.get('low') or {}).get('survival'))}"])
    optimism = line.get("optimism") or {}
    if optimism:
        rows.append(["composite, optimism-corrected",
                     f"{optimism.get('method')} ({fmt_int(optimism.get('resamples_used'))} resamples, "
                     f"seed {optimism.get('seed')})", "", "", fmt_hr(optimism.get("corrected_hr")), DASH, DASH, DASH,
                     DASH, ""])
    horizon_months = data["horizon_months"]
    page.table(["marker", "more hypoxic when", "n more / less", "events more / less", "HR", f"{conf:.0%} CI",
                "p (Wald)", "p (log-rank)", "p (PH test)",
                f"PFS at {horizon_months:g} months more / less" if _finite(horizon_months) else "PFS at horizon"],
               rows, table_id="table-hr",
               caption="Univariate Cox proportional hazards, more vs less hypoxic (Efron ties); PH test: scaled "
                       "Schoenfeld residuals against KM-transformed time (global).")
    cont_rows = []
    for name in ("imaging", "genes", "composite"):
        cox = (cohort.get(name) or {}).get("cox_continuous") or {}
        cont_rows.append([name, fmt_hr_reason(cox), fmt_ci(cox.get("ci_low"), cox.get("ci_high")),
                          fmt_p(cox.get("p"))])
    page.table(["marker (continuous)", "HR per unit", f"{conf:.0%} CI", "p (Wald)"], cont_rows,
               table_id="table-hr-continuous",
               caption="Univariate Cox models of the continuous values (HF per unit fraction, score per unit, "
                       "HScomp per unit distance).")
    multi_rows = []
    for name in ("imaging", "genes", "composite"):
        model = (cohort.get(name) or {}).get("cox_multivariate") or {}
        for coefficient in model.get("coefficients", []):
            multi_rows.append([name, coefficient.get("name"), fmt_hr_reason(coefficient),
                               fmt_ci(coefficient.get("ci_low"), coefficient.get("ci_high")),
                               fmt_p(coefficient.get("p"))])
    if multi_rows:
        page.details("Multivariate Cox models with the clinical covariates",
                     lambda: page.table(["model", "term", "HR", f"{conf:.0%} CI", "p (Wald)"], multi_rows,
                                        table_id="table-hr-multivariate",
                                        caption=f"Covariates: {', '.join(params.get('covariates', []))}; "
                                                f"categorical: {', '.join(params.get('categorical', [])) or 'none'}."))


def _cutoff_table(page: Page, cohort: dict, params: dict, line: dict) -> None:
    """Each marker's cutoff, how it was chosen, and its unadjusted and selection-adjusted p-values."""
    page.heading("Cutoffs and adjusted p-values")
    cut_rows = []
    for name in MARKERS:
        c = (cohort.get(name) or {}).get("cutoff") or {}
        value = f"x0 = {fmt_num(line.get('x0'))}, y0 = {fmt_num(line.get('y0'))}" if name == "composite" \
            else fmt_num(c.get("value"))
        permutations = f"{fmt_p(c.get('p_permutation'))}" + (
            f" ({c.get('permutations')}, seed {c.get('seed')})" if c.get("permutations") else "")
        headline = f"{fmt_p(c.get('p_headline'))} ({c.get('p_headline_label', DASH)})"
        cut_rows.append([name, value, c.get("method", DASH), f"{fmt_int(c.get('n_high'))} / {fmt_int(c.get('n_low'))}",
                         fmt_num(c.get("statistic")), headline, fmt_p(c.get("p_unadjusted")),
                         fmt_p(c.get("p_lausen_schumacher_1992")), fmt_p(c.get("p_lausen_schumacher_1994")),
                         permutations])
    page.table(["marker", "cutoff", "method", "n more / less", "statistic",
                "p (adjusted for the search when the cutoff was searched)", "p unadjusted for the cutoff search",
                "p Lausen–Schumacher 1992", "p Lausen–Schumacher 1994", "p permutation (permutations, seed)"],
               cut_rows, table_id="table-cutoffs",
               caption=f"Minimum group share {params.get('min_prop')}. A fixed cutoff has no selection to adjust "
                       "for (adjusted p-values '–'); the composite line's permutation test reruns the whole line "
                       f"search ({line.get('n_directions')} directions, statistic {params.get('statistic')}).")


def _marker_curves(page: Page, ctx: Context, cohort: dict, data: Dict[str, Any], cut: Dict[str, Any],
                   line: dict) -> None:
    """One Kaplan–Meier figure per marker: more against less hypoxic."""
    from ..stats.survival import kaplan_meier
    from .km_figure import plot_kaplan_meier

    patients, t, e = data["patients"], data["time"], data["event"]
    conf = data["conf_level"]
    time_label = f"PFS ({data['time_unit']})"
    labels = {
        "imaging": (f"more hypoxic (HF ≥ {fmt_num(cut['imaging'])})", f"less hypoxic (HF < {fmt_num(cut['imaging'])})"),
        "genes": (f"more hypoxic (score ≥ {fmt_num(cut['genes'])})", f"less hypoxic (score < {fmt_num(cut['genes'])})"),
        "both": ("more hypoxic by both (group 1)", "groups 2–4"),
        "composite": ("more hypoxic (HScomp ≥ 0)", "less hypoxic (HScomp < 0)"),
    }
    columns = {"imaging": "imaging_high", "genes": "genes_high", "both": "both_high", "composite": "composite_high"}
    for name in MARKERS:
        entry = cohort.get(name)
        if not entry or columns[name] not in patients:
            page.missing(f"no {name} results in cohort/")
            continue
        high = bool_column(patients[columns[name]])
        curves = {labels[name][i]: kaplan_meier(t[mask], e[mask], conf_level=conf)
                  for i, mask in enumerate((high, ~high)) if mask.any()}
        annotation = figure_annotation(entry)
        caption = _km_caption(entry, labels[name], data, ctx)
        if name == "imaging" and ctx.a_thresholds:
            caption += f" Hypoxic voxels: {ctx.a_text()}."
        if name == "composite":
            caption += (f" Line x/x0 + y/y0 = 1 with x0 = {fmt_num(line.get('x0'))}, y0 = {fmt_num(line.get('y0'))} "
                        f"chosen by the search; permutation p of the search = {fmt_p(line.get('p_permutation'))}.")
        page.figure(f"km_{name}", f"PFS by {MARKER_TITLES[name]}", caption,
                    lambda path, curves=curves, annotation=annotation, name=name: plot_kaplan_meier(
                        curves, path, title=MARKER_TITLES[name], time_label=time_label, horizon=data["horizon"],
                        annotation=annotation))


def _group_curves(page: Page, ctx: Context, groups: dict, data: Dict[str, Any], cut: Dict[str, Any]) -> None:
    """Kaplan–Meier curves of groups 1–4 with the log-rank test across them."""
    from ..stats.groups import GROUP_NAMES
    from ..stats.survival import kaplan_meier
    from .km_figure import plot_kaplan_meier

    patients, t, e = data["patients"], data["time"], data["event"]
    conf = data["conf_level"]
    horizon_months = data["horizon_months"]
    time_label = f"PFS ({data['time_unit']})"
    group = pd.to_numeric(patients["group"], errors="coerce").to_numpy()
    curves = {f"{g}: {GROUP_NAMES[g]}": kaplan_meier(t[group == g], e[group == g], conf_level=conf)
              for g in (1, 2, 3, 4) if np.any(group == g)}
    logrank = groups.get("logrank_groups_1_to_4") or {}
    counts = ", ".join(f"group {g} n = {int(np.sum(group == g))}" for g in (1, 2, 3, 4))
    caption = (f"Kaplan–Meier estimates of PFS in the four groups of the two markers' classes (imaging cutoff "
               f"HF ≥ {fmt_num(cut['imaging'])}, gene cutoff score ≥ {fmt_num(cut['genes'])}): {counts}. "
               f"Shaded: pointwise {conf:.0%} confidence intervals; below: numbers at risk. "
               + (f"Follow-up censored at {horizon_months:g} months. " if _finite(horizon_months) else "")
               + f"Log-rank test across the 4 groups: chi² = {fmt_num(logrank.get('chi2'))}, "
               f"df = {fmt_int(logrank.get('df'))}, p = {fmt_p(logrank.get('p'))}." + ctx.seed_text)
    page.figure("km_groups", "PFS by groups 1–4", caption,
                lambda path: plot_kaplan_meier(curves, path, title="Groups 1–4", time_label=time_label,
                                               horizon=data["horizon"],
                                               annotation=f"log-rank p = {fmt_p(logrank.get('p'))}"))


def _composite_figure(page: Page, ctx: Context, groups: dict, data: Dict[str, Any], cut: Dict[str, Any],
                      line: dict) -> None:
    """Gene score against imaging with the composite line and the two cutoffs."""
    from .km_figure import plot_composite_line

    patients = data["patients"]
    params = data["params"]
    x = patients["imaging"].to_numpy(dtype=float)
    y = patients["genes"].to_numpy(dtype=float)
    more = bool_column(patients["composite_high"])
    corr = groups.get("spearman") or {}
    caption = (f"Gene score against imaging hypoxic fraction for n = {len(patients)} patients; filled: PFS event, "
               f"open: censored; red: more hypoxic by the composite score (HScomp ≥ 0, n = {int(more.sum())}), "
               f"blue: less hypoxic. Solid line: the separating line x/x0 + y/y0 = 1 with x0 = "
               f"{fmt_num(line.get('x0'))}, y0 = {fmt_num(line.get('y0'))} (searched over "
               f"{line.get('n_directions')} directions, min group share {params.get('min_prop')}, permutation "
               f"p = {fmt_p(line.get('p_permutation'))}). Dotted: the imaging cutoff HF = "
               f"{fmt_num(cut['imaging'])} "
               f"and the gene cutoff {fmt_num(cut['genes'])}. Spearman rho = {fmt_frac(corr.get('rho'))} "
               f"(p = {fmt_p(corr.get('p'))})." + ctx.seed_text)
    page.figure("composite_line", "Gene score against imaging, with the composite line", caption,
                lambda path: plot_composite_line(x, y, more, float(line["x0"]), float(line["y0"]), path,
                                                 imaging_cutoff=cut["imaging"], gene_cutoff=cut["genes"],
                                                 events=patients["event"].to_numpy(dtype=float) == 1))


def _rule(name: str, cut: Dict[str, Any], line: dict) -> str:
    if name == "imaging":
        return f"HF ≥ {fmt_num(cut['imaging'])}"
    if name == "genes":
        return f"score ≥ {fmt_num(cut['genes'])}"
    if name == "both":
        return "both markers (group 1)"
    return f"HScomp ≥ 0 (x0 = {fmt_num(line.get('x0'))}, y0 = {fmt_num(line.get('y0'))})"


def _groups_tables(page: Page, groups: dict, patients: pd.DataFrame, horizon_months: Any, conf: float) -> None:
    page.heading("Groups 1–4 and agreement of the markers")
    if not groups:
        page.missing("no groups in cohort/results.json")
        return
    counts = (groups.get("table") or {}).get("counts")
    if counts is not None and np.shape(counts) == (2, 2):
        c = np.asarray(counts, dtype=int)
        page.table(["", "genes more hypoxic", "genes less hypoxic", "total"],
                   [["imaging more hypoxic", c[0, 0], c[0, 1], c[0].sum()],
                    ["imaging less hypoxic", c[1, 0], c[1, 1], c[1].sum()],
                    ["total", c[:, 0].sum(), c[:, 1].sum(), c.sum()]],
                   table_id="table-2x2", caption="Classification by imaging (rows) and genes (columns).")
    fisher = groups.get("fisher") or {}
    spearman = groups.get("spearman") or {}
    pearson = groups.get("pearson") or {}
    logrank = groups.get("logrank_groups_1_to_4") or {}
    tests = [
        ["concordance (same status)", f"{fmt_frac(groups.get('concordance'))} ({fmt_int(groups.get('n_concordant'))} "
                                      f"of {fmt_int(groups.get('n'))})", ""],
        ["Fisher's exact test, odds ratio (CI)", f"{fmt_hr(fisher.get('odds_ratio'))} "
                                                 f"({fmt_ci(fisher.get('ci_low'), fisher.get('ci_high'))})",
         fmt_p(fisher.get("p"))],
        ["Spearman rho (HF, gene score)", fmt_frac(spearman.get("rho")), fmt_p(spearman.get("p"))],
        ["Pearson r (HF, gene score)", fmt_frac(pearson.get("r")), fmt_p(pearson.get("p"))],
        ["log-rank across groups 1–4, chi²", fmt_num(logrank.get("chi2")), fmt_p(logrank.get("p"))],
    ]
    for covariate, test in (groups.get("kruskal_wallis") or {}).items():
        medians = ", ".join(f"{g}: {fmt_num(m)}" for g, m in (test.get("median_per_group") or {}).items())
        tests.append([f"Kruskal–Wallis, {covariate} across groups (medians {medians})", fmt_num(test.get("h")),
                      fmt_p(test.get("p"))])
    for covariate, by_marker in (groups.get("wilcoxon") or {}).items():
        for marker, test in by_marker.items():
            tests.append([f"Wilcoxon rank-sum, {covariate}: more vs less hypoxic by {marker} (medians "
                          f"{fmt_num(test.get('median_high'))} vs {fmt_num(test.get('median_low'))})",
                          f"W = {fmt_num(test.get('W'))}", fmt_p(test.get("p"))])
    page.table(["test", "value", "p"], tests, table_id="table-tests")
    at_horizon = groups.get("survival_at_horizon") or {}
    group = pd.to_numeric(patients.get("group"), errors="coerce").to_numpy() if "group" in patients else None
    event = patients["event"].to_numpy(dtype=float)
    rows = []
    for g in groups.get("groups", []):
        number = g.get("group")
        surv = at_horizon.get(str(number)) or {}
        events = int(np.sum(event[group == number])) if group is not None else None
        rows.append([number, g.get("name"), fmt_int(g.get("n")), fmt_int(events),
                     f"{fmt_frac(surv.get('survival'))} ({fmt_ci(surv.get('ci_low'), surv.get('ci_high'))})"])
    page.table(["group", "name", "n", "events",
                f"PFS at {horizon_months:g} months ({conf:.0%} CI)" if _finite(horizon_months) else "PFS at horizon"],
               rows, table_id="table-groups")
