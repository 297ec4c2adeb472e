"""Figures of 'Why do imaging and genes disagree?' (issue 12; Fjeldbo et al. 2020 Fig. 2C, 3A, 3D–F, 4H, S4),
the gene score against tumour-cell fraction, and the association in training and validation patients.

Each function draws one figure from arrays and the numbers of ``results.json`` (never recomputing a test) with
matplotlib's object-oriented API on an Agg canvas, and saves it with the report's one helper
(:func:`.figure_files.save_figure`: PNG at 300 dpi and SVG beside it, same name), for print and for editing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np

from .figure_files import new_figure as _figure
from .figure_files import save_figure as save
from .formats import fmt_p
from .km_figure import COLOURS

SAME_COLOUR, DIFFERENT_COLOUR = "#5d6d7e", "#c0392b"
GROUP_COLOURS = {1: COLOURS[0], 2: "#b9770e", 3: COLOURS[1], 4: "#7d3c98"}
GROUP_LABELS = {1: "1\nboth", 2: "2\ngenes only", 3: "3\nneither", 4: "4\nimaging only"}


def _style(ax) -> None:
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    ax.tick_params(labelsize=8)


def _p_label(name: str, p) -> str:
    return f"{name}: p = {fmt_p(p)}" if p is not None else f"{name}: not estimable"


def _share_bars(ax, labels: Sequence[str], counts: Sequence[int], totals: Sequence[int], colour: str,
                ylabel: str) -> None:
    shares = [100.0 * c / n if n else 0.0 for c, n in zip(counts, totals)]
    positions = np.arange(len(labels))
    ax.bar(positions, shares, color=colour, width=0.6, edgecolor="black", linewidth=0.6)
    for x, share, c, n in zip(positions, shares, counts, totals):
        ax.text(x, share + 2, f"{share:.0f} %\n({c}/{n})" if n else "no\npatients", ha="center", va="bottom",
                fontsize=8)
    ax.set_xticks(positions)
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylim(0, 119)
    ax.set_ylabel(ylabel, fontsize=9)
    _style(ax)


def plot_inconsistency(result: dict, path: Path) -> Path:
    """Share of tumours with discordant classification (groups 2 + 4) by imaging class, with Fisher's p."""
    more = result["discordant_among_imaging_more_hypoxic"]
    less = result["discordant_among_imaging_less_hypoxic"]
    figure = _figure((3.4, 3.2))
    ax = figure.add_subplot(1, 1, 1)
    _share_bars(ax, ["imaging\nmore hypoxic", "imaging\nless hypoxic"], [more["count"], less["count"]],
                [more["n"], less["n"]], DIFFERENT_COLOUR, "Discordant with genes (% of tumours)")
    ax.set_title(_p_label("Fisher's exact test", result["fisher"]["p"]), fontsize=9)
    return save(figure, path)


def plot_volume_by_group(volume: np.ndarray, group: np.ndarray, result: dict, path: Path, *,
                         seed: int = 0) -> Path:
    """Tumour volume by group 1–4: box plot with every patient as a jittered point, and the tests' p-values."""
    figure = _figure((4.6, 3.6))
    ax = figure.add_subplot(1, 1, 1)
    rng = np.random.default_rng(seed)  # jitter only; fixed so that the figure is reproducible
    data, positions = [], []
    for position, g in enumerate((1, 2, 3, 4), start=1):
        values = volume[(group == g) & np.isfinite(volume)]
        data.append(values)
        positions.append(position)
        if values.size:
            ax.scatter(position + rng.uniform(-0.18, 0.18, values.size), values, s=12, color=GROUP_COLOURS[g],
                       alpha=0.75, edgecolors="none", zorder=3)
    ax.boxplot([d if d.size else [np.nan] for d in data], positions=positions, widths=0.55, showfliers=False,
               medianprops={"color": "black", "linewidth": 1.2}, boxprops={"linewidth": 0.8},
               whiskerprops={"linewidth": 0.8}, capprops={"linewidth": 0.8})
    ax.set_xticks(positions)
    ax.set_xticklabels([f"{GROUP_LABELS[g]}\n(n={d.size})" for g, d in zip((1, 2, 3, 4), data)], fontsize=8)
    ax.set_xlabel("Group (more hypoxic by)", fontsize=9)
    ax.set_ylabel("Tumour volume (mL)", fontsize=9)
    first = result["wilcoxon_group_1_vs_others"]
    kruskal = result["kruskal_wallis_groups_2_to_4"]
    ax.set_title(_p_label("Wilcoxon group 1 vs 2-4", first.get("p")) + "\n"
                 + _p_label("Kruskal-Wallis groups 2-4", kruskal.get("p")), fontsize=8.5)
    _style(ax)
    return save(figure, path)


def plot_biopsy_slice(tumour_hf: np.ndarray, slice_hf: np.ndarray, genes: np.ndarray, result: dict, path: Path, *,
                      hf_cutoff: float, gene_cutoff: float) -> Path:
    """Three panels: biopsy-slice HF against whole-tumour HF (1:1 and regression lines, Pearson r), biopsy-slice HF
    against gene score (Spearman rho), and the share with the same status by imaging and genes (Fisher)."""
    figure = _figure((10.5, 3.4))
    keep = np.isfinite(tumour_hf) & np.isfinite(slice_hf) & np.isfinite(genes)
    t, s, g = tumour_hf[keep], slice_hf[keep], genes[keep]
    ax = figure.add_subplot(1, 3, 1)
    ax.scatter(t, s, s=12, color=COLOURS[0], alpha=0.7, edgecolors="none")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.9, label="1:1")
    pearson = result["biopsy_slice_hf_vs_tumour_hf"]
    if pearson.get("slope") is not None:
        ax.plot([0, 1], [pearson["intercept"], pearson["intercept"] + pearson["slope"]], color="black",
                linewidth=1.1, label=f"regression (slope {pearson['slope']:.2f})")
        ax.set_title(f"Pearson r = {pearson['r']:.2f}, p = {fmt_p(pearson['p'])}, n = {pearson['n']}", fontsize=8.5)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("Hypoxic fraction, whole tumour", fontsize=9)
    ax.set_ylabel("Hypoxic fraction, biopsy slice", fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    _style(ax)
    ax = figure.add_subplot(1, 3, 2)
    ax.scatter(s, g, s=12, color=COLOURS[1], alpha=0.7, edgecolors="none")
    ax.axvline(hf_cutoff, color="grey", linestyle=":", linewidth=0.9)
    ax.axhline(gene_cutoff, color="grey", linestyle=":", linewidth=0.9)
    spearman = result["biopsy_slice_hf_vs_gene_score"]
    if spearman.get("rho") is not None:
        ax.set_title(f"Spearman rho = {spearman['rho']:.2f}, p = {fmt_p(spearman['p'])}", fontsize=8.5)
    ax.set_xlim(0, 1)
    ax.set_xlabel("Hypoxic fraction, biopsy slice", fontsize=9)
    ax.set_ylabel("Gene score (log2, centred)", fontsize=9)
    _style(ax)
    ax = figure.add_subplot(1, 3, 3)
    whole, biopsy = result["same_status_whole_tumour"], result["same_status_biopsy_slice"]
    _share_bars(ax, ["whole\ntumour", "biopsy\nslice"], [whole["count"], biopsy["count"]], [whole["n"], biopsy["n"]],
                SAME_COLOUR, "Same status as genes (% of patients)")
    ax.set_xlabel("Imaging from", fontsize=9)
    ax.set_title(_p_label("Fisher's exact test", result["fisher"]["p"]), fontsize=8.5)
    figure.tight_layout()
    return save(figure, path)


def plot_agreement_by_biopsies(result: dict, path: Path) -> Path:
    """Share of patients with the same status by imaging and genes per number of biopsies (trend test)."""
    rows = result["per_number_of_biopsies"]
    figure = _figure((4.0, 3.2))
    ax = figure.add_subplot(1, 1, 1)
    labels = [f"{r['n_biopsies']}" + ("+" if i == len(rows) - 1 else "") for i, r in enumerate(rows)]
    _share_bars(ax, labels, [r["same_status"] for r in rows], [r["n"] for r in rows], SAME_COLOUR,
                "Same status by imaging and genes (%)")
    ax.set_xlabel("Biopsies behind the gene score", fontsize=9)
    ax.set_title(_p_label("Chi-square test for trend", result["trend"]["p"]), fontsize=9)
    return save(figure, path)


def plot_agreement_by_clustering(result: dict, path: Path) -> Path:
    """Share of tumours with the same status by imaging and genes, more against less clustering (Fisher)."""
    more, less = result["same_status_more_clustering"], result["same_status_less_clustering"]
    figure = _figure((3.4, 3.2))
    ax = figure.add_subplot(1, 1, 1)
    _share_bars(ax, ["more\nclustering", "less\nclustering"], [more["count"], less["count"]],
                [more["n"], less["n"]], SAME_COLOUR, "Same status by imaging and genes (%)")
    ax.set_xlabel("Clustering of hypoxia (virtual biopsies)", fontsize=9)
    ax.set_title(_p_label("Fisher's exact test", result["fisher"]["p"]), fontsize=9)
    return save(figure, path)


def plot_cell_fraction(fraction: np.ndarray, genes: np.ndarray, result: dict, path: Path, *,
                       gene_cutoff: float) -> Path:
    """Gene score against tumour-cell fraction, with Spearman's rho."""
    figure = _figure((3.8, 3.3))
    ax = figure.add_subplot(1, 1, 1)
    keep = np.isfinite(fraction) & np.isfinite(genes)
    ax.scatter(fraction[keep], genes[keep], s=12, color=COLOURS[0], alpha=0.7, edgecolors="none")
    ax.axhline(gene_cutoff, color="grey", linestyle=":", linewidth=0.9)
    spearman = result["spearman"]
    ax.set_title(f"Spearman rho = {spearman['rho']:.2f}, p = {fmt_p(spearman['p'])}, n = {spearman['n']}"
                 if spearman.get("rho") is not None else "Spearman: not estimable", fontsize=8.5)
    unit = "%" if np.nanmax(fraction[keep], initial=0) > 1 else "share"
    ax.set_xlabel(f"Tumour-cell fraction ({unit})", fontsize=9)
    ax.set_ylabel("Gene score (log2, centred)", fontsize=9)
    _style(ax)
    return save(figure, path)


def plot_training_validation(imaging: np.ndarray, genes: np.ndarray, validation: np.ndarray,
                             subsets: Dict[str, dict], path: Path, *, hf_cutoff: float, gene_cutoff: float) -> Path:
    """Imaging against genes with training and validation patients marked, Spearman's rho of each subset."""
    figure = _figure((4.4, 3.6))
    ax = figure.add_subplot(1, 1, 1)
    for name, mask, colour, marker in (("training", ~validation, COLOURS[1], "o"),
                                       ("validation", validation, COLOURS[0], "^")):
        rho = subsets[name]["spearman"].get("rho")
        label = f"{name} (n={int(mask.sum())}, rho={rho:.2f})" if rho is not None else f"{name} (n={int(mask.sum())})"
        ax.scatter(imaging[mask], genes[mask], s=14, color=colour, marker=marker, alpha=0.75, edgecolors="none",
                   label=label)
    ax.axvline(hf_cutoff, color="grey", linestyle=":", linewidth=0.9)
    ax.axhline(gene_cutoff, color="grey", linestyle=":", linewidth=0.9)
    ax.set_xlabel("Hypoxic fraction, whole tumour", fontsize=9)
    ax.set_ylabel("Gene score (log2, centred)", fontsize=9)
    overall: Optional[float] = subsets["all"]["spearman"].get("rho")
    ax.set_title(f"All patients: Spearman rho = {overall:.2f}" if overall is not None else "All patients",
                 fontsize=8.5)
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    _style(ax)
    return save(figure, path)
