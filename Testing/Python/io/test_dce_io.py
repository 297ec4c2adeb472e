"""4D series in files: NRRD (plain, Slicer .seq.nrrd both layouts, MultiVolume), NIfTI, MetaImage, 3D lists.

Layouts are checked against Slicer itself: files written here are read by slicer-core's
vtkMRMLVolumeSequenceStorageNode, and files written by Slicer's storage node are read by our reader.
"""

from __future__ import annotations

import gzip
import struct

import nrrd
import numpy as np
import pytest
import SimpleITK as sitk

from HypoxiaMarkersLib.errors import InputError
from HypoxiaMarkersLib.io import check_signal, read_dce, write_dce
from HypoxiaMarkersLib.io.volumes import write_volume
from HypoxiaMarkersLib.volume import DceSeries, Geometry


def oblique_geometry() -> Geometry:
    a, b = np.radians(20.0), np.radians(35.0)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    return Geometry(size=(5, 4, 3), spacing=(0.7, 0.9, 3.5), origin=(-12.25, 30.5, 7.75),
                    direction=tuple((rz @ ry).ravel()))


def make_series(times, geometry=None, seed=0) -> DceSeries:
    geometry = geometry or oblique_geometry()
    rng = np.random.default_rng(seed)
    signal = rng.uniform(0, 1000, size=(len(times),) + geometry.shape).astype(np.float32)
    return DceSeries(signal=signal, times_s=np.asarray(times, dtype=float), geometry=geometry, time_source="test")


def assert_same_geometry(a: Geometry, b: Geometry, tol=1e-12):
    assert a.size == b.size
    np.testing.assert_allclose(a.spacing, b.spacing, rtol=0, atol=tol)
    np.testing.assert_allclose(a.origin, b.origin, rtol=0, atol=tol)
    np.testing.assert_allclose(a.direction, b.direction, rtol=0, atol=tol)


# ------------------------------------------------------------------------------------------------------------
# Real data


def test_invivo_plain_4d_nrrd(shared_data):
    path = shared_data / "invivo-dce-slice" / "dce.nrrd"
    series = read_dce(path)
    assert series.signal.shape == (25, 1, 192, 192) and series.signal.dtype == np.float32
    reference = np.loadtxt(shared_data / "invivo-dce-slice" / "times_s.txt")
    np.testing.assert_allclose(series.times_s, reference, rtol=0, atol=1e-9)
    assert series.times_s[1] == pytest.approx(16.43)
    assert series.time_source == "NRRD axis 4 spacing (16.43 s)"
    assert series.geometry.spacing == (1.0, 1.0, 5.0)
    # Voxels as SimpleITK reads them (t, k, j, i).
    np.testing.assert_array_equal(series.signal, sitk.GetArrayFromImage(sitk.ReadImage(str(path))))


# ------------------------------------------------------------------------------------------------------------
# Round trips


def test_seq_nrrd_round_trip_is_exact(tmp_path):
    times = [0.0, 2.5, 7.25, 16.43, 31.000001, 60.1]  # uneven on purpose: .seq.nrrd keeps every time
    series = make_series(times)
    path = write_dce(series, tmp_path / "dce.seq.nrrd")
    back = read_dce(path)
    np.testing.assert_array_equal(back.signal, series.signal)
    np.testing.assert_array_equal(back.times_s, series.times_s)
    assert_same_geometry(back.geometry, series.geometry)
    assert back.time_source == "seq.nrrd index values (time, s)"
    header = nrrd.read_header(str(path))
    assert header["kinds"] == ["list", "domain", "domain", "domain"]
    assert header["axis 0 index type"] == "numeric"
    assert header["labels"][0] == "time" and header["units"][0] == "s"
    assert not list(tmp_path.glob(".partial*"))


def test_axis_aligned_seq_nrrd_geometry_is_bitwise(tmp_path):
    geometry = Geometry(size=(6, 5, 4), spacing=(0.5, 0.5, 2.5), origin=(-100.1, 20.3, -7.7))
    series = make_series(np.arange(5) * 3.3, geometry)
    back = read_dce(write_dce(series, tmp_path / "dce.seq.nrrd"))
    assert back.geometry == series.geometry


@pytest.mark.parametrize("name", ["dce.nrrd", "dce.nii.gz", "dce.nii", "dce.mha", "dce.mhd"])
def test_plain_4d_round_trip(tmp_path, name):
    series = make_series(np.arange(7) * 16.43)
    back = read_dce(write_dce(series, tmp_path / name))
    np.testing.assert_array_equal(back.signal, series.signal)
    np.testing.assert_allclose(back.times_s, series.times_s, rtol=1e-12, atol=1e-12)
    # NIfTI stores geometry in float32.
    assert_same_geometry(back.geometry, series.geometry, tol=1e-5 if ".nii" in name else 1e-12)


def test_plain_4d_needs_even_times(tmp_path):
    with pytest.raises(InputError, match="not evenly spaced.*seq.nrrd"):
        write_dce(make_series([0, 1, 3]), tmp_path / "dce.nrrd")
    assert not list(tmp_path.iterdir())


def test_unknown_output_format(tmp_path):
    with pytest.raises(InputError, match="cannot write"):
        write_dce(make_series([0, 1]), tmp_path / "dce.png")


# ------------------------------------------------------------------------------------------------------------
# Slicer's own reader and writer (slicer-core)


@pytest.fixture(scope="module")
def slicer_scene():
    slicer = pytest.importorskip("slicer")
    if not hasattr(slicer, "vtkMRMLVolumeSequenceStorageNode"):
        pytest.skip("slicer-core without Sequences")
    slicer.mrmlScene = slicer.vtkMRMLScene()
    return slicer


def slicer_read_sequence(slicer, path):
    sequence = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSequenceNode")
    storage = slicer.vtkMRMLVolumeSequenceStorageNode()
    slicer.mrmlScene.AddNode(storage)
    storage.SetFileName(str(path))
    assert storage.ReadData(sequence) == 1
    return sequence


def frame_of(slicer, volume_node):
    import vtk
    from vtk.util.numpy_support import vtk_to_numpy

    image = volume_node.GetImageData()
    i, j, k = image.GetDimensions()
    array = vtk_to_numpy(image.GetPointData().GetScalars()).reshape(k, j, i)
    matrix = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(matrix)
    ijk_to_ras = np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])
    return array, Geometry.from_ijk_to_ras(ijk_to_ras, (i, j, k))


@pytest.mark.slow
def test_slicer_reads_our_seq_nrrd(tmp_path, slicer_scene):
    slicer = slicer_scene
    series = make_series([0.0, 4.2, 8.4, 13.0])
    path = write_dce(series, tmp_path / "dce.seq.nrrd")
    sequence = slicer_read_sequence(slicer, path)
    assert sequence.GetNumberOfDataNodes() == 4
    assert sequence.GetIndexName() == "time" and sequence.GetIndexUnit() == "s"
    assert sequence.GetIndexTypeAsString() == "numeric"
    values = [float(sequence.GetNthIndexValue(n)) for n in range(4)]
    np.testing.assert_array_equal(values, series.times_s)
    for n in (0, 3):
        array, geometry = frame_of(slicer, sequence.GetNthDataNode(n))
        np.testing.assert_array_equal(array, series.signal[n])
        assert_same_geometry(geometry, series.geometry, tol=1e-9)


def slicer_write_sequence(slicer, series, path, index_name="time", index_unit="s", attributes=None):
    import vtk
    from vtk.util.numpy_support import numpy_to_vtk

    sequence = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSequenceNode")
    sequence.SetIndexName(index_name)
    sequence.SetIndexUnit(index_unit)
    for key, value in (attributes or {}).items():
        sequence.SetAttribute(key, value)
    matrix = vtk.vtkMatrix4x4()
    matrix.DeepCopy(series.geometry.ijk_to_ras().ravel().tolist())
    for n, t in enumerate(series.times_s):
        volume = slicer.vtkMRMLScalarVolumeNode()
        image = vtk.vtkImageData()
        image.SetDimensions(*series.geometry.size)
        image.GetPointData().SetScalars(numpy_to_vtk(series.signal[n].ravel(), deep=True, array_type=vtk.VTK_FLOAT))
        volume.SetAndObserveImageData(image)
        volume.SetIJKToRASMatrix(matrix)
        sequence.SetDataNodeAtValue(volume, f"{t:g}" if index_unit else str(n))
    storage = slicer.vtkMRMLVolumeSequenceStorageNode()
    slicer.mrmlScene.AddNode(storage)
    storage.SetFileName(str(path))
    assert storage.WriteData(sequence) == 1


def test_we_read_what_slicer_writes(tmp_path, slicer_scene):
    """Current Slicer writes the list axis last ("axis 3 index values"); 5.8 wrote it first. Both are read."""
    series = make_series([0.0, 2.0, 5.5, 9.0, 12.5])
    path = tmp_path / "slicer.seq.nrrd"
    slicer_write_sequence(slicer_scene, series, path)
    back = read_dce(path)
    np.testing.assert_array_equal(back.signal, series.signal)
    np.testing.assert_array_equal(back.times_s, series.times_s)
    assert_same_geometry(back.geometry, series.geometry, tol=1e-9)


def test_slicer_sequence_with_frame_index_has_no_times(tmp_path, slicer_scene):
    series = make_series([0.0, 2.0, 4.0])
    path = tmp_path / "frames.seq.nrrd"
    slicer_write_sequence(slicer_scene, series, path, index_name="frame", index_unit="")
    with pytest.raises(InputError, match="not a time.*--times"):
        read_dce(path)
    back = read_dce(path, frame_interval=3.0)
    np.testing.assert_array_equal(back.times_s, [0.0, 3.0, 6.0])


def write_multivolume(path, series, labels_text, *, kind="list", tag="TriggerTime", units="ms"):
    """A MultiVolume NRRD as MultiVolumeExplorer saves one: frames on the first axis, times as key-value pairs."""
    g = series.geometry
    directions = np.vstack([np.full(3, np.nan)] + [g.direction_matrix[:, a] * g.spacing[a] for a in range(3)])
    header = {
        "type": "float", "dimension": 4, "space": "left-posterior-superior",
        "kinds": [kind, "domain", "domain", "domain"], "space directions": directions,
        "space origin": np.asarray(g.origin), "encoding": "gzip",
        "MultiVolume.FrameLabels": labels_text,
        "MultiVolume.NumberOfFrames": str(series.n_frames),
        "MultiVolume.DICOM.FlipAngle": "30",
        "MultiVolume.DICOM.RepetitionTime": "5",
    }
    if tag is not None:
        header["MultiVolume.FrameIdentifyingDICOMTagName"] = tag
    if units is not None:
        header["MultiVolume.FrameIdentifyingDICOMTagUnits"] = units
    nrrd.write(str(path), np.moveaxis(series.signal, 0, -1), header, index_order="C")


@pytest.mark.parametrize("kind", ["list", "vector"])
def test_multivolume_nrrd_frame_labels_in_ms(tmp_path, kind, slicer_scene):
    series = make_series([0.0, 16.43, 32.86, 49.29])
    path = tmp_path / "mv.nrrd"
    labels = "0,16430,32860,49290"
    write_multivolume(path, series, labels, kind=kind)
    back = read_dce(path)
    np.testing.assert_allclose(back.times_s, series.times_s, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(back.signal, series.signal)
    assert_same_geometry(back.geometry, series.geometry)
    assert back.time_source == "MultiVolume.FrameLabels (ms, TriggerTime)"
    # Slicer reads the same file as a sequence indexed by frame number, keeping the labels as an attribute.
    sequence = slicer_read_sequence(slicer_scene, path)
    assert sequence.GetNumberOfDataNodes() == 4
    assert sequence.GetAttribute("MultiVolume.FrameLabels") == labels
    array, _ = frame_of(slicer_scene, sequence.GetNthDataNode(2))
    np.testing.assert_array_equal(array, series.signal[2])


def test_multivolume_clock_times_count_from_first_frame(tmp_path):
    series = make_series([0.0, 5.0, 10.0])
    path = tmp_path / "mv.nrrd"
    write_multivolume(path, series, "36000000,36005000,36010000", tag="AcquisitionTime")
    np.testing.assert_allclose(read_dce(path).times_s, [0.0, 5.0, 10.0])


def test_multivolume_of_flip_angles_is_not_a_time_series(tmp_path):
    path = tmp_path / "vfa.nrrd"
    write_multivolume(path, make_series([0, 1, 2]), "2,10,15", tag="FlipAngle", units="degrees")
    with pytest.raises(InputError, match="FlipAngle, not by time"):
        read_dce(path)


# ------------------------------------------------------------------------------------------------------------
# NIfTI time units


def _patch_nifti(path, *, xyzt_units, pixdim4):
    data = bytearray(path.read_bytes())
    struct.pack_into("<f", data, 76 + 4 * 4, pixdim4)  # pixdim[4]
    data[123] = xyzt_units
    path.write_bytes(bytes(data))


def test_nifti_time_unit_ms(tmp_path):
    path = write_dce(make_series(np.arange(4) * 1.0), tmp_path / "dce.nii")
    _patch_nifti(path, xyzt_units=2 | 16, pixdim4=2500.0)  # mm, ms
    series = read_dce(path)
    np.testing.assert_allclose(series.times_s, [0.0, 2.5, 5.0, 7.5])
    assert series.time_source == "NIfTI pixdim[4] (2500 ms, xyzt_units)"


def test_nifti_without_time_unit_needs_times(tmp_path):
    path = write_dce(make_series(np.arange(4) * 1.0), tmp_path / "dce.nii")
    _patch_nifti(path, xyzt_units=2, pixdim4=3.0)
    with pytest.raises(InputError, match="no time unit.*--times t0,t1"):
        read_dce(path)
    np.testing.assert_array_equal(read_dce(path, times=[0, 3, 6, 9]).times_s, [0, 3, 6, 9])


# ------------------------------------------------------------------------------------------------------------
# Frame times: given, missing, non-increasing


def test_given_times_replace_the_file_times(shared_data):
    path = shared_data / "invivo-dce-slice" / "dce.nrrd"
    given = np.arange(25) * 15.0
    series = read_dce(path, times=given)
    np.testing.assert_array_equal(series.times_s, given)
    assert series.time_source == "--times"
    assert series.metadata["file_times_s"][1] == pytest.approx(16.43)
    series = read_dce(path, frame_interval=10)
    np.testing.assert_array_equal(series.times_s, np.arange(25) * 10.0)


def test_wrong_given_times(shared_data):
    path = shared_data / "invivo-dce-slice" / "dce.nrrd"
    with pytest.raises(InputError, match=r"--times: frame times: 3 frame times for 25 frames"):
        read_dce(path, times=[0, 1, 2])
    with pytest.raises(InputError, match="not strictly increasing"):
        read_dce(path, times=np.r_[np.arange(24), 5.0])
    with pytest.raises(InputError, match="either"):
        read_dce(path, times=np.arange(25), frame_interval=2)
    with pytest.raises(InputError, match="--frame-interval.*positive"):
        read_dce(path, frame_interval=0)


def test_non_increasing_times_in_the_file(tmp_path):
    path = write_dce(make_series([0.0, 5.0, 5.0, 10.0]), tmp_path / "dce.seq.nrrd")
    with pytest.raises(InputError, match=r"dce\.seq\.nrrd.*not strictly increasing.*--frame-interval") as error:
        read_dce(path)
    assert "frame 2: 5 s, frame 3: 5 s" in str(error.value)


def test_plain_nrrd_without_time_spacing(tmp_path):
    path = tmp_path / "nospacing.nrrd"
    nrrd.write(str(path), np.zeros((3, 2, 2, 2), np.float32), {"type": "float", "kinds": ["domain"] * 4},
               index_order="C")
    with pytest.raises(InputError, match="axis 4 has no spacing.*--times"):
        read_dce(path)


@pytest.mark.parametrize("space", [{"space dimension": 4}, {"space": "right-anterior-superior-time"}])
def test_plain_nrrd_time_unit_in_space_units(tmp_path, space):
    path = tmp_path / "ms.nrrd"
    header = {"type": "float", "kinds": ["domain"] * 4, **space,
              "space directions": np.diag([1.0, 1.0, 5.0, 2500.0]), "space origin": np.zeros(4),
              "space units": ["mm", "mm", "mm", "ms"]}
    nrrd.write(str(path), np.zeros((3, 2, 2, 2), np.float32), header, index_order="C")
    series = read_dce(path)
    np.testing.assert_allclose(series.times_s, [0.0, 2.5, 5.0])
    assert series.time_source == "NRRD axis 4 spacing (2500 ms)"


# ------------------------------------------------------------------------------------------------------------
# Lists of 3D volumes


def test_list_of_3d_volumes(tmp_path):
    series = make_series([0, 4, 8])
    paths = []
    for n in range(3):
        paths.append(tmp_path / f"frame{n}.nrrd")
        write_volume(series.signal[n], series.geometry, paths[-1])
    with pytest.raises(InputError, match="carries no frame times.*--times"):
        read_dce(paths)
    back = read_dce(paths, times=[0, 4, 8])
    np.testing.assert_array_equal(back.signal, series.signal)
    assert_same_geometry(back.geometry, series.geometry)
    shifted = Geometry(series.geometry.size, series.geometry.spacing, (0.0, 0.0, 0.0), series.geometry.direction)
    write_volume(series.signal[2], shifted, paths[2])
    with pytest.raises(InputError, match="frame2.nrrd.*differs from the first frame"):
        read_dce(paths, times=[0, 4, 8])


# ------------------------------------------------------------------------------------------------------------
# Bad files


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_dce(tmp_path / "nothing.nrrd")


def test_corrupt_files(tmp_path):
    garbage = tmp_path / "garbage.nrrd"
    garbage.write_bytes(b"this is not an image\n" * 10)
    with pytest.raises(InputError, match="garbage.nrrd: not a readable NRRD"):
        read_dce(garbage)
    good = write_dce(make_series(np.arange(4) * 2.0), tmp_path / "dce.nrrd")
    truncated = tmp_path / "truncated.nrrd"
    truncated.write_bytes(good.read_bytes()[:-200])
    with pytest.raises(InputError, match="truncated.nrrd: could not read the image"):
        read_dce(truncated)
    nifti = tmp_path / "broken.nii.gz"
    nifti.write_bytes(gzip.compress(b"\x00" * 100))
    with pytest.raises(InputError, match="broken.nii.gz: could not read"):
        read_dce(nifti)


def test_3d_volume_is_not_a_series(tmp_path):
    g = oblique_geometry()
    for name in ("t2.nrrd", "t2.nii.gz", "t2.mha"):
        write_volume(np.zeros(g.shape, np.float32), g, tmp_path / name)
        with pytest.raises(InputError, match="3D volume, not a DCE series"):
            read_dce(tmp_path / name)


def test_rgb_nrrd_is_not_a_series(tmp_path):
    path = tmp_path / "rgb.nrrd"
    nrrd.write(str(path), np.zeros((3, 2, 2, 2), np.uint8),
               {"type": "uchar", "kinds": ["RGB-color", "domain", "domain", "domain"]}, index_order="F")
    with pytest.raises(InputError, match="not a time series"):
        read_dce(path)


# ------------------------------------------------------------------------------------------------------------
# Signal checks


def test_check_signal_accepts_a_clean_series():
    check_signal(make_series([0, 1, 2]))


def test_check_signal_nan_and_inf():
    series = make_series([0, 1, 2])
    series.signal[1, 2, 3, 4] = np.nan
    series.signal[2, 0, 0, 0] = np.inf
    with pytest.raises(InputError, match=r"2 signal values are NaN or infinite \(first in frame 1, voxel "
                                         r"\(k, j, i\) = \(2, 3, 4\)\)"):
        check_signal(series)


def test_check_signal_negative_and_mask():
    series = make_series([0, 1, 2])
    series.signal[2, 1, 0, 1] = -4.5
    with pytest.raises(InputError, match=r"1 signal values are negative \(minimum -4.5, first in frame 2, voxel "
                                         r"\(k, j, i\) = \(1, 0, 1\)\)"):
        check_signal(series)
    mask = np.zeros(series.geometry.shape, bool)
    mask[0] = True
    check_signal(series, mask)  # the negative voxel is outside the tumour
    mask[1, 0, 1] = True
    with pytest.raises(InputError, match=r"inside the mask.*voxel \(k, j, i\) = \(1, 0, 1\)"):
        check_signal(series, mask)
