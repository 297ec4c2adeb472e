"""Reading a dynamic (DCE) DICOM series from a folder: frames grouped and ordered by time, slices by position.

A DCE acquisition stored as classic single-frame DICOM has one file per (slice, frame). The files are sorted in
two passes with pydicom: a header pass (``stop_before_pixels``) that places every file on its slice (by its
position along the slice normal) and in its frame (by the first time tag that tells the files of one slice
apart), and a pixel pass that fills the ``[t, k, j, i]`` array.

Frame-identifying tags, in order of preference: TriggerTime (ms), AcquisitionTime (clock time, with
AcquisitionDate), ContentTime (clock time, with ContentDate), TemporalPositionIdentifier (times from
TemporalResolution, ms, if present). When none distinguishes the files, InstanceNumber gives the order but not
the times, which the user must then give.
"""

from __future__ import annotations

import datetime
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import Cancelled, InputError
from ..volume import Geometry

# The tags read in the header pass (names as in pydicom's dictionary).
_HEADER_TAGS = [
    "SOPClassUID", "SOPInstanceUID", "Modality", "SeriesInstanceUID", "SeriesNumber", "SeriesDescription",
    "InstanceNumber", "FrameOfReferenceUID",
    "Rows", "Columns", "PixelSpacing", "ImagePositionPatient", "ImageOrientationPatient", "SliceThickness",
    "SpacingBetweenSlices", "NumberOfFrames", "TriggerTime", "AcquisitionTime", "AcquisitionDate", "ContentTime",
    "ContentDate", "TemporalPositionIdentifier", "TemporalResolution", "NumberOfTemporalPositions",
]

#: Patient, study and frame-of-reference attributes kept from the series for the DICOM export (io/dicom_out.py):
#: the maps and segmentations it writes belong to the same patient, study and frame of reference.
IDENTITY_TAGS = (
    "SpecificCharacterSet", "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID",
    "StudyID", "StudyDate", "StudyTime", "AccessionNumber", "ReferringPhysicianName", "StudyDescription",
    "FrameOfReferenceUID", "PositionReferenceIndicator", "Modality",
)
_HEADER_TAGS += [tag for tag in IDENTITY_TAGS if tag not in _HEADER_TAGS]

_DATE_EPOCH = datetime.date(2000, 1, 1).toordinal()

# Two slice positions closer than this (mm, along the slice normal) are the same slice.
POSITION_TOLERANCE_MM = 0.01


@dataclass
class DicomSeries:
    """A dynamic DICOM series read from a folder.

    Attributes
    ----------
    signal : ndarray, float32, shape (n_frames, k, j, i)
        Stored values with RescaleSlope/RescaleIntercept applied.
    geometry : Geometry
        The grid of one frame (LPS; k along the slice normal, slices ordered by position).
    times_s : ndarray or None
        Frame times in seconds, or None when the files order the frames but carry no times.
    time_source : str
        The tag the frames were ordered by and the times taken from.
    files : list of list of Path
        ``files[t][k]``: the file of frame t, slice k.
    metadata : dict
        Series description, number, UID, and notes on how the times were derived.
    reference : DicomReference
        Patient, study and frame of reference, and the first frame's images: what a DICOM export refers to.
    """

    signal: np.ndarray
    geometry: Geometry
    times_s: Optional[np.ndarray]
    time_source: str
    files: List[List[Path]]
    metadata: dict = field(default_factory=dict)
    reference: Optional[DicomReference] = None


@dataclass
class DicomReference:
    """What a DICOM export of results needs from the series read (a few attributes, no pixel data).

    Attributes
    ----------
    identity : pydicom Dataset
        The :data:`IDENTITY_TAGS` present in the series' first file (patient, study, frame of reference).
    series_instance_uid : str
    slice_images : list of (str, str)
        ``(SOPClassUID, SOPInstanceUID)`` of the first frame's image of each slice, in slice order k: the images
        a derived map or segmentation frame refers to.
    """

    identity: object
    series_instance_uid: str
    slice_images: List[Tuple[str, str]]


def _reference(headers: Sequence[_Header], first_frame: Sequence[int]) -> DicomReference:
    from pydicom.dataset import Dataset

    first = headers[first_frame[0]].ds
    identity = Dataset()
    for tag in IDENTITY_TAGS:
        if tag in first:
            identity[tag] = first[tag]
    images = [(str(headers[n].ds.get("SOPClassUID", "")), str(headers[n].ds.get("SOPInstanceUID", "")))
              for n in first_frame]
    return DicomReference(identity, str(first.get("SeriesInstanceUID", "")), images)


@dataclass
class _Header:
    path: Path
    ds: object  # pydicom Dataset without pixel data


def _import_pydicom():
    try:
        import pydicom
    except ImportError:  # pragma: no cover - pydicom is a dependency
        raise InputError("reading DICOM needs the pydicom package (pip install pydicom)") from None
    return pydicom


def _scan_folder(folder: Path) -> Tuple[List[_Header], int]:
    """Headers of every DICOM image file under ``folder`` (recursively); other files are skipped and counted."""
    pydicom = _import_pydicom()
    from pydicom.errors import InvalidDicomError

    headers: List[_Header] = []
    skipped = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.name.upper() == "DICOMDIR":
            skipped += 1
            continue
        try:
            ds = pydicom.dcmread(str(path), stop_before_pixels=True, specific_tags=_HEADER_TAGS)
        except (InvalidDicomError, OSError, EOFError, ValueError, TypeError):
            # Not DICOM (a README, a licence, a thumbnail): a folder may hold such files beside the series.
            skipped += 1
            continue
        if "Rows" not in ds or "Columns" not in ds:
            skipped += 1  # DICOM without an image (a report, a presentation state)
            continue
        headers.append(_Header(path, ds))
    return headers, skipped


def _describe_series(headers: Sequence[_Header]) -> str:
    ds = headers[0].ds
    number = ds.get("SeriesNumber", "?")
    description = ds.get("SeriesDescription", "") or "no description"
    return f"series {number} ({description}, {len(headers)} files, UID {ds.get('SeriesInstanceUID', '?')})"


def _one_series(headers: List[_Header], folder: Path, series_uid: Optional[str]) -> List[_Header]:
    by_series: Dict[str, List[_Header]] = defaultdict(list)
    for header in headers:
        by_series[str(header.ds.get("SeriesInstanceUID", ""))].append(header)
    if series_uid is not None:
        if series_uid not in by_series:
            listing = "; ".join(_describe_series(h) for h in by_series.values())
            raise InputError(f"no series with UID {series_uid} here; found {listing}", source=str(folder),
                             field="SeriesInstanceUID")
        return by_series[series_uid]
    if len(by_series) > 1:
        listing = "; ".join(_describe_series(h) for h in by_series.values())
        raise InputError(
            f"the folder holds {len(by_series)} DICOM series: {listing}",
            source=str(folder), field="SeriesInstanceUID",
            expected="a folder with the files of one dynamic series (move the others out, or pick one by UID)",
        )
    return next(iter(by_series.values()))


def _float_list(value, n: int, what: str, path: Path) -> np.ndarray:
    try:
        array = np.asarray([float(v) for v in value], dtype=float)
    except (TypeError, ValueError):
        array = np.zeros(0)
    if array.size != n or not np.all(np.isfinite(array)):
        raise InputError(f"{what} is missing or malformed", source=str(path), field=what, expected=f"{n} numbers")
    return array


def _slice_layout(headers: List[_Header]) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Orientation, pixel spacing and per-file slice position; checks that all files share one plane geometry.

    Returns (row_direction, column_direction, normal, pixel_spacing[row, column], positions (n_files, 3)).
    """
    first = headers[0]
    if "NumberOfFrames" in first.ds and int(first.ds.NumberOfFrames or 1) > 1:
        raise InputError(
            "this is an enhanced (multi-frame) DICOM file; only classic single-frame DICOM series are read",
            source=str(first.path), field="NumberOfFrames",
            expected="one image per file (or convert the series, e.g. with dcm2niix to NIfTI, or load it in "
                     "3D Slicer and save it as .seq.nrrd)",
        )
    orientation = _float_list(first.ds.get("ImageOrientationPatient"), 6, "ImageOrientationPatient", first.path)
    spacing = _float_list(first.ds.get("PixelSpacing"), 2, "PixelSpacing", first.path)
    rows, columns = int(first.ds.Rows), int(first.ds.Columns)
    positions = np.empty((len(headers), 3))
    for n, header in enumerate(headers):
        ds = header.ds
        if int(ds.Rows) != rows or int(ds.Columns) != columns:
            raise InputError(
                f"image size {ds.Rows} x {ds.Columns} differs from {rows} x {columns} in {first.path.name}",
                source=str(header.path), field="Rows/Columns", expected="one image size in the series",
            )
        this_orientation = _float_list(ds.get("ImageOrientationPatient"), 6, "ImageOrientationPatient", header.path)
        if not np.allclose(this_orientation, orientation, atol=1e-4):
            raise InputError(
                "image orientation differs from the rest of the series", source=str(header.path),
                field="ImageOrientationPatient", expected=f"{list(orientation)} as in {first.path.name}",
            )
        this_spacing = _float_list(ds.get("PixelSpacing"), 2, "PixelSpacing", header.path)
        if not np.allclose(this_spacing, spacing, atol=1e-4):
            raise InputError("pixel spacing differs from the rest of the series", source=str(header.path),
                             field="PixelSpacing", expected=f"{list(spacing)} as in {first.path.name}")
        positions[n] = _float_list(ds.get("ImagePositionPatient"), 3, "ImagePositionPatient", header.path)
    row_direction = orientation[:3] / np.linalg.norm(orientation[:3])
    column_direction = orientation[3:] / np.linalg.norm(orientation[3:])
    normal = np.cross(row_direction, column_direction)
    return row_direction, column_direction, normal, spacing, positions


def _group_positions(distance: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Slice index (0 = lowest position along the normal) of each file, and the position of each slice."""
    order = np.argsort(distance, kind="stable")
    sorted_distance = distance[order]
    new_slice = np.concatenate([[True], np.diff(sorted_distance) > POSITION_TOLERANCE_MM])
    slice_of_sorted = np.cumsum(new_slice) - 1
    slice_index = np.empty(distance.size, dtype=int)
    slice_index[order] = slice_of_sorted
    slice_positions = np.array([sorted_distance[slice_of_sorted == s].mean() for s in range(slice_of_sorted[-1] + 1)])
    return slice_index, slice_positions


def _clock_seconds(ds, time_tag: str, date_tag: str) -> Optional[float]:
    """A DICOM clock time (TM, with its date if present) in seconds; None if the tag is absent or empty."""
    from pydicom.valuerep import DA, TM

    text = ds.get(time_tag)
    if text is None or str(text).strip() == "":
        return None
    try:
        value = text if isinstance(text, datetime.time) else TM(str(text).strip())
    except ValueError:
        return None
    seconds = value.hour * 3600.0 + value.minute * 60.0 + value.second + value.microsecond * 1e-6
    date_text = ds.get(date_tag)
    if date_text is not None and str(date_text).strip():
        try:
            date = date_text if isinstance(date_text, datetime.date) else DA(str(date_text).strip())
            # Days matter only when a series runs over midnight; counted from 2000 to keep microseconds exact.
            seconds += (date.toordinal() - _DATE_EPOCH) * 86400.0
        except (ValueError, AttributeError):
            pass
    return seconds


def _number(ds, tag: str) -> Optional[float]:
    value = ds.get(tag)
    if value is None or str(value).strip() == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


@dataclass
class _TimeTag:
    name: str
    value: Callable  # ds -> float (seconds or an ordinal) or None
    is_clock: bool  # clock times: frame times are counted from the first frame
    in_seconds: bool  # False: the values order the frames but are not times


_TIME_TAGS = [
    _TimeTag("TriggerTime", lambda ds: None if _number(ds, "TriggerTime") is None
             else _number(ds, "TriggerTime") / 1000.0, False, True),
    _TimeTag("AcquisitionTime", lambda ds: _clock_seconds(ds, "AcquisitionTime", "AcquisitionDate"), True, True),
    _TimeTag("ContentTime", lambda ds: _clock_seconds(ds, "ContentTime", "ContentDate"), True, True),
    _TimeTag("TemporalPositionIdentifier", lambda ds: _number(ds, "TemporalPositionIdentifier"), False, False),
]


def _refuse_duplicate_images(headers: List[_Header]) -> None:
    """Two files of one image (a copy left in the folder) would look like two frames with the same time: name them
    instead of failing later with a misleading "no time tag"."""
    seen: dict = {}
    for header in headers:
        uid = getattr(header.ds, "SOPInstanceUID", None)
        if not uid:
            continue
        uid = str(uid)
        if uid in seen:
            raise InputError(f"the same image (SOPInstanceUID {uid}) is in two files: {seen[uid].name} and "
                             f"{header.path.name}", source=str(header.path.parent), field="SOPInstanceUID",
                             expected="each image once: remove the copy")
        seen[uid] = header.path


def _frame_order(
    headers: List[_Header], slice_index: np.ndarray, n_slices: int
) -> Tuple[np.ndarray, Optional[np.ndarray], str, dict]:
    """Frame index of each file, frame times (s) or None, the time source and notes.

    A tag is used when every file has it and its values differ between the files of each slice; the rank of a
    file's value within its slice is its frame.
    """
    n_files = len(headers)
    notes: dict = {}
    for tag in _TIME_TAGS:
        values = np.array([np.nan if v is None else v for v in (tag.value(h.ds) for h in headers)], dtype=float)
        missing = np.isnan(values)
        filled_note = ""
        if missing.any() and tag.name == "TriggerTime" and not missing.all():
            # Some writers leave TriggerTime out when it is zero (the QIBA DRO's first frame has none). Read a
            # missing value as 0 only when that cannot be ambiguous: at most one file per slice lacks it and
            # every other trigger time is positive, so the file is the first frame of its slice.
            per_slice = np.bincount(slice_index[missing], minlength=n_slices)
            if per_slice.max() <= 1 and np.all(values[~missing] > 0):
                values[missing] = 0.0
                filled_note = f" (missing in {int(missing.sum())} file(s), read as 0 ms: the first frame)"
                notes["trigger_time_missing_files"] = [str(headers[i].path) for i in np.flatnonzero(missing)]
                missing = np.isnan(values)
        if missing.any():
            continue
        distinct = all(np.unique(values[slice_index == s]).size == np.sum(slice_index == s) for s in range(n_slices))
        if not distinct:
            continue
        frame_index = np.empty(n_files, dtype=int)
        for s in range(n_slices):
            members = np.flatnonzero(slice_index == s)
            frame_index[members[np.argsort(values[members], kind="stable")]] = np.arange(members.size)
        n_frames = int(frame_index.max()) + 1
        per_frame = np.full((n_frames, n_slices), np.nan)
        per_frame[frame_index, slice_index] = values
        if not tag.in_seconds:
            resolution = [_number(h.ds, "TemporalResolution") for h in headers]
            if all(r is not None and r > 0 for r in resolution) and len(set(resolution)) == 1:
                # TemporalResolution: the time between frames, in ms.
                times = np.arange(n_frames) * resolution[0] / 1000.0
                return frame_index, times, f"DICOM TemporalPositionIdentifier x TemporalResolution " \
                                           f"({resolution[0]:g} ms)", notes
            notes["frame_order"] = "TemporalPositionIdentifier"
            return frame_index, None, "DICOM TemporalPositionIdentifier (order only; no TemporalResolution)", notes
        frame_times = per_frame.mean(axis=1)
        spread = float(np.max(per_frame.max(axis=1) - per_frame.min(axis=1)))
        if tag.is_clock:
            frame_times = frame_times - frame_times[0]
        text = f"DICOM {tag.name}{filled_note}"
        if spread > 0:
            # 2D multi-slice: each slice has its own time; a frame is timed at the mean of its slices.
            notes["slice_time_spread_s"] = spread
            text += f" (mean over {n_slices} slices; slice times spread up to {spread:g} s within a frame)"
        return frame_index, frame_times, text, notes
    # No time tag tells the files apart: order them by InstanceNumber, without times.
    instance = np.array([_number(h.ds, "InstanceNumber") for h in headers], dtype=object)
    if any(v is None for v in instance):
        raise InputError(
            "cannot tell the frames apart: no TriggerTime, AcquisitionTime, ContentTime, TemporalPositionIdentifier "
            "or InstanceNumber distinguishes the files of one slice",
            source=str(headers[0].path.parent), field="frame order",
            expected="a dynamic series whose files carry one of those tags",
        )
    instance = instance.astype(float)
    frame_index = np.empty(n_files, dtype=int)
    for s in range(n_slices):
        members = np.flatnonzero(slice_index == s)
        if np.unique(instance[members]).size != members.size:
            raise InputError(
                "cannot tell the frames apart: the files of one slice share InstanceNumber and carry no time tag",
                source=str(headers[members[0]].path.parent), field="frame order",
                expected="TriggerTime, AcquisitionTime, ContentTime or TemporalPositionIdentifier in every file",
            )
        frame_index[members[np.argsort(instance[members], kind="stable")]] = np.arange(members.size)
    notes["frame_order"] = "InstanceNumber"
    return frame_index, None, "DICOM InstanceNumber (order only; no time tag)", notes


def read_dicom_series(
    folder: Path, *, series_uid: Optional[str] = None, progress: Optional[Callable[[int, int], object]] = None
) -> DicomSeries:
    """Read a folder of DICOM files holding one dynamic series.

    Parameters
    ----------
    folder : Path
        Folder (searched recursively) with the series' files; non-DICOM files are ignored.
    series_uid : str, optional
        Read this SeriesInstanceUID when the folder holds several series.
    progress : callable, optional
        ``progress(done, total)`` during the pixel pass.

    Returns
    -------
    DicomSeries
        ``times_s`` is None when the files order the frames without carrying times.

    Raises
    ------
    InputError
        No DICOM images, several series, inconsistent geometry, incomplete frames, or frames that cannot be
        told apart.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("folder not found", source=str(folder), expected="a folder of DICOM files")
    headers, skipped = _scan_folder(folder)
    if not headers:
        raise InputError(f"no DICOM images found ({skipped} other files)", source=str(folder),
                         expected="a folder of DICOM files of one dynamic series")
    headers = _one_series(headers, folder, series_uid)
    _refuse_duplicate_images(headers)

    row_direction, column_direction, normal, pixel_spacing, positions = _slice_layout(headers)
    slice_index, slice_positions = _group_positions(positions @ normal)
    n_slices = slice_positions.size
    counts = np.bincount(slice_index, minlength=n_slices)
    if np.unique(counts).size != 1:
        common = Counter(counts.tolist()).most_common(1)[0][0]
        odd = [f"slice at {slice_positions[s]:.2f} mm has {counts[s]}" for s in range(n_slices) if counts[s] != common]
        raise InputError(
            f"the slices have different numbers of files ({'; '.join(odd[:5])}; the others {common})",
            source=str(folder), field="ImagePositionPatient",
            expected="every slice position once per frame (is the series complete, or are two acquisitions mixed?)",
        )
    n_frames = int(counts[0])
    if n_frames < 2:
        raise InputError(f"one image per slice position ({n_slices} slices): this is not a dynamic series",
                         source=str(folder), expected="several frames per slice")

    frame_index, times, time_source, notes = _frame_order(headers, slice_index, n_slices)

    # Geometry: origin at the first slice (lowest position along the normal), k along the normal (as ITK does).
    files: List[List[Optional[Path]]] = [[None] * n_slices for _ in range(n_frames)]
    for header, t, k in zip(headers, frame_index, slice_index):
        files[t][k] = header.path
    first_slice_files = np.flatnonzero((slice_index == 0) & (frame_index == 0))
    origin = positions[first_slice_files[0]]
    for k in range(n_slices):
        members = np.flatnonzero(slice_index == k)
        if np.max(np.abs(positions[members] - positions[members[0]])) > POSITION_TOLERANCE_MM * 10:
            raise InputError("the slice position changes between frames", source=str(headers[members[0]].path),
                             field="ImagePositionPatient", expected="the same slice positions in every frame")
    if n_slices > 1:
        # Slices must be stacked along their normal; a sheared stack (gantry tilt) has no grid geometry.
        first_of_slice = np.array([positions[np.flatnonzero(slice_index == k)[0]] for k in range(n_slices)])
        offsets = first_of_slice - first_of_slice[0]
        in_plane = offsets - np.outer(offsets @ normal, normal)
        if np.max(np.linalg.norm(in_plane, axis=1)) > max(POSITION_TOLERANCE_MM * 10, 1e-3 * float(min(pixel_spacing))):
            raise InputError(
                "the slices are shifted in plane from one to the next (gantry tilt or a sheared stack)",
                source=str(folder), field="ImagePositionPatient",
                expected="slices stacked along their normal (resample the series, e.g. in 3D Slicer, first)",
            )
        steps = np.diff(slice_positions)
        if np.max(steps) - np.min(steps) > max(1e-3 * np.mean(steps), POSITION_TOLERANCE_MM):
            raise InputError(
                f"the slices are not evenly spaced (gaps from {np.min(steps):.3f} to {np.max(steps):.3f} mm)",
                source=str(folder), field="ImagePositionPatient", expected="evenly spaced slices (no missing slice)",
            )
        slice_spacing = float(np.mean(steps))
    else:
        ds = headers[0].ds
        slice_spacing = _number(ds, "SpacingBetweenSlices") or _number(ds, "SliceThickness") or 1.0
    geometry = Geometry(
        size=(int(headers[0].ds.Columns), int(headers[0].ds.Rows), n_slices),
        # PixelSpacing is (between rows, between columns): the column spacing is along i.
        spacing=(float(pixel_spacing[1]), float(pixel_spacing[0]), float(slice_spacing)),
        origin=tuple(float(o) for o in origin),
        direction=tuple(float(d) for d in np.column_stack([row_direction, column_direction, normal]).ravel()),
    )

    signal = np.empty((n_frames,) + geometry.shape, dtype=np.float32)
    total = n_frames * n_slices
    pydicom = _import_pydicom()
    done = 0
    for t in range(n_frames):
        for k in range(n_slices):
            path = files[t][k]
            signal[t, k] = _pixels(pydicom, path, geometry.shape[1:])
            done += 1
            if progress is not None and progress(done, total) is False:
                raise Cancelled("reading the DICOM series was cancelled")

    first = headers[0].ds
    metadata = {
        "series_description": str(first.get("SeriesDescription", "")),
        "series_number": str(first.get("SeriesNumber", "")),
        "series_instance_uid": str(first.get("SeriesInstanceUID", "")),
        # Contours (RTSTRUCT) must be in the same frame of reference to be placed on these images.
        "frame_of_reference_uid": str(first.get("FrameOfReferenceUID", "")),
        "n_files": len(headers),
        "skipped_files": skipped,
        **notes,
    }
    first_frame = [int(np.flatnonzero((slice_index == k) & (frame_index == 0))[0]) for k in range(n_slices)]
    return DicomSeries(signal, geometry, times, time_source, files, metadata, _reference(headers, first_frame))


def _pixels(pydicom, path: Path, shape: Tuple[int, int]) -> np.ndarray:
    """The stored values of one image file, rescaled (RescaleSlope/Intercept), as float32 (j, i)."""
    ds = None
    try:
        ds = pydicom.dcmread(str(path))
        array = ds.pixel_array
    except Exception as error:  # decoding errors come from many handlers, each with its own exception type
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        raise InputError(
            f"could not read the pixel data ({type(error).__name__}: {error})",
            source=str(path), field="PixelData",
            expected="uncompressed DICOM or a compression pydicom can decode"
                     + (f"; this file uses {syntax.name}" if syntax is not None else ""),
        ) from None
    if array.shape != tuple(shape):
        raise InputError(f"pixel data of shape {array.shape}", source=str(path), field="PixelData",
                         expected=f"one {shape[0]} x {shape[1]} image")
    values = array.astype(np.float32)
    slope = _number(ds, "RescaleSlope")
    intercept = _number(ds, "RescaleIntercept")
    if slope is not None and slope != 1.0:
        values *= np.float32(slope)
    if intercept is not None and intercept != 0.0:
        values += np.float32(intercept)
    return values


__all__ = ["DicomReference", "DicomSeries", "IDENTITY_TAGS", "read_dicom_series"]
