"""Poor fits counted, not called fitted (issue 15, item 5): voxels at a bound and with low R², per tumour and per
slice, the hypoxic fraction with and without them, the user's exclusion, and the warning when they are many."""

from __future__ import annotations

import json

import numpy as np
import pytest

from HypoxiaMarkersLib.errors import InputError
from HypoxiaMarkersLib.imaging.analysis import ImagingParameters, analyse_dce
from HypoxiaMarkersLib.imaging.brix import FITTED_STATUSES, STATUS_HIT_BOUND, BrixBounds
from HypoxiaMarkersLib.imaging.phantom import make_phantom
from HypoxiaMarkersLib.imaging.quality import POOR_FIT_R2, bound_counts
from HypoxiaMarkersLib.io.outputs import write_json


@pytest.fixture(scope="module")
def invivo_default(invivo_tissue):
    return analyse_dce(*invivo_tissue)


def _by_hand(result, mask, r2_threshold=POOR_FIT_R2):
    """Counts and fractions recomputed from the written maps."""
    fitted = np.isin(result.fit_status, FITTED_STATUSES) & mask
    at_bound = fitted & (result.fit_status == STATUS_HIT_BOUND)
    r2 = result.r_squared.astype(float)
    low = fitted & ~(np.nan_to_num(r2, nan=-np.inf) >= r2_threshold)
    hypoxic = fitted & (result.a_brix < 1.56)
    good = fitted & ~at_bound & ~low
    return fitted, at_bound, low, hypoxic, good


def test_invivo_poor_fits_are_counted(invivo_tissue, invivo_default, tmp_path):
    _, mask = invivo_tissue
    result = invivo_default
    fitted, at_bound, low, hypoxic, good = _by_hand(result, mask)
    q = result.fit_quality
    assert (q.n_fitted, q.n_at_bound, q.n_low_r2, q.n_poor) == (
        fitted.sum(), at_bound.sum(), low.sum(), (at_bound | low).sum())
    # The issue measured 59 % of the tumour on a bound: those fitted there, and those on a bound worse than a flat
    # line (R² < 0), which are failures now.
    worse = result.failures.get("at a bound, worse than a flat line", 0)
    assert worse > 0 and 0.55 < (q.n_at_bound + worse) / result.n_tumour_voxels < 0.63
    assert q.n_excluded == 0 and q.excluded == "none"
    assert q.hypoxic_fraction_all_fits == result.hypoxic_fraction == hypoxic.sum() / fitted.sum()
    assert q.hypoxic_fraction_good_fits == pytest.approx((hypoxic & good).sum() / good.sum(), abs=1e-12)
    assert sum(q.at_bound_by_parameter.values()) >= q.n_at_bound  # every voxel at a bound sits on at least one
    (s,) = result.slices
    assert (s.at_bound, s.low_r2, s.excluded) == (q.n_at_bound, q.n_low_r2, 0)
    warning = [w for w in result.warnings if "poor fits" in w]
    assert len(warning) == 1 and f"{q.n_poor} of {q.n_fitted}" in warning[0]
    write_json(result.summary(), tmp_path / "summary.json")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["fit_quality"]["n_at_bound"] == q.n_at_bound and summary["slices"][0]["low_r2"] == q.n_low_r2
    assert any("poor fits" in w for w in summary["warnings"])


@pytest.mark.parametrize("min_r2, exclude_bound", [(0.5, False), (0.3, True), (None, True)])
def test_invivo_poor_fits_can_be_excluded(invivo_tissue, invivo_default, min_r2, exclude_bound):
    series, mask = invivo_tissue
    result = analyse_dce(series, mask, ImagingParameters(min_r2=min_r2, exclude_bound_fits=exclude_bound))
    threshold = POOR_FIT_R2 if min_r2 is None else min_r2
    fitted, at_bound, low, hypoxic, _ = _by_hand(result, mask, threshold)
    excluded = (low if min_r2 is not None else np.zeros_like(low)) | (at_bound if exclude_bound else False)
    kept = fitted & ~excluded
    assert result.fit_quality.n_excluded == excluded.sum() > 0
    assert result.n_hypoxic == (hypoxic & kept).sum()
    assert result.hypoxic_fraction == pytest.approx((hypoxic & kept).sum() / kept.sum(), abs=1e-12)
    assert not np.any(result.hypoxic_mask[excluded])  # an excluded voxel is not drawn as hypoxic
    assert result.slices[0].excluded == excluded.sum()
    # the maps are the same fits: only the fraction changes
    np.testing.assert_array_equal(result.a_brix, invivo_default.a_brix)
    assert result.fit_quality.hypoxic_fraction_all_fits == invivo_default.hypoxic_fraction


@pytest.fixture(scope="module")
def noisy_phantom():
    ph = make_phantom(seed=11, noise=0.06, size=(64, 64, 6), tumour_radii_mm=(14, 12, 10))
    return ph, analyse_dce(ph.series, ph.tumour_mask)


def test_phantom_accuracy_unchanged_and_low_r2_is_where_enhancement_is_low(noisy_phantom):
    ph, result = noisy_phantom
    m = ph.tumour_mask
    # default: nothing excluded, the fraction is over every fit (the published method) and close to truth
    assert result.fit_quality.n_excluded == 0
    assert abs(result.hypoxic_fraction - ph.hypoxic_fraction) <= 0.02
    assert np.nanmedian(np.abs(result.a_brix[m] - ph.a_brix[m]) / ph.a_brix[m]) <= 0.06
    # low R² voxels are (nearly all) truly hypoxic, weakly enhancing voxels: why exclusion is not the default
    low = m & ~(np.nan_to_num(result.r_squared, nan=-1) >= POOR_FIT_R2)
    assert low.sum() > 50 and ph.hypoxic_mask[low].mean() > 0.95
    excluded = analyse_dce(ph.series, ph.tumour_mask, ImagingParameters(min_r2=POOR_FIT_R2))
    assert excluded.hypoxic_fraction < ph.hypoxic_fraction - 0.05


def test_phantom_at_3_percent_noise_has_few_poor_fits_and_no_warning():
    ph = make_phantom(seed=11, noise=0.03, size=(64, 64, 6), tumour_radii_mm=(14, 12, 10))
    result = analyse_dce(ph.series, ph.tumour_mask)
    assert result.fit_quality.share_poor < 0.1
    assert not any("poor fits" in w for w in result.warnings)


def test_bound_counts_by_parameter():
    b = BrixBounds()
    a = np.array([0.0, 10.0, 2.0, 2.0, 2.0, 2.0])
    k_el = np.array([0.1, 0.1, 1.0, 0.1, 0.1, 0.0])
    k_ep = k_el + np.array([1.0, 1.0, 1.0, 1e-3, 20.0, 1.0])
    at = np.array([True, True, True, True, True, False])
    counts = bound_counts(a, k_ep, k_el, at, b)
    assert list(counts.values()) == [1, 1, 1, 1, 1]


def test_bad_min_r2_is_refused(invivo_tissue):
    series, mask = invivo_tissue
    with pytest.raises(InputError, match="min_r2"):
        analyse_dce(series, mask, ImagingParameters(min_r2=1.5))
    with pytest.raises(InputError, match="every one of the"):
        analyse_dce(series, mask, ImagingParameters(min_r2=1.0, exclude_bound_fits=True))
