"""Baseline frames and the enhancement check on short baselines: the phantom with 2-10 pre-contrast frames and
the real in-vivo slice, whose mean curve rises from frame 5 of 25 (issue 15, item 1)."""

from __future__ import annotations

import numpy as np
import pytest

from HypoxiaMarkersLib.errors import InputError
from HypoxiaMarkersLib.imaging.analysis import ImagingParameters, analyse_dce
from HypoxiaMarkersLib.imaging.phantom import make_phantom
from HypoxiaMarkersLib.imaging.timing import curve_noise, detect_baseline_frames


def test_curve_noise_ignores_the_upslope():
    """Per-frame noise SD of curves with a bolus upslope at frame 4, against the known SD of the added noise."""
    rng = np.random.default_rng(0)
    t = np.arange(25.0)
    clean = np.where(t >= 4, 0.3 * (1 - np.exp(-(t - 4) / 2.0)), 0.0)
    sigma = 0.02
    pure = [curve_noise(sigma * rng.standard_normal(t.size)) for _ in range(1000)]
    assert abs(np.mean(pure) / sigma - 1) < 0.05  # unbiased on noise alone
    estimates = [curve_noise(clean + sigma * rng.standard_normal(t.size)) for _ in range(1000)]
    assert 0.95 < np.mean(estimates) / sigma < 1.25  # the upslope inflates it a little (measured: +15 %)


def test_invivo_slice_with_the_tissue_mask_is_analysed(invivo_tissue):
    series, mask = invivo_tissue
    curve = series.signal[:, mask].mean(axis=1)
    rel = curve / curve[0] - 1
    assert np.all(np.abs(rel[:4]) < 0.05) and np.all(rel[4:] > 0.06)  # by eye: 4 baseline frames
    assert detect_baseline_frames(curve) == 4
    result = analyse_dce(series, mask)
    assert result.baseline_frames == 4 and result.baseline_frames_detected
    assert result.n_fitted + result.n_failed == result.n_tumour_voxels == int(mask.sum())
    assert not any(w.startswith("--baseline-frames") for w in result.warnings)
    assert 0.0 <= result.hypoxic_fraction <= 1.0


@pytest.mark.parametrize("n_base", [2, 3, 4, 5, 10])
def test_invivo_slice_with_given_baseline_frames(invivo_tissue, n_base):
    series, mask = invivo_tissue
    result = analyse_dce(series, mask, ImagingParameters(baseline_frames=n_base))
    assert result.baseline_frames == n_base and not result.baseline_frames_detected
    assert series.times_s[n_base - 1] <= result.mean_curve.t_lag_s < series.times_s[n_base]
    rising = [w for w in result.warnings if w.startswith("--baseline-frames")]
    if n_base == 2:  # two frames before the detected arrival: the other direction, one warning too
        assert len(rising) == 1 and "disagrees with the 4 baseline frames detected" in rising[0]
    elif n_base <= 4:
        assert rising == []
    else:  # frames 5.. (1-based) already rise: averaged into S0, and the user is told
        assert len(rising) == 1 and "rises from frame 5" in rising[0]
        assert f"{n_base - 4} enhancing frame(s)" in rising[0]


@pytest.mark.parametrize("n_base", [2, 3, 4, 5, 10])
def test_phantom_with_short_baselines_is_detected_and_fitted(n_base):
    ph = make_phantom(seed=11, size=(48, 48, 4), tumour_radii_mm=(12, 10, 8), baseline_frames=n_base,
                      n_frames=30 + n_base)
    result = analyse_dce(ph.series, ph.tumour_mask)
    m = ph.tumour_mask
    assert result.baseline_frames == n_base
    assert abs(result.mean_curve.t_lag_s - ph.t_lag_s) < ph.settings["frame_interval_s"] / 2
    assert abs(result.hypoxic_fraction - ph.hypoxic_fraction) <= 0.02
    # S0 averages fewer noisy frames with a short baseline: 3 % noise gives ~5 % error in A at 2 frames
    assert np.nanmedian(np.abs(result.a_brix[m] - ph.a_brix[m]) / ph.a_brix[m]) <= 0.06


def test_no_enhancement_says_how_to_give_the_baseline_frames():
    rng = np.random.default_rng(1)
    flat = 1000.0 + rng.standard_normal(25)
    with pytest.raises(InputError, match="--baseline-frames N") as error:
        detect_baseline_frames(flat)
    assert "noise" in str(error.value)


def test_times_option_reads_a_file_of_times(shared_data, tmp_path):
    """--times accepts the tool's own times_s.txt (one time per line), as well as a comma-separated list."""
    from HypoxiaMarkersLib.imaging.timing import parse_times_option

    path = shared_data / "invivo-dce-slice" / "times_s.txt"
    expected = [float(line) for line in path.read_text().split()]
    np.testing.assert_array_equal(parse_times_option(str(path)), expected)
    np.testing.assert_array_equal(parse_times_option("0, 16.43,32.86"), [0.0, 16.43, 32.86])
    other = tmp_path / "times.csv"
    other.write_text("0;5.5;11\n")
    np.testing.assert_array_equal(parse_times_option(str(other)), [0.0, 5.5, 11.0])
    bad = tmp_path / "bad.txt"
    bad.write_text("0\nten\n")
    with pytest.raises(InputError, match="bad.txt"):
        parse_times_option(str(bad))
    with pytest.raises(InputError, match="--times"):
        parse_times_option("0,1,x")
    with pytest.raises(InputError, match="no frame times"):
        parse_times_option(" ")
