"""Inputs whose order or bytes are wrong are put right or named, never fitted silently: frame files given in shell
order, and damaged compressed files that the image reader decodes without an error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from HypoxiaMarkersLib.cli import main
from HypoxiaMarkersLib.errors import InputError
from HypoxiaMarkersLib.imaging.phantom import make_phantom, write_phantom
from HypoxiaMarkersLib.io import read_dce, write_dce
from HypoxiaMarkersLib.io.dce import frame_file_order
from HypoxiaMarkersLib.io.volumes import write_volume


@pytest.fixture(scope="module")
def phantom_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("order")
    phantom = make_phantom(seed=7)
    write_phantom(phantom, folder / "phantom")
    frames = folder / "frames"
    frames.mkdir()
    for n in range(phantom.series.n_frames):
        write_volume(phantom.series.signal[n], phantom.series.geometry, frames / f"frame_{n + 1}.nrrd")
    return folder, phantom


def shell_order(folder: Path):
    """What `frame_*.nrrd` expands to in a shell: names sorted as strings (1, 10, 11, ..., 2, 20, ...)."""
    return sorted(str(p) for p in folder.glob("frame_*.nrrd"))


def test_natural_order_of_numbered_names():
    names = [Path(f"frame_{n}.nrrd") for n in (1, 10, 11, 2, 3)]
    ordered, note = frame_file_order(names)
    assert [p.name for p in ordered] == ["frame_1.nrrd", "frame_2.nrrd", "frame_3.nrrd", "frame_10.nrrd",
                                         "frame_11.nrrd"]
    assert "natural order" in note and "frame_10.nrrd" in note
    # Already in order, or names that differ in more than their numbers: kept as given, nothing said.
    assert frame_file_order(ordered) == (ordered, None)
    mixed = [Path("pre.nrrd"), Path("post10.nrrd"), Path("post2.nrrd")]
    assert frame_file_order(mixed) == (mixed, None)


@pytest.mark.slow
def test_frames_in_shell_order_are_read_in_time_order(phantom_folder):
    folder, phantom = phantom_folder
    given = shell_order(folder / "frames")
    assert Path(given[1]).name == "frame_10.nrrd"  # the trap is real
    with pytest.warns(UserWarning, match="natural order"):
        series = read_dce(given, frame_interval=float(np.diff(phantom.series.times_s)[0]))
    np.testing.assert_array_equal(series.signal, phantom.series.signal)
    assert "natural order" in series.metadata["frame_order"]


def test_image_on_shell_ordered_frames_equals_the_4d_series(phantom_folder, tmp_path):
    folder, phantom = phantom_folder
    mask = str(folder / "phantom" / "tumour_mask_t2w.nrrd")
    interval = str(float(np.diff(phantom.series.times_s)[0]))
    assert main(["image", str(folder / "phantom" / "dce.seq.nrrd"), "--mask", mask, "--out", str(tmp_path / "a"),
                 "--quiet"]) == 0
    with pytest.warns(UserWarning, match="natural order"):
        assert main(["image", *shell_order(folder / "frames"), "--mask", mask, "--frame-interval", interval,
                     "--out", str(tmp_path / "b"), "--quiet"]) == 0
    a = json.loads((tmp_path / "a" / "summary.json").read_text())
    b = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert b["hypoxic_fraction"] == a["hypoxic_fraction"]
    assert b["classification"] == a["classification"]


@pytest.mark.parametrize("how", ["flipped bytes", "truncated"])
def test_damaged_gzip_nrrd_is_named_as_damaged(phantom_folder, tmp_path, how):
    _, phantom = phantom_folder
    good = tmp_path / "dce.nrrd"
    write_dce(phantom.series, good)
    data = bytearray(good.read_bytes())
    if how == "flipped bytes":  # ITK decodes this without an error: the garbage looked like a bad signal
        for offset in (len(data) // 2, len(data) // 2 + 7):
            data[offset] ^= 0xFF
    else:
        data = data[: len(data) * 2 // 3]
    bad = tmp_path / "bad.nrrd"
    bad.write_bytes(bytes(data))
    with pytest.raises(InputError) as error:
        read_dce(bad)
    message = str(error.value)
    assert "bad.nrrd" in message
    assert ("damaged" in message) or ("could not read" in message and "received" in message)
    assert "negative" not in message and "NaN" not in message
    assert read_dce(good).n_frames == phantom.series.n_frames


def test_a_copied_dicom_file_is_named_not_reported_as_missing_time_tags(shared_data, tmp_path):
    import shutil

    source = sorted((shared_data / "qiba-dce-v6").glob("QIBA_v06_Tofts_beta1_00[0-3]*.dcm"))
    for path in source:
        shutil.copy(path, tmp_path / path.name)
    assert read_dce(tmp_path).n_frames == len(source)  # the real series reads
    shutil.copy(source[6], tmp_path / f"{source[6].stem} (copy).dcm")
    with pytest.raises(InputError) as error:
        read_dce(tmp_path)
    message = str(error.value)
    assert "same image" in message and source[6].name in message and "(copy)" in message
    assert "time tag" not in message
