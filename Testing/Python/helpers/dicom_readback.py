"""Reading DICOM Parametric Maps and Segmentations back with pydicom alone (independently of the writer in
HypoxiaMarkersLib/io/dicom_out.py), and the attributes their IODs make mandatory."""

from __future__ import annotations

from typing import Dict, Tuple

import numpy as np
import pydicom

from HypoxiaMarkersLib.volume import Geometry

# Type 1 and Type 2 attributes (Type 2: present, may be empty) of the Parametric Map IOD (PS3.3 A.75) and the
# Segmentation IOD (PS3.3 A.51) that every object we write must carry at the top level: SOP Common, Patient,
# General Study, General Series, Frame of Reference, (Enhanced) General Equipment, Image Pixel, Multi-frame
# Functional Groups, Multi-frame Dimension and the IOD's own image module.
COMMON_MANDATORY = (
    "SOPClassUID", "SOPInstanceUID", "PatientName", "PatientID", "PatientBirthDate", "PatientSex",
    "StudyInstanceUID", "StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber",
    "Modality", "SeriesInstanceUID", "SeriesNumber", "FrameOfReferenceUID", "PositionReferenceIndicator",
    "Manufacturer", "ManufacturerModelName", "DeviceSerialNumber", "SoftwareVersions",
    "Rows", "Columns", "SamplesPerPixel", "PhotometricInterpretation", "BitsAllocated",
    "InstanceNumber", "ContentDate", "ContentTime", "NumberOfFrames", "SharedFunctionalGroupsSequence",
    "PerFrameFunctionalGroupsSequence", "DimensionOrganizationSequence", "DimensionIndexSequence",
    "ImageType", "ContentLabel", "ContentDescription", "LossyImageCompression",
)
PARAMETRIC_MAP_MANDATORY = COMMON_MANDATORY + (
    "BurnedInAnnotation", "RecognizableVisualFeatures", "PresentationLUTShape", "FloatPixelData",
)
SEGMENTATION_MANDATORY = COMMON_MANDATORY + (
    "SegmentationType", "SegmentSequence", "BitsStored", "HighBit", "PixelRepresentation", "PixelData",
)
# Per-frame functional groups (in the shared or the per-frame item) each object needs.
PARAMETRIC_MAP_GROUPS = ("PixelMeasuresSequence", "PlanePositionSequence", "PlaneOrientationSequence",
                         "FrameContentSequence", "RealWorldValueMappingSequence", "ParametricMapFrameTypeSequence")
SEGMENTATION_GROUPS = ("PixelMeasuresSequence", "PlanePositionSequence", "PlaneOrientationSequence",
                       "FrameContentSequence", "SegmentIdentificationSequence")
SEGMENT_MANDATORY = ("SegmentNumber", "SegmentLabel", "SegmentAlgorithmType", "SegmentedPropertyCategoryCodeSequence",
                     "SegmentedPropertyTypeCodeSequence")


def missing_attributes(ds, top_level, groups) -> list:
    """The mandatory attributes ``ds`` lacks (an empty list when complete); groups are looked up per frame."""
    missing = [keyword for keyword in top_level if keyword not in ds]
    shared = ds.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in ds else {}
    for n, frame in enumerate(ds.get("PerFrameFunctionalGroupsSequence", [])):
        missing += [f"frame {n + 1}: {g}" for g in groups if g not in frame and g not in shared]
    if int(ds.get("NumberOfFrames", 0)) != len(ds.get("PerFrameFunctionalGroupsSequence", [])):
        missing.append("one PerFrameFunctionalGroupsSequence item per frame")
    return missing


def _group(ds, n: int, keyword: str):
    frame = ds.PerFrameFunctionalGroupsSequence[n]
    if keyword in frame:
        return frame[keyword].value[0]
    return ds.SharedFunctionalGroupsSequence[0][keyword].value[0]


def frame_geometry(ds) -> Tuple[Geometry, np.ndarray]:
    """The grid the frames of ``ds`` lie on, as ITK reads a DICOM series (LPS: i along the rows' direction, j down
    the columns, k along their cross product, the origin at the lowest slice along k) and the slice index k of each
    frame."""
    orientation = np.array([float(v) for v in _group(ds, 0, "PlaneOrientationSequence").ImageOrientationPatient])
    measures = _group(ds, 0, "PixelMeasuresSequence")
    row_spacing, column_spacing = (float(v) for v in measures.PixelSpacing)
    positions = np.array([[float(v) for v in _group(ds, n, "PlanePositionSequence").ImagePositionPatient]
                          for n in range(int(ds.NumberOfFrames))])
    unique = np.unique(np.round(positions, 6), axis=0)
    k_axis = np.cross(orientation[:3], orientation[3:])
    unique = unique[np.argsort(unique @ k_axis)]
    if len(unique) > 1:
        steps = np.diff(unique, axis=0)
        slice_spacing = float(np.mean(steps @ k_axis))
        assert np.allclose(steps, slice_spacing * k_axis, atol=1e-6), "slices not stacked evenly along the normal"
    else:
        slice_spacing = float(measures.get("SpacingBetweenSlices", measures.SliceThickness))
    origin = unique[0]
    geometry = Geometry(size=(int(ds.Columns), int(ds.Rows), len(unique)),
                        spacing=(column_spacing, row_spacing, slice_spacing), origin=tuple(origin),
                        direction=tuple(np.column_stack([orientation[:3], orientation[3:], k_axis]).ravel()))
    k_of_frame = np.array([int(np.argmin(np.linalg.norm(unique - p, axis=1))) for p in positions])
    return geometry, k_of_frame


def read_parametric_map(path) -> Tuple[np.ndarray, Geometry, object]:
    """The map as float32 ``[k, j, i]`` (real-world values: slope and intercept applied when not 1 and 0), its grid
    and the dataset."""
    ds = pydicom.dcmread(str(path))
    geometry, k_of_frame = frame_geometry(ds)
    frames = ds.pixel_array.reshape(int(ds.NumberOfFrames), int(ds.Rows), int(ds.Columns))
    volume = np.full(geometry.shape, np.inf, dtype=frames.dtype)
    volume[k_of_frame] = frames
    mapping = _group(ds, 0, "RealWorldValueMappingSequence")
    slope, intercept = float(mapping.RealWorldValueSlope), float(mapping.RealWorldValueIntercept)
    if slope != 1 or intercept != 0:
        volume = volume * slope + intercept
    return volume, geometry, ds


def read_segmentation(path) -> Tuple[Dict[str, np.ndarray], Geometry, object]:
    """Segment label → bool ``[k, j, i]``, the grid and the dataset."""
    ds = pydicom.dcmread(str(path))
    geometry, k_of_frame = frame_geometry(ds)
    frames = ds.pixel_array.reshape(int(ds.NumberOfFrames), int(ds.Rows), int(ds.Columns))
    labels = {int(s.SegmentNumber): str(s.SegmentLabel) for s in ds.SegmentSequence}
    segments = {label: np.zeros(geometry.shape, dtype=bool) for label in labels.values()}
    for n in range(int(ds.NumberOfFrames)):
        number = int(_group(ds, n, "SegmentIdentificationSequence").ReferencedSegmentNumber)
        segments[labels[number]][k_of_frame[n]] = frames[n].astype(bool)
    return segments, geometry, ds


def assert_same_geometry(read: Geometry, written: Geometry, tol: float = 1e-6) -> None:
    assert tuple(read.size) == tuple(written.size)
    np.testing.assert_allclose(read.origin, written.origin, atol=tol, rtol=0)
    np.testing.assert_allclose(read.spacing, written.spacing, atol=tol, rtol=0)
    np.testing.assert_allclose(read.direction, written.direction, atol=tol, rtol=0)
