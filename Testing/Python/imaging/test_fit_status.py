"""A fit that ends on a bound and explains less than a flat line is not counted as fitted (issue 16)."""

from __future__ import annotations

import numpy as np

from HypoxiaMarkersLib.imaging.analysis import ImagingParameters, analyse_dce
from HypoxiaMarkersLib.imaging.brix import (
    FITTED_STATUSES,
    STATUS_BOUND_WORSE_THAN_FLAT,
    STATUS_HIT_BOUND,
    STATUS_NAMES,
)
from HypoxiaMarkersLib.imaging.phantom import make_phantom


def test_an_impossible_injection_duration_gives_failures_not_fits():
    """With a 150 s injection (the longest the phantom's 300 s after arrival allow; 300 s, longer than its
    enhancement, is now refused) the old code said "every voxel fitted"; such voxels end on the A bound with R² < 0
    and are now failures, with their own name."""
    phantom = make_phantom(seed=3, size=(48, 48, 4), tumour_radii_mm=(14.0, 12.0, 9.0))
    result = analyse_dce(phantom.series, phantom.tumour_mask, ImagingParameters(injection_duration_s=150.0))
    worse = result.fit_status == STATUS_BOUND_WORSE_THAN_FLAT
    assert worse.sum() > 0.5 * result.n_tumour_voxels
    assert result.failures[STATUS_NAMES[STATUS_BOUND_WORSE_THAN_FLAT]] == int(worse.sum())
    assert result.n_fitted == int(np.isin(result.fit_status, FITTED_STATUSES).sum())
    assert result.n_fitted + result.n_failed == result.n_tumour_voxels
    assert np.all(np.isnan(result.a_brix[worse])) and np.all(result.r_squared[worse] < 0)
    # No fitted voxel is on a bound with a negative R².
    fitted_at_bound = result.fit_status == STATUS_HIT_BOUND
    assert not np.any(result.r_squared[fitted_at_bound] < 0)


def test_good_series_keep_every_fit():
    phantom = make_phantom(seed=3, size=(48, 48, 4), tumour_radii_mm=(14.0, 12.0, 9.0))
    result = analyse_dce(phantom.series, phantom.tumour_mask)
    assert not np.any(result.fit_status == STATUS_BOUND_WORSE_THAN_FLAT)
    assert result.n_fitted == result.n_tumour_voxels
