"""Fit quality of the Brix maps: voxels whose fit ended on a parameter bound or explains little of the curve.

A converged fit is not always a trustworthy one. Two kinds are counted separately (they overlap):

- **at a bound**: a parameter ended on the edge of its allowed range (A at 0 or at its maximum, k_el at its maximum,
  k_ep - k_el at its minimum or maximum; k_el = 0, no wash-out, is a plausible value and not counted);
- **low R²**: the fit explains less than ``r2_threshold`` of the curve's variance (default :data:`POOR_FIT_R2`).

By default they stay in the hypoxic fraction, as the method was published. The user may exclude them
(``ImagingParameters.min_r2``, ``ImagingParameters.exclude_bound_fits``); the result always carries the fraction
over every fit and over the good fits only, so the reader sees how much the number depends on them. Excluding by
R² is not neutral: hypoxic voxels enhance little, so noise dominates their curves and their R² is low even when A
is right. On the phantom (seed 11, 6 % noise) every voxel with R² < 0.5 is truly hypoxic and excluding them lowers
the hypoxic fraction from 0.295 (truth 0.300) to 0.137.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

import numpy as np

from .brix import STATUS_HIT_BOUND, BrixBounds

#: A fitted voxel with R² below this is counted as a poor fit (when no ``min_r2`` is given).
POOR_FIT_R2 = 0.5
#: Warn when more than this share of the fitted voxels are poor fits (at a bound or low R²).
POOR_FIT_WARNING_SHARE = 0.25
# Same tolerance as the fitter's own "hit bound" test.
_BOUND_TOLERANCE = 1e-9


@dataclass
class FitQuality:
    """Counts of poor fits in a tumour and the hypoxic fraction with and without them.

    Attributes
    ----------
    r2_threshold : float
        R² below which a fit counts as poor.
    n_fitted : int
        Voxels with a fit (converged, at a bound or not).
    n_at_bound, n_low_r2 : int
        Fitted voxels at a parameter bound; fitted voxels with R² below ``r2_threshold`` (or undefined R²).
    n_poor : int
        Fitted voxels that are either (the union).
    n_excluded : int
        Poor fits left out of the hypoxic fraction at the user's request (0 by default).
    excluded : str
        Which poor fits were left out ("none", "R² < 0.5", "at a bound", or both).
    at_bound_by_parameter : dict
        How many voxels sit on each bound (a voxel may sit on two).
    hypoxic_fraction_all_fits, hypoxic_fraction_good_fits : float
        Hypoxic voxels over every fitted voxel; over the fitted voxels that are not poor fits (NaN if none).
    """

    r2_threshold: float
    n_fitted: int
    n_at_bound: int
    n_low_r2: int
    n_poor: int
    n_excluded: int
    excluded: str
    at_bound_by_parameter: Dict[str, int] = field(default_factory=dict)
    hypoxic_fraction_all_fits: float = float("nan")
    hypoxic_fraction_good_fits: float = float("nan")

    @property
    def share_poor(self) -> float:
        """Poor fits over fitted voxels (NaN when nothing was fitted)."""
        return self.n_poor / self.n_fitted if self.n_fitted else float("nan")

    def as_dict(self) -> dict:
        out = asdict(self)
        out["share_poor"] = self.share_poor
        return out


def poor_fit_maps(fit_status: np.ndarray, r_squared: np.ndarray, fitted: np.ndarray, r2_threshold: float):
    """Boolean maps ``(at_bound, low_r2)`` of the fitted voxels; an undefined (NaN) R² counts as low."""
    fitted = np.asarray(fitted, dtype=bool)
    at_bound = fitted & (np.asarray(fit_status) == STATUS_HIT_BOUND)
    low_r2 = np.zeros_like(fitted)
    with np.errstate(invalid="ignore"):  # compared in float64 on the fitted voxels only: no float64 map
        low_r2[fitted] = ~(np.asarray(r_squared)[fitted].astype(float) >= r2_threshold)
    return at_bound, low_r2


def bound_counts(a: np.ndarray, k_ep: np.ndarray, k_el: np.ndarray, at_bound: np.ndarray,
                 bounds: BrixBounds) -> Dict[str, int]:
    """How many of the ``at_bound`` voxels sit on each bound of the fit."""
    a, k_el = np.asarray(a, dtype=float)[at_bound], np.asarray(k_el, dtype=float)[at_bound]
    k_diff = np.asarray(k_ep, dtype=float)[at_bound] - k_el
    tol = _BOUND_TOLERANCE
    return {
        f"A at {bounds.a_min:g}": int(np.sum(a <= bounds.a_min + tol)),
        f"A at {bounds.a_max:g}": int(np.sum(a >= bounds.a_max - tol)),
        f"k_el at {bounds.k_el_max:g}/min": int(np.sum(k_el >= bounds.k_el_max - tol)),
        f"k_ep - k_el at {bounds.k_diff_min:g}/min": int(np.sum(k_diff <= bounds.k_diff_min + tol)),
        f"k_ep - k_el at {bounds.k_diff_max:g}/min": int(np.sum(k_diff >= bounds.k_diff_max - tol)),
    }


def excluded_label(min_r2: Optional[float], exclude_bound_fits: bool) -> str:
    """Words for which poor fits are left out of the hypoxic fraction."""
    parts = ([f"R² < {min_r2:g}"] if min_r2 is not None else []) + (["at a bound"] if exclude_bound_fits else [])
    return " or ".join(parts) if parts else "none"


def quality_warnings(quality: FitQuality, warn_share: float = POOR_FIT_WARNING_SHARE) -> List[str]:
    """A warning when poor fits are a large share of the tumour, with the fraction with and without them."""
    if not quality.n_fitted or not quality.share_poor > warn_share:
        return []
    return [
        f"{quality.n_poor} of {quality.n_fitted} fitted voxels ({100 * quality.share_poor:.0f} %) are poor fits: "
        f"{quality.n_at_bound} ended on a parameter bound, {quality.n_low_r2} have R² < {quality.r2_threshold:g}; "
        f"hypoxic fraction {quality.hypoxic_fraction_all_fits:.3f} over every fit, "
        f"{quality.hypoxic_fraction_good_fits:.3f} without them (excluded from the reported fraction: "
        f"{quality.excluded}). Low R² is expected in weakly enhancing, hypoxic voxels, so excluding them lowers "
        f"the fraction; check the series (timing, motion, baseline frames) before trusting either number."
    ]
