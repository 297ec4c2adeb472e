"""Uncompressed 4D NIfTI and MetaImage series read a frame at a time (io/dce.py ``_read_frames``): the same voxels,
grid and times as SimpleITK's whole read, without ever holding the whole image in SimpleITK (issue 14: the peak was
twice the series). Compressed ones (.nii.gz, CompressedData MetaImage) are read whole (ITK inflates them from the
start for every frame) and give the same series."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from HypoxiaMarkersLib.errors import InputError
from HypoxiaMarkersLib.io import dce, read_dce, write_dce
from HypoxiaMarkersLib.volume import DceSeries, Geometry


def oblique_series(n_frames=6, seed=5) -> DceSeries:
    a = np.radians(30.0)
    rot = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    geometry = Geometry(size=(7, 5, 3), spacing=(0.7, 0.95, 4.0), origin=(12.5, -30.25, 8.0),
                        direction=tuple(rot.ravel()))
    signal = np.random.default_rng(seed).uniform(0, 2500, size=(n_frames,) + geometry.shape)
    return DceSeries(signal=signal.astype(np.float32), times_s=np.arange(n_frames) * 3.5, geometry=geometry,
                     time_source="test")


def write_metaimage(series: DceSeries, path, dtype, compressed: bool):
    """A plain 4D MetaImage of ``dtype`` as another program writes it (write_dce always compresses)."""
    image = sitk.GetImageFromArray(series.signal.astype(dtype), isVector=False)
    direction = np.eye(4)
    direction[:3, :3] = series.geometry.direction_matrix
    image.SetSpacing(tuple(series.geometry.spacing) + (3.5,))
    image.SetOrigin(tuple(series.geometry.origin) + (0.0,))
    image.SetDirection(tuple(direction.ravel()))
    sitk.WriteImage(image, str(path), compressed)
    return path


def whole_read(path, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(dce, "_read_frames", lambda p, reader: dce._split_4d(dce._sitk_read(p), p))
        return read_dce(path)


CASES = [
    ("dce.nii", None, False), ("dce.nii.gz", None, True),
    ("dce.mha", np.int16, False), ("dce.mhd", np.float64, False), ("dce.mha", np.uint16, True),
]


@pytest.mark.parametrize("name, dtype, compressed", CASES)
def test_streamed_read_equals_the_whole_read(tmp_path, monkeypatch, name, dtype, compressed):
    series = oblique_series()
    path = tmp_path / name
    if dtype is None:
        write_dce(series, path)
    else:
        write_metaimage(series, path, dtype, compressed)
    reference = whole_read(path, monkeypatch)
    if compressed:
        streamed = read_dce(path)
    else:
        assert not dce._compressed_metaimage(path)
        with monkeypatch.context() as patch:  # the streamed read never asks SimpleITK for the whole image
            patch.setattr(dce.sitk, "ReadImage", lambda *a, **k: pytest.fail("read whole"))
            streamed = read_dce(path)
    assert streamed.signal.dtype == reference.signal.dtype == np.float32 and streamed.signal.flags.c_contiguous
    np.testing.assert_array_equal(streamed.signal, reference.signal)
    assert streamed.geometry == reference.geometry
    np.testing.assert_array_equal(streamed.times_s, reference.times_s)
    assert streamed.time_source == reference.time_source
    # and both are the series written (integer types hold the values rounded towards zero)
    expected = series.signal if dtype is None else series.signal.astype(dtype).astype(np.float32)
    np.testing.assert_array_equal(streamed.signal, expected)
    np.testing.assert_allclose(streamed.geometry.direction_matrix, series.geometry.direction_matrix, atol=1e-6)
    np.testing.assert_allclose(streamed.times_s, series.times_s)


@pytest.mark.parametrize("name", ["dce.mha", "dce.nii"])
def test_a_truncated_series_names_the_file(tmp_path, name):
    """ITK 5.3 (SimpleITK 2.3, Slicer 5.8) reads the missing frames of a truncated file a region at a time without
    an error: the size check must refuse it on every stack."""
    if name.endswith(".mha"):
        path = write_metaimage(oblique_series(), tmp_path / name, np.float32, False)
    else:
        path = tmp_path / name
        write_dce(oblique_series(), path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) - 300])  # the last frame is missing its end
    with pytest.raises(InputError) as error:
        read_dce(path)
    assert str(path) in str(error.value) and "truncated" in str(error.value)
