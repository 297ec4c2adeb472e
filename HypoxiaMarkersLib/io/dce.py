"""Reading and writing DCE series (4D): NRRD (plain, Slicer's .seq.nrrd, MultiVolume), NIfTI, MetaImage, DICOM.

Voxels and geometry are read by SimpleITK (DICOM by :mod:`dicom_io`), NRRD header fields by pynrrd. Frame times
come from the data unless the user gives them (``times`` or ``frame_interval``); they are never guessed: a file
without times, or with times that do not increase, is an error that says how to give them.

Where the times are in each format:

- plain 4D NRRD: the spacing (and origin) of axis 4, in seconds unless ``space units`` says otherwise;
- Slicer's sequence NRRD (``.seq.nrrd``): ``axis N index values`` of the list axis, when its unit is a time
  unit; otherwise the ``MultiVolume.FrameLabels`` key (MultiVolumeExplorer; ms unless
  ``MultiVolume.FrameIdentifyingDICOMTagUnits`` says otherwise);
- NIfTI: ``pixdim[4]`` and ``toffset`` in the unit of ``xyzt_units``;
- MetaImage: the spacing of axis 4 (the format has no unit: read as seconds);
- DICOM folder: TriggerTime, AcquisitionTime, ContentTime or TemporalPositionIdentifier (see :mod:`dicom_io`).
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple, Union
from urllib.parse import unquote

import numpy as np
import SimpleITK as sitk

from ..errors import InputError
from ..imaging.timing import SECONDS_PER_UNIT, check_frame_times
from ..volume import DceSeries, Geometry
from .outputs import atomic_file
from .volumes import geometry_of_image

PathLike = Union[str, os.PathLike]

# Seconds per unit, for the unit names found in NRRD headers and Slicer sequences.
_TIME_UNITS = SECONDS_PER_UNIT

# NIfTI xyzt_units time codes (bits 3-5) and their length in seconds.
_NIFTI_TIME_UNITS = {8: ("s", 1.0), 16: ("ms", 1e-3), 24: ("us", 1e-6)}

# Frame-identifying tags of a MultiVolume that are times; the clock times count from the first frame.
_MULTIVOLUME_TIME_TAGS = {"TriggerTime": False, "AcquisitionTime": True, "ContentTime": True, "SeriesTime": True}

_DOMAIN_KINDS = {"domain", "space", "time"}


@dataclass
class _Raw:
    """What a reader found, before the frame times are validated or overridden."""

    signal: np.ndarray  # [t, k, j, i]
    geometry: Geometry
    times: Optional[np.ndarray]
    time_source: str
    metadata: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------------------
# Reading


def read_dce(
    path: Union[PathLike, Sequence[PathLike]],
    *,
    times: Optional[Sequence[float]] = None,
    frame_interval: Optional[float] = None,
    progress: Optional[Callable[[int, int], object]] = None,
) -> DceSeries:
    """Read a DCE-MRI series with its frame times.

    Parameters
    ----------
    path : path or list of paths
        A 4D file (``.nrrd``/``.nhdr`` plain 4D, Slicer ``.seq.nrrd`` or MultiVolume NRRD; ``.nii``/``.nii.gz``;
        ``.mha``/``.mhd``), a folder of DICOM files of one dynamic series, or a list of 3D volumes (one per
        frame, all on the same grid; then ``times`` or ``frame_interval`` is required).
    times : sequence of float, optional
        Frame times in seconds (``--times``); they replace the times in the data.
    frame_interval : float, optional
        Seconds between frames (``--frame-interval``): times are ``0, dt, 2 dt, ...``; replaces the data's times.
    progress : callable, optional
        ``progress(done, total)`` while a DICOM folder is read (returning False cancels).

    Returns
    -------
    DceSeries
        ``signal`` float32 ``[t, k, j, i]``, ``times_s`` strictly increasing, ``geometry`` of one frame (LPS),
        ``time_source`` saying where the times came from. When the times were given, ``metadata`` keeps the
        file's own times (``file_times_s``, ``file_time_source``) if it had any.

    Raises
    ------
    InputError
        Missing or unreadable file, not a 4D series, frames on different grids, or frame times missing, of the
        wrong count or not strictly increasing (the message says how to give them).
    """
    given_times, given_source = _given_times(times, frame_interval)
    if isinstance(path, (list, tuple)):
        paths, order_note = frame_file_order([Path(p) for p in path])
        raw = _read_volume_list(paths)
        if order_note:
            raw.metadata["frame_order"] = order_note
            warnings.warn(order_note, stacklevel=2)
        source = f"{len(path)} volumes ({Path(path[0]).name} ...)" if path else "list of volumes"
    else:
        path = Path(path)
        source = str(path)
        if not path.exists():
            raise InputError("file or folder not found", source=source, expected="a 4D image file or a DICOM folder")
        raw = _read_path(path, progress)
        _refuse_corrupt_compression(path, raw.signal)
    n_frames = raw.signal.shape[0]
    if n_frames < 2:
        raise InputError(f"{n_frames} frame: a DCE series needs a time axis", source=source,
                         expected="a 4D series with several frames")
    metadata = dict(raw.metadata)
    if given_times is not None or given_source is not None:
        if given_times is None:  # frame interval
            given_times = np.arange(n_frames) * float(frame_interval)
        if raw.times is not None:
            metadata["file_times_s"] = np.asarray(raw.times, dtype=float)
            metadata["file_time_source"] = raw.time_source
        checked = check_frame_times(given_times, n_frames, given_source)
        time_source = given_source
    else:
        checked = check_frame_times(raw.times, n_frames, f"{source} ({raw.time_source})")
        time_source = raw.time_source
    signal = raw.signal if raw.signal.dtype == np.float32 else raw.signal.astype(np.float32)
    return DceSeries(
        signal=np.ascontiguousarray(signal), times_s=checked, geometry=raw.geometry, time_source=time_source,
        source=source, metadata=metadata,
    )


def _given_times(times, frame_interval) -> Tuple[Optional[np.ndarray], Optional[str]]:
    if times is not None and frame_interval is not None:
        raise InputError("give either the frame times or the frame interval, not both", source="--times",
                         expected="--times or --frame-interval")
    if times is not None:
        return np.asarray(times, dtype=float).ravel(), "--times"
    if frame_interval is not None:
        try:
            interval = float(frame_interval)
        except (TypeError, ValueError):
            interval = float("nan")
        if not np.isfinite(interval) or interval <= 0:
            raise InputError(f"frame interval {frame_interval!r} is not a positive number of seconds",
                             source="--frame-interval", expected="seconds between frames, > 0")
        return None, f"--frame-interval {interval:g} s"
    return None, None


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in (".seq.nrrd", ".seq.nhdr", ".nii.gz", ".nrrd", ".nhdr", ".nii", ".mha", ".mhd"):
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def _read_path(path: Path, progress=None) -> _Raw:
    if path.is_dir():
        from .dicom import read_dicom_series

        dicom = read_dicom_series(path, progress=progress)
        metadata = dict(dicom.metadata, dicom_reference=dicom.reference)  # for a DICOM export of the results
        return _Raw(dicom.signal, dicom.geometry, dicom.times_s, dicom.time_source, metadata)
    suffix = _suffix(path)
    if suffix in (".nrrd", ".nhdr", ".seq.nrrd", ".seq.nhdr"):
        return _read_nrrd(path)
    if suffix in (".nii", ".nii.gz"):
        return _read_nifti(path)
    if suffix == ".dcm":
        raise InputError("this is one DICOM file; a dynamic series is many", source=str(path),
                         expected="the folder that holds the series' DICOM files")
    return _read_other_4d(path)


def _refuse_corrupt_compression(path: Path, signal: np.ndarray) -> None:
    """Name a damaged compressed file as such: ITK decodes some corrupt gzip streams without an error, and the
    garbage then looks like a wrong signal (NaN, negative values) instead of a broken file."""
    if path.is_dir() or not any(_implausible(frame) for frame in signal):
        return
    problem = _gzip_problem(path)
    if problem:
        raise InputError(f"the compressed image data are damaged ({problem}); the file was probably truncated or "
                         "corrupted when copied", source=str(path), expected="an intact image file (copy it again)")


def _implausible(frame: np.ndarray) -> bool:
    return bool((~np.isfinite(frame)).any() or (frame < 0).any())


def _gzip_problem(path: Path) -> Optional[str]:
    """Why the gzip stream of ``path`` (a .gz file, or a NRRD with gzip encoding and attached data) is damaged, or
    None when it is intact or not gzip-compressed."""
    import zlib

    with open(path, "rb") as handle:
        data = handle.read()
    start = 0
    if _suffix(path) in (".nrrd", ".seq.nrrd"):
        end = data.find(b"\n\n")
        header = data[:end].decode("latin-1", "replace").lower() if end >= 0 else ""
        if end < 0 or not any(line.split(":", 1)[0].strip() == "encoding" and line.split(":", 1)[1].strip()
                              in ("gzip", "gz") for line in header.splitlines() if ":" in line):
            return None
        start = end + 2
    elif not path.name.lower().endswith(".gz"):
        return None
    stream = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        for offset in range(start, len(data), 1 << 22):
            stream.decompress(data[offset:offset + (1 << 22)], 1 << 26)
            while stream.unconsumed_tail:
                stream.decompress(stream.unconsumed_tail, 1 << 26)
    except zlib.error as error:
        return f"gzip: {error}"
    if not stream.eof:
        return "gzip: the stream ends early"
    return None


def _sitk_read(path: Path) -> sitk.Image:
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as error:
        reason = str(error).strip().splitlines()
        detail = next((line for line in reversed(reason) if line.strip()), "unknown error")
        raise InputError(f"could not read the image ({detail.strip()})", source=str(path),
                         expected="a readable, complete image file") from None


def _nrrd_header(path: Path) -> dict:
    try:
        import nrrd
    except ImportError:  # pragma: no cover - listed as a dependency
        raise InputError("reading NRRD headers needs the pynrrd package (pip install pynrrd)",
                         source=str(path)) from None
    try:
        return dict(nrrd.read_header(str(path)))
    except Exception as error:  # pynrrd raises NRRDError, OSError or ValueError for broken headers
        raise InputError(f"not a readable NRRD file ({error})", source=str(path),
                         expected="a NRRD file (NRRD000x magic line and header)") from None


def _axis_list(header: dict, key: str, n: int) -> list:
    values = header.get(key)
    if values is None:
        return [None] * n
    values = list(values)
    return values + [None] * (n - len(values))


def _read_nrrd(path: Path) -> _Raw:
    header = _nrrd_header(path)
    dimension = int(header.get("dimension", 0))
    kinds = [str(k) if k is not None else "domain" for k in _axis_list(header, "kinds", dimension)]
    non_domain = [n for n, kind in enumerate(kinds) if kind not in _DOMAIN_KINDS]
    if dimension == 3 and not non_domain:
        raise InputError("this is a 3D volume, not a DCE series", source=str(path), field="dimension",
                         expected="a 4D NRRD (3D + time), or give one 3D volume per frame with --times")
    if dimension != 4:
        raise InputError(f"{dimension}D NRRD", source=str(path), field="dimension",
                         expected="a 4D NRRD (3 space axes + time)")
    if non_domain:
        list_axes = [n for n in non_domain if kinds[n] == "list"]
        # Slicer reads a "vector" axis as the frame axis when no axis is a "list" (legacy sequence files).
        frame_axis = list_axes[0] if list_axes else non_domain[0]
        if len(non_domain) > 1 or kinds[frame_axis] not in ("list", "vector"):
            raise InputError(f"axis kinds {' '.join(kinds)}: not a time series", source=str(path), field="kinds",
                             expected="3 domain axes and one list axis (frames), or 4 domain axes")
    streamed = _stream_nrrd(path, header, frame_axis if non_domain else None)
    # The file's grid: from the streamed header's image information, else from the image SimpleITK read.
    image = streamed[1] if streamed is not None else _sitk_read(path)
    if non_domain:
        if image.GetDimension() != 3:
            raise InputError(f"the frames are {image.GetDimension()}D", source=str(path), field="sizes",
                             expected="3D frames")
        if streamed is not None:
            signal = streamed[0]
        else:
            array = sitk.GetArrayViewFromImage(image)  # (k, j, i, t)
            signal = np.ascontiguousarray(np.moveaxis(array, -1, 0), dtype=np.float32)  # one copy, (t, k, j, i)
        geometry = geometry_of_image(image)
        times, time_source, metadata = _sequence_times(header, frame_axis, path)
        return _Raw(signal, geometry, times, time_source, metadata)
    if streamed is not None:
        _check_4d(image, path)
        signal, geometry = streamed[0], geometry_of_image(image)
    else:
        signal, geometry = _split_4d(image, path)
    times, time_source = _nrrd_axis_times(header, image, signal.shape[0])
    return _Raw(signal, geometry, times, time_source)


# NRRD type names (as pynrrd gives them) that the streaming reader decodes; others go to SimpleITK.
_NRRD_TYPES = {
    "float": "f4", "double": "f8",
    "signed char": "i1", "int8": "i1", "int8_t": "i1",
    "uchar": "u1", "unsigned char": "u1", "uint8": "u1", "uint8_t": "u1",
    "short": "i2", "short int": "i2", "signed short": "i2", "signed short int": "i2", "int16": "i2",
    "int16_t": "i2",
    "ushort": "u2", "unsigned short": "u2", "unsigned short int": "u2", "uint16": "u2", "uint16_t": "u2",
    "int": "i4", "signed int": "i4", "int32": "i4", "int32_t": "i4",
    "uint": "u4", "unsigned int": "u4", "uint32": "u4", "uint32_t": "u4",
}

# Compressed bytes read, and decompressed bytes produced, per step of the streaming reader.
_STREAM_BLOCK = 1 << 22


def _stream_nrrd(path: Path, header: dict, frame_axis: Optional[int]):
    """``(signal float32 [t, k, j, i], image information)`` of a NRRD with attached raw or gzip data, decoded a
    slab at a time straight into the frame-major array; None when the file is another kind (detached data, other
    encodings or types, a frame axis other than the first) or its data cannot be decoded: SimpleITK then reads it
    (and names what is wrong).

    Why: SimpleITK's image (frames per voxel) and its frame-major copy held at once peak at twice the series; here
    the peak is the series plus one slab (one slice of a sequence, one frame of a plain 4D file). The values are
    those SimpleITK gives (the file's numbers cast to float32); the gzip stream's checksum is verified.
    """
    import zlib

    encoding = str(header.get("encoding", "")).lower()
    kind = _NRRD_TYPES.get(str(header.get("type", "")).lower())
    if (encoding not in ("raw", "gzip", "gz") or kind is None or frame_axis not in (None, 0)
            or any(key in header for key in ("data file", "datafile"))
            or any(int(header.get(key, 0) or 0) != 0 for key in ("line skip", "lineskip", "byte skip", "byteskip"))):
        return None
    dtype = np.dtype(("<" if str(header.get("endian", "little")).lower() == "little" else ">") + kind)
    sizes = [int(v) for v in header.get("sizes", [])]
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return None
    if len(sizes) != 4 or reader.GetDimension() + (frame_axis == 0) != 4:
        return None
    found = list(reader.GetSize()) + ([reader.GetNumberOfComponents()] if frame_axis == 0 else [])
    expected = sizes[1:] + sizes[:1] if frame_axis == 0 else sizes
    if found != expected:
        return None
    shape = tuple(reversed(sizes))  # C order of the data on disk: (k, j, i, t) or (t, k, j, i)
    slab_bytes = int(np.prod(shape[1:])) * dtype.itemsize
    signal = np.empty((shape[3], *shape[:3]) if frame_axis == 0 else shape, dtype=np.float32)
    slab = bytearray(slab_bytes)
    filled = done = 0
    try:
        with open(path, "rb") as handle:
            for line in iter(handle.readline, b""):
                if line in (b"\n", b"\r\n"):
                    break
            for piece in _nrrd_data_pieces(handle, encoding != "raw"):
                view, at = memoryview(piece), 0
                while at < len(view) and done < shape[0]:
                    take = min(slab_bytes - filled, len(view) - at)
                    slab[filled:filled + take] = view[at:at + take]
                    filled, at = filled + take, at + take
                    if filled == slab_bytes:
                        values = np.frombuffer(slab, dtype=dtype).reshape(shape[1:])
                        if frame_axis == 0:
                            signal[:, done] = np.moveaxis(values, -1, 0)
                        else:
                            signal[done] = values
                        filled, done = 0, done + 1
    except (zlib.error, OSError):
        return None
    if done < shape[0]:
        return None
    return signal, reader


def _nrrd_data_pieces(handle, compressed: bool):
    """The data bytes after a NRRD header, decompressed (gzip or zlib) a bounded piece at a time."""
    import zlib

    stream = zlib.decompressobj(32 + zlib.MAX_WBITS) if compressed else None
    for block in iter(lambda: handle.read(_STREAM_BLOCK), b""):
        if stream is None:
            yield block
            continue
        piece = stream.decompress(block, _STREAM_BLOCK)
        yield piece
        while stream.unconsumed_tail:
            yield stream.decompress(stream.unconsumed_tail, _STREAM_BLOCK)
        if stream.eof:
            return
    if stream is not None and not stream.eof:
        raise zlib.error("the stream ends early")


def _components(image) -> int:
    """Components per voxel of a SimpleITK image or of an image reader's information."""
    if isinstance(image, sitk.ImageFileReader):
        return image.GetNumberOfComponents()
    return image.GetNumberOfComponentsPerPixel()


def _split_4d(image: sitk.Image, path: Path) -> Tuple[np.ndarray, Geometry]:
    """Signal [t, k, j, i] and frame geometry of a scalar 4D SimpleITK image whose 4th axis is time."""
    _check_4d(image, path)
    return sitk.GetArrayFromImage(image).astype(np.float32, copy=False), geometry_of_image(image)


def _check_4d(image, path: Path) -> None:
    """Refuse an image (or an image reader's information) that is not scalar 4D with time as its 4th axis."""
    if image.GetDimension() != 4:
        raise InputError(f"a {image.GetDimension()}D image, not a DCE series", source=str(path),
                         expected="a 4D image (3D + time)")
    if _components(image) != 1:
        raise InputError(f"{_components(image)} components per voxel", source=str(path),
                         expected="one value per voxel and frame")
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(4, 4)
    if np.any(np.abs(direction[3, :3]) > 1e-6) or np.any(np.abs(direction[:3, 3]) > 1e-6):
        raise InputError("the 4th axis is not a pure time axis (its direction mixes with space)", source=str(path),
                         field="direction", expected="the time axis as the last axis, orthogonal to space")


def _time_unit_scale(unit: Optional[str]) -> Optional[float]:
    if unit is None:
        return None
    return _TIME_UNITS.get(str(unit).strip().strip('"').lower())


def _nrrd_axis_times(header: dict, image: sitk.Image, n_frames: int) -> Tuple[Optional[np.ndarray], str]:
    """Times of a plain 4D NRRD from the spacing (and origin) of axis 4."""
    explicit = False
    directions = header.get("space directions")
    if directions is not None:
        directions = np.asarray(directions, dtype=float)
        explicit = directions.shape[0] == 4 and np.all(np.isfinite(directions[3])) and np.any(directions[3] != 0)
    spacings = header.get("spacings")
    if not explicit and spacings is not None and len(spacings) == 4:
        explicit = bool(np.isfinite(float(spacings[3])))
    if not explicit:
        return None, "the NRRD's axis 4 has no spacing"
    space_has_time = header.get("space dimension") == 4 or str(header.get("space", "")).endswith("-time")
    unit = _axis_list(header, "space units", 4)[3] if space_has_time else None
    if unit is None:
        unit = _axis_list(header, "units", 4)[3]
    scale = 1.0 if unit in (None, "") else _time_unit_scale(unit)
    if scale is None:
        return None, f"the NRRD's axis 4 unit {unit!r} is not a time unit"
    step = image.GetSpacing()[3] * scale
    start = image.GetOrigin()[3] * scale
    times = start + np.arange(n_frames) * step
    unit_text = "s" if unit in (None, "") else unit
    return times, f"NRRD axis 4 spacing ({image.GetSpacing()[3]:g} {unit_text})"


def _sequence_times(header: dict, frame_axis: int, path: Path) -> Tuple[Optional[np.ndarray], str, dict]:
    """Times of a Slicer sequence NRRD: index values with a time unit, else MultiVolume.FrameLabels."""
    metadata = {}
    labels = _axis_list(header, "labels", 4)
    units = _axis_list(header, "units", 4)
    index_name = labels[frame_axis] or header.get("RangeAxisLabel") or ""
    index_unit = units[frame_axis] or header.get("RangeAxisUnit") or ""
    # Slicer 5.8 writes the list axis first ("axis 0 ..."), 5.10+ last ("axis 3 ..."); either key is read.
    keys = [f"axis {frame_axis} index values", "axis 0 index values", "axis 3 index values"]
    values_text = next((header[k] for k in keys if k in header), None)
    index_type = next((header[k] for k in (f"axis {frame_axis} index type", "axis 0 index type",
                                           "axis 3 index type") if k in header), "numeric")
    reasons = []
    if values_text is not None:
        metadata["index_name"], metadata["index_unit"] = index_name, index_unit
        scale = _time_unit_scale(index_unit)
        if scale is not None and str(index_type).strip() == "numeric":
            try:
                values = np.array([float(unquote(v)) for v in str(values_text).split()], dtype=float)
            except ValueError:
                raise InputError("the index values are not numbers", source=str(path), field=keys[0],
                                 expected="numeric frame times") from None
            return values * scale, f"seq.nrrd index values ({index_name or 'index'}, {index_unit})", metadata
        reasons.append(f"the sequence index ({index_name or 'unnamed'}, unit {index_unit or 'none'}) is not a time")
    if "MultiVolume.FrameLabels" in header:
        tag = str(header.get("MultiVolume.FrameIdentifyingDICOMTagName", "")).strip()
        if tag and tag not in _MULTIVOLUME_TIME_TAGS:
            raise InputError(f"the frames are identified by {tag}, not by time: this MultiVolume is not a time series",
                             source=str(path), field="MultiVolume.FrameIdentifyingDICOMTagName",
                             expected="TriggerTime, AcquisitionTime, ContentTime or SeriesTime")
        unit = str(header.get("MultiVolume.FrameIdentifyingDICOMTagUnits", "ms")).strip() or "ms"
        scale = _time_unit_scale(unit)
        if scale is None:
            raise InputError(f"frame label unit {unit!r} is not a time unit", source=str(path),
                             field="MultiVolume.FrameIdentifyingDICOMTagUnits", expected="ms or s")
        try:
            labels_ms = np.array([float(v) for v in str(header["MultiVolume.FrameLabels"]).split(",") if v.strip()])
        except ValueError:
            raise InputError("the frame labels are not numbers", source=str(path), field="MultiVolume.FrameLabels",
                             expected="comma-separated frame times") from None
        times = labels_ms * scale
        if _MULTIVOLUME_TIME_TAGS.get(tag, False) and times.size:
            times = times - times[0]  # clock times of day: count from the first frame
        metadata["multivolume_tag"] = tag
        return times, f"MultiVolume.FrameLabels ({unit}{', ' + tag if tag else ''})", metadata
    reasons.append("no MultiVolume.FrameLabels")
    return None, "; ".join(reasons), metadata


def _float32_decimal(value: float) -> float:
    """The shortest decimal that a float32 header field holds (16.43 for the float32 nearest 16.43)."""
    return float(str(np.float32(value)))


def _read_nifti(path: Path) -> _Raw:
    reader = _image_information(path)
    if reader.GetDimension() == 3:
        raise InputError("this is a 3D volume, not a DCE series", source=str(path), field="dim[0]",
                         expected="a 4D NIfTI (3D + time), or give one 3D volume per frame with --times")
    signal, geometry = _read_frames(path, reader)
    keys = set(reader.GetMetaDataKeys())
    if "pixdim[4]" not in keys or "xyzt_units" not in keys:
        return _Raw(signal, geometry, None, "the NIfTI header's pixdim[4]/xyzt_units could not be read")
    step = float(reader.GetMetaData("pixdim[4]"))
    code = int(float(reader.GetMetaData("xyzt_units"))) & 0x38
    offset = float(reader.GetMetaData("toffset")) if "toffset" in keys else 0.0
    if code not in _NIFTI_TIME_UNITS:
        reason = "no time unit" if code == 0 else f"time code {code} is not a time unit"
        return _Raw(signal, geometry, None, f"NIfTI xyzt_units gives {reason}")
    unit, scale = _NIFTI_TIME_UNITS[code]
    if not np.isfinite(step) or step <= 0:
        return _Raw(signal, geometry, None, f"NIfTI pixdim[4] is {step:g}")
    # NIfTI stores float32: take the decimal the writer meant (16.43, not 16.4300003).
    step, offset = _float32_decimal(step), _float32_decimal(offset)
    times = (offset + np.arange(signal.shape[0]) * step) * scale
    return _Raw(signal, geometry, times, f"NIfTI pixdim[4] ({step:g} {unit}, xyzt_units)")


def _read_other_4d(path: Path) -> _Raw:
    if _suffix(path) in (".mha", ".mhd"):
        image = _image_information(path)  # the header only: the frames are read one at a time below
    else:
        image = _sitk_read(path)
    if image.GetDimension() == 3 and _components(image) == 1:
        raise InputError("this is a 3D volume, not a DCE series", source=str(path),
                         expected="a 4D image (3D + time), or give one 3D volume per frame with --times")
    if isinstance(image, sitk.ImageFileReader):
        signal, geometry = _read_frames(path, image)
    else:
        signal, geometry = _split_4d(image, path)
    step, start = image.GetSpacing()[3], image.GetOrigin()[3]
    times = start + np.arange(signal.shape[0]) * step
    kind = "MetaImage" if _suffix(path) in (".mha", ".mhd") else "image"
    # MetaImage has no time unit: its ElementSpacing is taken as seconds, and the source says so.
    return _Raw(signal, geometry, times, f"{kind} axis 4 spacing ({step:g}, read as seconds)")


def _image_information(path: Path) -> sitk.ImageFileReader:
    """A reader holding the file's header (grid, type, metadata), no voxels read yet."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        _sitk_read(path)  # raises the InputError with SimpleITK's reason
        raise
    return reader


def _read_frames(path: Path, reader: sitk.ImageFileReader) -> Tuple[np.ndarray, Geometry]:
    """Signal [t, k, j, i] (float32) and frame geometry of a scalar 4D NIfTI or MetaImage, read a frame at a time.

    SimpleITK's whole image and its float32 copy would peak at twice the series (issue 14); ITK's NIfTI and
    MetaImage readers read one frame's region of an uncompressed file, so the peak is the series plus one frame.
    Compressed files are read whole: ITK inflates them from the start for every region, which took 5-8 times as
    long as the whole read for a 40-frame gzip NIfTI (``.nii.gz``) and ~25 times for a compressed MetaImage
    (``CompressedData = True``; measured in benchmarks/brix_fit.py). The values are those of the whole read,
    converted to float32 the same way.
    """
    _check_4d(reader, path)
    if path.name.lower().endswith(".gz") or _compressed_metaimage(path):
        return _split_4d(_sitk_read(path), path)
    size = [int(v) for v in reader.GetSize()]
    _check_complete(path, reader, size)
    signal = np.empty(size[::-1], dtype=np.float32)
    reader.SetExtractSize(size[:3] + [0])  # a size of 0 drops the time axis: each region is a 3D frame
    for n in range(size[3]):
        reader.SetExtractIndex([0, 0, 0, n])
        try:
            frame = reader.Execute()
        except RuntimeError as error:
            detail = next((line for line in reversed(str(error).strip().splitlines()) if line.strip()), "")
            raise InputError(f"could not read frame {n + 1} of the image ({detail.strip() or 'unknown error'})",
                             source=str(path), expected="a readable, complete image file") from None
        signal[n] = sitk.GetArrayViewFromImage(frame)  # `frame` stays referenced while its view is read
    return signal, geometry_of_image(reader)


#: Bytes per voxel of the pixel types an uncompressed 4D series is stored in.
_PIXEL_BYTES = {sitk.sitkUInt8: 1, sitk.sitkInt8: 1, sitk.sitkUInt16: 2, sitk.sitkInt16: 2, sitk.sitkUInt32: 4,
                sitk.sitkInt32: 4, sitk.sitkUInt64: 8, sitk.sitkInt64: 8, sitk.sitkFloat32: 4, sitk.sitkFloat64: 8}


def _check_complete(path: Path, reader: sitk.ImageFileReader, size: List[int]) -> None:
    """Refuse an uncompressed NIfTI or MetaImage whose voxel data end before the header says they do.

    Read a region at a time, a truncated file is not always an error: ITK 5.3 (SimpleITK 2.3, Slicer 5.8) returns
    the missing frames without complaint. The data must end within the file (or the MetaImage's data file).
    """
    per_voxel = _PIXEL_BYTES.get(reader.GetPixelID())
    if per_voxel is None:
        return
    needed = int(np.prod(size, dtype=np.int64)) * per_voxel * max(1, int(reader.GetNumberOfComponents()))
    data_file, start = path, None
    if _suffix(path) in (".mha", ".mhd"):
        with open(path, "rb") as handle:
            for raw in handle:
                key, _, value = raw.decode("latin-1").partition("=")
                if key.strip().lower() == "elementdatafile":
                    name = value.strip()
                    if name.upper() == "LOCAL":
                        start = handle.tell()
                    elif name.upper() != "LIST" and "%" not in name:  # one separate data file
                        data_file, start = path.parent / name, 0
                    break
                if len(raw) > 4096:
                    break
    elif _suffix(path) == ".nii":
        header = path.open("rb").read(348)
        for order in ("<", ">"):
            if len(header) == 348 and int(np.frombuffer(header[:4], dtype=f"{order}i4")[0]) == 348:
                start = int(np.frombuffer(header[108:112], dtype=f"{order}f4")[0])  # NIfTI-1 vox_offset
    if start is None or not data_file.is_file():
        return
    found = data_file.stat().st_size - start
    if found < needed:
        raise InputError(f"the image data end early: {found} of {needed} bytes ({size[3]} frames of "
                         f"{size[0]}x{size[1]}x{size[2]}); the file was probably truncated", source=str(data_file),
                         expected="a complete image file (copy it again)")


def _compressed_metaimage(path: Path) -> bool:
    """Whether a MetaImage header says ``CompressedData = True`` (the header is text up to ElementDataFile)."""
    if _suffix(path) not in (".mha", ".mhd"):
        return False
    with open(path, "rb") as handle:
        for raw in handle:
            key, _, value = raw.decode("latin-1").partition("=")
            if key.strip().lower() == "compresseddata":
                return value.strip().lower() == "true"
            if key.strip().lower() == "elementdatafile" or len(raw) > 4096:
                return False
    return False


def frame_file_order(paths: Sequence[Path]) -> Tuple[List[Path], Optional[str]]:
    """Frame files in the order of the numbers in their names, and a note when that is not the order given.

    A shell glob gives ``frame_1, frame_10, frame_11, ..., frame_2``: taken as given, the curve is scrambled and
    the fit silently wrong. When every name is the same apart from its numbers (``frame_7.nrrd``,
    ``dce-t07-s1.nii.gz``), the files are put in natural order (numbers compared as numbers) and the note says so;
    names that differ otherwise keep the order given.

    Returns
    -------
    paths : list of Path
    note : str or None
        Set when the order was changed.
    """
    paths = list(paths)
    if len(paths) < 2:
        return paths, None
    pieces = [re.split(r"(\d+)", p.name) for p in paths]
    skeletons = {tuple(piece[0::2]) for piece in pieces}
    if len(skeletons) != 1:
        return paths, None
    keys = [tuple(int(number) for number in piece[1::2]) for piece in pieces]
    if len(set(keys)) != len(keys):
        return paths, None
    ordered = [path for _, path in sorted(zip(keys, paths))]
    if ordered == paths:
        return paths, None
    shown = ", ".join(p.name for p in ordered[:3])
    return ordered, (f"frame files put in the natural order of the numbers in their names ({shown}, ...), not the "
                     f"order given ({', '.join(p.name for p in paths[:3])}, ...)")


def _read_volume_list(paths: Sequence[Path]) -> _Raw:
    if len(paths) < 2:
        raise InputError(f"{len(paths)} volume(s) given", source="volume list",
                         expected="one 3D volume per frame, at least two")
    signal = None  # filled frame by frame: a list of frames and their stack would be twice the series
    geometry = None
    for n, path in enumerate(paths):
        if not path.is_file():
            raise InputError("file not found", source=str(path), expected="a 3D volume file")
        image = _sitk_read(path)
        if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
            raise InputError(f"a {image.GetDimension()}D image with {image.GetNumberOfComponentsPerPixel()} "
                             "component(s)", source=str(path), expected="a 3D scalar volume (one frame)")
        this = geometry_of_image(image)
        if geometry is None:
            geometry = this
            signal = np.empty((len(paths),) + this.shape, dtype=np.float32)
        elif not this.same_grid(geometry):
            raise InputError(
                f"this frame's grid (size {this.size}, spacing {this.spacing}, origin {this.origin}) differs from "
                f"the first frame's (size {geometry.size}, spacing {geometry.spacing}, origin {geometry.origin})",
                source=str(path), expected="every frame on the same voxel grid",
            )
        signal[n] = sitk.GetArrayViewFromImage(image)
    return _Raw(signal, geometry, None, "a list of 3D volumes carries no frame times")


# ---------------------------------------------------------------------------------------------------------------
# Checks


def check_signal(series: DceSeries, mask: Optional[np.ndarray] = None) -> None:
    """Reject signals a DCE magnitude series cannot have: NaN, infinity, negative values.

    Parameters
    ----------
    series : DceSeries
    mask : ndarray of bool (k, j, i), optional
        Check only these voxels (e.g. the tumour); default all.

    Raises
    ------
    InputError
        Naming how many values are bad and the first frame and voxel (k, j, i) where one is.
    """
    signal = series.signal
    values = signal if mask is None else signal[:, np.asarray(mask, dtype=bool)]
    where = "" if mask is None else " inside the mask"
    bad = ~np.isfinite(values)
    if bad.any():
        raise InputError(
            f"{int(bad.sum())} signal values{where} are NaN or infinite (first in {_first_place(bad, mask)})",
            source=series.source or None, field="signal", expected="finite signal intensities",
        )
    negative = values < 0
    if negative.any():
        raise InputError(
            f"{int(negative.sum())} signal values{where} are negative (minimum {float(values.min()):g}, first in "
            f"{_first_place(negative, mask)}); DCE magnitude images are never negative: was a baseline subtracted "
            f"or an offset applied?",
            source=series.source or None, field="signal", expected="non-negative magnitude signal",
        )


def _first_place(bad: np.ndarray, mask: Optional[np.ndarray]) -> str:
    flat = bad.reshape(bad.shape[0], -1)
    frame = int(np.argmax(flat.any(axis=1)))
    position = int(np.argmax(flat[frame]))
    if mask is None:
        voxel = np.unravel_index(position, bad.shape[1:])
    else:
        voxel = tuple(axis[position] for axis in np.nonzero(np.asarray(mask, dtype=bool)))
    return f"frame {frame}, voxel (k, j, i) = {tuple(int(v) for v in voxel)}"


# ---------------------------------------------------------------------------------------------------------------
# Writing


def write_dce(series: DceSeries, path: PathLike, *, compression_level: int = 4) -> Path:
    """Write a DCE series; the format follows the file name.

    - ``.seq.nrrd``: Slicer's volume sequence (list axis first, ``axis 0 index values`` = the frame times,
      index name "time", unit "s"), read by Slicer 5.6 and later as a Sequence with the right times; any frame
      times can be stored.
    - ``.nrrd``, ``.nii``/``.nii.gz``, ``.mha``/``.mhd``: a plain 4D image whose 4th axis spacing is the frame
      interval (s); the frame times must be evenly spaced.

    The file is written beside its target and renamed into place, so a failed write leaves no partial file.

    Parameters
    ----------
    series : DceSeries
    path : path
    compression_level : int
        gzip level for ``.seq.nrrd`` (1 fast ... 9 small).

    Returns
    -------
    Path
        The file written.
    """
    path = Path(path)
    suffix = _suffix(path)
    if suffix not in (".seq.nrrd", ".nrrd", ".nii", ".nii.gz", ".mha", ".mhd"):
        raise InputError(f"cannot write a DCE series as {suffix or 'a file without extension'}", source=str(path),
                         expected=".seq.nrrd, .nrrd, .nii.gz, .nii, .mha or .mhd")
    signal = np.asarray(series.signal)
    times = np.asarray(series.times_s, dtype=float)
    if signal.ndim != 4 or signal.shape[1:] != series.geometry.shape or times.size != signal.shape[0]:
        raise ValueError(f"signal {signal.shape} does not match the grid {series.geometry.shape} and "
                         f"{times.size} frame times")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".mhd":
        # A detached header names its data file: written in place (renaming would break the link).
        _write_plain_4d(signal, times, series.geometry, path, path)
        return path
    with atomic_file(path) as partial:
        if suffix == ".seq.nrrd":
            _write_seq_nrrd(signal, times, series.geometry, partial, compression_level)
        else:
            _write_plain_4d(signal, times, series.geometry, partial, path)
    return path


def _format_time(value: float) -> str:
    # Shortest text that reads back as the same double; no exponent (Slicer parses index values as text).
    return np.format_float_positional(float(value), trim="-")


def _write_seq_nrrd(signal: np.ndarray, times: np.ndarray, geometry: Geometry, path: Path, level: int) -> None:
    import nrrd

    direction = geometry.direction_matrix
    space_directions = np.vstack([
        np.full(3, np.nan),
        *[direction[:, axis] * geometry.spacing[axis] for axis in range(3)],
    ])
    header = {
        "type": "float",
        "dimension": 4,
        "space": "left-posterior-superior",
        "kinds": ["list", "domain", "domain", "domain"],
        "labels": ["time", "", "", ""],
        "units": ["s", "", "", ""],
        "space directions": space_directions,
        "space origin": np.asarray(geometry.origin, dtype=float),
        "encoding": "gzip",
        "axis 0 index type": "numeric",
        "axis 0 index values": " ".join(_format_time(t) for t in times),
        "DataNodeClassName": "vtkMRMLScalarVolumeNode",
    }
    # pynrrd with index_order "C" takes the array in (k, j, i, t) and writes the sizes as (t, i, j, k).
    data = np.moveaxis(np.asarray(signal, dtype=np.float32), 0, -1)
    nrrd.write(str(path), data, header, index_order="C", compression_level=level)


def _write_plain_4d(signal: np.ndarray, times: np.ndarray, geometry: Geometry, path: Path, target: Path) -> None:
    steps = np.diff(times)
    if times.size > 1 and not np.allclose(steps, steps.mean(), rtol=1e-9, atol=1e-9):
        raise InputError(
            "the frame times are not evenly spaced; a plain 4D file stores one frame interval",
            source=str(target), expected="a .seq.nrrd file name (it stores every frame time)",
        )
    if times.size < 2:
        step = 1.0
    else:
        step = float(steps[0]) if np.all(steps == steps[0]) else float(steps.mean())
    image = sitk.GetImageFromArray(np.asarray(signal, dtype=np.float32), isVector=False)
    direction = np.eye(4)
    direction[:3, :3] = geometry.direction_matrix
    image.SetSpacing(tuple(geometry.spacing) + (step,))
    image.SetOrigin(tuple(geometry.origin) + (float(times[0]),))
    image.SetDirection(tuple(direction.ravel()))
    sitk.WriteImage(image, str(path), True)
    if path.name.endswith((".nii", ".nii.gz")):
        _set_nifti_time_unit_seconds(path)


def _set_nifti_time_unit_seconds(path: Path) -> None:
    """Make sure a written NIfTI-1 file says its 4th axis is in seconds.

    SimpleITK before 2.4 (Slicer 5.8 ships 2.3) writes xyzt_units without a time unit, and a reader must then ask
    for the frame times. xyzt_units is one byte at offset 123 of the NIfTI-1 header: mm (2) + seconds (8).
    """
    import gzip

    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as handle:
        data = bytearray(handle.read())
    if data[123] & 0x38:
        return  # a time unit is already there
    data[123] = (data[123] & 0x07) | 0x08
    with opener(path, "wb") as handle:
        handle.write(bytes(data))


__all__ = ["read_dce", "write_dce", "check_signal"]
