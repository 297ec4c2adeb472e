"""Tumour masks: a label map or a Slicer segmentation drawn on T2W, put on the DCE grid in physical space.

The delineation is drawn on the T2-weighted volume, whose grid (spacing, orientation, field of view) differs
from the DCE series'. The mask is read with its own geometry and resampled onto the DCE grid through physical
(LPS) space by SimpleITK: nearest neighbour by default (a DCE voxel is tumour if the T2W voxel at its centre
is), or, with ``min_fraction``, by the fraction of the DCE voxel's volume that lies in the tumour.

A DICOM RT Structure Set (RTSTRUCT, the planning system's contours) is rasterised on a fine grid on its own contour
planes by :mod:`.rtstruct` and then resampled like any label map.

Segmentations (``.seg.nrrd``) are read as Slicer reads them: the voxels by ITK, the segments from the
``SegmentN_Name``/``SegmentN_LabelValue``/``SegmentN_Layer`` keys (shared label maps: several segments in one
layer with different label values; overlapping segments in separate layers).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import SimpleITK as sitk

from ..errors import InputError
from ..volume import Geometry
from .volumes import geometry_of_image, image_on_grid, write_volume

PathLike = Union[str, os.PathLike]

# Oversampling per axis when estimating partial-volume fractions is capped at this.
_MAX_OVERSAMPLING = 8


@dataclass(frozen=True)
class SegmentInfo:
    """One segment of a Slicer segmentation file."""

    index: int
    segment_id: str
    name: str
    label_value: int
    layer: int


# ---------------------------------------------------------------------------------------------------------------
# Reading


#: A tumour mask with more than this share of its voxels outside the DCE series is refused unless the caller allows
#: it (``max_share_outside=None``): the hypoxic fraction would be that of part of the tumour, reported as the
#: tumour's. Up to this share (partial coverage at the edge of the field of view) only a warning is given.
MAX_SHARE_OUTSIDE = 0.10


def read_tumour_mask(
    path: PathLike,
    reference: Geometry,
    *,
    label: Optional[int] = None,
    segment: Optional[str] = None,
    roi: Optional[str] = None,
    frame_of_reference_uid: Optional[str] = None,
    min_fraction: Optional[float] = None,
    max_share_outside: Optional[float] = MAX_SHARE_OUTSIDE,
) -> np.ndarray:
    """Read a tumour mask and put it on the DCE grid.

    Parameters
    ----------
    path : path
        A label map (any 3D format SimpleITK reads: .nrrd, .nii.gz, .mha, ...; tumour = nonzero, or ``label``),
        a Slicer segmentation ``.seg.nrrd`` (the segment named ``segment``; if omitted, the only segment) or a
        DICOM RTSTRUCT (the ROI named ``roi``; if omitted, the only ROI).
    reference : Geometry
        The DCE grid.
    label : int, optional
        For a label map: the tumour's label value (default: every nonzero voxel).
    segment : str, optional
        For a segmentation: the segment's name (or ID).
    roi : str, optional
        For an RTSTRUCT: the ROI's name (``ROIName``).
    frame_of_reference_uid : str, optional
        For an RTSTRUCT: the DCE series' FrameOfReferenceUID (when it is DICOM); an ROI in another is refused.
    min_fraction : float, optional
        If given, a DCE voxel is tumour when at least this fraction of its volume is (estimated by oversampling);
        default: nearest neighbour at the DCE voxel centre.
    max_share_outside : float or None
        Refuse a mask with more than this share of its voxels outside the DCE series (default
        :data:`MAX_SHARE_OUTSIDE` = 0.10); None accepts any share (with a warning). :func:`share_outside` gives
        the share, e.g. to record it with the results.

    Returns
    -------
    ndarray of bool, shape ``reference.shape`` (k, j, i)

    Raises
    ------
    InputError
        File missing or unreadable, label or segment not present (the message lists what is), empty mask, or a
        mask that does not overlap the DCE series, or lies more than ``max_share_outside`` outside it. A warning
        is issued when a smaller part of the tumour lies outside the DCE field of view.
    """
    path = Path(path)
    mask, geometry, what = read_mask(path, label=label, segment=segment, roi=roi, reference=reference,
                                     frame_of_reference_uid=frame_of_reference_uid)
    return resample_mask(mask, geometry, reference, min_fraction=min_fraction, source=str(path), what=what,
                         max_share_outside=max_share_outside)


def read_mask(
    path: PathLike, *, label: Optional[int] = None, segment: Optional[str] = None, roi: Optional[str] = None,
    reference: Optional[Geometry] = None, frame_of_reference_uid: Optional[str] = None,
) -> Tuple[np.ndarray, Geometry, str]:
    """Read a tumour mask on its own grid: ``(mask[k, j, i] bool, geometry, description)``.

    See :func:`read_tumour_mask` for the parameters. An RTSTRUCT needs ``reference`` (the DCE grid: its contours
    are rasterised on a grid fine relative to it); its grid is that fine grid on the contour planes. Without
    ``frame_of_reference_uid`` an RTSTRUCT's frame of reference cannot be checked: a warning says so.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("mask file not found", source=str(path),
                         expected="a label map, a .seg.nrrd file or a DICOM RTSTRUCT")
    from .rtstruct import is_rtstruct, read_rtstruct_mask

    if is_rtstruct(path):
        for value, option in ((label, "--label"), (segment, "--segment")):
            if value is not None:
                raise InputError(f"{option} does not apply to an RTSTRUCT", source=str(path), field=option,
                                 expected="--roi NAME to choose the tumour ROI")
        if reference is None:
            raise ValueError("an RTSTRUCT is rasterised relative to the DCE grid: give reference")
        if not frame_of_reference_uid:
            warnings.warn(f"{path}: the DCE series is not DICOM (or has no FrameOfReferenceUID): the RTSTRUCT's frame "
                          "of reference cannot be checked against it; make sure both come from the same patient and "
                          "session", stacklevel=2)
        return read_rtstruct_mask(path, reference, roi=roi, frame_of_reference_uid=frame_of_reference_uid)
    if roi is not None:
        raise InputError("--roi applies to DICOM RTSTRUCT files; this is not one", source=str(path), field="--roi",
                         expected="--label N for a label map, --segment NAME for a segmentation")
    keys = _metadata_keys(path)
    if "Segment0_ID" in keys or "Segment0_Name" in keys or path.name.lower().endswith((".seg.nrrd", ".seg.nhdr")):
        if label is not None:
            raise InputError("--label applies to label maps; this is a segmentation", source=str(path),
                             field="--label", expected="--segment NAME to choose a segment")
        return _read_segment(path, segment)
    if segment is not None:
        raise InputError("--segment applies to Slicer segmentations (.seg.nrrd); this is a label map",
                         source=str(path), field="--segment", expected="--label N to choose a label value")
    return _read_label_map(path, label)


def _metadata_keys(path: Path) -> set:
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as error:
        raise InputError(f"could not read the mask ({_last_line(error)})", source=str(path),
                         expected="a readable label map or .seg.nrrd file") from None
    return set(reader.GetMetaDataKeys())


def _last_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def _read_image(path: Path) -> sitk.Image:
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise InputError(f"could not read the mask ({_last_line(error)})", source=str(path),
                         expected="a readable label map or .seg.nrrd file") from None


def _read_label_map(path: Path, label: Optional[int]) -> Tuple[np.ndarray, Geometry, str]:
    image = _read_image(path)
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(
            f"a {image.GetDimension()}D image with {image.GetNumberOfComponentsPerPixel()} component(s)",
            source=str(path), expected="a 3D label map (one value per voxel)",
        )
    values = sitk.GetArrayViewFromImage(image)
    if label is None:
        mask = values != 0
        if not mask.any():
            raise InputError("the label map has no nonzero voxel: no tumour is drawn", source=str(path),
                             expected="tumour voxels with a nonzero label")
        what = "nonzero voxels"
    else:
        mask = values == label
        if not mask.any():
            found = np.unique(values)
            found = found[found != 0]
            listing = ", ".join(f"{v:g}" for v in found[:20]) + (" ..." if found.size > 20 else "")
            raise InputError(f"label {label} is not in the label map (labels found: {listing or 'none'})",
                             source=str(path), field="--label", expected="one of the labels found")
        what = f"label {label}"
    return np.array(mask, dtype=bool), geometry_of_image(image), what


def segments_in_file(path: PathLike) -> List[SegmentInfo]:
    """The segments of a Slicer ``.seg.nrrd`` file, read from its header as Slicer reads them."""
    path = Path(path)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as error:
        raise InputError(f"could not read the segmentation ({_last_line(error)})", source=str(path),
                         expected="a Slicer .seg.nrrd file") from None
    return _segments(reader, path)


def _segments(reader, path: Path) -> List[SegmentInfo]:
    keys = set(reader.GetMetaDataKeys())

    def value(n: int, field: str) -> Optional[str]:
        key = f"Segment{n}_{field}"
        return reader.GetMetaData(key) if key in keys else None

    segments = []
    n = 0
    # As in Slicer's reader: segments are numbered from 0 while SegmentN_ID exists; a missing Layer means
    # layer N (files from before shared label maps), a missing LabelValue means 1.
    while value(n, "ID") is not None or value(n, "Name") is not None:
        segment_id = value(n, "ID") or f"Segment_{n + 1}"
        try:
            label_value = int(float(value(n, "LabelValue") or 1))
            layer = int(float(value(n, "Layer") if value(n, "Layer") is not None else n))
        except ValueError:
            raise InputError("malformed segment label value or layer", source=str(path),
                             field=f"Segment{n}_LabelValue/Layer", expected="integers") from None
        segments.append(SegmentInfo(n, segment_id, value(n, "Name") or segment_id, label_value, layer))
        n += 1
    return segments


def _read_segment(path: Path, segment: Optional[str]) -> Tuple[np.ndarray, Geometry, str]:
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        image = reader.Execute()
    except RuntimeError as error:
        raise InputError(f"could not read the segmentation ({_last_line(error)})", source=str(path),
                         expected="a Slicer .seg.nrrd file") from None
    segments = _segments(reader, path)
    if not segments:
        raise InputError("the segmentation has no segments", source=str(path), field="Segment0_ID",
                         expected="a segmentation with the tumour segment")
    names = ", ".join(f'"{s.name}"' for s in segments)
    if segment is None:
        if len(segments) > 1:
            raise InputError(f"the segmentation has {len(segments)} segments ({names}); say which is the tumour",
                             source=str(path), field="--segment", expected="--segment NAME")
        chosen = segments[0]
    else:
        matches = [s for s in segments if s.name == segment] or [s for s in segments if s.segment_id == segment]
        if not matches:
            raise InputError(f'no segment named "{segment}" (segments: {names})', source=str(path),
                             field="--segment", expected="one of the segment names")
        if len(matches) > 1:
            raise InputError(f'{len(matches)} segments are named "{segment}"', source=str(path), field="--segment",
                             expected="a unique name, or the segment ID (" +
                                      ", ".join(s.segment_id for s in matches) + ")")
        chosen = matches[0]
    if image.GetDimension() != 3:
        raise InputError(f"a {image.GetDimension()}D segmentation", source=str(path), expected="3D layers")
    values = sitk.GetArrayViewFromImage(image)  # (k, j, i) or (k, j, i, layer)
    n_layers = image.GetNumberOfComponentsPerPixel()
    if chosen.layer >= n_layers:
        raise InputError(f'segment "{chosen.name}" is in layer {chosen.layer}, the file has {n_layers}',
                         source=str(path), field=f"Segment{chosen.index}_Layer", expected=f"< {n_layers}")
    mask = _segment_mask(values, n_layers, chosen)
    if not mask.any():
        raise InputError(f'segment "{chosen.name}" is empty', source=str(path), field="--segment",
                         expected="a segment with tumour voxels")
    return mask, geometry_of_image(image), f'segment "{chosen.name}"'


def _segment_mask(values: np.ndarray, n_layers: int, segment: SegmentInfo) -> np.ndarray:
    layer = values if n_layers == 1 else values[..., segment.layer]
    return np.array(layer == segment.label_value, dtype=bool)


# ---------------------------------------------------------------------------------------------------------------
# Resampling


def _reference_image(reference: Geometry) -> sitk.Image:
    image = sitk.Image([int(s) for s in reference.size], sitk.sitkUInt8)
    image.SetSpacing(reference.spacing)
    image.SetOrigin(reference.origin)
    image.SetDirection(reference.direction)
    return image


def resample_mask(
    mask: np.ndarray,
    mask_geometry: Geometry,
    reference: Geometry,
    *,
    min_fraction: Optional[float] = None,
    source: str = "mask",
    what: str = "tumour",
    max_share_outside: Optional[float] = MAX_SHARE_OUTSIDE,
) -> np.ndarray:
    """Put a mask drawn on one grid onto another through physical space.

    Parameters
    ----------
    mask : ndarray of bool (k, j, i) on ``mask_geometry``
    mask_geometry, reference : Geometry
    min_fraction : float, optional
        None: nearest neighbour at each reference voxel centre. Otherwise a reference voxel is in the mask when
        the fraction of its volume in the mask (estimated by oversampling) is at least ``min_fraction``.
    source, what : str
        For messages: the file and what was read from it.
    max_share_outside : float or None
        Refuse a mask with more than this share of its voxels outside the reference grid (see
        :func:`read_tumour_mask`); None: any share, with a warning.

    Returns
    -------
    ndarray of bool, shape ``reference.shape``

    Raises
    ------
    InputError
        If nothing of the mask lands on the reference grid.
    """
    mask = np.asarray(mask, dtype=bool)
    moving = image_on_grid(mask_geometry, mask.astype(np.uint8))
    if min_fraction is None:
        resampled = sitk.Resample(moving, _reference_image(reference), sitk.Transform(), sitk.sitkNearestNeighbor,
                                  0, sitk.sitkUInt8)
        result = sitk.GetArrayFromImage(resampled).astype(bool)
    else:
        if not 0.0 < float(min_fraction) <= 1.0:
            raise InputError(f"minimum fraction {min_fraction} is outside (0, 1]", source="--mask-fraction",
                             expected="a fraction in (0, 1]")
        result = partial_volume_fraction(mask, mask_geometry, reference) >= float(min_fraction)
    inside = _fraction_inside(mask, mask_geometry, reference)
    if not result.any():
        if inside == 0.0:
            raise InputError(
                f"the tumour mask ({what}) does not overlap the DCE series: the tumour spans "
                f"{_extent_text(mask_geometry, mask)} and the DCE series {_extent_text(reference, None)} (LPS, mm)",
                source=source, expected="a mask drawn on an image of the same patient and session (same frame of "
                                        "reference)",
            )
        raise InputError(
            f"the tumour mask ({what}) lies in the DCE field of view but covers no DCE voxel"
            + (" centre" if min_fraction is None else f" by at least {min_fraction:g} of its volume")
            + " (is it smaller than a DCE voxel?)",
            source=source, expected="a tumour larger than a DCE voxel",
        )
    check_share_outside(1.0 - inside, max_share_outside, source=source, what=what)
    if inside < 1.0:
        warnings.warn(f"{source}: {100 * (1 - inside):.1f}% of the tumour mask ({what}) lies outside the DCE series; "
                      "only the overlap is used", stacklevel=2)
    return result


def check_share_outside(share: float, max_share_outside: Optional[float] = MAX_SHARE_OUTSIDE, *,
                        source: str = "mask", what: str = "tumour", allow: str = "--allow-mask-outside") -> None:
    """Refuse a tumour mask with more than ``max_share_outside`` of it outside the DCE series.

    Parameters
    ----------
    share : float
        The share of the mask outside the series (:func:`share_outside`).
    max_share_outside : float or None
        The largest share accepted; None accepts any.
    source, what : str
        For the message: the file (or node) and what was read from it.
    allow : str
        How the user accepts it anyway, named in the message (the command line's option, or the Slicer module's
        checkbox).

    Raises
    ------
    InputError
        If ``share`` is larger than ``max_share_outside``.
    """
    if max_share_outside is not None and share > max_share_outside:
        raise InputError(
            f"{100 * share:.1f}% of the tumour mask ({what}) lies outside the DCE series, more than the "
            f"{100 * max_share_outside:g}% accepted: the hypoxic fraction would be that of part of the tumour",
            source=source, field="tumour mask",
            expected=f"a DCE series that covers the tumour (to analyse the part inside anyway: {allow})",
        )


def share_outside(mask: np.ndarray, mask_geometry: Geometry, reference: Geometry) -> float:
    """Share of the mask's voxels (on its own grid) whose centres lie outside the reference grid's field of view."""
    return 1.0 - _fraction_inside(np.asarray(mask, dtype=bool), mask_geometry, reference)


# Continuous-index distance from the field of view's faces beyond which rounding cannot move a voxel centre across.
_INSIDE_MARGIN = 1e-6


def _fraction_inside(mask: np.ndarray, mask_geometry: Geometry, reference: Geometry) -> float:
    """Fraction of the mask's voxel centres that fall inside the reference grid's field of view."""
    extent = [np.flatnonzero(mask.any(axis=axes)) for axes in ((0, 1), (0, 2), (1, 2))]  # i, j, k
    if extent[0].size == 0:
        return 0.0
    # The field of view is a box in the reference's continuous indices and the grids are related by an affine map:
    # when the 8 corners of the mask's bounding box (voxel centres) are inside with a margin, every centre is (a
    # convex combination of them), and the mask's voxels need not be mapped one by one (0.1-0.5 s for a T2W mask).
    corners = np.array([[i, j, k] for i in extent[0][[0, -1]] for j in extent[1][[0, -1]] for k in extent[2][[0, -1]]])
    index = reference.lps_to_index(mask_geometry.index_to_lps(corners))
    upper = np.asarray(reference.size, dtype=float) - 0.5
    if np.all(index > -0.5 + _INSIDE_MARGIN) and np.all(index < upper - _INSIDE_MARGIN):
        return 1.0
    ijk = np.argwhere(mask)[:, ::-1]
    index = reference.lps_to_index(mask_geometry.index_to_lps(ijk))
    inside = np.all((index >= -0.5) & (index < upper), axis=1)
    return float(inside.mean())


def _extent_text(geometry: Geometry, mask: Optional[np.ndarray]) -> str:
    if mask is None:
        corners = np.array([[i, j, k] for i in (0, geometry.size[0] - 1) for j in (0, geometry.size[1] - 1)
                            for k in (0, geometry.size[2] - 1)], dtype=float)
    else:
        corners = np.argwhere(mask)[:, ::-1].astype(float)
    lps = geometry.index_to_lps(corners)
    low, high = lps.min(axis=0), lps.max(axis=0)
    return "from (" + ", ".join(f"{v:.1f}" for v in low) + ") to (" + ", ".join(f"{v:.1f}" for v in high) + ")"


def partial_volume_fraction(
    mask: np.ndarray, mask_geometry: Geometry, reference: Geometry, *, oversampling: Optional[Sequence[int]] = None
) -> np.ndarray:
    """Fraction of each reference voxel's volume inside the mask, float32 (k, j, i).

    Each reference voxel is divided into ``oversampling`` (i, j, k) sub-voxels; each sub-voxel takes the mask
    value at its centre (nearest neighbour) and the fraction is their mean. Only the reference voxels near the
    mask are sampled. The default oversampling makes sub-voxels at most half the mask's finest spacing (capped
    at 8 per axis).
    """
    mask = np.asarray(mask, dtype=bool)
    fraction = np.zeros(reference.shape, dtype=np.float32)
    ijk = np.argwhere(mask)[:, ::-1]
    if ijk.size == 0:
        return fraction
    if oversampling is None:
        finest = min(mask_geometry.spacing)
        oversampling = [int(min(_MAX_OVERSAMPLING, max(1, np.ceil(2 * s / finest - 1e-9)))) for s in reference.spacing]
    factor = np.asarray(oversampling, dtype=int)
    # Reference voxels touched by the mask: around the corners of the mask voxels' bounding box.
    low, high = ijk.min(axis=0) - 0.5, ijk.max(axis=0) + 0.5
    corners = np.array([[x, y, z] for x in (low[0], high[0]) for y in (low[1], high[1]) for z in (low[2], high[2])])
    index = reference.lps_to_index(mask_geometry.index_to_lps(corners))
    size = np.asarray(reference.size)
    lo = np.clip(np.floor(index.min(axis=0)).astype(int) - 1, 0, size - 1)
    hi = np.clip(np.ceil(index.max(axis=0)).astype(int) + 1, 0, size - 1)
    if np.any(index.max(axis=0) < -0.5) or np.any(index.min(axis=0) > size - 0.5):
        return fraction
    n = hi - lo + 1
    spacing = np.asarray(reference.spacing) / factor
    # Centre of sub-voxel 0: half a sub-voxel inside the corner of reference voxel lo.
    start = lo - 0.5 + 0.5 / factor
    sub = Geometry(
        size=tuple(int(v) for v in n * factor),
        spacing=tuple(float(v) for v in spacing),
        origin=tuple(float(v) for v in reference.index_to_lps(start)),
        direction=reference.direction,
    )
    moving = image_on_grid(mask_geometry, mask.astype(np.uint8))
    sampled = sitk.Resample(moving, _reference_image(sub), sitk.Transform(), sitk.sitkNearestNeighbor, 0,
                            sitk.sitkUInt8)
    values = sitk.GetArrayViewFromImage(sampled).reshape(n[2], factor[2], n[1], factor[1], n[0], factor[0])
    block = values.mean(axis=(1, 3, 5), dtype=np.float64).astype(np.float32)
    fraction[lo[2]:hi[2] + 1, lo[1]:hi[1] + 1, lo[0]:hi[0] + 1] = block
    return fraction


# ---------------------------------------------------------------------------------------------------------------
# Writing (fixtures, phantoms)


def write_tumour_mask(mask: np.ndarray, geometry: Geometry, path: PathLike, *, label: int = 1) -> Path:
    """Write a tumour mask as a label map (uint8: ``label`` in the tumour, 0 elsewhere); format from the name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    values = np.where(np.asarray(mask, dtype=bool), np.uint8(label), np.uint8(0))
    write_volume(values, geometry, path)
    return path


# Distinct colours for segments (tumour first), as RGB in 0..1.
_SEGMENT_COLOURS = [(0.85, 0.2, 0.2), (0.2, 0.6, 0.85), (0.3, 0.75, 0.3), (0.9, 0.75, 0.2), (0.6, 0.4, 0.8)]


def write_segmentation(
    path: PathLike,
    segments: Mapping[str, np.ndarray],
    geometry: Geometry,
    *,
    colors: Optional[Mapping[str, Tuple[float, float, float]]] = None,
) -> Path:
    """Write masks as a Slicer segmentation (``.seg.nrrd``), one segment per name.

    Segments that do not overlap share a layer (different label values); overlapping ones go to further layers,
    as Slicer stores them. Written with slicerio.

    Parameters
    ----------
    path : path
        Output ``.seg.nrrd``.
    segments : mapping name -> ndarray of bool (k, j, i) on ``geometry``
    geometry : Geometry
    colors : mapping name -> (r, g, b) in 0..1, optional
    """
    try:
        import slicerio
    except ImportError:  # pragma: no cover
        raise InputError("writing a .seg.nrrd needs the slicerio package (pip install slicerio)",
                         source=str(path)) from None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ijk_to_lps = np.eye(4)
    ijk_to_lps[:3, :3] = geometry.direction_matrix * np.asarray(geometry.spacing)
    ijk_to_lps[:3, 3] = geometry.origin
    segmentation = slicerio.create_segmentation(tuple(geometry.size), ijk_to_lps)
    colors = dict(colors or {})
    for n, (name, mask) in enumerate(segments.items()):
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != geometry.shape:
            raise ValueError(f"segment {name!r}: mask shape {mask.shape} does not match the grid {geometry.shape}")
        color = colors.get(name, _SEGMENT_COLOURS[n % len(_SEGMENT_COLOURS)])
        # slicerio's arrays are (i, j, k).
        slicerio.add_segment(segmentation, mask.transpose(2, 1, 0),
                             {"id": f"Segment_{n + 1}", "name": name, "color": [float(c) for c in color]})
    segmentation["containedRepresentationNames"] = ["Binary labelmap"]
    slicerio.write_segmentation(str(path), segmentation)
    return path


def segment_masks(path: PathLike) -> Tuple[Dict[str, np.ndarray], Geometry]:
    """Every segment of a ``.seg.nrrd`` as a bool mask (k, j, i) on the file's own grid, by name; and the grid."""
    path = Path(path)
    segments = segments_in_file(path)
    image = _read_image(path)
    values = sitk.GetArrayViewFromImage(image)
    n_layers = image.GetNumberOfComponentsPerPixel()
    masks = {s.name: _segment_mask(values, n_layers, s) for s in segments if s.layer < n_layers}
    return masks, geometry_of_image(image)


__all__ = [
    "SegmentInfo", "read_tumour_mask", "read_mask", "resample_mask", "partial_volume_fraction", "segments_in_file",
    "share_outside", "check_share_outside", "MAX_SHARE_OUTSIDE",
    "segment_masks", "write_tumour_mask", "write_segmentation",
]
