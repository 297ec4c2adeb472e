"""The ``phantom`` and ``image`` commands end to end: truth, geometry, and bad input leaving nothing behind."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import SimpleITK as sitk

from HypoxiaMarkersLib.cli import main
from HypoxiaMarkersLib.imaging.phantom import make_phantom
from HypoxiaMarkersLib.io import read_dce, write_dce
from HypoxiaMarkersLib.io.volumes import read_volume, write_volume
from HypoxiaMarkersLib.volume import Geometry


@pytest.fixture(scope="module")
def phantom_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "phantom"
    assert main(["phantom", "--out", str(out), "--seed", "4"]) == 0
    return out


@pytest.fixture(scope="module")
def image_dir(phantom_dir):
    out = phantom_dir.parent / "image"
    code = main(["image", str(phantom_dir / "dce.seq.nrrd"), "--mask", str(phantom_dir / "tumour_mask_t2w.nrrd"),
                 "--out", str(out), "--quiet"])
    assert code == 0
    return out


def test_phantom_writes_series_mask_on_t2w_grid_and_truth(phantom_dir):
    for name in ("dce.seq.nrrd", "t2w.nrrd", "tumour_mask_t2w.nrrd", "tumour.seg.nrrd", "times_s.txt",
                 "truth/a_brix.nrrd", "truth/truth.json", "truth/tumour_mask.nrrd"):
        assert (phantom_dir / name).is_file(), name
    _, t2w = read_volume(phantom_dir / "t2w.nrrd")
    _, truth = read_volume(phantom_dir / "truth" / "tumour_mask.nrrd")
    assert not np.allclose(t2w.spacing, truth.spacing)  # the mask is drawn on another grid


def test_image_outputs_match_truth(phantom_dir, image_dir):
    truth = json.loads((phantom_dir / "truth" / "truth.json").read_text())
    summary = json.loads((image_dir / "summary.json").read_text())
    assert abs(summary["hypoxic_fraction"] - truth["hypoxic_fraction"]) <= 0.02
    a_true, _ = read_volume(phantom_dir / "truth" / "a_brix.nrrd")
    a_fit, _ = read_volume(image_dir / "a_brix.nrrd")
    inside = np.isfinite(a_fit)
    assert np.median(np.abs(a_fit[inside] - a_true[inside]) / a_true[inside]) <= 0.03
    hyp_true, _ = read_volume(phantom_dir / "truth" / "hypoxic_mask.nrrd")
    hyp_fit, _ = read_volume(image_dir / "hypoxic_mask.nrrd")
    assert np.mean(hyp_true[inside] == hyp_fit[inside]) >= 0.97
    for key in ("hypoxic_fraction", "classification", "n_tumour_voxels", "n_fitted", "n_failed", "biopsy_slice",
                "slices", "parameters", "version"):
        assert key in summary
    assert summary["biopsy_slice"]["slice"] == 1
    assert summary["parameters"]["a_threshold"] == 1.56 and summary["parameters"]["baseline_frames"] is None
    lines = (image_dir / "slices.csv").read_text().splitlines()
    assert lines[0].split(",")[:3] == ["slice", "k_index", "voxels"]
    assert len(lines) - 1 == len(summary["slices"])


def test_maps_carry_the_dce_geometry_exactly(phantom_dir, image_dir):
    series = read_dce(phantom_dir / "dce.seq.nrrd")
    for name in ("a_brix", "k_ep", "k_el", "r_squared", "fit_status", "hypoxic_mask", "tumour_mask"):
        image = sitk.ReadImage(str(image_dir / f"{name}.nrrd"))
        assert image.GetSize() == series.geometry.size
        np.testing.assert_allclose(image.GetOrigin(), series.geometry.origin, atol=1e-9)
        np.testing.assert_allclose(image.GetSpacing(), series.geometry.spacing, atol=1e-9)
        np.testing.assert_allclose(image.GetDirection(), series.geometry.direction, atol=1e-9)


def test_segmentation_gives_the_same_result_as_the_label_map(phantom_dir, image_dir, tmp_path):
    out = tmp_path / "seg"
    assert main(["image", str(phantom_dir / "dce.seq.nrrd"), "--mask", str(phantom_dir / "tumour.seg.nrrd"),
                 "--segment", "Tumour", "--out", str(out), "--quiet"]) == 0
    a, _ = read_volume(out / "a_brix.nrrd")
    b, _ = read_volume(image_dir / "a_brix.nrrd")
    np.testing.assert_array_equal(a, b)


def test_options_are_recorded(phantom_dir, tmp_path):
    out = tmp_path / "opts"
    assert main(["image", str(phantom_dir / "dce.seq.nrrd"), "--mask", str(phantom_dir / "tumour_mask_t2w.nrrd"),
                 "--out", str(out), "--quiet", "--a-threshold", "1.2", "--hf-cutoff", "0.5", "--biopsy-slice", "2",
                 "--baseline-frames", "10"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    p = summary["parameters"]
    assert (p["a_threshold"], p["hf_cutoff"], p["biopsy_slice"], p["baseline_frames"]) == (1.2, 0.5, 2, 10)
    assert summary["biopsy_slice"]["slice"] == 2
    assert summary["biopsy_slice"]["hypoxic_fraction"] == summary["slices"][1]["hypoxic_fraction"]


# ---------------------------------------------------------------------------------------------------------------
# Bad input: clear message, exit status 2, nothing left in --out
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    folder = tmp_path_factory.mktemp("small")
    ph = make_phantom(seed=8, size=(40, 40, 4), tumour_radii_mm=(10, 10, 8))
    write_dce(ph.series, folder / "dce.seq.nrrd")
    write_volume(ph.tumour_mask.astype(np.uint8), ph.series.geometry, folder / "mask.nrrd")
    return folder, ph


def _write_series(folder, ph, signal):
    path = folder / "bad.seq.nrrd"
    write_dce(dataclasses.replace(ph.series, signal=signal.astype(np.float32)), path)
    return path


def bad_cases(folder, ph):
    g = ph.series.geometry
    mask = folder / "mask.nrrd"
    dce = folder / "dce.seq.nrrd"
    cases = {}
    cases["missing file"] = ([str(folder / "nope.nrrd"), "--mask", str(mask)], "nope.nrrd")
    corrupt = folder / "corrupt.nrrd"
    corrupt.write_bytes(b"NRRD0004\ntype: float\ndimension: 4\nsizes: 2 2\n\ngarbage")
    cases["corrupt file"] = ([str(corrupt), "--mask", str(mask)], "corrupt.nrrd")
    three_d = folder / "three_d.nrrd"
    write_volume(ph.series.signal[0], g, three_d)
    cases["not 4D"] = ([str(three_d), "--mask", str(mask)], "4D")
    cases["too few frames after arrival"] = ([str(dce), "--mask", str(mask), "--baseline-frames", "37"],
                                             "after bolus arrival")
    frames = []
    for n in range(3):
        p = folder / f"frame{n}.nrrd"
        write_volume(ph.series.signal[n], g, p)
        frames.append(str(p))
    cases["list of volumes without times"] = (frames + ["--mask", str(mask)], "--times")
    times = ",".join(["0"] + [str(10 * n) for n in range(1, ph.series.n_frames - 1)] + ["5"])
    cases["non-increasing times"] = ([str(dce), "--mask", str(mask), "--times", times], "increasing")
    empty = folder / "empty.nrrd"
    write_volume(np.zeros(g.shape, np.uint8), g, empty)
    cases["empty mask"] = ([str(dce), "--mask", str(empty)], "empty")
    far = Geometry(size=g.size, spacing=g.spacing, origin=tuple(o + 500.0 for o in g.origin))
    outside = folder / "outside.nrrd"
    write_volume(ph.tumour_mask.astype(np.uint8), far, outside)
    cases["mask outside the series"] = ([str(dce), "--mask", str(outside)], "overlap")
    k, j, i = (int(v) for v in np.argwhere(ph.tumour_mask)[0])
    nan = ph.series.signal.copy()
    nan[12, k, j, i] = np.nan
    cases["NaN signal"] = ([str(_write_series(folder, ph, nan)), "--mask", str(mask)], "NaN")
    neg = ph.series.signal.copy()
    neg[12, k, j, i] = -3
    path = folder / "neg.seq.nrrd"
    write_dce(dataclasses.replace(ph.series, signal=neg), path)
    cases["negative signal"] = ([str(path), "--mask", str(mask)], "negative")
    zero = ph.series.signal.copy()
    zero[:, ph.tumour_mask] = 0
    path = folder / "zero.seq.nrrd"
    write_dce(dataclasses.replace(ph.series, signal=zero), path)
    cases["zero baseline"] = ([str(path), "--mask", str(mask), "--baseline-frames", "10"], "baseline")
    flat = np.repeat(ph.series.signal[:1], ph.series.n_frames, axis=0)
    path = folder / "flat.seq.nrrd"
    write_dce(dataclasses.replace(ph.series, signal=flat), path)
    cases["flat curves"] = ([str(path), "--mask", str(mask)], "enhance")
    return cases


CASES = ["missing file", "corrupt file", "not 4D", "too few frames after arrival", "list of volumes without times",
         "non-increasing times", "empty mask", "mask outside the series", "NaN signal", "negative signal",
         "zero baseline", "flat curves"]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_exits_2_with_a_clear_message_and_leaves_nothing(case, small, tmp_path, capsys):
    folder, ph = small
    args, expected_text = bad_cases(folder, ph)[case]
    out = tmp_path / "result"
    code = main(["image"] + args + ["--out", str(out), "--quiet"])
    message = capsys.readouterr().err
    assert code == 2
    assert "error:" in message and expected_text in message
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no half-written temporary folder either


def test_a_failed_run_keeps_the_previous_good_output(small, tmp_path):
    folder, ph = small
    out = tmp_path / "result"
    assert main(["image", str(folder / "dce.seq.nrrd"), "--mask", str(folder / "mask.nrrd"), "--out", str(out),
                 "--quiet"]) == 0
    before = (out / "summary.json").read_text()
    assert main(["image", str(folder / "dce.seq.nrrd"), "--mask", str(folder / "nope.nrrd"), "--out", str(out),
                 "--quiet"]) == 2
    assert (out / "summary.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result"]


def test_partial_volume_mask_option(phantom_dir, image_dir, tmp_path):
    out = tmp_path / "pv"
    assert main(["image", str(phantom_dir / "dce.seq.nrrd"), "--mask", str(phantom_dir / "tumour_mask_t2w.nrrd"),
                 "--mask-min-fraction", "0.5", "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    nearest = json.loads((image_dir / "summary.json").read_text())
    assert summary["inputs"]["mask_min_fraction"] == 0.5
    # the same tumour up to its boundary voxels
    assert abs(summary["n_tumour_voxels"] - nearest["n_tumour_voxels"]) < 0.05 * nearest["n_tumour_voxels"]
    truth = json.loads((phantom_dir / "truth" / "truth.json").read_text())
    assert abs(summary["hypoxic_fraction"] - truth["hypoxic_fraction"]) <= 0.02
    assert main(["image", str(phantom_dir / "dce.seq.nrrd"), "--mask", str(phantom_dir / "tumour_mask_t2w.nrrd"),
                 "--mask-min-fraction", "1.5", "--out", str(tmp_path / "bad"), "--quiet"]) == 2


def test_inputs_are_never_changed(phantom_dir, tmp_path):
    import hashlib

    inputs = [phantom_dir / "dce.seq.nrrd", phantom_dir / "tumour.seg.nrrd"]
    before = {p: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in inputs}
    assert main(["image", str(inputs[0]), "--mask", str(inputs[1]), "--segment", "Tumour", "--out",
                 str(tmp_path / "out"), "--quiet"]) == 0
    assert {p: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in inputs} == before
