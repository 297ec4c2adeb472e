"""Test helpers: DICOM RT Structure Sets and DICOM DCE series built from masks and phantoms (pydicom, contourpy).

The contours of a mask are traced with contourpy (matplotlib's contouring library) at level 0.5 of each slice,
i.e. half-way between the voxel centres inside and outside, and converted to patient LPS coordinates with the
mask's geometry: the outline a planning system would store for that label map.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from HypoxiaMarkersLib.volume import DceSeries, Geometry

RTSTRUCT_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"


def mask_contours(mask: np.ndarray, geometry: Geometry) -> List[np.ndarray]:
    """Closed polygons (n, 3) in LPS mm around the voxels of ``mask`` (k, j, i), one or more per slice."""
    import contourpy

    contours = []
    for k in range(mask.shape[0]):
        if not mask[k].any():
            continue
        padded = np.pad(np.asarray(mask[k], dtype=float), 1)  # closed loops also at the slice's edge
        for line in contourpy.contour_generator(z=padded, line_type="Separate").lines(0.5):
            line = np.asarray(line, dtype=float)
            if np.allclose(line[0], line[-1]):
                line = line[:-1]
            ijk = np.column_stack([line[:, 0] - 1, line[:, 1] - 1, np.full(len(line), float(k))])
            contours.append(geometry.index_to_lps(ijk))
    return contours


def _save(ds: Dataset, path: Path) -> None:
    try:
        ds.save_as(path, enforce_file_format=True)  # pydicom 3
    except TypeError:  # pragma: no cover - pydicom 2
        ds.is_little_endian, ds.is_implicit_VR = True, False
        ds.save_as(path, write_like_original=False)


def new_dataset(sop_class_uid: str) -> Dataset:
    """A dataset with its file meta information (explicit VR little endian) and a new SOP instance UID."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class_uid
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class_uid, meta.MediaStorageSOPInstanceUID
    return ds


def write_rtstruct(path: Path, rois: Dict[str, Sequence[np.ndarray]], frame_of_reference_uid: str, *,
                   geometric_type: str = "CLOSED_PLANAR") -> Path:
    """An RT Structure Set with one ROI per name, its contours given as (n, 3) LPS point arrays."""
    ds = new_dataset(RTSTRUCT_STORAGE)
    ds.Modality = "RTSTRUCT"
    ds.PatientID, ds.PatientName = "phantom", "Phantom^Test"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.StructureSetLabel = "tumour"
    frame = Dataset()
    frame.FrameOfReferenceUID = frame_of_reference_uid
    ds.ReferencedFrameOfReferenceSequence = [frame]
    ds.StructureSetROISequence = []
    ds.ROIContourSequence = []
    for number, (name, contours) in enumerate(rois.items(), start=1):
        roi = Dataset()
        roi.ROINumber, roi.ROIName = number, name
        roi.ReferencedFrameOfReferenceUID = frame_of_reference_uid
        roi.ROIGenerationAlgorithm = "MANUAL"
        ds.StructureSetROISequence.append(roi)
        item = Dataset()
        item.ReferencedROINumber = number
        item.ROIDisplayColor = [255, 0, 0]
        item.ContourSequence = []
        for points in contours:
            contour = Dataset()
            contour.ContourGeometricType = geometric_type
            contour.NumberOfContourPoints = len(points)
            contour.ContourData = [f"{v:.4f}" for v in np.asarray(points, dtype=float).ravel()]
            item.ContourSequence.append(contour)
        ds.ROIContourSequence.append(item)
    _save(ds, Path(path))
    return Path(path)


def write_dicom_dce(series: DceSeries, folder: Path, frame_of_reference_uid: str,
                    scale: Optional[float] = None) -> Path:
    """The series as classic single-frame MR DICOM (one file per frame and slice, TriggerTime in ms)."""
    folder.mkdir(parents=True, exist_ok=True)
    g = series.geometry
    d = g.direction_matrix
    scale = scale or 4000.0 / float(series.signal.max())
    series_uid, study_uid = generate_uid(), generate_uid()
    for t in range(series.n_frames):
        for k in range(g.size[2]):
            ds = new_dataset(MRImageStorage)
            ds.Modality, ds.PatientID = "MR", "phantom"
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
            ds.FrameOfReferenceUID = frame_of_reference_uid
            ds.InstanceNumber = t * g.size[2] + k + 1
            ds.TriggerTime = f"{1000.0 * float(series.times_s[t]):.3f}"
            ds.ImagePositionPatient = [f"{v:.6f}" for v in g.index_to_lps([0.0, 0.0, float(k)])]
            ds.ImageOrientationPatient = [f"{v:.6f}" for v in np.concatenate([d[:, 0], d[:, 1]])]
            ds.PixelSpacing = [f"{g.spacing[1]:.6f}", f"{g.spacing[0]:.6f}"]
            ds.SliceThickness = f"{g.spacing[2]:.6f}"
            ds.Rows, ds.Columns = g.size[1], g.size[0]
            ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
            ds.RescaleSlope, ds.RescaleIntercept = f"{1 / scale:.10g}", "0"
            pixels = np.clip(np.round(series.signal[t, k] * scale), 0, 65535).astype(np.uint16)
            ds.PixelData = pixels.tobytes()
            _save(ds, folder / f"f{t:03d}_s{k:02d}.dcm")
    return folder
