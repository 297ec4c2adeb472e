"""Hypoxic voxels, hypoxic fractions of the tumour, of each slice and of the biopsy slice (SPEC §1.4)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import List, Optional

import numpy as np

from .. import rules
from ..errors import InputError
from ..volume import Geometry

NOT_AVAILABLE = "not available"


def classify(hypoxic_fraction: float, cutoff: float) -> str:
    """'more hypoxic' when the fraction is at or above the cutoff, 'less hypoxic' below, else 'not available'."""
    if not np.isfinite(hypoxic_fraction):
        return NOT_AVAILABLE
    return rules.hypoxia_class(hypoxic_fraction, cutoff)  # compared after rounding away floating-point noise


def hypoxic_voxels(a_brix: np.ndarray, fitted: np.ndarray, a_threshold: float) -> np.ndarray:
    """Voxels that are fitted and have A_Brix below ``a_threshold`` (boolean, same shape; A exactly at the
    threshold, floating-point noise aside, is not hypoxic: :func:`rules.hypoxic_voxels`)."""
    with np.errstate(invalid="ignore"):
        return np.asarray(fitted, dtype=bool) & rules.hypoxic_voxels(a_brix, a_threshold)


@dataclass(frozen=True)
class SliceFraction:
    """The hypoxic fraction of one tumour slice.

    ``slice`` counts tumour slices from caudal (1 = the lowest slice containing tumour) to cranial; ``k_index`` is
    the slice's index in the volume array ``[k, j, i]``.
    """

    slice: int
    k_index: int
    voxels: int
    fitted: int
    failed: int
    hypoxic: int
    hypoxic_fraction: float
    classification: str
    is_biopsy_slice: bool
    at_bound: int = 0  # fitted voxels whose fit ended on a parameter bound
    low_r2: int = 0  # fitted voxels with R² below the fit-quality threshold
    excluded: int = 0  # poor fits left out of this slice's hypoxic fraction at the user's request

    def as_dict(self) -> dict:
        """The slice's columns of ``slices.csv`` (the fit-quality counts are in :meth:`fit_counts`)."""
        out = asdict(self)
        for name in ("at_bound", "low_r2", "excluded"):
            out.pop(name)
        return out

    def fit_counts(self) -> dict:
        """Poor fits of this slice: at a bound, with low R², and excluded from its hypoxic fraction."""
        return {"at_bound": self.at_bound, "low_r2": self.low_r2, "excluded": self.excluded}


def fraction(hypoxic: int, fitted: int) -> float:
    """hypoxic / fitted, NaN when nothing was fitted."""
    return float(hypoxic) / float(fitted) if fitted > 0 else float("nan")


def tumour_slices_caudal_to_cranial(tumour_mask: np.ndarray, geometry: Geometry) -> np.ndarray:
    """The k indices of slices containing tumour, ordered from caudal (feet) to cranial (head)."""
    present = np.flatnonzero(np.asarray(tumour_mask, dtype=bool).any(axis=(1, 2)))
    superior = geometry.superior_position_of_slices()[present]
    return present[np.argsort(superior, kind="stable")]


def slice_fractions(
    tumour_mask: np.ndarray,
    fitted: np.ndarray,
    hypoxic: np.ndarray,
    geometry: Geometry,
    *,
    hf_cutoff: float,
    biopsy_slice: int = 1,
    at_bound: Optional[np.ndarray] = None,
    low_r2: Optional[np.ndarray] = None,
    excluded: Optional[np.ndarray] = None,
) -> List[SliceFraction]:
    """Hypoxic fraction of every tumour slice, numbered caudal → cranial.

    Parameters
    ----------
    tumour_mask, fitted, hypoxic : ndarray of bool, shape (k, j, i)
        The tumour, its voxels with a successful fit, and its hypoxic voxels.
    geometry : Geometry
        The grid, used to tell caudal from cranial whatever the slice order in the file.
    hf_cutoff : float
        Cutoff for the more/less hypoxic call of each slice.
    biopsy_slice : int
        The slice number (1 = most caudal) that stands for the biopsy region.
    at_bound, low_r2 : ndarray of bool, shape (k, j, i), optional
        Fitted voxels at a parameter bound / with a low R² (counted per slice).
    excluded : ndarray of bool, shape (k, j, i), optional
        Fitted voxels left out of the hypoxic fraction (its denominator is the fitted voxels not excluded;
        ``hypoxic`` must not contain them).

    Returns
    -------
    list of SliceFraction
    """
    tumour = np.asarray(tumour_mask, dtype=bool)
    fitted = np.asarray(fitted, dtype=bool) & tumour

    def per_slice(voxels_map: Optional[np.ndarray]) -> np.ndarray:
        if voxels_map is None:
            return np.zeros(tumour.shape[0], dtype=int)
        return (np.asarray(voxels_map, dtype=bool) & fitted).sum(axis=(1, 2))

    n_excluded = per_slice(excluded)
    hypoxic = np.asarray(hypoxic, dtype=bool) & fitted
    if excluded is not None:
        hypoxic &= ~np.asarray(excluded, dtype=bool)
    order = tumour_slices_caudal_to_cranial(tumour, geometry)
    check_biopsy_slice(biopsy_slice, len(order))
    voxels = tumour.sum(axis=(1, 2))
    n_fit = fitted.sum(axis=(1, 2))
    n_hyp = hypoxic.sum(axis=(1, 2))
    n_bound, n_low = per_slice(at_bound), per_slice(low_r2)
    result = []
    for number, k in enumerate(order, start=1):
        hf = fraction(n_hyp[k], n_fit[k] - n_excluded[k])
        result.append(
            SliceFraction(
                slice=number,
                k_index=int(k),
                voxels=int(voxels[k]),
                fitted=int(n_fit[k]),
                failed=int(voxels[k] - n_fit[k]),
                hypoxic=int(n_hyp[k]),
                hypoxic_fraction=hf,
                classification=classify(hf, hf_cutoff),
                is_biopsy_slice=number == biopsy_slice,
                at_bound=int(n_bound[k]),
                low_r2=int(n_low[k]),
                excluded=int(n_excluded[k]),
            )
        )
    return result


def check_biopsy_slice(biopsy_slice: int, n_slices: int) -> None:
    """Raise InputError unless ``biopsy_slice`` is one of the tumour's slice numbers 1..n_slices."""
    if not (isinstance(biopsy_slice, (int, np.integer)) and 1 <= biopsy_slice <= n_slices):
        raise InputError(
            f"biopsy slice {biopsy_slice} does not exist: the tumour has {n_slices} slice(s)",
            source="--biopsy-slice",
            expected=f"a slice number from 1 (most caudal) to {n_slices}",
        )
