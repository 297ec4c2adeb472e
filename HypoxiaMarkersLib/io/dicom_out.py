"""Writing one tumour's results as DICOM: the Brix maps as Parametric Maps and the tumour and its hypoxic voxels as
a Segmentation, for PACS and treatment planning systems (``image --dicom-out``).

Written with highdicom (the optional extra ``dicom``: ``pip install "HypoxiaMarkersLib[dicom]"``; highdicom 0.23 or
later, which needs Python 3.10 and pydicom 3). highdicom is imported only here and only when a DICOM export runs.

Files (one object per file, each in its own series):

- ``a_brix.dcm``, ``k_ep.dcm``, ``k_el.dcm``, ``r_squared.dcm``: Parametric Maps, 32-bit float pixel data
  (FloatPixelData), one frame per DCE slice, with a real-world value mapping (slope 1, intercept 0) in the map's
  unit: A_Brix and R² unitless (UCUM ``1``), k_ep and k_el per minute (UCUM ``/min``). Voxels outside the tumour
  and voxels whose fit failed are NaN, as in the NRRD maps: never a number that could pass for a fit.
- ``segmentation.dcm``: a binary Segmentation with two segments, 1 = the tumour (the mask given, on the DCE grid)
  and 2 = the hypoxic voxels (A_Brix below the threshold), one frame per slice and segment (empty frames kept).

Geometry: every frame carries its ImagePositionPatient (the LPS position of the slice's first voxel), the shared
ImageOrientationPatient (the grid's i and j axes), PixelSpacing and SliceThickness = SpacingBetweenSlices (the
slice spacing), so the objects lie exactly on the DCE grid.

Identity: when the DCE series was read from DICOM, the patient, study and frame of reference are the series'
(:class:`~HypoxiaMarkersLib.io.dicom.DicomReference`) and every frame refers to the first frame's image of its
slice. Otherwise the patient is named by :class:`DicomIdentity` (``--patient-id``, ``--patient-name``,
``--study-instance-uid``), the frame of reference UID is new, and the objects refer to no source image.
"""

from __future__ import annotations

import inspect
import sys
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import InputError
from ..volume import Geometry

#: The optional extra that installs what the DICOM export needs.
EXTRA = "HypoxiaMarkersLib[dicom]"
MINIMUM_HIGHDICOM = (0, 23)

#: The Parametric Maps: file stem, the result's attribute, description, UCUM unit code and its meaning.
PARAMETRIC_MAPS = (
    ("a_brix", "a_brix", "A_Brix (Brix model amplitude)", "1", "no units"),
    ("k_ep", "k_ep", "k_ep (Brix model, exchange rate constant)", "/min", "per minute"),
    ("k_el", "k_el", "k_el (Brix model, elimination rate constant)", "/min", "per minute"),
    ("r_squared", "r_squared", "R2 of the Brix fit", "1", "no units"),
)
SEGMENTATION_FILE = "segmentation.dcm"
TUMOUR_SEGMENT, HYPOXIC_SEGMENT = 1, 2

_MANUFACTURER = "HypoxiaMarkers"
_MODEL = "hypoxia-markers"


@dataclass
class DicomIdentity:
    """The patient and study of DICOM results when the DCE series was not DICOM (``--patient-id`` etc.).

    Attributes
    ----------
    patient_id : str
        PatientID (required: results without a patient cannot be filed).
    patient_name : str
        PatientName in DICOM form (``FAMILY^GIVEN``), may be empty.
    study_instance_uid : str, optional
        The study to file the results in (None: a new study UID is generated).
    """

    patient_id: str
    patient_name: str = ""
    study_instance_uid: Optional[str] = None

    def check(self) -> None:
        """Refuse identifiers DICOM cannot hold (LO: 64 characters, no backslash; UI: digits and dots)."""
        if not self.patient_id or not self.patient_id.strip():
            raise InputError("the patient ID is empty", source="--patient-id",
                             expected="the patient's identifier (up to 64 characters)")
        for option, value in (("--patient-id", self.patient_id), ("--patient-name", self.patient_name)):
            if len(value) > 64 or "\\" in value or any(ord(c) < 32 for c in value):
                raise InputError(f"{value!r} cannot be a DICOM {option[2:]}", source=option,
                                 expected="at most 64 characters, no backslash or control characters")
        uid = self.study_instance_uid
        if uid is not None and not _valid_uid(uid):
            raise InputError(f"{uid!r} is not a DICOM UID", source="--study-instance-uid",
                             expected="digits and dots, at most 64 characters, e.g. 1.2.826.0.1.3680043.10.1234")


def _valid_uid(uid: str) -> bool:
    parts = uid.split(".")
    return 0 < len(uid) <= 64 and all(p.isdigit() and (p == "0" or not p.startswith("0")) for p in parts)


def highdicom_problem() -> Optional[str]:
    """Why the DICOM export cannot run here (None: it can): the Python version or a missing highdicom."""
    if tuple(sys.version_info[:2]) < (3, 10):
        return (f"DICOM export needs Python 3.10 or later (highdicom 0.23+ with pydicom 3); this is Python "
                f"{sys.version_info[0]}.{sys.version_info[1]} (e.g. 3D Slicer 5.8): run the hypoxia-markers "
                f"command line on Python 3.10+ with pip install \"{EXTRA}\"")
    try:
        import highdicom
    except ImportError:
        return f"DICOM export needs the highdicom package: pip install \"{EXTRA}\""
    version = tuple(int(p) for p in highdicom.__version__.split(".")[:2] if p.isdigit())
    if version < MINIMUM_HIGHDICOM:
        return (f"DICOM export needs highdicom 0.23 or later (found {highdicom.__version__}): "
                f"pip install -U \"{EXTRA}\"")
    return None


def check_dicom_export() -> None:
    """Raise :class:`InputError` (before any work) when the DICOM export cannot run here."""
    problem = highdicom_problem()
    if problem:
        raise InputError(problem, source="--dicom-out")


@dataclass
class _Plan:
    """What every object of one export shares: the source images (patient, study, frame of reference) and the
    frames' geometry."""

    sources: list  # pydicom Datasets standing for the source image of each slice k
    refers_to_images: bool  # False: the sources are placeholders; no reference to them is kept
    pixel_measures: object
    plane_orientation: object
    plane_positions: list


def write_dicom_results(result, folder: Path, *, identity: Optional[DicomIdentity] = None) -> List[Path]:
    """Write the Parametric Maps and the Segmentation of ``result`` into ``folder`` (which must exist).

    Parameters
    ----------
    result : ImagingResult
        Uses ``a_brix``, ``k_ep``, ``k_el``, ``r_squared``, ``tumour_mask``, ``hypoxic_mask``, ``geometry``,
        ``parameters.a_threshold`` and ``dicom_reference`` (the DICOM series read, or None).
    folder : Path
        Where the files go; the caller writes it atomically (io/outputs).
    identity : DicomIdentity, optional
        Patient and study when ``result.dicom_reference`` is None (required then).

    Returns
    -------
    list of Path
        The files written.
    """
    check_dicom_export()
    import highdicom as hd

    plan = _plan(hd, result.geometry, getattr(result, "dicom_reference", None), identity)
    written = []
    series_number = 9100  # results series numbered apart from the scanner's (which are rarely above 9000)
    for n, (stem, attribute, description, unit, meaning) in enumerate(PARAMETRIC_MAPS):
        values = np.asarray(getattr(result, attribute), dtype=np.float32)
        dataset = _parametric_map(hd, plan, values, description, stem, unit, meaning, series_number + n)
        written.append(_save(dataset, folder / f"{stem}.dcm", plan))
    segments = np.stack([np.asarray(result.tumour_mask, dtype=bool), np.asarray(result.hypoxic_mask, dtype=bool)],
                        axis=-1)
    dataset = _segmentation(hd, plan, segments, float(result.parameters.a_threshold), series_number + 10)
    written.append(_save(dataset, folder / SEGMENTATION_FILE, plan))
    return written


def plane_layout(geometry: Geometry) -> Tuple[List[float], List[float], List[List[float]]]:
    """ImageOrientationPatient, PixelSpacing (between rows, between columns) and the ImagePositionPatient of each
    slice k of ``geometry`` (frame k of a map is slice k: rows are j, columns are i)."""
    direction = geometry.direction_matrix
    orientation = [float(v) for v in np.concatenate([direction[:, 0], direction[:, 1]])]
    spacing = [float(geometry.spacing[1]), float(geometry.spacing[0])]
    ijk = np.zeros((geometry.size[2], 3))
    ijk[:, 2] = np.arange(geometry.size[2])
    positions = [[float(v) for v in p] for p in geometry.index_to_lps(ijk)]
    return orientation, spacing, positions


def _plan(hd, geometry: Geometry, reference, identity: Optional[DicomIdentity]) -> _Plan:
    from pydicom.dataset import Dataset
    from pydicom.uid import MRImageStorage, generate_uid

    orientation, spacing, positions = plane_layout(geometry)
    slice_spacing = float(geometry.spacing[2])
    if reference is not None:
        base = Dataset()
        for element in reference.identity:
            base.add(element)
        base.SeriesInstanceUID = reference.series_instance_uid
        images = list(reference.slice_images)
        refers = True
    else:
        if identity is None:
            raise InputError("the DCE series is not DICOM: the DICOM results need a patient",
                             source="--dicom-out", expected="--patient-id (and optionally --patient-name, "
                                                            "--study-instance-uid)")
        identity.check()
        base = Dataset()
        base.PatientID = identity.patient_id
        base.PatientName = identity.patient_name
        base.StudyInstanceUID = identity.study_instance_uid or generate_uid()
        base.SeriesInstanceUID = generate_uid()
        base.Modality = "MR"
        images = [(MRImageStorage, generate_uid()) for _ in range(geometry.size[2])]
        refers = False
    # Type 2 attributes highdicom copies from the source: present, empty when the series had none.
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID",
                    "StudyDate", "StudyTime", "ReferringPhysicianName"):
        if keyword not in base:
            setattr(base, keyword, "")
    if "Modality" not in base:
        base.Modality = "MR"
    if "FrameOfReferenceUID" not in base or not str(base.FrameOfReferenceUID):
        # A DICOM series without one (rare: it is Type 1 for MR) or a non-DICOM input: a new frame of reference.
        base.FrameOfReferenceUID = generate_uid()
        base.PositionReferenceIndicator = ""
    sources = []
    for k, (sop_class, sop_instance) in enumerate(images):
        source = Dataset()
        for element in base:
            source.add(element)
        source.SOPClassUID = sop_class
        source.SOPInstanceUID = sop_instance
        source.Rows, source.Columns = geometry.size[1], geometry.size[0]
        source.ImageOrientationPatient = orientation
        source.ImagePositionPatient = positions[k]
        source.PixelSpacing = spacing
        # highdicom takes the pixel measures of the source images when they agree with the ones given: these
        # must then be the grid's, not the scanner's (whose SpacingBetweenSlices may be absent or differ)
        source.SliceThickness = slice_spacing
        source.SpacingBetweenSlices = slice_spacing
        sources.append(source)
    return _Plan(
        sources=sources, refers_to_images=refers,
        pixel_measures=hd.PixelMeasuresSequence(pixel_spacing=spacing, slice_thickness=slice_spacing,
                                                spacing_between_slices=slice_spacing),
        plane_orientation=hd.PlaneOrientationSequence(coordinate_system="PATIENT", image_orientation=orientation),
        plane_positions=[hd.PlanePositionSequence(coordinate_system="PATIENT", image_position=p) for p in positions],
    )


def _common(plan: _Plan, series_number: int) -> Dict[str, object]:
    from pydicom.uid import generate_uid

    return dict(
        source_images=plan.sources, series_instance_uid=generate_uid(), series_number=series_number,
        sop_instance_uid=generate_uid(), instance_number=1, manufacturer=_MANUFACTURER,
        manufacturer_model_name=_MODEL, software_versions=_version(), device_serial_number="none",
        pixel_measures=plan.pixel_measures, plane_orientation=plan.plane_orientation,
        plane_positions=plan.plane_positions,
    )


def _parametric_map(hd, plan: _Plan, values: np.ndarray, description: str, label: str, unit: str, meaning: str,
                    series_number: int):
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    mapping = hd.pm.RealWorldValueMapping(
        lut_label=label[:16], lut_explanation=description[:64],
        unit=hd.sr.CodedConcept(value=unit, scheme_designator="UCUM", meaning=meaning),
        value_range=(low, high), slope=1, intercept=0,
    )
    centre, width = (low + high) / 2.0, max(high - low, 1e-6)
    arguments = _common(plan, series_number)
    arguments.update(contains_recognizable_visual_features=False, real_world_value_mappings=[mapping],
                     content_label=label.upper()[:16].replace(" ", "_"),
                     content_description=(description + "; NaN: outside the tumour or no fit")[:64])
    if "voi_lut_transformations" in inspect.signature(hd.pm.ParametricMap).parameters:
        arguments["voi_lut_transformations"] = [hd.VOILUTTransformation(window_center=centre, window_width=width)]
    else:  # highdicom 0.23: the window is given directly
        arguments.update(window_center=centre, window_width=width)
    with _quiet_about_names():
        dataset = hd.pm.ParametricMap(pixel_array=values, **arguments)
    dataset.SeriesDescription = description[:64]
    return dataset


def _segmentation(hd, plan: _Plan, segments: np.ndarray, a_threshold: float, series_number: int):
    from pydicom.sr.codedict import codes

    # The hypoxic voxels come from a threshold on the fitted A_Brix map: "image processing" (DCM 110001).
    algorithm = hd.AlgorithmIdentificationSequence(name="HypoxiaMarkers A_Brix threshold",
                                                   family=codes.DCM.ImageProcessing, version=_version())
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=TUMOUR_SEGMENT, segment_label="Tumour",
            segmented_property_category=hd.sr.CodedConcept("49755003", "SCT", "Morphologically Altered Structure"),
            segmented_property_type=hd.sr.CodedConcept("108369006", "SCT", "Neoplasm"),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        ),
        hd.seg.SegmentDescription(
            segment_number=HYPOXIC_SEGMENT, segment_label=f"Hypoxic voxels (A_Brix < {a_threshold:g})"[:64],
            segmented_property_category=hd.sr.CodedConcept("49755003", "SCT", "Morphologically Altered Structure"),
            segmented_property_type=hd.sr.CodedConcept("389086002", "SCT", "Hypoxia"),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC, algorithm_identification=algorithm,
        ),
    ]
    arguments = _common(plan, series_number)
    arguments.update(segmentation_type=hd.seg.SegmentationTypeValues.BINARY, segment_descriptions=descriptions,
                     omit_empty_frames=False, content_label="HYPOXIA",
                     content_description=f"tumour and hypoxic voxels (A_Brix < {a_threshold:g})"[:64])
    with _quiet_about_names():
        dataset = hd.seg.Segmentation(pixel_array=segments.astype(np.uint8), **arguments)
    dataset.SeriesDescription = "Tumour and hypoxic voxels"
    return dataset


@contextmanager
def _quiet_about_names() -> Iterator[None]:
    """highdicom warns about a one-part PatientName ("v06_Tofts"): the name is the scanner's (or the user's), copied
    as it is on purpose, so the warning would only be noise on every export."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person name")
        yield


def _version() -> str:
    from .. import __version__

    return str(__version__)


def _save(dataset, path: Path, plan: _Plan) -> Path:
    if not plan.refers_to_images:
        _drop_placeholder_references(dataset)
    dataset.save_as(str(path), enforce_file_format=True)
    return path


def _drop_placeholder_references(dataset) -> None:
    """Remove references to the placeholder source images of a non-DICOM input: the results were not derived from
    any DICOM instance, and a reference to an image nobody has would mislead (the attributes are conditional:
    required only when the object was derived from DICOM instances)."""
    for keyword in ("ReferencedSeriesSequence", "SourceImageSequence", "ReferencedImageSequence",
                    "StudiesContainingOtherReferencedInstancesSequence"):
        if keyword in dataset:
            delattr(dataset, keyword)
    groups: Sequence = list(dataset.get("PerFrameFunctionalGroupsSequence", [])) + list(
        dataset.get("SharedFunctionalGroupsSequence", []))
    for group in groups:
        for keyword in ("DerivationImageSequence",):
            if keyword in group:
                delattr(group, keyword)
