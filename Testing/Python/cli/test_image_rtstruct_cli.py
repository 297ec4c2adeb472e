"""``hypoxia-markers image --mask RTSTRUCT.dcm --roi NAME`` through the command line: results, refusals (exit 2,
nothing written), the frame-of-reference check against a DICOM DCE series and its warning for NRRD input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk

from HypoxiaMarkersLib.imaging import phantom

from helpers.rtstruct_files import mask_contours, write_dicom_dce, write_rtstruct

FRAME = "1.2.826.0.1.3680043.8.498.77"
SMALL = dict(size=(32, 32, 4), spacing=(1.0, 1.0, 5.0), tumour_radii_mm=(9.0, 8.0, 9.0), n_frames=14,
             t2w_spacing=(0.5, 0.5, 2.5))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rtstruct_cli")
    p = phantom.make_phantom(seed=4, **SMALL)
    phantom.write_phantom(p, folder / "phantom")
    write_dicom_dce(p.series, folder / "dicom", FRAME)
    contours = mask_contours(p.t2w_tumour_mask, p.t2w_geometry)
    rois = {"GTV": contours, "Bladder": contours[:2]}
    write_rtstruct(folder / "rs.dcm", rois, FRAME)
    write_rtstruct(folder / "rs_other_frame.dcm", rois, FRAME + ".9")
    write_rtstruct(folder / "rs_elsewhere.dcm", {"GTV": [c + [0.0, 0.0, 120.0] for c in contours]}, FRAME)
    return folder, p


def cli(*args):
    return subprocess.run([sys.executable, "-m", "HypoxiaMarkersLib.cli", "image", *map(str, args), "--quiet"],
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_rtstruct_on_a_dicom_series_of_the_same_frame_of_reference(files, tmp_path):
    folder, p = files
    done = cli(folder / "dicom", "--mask", folder / "rs.dcm", "--roi", "GTV", "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert "frame of reference" not in done.stderr  # checked, and the same: nothing to warn about
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["inputs"]["roi"] == "GTV"
    # The same voxels as the label map of the same outline, within its edge voxels (see io/test_rtstruct_mask.py),
    # and so the same hypoxic fraction within one voxel's share per differing voxel.
    label = cli(folder / "dicom", "--mask", folder / "phantom" / "tumour_mask_t2w.nrrd", "--out", tmp_path / "label")
    assert label.returncode == 0, label.stderr
    tumour, from_label = (sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / name / "tumour_mask.nrrd"))) > 0
                          for name in ("out", "label"))
    differing = int((tumour != from_label).sum())
    assert differing <= 0.03 * from_label.sum()
    label_summary = json.loads((tmp_path / "label" / "summary.json").read_text())
    n = min(summary["n_fitted"], label_summary["n_fitted"])
    assert abs(summary["hypoxic_fraction"] - label_summary["hypoxic_fraction"]) <= differing / n + 1e-12


@pytest.mark.slow
def test_rtstruct_on_nrrd_warns_that_the_frame_of_reference_is_not_checked(files, tmp_path):
    folder, _ = files
    done = cli(folder / "phantom" / "dce.seq.nrrd", "--mask", folder / "rs_other_frame.dcm", "--roi", "GTV",
               "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert "cannot be checked" in done.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert any("frame of reference cannot be checked" in w for w in summary["warnings"])


@pytest.mark.parametrize("mask, extra, message", [
    ("rs_other_frame.dcm", ["--roi", "GTV"],
     f'ReferencedFrameOfReferenceUID: ROI "GTV" is in frame of reference {FRAME}.9, the DCE series in {FRAME}:'),
    ("rs_elsewhere.dcm", [], 'ROI "GTV" has no contours on the DCE slices'),
    ("rs.dcm", ["--roi", "Tumour"], 'no ROI named "Tumour" (ROIs: "GTV", "Bladder")'),
    ("rs.dcm", [], 'the RTSTRUCT has 2 ROIs ("GTV", "Bladder"); say which is the tumour'),
    ("rs.dcm", ["--segment", "GTV"], "--segment does not apply to an RTSTRUCT"),
])
def test_bad_rtstruct_input_exits_2_and_writes_nothing(files, tmp_path, mask, extra, message):
    folder, _ = files
    before = sorted(p.name for p in folder.rglob("*"))
    done = cli(folder / "dicom", "--mask", folder / mask, *extra, "--out", tmp_path / "out")
    assert done.returncode == 2, done.stderr
    assert message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()
    assert list(tmp_path.iterdir()) == []  # no half-written folder either
    assert sorted(p.name for p in folder.rglob("*")) == before  # inputs untouched


def test_roi_on_a_label_map_is_refused(files, tmp_path):
    folder, _ = files
    done = cli(folder / "phantom" / "dce.seq.nrrd", "--mask", folder / "phantom" / "tumour_mask_t2w.nrrd",
               "--roi", "GTV", "--out", tmp_path / "out")
    assert done.returncode == 2
    assert "--roi applies to DICOM RTSTRUCT files" in done.stderr
    assert not (tmp_path / "out").exists()


def test_the_dicom_series_records_its_frame_of_reference(files):
    from HypoxiaMarkersLib.io import read_dce

    folder, p = files
    series = read_dce(folder / "dicom")
    assert series.metadata["frame_of_reference_uid"] == FRAME
    np.testing.assert_allclose(series.times_s, p.series.times_s, atol=1e-3)
