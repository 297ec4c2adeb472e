"""The imaging biomarker on phantoms with known truth, slice numbering, and bad input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from HypoxiaMarkersLib.errors import InputError
from HypoxiaMarkersLib.imaging.analysis import ImagingParameters, analyse_dce, relative_signal_increase
from HypoxiaMarkersLib.imaging.brix import FITTED_STATUSES, STATUS_NO_SIGNAL, STATUS_OUTSIDE, brix_curve
from HypoxiaMarkersLib.imaging.hypoxia import slice_fractions
from HypoxiaMarkersLib.imaging.phantom import hypoxic_pattern, make_phantom
from HypoxiaMarkersLib.volume import DceSeries, Geometry


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(seed=11, noise=0.03)


@pytest.fixture(scope="module")
def result(phantom):
    return analyse_dce(phantom.series, phantom.tumour_mask)


def test_phantom_at_3_percent_noise_meets_the_accuracy_targets(phantom, result):
    m = phantom.tumour_mask
    fitted = np.isin(result.fit_status[m], FITTED_STATUSES)
    rel = np.abs(result.a_brix[m] - phantom.a_brix[m]) / phantom.a_brix[m]
    assert np.nanmedian(rel) <= 0.03
    assert abs(result.hypoxic_fraction - phantom.hypoxic_fraction) <= 0.02
    assert np.mean((result.hypoxic_mask[m] > 0) == phantom.hypoxic_mask[m]) >= 0.97
    assert np.all(result.k_ep[m][fitted] > result.k_el[m][fitted])
    assert result.n_fitted + result.n_failed == result.n_tumour_voxels == int(m.sum())


def test_per_slice_fractions_match_truth(phantom, result):
    assert [s.slice for s in result.slices] == list(range(1, len(phantom.slice_hypoxic_fractions) + 1))
    got = np.array([s.hypoxic_fraction for s in result.slices])
    np.testing.assert_allclose(got, phantom.slice_hypoxic_fractions, atol=0.03)
    assert result.biopsy_slice.slice == 1
    assert result.biopsy_slice.k_index == min(s.k_index for s in result.slices)  # k grows to cranial here


def test_bolus_arrival_is_found(phantom, result):
    assert result.baseline_frames == phantom.settings["baseline_frames"]
    assert abs(result.mean_curve.t_lag_s - phantom.t_lag_s) < phantom.settings["frame_interval_s"] / 2


def test_maps_are_nan_outside_the_tumour(phantom, result):
    outside = ~phantom.tumour_mask
    assert np.all(np.isnan(result.a_brix[outside]))
    assert np.all(result.fit_status[outside] == STATUS_OUTSIDE)
    assert np.all(result.hypoxic_mask[outside] == 0)


def test_changing_the_biopsy_slice_needs_no_refit(result):
    other = result.with_biopsy_slice(3)
    assert other.biopsy_slice.slice == 3
    assert other.biopsy_slice.hypoxic_fraction == result.slices[2].hypoxic_fraction
    assert other.parameters.biopsy_slice == 3 and result.parameters.biopsy_slice == 1
    with pytest.raises(InputError, match="biopsy slice 99"):
        result.with_biopsy_slice(99)


def test_summary_carries_parameters_and_counts(result):
    summary = result.summary()
    for key in ("hypoxic_fraction", "classification", "n_tumour_voxels", "n_fitted", "n_failed", "biopsy_slice",
                "slices", "parameters", "version"):
        assert key in summary
    assert summary["parameters"]["a_threshold"] == 1.56 and summary["parameters"]["hf_cutoff"] == 0.27
    # The phantom's true HF is 0.3 (make_phantom's default), above the 0.27 cutoff: the measured call must say so.
    assert summary["classification"] == "more hypoxic"


def test_a_tumour_exactly_at_the_cutoff_is_more_hypoxic(phantom, result):
    # Re-classify with the cutoff set to the measured fraction itself (no refit needed): at the cutoff is "more
    # hypoxic"; a cutoff one voxel's share higher is "less hypoxic".
    at = dataclasses.replace(result.parameters, hf_cutoff=result.hypoxic_fraction)
    above = dataclasses.replace(result.parameters, hf_cutoff=result.hypoxic_fraction + 1.0 / result.n_fitted)
    assert analyse_dce(phantom.series, phantom.tumour_mask, at).summary()["classification"] == "more hypoxic"
    assert analyse_dce(phantom.series, phantom.tumour_mask, above).summary()["classification"] == "less hypoxic"


def test_threshold_and_cutoff_are_applied():
    ph = make_phantom(seed=3, hypoxic_fraction=0.2, size=(64, 64, 6), tumour_radii_mm=(14, 12, 10))
    strict = analyse_dce(ph.series, ph.tumour_mask, ImagingParameters(a_threshold=0.5, hf_cutoff=0.01))
    fitted = np.isin(strict.fit_status, FITTED_STATUSES)
    assert strict.n_hypoxic == int(np.sum(strict.a_brix[fitted] < 0.5))
    assert strict.classification == ("more hypoxic" if strict.hypoxic_fraction >= 0.01 else "less hypoxic")


def test_per_voxel_lag_option_also_meets_accuracy():
    ph = make_phantom(seed=5, size=(64, 64, 6), tumour_radii_mm=(14, 12, 10))
    res = analyse_dce(ph.series, ph.tumour_mask, ImagingParameters(fit_lag_per_voxel=True))
    m = ph.tumour_mask
    assert np.nanmedian(np.abs(res.a_brix[m] - ph.a_brix[m]) / ph.a_brix[m]) <= 0.03
    # each voxel's arrival time lies between the last baseline and the first enhanced frame, and the model at that
    # arrival time is the fit whose error was reported
    times, n_base = res.times_s, res.baseline_frames
    lags = res.voxel_t_lag_s[m]
    assert np.all((lags >= times[n_base - 1]) & (lags < times[n_base]))
    assert len(np.unique(lags)) > 1
    _, rsi = relative_signal_increase(ph.series.signal[:, m].T, n_base)
    post = slice(n_base, None)
    model = brix_curve((times[None, post] - lags[:, None]) / 60.0, res.a_brix[m][:, None], res.k_ep[m][:, None],
                       res.k_el[m][:, None])
    np.testing.assert_allclose(np.sqrt(np.mean((rsi[:, post] - model) ** 2, axis=1)), res.rmse[m], rtol=1e-4)


def test_background_voxels_get_no_signal_status():
    ph = make_phantom(seed=6, size=(120, 100, 3), tumour_radii_mm=(14, 12, 10))
    mask = np.ones(ph.series.geometry.shape, dtype=bool)  # every voxel, air included
    res = analyse_dce(ph.series, mask, ImagingParameters(baseline_frames=10))
    air = ph.series.signal[:10].mean(axis=0) < 50
    assert air.sum() > 100
    assert np.all(res.fit_status[air] == STATUS_NO_SIGNAL)
    assert res.failures["no signal"] == int(air.sum())
    assert res.n_fitted + res.n_failed == mask.size


def test_real_invivo_slice_every_voxel_gets_a_result_or_a_counted_failure(shared_data):
    import SimpleITK as sitk

    image = sitk.ReadImage(str(shared_data / "invivo-dce-slice" / "dce.nrrd"))
    signal = np.moveaxis(sitk.GetArrayFromImage(image), 0, 0)  # (t, k, j, i)
    times = np.loadtxt(shared_data / "invivo-dce-slice" / "times_s.txt")
    series = DceSeries(signal=signal.astype(np.float32), times_s=times,
                       geometry=Geometry(size=(192, 192, 1), spacing=(1, 1, 5), origin=(0, 0, 0)))
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(shared_data / "invivo-dce-slice" / "mask_all.nrrd"))) > 0
    res = analyse_dce(series, mask.reshape(series.geometry.shape))
    assert res.n_fitted + res.n_failed == res.n_tumour_voxels == 192 * 192
    assert res.failures.get("no signal", 0) > 0  # background air
    fitted = np.isin(res.fit_status, FITTED_STATUSES)
    assert np.all(np.isfinite(res.a_brix[fitted])) and np.all(np.isnan(res.a_brix[~fitted]))
    assert 0.0 <= res.hypoxic_fraction <= 1.0


@pytest.mark.slow
def test_qiba_dro_dicom_series_every_voxel_is_fitted(shared_data):
    """The QIBA DCE DRO v6 (noise-free Tofts curves, 1321 frames, a DICOM folder): a digital reference object
    made for another model, so no A_Brix truth exists; the fitter must give every voxel an ordered, finite fit."""
    from HypoxiaMarkersLib.io import read_dce

    series = read_dce(shared_data / "qiba-dce-v6")
    mask = np.zeros(series.geometry.shape, dtype=bool)
    mask[:, 40:70, :] = True  # three rows of parameter patches
    res = analyse_dce(series, mask)
    assert res.n_fitted == res.n_tumour_voxels == 1500 and res.failures == {}
    inside = np.isin(res.fit_status, FITTED_STATUSES)
    assert np.all(np.isfinite(res.a_brix[inside])) and np.all(res.k_ep[inside] > res.k_el[inside])
    assert np.nanmin(res.r_squared[mask]) > 0.5 and np.nanmedian(res.r_squared[mask]) > 0.8


# ---------------------------------------------------------------------------------------------------------------
# Slice numbering
# ---------------------------------------------------------------------------------------------------------------


def test_slices_are_numbered_caudal_to_cranial_whatever_the_storage_order():
    mask = np.zeros((4, 5, 5), dtype=bool)
    mask[1:4, 1:4, 1:4] = True
    hypoxic = np.zeros_like(mask)
    hypoxic[1, 1:4, 1:4] = True  # k = 1 fully hypoxic
    fitted = mask.copy()
    up = Geometry(size=(5, 5, 4), spacing=(1, 1, 5), origin=(0, 0, 0))
    down = Geometry(size=(5, 5, 4), spacing=(1, 1, 5), origin=(0, 0, 0),
                    direction=(1, 0, 0, 0, 1, 0, 0, 0, -1))  # k grows towards the feet
    s_up = slice_fractions(mask, fitted, hypoxic, up, hf_cutoff=0.27)
    s_down = slice_fractions(mask, fitted, hypoxic, down, hf_cutoff=0.27)
    assert [s.k_index for s in s_up] == [1, 2, 3]
    assert [s.k_index for s in s_down] == [3, 2, 1]
    assert s_up[0].hypoxic_fraction == 1.0 and s_up[0].is_biopsy_slice
    assert s_down[2].hypoxic_fraction == 1.0 and s_down[0].hypoxic_fraction == 0.0


# ---------------------------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------------------------


def small_series(**changes):
    ph = make_phantom(seed=9, size=(32, 32, 4), tumour_radii_mm=(8, 8, 8))
    return dataclasses.replace(ph.series, **changes), ph.tumour_mask


def test_empty_mask_is_refused():
    series, mask = small_series()
    with pytest.raises(InputError, match="empty"):
        analyse_dce(series, np.zeros_like(mask))


def test_mask_on_another_grid_is_refused():
    series, mask = small_series()
    with pytest.raises(InputError, match="shape"):
        analyse_dce(series, mask[:-1])


@pytest.mark.parametrize("bad,match", [(np.nan, "NaN or infinite"), (np.inf, "NaN or infinite"),
                                       (-5.0, "negative")])
def test_non_finite_or_negative_tumour_signal_is_refused(bad, match):
    series, mask = small_series()
    signal = series.signal.copy()
    k, j, i = (int(v) for v in np.argwhere(mask)[0])
    signal[7, k, j, i] = bad
    with pytest.raises(InputError, match=match) as error:
        analyse_dce(dataclasses.replace(series, signal=signal), mask)
    assert f"frame 7, voxel (k, j, i) = {(k, j, i)}" in str(error.value)


def test_flat_curves_are_refused():
    series, mask = small_series()
    flat = np.repeat(series.signal[:1], series.n_frames, axis=0)
    with pytest.raises(InputError, match="enhancement"):
        analyse_dce(dataclasses.replace(series, signal=flat), mask)
    with pytest.raises(InputError, match="does not enhance"):
        analyse_dce(dataclasses.replace(series, signal=flat), mask, ImagingParameters(baseline_frames=5))


def test_zero_baseline_is_refused():
    series, mask = small_series()
    zero = series.signal.copy()
    zero[:, mask] = 0.0
    with pytest.raises(InputError, match="baseline"):
        analyse_dce(dataclasses.replace(series, signal=zero), mask, ImagingParameters(baseline_frames=5))


def test_too_few_frames_after_arrival_is_refused():
    series, mask = small_series()
    with pytest.raises(InputError, match="after bolus arrival"):
        analyse_dce(series, mask, ImagingParameters(baseline_frames=series.n_frames - 3))


def test_hypoxic_pattern_has_the_exact_fraction_and_clusters_when_asked():
    mask = np.zeros((60, 60), dtype=bool)
    mask[5:55, 5:55] = True
    scattered = hypoxic_pattern(mask, 0.3, 0.0, 1)
    clustered = hypoxic_pattern(mask, 0.3, 4.0, 1)
    assert scattered.sum() == clustered.sum() == round(0.3 * mask.sum())

    def neighbour_agreement(h):
        return np.mean(h[5:55, 5:54] == h[5:55, 6:55])

    assert neighbour_agreement(clustered) > neighbour_agreement(scattered) + 0.2
