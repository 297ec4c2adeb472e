"""3D volumes and their grids to and from files and SimpleITK images (the only place that knows SimpleITK's
geometry calls; :mod:`HypoxiaMarkersLib.volume` stays numpy-only)."""

from __future__ import annotations

from pathlib import Path
from typing import Tuple

import numpy as np
import SimpleITK as sitk

from ..volume import Geometry


def geometry_of_image(image: sitk.Image) -> Geometry:
    """The grid of a 3D SimpleITK image (the first three axes of a 4D one), or of an image reader's information."""
    dim = image.GetDimension()
    if dim == 3:
        return Geometry(
            size=tuple(int(s) for s in image.GetSize()),
            spacing=tuple(float(s) for s in image.GetSpacing()),
            origin=tuple(float(o) for o in image.GetOrigin()),
            direction=tuple(float(d) for d in image.GetDirection()),
        )
    if dim == 4:
        d4 = np.asarray(image.GetDirection(), dtype=float).reshape(4, 4)
        return Geometry(
            size=tuple(int(s) for s in image.GetSize()[:3]),
            spacing=tuple(float(s) for s in image.GetSpacing()[:3]),
            origin=tuple(float(o) for o in image.GetOrigin()[:3]),
            direction=tuple(float(d) for d in d4[:3, :3].ravel()),
        )
    raise ValueError(f"expected a 3D or 4D image, got {dim}D")


def image_on_grid(geometry: Geometry, array: np.ndarray) -> sitk.Image:
    """A SimpleITK image of ``array`` (k, j, i) carrying ``geometry`` exactly."""
    array = np.asarray(array)
    if array.shape != geometry.shape:
        raise ValueError(f"array shape {array.shape} does not match the grid {geometry.shape} (k, j, i)")
    if array.dtype == bool:
        array = array.astype(np.uint8)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(geometry.spacing)
    image.SetOrigin(geometry.origin)
    image.SetDirection(geometry.direction)
    return image


def write_volume(array: np.ndarray, geometry: Geometry, path: Path, *, compress: bool = True) -> None:
    """Write ``array`` (k, j, i) on ``geometry`` to ``path`` (format from the extension, e.g. .nrrd)."""
    sitk.WriteImage(image_on_grid(geometry, array), str(path), compress)


def read_volume(path: Path) -> Tuple[np.ndarray, Geometry]:
    """Read a 3D volume as ``(array[k, j, i], geometry)``."""
    image = sitk.ReadImage(str(path))
    return sitk.GetArrayFromImage(image), geometry_of_image(image)
