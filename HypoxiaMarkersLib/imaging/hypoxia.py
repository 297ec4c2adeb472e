"""Hypoxic voxels, hypoxic fractions of the tumour, of each slice and of the biopsy slice (SPEC §1.4)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import List

import numpy as np

from .. import rules
from ..errors import InputError
from ..volume import Geometry

NOT_AVAILABLE = "not available"


def classify(hypoxic_fraction: float, cutoff: float) -> str:
    """'more hypoxic' when the fraction is at or above the cutoff, 'less hypoxic' below, else 'not available'."""
    if not np.isfinite(hypoxic_fraction):
        return NOT_AVAILABLE
    return rules.hypoxia_class(hypoxic_fraction, cutoff)


def hypoxic_voxels(a_brix: np.ndarray, fitted: np.ndarray, a_threshold: float) -> np.ndarray:
    """Voxels that are fitted and have A_Brix below ``a_threshold`` (:func:`rules.hypoxic_voxels`; boolean)."""
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

    def as_dict(self) -> dict:
        return asdict(self)


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

    Returns
    -------
    list of SliceFraction
    """
    tumour = np.asarray(tumour_mask, dtype=bool)
    fitted = np.asarray(fitted, dtype=bool) & tumour
    hypoxic = np.asarray(hypoxic, dtype=bool) & fitted
    order = tumour_slices_caudal_to_cranial(tumour, geometry)
    check_biopsy_slice(biopsy_slice, len(order))
    voxels = tumour.sum(axis=(1, 2))
    n_fit = fitted.sum(axis=(1, 2))
    n_hyp = hypoxic.sum(axis=(1, 2))
    result = []
    for number, k in enumerate(order, start=1):
        hf = fraction(n_hyp[k], n_fit[k])
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
