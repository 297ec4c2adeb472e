"""io/dicom_out.py: Parametric Maps and the Segmentation round-trip values and geometry, carry the IODs' mandatory
attributes, keep NaN as NaN, and name the patient as told; the export refuses to start without highdicom."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from HypoxiaMarkersLib.errors import InputError
from HypoxiaMarkersLib.io import dicom_out
from HypoxiaMarkersLib.io.dicom_out import DicomIdentity, check_dicom_export, write_dicom_results
from HypoxiaMarkersLib.volume import Geometry

if sys.version_info < (3, 10):
    pytest.skip("the DICOM export needs Python 3.10+ (highdicom 0.23, pydicom 3)", allow_module_level=True)
hd = pytest.importorskip("highdicom")

from helpers.dicom_readback import (  # noqa: E402
    PARAMETRIC_MAP_GROUPS,
    PARAMETRIC_MAP_MANDATORY,
    SEGMENT_MANDATORY,
    SEGMENTATION_GROUPS,
    SEGMENTATION_MANDATORY,
    assert_same_geometry,
    missing_attributes,
    read_parametric_map,
    read_segmentation,
)


def _oblique(handed: int) -> Geometry:
    """A grid rotated about two axes, with anisotropic voxels; ``handed`` -1 flips k (a left-handed grid)."""
    a, b = 0.3, -0.2
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    direction = rz @ rx @ np.diag([1.0, 1.0, float(handed)])
    return Geometry(size=(7, 5, 4), spacing=(0.7, 0.9, 3.3), origin=(-101.25, 37.5, 12.125),
                    direction=tuple(direction.ravel()))


def _result(geometry: Geometry, seed: int = 0):
    rng = np.random.default_rng(seed)
    shape = geometry.shape
    tumour = np.zeros(shape, dtype=bool)
    tumour[:, 1:4, 1:6] = True
    a_brix = np.where(tumour, rng.uniform(0.2, 4.0, shape), np.nan).astype(np.float32)
    a_brix[1, 2, 3] = np.nan  # a tumour voxel whose fit failed
    k_ep = np.where(np.isfinite(a_brix), rng.uniform(0.5, 6.0, shape), np.nan).astype(np.float32)
    k_el = np.where(np.isfinite(a_brix), rng.uniform(0.0, 0.12, shape), np.nan).astype(np.float32)
    r2 = np.where(np.isfinite(a_brix), rng.uniform(0.1, 1.0, shape), np.nan).astype(np.float32)
    hypoxic = np.isfinite(a_brix) & (a_brix < 1.0)
    return types.SimpleNamespace(a_brix=a_brix, k_ep=k_ep, k_el=k_el, r_squared=r2, tumour_mask=tumour,
                                 hypoxic_mask=hypoxic, geometry=geometry,
                                 parameters=types.SimpleNamespace(a_threshold=1.0), dicom_reference=None)


def _flip_k(array: np.ndarray, geometry: Geometry):
    """The same voxels on the right-handed grid ITK reads back (k reversed, origin at the other end)."""
    direction = geometry.direction_matrix.copy()
    direction[:, 2] *= -1
    origin = geometry.index_to_lps(np.array([0.0, 0.0, geometry.size[2] - 1]))
    return array[::-1], Geometry(geometry.size, geometry.spacing, tuple(origin), tuple(direction.ravel()))


@pytest.mark.parametrize("handed", [1, -1])
def test_maps_and_segments_round_trip_exactly_on_an_oblique_grid(tmp_path, handed):
    result = _result(_oblique(handed))
    files = write_dicom_results(result, tmp_path, identity=DicomIdentity("HM-0042", "Doe^Jane"))
    assert sorted(f.name for f in files) == ["a_brix.dcm", "k_el.dcm", "k_ep.dcm", "r_squared.dcm",
                                             "segmentation.dcm"]
    for name in ("a_brix", "k_ep", "k_el", "r_squared"):
        volume, geometry, ds = read_parametric_map(tmp_path / f"{name}.dcm")
        expected, expected_geometry = getattr(result, name), result.geometry
        if handed < 0:
            expected, expected_geometry = _flip_k(expected, expected_geometry)
        assert volume.dtype == np.float32
        # float32 written, float32 read: bit for bit, NaN where there is no fit
        assert np.array_equal(volume, expected, equal_nan=True), name
        assert np.array_equal(np.isnan(volume), np.isnan(expected))
        assert_same_geometry(geometry, expected_geometry)
    segments, geometry, ds = read_segmentation(tmp_path / "segmentation.dcm")
    tumour, hypoxic = result.tumour_mask, result.hypoxic_mask
    expected_geometry = result.geometry
    if handed < 0:
        tumour, expected_geometry = _flip_k(tumour, result.geometry)
        hypoxic = hypoxic[::-1]
    assert set(segments) == {"Tumour", "Hypoxic voxels (A_Brix < 1)"}
    assert np.array_equal(segments["Tumour"], tumour) and tumour.sum() == 60
    assert np.array_equal(segments["Hypoxic voxels (A_Brix < 1)"], hypoxic) and 0 < hypoxic.sum() < 60
    assert_same_geometry(geometry, expected_geometry)


def test_units_value_mapping_and_mandatory_attributes(tmp_path):
    result = _result(_oblique(1))
    write_dicom_results(result, tmp_path, identity=DicomIdentity("HM-0042", "Doe^Jane", "1.2.826.0.1.3680043.10.7"))
    units = {}
    for name in ("a_brix", "k_ep", "k_el", "r_squared"):
        volume, _, ds = read_parametric_map(tmp_path / f"{name}.dcm")
        assert missing_attributes(ds, PARAMETRIC_MAP_MANDATORY, PARAMETRIC_MAP_GROUPS) == []
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.30"  # Parametric Map Storage
        assert ds.BitsAllocated == 32 and "PixelData" not in ds
        mapping = ds.SharedFunctionalGroupsSequence[0].RealWorldValueMappingSequence[0]
        units[name] = (mapping.MeasurementUnitsCodeSequence[0].CodeValue,
                       mapping.MeasurementUnitsCodeSequence[0].CodingSchemeDesignator)
        values = getattr(result, name)
        # the mapped range is the range of the fitted values, NaN left out
        assert mapping.DoubleFloatRealWorldValueFirstValueMapped == pytest.approx(float(np.nanmin(values)))
        assert mapping.DoubleFloatRealWorldValueLastValueMapped == pytest.approx(float(np.nanmax(values)))
        assert ds.PatientID == "HM-0042" and str(ds.PatientName) == "Doe^Jane"
        assert ds.StudyInstanceUID == "1.2.826.0.1.3680043.10.7"
        # a non-DICOM input: no reference to a source image nobody has
        assert "ReferencedSeriesSequence" not in ds and "SourceImageSequence" not in ds
        assert all("DerivationImageSequence" not in f for f in ds.PerFrameFunctionalGroupsSequence)
    assert units == {"a_brix": ("1", "UCUM"), "k_ep": ("/min", "UCUM"), "k_el": ("/min", "UCUM"),
                     "r_squared": ("1", "UCUM")}
    _, _, seg = read_segmentation(tmp_path / "segmentation.dcm")
    assert missing_attributes(seg, SEGMENTATION_MANDATORY, SEGMENTATION_GROUPS) == []
    assert seg.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4" and seg.SegmentationType == "BINARY"
    for segment in seg.SegmentSequence:
        assert [k for k in SEGMENT_MANDATORY if k not in segment] == []
    # every object shares one frame of reference and study; each is its own series
    datasets = [read_parametric_map(tmp_path / f"{n}.dcm")[2] for n in ("a_brix", "k_ep", "k_el", "r_squared")]
    datasets.append(seg)
    assert len({d.FrameOfReferenceUID for d in datasets}) == 1
    assert len({d.SeriesInstanceUID for d in datasets}) == 5


def test_highdicom_reads_what_was_written(tmp_path):
    result = _result(_oblique(1))
    write_dicom_results(result, tmp_path, identity=DicomIdentity("HM-1"))
    import pydicom

    pm = hd.pm.ParametricMap.from_dataset(pydicom.dcmread(str(tmp_path / "k_ep.dcm")))
    assert pm.NumberOfFrames == 4
    seg = hd.seg.segread(str(tmp_path / "segmentation.dcm"))
    assert seg.number_of_segments == 2
    if hasattr(seg, "get_volume"):  # highdicom >= 0.25: its own geometry and voxels agree with ours
        volume = seg.get_volume(combine_segments=False)
        array, affine = np.asarray(volume.array), np.asarray(volume.affine)
        assert array.shape[:3] == result.geometry.shape
        # every voxel of highdicom's volume, placed by its own affine, lands on our voxel with the same label
        index = np.indices(array.shape[:3]).reshape(3, -1).T
        ijk = result.geometry.lps_to_index(index @ affine[:3, :3].T + affine[:3, 3])
        np.testing.assert_allclose(ijk, np.rint(ijk), atol=1e-6)
        i, j, k = np.rint(ijk).astype(int).T
        assert np.array_equal(array[..., 0].reshape(-1).astype(bool), result.tumour_mask[k, j, i])
        assert np.array_equal(array[..., 1].reshape(-1).astype(bool), result.hypoxic_mask[k, j, i])


def test_identity_is_checked_before_writing(tmp_path):
    result = _result(_oblique(1))
    with pytest.raises(InputError, match="--patient-id"):
        write_dicom_results(result, tmp_path, identity=None)
    for identity, option in ((DicomIdentity(" "), "--patient-id"), (DicomIdentity("a" * 65), "--patient-id"),
                             (DicomIdentity("P", "Doe\\Jane"), "--patient-name"),
                             (DicomIdentity("P", study_instance_uid="1.02.3"), "--study-instance-uid"),
                             (DicomIdentity("P", study_instance_uid="abc"), "--study-instance-uid")):
        with pytest.raises(InputError, match=option):
            write_dicom_results(result, tmp_path, identity=identity)
    assert list(tmp_path.iterdir()) == []


def test_export_refused_without_highdicom_or_on_python_39(monkeypatch):
    check_dicom_export()  # here it can run
    monkeypatch.setitem(sys.modules, "highdicom", None)  # import highdicom -> ImportError
    with pytest.raises(InputError, match=r'pip install "HypoxiaMarkersLib\[dicom\]"'):
        check_dicom_export()
    monkeypatch.delitem(sys.modules, "highdicom")
    monkeypatch.setattr(dicom_out.sys, "version_info", (3, 9, 18))
    with pytest.raises(InputError, match="Python 3.10 or later.*command line"):
        check_dicom_export()
