"""NRRD series decoded a slab at a time (io/dce.py ``_stream_nrrd``): the same voxels, grid and times as the
SimpleITK reader gives, with a peak of the series plus one slab instead of twice the series."""

from __future__ import annotations

import tracemalloc

import nrrd
import numpy as np
import pytest

from HypoxiaMarkersLib.io import dce, read_dce, write_dce
from HypoxiaMarkersLib.volume import DceSeries, Geometry


def oblique_series(n_frames=7, dtype=np.float32, seed=3) -> DceSeries:
    a = np.radians(25.0)
    rot = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    geometry = Geometry(size=(9, 6, 4), spacing=(0.8, 0.9, 3.5), origin=(-10.5, 22.25, 3.0),
                        direction=tuple(rot.ravel()))
    rng = np.random.default_rng(seed)
    signal = rng.uniform(0, 3000, size=(n_frames,) + geometry.shape)
    return DceSeries(signal=signal.astype(dtype), times_s=np.arange(n_frames) * 4.5, geometry=geometry,
                     time_source="test")


def sequence_header(series: DceSeries, *, type_name="float", encoding="gzip", endian="little") -> dict:
    g = series.geometry
    directions = np.vstack([np.full(3, np.nan)] + [g.direction_matrix[:, a] * g.spacing[a] for a in range(3)])
    return {
        "type": type_name, "dimension": 4, "space": "left-posterior-superior", "endian": endian,
        "kinds": ["list", "domain", "domain", "domain"], "labels": ["time", "", "", ""], "units": ["s", "", "", ""],
        "space directions": directions, "space origin": np.asarray(g.origin), "encoding": encoding,
        "axis 0 index type": "numeric", "axis 0 index values": " ".join(f"{t:g}" for t in series.times_s),
    }


def read_both(path, monkeypatch):
    """The series read by the streaming reader, and by SimpleITK alone (streaming turned off)."""
    streamed = read_dce(path)
    with monkeypatch.context() as patch:
        patch.setattr(dce, "_stream_nrrd", lambda *args: None)
        reference = read_dce(path)
    return streamed, reference


def assert_identical(a: DceSeries, b: DceSeries) -> None:
    assert a.signal.dtype == b.signal.dtype == np.float32
    assert a.signal.flags.c_contiguous and b.signal.flags.c_contiguous
    np.testing.assert_array_equal(a.signal, b.signal)
    assert a.geometry == b.geometry
    np.testing.assert_array_equal(a.times_s, b.times_s)
    assert a.time_source == b.time_source


def test_sequence_nrrd_as_written_streams_identically(tmp_path, monkeypatch):
    series = oblique_series()
    path = write_dce(series, tmp_path / "dce.seq.nrrd")
    header = nrrd.read_header(str(path))
    assert dce._stream_nrrd(path, header, 0) is not None  # this file takes the streaming path
    streamed, reference = read_both(path, monkeypatch)
    assert_identical(streamed, reference)
    np.testing.assert_array_equal(streamed.signal, series.signal)


def test_plain_4d_nrrd_streams_identically(tmp_path, monkeypatch):
    series = oblique_series(seed=4)
    path = write_dce(series, tmp_path / "dce.nrrd")  # written by SimpleITK, gzip
    assert dce._stream_nrrd(path, nrrd.read_header(str(path)), None) is not None
    streamed, reference = read_both(path, monkeypatch)
    assert_identical(streamed, reference)
    np.testing.assert_array_equal(streamed.signal, series.signal)


@pytest.mark.parametrize("type_name, dtype, encoding, endian", [
    ("short", np.int16, "raw", "big"),
    ("unsigned short", np.uint16, "gzip", "little"),
    ("double", np.float64, "raw", "little"),
    ("int", np.int32, "gzip", "big"),
])
def test_other_types_and_encodings_stream_identically(tmp_path, monkeypatch, type_name, dtype, encoding, endian):
    series = oblique_series(dtype=dtype, seed=5)
    if dtype == np.float64:  # values that float32 must round
        series.signal = series.signal + np.float64(1e-9) * np.arange(series.signal.size).reshape(series.signal.shape)
    path = tmp_path / "typed.seq.nrrd"
    nrrd.write(str(path), np.moveaxis(series.signal, 0, -1),
               sequence_header(series, type_name=type_name, encoding=encoding, endian=endian), index_order="C")
    assert nrrd.read_header(str(path))["encoding"] == encoding
    assert dce._stream_nrrd(path, nrrd.read_header(str(path)), 0) is not None
    streamed, reference = read_both(path, monkeypatch)
    assert_identical(streamed, reference)
    np.testing.assert_array_equal(streamed.signal, series.signal.astype(np.float32))


def test_files_the_stream_does_not_read_go_to_simpleitk(tmp_path, monkeypatch):
    series = oblique_series(seed=6)
    header = sequence_header(series, encoding="ascii")
    path = tmp_path / "text.seq.nrrd"
    nrrd.write(str(path), np.moveaxis(series.signal, 0, -1), header, index_order="C")
    assert dce._stream_nrrd(path, nrrd.read_header(str(path)), 0) is None
    np.testing.assert_array_equal(read_dce(path).signal, series.signal)
    detached = tmp_path / "detached.seq.nhdr"
    nrrd.write(str(detached), np.moveaxis(series.signal, 0, -1), sequence_header(series), index_order="C",
               detached_header=True)
    assert dce._stream_nrrd(detached, nrrd.read_header(str(detached)), 0) is None
    np.testing.assert_array_equal(read_dce(detached).signal, series.signal)


def test_damaged_gzip_falls_back_and_is_named(tmp_path):
    path = write_dce(oblique_series(n_frames=30, seed=7), tmp_path / "dce.seq.nrrd")
    data = path.read_bytes()
    truncated = tmp_path / "short.seq.nrrd"
    truncated.write_bytes(data[: len(data) - 300])
    assert dce._stream_nrrd(truncated, nrrd.read_header(str(truncated)), 0) is None
    with pytest.raises(dce.InputError, match="short.seq.nrrd"):
        read_dce(truncated)


def test_peak_memory_is_the_series_plus_a_slab(tmp_path, monkeypatch):
    """numpy's allocations while a sequence is read: the float32 series and one slice of frames, not two
    series (tracemalloc sees numpy's buffers; SimpleITK's own image would not show, so the streaming path must be
    the one taken: asserted above)."""
    geometry = Geometry(size=(64, 48, 10), spacing=(1.0, 1.0, 3.0), origin=(0.0, 0.0, 0.0))
    rng = np.random.default_rng(8)
    series = DceSeries(signal=rng.uniform(0, 1000, (40,) + geometry.shape).astype(np.float32),
                       times_s=np.arange(40) * 3.0, geometry=geometry)
    path = write_dce(series, tmp_path / "big.seq.nrrd", compression_level=1)
    size = series.signal.nbytes
    del series
    monkeypatch.setattr(dce, "_STREAM_BLOCK", 1 << 16)  # the fixed cost of the byte pieces, small beside the series
    tracemalloc.start()
    try:
        read = read_dce(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert read.signal.nbytes == size
    assert peak < 1.3 * size, f"peak {peak / size:.2f}x the series"


def test_volume_list_filled_frame_by_frame(tmp_path):
    """A list of 3D frames goes straight into the series array: the values are the frames' own, cast to float32."""
    from HypoxiaMarkersLib.io.volumes import write_volume

    series = oblique_series(n_frames=4, dtype=np.int16, seed=9)
    paths = []
    for n, frame in enumerate(series.signal):
        paths.append(tmp_path / f"frame_{n}.nrrd")
        write_volume(frame, series.geometry, paths[-1])
    read = read_dce(paths, frame_interval=4.5)
    assert read.signal.dtype == np.float32 and read.signal.flags.c_contiguous
    np.testing.assert_array_equal(read.signal, series.signal.astype(np.float32))
    assert read.geometry.same_grid(series.geometry, tol=1e-9)
