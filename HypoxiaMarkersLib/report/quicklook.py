"""``quicklook.png``: one patient's imaging result on one page, to check it at a glance.

The figure shows, on the biopsy slice and two more tumour slices (spread from caudal to cranial), the anatomy
(the DCE post-contrast mean, or T2W when given) with the tumour outline and the A_Brix map, and the hypoxic
voxels; below, the tumour's mean relative signal increase with its Brix fit, and the fit-quality counts.

:func:`quicklook_data` gathers exactly what is drawn (numpy only, so it can be checked without pixels);
:func:`write_quicklook` draws it with matplotlib, imported only there: without matplotlib (a bare 3D Slicer) it
writes nothing and returns None, and the caller says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple

import numpy as np

if TYPE_CHECKING:
    from ..imaging.analysis import ImagingResult

#: Tumour slices shown: the biopsy slice and two more.
N_SLICES_SHOWN = 3


def choose_slices(slice_numbers: Sequence[int], biopsy_slice: Optional[int], at_most: int = 6) -> list:
    """At most ``at_most`` slice numbers, evenly spread from caudal to cranial, always with the biopsy slice."""
    numbers = sorted(int(s) for s in slice_numbers)
    if len(numbers) <= at_most:
        return numbers
    picked = {numbers[int(round(i))] for i in np.linspace(0, len(numbers) - 1, at_most)}
    if biopsy_slice is not None and biopsy_slice in numbers and biopsy_slice not in picked:
        picked.discard(min(picked, key=lambda s: (abs(s - biopsy_slice), s)))
        picked.add(int(biopsy_slice))
    return sorted(picked)


@dataclass
class QuickLookData:
    """What ``quicklook.png`` draws.

    Attributes
    ----------
    slice_numbers, k_indices : list of int
        The tumour slices shown (1 = most caudal) and their index k in the volumes, caudal first.
    biopsy_slice : int
    background, tumour, a_brix, hypoxic : ndarray (n_shown, j, i)
        The shown slices of the anatomy, the tumour mask, the A_Brix map and the hypoxic voxels.
    background_name : str
    spacing_ij : (float, float)
        Voxel size (mm) along i and j.
    a_threshold : float
    times_s, rsi, fitted_rsi : ndarray
        The tumour's mean relative signal increase and its Brix fit.
    t_lag_s : float
        The bolus arrival time of the fit.
    counts : dict
        Fit-quality counts, label → value, in the order shown.
    """

    slice_numbers: List[int]
    k_indices: List[int]
    biopsy_slice: int
    background: np.ndarray
    tumour: np.ndarray
    a_brix: np.ndarray
    hypoxic: np.ndarray
    background_name: str
    spacing_ij: Tuple[float, float]
    a_threshold: float
    times_s: np.ndarray
    rsi: np.ndarray
    fitted_rsi: np.ndarray
    t_lag_s: float
    counts: Dict[str, str] = field(default_factory=dict)
    title: str = ""


def quicklook_slices(result: ImagingResult) -> List[Tuple[int, int]]:
    """The (slice number, k index) pairs shown: the biopsy slice and two more, evenly spread, caudal first."""
    biopsy = result.biopsy_slice.slice
    numbers = choose_slices([s.slice for s in result.slices], biopsy, at_most=N_SLICES_SHOWN)
    k_of = {s.slice: s.k_index for s in result.slices}
    return [(n, k_of[n]) for n in numbers]


def fit_counts(result: ImagingResult) -> Dict[str, str]:
    """The fit-quality counts shown, label → text."""
    counts = {
        "tumour voxels": f"{result.n_tumour_voxels}",
        "fitted": f"{result.n_fitted}",
        "fit failed": f"{result.n_failed}" + (
            " (" + ", ".join(f"{k}: {v}" for k, v in result.failures.items() if v) + ")" if result.n_failed else ""),
    }
    quality = result.fit_quality
    if quality is not None:
        counts["at a parameter bound"] = f"{quality.n_at_bound}"
        counts[f"R² < {quality.r2_threshold:g}"] = f"{quality.n_low_r2}"
        counts["excluded from HF"] = f"{quality.n_excluded} ({quality.excluded})"
    counts["hypoxic voxels"] = f"{result.n_hypoxic}"
    counts["hypoxic fraction"] = f"{result.hypoxic_fraction:.3f} ({result.classification})"
    biopsy = result.biopsy_slice
    counts[f"biopsy slice {biopsy.slice} HF"] = f"{biopsy.hypoxic_fraction:.3f}"
    return counts


def quicklook_data(result: ImagingResult, *, background: Optional[np.ndarray] = None,
                   background_name: str = "DCE post-contrast mean", title: str = "") -> QuickLookData:
    """Gather what ``quicklook.png`` shows of ``result``.

    Parameters
    ----------
    result : ImagingResult
    background : ndarray (k, j, i), optional
        Anatomy on the DCE grid (T2W resampled); default the result's post-contrast mean.
    background_name : str
    title : str
    """
    shown = quicklook_slices(result)
    ks = [k for _, k in shown]
    if background is None:
        background = result.post_contrast
    if background is None:
        background = np.zeros(result.geometry.shape, dtype=np.float32)
        background_name = "no anatomy"
    curve = result.mean_curve
    return QuickLookData(
        slice_numbers=[n for n, _ in shown], k_indices=ks, biopsy_slice=result.biopsy_slice.slice,
        background=np.asarray(background, dtype=float)[ks], tumour=np.asarray(result.tumour_mask, dtype=bool)[ks],
        a_brix=np.asarray(result.a_brix, dtype=float)[ks], hypoxic=np.asarray(result.hypoxic_mask, dtype=bool)[ks],
        background_name=background_name,
        spacing_ij=(float(result.geometry.spacing[0]), float(result.geometry.spacing[1])),
        a_threshold=float(result.parameters.a_threshold),
        times_s=np.asarray(curve.times_s, dtype=float), rsi=np.asarray(curve.rsi, dtype=float),
        fitted_rsi=np.asarray(curve.fitted_rsi, dtype=float), t_lag_s=float(curve.t_lag_s),
        counts=fit_counts(result), title=title,
    )


def write_quicklook(data: QuickLookData, path: Path) -> Optional[Path]:
    """Draw ``data`` into the PNG ``path``; None (nothing written) when matplotlib is not installed."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    from .figures import draw_patient_maps, map_panel_size

    n = len(data.slice_numbers)
    width, height = map_panel_size(data.tumour, data.spacing_ij)
    panel = 2.3
    figure = Figure(figsize=(max(panel * n * max(0.6, min(width / height, 1.6)) + 1.3, 8.0), 2 * panel + 3.6))
    FigureCanvasAgg(figure)
    outer = figure.add_gridspec(2, 1, height_ratios=[2 * panel, 2.6], hspace=0.25)
    maps = outer[0].subgridspec(2, n + 1, width_ratios=[1.0] * n + [0.06], wspace=0.08, hspace=0.12)
    draw_patient_maps(figure, maps, data.a_brix, data.hypoxic, data.tumour,
                      slices=list(zip(data.slice_numbers, range(n))), biopsy_slice=data.biopsy_slice,
                      spacing_ij=data.spacing_ij, a_threshold=data.a_threshold, background=data.background)
    bottom = outer[1].subgridspec(1, 2, width_ratios=[1.4, 1.0], wspace=0.3)
    ax = figure.add_subplot(bottom[0, 0])
    ax.plot(data.times_s, data.rsi, "o", markersize=3, color="black", label="tumour mean")
    ax.plot(data.times_s, data.fitted_rsi, "-", color="#c0392b", label="Brix fit")
    ax.axvline(data.t_lag_s, color="grey", linestyle=":", linewidth=1, label=f"bolus arrival {data.t_lag_s:.0f} s")
    ax.set_xlabel("time (s)", fontsize=8)
    ax.set_ylabel("relative signal increase", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, frameon=False)
    text = figure.add_subplot(bottom[0, 1])
    text.axis("off")
    lines = "\n".join(f"{label}: {value}" for label, value in data.counts.items())
    text.text(0.0, 1.0, "Fit quality\n" + lines, va="top", ha="left", fontsize=8, family="monospace",
              transform=text.transAxes)
    figure.suptitle((data.title + "  " if data.title else "") + f"background: {data.background_name}", fontsize=9)
    path = Path(path)
    figure.savefig(str(path), dpi=100, bbox_inches="tight")
    return path


__all__ = ["QuickLookData", "quicklook_slices", "quicklook_data", "fit_counts", "write_quicklook", "choose_slices",
           "N_SLICES_SHOWN"]
