"""The report section 'Why do imaging and genes disagree?' (issue 12 items 1, 4 and 6).

Reads ``cohort/results.json`` (keys ``disagreement``, ``gene_score_vs_tumour_cell_fraction``,
``training_validation``), ``cohort/disagreement_patients.csv`` (the per-patient values behind the figures) and
``heterogeneity/heterogeneity.json`` (``clustering_vs_agreement``). Every number shown is read from those files;
an analysis that was not computed says why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional, Sequence

import numpy as np
import pandas as pd

from .context import Context, bool_column
from .formats import DASH, fmt_frac, fmt_num, fmt_p

if TYPE_CHECKING:
    from .page import Page

PATIENT_FILE = "disagreement_patients.csv"


def _share(entry: dict) -> str:
    return f"{entry['count']}/{entry['n']} ({100 * entry['share']:.0f} %)" if entry.get("share") is not None \
        else f"{entry.get('count', 0)}/{entry.get('n', 0)}"


def _or(fisher: dict) -> str:
    if fisher.get("odds_ratio") is None:
        return DASH
    return f"{fmt_num(fisher['odds_ratio'])} ({fmt_num(fisher['ci_low'])}{DASH}{fmt_num(fisher['ci_high'])})"


def _why_not(entry: dict) -> str:
    return entry.get("not_estimable", "")


def _not_computed(page: Page, what: str, entry: Optional[dict]) -> bool:
    """Say that ``what`` is missing (and why) when ``entry`` holds no result."""
    if entry is None:
        page.missing(f"{what}: not in cohort/results.json (written by an earlier version, or the cohort stage did not "
                     "run).")
        return True
    if "not_computed" in entry:
        page.missing(f"{what}: {entry['not_computed']}")
        return True
    return False


def _patients(ctx: Context) -> Optional[pd.DataFrame]:
    path = ctx.batch.path / "cohort" / PATIENT_FILE
    try:
        return pd.read_csv(path)
    except (OSError, ValueError):
        return None


def _column(frame: Optional[pd.DataFrame], name: str) -> Optional[np.ndarray]:
    if frame is None or name not in frame.columns:
        return None
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)


def _figure(page: Page, ctx: Context, name: str, title: str, caption: str, draw: Callable) -> None:
    page.figure(name, title, caption + " Also as SVG (same name) beside the PNG (300 dpi)." + ctx.seed_text, draw)


def section_disagreement(page: Page, ctx: Context) -> None:
    """Section: does intratumour heterogeneity explain why imaging and genes disagree?"""
    from . import disagreement_figures as figures

    page.start("disagreement", "Why do imaging and genes disagree? Heterogeneity, tumour-cell fraction, validation")
    cohort = ctx.batch.cohort
    if cohort is None:
        page.missing("cohort/results.json not found: these analyses come from the cohort stage.")
        return
    page.text("Fjeldbo et al. (2020) asked whether intratumour heterogeneity explains the discordant classification "
              "(groups 2 and 4). 'Same status': imaging and genes give the same class (groups 1 and 3). Tests as in R "
              "(fisher.test; wilcox.test with its defaults: exact p with fewer than 50 values per group and no ties, "
              "else the normal approximation with continuity correction; kruskal.test; prop.trend.test).")
    frame = _patients(ctx)
    group = _column(frame, "group")
    imaging_cutoff = ((cohort.get("imaging") or {}).get("cutoff") or {}).get("value", ctx.hf_cutoff)
    gene_cutoff = ((cohort.get("genes") or {}).get("cutoff") or {}).get("value", 0.0)
    disagreement = cohort.get("disagreement")
    if not _not_computed(page, "Disagreement against heterogeneity", disagreement):
        _inconsistency(page, ctx, disagreement["inconsistency_by_imaging"], figures)
        _volume(page, disagreement.get("tumour_volume_by_group"), _column(frame, "tumour_volume"), group, ctx,
                figures)
        _biopsy_slice(page, ctx, disagreement.get("biopsy_slice_imaging"), frame, figures, imaging_cutoff,
                      gene_cutoff)
        _biopsies(page, ctx, disagreement.get("agreement_by_number_of_biopsies"), figures)
    _clustering(page, ctx, (ctx.batch.heterogeneity or {}).get("clustering_vs_agreement"), figures)
    _cell_fraction(page, ctx, cohort.get("gene_score_vs_tumour_cell_fraction"), frame, figures, gene_cutoff)
    _validation(page, ctx, cohort.get("training_validation"), frame, figures, imaging_cutoff, gene_cutoff)


def _inconsistency(page, ctx: Context, result: dict, figures) -> None:
    page.heading("Discordance among imaging-more and imaging-less hypoxic tumours (paper: 31 % vs 22 %, n.s.)")
    fisher = result["fisher"]
    page.table(["imaging class", "discordant with genes", "Fisher p", "odds ratio (95 % CI)"], [
        ["more hypoxic", _share(result["discordant_among_imaging_more_hypoxic"]), fmt_p(fisher["p"]), _or(fisher)],
        ["less hypoxic", _share(result["discordant_among_imaging_less_hypoxic"]), "", _why_not(fisher)],
    ], table_id="table-disagreement-imaging-class")
    _figure(page, ctx, "disagreement_by_imaging_class", "Discordant classification by imaging class",
            "Share of tumours whose gene class differs from the imaging class (groups 4 and 2), among tumours "
            "imaging calls more and less hypoxic; Fisher's exact test, two-sided.",
            lambda path: figures.plot_inconsistency(result, path))


def _volume(page, result: Optional[dict], volume, group, ctx: Context, figures) -> None:
    page.heading("Tumour volume by group")
    if _not_computed(page, "Tumour volume by group", result):
        return
    first, kruskal = result["wilcoxon_group_1_vs_others"], result["kruskal_wallis_groups_2_to_4"]
    rows = [[str(g), str(result["n"][str(g)]), fmt_num(result["median"][str(g)])] for g in (1, 2, 3, 4)]
    page.table(["group", "n", "median volume (mL)"], rows, table_id="table-volume-groups")
    tests = [["Wilcoxon rank-sum, group 1 vs 2-4", fmt_num(first.get("W"), 6), fmt_p(first.get("p")),
              first.get("method") or _why_not(first)],
             ["Kruskal-Wallis, groups 2-4", fmt_num(kruskal.get("H")), fmt_p(kruskal.get("p")), _why_not(kruskal)]]
    for pair in result["wilcoxon_pairwise_groups_2_to_4"]:
        tests.append([f"Wilcoxon, {pair['x']} vs {pair['y']}", fmt_num(pair.get("W"), 6),
                      f"{fmt_p(pair.get('p'))} (Holm {fmt_p(pair.get('p_holm'))})",
                      pair.get("method") or _why_not(pair)])
    page.table(["test", "statistic (W or H)", "p", "method"], tests, table_id="table-volume-tests")
    if volume is None or group is None:
        page.missing(f"cohort/{PATIENT_FILE} has no tumour volumes: the figure cannot be drawn.")
        return
    seed = ctx.batch.seed or 0
    _figure(page, ctx, "tumour_volume_by_group", "Tumour volume by group",
            "Box plots (median, quartiles, whiskers to 1.5 IQR) with every patient as a point (horizontal jitter "
            f"drawn with seed {seed}). Groups: 1 more hypoxic by both markers, 2 by genes only, 3 by neither, "
            "4 by imaging only. "
            "Wilcoxon rank-sum test of group 1 against groups 2-4 (the paper's test) and Kruskal-Wallis test among "
            "groups 2-4 (pairwise Wilcoxon tests with Holm adjustment in the table).",
            lambda path: figures.plot_volume_by_group(volume, group.astype(int), result, path, seed=seed))


def _biopsy_slice(page, ctx: Context, result: Optional[dict], frame, figures, imaging_cutoff, gene_cutoff) -> None:
    page.heading("Imaging from the biopsy slice instead of the whole tumour")
    if _not_computed(page, "Biopsy-slice imaging", result):
        return
    pearson, spearman = result["biopsy_slice_hf_vs_tumour_hf"], result["biopsy_slice_hf_vs_gene_score"]
    whole_rho = result["tumour_hf_vs_gene_score"]
    fisher = result["fisher"]
    page.table(["comparison", "n", "coefficient", "p", "line / note"], [
        ["biopsy-slice HF vs whole-tumour HF (Pearson r)", str(pearson["n"]), fmt_num(pearson.get("r")),
         fmt_p(pearson.get("p")), f"slope {fmt_num(pearson.get('slope'))}, intercept "
                                  f"{fmt_num(pearson.get('intercept'))}" if pearson.get("slope") is not None
         else _why_not(pearson)],
        ["biopsy-slice HF vs gene score (Spearman rho)", str(spearman["n"]), fmt_num(spearman.get("rho")),
         fmt_p(spearman.get("p")), _why_not(spearman)],
        ["whole-tumour HF vs gene score (Spearman rho)", str(whole_rho["n"]), fmt_num(whole_rho.get("rho")),
         fmt_p(whole_rho.get("p")), _why_not(whole_rho)],
        ["same status, imaging of the whole tumour", _share(result["same_status_whole_tumour"]), "", "", ""],
        ["same status, imaging of the biopsy slice", _share(result["same_status_biopsy_slice"]), "",
         fmt_p(fisher["p"]), f"Fisher's exact test; {result['note']}"],
    ], table_id="table-biopsy-slice-imaging")
    tumour, slice_hf, genes = (_column(frame, name) for name in ("imaging", "biopsy_slice_hf", "genes"))
    if tumour is None or slice_hf is None or genes is None:
        page.missing(f"cohort/{PATIENT_FILE} has no biopsy-slice HF: the figure cannot be drawn.")
        return
    _figure(page, ctx, "biopsy_slice_imaging", "Imaging from the biopsy slice",
            f"Left: hypoxic fraction of the biopsy slice (by default the lowest tumour slice) against the whole "
            f"tumour, with the 1:1 line (dashed) and the least-squares line; Pearson r. Middle: biopsy-slice HF "
            f"against gene score, "
            f"cutoffs dotted (HF {fmt_frac(imaging_cutoff)}, score {fmt_num(gene_cutoff)}); Spearman rho. Right: "
            f"patients with the same status by imaging and genes when imaging uses the whole tumour or the biopsy "
            f"slice; Fisher's exact test.",
            lambda path: figures.plot_biopsy_slice(tumour, slice_hf, genes, result, path, hf_cutoff=imaging_cutoff,
                                                   gene_cutoff=gene_cutoff))


def _biopsies(page, ctx: Context, result: Optional[dict], figures) -> None:
    page.heading("Number of biopsies and same/different classification (paper: Supp. Fig. S4)")
    if _not_computed(page, "Agreement by number of biopsies", result):
        return
    rows = [[str(r["n_biopsies"]), str(r["n"]), str(r["same_status"]),
             f"{100 * r['share_same_status']:.0f} %" if r["share_same_status"] is not None else DASH]
            for r in result["per_number_of_biopsies"]]
    trend, fisher = result["trend"], result["fisher_one_vs_several"]
    page.table(["biopsies", "patients", "same status", "share"], rows, table_id="table-biopsies-agreement",
               caption=f"Chi-square test for trend (R prop.trend.test, scores 1-4): "
                       f"chi2 = {fmt_num(trend.get('chi2'))}, p = {fmt_p(trend.get('p'))} {_why_not(trend)}; "
                       "Fisher's exact test one vs several biopsies: "
                       f"p = {fmt_p(fisher.get('p'))} {_why_not(fisher)}. The last level counts that many or more.")
    _figure(page, ctx, "agreement_by_biopsies", "Same status by number of biopsies",
            "Share of patients with the same status by imaging and genes, by the number of biopsies whose scores "
            "were averaged into the gene score; chi-square test for trend in proportions.",
            lambda path: figures.plot_agreement_by_biopsies(result, path))


def _clustering(page, ctx: Context, result: Optional[dict], figures) -> None:
    page.heading("Clustering of hypoxia and same/different classification (paper: Fig. 4H)")
    if result is None:
        page.missing("Clustering against agreement: not in heterogeneity/heterogeneity.json (the heterogeneity stage "
                     "did not run, or was written by an earlier version).")
        return
    if "not_computed" in result:
        page.missing(f"Clustering against agreement: {result['not_computed']}")
        return
    fisher = result["fisher"]
    page.table(["clustering of hypoxia", "same status", "Fisher p", "odds ratio (95 % CI)"], [
        ["more", _share(result["same_status_more_clustering"]), fmt_p(fisher["p"]), _or(fisher)],
        ["less", _share(result["same_status_less_clustering"]), "", _why_not(fisher)],
    ], table_id="table-clustering-agreement",
        caption=f"{result['n_without_clustering_label']} tumours without a clustering label left out. "
                f"{result.get('classes', '')}.")
    _figure(page, ctx, "agreement_by_clustering", "Same status by clustering of hypoxia",
            "Share of tumours with the same status by imaging and genes among tumours with more and less clustering of "
            "hypoxia (sign of the residual from the GAM of virtual-biopsy SD on slice HF); Fisher's exact test.",
            lambda path: figures.plot_agreement_by_clustering(result, path))


def _cell_fraction(page, ctx: Context, result: Optional[dict], frame, figures, gene_cutoff) -> None:
    page.heading("Gene score against tumour-cell fraction (paper: not correlated)")
    if _not_computed(page, "Gene score against tumour-cell fraction", result):
        return
    spearman, pearson = result["spearman"], result["pearson"]
    page.table(["column", "n", "median (range)", "Spearman rho (p)", "Pearson r (p)"], [[
        result["column"], str(result["n"]),
        f"{fmt_num(result['cell_fraction_median'])} ({fmt_num(result['cell_fraction_min'])}{DASH}"
        f"{fmt_num(result['cell_fraction_max'])})",
        f"{fmt_num(spearman.get('rho'))} ({fmt_p(spearman.get('p'))}) {_why_not(spearman)}",
        f"{fmt_num(pearson.get('r'))} ({fmt_p(pearson.get('p'))}) {_why_not(pearson)}",
    ]], table_id="table-cell-fraction")
    fraction, genes = _column(frame, "cell_fraction"), _column(frame, "genes")
    if fraction is None or genes is None:
        page.missing(f"cohort/{PATIENT_FILE} has no tumour-cell fractions: the figure cannot be drawn.")
        return
    _figure(page, ctx, "gene_score_vs_cell_fraction", "Gene score against tumour-cell fraction",
            f"Gene score of each patient against the tumour-cell fraction of its biopsies (column "
            f"'{result['column']}'); dotted line: gene cutoff {fmt_num(gene_cutoff)}; Spearman rho.",
            lambda path: figures.plot_cell_fraction(fraction, genes, result, path, gene_cutoff=gene_cutoff))


def _validation(page, ctx: Context, result: Optional[dict], frame, figures, imaging_cutoff, gene_cutoff) -> None:
    page.heading("Training and validation patients")
    if result is not None and "validation" in str(result.get("not_computed", "")):
        # Not asked for (no --validation-column): said as text, not as a missing part of the report.
        page.text("Not computed: no column marks the patients used to build the gene signature "
                  "(cohort --validation-column or --validation-table).")
        return
    if _not_computed(page, "Training and validation", result):
        return
    rows = []
    for name in ("all", "training", "validation"):
        subset = result[name]
        rows.append([name, str(subset["n"]),
                     f"{fmt_num(subset['spearman'].get('rho'))} ({fmt_p(subset['spearman'].get('p'))})",
                     f"{fmt_num(subset['pearson'].get('r'))} ({fmt_p(subset['pearson'].get('p'))})",
                     _share(subset["concordance"]), fmt_p(subset["fisher"].get("p")),
                     _why_not(subset["fisher"]) or _why_not(subset["spearman"])])
    page.table(["patients", "n", "Spearman rho (p)", "Pearson r (p)", "same status", "Fisher p", "note"], rows,
               table_id="table-training-validation",
               caption=f"Validation patients: truthy values of the column '{result['column']}'; training: the others.")
    imaging, genes = _column(frame, "imaging"), _column(frame, "genes")
    if frame is None or "validation" not in frame.columns or imaging is None or genes is None:
        page.missing(f"cohort/{PATIENT_FILE} has no validation column: the figure cannot be drawn.")
        return
    validation = bool_column(frame["validation"])
    _figure(page, ctx, "training_validation", "Imaging against genes in training and validation patients",
            f"Whole-tumour hypoxic fraction against gene score, training (circles) and validation (triangles) "
            f"patients, cutoffs dotted (HF {fmt_frac(imaging_cutoff)}, score {fmt_num(gene_cutoff)}); Spearman rho "
            f"of each set.",
            lambda path: figures.plot_training_validation(imaging, genes, validation, result, path,
                                                          hf_cutoff=imaging_cutoff, gene_cutoff=gene_cutoff))


def with_disagreement_section(sections: Sequence[Callable]) -> tuple:
    """The report's sections with this one inserted after the heterogeneity section (or before the last two)."""
    sections = list(sections)
    names = [getattr(s, "__name__", "") for s in sections]
    index = names.index("_section_heterogeneity") + 1 if "_section_heterogeneity" in names else max(len(sections) - 2,
                                                                                                      0)
    return tuple(sections[:index] + [section_disagreement] + sections[index:])
