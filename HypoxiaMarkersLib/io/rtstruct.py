"""Tumour contours from a DICOM RT Structure Set (RTSTRUCT), rasterised onto the DCE grid in physical space.

A radiotherapy planning system stores the tumour as closed planar polygons (patient LPS coordinates, mm), one or
more per plane. They become a label map on a fine grid built on the contours' own planes, and that label map is
put on the DCE grid by :func:`HypoxiaMarkersLib.io.masks.resample_mask`, exactly as a label map drawn on T2W is,
so ``--mask-min-fraction`` (partial volume) means the same for both:

- the fine grid's slices are the contour planes (a plane stands for the slab half-way to its neighbours, as the
  planning system meant it); its in-plane axes are the DCE's when the planes are parallel to the DCE slices, with
  ``SUPERSAMPLING`` fine pixels per DCE voxel side, placed so that the DCE voxel centres are fine pixel centres;
- a fine pixel is inside when its centre is inside the polygon (matplotlib's point-in-polygon test; matplotlib
  is already a dependency). Several polygons on one plane combine by parity (even-odd rule): a polygon inside
  another is a hole, as planning systems store cavities;
- with nearest neighbour (the default) a DCE voxel is tumour when its centre is inside the contour of the
  nearest plane within half a plane spacing: for contours drawn on the DCE slices themselves, the voxels a label
  map with the same outline gives.

Read with pydicom only; the files' frame of reference (``ReferencedFrameOfReferenceUID``) is returned so that the
caller can compare it with the DCE series' when that is DICOM.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple, Union

import numpy as np

from ..errors import InputError
from ..volume import Geometry

PathLike = Union[str, os.PathLike]

#: SOP Class UID of an RT Structure Set.
RTSTRUCT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"

#: Fine pixels per DCE voxel side in the contour planes (odd: the DCE voxel centres are fine pixel centres).
SUPERSAMPLING = 5

#: Contour points further than this (mm) from their polygon's plane make the polygon non-planar.
PLANE_TOLERANCE_MM = 0.05

#: Two contours whose planes are closer than this (mm) are on the same plane.
SAME_PLANE_MM = 0.05

#: A plane off the regular spacing of the others by more than this share of the spacing is refused.
SPACING_TOLERANCE = 0.1

#: Fine grids larger than this many voxels are refused (a contour far outside the DCE series, or a units error).
MAX_FINE_VOXELS = 200_000_000


@dataclass(frozen=True)
class RoiContours:
    """One ROI of an RTSTRUCT: its name, number, frame of reference and closed planar contours.

    Attributes
    ----------
    name : str
        ``ROIName``.
    number : int
        ``ROINumber``.
    frame_of_reference_uid : str
        ``ReferencedFrameOfReferenceUID`` of the ROI ("" when the file does not say).
    contours : list of ndarray (n, 3)
        The CLOSED_PLANAR contours' points, patient LPS coordinates in mm.
    """

    name: str
    number: int
    frame_of_reference_uid: str
    contours: List[np.ndarray]


def is_rtstruct(path: PathLike) -> bool:
    """True when ``path`` is a DICOM file of an RT Structure Set (by SOP Class UID or Modality)."""
    path = Path(path)
    if not path.is_file():
        return False
    try:
        with open(path, "rb") as handle:
            preamble = handle.read(132)
    except OSError:
        return False
    if preamble[128:132] != b"DICM" and path.suffix.lower() != ".dcm":
        return False
    import pydicom

    try:
        ds = pydicom.dcmread(str(path), stop_before_pixels=True, force=True,
                             specific_tags=["SOPClassUID", "Modality"])
    except Exception:  # noqa: BLE001 - any unreadable file is "not an RTSTRUCT"; the mask readers say why
        return False
    return str(ds.get("SOPClassUID", "")) == RTSTRUCT_SOP_CLASS or str(ds.get("Modality", "")) == "RTSTRUCT"


def _read(path: Path):
    import pydicom

    try:
        return pydicom.dcmread(str(path), force=True)
    except Exception as error:  # noqa: BLE001 - pydicom raises many types for damaged files
        raise InputError(f"could not read the RTSTRUCT ({error})", source=str(path),
                         expected="a DICOM RT Structure Set file") from None


def roi_names(path: PathLike) -> List[str]:
    """The ROI names of an RTSTRUCT file, in the file's order."""
    ds = _read(Path(path))
    return [str(item.get("ROIName", "")) for item in ds.get("StructureSetROISequence", [])]


def read_roi(path: PathLike, roi: Optional[str] = None) -> RoiContours:
    """Read one ROI's closed planar contours from an RTSTRUCT file.

    Parameters
    ----------
    path : path
        The RTSTRUCT (``.dcm``).
    roi : str, optional
        The ROI's name (``ROIName``; ROI number also accepted). May be omitted when the file has one ROI.

    Raises
    ------
    InputError
        Not an RTSTRUCT, no ROI, an unknown or missing name when several ROIs exist (the names are listed), or an
        ROI without closed planar contours.
    """
    path = Path(path)
    ds = _read(path)
    rois = list(ds.get("StructureSetROISequence", []))
    if not rois:
        raise InputError("the RTSTRUCT has no ROI", source=str(path), field="StructureSetROISequence",
                         expected="an RT Structure Set with the tumour ROI")
    names = [str(item.get("ROIName", "")) for item in rois]
    listing = ", ".join(f'"{n}"' for n in names)
    if roi is None:
        if len(rois) > 1:
            raise InputError(f"the RTSTRUCT has {len(rois)} ROIs ({listing}); say which is the tumour",
                             source=str(path), field="--roi", expected="--roi NAME")
        chosen = rois[0]
    else:
        matches = [item for item, name in zip(rois, names) if name == roi]
        if not matches:
            matches = [item for item in rois if str(item.get("ROINumber", "")) == str(roi)]
        if not matches:
            raise InputError(f'no ROI named "{roi}" (ROIs: {listing})', source=str(path), field="--roi",
                             expected="one of the ROI names")
        if len(matches) > 1:
            numbers = ", ".join(str(item.get("ROINumber", "")) for item in matches)
            raise InputError(f'{len(matches)} ROIs are named "{roi}"', source=str(path), field="--roi",
                             expected=f"a unique name, or the ROI number ({numbers})")
        chosen = matches[0]
    number = int(chosen.get("ROINumber", 0))
    name = str(chosen.get("ROIName", ""))
    frame = str(chosen.get("ReferencedFrameOfReferenceUID", "")) or _file_frame_of_reference(ds)
    contours = []
    skipped = set()
    for item in ds.get("ROIContourSequence", []):
        if int(item.get("ReferencedROINumber", -1)) != number:
            continue
        for contour in item.get("ContourSequence", []):
            kind = str(contour.get("ContourGeometricType", "CLOSED_PLANAR"))
            data = contour.get("ContourData", None)
            if kind != "CLOSED_PLANAR":
                skipped.add(kind)
                continue
            points = np.asarray([float(v) for v in (data or [])], dtype=float)
            if points.size % 3 or points.size < 9:
                raise InputError(f'ROI "{name}": a contour with {points.size} coordinates', source=str(path),
                                 field="ContourData", expected="x, y, z triplets of at least 3 points")
            contours.append(points.reshape(-1, 3))
    if not contours:
        what = f" (only {', '.join(sorted(skipped))} contours)" if skipped else ""
        raise InputError(f'ROI "{name}" has no closed planar contours{what}', source=str(path),
                         field="ROIContourSequence", expected="CLOSED_PLANAR contours of the tumour")
    return RoiContours(name, number, frame, contours)


def _file_frame_of_reference(ds) -> str:
    for item in ds.get("ReferencedFrameOfReferenceSequence", []):
        uid = str(item.get("FrameOfReferenceUID", ""))
        if uid:
            return uid
    return str(ds.get("FrameOfReferenceUID", ""))


# ---------------------------------------------------------------------------------------------------------------
# Rasterisation


def _normal(points: np.ndarray) -> np.ndarray:
    """Unit normal of a polygon (Newell's method: robust for concave polygons); zeros when it has no area."""
    following = np.roll(points, -1, axis=0)
    normal = np.array([
        np.sum((points[:, 1] - following[:, 1]) * (points[:, 2] + following[:, 2])),
        np.sum((points[:, 2] - following[:, 2]) * (points[:, 0] + following[:, 0])),
        np.sum((points[:, 0] - following[:, 0]) * (points[:, 1] + following[:, 1])),
    ])
    length = np.linalg.norm(normal)
    return normal / length if length > 1e-9 else np.zeros(3)


def _plane_axes(contours: List[np.ndarray], reference: Geometry, source: str, name: str) -> Tuple[np.ndarray, bool]:
    """The fine grid's axes (columns u, v, w; w normal to the contour planes) and whether they are the DCE's."""
    normals = [n for n in (_normal(c) for c in contours) if n.any()]
    if not normals:
        raise InputError(f'ROI "{name}": every contour is degenerate (no area)', source=source, field="ContourData",
                         expected="closed polygons around the tumour")
    w = normals[0]
    for contour, normal in zip(contours, (_normal(c) for c in contours)):
        if normal.any() and abs(float(normal @ w)) < np.cos(np.radians(1.0)):
            raise InputError(f'ROI "{name}": contours on planes of different orientations', source=source,
                             field="ContourData", expected="parallel contour planes (as a planning system draws them)")
        distance = np.abs((contour - contour.mean(axis=0)) @ w)
        if distance.max() > PLANE_TOLERANCE_MM:
            raise InputError(f'ROI "{name}": a contour is not planar ({distance.max():.2f} mm off its plane)',
                             source=source, field="ContourData", expected="closed planar contours")
    axes = reference.direction_matrix
    if abs(float(axes[:, 2] @ w)) > np.cos(np.radians(0.1)):
        return axes.copy(), True
    u = axes[:, 0] - (axes[:, 0] @ w) * w
    if np.linalg.norm(u) < 0.1:
        u = axes[:, 1] - (axes[:, 1] @ w) * w
    u /= np.linalg.norm(u)
    return np.column_stack([u, np.cross(w, u), w]), False


def _plane_lattice(positions: np.ndarray, default_step: float, source: str, name: str) -> Tuple[float, np.ndarray]:
    """The spacing of the contour planes and each plane's index on that lattice."""
    unique = [positions.min()]
    for p in np.sort(positions):
        if p - unique[-1] > SAME_PLANE_MM:
            unique.append(p)
    unique = np.asarray(unique)
    if unique.size == 1:
        step = default_step
    else:
        step = float(np.min(np.diff(unique)))
    lattice = (positions - unique[0]) / step
    if np.max(np.abs(lattice - np.round(lattice))) > SPACING_TOLERANCE:
        gaps = ", ".join(f"{g:.2f}" for g in np.diff(unique)[:8])
        raise InputError(f'ROI "{name}": the contour planes are not evenly spaced (gaps {gaps} mm)', source=source,
                         field="ContourData", expected="contours on evenly spaced planes (missing planes are allowed)")
    return step, np.round(lattice).astype(int)


def rasterise_roi(roi: RoiContours, reference: Geometry, *, source: str = "RTSTRUCT",
                  supersampling: int = SUPERSAMPLING) -> Tuple[np.ndarray, Geometry]:
    """The ROI as a label map on a fine grid built on its contour planes: ``(mask[k, j, i] bool, geometry)``.

    Parameters
    ----------
    roi : RoiContours
    reference : Geometry
        The DCE grid: its in-plane axes and spacing set the fine grid's (``supersampling`` fine pixels per DCE
        voxel side) when the contour planes are parallel to the DCE slices.
    source : str
        The file, for messages.

    Raises
    ------
    InputError
        Contours not planar, on planes of different orientations or unevenly spaced; or none on the DCE slices.
    """
    try:
        from matplotlib.path import Path as Polygon
    except ImportError:  # pragma: no cover - the bare Slicer stack; Slicer reads RTSTRUCT through SlicerRT
        raise InputError("rasterising RTSTRUCT contours needs matplotlib (pip install matplotlib); in 3D Slicer load "
                         "the RTSTRUCT with SlicerRT and use the segmentation", source=source) from None
    axes, parallel = _plane_axes(roi.contours, reference, source, roi.name)
    u, v, w = axes[:, 0], axes[:, 1], axes[:, 2]
    spacing = np.asarray(reference.spacing, dtype=float)
    if parallel:
        in_plane = spacing[:2] / supersampling
        slice_step = spacing[2]
    else:
        in_plane = np.full(2, spacing.min() / supersampling)
        slice_step = float(np.abs(reference.direction_matrix.T @ w) @ spacing)
    plane_position = np.array([float(c.mean(axis=0) @ w) for c in roi.contours])
    step, plane_index = _plane_lattice(plane_position, slice_step, source, roi.name)
    _check_on_dce_slices(roi, reference, w, plane_position.min() + step * plane_index, step, source, parallel)

    # In-plane lattice: through the DCE voxel centres (parallel case), covering every contour with a pixel to spare.
    origin_uv = np.array([np.asarray(reference.origin) @ u, np.asarray(reference.origin) @ v])
    points = np.concatenate(roi.contours)
    uv = np.column_stack([points @ u, points @ v])
    low = np.floor((uv.min(axis=0) - origin_uv) / in_plane) - 1
    high = np.ceil((uv.max(axis=0) - origin_uv) / in_plane) + 1
    if parallel:  # start on a DCE voxel centre, so that every DCE centre is a fine pixel centre
        low = np.floor(low / supersampling) * supersampling
    size = (high - low + 1).astype(int)
    n_planes = int(plane_index.max()) + 1
    if int(size[0]) * int(size[1]) * n_planes > MAX_FINE_VOXELS:
        raise InputError(f'ROI "{roi.name}" spans {size[0] * in_plane[0]:.0f} x {size[1] * in_plane[1]:.0f} mm on '
                         f"{n_planes} planes: too large a grid", source=source, field="ContourData",
                         expected="contours in mm, around a tumour")
    start_uv = origin_uv + low * in_plane
    first_w = float(plane_position.min())
    geometry = Geometry(
        size=(int(size[0]), int(size[1]), n_planes),
        spacing=(float(in_plane[0]), float(in_plane[1]), float(step)),
        origin=tuple(float(x) for x in start_uv[0] * u + start_uv[1] * v + first_w * w),
        direction=tuple(float(x) for x in axes.ravel()),
    )
    mask = np.zeros(geometry.shape, dtype=bool)
    for contour, k in zip(roi.contours, plane_index):
        xy = (np.column_stack([contour @ u, contour @ v]) - start_uv) / in_plane  # continuous fine (i, j)
        lo = np.clip(np.floor(xy.min(axis=0)).astype(int), 0, size - 1)
        hi = np.clip(np.ceil(xy.max(axis=0)).astype(int), 0, size - 1)
        ii, jj = np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1))
        inside = Polygon(xy, closed=False).contains_points(np.column_stack([ii.ravel(), jj.ravel()]))
        mask[k, lo[1]:hi[1] + 1, lo[0]:hi[0] + 1] ^= inside.reshape(ii.shape)  # even-odd: nested contours are holes
    if not mask.any():
        raise InputError(f'ROI "{roi.name}": the contours enclose no area', source=source, field="ContourData",
                         expected="closed polygons around the tumour")
    return mask, geometry


def _check_on_dce_slices(roi: RoiContours, reference: Geometry, w: np.ndarray, planes: np.ndarray, step: float,
                         source: str, parallel: bool) -> None:
    """Refuse an ROI none of whose contour planes reaches a DCE slice (within half a plane spacing)."""
    if parallel:
        k = np.arange(reference.size[2], dtype=float)
        centre = np.zeros((k.size, 3))
        centre[:, 2] = k
        dce = reference.index_to_lps(centre) @ w
    else:
        corners = np.array([[i, j, kk] for i in (0, reference.size[0] - 1) for j in (0, reference.size[1] - 1)
                            for kk in (0, reference.size[2] - 1)], dtype=float)
        extent = reference.index_to_lps(corners) @ w
        dce = np.array([extent.min(), extent.max()])
    half = step / 2.0
    if parallel:
        reached = np.any(np.abs(dce[:, None] - planes[None, :]) <= half + 1e-6)
    else:
        reached = planes.max() + half >= dce.min() and planes.min() - half <= dce.max()
    if not reached:
        raise InputError(
            f'ROI "{roi.name}" has no contours on the DCE slices: its contours lie from {planes.min():.1f} to '
            f"{planes.max():.1f} mm along the slice normal, the DCE slices from {dce.min():.1f} to {dce.max():.1f} mm",
            source=source, field="ContourData",
            expected="an RTSTRUCT of the same patient and session whose contours cross the DCE series",
        )


def read_rtstruct_mask(path: PathLike, reference: Geometry, *, roi: Optional[str] = None,
                       frame_of_reference_uid: Optional[str] = None) -> Tuple[np.ndarray, Geometry, str]:
    """Read an RTSTRUCT ROI as a label map on its contours' fine grid: ``(mask, geometry, description)``.

    Resample the result with :func:`HypoxiaMarkersLib.io.masks.resample_mask` to put it on ``reference``.

    Parameters
    ----------
    path : path
    reference : Geometry
        The DCE grid.
    roi : str, optional
        The ROI's name (see :func:`read_roi`).
    frame_of_reference_uid : str, optional
        The DCE series' FrameOfReferenceUID (DICOM input): an ROI in another frame of reference is refused.
        None: not checked (a NRRD or NIfTI series carries none); the caller should warn.
    """
    path = Path(path)
    contours = read_roi(path, roi)
    if frame_of_reference_uid and contours.frame_of_reference_uid \
            and contours.frame_of_reference_uid != frame_of_reference_uid:
        raise InputError(
            f'ROI "{contours.name}" is in frame of reference {contours.frame_of_reference_uid}, the DCE series in '
            f"{frame_of_reference_uid}: the contours' coordinates do not refer to the DCE images",
            source=str(path), field="ReferencedFrameOfReferenceUID",
            expected="an RTSTRUCT drawn on images of the same patient and session as the DCE series (same "
                     "FrameOfReferenceUID), or registered to it first",
        )
    mask, geometry = rasterise_roi(contours, reference, source=str(path))
    return mask, geometry, f'ROI "{contours.name}"'


__all__ = ["RoiContours", "is_rtstruct", "roi_names", "read_roi", "rasterise_roi", "read_rtstruct_mask",
           "RTSTRUCT_SOP_CLASS", "SUPERSAMPLING"]
