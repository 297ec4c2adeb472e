"""Baseline frames detected once, in the analysis: recorded always, one warning when given frames disagree with them
(either direction), and the injection-duration bound checked against the arrival (issue 14, review of stop 9)."""

from __future__ import annotations

import numpy as np
import pytest

from HypoxiaMarkersLib.errors import InputError
from HypoxiaMarkersLib.imaging.analysis import ImagingParameters, analyse_dce
from HypoxiaMarkersLib.imaging.phantom import make_phantom
from HypoxiaMarkersLib.imaging.timing import check_injection_duration_bound


@pytest.fixture(scope="module")
def phantom():
    # 40 frames 10 s apart; the contrast arrives after frame 10 (truth of the phantom)
    return make_phantom(seed=3, size=(48, 48, 4), tumour_radii_mm=(14.0, 12.0, 9.0))


def _baseline_warnings(result):
    return [w for w in result.warnings if w.startswith("--baseline-frames")]


def test_detected_frames_are_recorded_and_match_the_truth(phantom):
    true_base = phantom.settings["baseline_frames"]
    for given in (None, true_base):
        result = analyse_dce(phantom.series, phantom.tumour_mask, ImagingParameters(baseline_frames=given))
        assert result.baseline_frames_auto == true_base == result.summary()["bolus_arrival"]["baseline_frames_detected"]
        assert _baseline_warnings(result) == []


def test_too_many_given_frames_are_warned_once(phantom):
    true_base = phantom.settings["baseline_frames"]
    result = analyse_dce(phantom.series, phantom.tumour_mask, ImagingParameters(baseline_frames=true_base + 2))
    (warning,) = _baseline_warnings(result)
    assert f"already rises from frame {true_base + 1} (1-based)" in warning and "2 enhancing frame(s)" in warning
    assert result.baseline_frames == true_base + 2 and result.baseline_frames_auto == true_base


def test_too_few_given_frames_are_warned_once(phantom):
    true_base = phantom.settings["baseline_frames"]
    one_off = analyse_dce(phantom.series, phantom.tumour_mask, ImagingParameters(baseline_frames=true_base - 1))
    assert _baseline_warnings(one_off) == []  # one frame early: within the arrival's uncertainty
    result = analyse_dce(phantom.series, phantom.tumour_mask, ImagingParameters(baseline_frames=true_base - 5))
    (warning,) = _baseline_warnings(result)
    assert warning.startswith(f"--baseline-frames {true_base - 5} disagrees with the {true_base} baseline frames")
    assert result.baseline_frames_auto == true_base


def test_the_slicer_summary_shows_the_warning(phantom):
    from HypoxiaMarkersLib.slicer.logic import patient_summary, summary_html

    result = analyse_dce(phantom.series, phantom.tumour_mask, ImagingParameters(baseline_frames=5))
    html = summary_html(patient_summary(result.hypoxic_fraction, 0.27, None, 0.0), result)
    assert "--baseline-frames 5 disagrees with the 10 baseline frames" in html


def test_an_injection_longer_than_half_the_washout_is_refused_by_the_analysis(phantom):
    times = phantom.series.times_s
    after_arrival = times[-1] - times[phantom.settings["baseline_frames"] - 1]  # 300 s
    assert check_injection_duration_bound(after_arrival / 2, after_arrival) == after_arrival / 2
    with pytest.raises(InputError, match="--injection-duration") as error:
        analyse_dce(phantom.series, phantom.tumour_mask, ImagingParameters(injection_duration_s=after_arrival / 2 + 1))
    assert f"[0, {after_arrival / 2:g}]" in str(error.value)


def test_the_command_refuses_the_injection_before_reading_when_times_are_given(tmp_path, capsys):
    from HypoxiaMarkersLib.cli import main

    broken = tmp_path / "dce.nrrd"
    broken.write_bytes(b"not an image")  # reading it would fail naming the file
    mask = tmp_path / "mask.nrrd"
    mask.write_bytes(b"not an image")
    times = ",".join(str(t) for t in np.arange(10) * 10.0)  # 90 s in all: at most 45 s of injection
    code = main(["image", str(broken), "--mask", str(mask), "--times", times, "--injection-duration", "46",
                 "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "--injection-duration" in err and "dce.nrrd" not in err
    assert not (tmp_path / "out").exists()
