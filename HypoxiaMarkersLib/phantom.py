"""Synthetic DCE-MRI phantoms and hypoxia patterns with known truth.

Used by the tests, the benchmark, the demo and Slicer's sample data. Everything is generated from a seed.
"""

from __future__ import annotations

from typing import Sequence, Union

import numpy as np
from scipy import ndimage


def hypoxic_pattern(
    tumour_mask: np.ndarray,
    hypoxic_fraction: float,
    correlation_length: Union[float, Sequence[float]],
    rng: Union[np.random.Generator, int, None] = None,
) -> np.ndarray:
    """Choose hypoxic voxels inside a tumour, scattered at random or clustered in blobs.

    A Gaussian random field smoothed with ``correlation_length`` (voxels; 0 = white noise) is ranked inside the
    tumour and its lowest ``round(hypoxic_fraction * n)`` voxels become hypoxic, so the fraction is exact.

    Parameters
    ----------
    tumour_mask : ndarray of bool, 2D or 3D
    hypoxic_fraction : float in [0, 1]
    correlation_length : float or sequence of float
        Standard deviation (voxels) of the Gaussian smoothing, per axis if a sequence. 0 gives independent voxels
        (randomly scattered hypoxia); a few voxels gives hypoxic regions ("clustering").
    rng : numpy Generator or seed

    Returns
    -------
    ndarray of bool, same shape as ``tumour_mask``: True where hypoxic (always False outside the tumour).
    """
    field = smooth_random_field(tumour_mask.shape, correlation_length, rng)
    return _lowest_fraction(field, tumour_mask, hypoxic_fraction)


def smooth_random_field(
    shape: Sequence[int], correlation_length: Union[float, Sequence[float]], rng=None
) -> np.ndarray:
    """A zero-mean Gaussian random field, smoothed with ``correlation_length`` voxels, scaled to unit SD."""
    rng = np.random.default_rng(rng)
    field = rng.standard_normal(tuple(shape))
    sigma = np.broadcast_to(np.asarray(correlation_length, dtype=float), (len(shape),))
    if np.any(sigma > 0):
        field = ndimage.gaussian_filter(field, sigma=sigma, mode="reflect")
    sd = field.std()
    return field / sd if sd > 0 else field


def _lowest_fraction(field: np.ndarray, mask: np.ndarray, fraction: float) -> np.ndarray:
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"hypoxic_fraction must be in [0, 1], got {fraction}")
    mask = np.asarray(mask, dtype=bool)
    values = field[mask]
    n_hypoxic = int(round(fraction * values.size))
    hypoxic_inside = np.zeros(values.size, dtype=bool)
    hypoxic_inside[np.argsort(values, kind="stable")[:n_hypoxic]] = True
    out = np.zeros(mask.shape, dtype=bool)
    out[mask] = hypoxic_inside
    return out

