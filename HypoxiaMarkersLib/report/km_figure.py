"""Kaplan–Meier figure with confidence bands and a numbers-at-risk table, and the composite line's scatter
(matplotlib's object-oriented API on an Agg canvas; saved as PNG and SVG by :func:`.figure_files.save_figure`)."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np

from ..stats.survival import KaplanMeier
from .figure_files import new_figure, save_figure

COLOURS = ("#c0392b", "#2471a3", "#7d3c98", "#229954", "#d68910", "#566573")


def plot_kaplan_meier(curves: Dict[str, KaplanMeier], path: Path, *, title: str = "",
                      time_label: str = "Time", horizon: Optional[float] = None,
                      risk_times: Optional[Sequence[float]] = None, annotation: str = "",
                      endpoint_label: str = "Progression-free survival") -> Path:
    """Draw Kaplan–Meier curves with their confidence bands and numbers at risk, and save to ``path``.

    Parameters
    ----------
    curves : dict
        Label → :class:`~HypoxiaMarkersLib.stats.survival.KaplanMeier`.
    path : Path
        Output file (.png, .pdf or .svg).
    title, time_label : str
        Figure title and x-axis label.
    horizon : float, optional
        Draws a dotted line at the horizon and ends the x axis there.
    risk_times : sequence of float, optional
        Times of the numbers-at-risk table (default: :func:`risk_ticks`, round numbers in the data's unit).
    annotation : str
        Text written in the lower left corner (e.g. HR and p).
    endpoint_label : str
        The y-axis label: the endpoint of the curves.
    """
    end = horizon if horizon is not None else max(float(km.time.max()) for km in curves.values())
    if risk_times is None:
        risk_times = risk_ticks(end)
    fig = new_figure((7.0, 5.6))
    grid = fig.add_gridspec(2, 1, height_ratios=[4, 1.1], hspace=0.35)
    ax = fig.add_subplot(grid[0])
    table_ax = fig.add_subplot(grid[1])
    for i, (label, km) in enumerate(curves.items()):
        colour = COLOURS[i % len(COLOURS)]
        time, surv, low, high = km.step()
        ax.step(time, surv, where="post", color=colour, label=f"{label} (n={km.n}, events={int(km.n_event.sum())})")
        ax.fill_between(time, np.nan_to_num(low, nan=0.0), np.nan_to_num(high, nan=1.0), step="post",
                        color=colour, alpha=0.15, linewidth=0)
        censored = km.n_censor > 0
        ax.plot(km.time[censored], km.survival[censored], "|", color=colour, markersize=7)
        counts = km.numbers_at_risk(risk_times)
        for t, count in zip(risk_times, counts):
            table_ax.text(t, len(curves) - 1 - i, str(int(count)), ha="center", va="center", color=colour,
                          fontsize=9)
    if horizon is not None:
        ax.axvline(horizon, color="0.5", linestyle=":", linewidth=1)
    ax.set_xlim(-0.04 * end, end * 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel(f"{endpoint_label} (probability)")
    ax.set_xlabel(time_label)
    # Survival curves start at 1 in the upper part: the lower left is where they leave room, the legend stacked
    # above the annotation.
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 0.045 * (annotation.count("\n") + 2) if annotation else 0.0),
              fontsize=8, frameon=False)
    if title:
        ax.set_title(title)
    if annotation:
        ax.text(0.02, 0.03, annotation, transform=ax.transAxes, fontsize=9)
    table_ax.set_xlim(ax.get_xlim())
    table_ax.set_ylim(-0.6, len(curves) - 0.4)
    table_ax.set_yticks(range(len(curves)))
    table_ax.set_yticklabels(list(curves)[::-1], fontsize=8)
    table_ax.tick_params(axis="y", pad=14)
    table_ax.set_xticks(list(risk_times))
    table_ax.set_xticklabels([f"{t:g}" for t in risk_times], fontsize=8)
    table_ax.tick_params(length=0)
    for side in ("top", "right", "left", "bottom"):
        table_ax.spines[side].set_visible(False)
    table_ax.set_title("Number at risk", fontsize=9, loc="left")
    return save_figure(fig, path)


def risk_ticks(end: float, max_ticks: int = 7) -> np.ndarray:
    """At most ``max_ticks`` round times from 0 to ``end`` (steps of 1, 2, 2.5 or 5 times a power of ten), in the
    unit of the data: a horizon of 1826.25 days gives 0, 500, ..., 1500, not multiples of 365.25."""
    if not end > 0:
        return np.array([0.0])
    magnitude = 10.0 ** np.floor(np.log10(end / (max_ticks - 1)))
    step = next(m * magnitude for m in (1.0, 2.0, 2.5, 5.0, 10.0) if end / (m * magnitude) <= max_ticks - 1)
    return np.arange(0.0, end + 1e-9 * end, step)


def plot_composite_line(imaging, genes, more_hypoxic, x0: float, y0: float, path: Path, *,
                        imaging_cutoff: Optional[float] = None, gene_cutoff: Optional[float] = None,
                        events=None) -> Path:
    """Scatter of gene score against imaging value with the separating line x/x0 + y/y0 = 1."""
    x = np.asarray(imaging, dtype=float)
    y = np.asarray(genes, dtype=float)
    high = np.asarray(more_hypoxic, dtype=bool)
    fig = new_figure((5.6, 5.0))
    ax = fig.add_subplot(1, 1, 1)
    marker_face = None if events is None else np.asarray(events, dtype=bool)
    for mask, colour, label in ((high, COLOURS[0], "more hypoxic (HScomp ≥ 0)"),
                                (~high, COLOURS[1], "less hypoxic")):
        if marker_face is None:
            ax.scatter(x[mask], y[mask], s=22, color=colour, label=label)
        else:
            ax.scatter(x[mask & marker_face], y[mask & marker_face], s=22, color=colour, label=f"{label}, event")
            ax.scatter(x[mask & ~marker_face], y[mask & ~marker_face], s=22, facecolors="none", edgecolors=colour,
                       label=f"{label}, censored")
    xs = np.linspace(min(0.0, x.min()), max(x.max(), 1e-9), 200)
    ax.plot(xs, y0 - y0 / x0 * xs, color="k", linewidth=1.2, label=f"x/{x0:.3g} + y/{y0:.3g} = 1")
    if imaging_cutoff is not None:
        ax.axvline(imaging_cutoff, color="0.5", linestyle=":", linewidth=1)
    if gene_cutoff is not None:
        ax.axhline(gene_cutoff, color="0.5", linestyle=":", linewidth=1)
    pad_y = 0.05 * (y.max() - y.min() or 1.0)
    ax.set_ylim(y.min() - pad_y, y.max() + pad_y)
    ax.set_xlabel("Imaging: hypoxic fraction (share of tumour voxels, 0–1)")
    ax.set_ylabel("Gene score (mean centred log2 expression)")
    ax.legend(fontsize=7, frameon=False, loc="best")
    return save_figure(fig, path)
