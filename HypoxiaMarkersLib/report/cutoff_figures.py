"""How the cutoffs were chosen, made visible, and the Cox hazard ratios at a glance.

- the standardized log-rank statistic at every candidate cutoff of a marker, with the cutoff used marked and its
  p (R maxstat's ``plot(maxstat.test(...))``; the paper's Supp. Fig. S1): :func:`cutoff_curve`,
  :func:`plot_cutoff_curve`;
- a forest plot of the univariate and multivariate Cox hazard ratios with their confidence intervals on a log
  scale; a hazard ratio that is not estimable is listed with its reason and not drawn: :func:`forest_rows`,
  :func:`plot_forest`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional

import numpy as np

from ..stats.cutoff import optimal_cutoff
from .batch_folder import is_finite_number as _finite
from .context import Context
from .figure_files import new_figure, save_figure
from .formats import fmt_num, fmt_p

if TYPE_CHECKING:
    from .page import Page

AXIS_LABELS = {"imaging": "Imaging cutoff: hypoxic fraction (share of tumour voxels, 0–1)",
               "genes": "Gene score cutoff (mean centred log2 expression)"}


@dataclass
class CutoffCurve:
    """The standardized log-rank statistic of every split a marker's cutoff search tries.

    Attributes
    ----------
    marker : str
    cuts : ndarray
        maxstat's cut points: the largest marker value of the low group of each split.
    statistics : ndarray
        |standardized log-rank statistic| of each split (maxstat ``stats``).
    value, statistic : float
        The cutoff used (more hypoxic at marker ≥ value) and its statistic.
    method : str
        "maxstat" (searched) or "fixed" (set beforehand).
    p_label : str
        The cutoff's p in words, adjusted for the search when it was searched.
    search_maximum, search_p : float or None
        For a fixed cutoff: the largest statistic of the curve and its Lausen–Schumacher (1994) p, what a search
        would have found.
    source : str
        Where the curve comes from (``cohort/results.json``, or recomputed from ``cohort/patients.csv``).
    """

    marker: str
    cuts: np.ndarray
    statistics: np.ndarray
    value: float
    statistic: float
    method: str
    p_label: str
    search_maximum: Optional[float] = None
    search_p: Optional[float] = None
    source: str = "cohort/results.json"


def cutoff_curve(marker: str, cutoff: Dict[str, Any], time, event, values, *, min_prop: float) -> CutoffCurve:
    """The curve of ``marker``'s cutoff search: stored in the results for a searched cutoff, recomputed
    (:func:`stats.cutoff.optimal_cutoff`, the same search with ``min_prop``) for a fixed one.

    Parameters
    ----------
    cutoff : dict
        The marker's ``cutoff`` entry of ``cohort/results.json``.
    time, event, values : array-like
        The patients of the cohort statistics (``cohort/patients.csv``, included rows).
    """
    candidates = cutoff.get("candidates") or {}
    cuts = np.asarray(candidates.get("maxstat_cut") or [], dtype=float)
    stats = np.asarray(candidates.get("statistic") or [], dtype=float)
    value = float(cutoff["value"])
    statistic = float(cutoff["statistic"])
    if cutoff.get("method") == "maxstat" and cuts.size:
        label = (f"{cutoff.get('p_headline_label', 'p')} = {fmt_p(cutoff.get('p_headline'))}; "
                 f"unadjusted {fmt_p(cutoff.get('p_unadjusted'))}")
        return CutoffCurve(marker, cuts, stats, value, statistic, "maxstat", label)
    search = optimal_cutoff(time, event, values, min_prop=min_prop)
    return CutoffCurve(marker, search.cuts, search.stats, value, statistic, str(cutoff.get("method", "fixed")),
                       f"log-rank p = {fmt_p(cutoff.get('p_unadjusted'))} (cutoff set beforehand: no search to "
                       "adjust for)", search_maximum=search.statistic, search_p=search.p_lausen_schumacher_1994,
                       source="recomputed from cohort/patients.csv")


def plot_cutoff_curve(curve: CutoffCurve, path: Path) -> Path:
    """The statistic against the candidate cutoffs, the cutoff used marked with its p."""
    figure = new_figure((6.2, 4.2))
    ax = figure.add_subplot(1, 1, 1)
    ax.plot(curve.cuts, curve.statistics, color="0.25", linewidth=1, marker="o", markersize=2.5,
            label="candidate cutoffs")
    where = curve.cuts[int(np.argmax(curve.statistics))] if curve.method == "maxstat" else curve.value
    ax.axvline(where, color="#c0392b", linestyle="--", linewidth=1)
    ax.plot([where], [curve.statistic], "D", color="#c0392b", markersize=6,
            label=f"{'chosen' if curve.method == 'maxstat' else 'fixed'} cutoff: ≥ {curve.value:.3g}, "
                  f"statistic {curve.statistic:.2f}")
    if curve.search_maximum is not None:
        ax.axhline(curve.search_maximum, color="0.6", linestyle=":", linewidth=1,
                   label=f"maximum of the search {curve.search_maximum:.2f} (adjusted p = {fmt_p(curve.search_p)})")
    ax.set_xlabel(AXIS_LABELS.get(curve.marker, f"{curve.marker} cutoff"))
    ax.set_ylabel("Standardized log-rank statistic (|Z|)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7.5, frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=1,
              title=curve.p_label, title_fontsize=7.5)
    return save_figure(figure, path)


@dataclass
class ForestRow:
    """One hazard ratio of the forest plot."""

    model: str
    term: str
    hr: Optional[float]
    ci_low: Optional[float]
    ci_high: Optional[float]
    p: Optional[float]
    estimable: bool
    reason: str = ""

    @property
    def drawable(self) -> bool:
        """An estimate with a finite, positive interval (only those are drawn on the log axis)."""
        return self.estimable and all(_finite(v) and float(v) > 0 for v in (self.hr, self.ci_low, self.ci_high))


def _row(model: str, term: str, cox: Dict[str, Any]) -> ForestRow:
    estimable = cox.get("estimable") is not False and _finite(cox.get("hr"))
    reason = "" if estimable else str(cox.get("not_estimable_reason") or "not estimable")
    return ForestRow(model, term, cox.get("hr"), cox.get("ci_low"), cox.get("ci_high"), cox.get("p"), estimable,
                     reason)


def forest_rows(cohort: Dict[str, Any]) -> List[ForestRow]:
    """Every Cox hazard ratio of ``cohort/results.json``: univariate dichotomous (more vs less hypoxic), univariate
    continuous and each term of the multivariate models, in that order."""
    rows = []
    for name in ("imaging", "genes", "both", "composite"):
        cox = (cohort.get(name) or {}).get("cox_dichotomous")
        if cox:
            rows.append(_row("univariate, more vs less hypoxic", name, cox))
    for name in ("imaging", "genes", "composite"):
        cox = (cohort.get(name) or {}).get("cox_continuous")
        if cox:
            rows.append(_row("univariate, continuous (per unit)", name, cox))
    for name in ("imaging", "genes", "composite"):
        model = (cohort.get(name) or {}).get("cox_multivariate") or {}
        for coefficient in model.get("coefficients", []):
            rows.append(_row(f"multivariate, {name} model", str(coefficient.get("name")), coefficient))
    return rows


def plot_forest(rows: List[ForestRow], path: Path, *, conf_level: float = 0.95) -> Path:
    """Hazard ratios with their intervals on a log axis, one line per row; rows that cannot be drawn say why."""
    from matplotlib.ticker import FuncFormatter

    n = len(rows)
    figure = new_figure((7.6, 1.2 + 0.26 * n))
    ax = figure.add_subplot(1, 1, 1)
    y = np.arange(n)[::-1]
    drawn = [r.drawable for r in rows]
    colours = {"univariate, more vs less hypoxic": "#c0392b", "univariate, continuous (per unit)": "#2471a3"}
    for yi, row, ok in zip(y, rows, drawn):
        if ok:
            colour = colours.get(row.model, "#566573")
            ax.plot([row.ci_low, row.ci_high], [yi, yi], color=colour, linewidth=1.2)
            ax.plot([row.hr], [yi], "s", color=colour, markersize=4.5)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.axvline(1.0, color="0.4", linewidth=0.8, linestyle="--")
    ax.set_yticks(y)
    ax.set_yticklabels([f"{r.model}: {r.term}" for r in rows], fontsize=7)
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlabel(f"Hazard ratio for PFS ({conf_level:.0%} CI; log scale)")
    # The numbers (or the reason there are none) at the right of each line.
    for yi, row, ok in zip(y, rows, drawn):
        text = (f"{row.hr:.2f} ({row.ci_low:.2f}–{row.ci_high:.2f}), p {fmt_p(row.p)}" if ok else
                f"HR {fmt_num(row.hr)}, interval not finite" if row.estimable else f"not drawn: {row.reason}")
        ax.text(1.02, yi, text, transform=ax.get_yaxis_transform(), fontsize=6.5, va="center",
                color="black" if ok else "#a04000")
    return save_figure(figure, path)


def cutoff_and_forest_figures(page: Page, ctx: Context, cohort: Dict[str, Any], data: Dict[str, Any]) -> None:
    """The cutoff curves of imaging and genes and the forest plot, in the Survival section."""
    patients = data["patients"]
    params = data["params"]
    min_prop = float(params.get("min_prop") or 0.1)
    for name, column in (("imaging", "imaging"), ("genes", "genes")):
        cutoff = (cohort.get(name) or {}).get("cutoff") or {}
        if not _finite(cutoff.get("value")) or column not in patients:
            continue
        values = patients[column].to_numpy(dtype=float)
        try:
            curve = cutoff_curve(name, cutoff, data["time"], data["event"], values, min_prop=min_prop)
        except Exception as error:  # noqa: BLE001 - e.g. too few distinct values for a search: say so
            page.missing(f"no cutoff curve for {name} ({error})")
            continue
        caption = (f"Standardized log-rank statistic (maxstat, smethod 'LogRank') of every split of the {name} "
                   f"marker that the cutoff search tries ({curve.cuts.size} candidate cutoffs, each group at least "
                   f"{min_prop:g} of n = {values.size} patients; x: the largest value of the low group; "
                   f"{curve.source}). Red: the cutoff used, more hypoxic at ≥ {fmt_num(curve.value)} "
                   f"({curve.method}), statistic {fmt_num(curve.statistic)}; {curve.p_label}."
                   + (f" Dotted: the maximum a search would have chosen, {fmt_num(curve.search_maximum)} "
                      f"(Lausen–Schumacher 1994 p = {fmt_p(curve.search_p)})." if curve.search_maximum is not None
                      else "") + ctx.seed_text)
        page.figure(f"cutoff_curve_{name}", f"Cutoff choice: log-rank statistic against the {name} cutoff",
                    caption, lambda path, curve=curve: plot_cutoff_curve(curve, path))
    rows = forest_rows(cohort)
    if rows:
        hidden = [r for r in rows if not r.drawable]
        conf = data["conf_level"]
        caption = (f"Cox hazard ratios for PFS with {conf:.0%} confidence intervals (log scale; dashed: HR = 1), "
                   f"n = {len(patients)}: univariate models of the dichotomised markers (red), of the continuous "
                   "markers per unit (blue: HF per unit fraction, score per unit, HScomp per unit distance), and "
                   f"each term of the multivariate models with the clinical covariates "
                   f"({', '.join(params.get('covariates', [])) or 'none'}; grey). "
                   + (f"{len(hidden)} hazard ratio(s) not estimable or without a finite interval are listed with "
                      "the reason and not drawn." if hidden else "Every hazard ratio is drawn.") + ctx.seed_text)
        page.figure("forest_hazard_ratios", "Forest plot of the Cox hazard ratios", caption,
                    lambda path: plot_forest(rows, path, conf_level=conf))
