"""Figures of the cohort report that no other module draws: slices, biopsy slice, one patient's maps, gene scores.

Kaplan–Meier curves and the gene-vs-imaging scatter come from :mod:`.km_figure`, the virtual-biopsy SD against HF
from :mod:`.clustering_figure`; all are saved by :func:`.figure_files.save_figure` (PNG at 300 dpi and SVG).

Every function here draws with matplotlib's object-oriented API on an Agg canvas (``Figure`` +
``FigureCanvasAgg``), imported inside the function: nothing happens at import time, and Slicer's (or a
notebook's) pyplot backend is never switched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from ..rules import at_or_above
from .figure_files import new_figure as _figure
from .figure_files import save_figure as _save
from .km_figure import COLOURS
from .quicklook import choose_slices  # noqa: F401 - one definition, used by the report too

MORE_COLOUR = COLOURS[0]
LESS_COLOUR = COLOURS[1]


def plot_slice_fractions(slices: pd.DataFrame, tumours: pd.DataFrame, path: Path, *, hf_cutoff: float) -> Path:
    """Hypoxic fraction of every tumour slice, one column per patient, patients ordered by whole-tumour HF.

    Parameters
    ----------
    slices : DataFrame
        One row per slice with a fit: ``patient``, ``slice`` (1 = most caudal), ``hypoxic_fraction``,
        ``is_biopsy_slice``.
    tumours : DataFrame
        One row per patient: ``patient``, ``hypoxic_fraction`` (whole tumour).
    path : Path
    hf_cutoff : float
        "More hypoxic" at HF >= hf_cutoff (drawn as a dashed line).
    """
    order = tumours.sort_values(["hypoxic_fraction", "patient"]).reset_index(drop=True)
    position = pd.Series(np.arange(len(order)), index=order["patient"].astype(str))
    x = position.reindex(slices["patient"].astype(str)).to_numpy(dtype=float)
    hf = slices["hypoxic_fraction"].to_numpy(dtype=float)
    biopsy = slices["is_biopsy_slice"].to_numpy(dtype=bool)
    n = len(order)
    scale = float(np.clip(60.0 / max(n, 1), 0.08, 1.0))  # smaller markers when patients crowd the axis
    figure = _figure((max(6.0, min(14.0, 2.0 + 0.18 * n)), 4.4))
    ax = figure.add_subplot(1, 1, 1)
    # The spread of each tumour's slices as a thin vertical bar: heterogeneity is visible at a glance.
    spread = pd.DataFrame({"x": x, "hf": hf}).groupby("x")["hf"].agg(["min", "max"])
    ax.vlines(spread.index.to_numpy(), spread["min"], spread["max"], color="0.75", linewidth=1.0, zorder=1)
    ax.scatter(x[~biopsy], hf[~biopsy], s=14 * scale, color=LESS_COLOUR, alpha=0.75, label="slice", zorder=2)
    ax.scatter(x[biopsy], hf[biopsy], s=34 * scale, marker="D", color=MORE_COLOUR, label="biopsy slice", zorder=3)
    ax.scatter(np.arange(n), order["hypoxic_fraction"].to_numpy(dtype=float), s=110 * scale, marker="_",
               color="black", linewidths=1.6 * max(scale, 0.5), label="whole tumour", zorder=4)
    ax.axhline(hf_cutoff, color="0.35", linestyle="--", linewidth=1, label=f"cutoff HF = {hf_cutoff:g}")
    ax.set_xlim(-0.8, n - 0.2)
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel("Hypoxic fraction (share of voxels, 0–1)")
    if n <= 60:
        ax.set_xticks(np.arange(n))
        ax.set_xticklabels(order["patient"].astype(str), rotation=90, fontsize=7)
        ax.set_xlabel("Patient (ordered by whole-tumour hypoxic fraction)")
    else:
        ax.set_xticks([])
        ax.set_xlabel(f"{n} patients, ordered by whole-tumour hypoxic fraction")
    ax.legend(fontsize=8, frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4,
              markerscale=1.0 / np.sqrt(scale))
    return _save(figure, path)


def plot_biopsy_vs_tumour(biopsy_hf: Sequence[float], tumour_hf: Sequence[float], path: Path, *,
                          hf_cutoff: float, annotation: str = "") -> Path:
    """Hypoxic fraction of the biopsy slice against that of the whole tumour, with the identity and the cutoffs.

    Patients whose biopsy slice has the whole tumour's status (both >= or both < ``hf_cutoff``) are drawn in blue,
    the others in red.
    """
    x = np.asarray(tumour_hf, dtype=float)
    y = np.asarray(biopsy_hf, dtype=float)
    same = at_or_above(x, hf_cutoff) == at_or_above(y, hf_cutoff)
    figure = _figure((5.2, 5.0))
    ax = figure.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], color="0.6", linewidth=1, label="identity")
    ax.axvline(hf_cutoff, color="0.35", linestyle="--", linewidth=1)
    ax.axhline(hf_cutoff, color="0.35", linestyle="--", linewidth=1, label=f"cutoff HF = {hf_cutoff:g}")
    ax.scatter(x[same], y[same], s=22, color=LESS_COLOUR, label=f"same status (n = {int(same.sum())})", zorder=3)
    ax.scatter(x[~same], y[~same], s=26, color=MORE_COLOUR, marker="s",
               label=f"status differs (n = {int((~same).sum())})", zorder=3)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_aspect("equal")
    ax.set_xlabel("Hypoxic fraction, whole tumour (0–1)")
    ax.set_ylabel("Hypoxic fraction, biopsy slice (0–1)")
    if annotation:
        ax.text(0.98, 0.03, annotation, transform=ax.transAxes, ha="right", fontsize=9)
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    return _save(figure, path)


def plot_gene_scores(scores: Sequence[float], path: Path, *, cutoff: float,
                     xlabel: str = "6-gene hypoxia score (mean centred log2 expression)") -> Path:
    """Histogram of gene scores with the classification cutoff (more hypoxic at score >= cutoff)."""
    values = np.asarray(scores, dtype=float)
    values = values[np.isfinite(values)]
    figure = _figure((5.6, 3.6))
    ax = figure.add_subplot(1, 1, 1)
    # Bins of the automatic width with one edge at the cutoff, so that no bar mixes the two classes.
    width = float(np.diff(np.histogram_bin_edges(values, bins="auto"))[0]) if np.ptp(values) > 0 else 1.0
    first = np.floor((values.min() - cutoff) / width)
    last = np.floor((values.max() - cutoff) / width) + 1
    bins = cutoff + width * np.arange(first, last + 1)
    high = at_or_above(values, cutoff)
    ax.hist([values[~high], values[high]], bins=bins, stacked=True, color=[LESS_COLOUR, MORE_COLOUR],
            label=[f"less hypoxic (n = {int((~high).sum())})", f"more hypoxic (n = {int(high.sum())})"])
    ax.axvline(cutoff, color="0.2", linestyle="--", linewidth=1, label=f"cutoff = {cutoff:g}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Samples (count)")
    ax.legend(fontsize=8, frameon=False)
    return _save(figure, path)


def _crop(mask: np.ndarray, margin: int) -> Tuple[slice, slice]:
    rows = np.flatnonzero(mask.any(axis=(0, 2)))
    cols = np.flatnonzero(mask.any(axis=(0, 1)))
    r0, r1 = max(rows[0] - margin, 0), min(rows[-1] + margin + 1, mask.shape[1])
    c0, c1 = max(cols[0] - margin, 0), min(cols[-1] + margin + 1, mask.shape[2])
    return slice(r0, r1), slice(c0, c1)


def plot_patient_maps(a_brix: np.ndarray, hypoxic: np.ndarray, tumour: np.ndarray, path: Path, *,
                      slices: Sequence[Tuple[int, int]], biopsy_slice: Optional[int], spacing_ij: Tuple[float, float],
                      a_threshold: float, background: Optional[np.ndarray] = None, background_name: str = "",
                      title: str = "") -> Path:
    """One patient's A_Brix map (top row) and hypoxic voxels (bottom row) on its tumour slices.

    Parameters
    ----------
    a_brix, hypoxic, tumour : ndarray (k, j, i)
        A_Brix (NaN where not fitted), hypoxic voxels and the tumour mask on the DCE grid.
    slices : sequence of (slice number, k index)
        The slices to show, caudal (slice 1) first.
    biopsy_slice : int or None
        Slice number of the biopsy slice: its panels get a red frame and title.
    spacing_ij : (float, float)
        Voxel size (mm) along i (columns) and j (rows), for the aspect ratio and the scale bar.
    a_threshold : float
        Hypoxic when A_Brix < a_threshold: marked on the colour bar.
    background : ndarray (k, j, i), optional
        An anatomical image on the same grid (T2W resampled, or a DCE frame); without it the panels have a plain
        background and the tumour's outline.
    """
    width, height = map_panel_size(tumour, spacing_ij)
    n = len(slices)
    panel = 2.3
    figure = _figure((panel * n * max(0.6, min(width / height, 1.6)) + 1.3, 2 * panel + 0.9))
    grid = figure.add_gridspec(2, n + 1, width_ratios=[1.0] * n + [0.06], wspace=0.08, hspace=0.12)
    draw_patient_maps(figure, grid, a_brix, hypoxic, tumour, slices=slices, biopsy_slice=biopsy_slice,
                      spacing_ij=spacing_ij, a_threshold=a_threshold, background=background)
    if title:
        figure.suptitle(title, fontsize=10)
    return _save(figure, path)


def map_panel_size(tumour: np.ndarray, spacing_ij: Tuple[float, float]) -> Tuple[float, float]:
    """Width and height (mm) of the map panels: the tumour's bounding box with a margin of 6 voxels."""
    rows, cols = _crop(np.asarray(tumour, dtype=bool), margin=6)
    return (cols.stop - cols.start) * spacing_ij[0], (rows.stop - rows.start) * spacing_ij[1]


def draw_patient_maps(figure, grid, a_brix: np.ndarray, hypoxic: np.ndarray, tumour: np.ndarray, *,
                      slices: Sequence[Tuple[int, int]], biopsy_slice: Optional[int],
                      spacing_ij: Tuple[float, float], a_threshold: float,
                      background: Optional[np.ndarray] = None) -> None:
    """Draw :func:`plot_patient_maps`' panels into ``grid`` (2 rows, ``len(slices) + 1`` columns) of ``figure``."""
    from matplotlib import colors

    tumour = np.asarray(tumour, dtype=bool)
    rows, cols = _crop(tumour, margin=6)
    a = np.asarray(a_brix, dtype=float)
    finite = a[tumour & np.isfinite(a)]
    vmax = float(max(2.0 * a_threshold, np.percentile(finite, 98))) if finite.size else 2.0 * a_threshold
    width, height = map_panel_size(tumour, spacing_ij)
    extent = (0.0, width, height, 0.0)
    n = len(slices)
    cmap = _a_brix_colours(a_threshold, vmax)
    hypoxic_colours = colors.ListedColormap(["#aed6f1", MORE_COLOUR, "#f4d03f"])
    image = None
    if background is not None:
        # One grey window for all slices shown, so that their brightness can be compared.
        shown_bg = np.asarray(background, dtype=float)[[k for _, k in slices]][:, rows, cols]
        low, high = np.nanpercentile(shown_bg, [1, 99]) if np.isfinite(shown_bg).any() else (0.0, 1.0)
        high = high if high > low else low + 1.0
    line_colour = "white" if background is not None else "black"
    for column, (number, k) in enumerate(slices):
        crop = (k, rows, cols)
        inside = tumour[crop]
        a_slice = np.where(inside, a[crop], np.nan)
        status = np.full(inside.shape, np.nan)
        status[inside] = 0.0
        status[inside & np.asarray(hypoxic, dtype=bool)[crop]] = 1.0
        status[inside & ~np.isfinite(a[crop])] = 2.0
        for row, (layer, layer_cmap, vmin_max) in enumerate(((a_slice, cmap, (0.0, vmax)),
                                                              (status, hypoxic_colours, (-0.5, 2.5)))):
            ax = figure.add_subplot(grid[row, column])
            if background is not None:
                ax.imshow(np.asarray(background, dtype=float)[crop], cmap="gray", vmin=low, vmax=high, extent=extent,
                          interpolation="nearest")
            else:
                ax.set_facecolor("#ececec")
            shown = ax.imshow(np.ma.masked_invalid(layer), cmap=layer_cmap, vmin=vmin_max[0], vmax=vmin_max[1],
                              extent=extent, interpolation="nearest", alpha=0.9 if background is not None else 1.0)
            if row == 0:
                image = shown
            if inside.any() and not inside.all():
                # Contour through voxel centres, in the same mm coordinates as the images (row 0 at the top).
                centres_x = (np.arange(inside.shape[1]) + 0.5) * spacing_ij[0]
                centres_y = (np.arange(inside.shape[0]) + 0.5) * spacing_ij[1]
                ax.contour(centres_x, centres_y, inside.astype(float), levels=[0.5], colors=line_colour,
                           linewidths=0.9)
            ax.set_xlim(0, width)
            ax.set_ylim(height, 0)
            ax.set_xticks([])
            ax.set_yticks([])
            is_biopsy = biopsy_slice is not None and int(number) == int(biopsy_slice)
            if is_biopsy:
                for side in ax.spines.values():
                    side.set_edgecolor(MORE_COLOUR)
                    side.set_linewidth(2.6)
            if row == 0:
                ax.set_title(f"slice {number}" + (" (biopsy)" if is_biopsy else ""), fontsize=9,
                             color=MORE_COLOUR if is_biopsy else "black", fontweight="bold" if is_biopsy else None)
            if column == 0:
                ax.set_ylabel("A_Brix" if row == 0 else "hypoxic voxels", fontsize=9)
            if row == 1 and column == 0:
                bar = 10.0 if width > 25 else 5.0
                ax.plot([0.06 * width, 0.06 * width + bar], [0.93 * height] * 2, color=line_colour, linewidth=2.5)
                ax.text(0.06 * width + bar / 2, 0.89 * height, f"{bar:g} mm", ha="center", va="bottom", fontsize=7,
                        color=line_colour)
    colour_bar = figure.colorbar(image, cax=figure.add_subplot(grid[0, n]))
    colour_bar.ax.axhline(a_threshold, color="black", linewidth=1.5)
    colour_bar.ax.tick_params(labelsize=7)
    colour_bar.set_label(f"A_Brix (threshold {a_threshold:g})", fontsize=8)
    legend_ax = figure.add_subplot(grid[1, n])
    legend_ax.axis("off")
    from matplotlib.patches import Patch

    legend_ax.legend(handles=[Patch(color=MORE_COLOUR, label=f"hypoxic (A_Brix < {a_threshold:g})"),
                              Patch(color="#aed6f1", label="not hypoxic"),
                              Patch(color="#f4d03f", label="fit failed")],
                     loc="center left", fontsize=7, frameon=False, bbox_to_anchor=(0.0, 0.5))


def _a_brix_colours(a_threshold: float, vmax: float):
    """A colour map with warm colours below the threshold (hypoxic) and cool ones above it."""
    from matplotlib import colors

    split = min(max(a_threshold / vmax, 0.05), 0.95)
    return colors.LinearSegmentedColormap.from_list(
        "a_brix", [(0.0, "#7b241c"), (split * 0.999, "#f5b041"), (split, "#d6eaf8"), (1.0, "#1b4f72")])
