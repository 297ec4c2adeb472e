"""Per-tumour pictures of the report (the paper's Fig. 3B, 3C, 4B and 4G):

- :func:`slice_classification`, :func:`plot_slice_classification`: every tumour's slices classified more or less
  hypoxic (slice HF ≥ the cutoff), one column per tumour, tumours sorted by whole-tumour HF within each group 1–4,
  slices caudal (bottom) to cranial (top);
- :func:`most_heterogeneous`, :func:`plot_slice_profiles`: HF slice by slice for the tumours whose slices differ
  most (largest SD of the slice HFs);
- :func:`biopsy_scores`, :func:`plot_biopsy_scores`: the gene score of each biopsy of tumours with several;
- :func:`clustering_extremes`, :func:`biopsy_slice_map`, :func:`plot_binary_maps`: binary hypoxia maps of the
  biopsy slice for the most and least clustered tumours, over T2W where the patient folder has it.

Each ``*`` data function returns what its figure shows, so that a test can check the numbers, not the pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from ..rules import at_or_above
from .figure_files import new_figure, save_figure
from .km_figure import COLOURS

MORE_COLOUR, LESS_COLOUR = COLOURS[0], COLOURS[1]
NOT_GROUPED = "not in the cohort statistics"
# Images that can serve as the anatomical background of the maps, first found wins.
BACKGROUND_FILES = ("t2w_on_dce.nrrd", "t2w.nrrd", "dce_post_contrast.nrrd", "dce_post_contrast.nii.gz",
                    "dce_first_post_contrast.nrrd", "background.nrrd")


@dataclass
class SliceClassification:
    """Slices of every tumour classified by slice HF against the cutoff.

    Attributes
    ----------
    patients : list of str
        Column order: by group (1–4, then tumours not in the cohort statistics), within a group by whole-tumour HF
        (lowest first, ties by patient).
    groups : list of str
        The group of each column.
    tumour_hf : ndarray
        Whole-tumour HF of each column.
    matrix : ndarray (max slices, tumours)
        1.0 more hypoxic (slice HF ≥ cutoff), 0.0 less hypoxic, NaN no such slice or no fitted voxel; row 0 is
        slice 1 (most caudal).
    """

    patients: List[str]
    groups: List[str]
    tumour_hf: np.ndarray
    matrix: np.ndarray


def slice_classification(slices: pd.DataFrame, tumours: pd.DataFrame, hf_cutoff: float,
                         groups: Optional[Dict[str, object]] = None) -> SliceClassification:
    """Classify every slice (``slices``: patient, slice, hypoxic_fraction) of every tumour (``tumours``: patient,
    hypoxic_fraction) at ``hf_cutoff``; ``groups`` maps patient → group 1–4 (cohort/patients.csv)."""
    groups = groups or {}
    table = tumours[["patient", "hypoxic_fraction"]].assign(patient=tumours["patient"].astype(str))
    table = table.assign(group=[str(groups.get(p, NOT_GROUPED)) for p in table["patient"]])
    rank = {g: i for i, g in enumerate(["1", "2", "3", "4"])}
    table = table.assign(rank=[rank.get(g, len(rank)) for g in table["group"]])
    table = table.sort_values(["rank", "hypoxic_fraction", "patient"], na_position="last").reset_index(drop=True)
    column = {p: i for i, p in enumerate(table["patient"])}
    numbers = pd.to_numeric(slices["slice"], errors="coerce").to_numpy(dtype=float)
    n_rows = int(np.nanmax(numbers)) if numbers.size else 0
    matrix = np.full((n_rows, len(table)), np.nan)
    hf = pd.to_numeric(slices["hypoxic_fraction"], errors="coerce").to_numpy(dtype=float)
    for patient, number, value in zip(slices["patient"].astype(str), numbers, hf):
        if patient in column and np.isfinite(value) and np.isfinite(number):
            matrix[int(number) - 1, column[patient]] = 1.0 if at_or_above(value, hf_cutoff) else 0.0
    return SliceClassification(patients=list(table["patient"]), groups=list(table["group"]),
                               tumour_hf=table["hypoxic_fraction"].to_numpy(dtype=float), matrix=matrix)


def plot_slice_classification(data: SliceClassification, path: Path, *, hf_cutoff: float,
                              group_names: Optional[Dict[str, str]] = None) -> Path:
    """One column per tumour, one cell per slice: red more hypoxic, blue less hypoxic; groups separated."""
    from matplotlib import colors

    n = len(data.patients)
    figure = new_figure((max(6.0, min(15.0, 2.5 + 0.16 * n)), 3.4 + 0.12 * data.matrix.shape[0]))
    ax = figure.add_subplot(1, 1, 1)
    cmap = colors.ListedColormap([LESS_COLOUR, MORE_COLOUR])  # masked cells (no slice) stay white
    ax.imshow(np.ma.masked_invalid(data.matrix), cmap=cmap, vmin=0, vmax=1, origin="lower", aspect="auto",
              interpolation="nearest", extent=(-0.5, n - 0.5, 0.5, data.matrix.shape[0] + 0.5))
    # Thin white lines between tumours, black ones between groups.
    ax.vlines(np.arange(n - 1) + 0.5, 0.5, data.matrix.shape[0] + 0.5, color="white", linewidth=0.4)
    starts = [i for i in range(n) if i == 0 or data.groups[i] != data.groups[i - 1]]
    for i in starts[1:]:
        ax.axvline(i - 0.5, color="black", linewidth=1.5)
    for k, i in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else n
        name = data.groups[i]
        label = f"group {name}" if name in (group_names or {}) else name
        ax.text((i + end - 1) / 2, 1.01, f"{label} (n = {end - i})", transform=ax.get_xaxis_transform(),
                ha="center", va="bottom", fontsize=7, rotation=0 if end - i > 4 else 90)
    ax.set_ylabel("Slice (1 = most caudal)")
    ax.set_yticks(range(1, data.matrix.shape[0] + 1))
    if n <= 70:
        ax.set_xticks(range(n))
        ax.set_xticklabels(data.patients, rotation=90, fontsize=6)
    else:
        ax.set_xticks([])
    ax.set_xlabel("Tumour (within each group ordered by whole-tumour hypoxic fraction, lowest first)")
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=MORE_COLOUR, label=f"more hypoxic slice (HF ≥ {hf_cutoff:g})"),
                       Patch(color=LESS_COLOUR, label=f"less hypoxic slice (HF < {hf_cutoff:g})")],
              fontsize=7.5, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return save_figure(figure, path)


def most_heterogeneous(slices: pd.DataFrame, count: int = 4, min_slices: int = 3) -> List[str]:
    """The ``count`` tumours with the largest SD of their slice HFs (population SD, over at least ``min_slices``
    slices with a fit); ties by patient."""
    used = slices[["patient", "hypoxic_fraction"]].assign(patient=slices["patient"].astype(str))
    used = used[np.isfinite(pd.to_numeric(used["hypoxic_fraction"], errors="coerce").to_numpy(dtype=float))]
    grouped = used.groupby("patient")["hypoxic_fraction"]
    spread = grouped.agg(lambda v: float(np.std(v.to_numpy(dtype=float))))[grouped.size() >= min_slices]
    order = spread.to_frame("sd").assign(p=spread.index).sort_values(["sd", "p"], ascending=[False, True])
    return list(order.index[:count])


def plot_slice_profiles(slices: pd.DataFrame, tumours: pd.DataFrame, patients: Sequence[str], path: Path, *,
                        hf_cutoff: float) -> Path:
    """HF slice by slice (caudal to cranial) of the chosen tumours, their whole-tumour HF dotted, the cutoff
    dashed, the biopsy slice ringed."""
    figure = new_figure((6.4, 4.2))
    ax = figure.add_subplot(1, 1, 1)
    whole = dict(zip(tumours["patient"].astype(str), pd.to_numeric(tumours["hypoxic_fraction"], errors="coerce")))
    for i, patient in enumerate(patients):
        colour = COLOURS[(i + 2) % len(COLOURS)]
        rows = slices[slices["patient"].astype(str) == patient].sort_values("slice")
        ax.plot(rows["slice"], rows["hypoxic_fraction"], marker="o", markersize=4, color=colour,
                label=f"{patient} (tumour HF {whole.get(patient, float('nan')):.2f})")
        biopsy = rows[rows["is_biopsy_slice"].astype(bool)] if "is_biopsy_slice" in rows else rows.iloc[:0]
        ax.plot(biopsy["slice"], biopsy["hypoxic_fraction"], "o", markersize=10, markerfacecolor="none",
                color=colour)
        ax.axhline(whole.get(patient, np.nan), color=colour, linestyle=":", linewidth=1)
    ax.axhline(hf_cutoff, color="0.3", linestyle="--", linewidth=1, label=f"cutoff HF = {hf_cutoff:g}")
    ax.set_xlabel("Slice (1 = most caudal)")
    ax.set_ylabel("Hypoxic fraction of the slice (0–1)")
    ax.set_ylim(-0.03, 1.03)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=7.5, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return save_figure(figure, path)


def biopsy_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """The biopsies (``sample``, ``patient``, ``hypoxia_score``) of the tumours with at least two scored, tumours
    ordered by their mean score (then patient), biopsies by sample."""
    table = scores[["sample", "patient", "hypoxia_score"]].copy()
    table["patient"] = table["patient"].astype(str)
    table["hypoxia_score"] = pd.to_numeric(table["hypoxia_score"], errors="coerce")
    table = table[np.isfinite(table["hypoxia_score"].to_numpy(dtype=float))]
    counts = table.groupby("patient")["hypoxia_score"].transform("size")
    table = table[counts >= 2]
    mean = table.groupby("patient")["hypoxia_score"].transform("mean")
    return table.assign(mean_score=mean).sort_values(["mean_score", "patient", "sample"]).reset_index(drop=True)


def plot_biopsy_scores(table: pd.DataFrame, path: Path, *, cutoff: float) -> Path:
    """Each biopsy's score (red: ≥ cutoff) in its tumour's column, the tumour's range as a grey bar."""
    patients = list(dict.fromkeys(table["patient"]))
    x = table["patient"].map({p: i for i, p in enumerate(patients)}).to_numpy(dtype=float)
    y = table["hypoxia_score"].to_numpy(dtype=float)
    high = at_or_above(y, cutoff)
    n = len(patients)
    figure = new_figure((max(6.0, min(15.0, 2.0 + 0.16 * n)), 4.0))
    ax = figure.add_subplot(1, 1, 1)
    spread = table.groupby("patient")["hypoxia_score"].agg(["min", "max"]).reindex(patients)
    ax.vlines(np.arange(n), spread["min"], spread["max"], color="0.75", linewidth=1.2, zorder=1)
    ax.scatter(x[high], y[high], s=14, color=MORE_COLOUR, label=f"biopsy ≥ cutoff (n = {int(high.sum())})",
               zorder=2)
    ax.scatter(x[~high], y[~high], s=14, color=LESS_COLOUR, label=f"biopsy < cutoff (n = {int((~high).sum())})",
               zorder=2)
    ax.axhline(cutoff, color="0.3", linestyle="--", linewidth=1, label=f"cutoff = {cutoff:g}")
    ax.set_xlim(-0.8, n - 0.2)
    ax.set_ylabel("6-gene hypoxia score (mean centred log2 expression)")
    if n <= 70:
        ax.set_xticks(range(n))
        ax.set_xticklabels(patients, rotation=90, fontsize=6)
    else:
        ax.set_xticks([])
    ax.set_xlabel(f"{n} tumours with several biopsies, ordered by mean score")
    ax.legend(fontsize=7.5, frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3)
    return save_figure(figure, path)


def clustering_extremes(tumours: pd.DataFrame, count: int = 3) -> Tuple[List[str], List[str]]:
    """The ``count`` most clustered tumours (largest residual above the GAM curve of virtual-biopsy SD against
    slice HF) and the ``count`` least clustered (most negative residual), from ``virtual_biopsy_tumours.csv``."""
    table = tumours.assign(patient=tumours["patient"].astype(str),
                           residual=pd.to_numeric(tumours["residual"], errors="coerce"))
    table = table[np.isfinite(table["residual"].to_numpy(dtype=float))]
    most = table.sort_values(["residual", "patient"], ascending=[False, True])["patient"].head(count).tolist()
    least = table.sort_values(["residual", "patient"], ascending=[True, True])["patient"]
    least = [p for p in least if p not in most][:count]
    return most, least


@dataclass
class SliceMap:
    """One tumour slice's binary hypoxia map, cropped around the tumour: what the figure draws."""

    patient: str
    k_index: int
    tumour: np.ndarray  # (rows, cols) bool
    hypoxic: np.ndarray  # (rows, cols) bool, inside the tumour only
    background: Optional[np.ndarray]
    background_name: str
    spacing_ij: Tuple[float, float]

    @property
    def hypoxic_fraction(self) -> float:
        return float(self.hypoxic[self.tumour].mean()) if self.tumour.any() else float("nan")


def biopsy_slice_map(folder: Path, patient: str, k_index: int, margin: int = 4) -> SliceMap:
    """Read (only) slice ``k_index`` of a patient's ``hypoxic_mask`` and ``tumour_mask`` maps and its
    anatomical background, cropped around the tumour."""
    from ..io.volumes import find_volume, read_volume

    tumour_volume, geometry = read_volume(find_volume(folder, "tumour_mask"))
    hypoxic_volume, _ = read_volume(find_volume(folder, "hypoxic_mask"))
    tumour = np.asarray(tumour_volume[k_index]) > 0
    rows, cols = np.flatnonzero(tumour.any(axis=1)), np.flatnonzero(tumour.any(axis=0))
    if rows.size == 0:
        raise ValueError(f"patient {patient}: no tumour voxel on slice k = {k_index}")
    r = slice(max(rows[0] - margin, 0), min(rows[-1] + margin + 1, tumour.shape[0]))
    c = slice(max(cols[0] - margin, 0), min(cols[-1] + margin + 1, tumour.shape[1]))
    background, name = background_on_grid(Path(folder), geometry)
    return SliceMap(patient=patient, k_index=int(k_index), tumour=tumour[r, c],
                    hypoxic=(np.asarray(hypoxic_volume[k_index]) > 0)[r, c] & tumour[r, c],
                    background=None if background is None else background[k_index][r, c], background_name=name,
                    spacing_ij=(float(geometry.spacing[0]), float(geometry.spacing[1])))


def plot_binary_maps(most: Sequence[SliceMap], least: Sequence[SliceMap], path: Path) -> Path:
    """Two rows of panels, most clustered (top) and least clustered (bottom): hypoxic voxels red, the rest of the
    tumour blue, over the anatomical background where there is one; axes in mm."""
    from matplotlib import colors

    columns = max(len(most), len(least), 1)
    figure = new_figure((2.6 * columns + 0.6, 5.8))
    status_colours = colors.ListedColormap([LESS_COLOUR, MORE_COLOUR])
    for row, (label, maps) in enumerate((("more clustering", most), ("less clustering", least))):
        for column, m in enumerate(maps):
            ax = figure.add_subplot(2, columns, row * columns + column + 1)
            height, width = m.tumour.shape
            extent = (0.0, width * m.spacing_ij[0], height * m.spacing_ij[1], 0.0)
            if m.background is not None:
                finite = m.background[np.isfinite(m.background)]
                low, high = np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0)
                ax.imshow(m.background, cmap="gray", vmin=low, vmax=max(high, low + 1e-9), extent=extent,
                          interpolation="nearest")
            status = np.where(m.tumour, m.hypoxic.astype(float), np.nan)
            ax.imshow(np.ma.masked_invalid(status), cmap=status_colours, vmin=0, vmax=1, extent=extent,
                      interpolation="nearest", alpha=0.75 if m.background is not None else 1.0)
            ax.set_title(f"{m.patient}: {label}\nslice HF {m.hypoxic_fraction:.2f}", fontsize=8)
            ax.set_xlabel("mm", fontsize=7)
            ax.set_ylabel("mm", fontsize=7)
            ax.tick_params(labelsize=6)
    figure.tight_layout()
    return save_figure(figure, path)


def background_on_grid(folder: Path, geometry) -> Tuple[Optional[np.ndarray], str]:
    """An anatomical image of the patient folder on the maps' grid (resampled linearly when it has another grid),
    or (None, '')."""
    import SimpleITK as sitk

    from ..io.volumes import image_on_grid, read_volume

    for name in BACKGROUND_FILES:
        path = folder / name
        if not path.is_file():
            continue
        image = sitk.ReadImage(str(path))
        if image.GetDimension() != 3:
            continue
        array, grid = read_volume(path)
        if grid.same_grid(geometry):
            return array.astype(float), name
        reference = image_on_grid(geometry, np.zeros(geometry.shape, dtype=np.float32))
        resampled = sitk.Resample(sitk.Cast(image, sitk.sitkFloat32), reference, sitk.Transform(), sitk.sitkLinear,
                                  float("nan"))
        return sitk.GetArrayFromImage(resampled).astype(float), f"{name} resampled onto the DCE grid (linear)"
    return None, ""
