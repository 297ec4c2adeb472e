"""DICOM dynamic series: the QIBA DRO v6 folder, and small series built here with every time tag variant."""

from __future__ import annotations

import datetime
import random
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from HypoxiaMarkersLib.errors import InputError
from HypoxiaMarkersLib.io import read_dce
from HypoxiaMarkersLib.io.dicom import read_dicom_series

# ------------------------------------------------------------------------------------------------------------
# The QIBA DCE-MRI DRO v6 (a real vendor-style series nobody on the project made)


@pytest.fixture(scope="module")
def qiba(shared_data):
    folder = shared_data / "qiba-dce-v6"
    if not folder.is_dir():
        pytest.skip("QIBA DRO v6 not present")
    return folder, read_dce(folder)


def test_qiba_frames_times_and_grid(qiba):
    folder, series = qiba
    assert series.signal.shape == (1321, 1, 80, 50)
    assert series.signal.dtype == np.float32
    np.testing.assert_array_equal(series.times_s, np.arange(1321) * 0.5)
    assert series.times_s[-1] == 660.0
    assert series.time_source.startswith("DICOM TriggerTime")
    assert "read as 0 ms" in series.time_source  # the first file has no TriggerTime (README)
    assert series.metadata["trigger_time_missing_files"] == [str(folder / "QIBA_v06_Tofts_beta1_0001.dcm")]
    assert series.metadata["skipped_files"] == 2  # LICENSE and README
    g = series.geometry
    first = pydicom.dcmread(folder / "QIBA_v06_Tofts_beta1_0001.dcm", stop_before_pixels=True)
    assert g.size == (50, 80, 1)
    assert g.spacing == (1.0, 1.0, 5.0)  # PixelSpacing 1 x 1, one slice: SliceThickness 5
    np.testing.assert_array_equal(g.origin, [float(v) for v in first.ImagePositionPatient])
    np.testing.assert_array_equal(g.direction_matrix, np.eye(3))


@pytest.mark.parametrize("number", [1, 2, 700, 1321])
def test_qiba_frame_is_the_file_with_that_trigger_time(qiba, number):
    """File n has TriggerTime (n-1)*500 ms (the first: none): frame n-1 must hold its pixels."""
    folder, series = qiba
    ds = pydicom.dcmread(folder / f"QIBA_v06_Tofts_beta1_{number:04d}.dcm")
    if number > 1:
        assert float(ds.TriggerTime) == (number - 1) * 500.0
    np.testing.assert_array_equal(series.signal[number - 1, 0], ds.pixel_array.astype(np.float32))


def test_qiba_arterial_input_arrives_after_baseline(qiba):
    """Time order seen in the data: the blood rows (70-79) stay at baseline for the first minute, then rise."""
    _, series = qiba
    blood = series.signal[:, 0, 70:80, :].mean(axis=(1, 2))
    assert np.all(blood[series.times_s < 60.0] == blood[0])
    assert blood.max() > 5 * blood[0]
    assert 60.0 < series.times_s[np.argmax(blood)] < 90.0


# ------------------------------------------------------------------------------------------------------------
# Series built here


ROWS, COLUMNS, SLICES, FRAMES = 6, 5, 3, 4
PIXEL_SPACING = (0.8, 0.7)  # between rows, between columns
SLICE_GAP = 4.0


def _rotation() -> np.ndarray:
    a, b = np.radians(25.0), np.radians(-40.0)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return rz @ rx


def expected_pixels(t: int, k: int) -> np.ndarray:
    j, i = np.mgrid[0:ROWS, 0:COLUMNS]
    return (1000 * t + 100 * k + 10 * j + i).astype(np.uint16)


def _save(ds: Dataset, path: Path) -> None:
    try:
        ds.save_as(path, enforce_file_format=True)  # pydicom 3
    except TypeError:  # pragma: no cover - pydicom 2
        ds.is_little_endian, ds.is_implicit_VR = True, False
        ds.save_as(path, write_like_original=False)


def _tm(seconds: float) -> str:
    seconds = seconds % 86400
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{int(h):02d}{int(m):02d}{s:09.6f}"


def write_series(folder: Path, time_tags, *, series_uid=None, frames=FRAMES, slices=SLICES, extra=None,
                 skip=(), seed=0) -> Path:
    """Write a dynamic series: one file per (frame, slice), random file names, written in random order.

    ``time_tags(t, k)`` returns the time-related tags of the file of frame t, slice k.
    Slice k lies at origin + k * SLICE_GAP along the normal of a rotated plane, so position order = k.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    series_uid = series_uid or generate_uid()
    rotation = _rotation()
    origin = np.array([-30.0, 12.5, 40.0])
    pairs = [(t, k) for t in range(frames) for k in range(slices) if (t, k) not in skip]
    rng.shuffle(pairs)
    instance_of = {pair: n + 1 for n, pair in enumerate(sorted(pairs, key=lambda p: (p[1], p[0])))}
    for t, k in pairs:
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
        ds.Modality = "MR"
        ds.PatientID = "phantom"
        ds.StudyInstanceUID = "1.2.3.4"
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = 7
        ds.SeriesDescription = "dynamic"
        ds.InstanceNumber = instance_of[(t, k)]
        ds.Rows, ds.Columns = ROWS, COLUMNS
        ds.PixelSpacing = list(PIXEL_SPACING)
        ds.ImageOrientationPatient = [float(v) for v in np.concatenate([rotation[:, 0], rotation[:, 1]])]
        ds.ImagePositionPatient = [float(v) for v in origin + k * SLICE_GAP * rotation[:, 2]]
        ds.SliceThickness = SLICE_GAP
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelData = expected_pixels(t, k).tobytes()
        for key, value in time_tags(t, k).items():
            setattr(ds, key, value)
        for key, value in (extra or {}).items():
            setattr(ds, key, value)
        _save(ds, folder / f"IM{rng.randrange(10**8):08d}_{t}_{k}")
    return folder


def check_order(series, expected_times=None):
    for t in range(FRAMES):
        for k in range(SLICES):
            np.testing.assert_array_equal(series.signal[t, k], expected_pixels(t, k))
    if expected_times is not None:
        np.testing.assert_allclose(series.times_s, expected_times, rtol=0, atol=1e-9)


def test_trigger_time(tmp_path):
    folder = write_series(tmp_path / "s", lambda t, k: {"TriggerTime": 2500.0 * t})
    series = read_dce(folder)
    check_order(series, np.arange(FRAMES) * 2.5)
    assert series.time_source == "DICOM TriggerTime"


def test_acquisition_time_of_2d_multislice_is_mean_over_slices(tmp_path):
    """Each slice acquired 0.5 s after the previous, frames 3 s apart: frames are timed at their mean."""
    folder = write_series(tmp_path / "s", lambda t, k: {
        "AcquisitionTime": _tm(10 * 3600 + 3.0 * t + 0.5 * k), "AcquisitionDate": "20240301"})
    series = read_dce(folder)
    check_order(series, np.arange(FRAMES) * 3.0)
    assert series.time_source.startswith("DICOM AcquisitionTime")
    assert series.metadata["slice_time_spread_s"] == pytest.approx(1.0)


def test_acquisition_time_across_midnight(tmp_path):
    start = datetime.datetime(2024, 3, 1, 23, 59, 55)

    def tags(t, k):
        moment = start + datetime.timedelta(seconds=3.0 * t)
        return {"AcquisitionTime": moment.strftime("%H%M%S.%f"), "AcquisitionDate": moment.strftime("%Y%m%d")}

    series = read_dce(write_series(tmp_path / "s", tags))
    check_order(series, np.arange(FRAMES) * 3.0)


def test_content_time(tmp_path):
    series = read_dce(write_series(tmp_path / "s", lambda t, k: {"ContentTime": _tm(8 * 3600 + 7.25 * t)}))
    check_order(series, np.arange(FRAMES) * 7.25)
    assert series.time_source == "DICOM ContentTime"


def test_temporal_position_with_resolution(tmp_path):
    folder = write_series(tmp_path / "s", lambda t, k: {"TemporalPositionIdentifier": t + 1,
                                                        "TemporalResolution": 4000.0})
    series = read_dce(folder)
    check_order(series, np.arange(FRAMES) * 4.0)
    assert "TemporalPositionIdentifier" in series.time_source


def test_temporal_position_without_resolution_orders_but_needs_times(tmp_path):
    folder = write_series(tmp_path / "s", lambda t, k: {"TemporalPositionIdentifier": t + 1})
    with pytest.raises(InputError, match="--frame-interval"):
        read_dce(folder)
    series = read_dce(folder, frame_interval=6.0)
    check_order(series, np.arange(FRAMES) * 6.0)
    assert series.time_source == "--frame-interval 6 s"


def test_instance_number_only_orders_but_needs_times(tmp_path):
    # AcquisitionTime the same in every file (as in the QIBA DRO): it cannot order the frames.
    folder = write_series(tmp_path / "s", lambda t, k: {"AcquisitionTime": "101500"})
    raw = read_dicom_series(folder)
    assert raw.times_s is None and "InstanceNumber" in raw.time_source
    check_order(raw)
    with pytest.raises(InputError, match="not known.*--times"):
        read_dce(folder)
    check_order(read_dce(folder, times=[0, 5, 10, 20]), [0, 5, 10, 20])


def test_missing_zero_trigger_time_of_first_frame(tmp_path):
    folder = write_series(tmp_path / "s", lambda t, k: {} if t == 0 else {"TriggerTime": 1500.0 * t})
    series = read_dce(folder)
    check_order(series, np.arange(FRAMES) * 1.5)
    assert "missing in 3 file(s)" in series.time_source


def test_missing_trigger_time_is_not_guessed_when_ambiguous(tmp_path):
    # Two files of slice 0 lack TriggerTime: which frames they are cannot be known from TriggerTime.
    folder = write_series(tmp_path / "s", lambda t, k: {} if (k == 0 and t < 2) else {"TriggerTime": 1500.0 * t})
    raw = read_dicom_series(folder)
    assert "TriggerTime" not in raw.time_source and raw.times_s is None


def test_geometry_matches_simpleitk_and_rescale_is_applied(tmp_path):
    folder = write_series(tmp_path / "s", lambda t, k: {"TriggerTime": 1000.0 * t},
                          extra={"RescaleSlope": 0.5, "RescaleIntercept": -3.0})
    series = read_dce(folder)
    # Reference: ITK's own DICOM series reader on the files of frame 0, sorted by GDCM.
    frame0 = tmp_path / "frame0"
    frame0.mkdir()
    for path in folder.iterdir():
        if path.name.split("_")[1] == "0":  # IMnnnnnnnn_<frame>_<slice>
            shutil.copy(path, frame0 / path.name)
    assert len(list(frame0.iterdir())) == SLICES
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(frame0)))
    reference = reader.Execute()
    g = series.geometry
    np.testing.assert_allclose(g.origin, reference.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(g.spacing, reference.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(g.direction, reference.GetDirection(), atol=1e-6)
    assert g.spacing == pytest.approx((0.7, 0.8, SLICE_GAP))
    np.testing.assert_allclose(series.signal[0], sitk.GetArrayFromImage(reference), atol=1e-4)
    np.testing.assert_allclose(series.signal[2, 1], expected_pixels(2, 1) * 0.5 - 3.0)


def test_non_dicom_files_are_skipped(tmp_path):
    folder = write_series(tmp_path / "s", lambda t, k: {"TriggerTime": 1000.0 * t})
    (folder / "README.txt").write_text("not dicom")
    (folder / "sub").mkdir()
    (folder / "sub" / "notes.bin").write_bytes(b"\x00" * 300)
    series = read_dce(folder)
    check_order(series, np.arange(FRAMES) * 1.0)
    assert series.metadata["skipped_files"] == 2


def test_two_series_in_one_folder_is_an_error_listing_them(tmp_path):
    folder = tmp_path / "s"
    write_series(folder, lambda t, k: {"TriggerTime": 1000.0 * t}, series_uid="1.2.3.100", seed=1)
    write_series(folder, lambda t, k: {"TriggerTime": 1000.0 * t}, series_uid="1.2.3.200", seed=2)
    with pytest.raises(InputError, match=r"2 DICOM series.*1\.2\.3\.100.*1\.2\.3\.200|2 DICOM series.*1\.2\.3\.200"):
        read_dce(folder)
    series = read_dicom_series(folder, series_uid="1.2.3.200")
    assert series.signal.shape == (FRAMES, SLICES, ROWS, COLUMNS)


def test_incomplete_series_is_an_error(tmp_path):
    folder = write_series(tmp_path / "s", lambda t, k: {"TriggerTime": 1000.0 * t}, skip={(3, 1)})
    with pytest.raises(InputError, match="different numbers of files"):
        read_dce(folder)


def test_empty_and_missing_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "a.txt").write_text("x")
    with pytest.raises(InputError, match="no DICOM images"):
        read_dce(tmp_path / "empty")
    with pytest.raises(InputError, match="not found"):
        read_dce(tmp_path / "nowhere")


def test_single_dicom_file_asks_for_the_folder(tmp_path):
    folder = write_series(tmp_path / "s", lambda t, k: {"TriggerTime": 1000.0 * t})
    one = next(folder.iterdir())
    copy = tmp_path / "one.dcm"
    shutil.copy(one, copy)
    with pytest.raises(InputError, match="folder"):
        read_dce(copy)


def test_corrupt_pixel_data_is_reported(tmp_path):
    folder = write_series(tmp_path / "s", lambda t, k: {"TriggerTime": 1000.0 * t})
    victim = sorted(folder.iterdir())[0]
    ds = pydicom.dcmread(victim)
    ds.PixelData = ds.PixelData[:10]
    _save(ds, victim)
    with pytest.raises(InputError, match="pixel data") as error:
        read_dce(folder)
    assert victim.name in str(error.value)


def test_progress_and_cancel(tmp_path):
    from HypoxiaMarkersLib.errors import Cancelled

    folder = write_series(tmp_path / "s", lambda t, k: {"TriggerTime": 1000.0 * t})
    calls = []
    read_dce(folder, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (FRAMES * SLICES, FRAMES * SLICES) and len(calls) == FRAMES * SLICES
    with pytest.raises(Cancelled):
        read_dce(folder, progress=lambda done, total: done < 3)


def test_sheared_stack_is_an_error(tmp_path):
    rotation = _rotation()

    def tags(t, k):
        # Each slice shifted 1.5 mm along the rows as well as along the normal (a tilted gantry).
        origin = np.array([-30.0, 12.5, 40.0]) + k * SLICE_GAP * rotation[:, 2] + k * 1.5 * rotation[:, 0]
        return {"TriggerTime": 1000.0 * t, "ImagePositionPatient": [float(v) for v in origin]}

    with pytest.raises(InputError, match="gantry tilt"):
        read_dce(write_series(tmp_path / "s", tags))


def test_reference_keeps_the_identity_and_the_first_frames_image_of_each_slice(tmp_path):
    # What a DICOM export of the results refers to (io/dicom_out.py): files shuffled on disk, slices by position.
    folder = write_series(tmp_path / "s", lambda t, k: {"TriggerTime": 2500.0 * t},
                          extra={"PatientName": "Doe^Jane", "FrameOfReferenceUID": "1.2.3.4.5"})
    series = read_dicom_series(folder)
    reference = series.reference
    assert reference.series_instance_uid == pydicom.dcmread(str(series.files[0][0])).SeriesInstanceUID
    assert len(reference.slice_images) == SLICES
    for k in range(SLICES):
        first = pydicom.dcmread(str(series.files[0][k]))
        assert first.TriggerTime == 0 and np.array_equal(first.pixel_array, expected_pixels(0, k))
        assert reference.slice_images[k] == (MRImageStorage, first.SOPInstanceUID)
    identity = reference.identity
    assert identity.PatientID == "phantom" and str(identity.PatientName) == "Doe^Jane"
    assert identity.StudyInstanceUID == "1.2.3.4" and identity.FrameOfReferenceUID == "1.2.3.4.5"
    assert "PixelData" not in identity and "SOPInstanceUID" not in identity and "TriggerTime" not in identity
