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
    """Read a 3D volume as ``(array[k, j, i], geometry)``.

    NaN in a floating-point NIfTI file (the maps outside the tumour and where the fit failed) stays NaN: ITK up to
    5.4 reads it as 0 (fixed in ITK 6), which would make a failed fit look like A_Brix = 0, a hypoxic voxel.
    """
    image = sitk.ReadImage(str(path))
    array = sitk.GetArrayFromImage(image)
    if array.dtype.kind == "f" and str(path).lower().endswith((".nii", ".nii.gz")):
        _restore_nifti_nan(Path(path), array)
    return array, geometry_of_image(image)


# NIfTI-1 datatype codes of the floating-point types whose NaN ITK <= 5.4 turns into 0.
_NIFTI_FLOATS = {16: "f4", 64: "f8"}


def _restore_nifti_nan(path: Path, array: np.ndarray) -> None:
    """Put back the NaNs of a single-file NIfTI-1 float volume into ``array`` (k, j, i), read from the raw bytes."""
    import gzip

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as handle:
        header = handle.read(348)
        if len(header) < 348:
            return
        order = "<" if np.frombuffer(header[:4], "<i4")[0] == 348 else ">"
        datatype = int(np.frombuffer(header[70:72], f"{order}i2")[0])
        offset = int(np.frombuffer(header[108:112], f"{order}f4")[0])
        if datatype not in _NIFTI_FLOATS or offset < 348:
            return
        handle.read(offset - 348)
        raw = np.frombuffer(handle.read(array.size * np.dtype(_NIFTI_FLOATS[datatype]).itemsize),
                            f"{order}{_NIFTI_FLOATS[datatype]}")
    if raw.size != array.size:
        return
    nan = np.isnan(raw.reshape(array.shape))  # NIfTI's i runs fastest, as in the (k, j, i) array
    array[nan] = np.nan


def read_volume_on_grid(path: Path, geometry: Geometry) -> np.ndarray:
    """Read a 3D image (e.g. T2W) and resample it onto ``geometry`` in physical space (linear; 0 outside), float32.

    Raises
    ------
    InputError
        The file is missing, unreadable or not a 3D single-component image.
    """
    from ..errors import InputError

    try:
        image = sitk.ReadImage(str(path), sitk.sitkFloat32)
    except RuntimeError as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        raise InputError(f"could not read the image ({lines[-1] if lines else error})", source=str(path),
                         expected="a 3D image (.nrrd, .nii.gz, .mha, ...)") from None
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(f"a {image.GetDimension()}D image with {image.GetNumberOfComponentsPerPixel()} component(s)",
                         source=str(path), expected="a 3D image with one value per voxel")
    target = image_on_grid(geometry, np.zeros(geometry.shape, dtype=np.float32))
    resampled = sitk.Resample(image, target, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    return sitk.GetArrayFromImage(resampled)


def find_volume(folder: Path, stem: str) -> Path:
    """The file ``stem`` in an output folder, as NRRD or NIfTI (``--format``); the NRRD name when neither exists."""
    folder = Path(folder)
    for ending in (".nrrd", ".nii.gz"):
        if (folder / f"{stem}{ending}").is_file():
            return folder / f"{stem}{ending}"
    return folder / f"{stem}.nrrd"
