"""Virtual biopsies: random biopsy-sized patches of a tumour slice and their hypoxic fractions (SPEC §3.2).

A real biopsy takes a few cubic millimetres of tissue from one place. On one slice of the A_Brix map, a virtual
biopsy is a compact patch of 12 tumour voxels at a random position; a tumour slice of ``n`` voxels gets
``m = floor(n / 12)`` of them. How much the hypoxic fraction (HF) of these patches varies tells how well one
biopsy represents its tumour, and, compared with what randomly scattered hypoxia would give, how clustered the
hypoxic regions are.

The patch: the 12 tumour voxels nearest (in mm, in-plane) to a randomly chosen tumour voxel. This keeps every
patch inside the tumour by construction, makes it as round as the tumour allows (a disc of radius 2 voxels inside
the tumour, hugging the border near it), and gives all patches of a tumour from one k-d tree query, so thousands
of patches cost milliseconds. The centre is moved by a tiny random offset (at most 1% of a voxel) before the
query: it changes nothing but the order of equidistant voxels, so ties (3 of the 4 voxels at distance 2 complete
an interior patch) are broken at random rather than always toward the same side. Patches may overlap, as
independent biopsies could. A patch centred in a tumour island smaller than 12 voxels takes its remaining voxels
from the nearest other tumour voxels. (Growing each patch through the tumour voxel by voxel would keep it
connected in such islands but cannot be done for all patches at once as cheaply.)

Voxels whose fit failed (NaN in A_Brix) stay in the patch but are left out of its HF, as in the whole-tumour HF;
a patch with fewer than ``min_valid_voxels`` fitted voxels has no HF and is counted, not used.

Reference: Fjeldbo CS et al., EBioMedicine 2020;57:102841.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple, Union

import numpy as np
from scipy.spatial import cKDTree

from ..errors import InputError
from ..rules import A_THRESHOLD, PATCH_SIZE, hypoxic_voxels


@dataclass(frozen=True)
class VirtualBiopsies:
    """The virtual biopsies of one tumour slice.

    Attributes
    ----------
    patches : ndarray of int, shape (m, patch_size)
        Flat (row-major) indices into the slice of each patch's voxels; ``np.unravel_index(patches, shape)``
        gives rows (j) and columns (i).
    n_hypoxic : ndarray of int, shape (m,)
        Hypoxic voxels in each patch.
    n_valid : ndarray of int, shape (m,)
        Fitted (non-NaN) voxels in each patch: the denominator of its HF.
    shape : tuple of int
        Shape (rows, columns) of the slice.
    n_tumour_voxels, n_valid_voxels, n_hypoxic_voxels : int
        Tumour, fitted tumour and hypoxic voxels of the whole slice.
    min_valid_voxels : int
        A patch needs at least this many fitted voxels to have an HF.
    seed : int or None
        The seed the patches were drawn with.
    """

    patches: np.ndarray
    n_hypoxic: np.ndarray
    n_valid: np.ndarray
    shape: Tuple[int, int]
    n_tumour_voxels: int
    n_valid_voxels: int
    n_hypoxic_voxels: int
    min_valid_voxels: int
    seed: Optional[int]

    @property
    def n_biopsies(self) -> int:
        """``m``, the number of patches drawn."""
        return int(self.patches.shape[0])

    @property
    def used(self) -> np.ndarray:
        """Patches with enough fitted voxels to have an HF."""
        return self.n_valid >= max(self.min_valid_voxels, 1)

    @property
    def hypoxic_fraction(self) -> np.ndarray:
        """HF of every patch (NaN for a patch without enough fitted voxels, see :attr:`used`)."""
        out = np.full(self.n_biopsies, np.nan)
        used = self.used
        out[used] = self.n_hypoxic[used] / self.n_valid[used]
        return out

    @property
    def slice_hypoxic_fraction(self) -> float:
        """HF of the whole slice (hypoxic / fitted tumour voxels); NaN only if no voxel was fitted."""
        return self.n_hypoxic_voxels / self.n_valid_voxels if self.n_valid_voxels else float("nan")

    @property
    def mean_hypoxic_fraction(self) -> float:
        """Mean HF of the usable patches (NaN when there is none; see :attr:`note`)."""
        hf = self.hypoxic_fraction[self.used]
        return float(hf.mean()) if hf.size else float("nan")

    @property
    def sd_hypoxic_fraction(self) -> float:
        """SD (n - 1 denominator) of the patches' HF; NaN when fewer than 2 patches are usable (see :attr:`note`)."""
        hf = self.hypoxic_fraction[self.used]
        return float(hf.std(ddof=1)) if hf.size >= 2 else float("nan")

    @property
    def note(self) -> str:
        """Why the SD is undefined, or '' when it is defined."""
        n_used = int(self.used.sum())
        if n_used >= 2:
            return ""
        if self.n_biopsies < 2:
            return (
                f"{self.n_tumour_voxels} tumour voxels give {self.n_biopsies} virtual biopsy: "
                f"the SD needs 2 or more (at least {2 * self.patches.shape[1]} tumour voxels)"
            )
        return (
            f"only {n_used} of {self.n_biopsies} virtual biopsies have {self.min_valid_voxels} or more fitted voxels: "
            "the SD needs 2 or more"
        )


def scattered_sd(
    hypoxic_fraction: Union[float, np.ndarray], n_voxels: Union[int, np.ndarray], patch_size: int = PATCH_SIZE
) -> np.ndarray:
    """SD of a patch's HF when hypoxic voxels are scattered at random: the hypergeometric curve.

    ``sqrt(HF (1 - HF) / patch_size * (N - patch_size) / (N - 1))`` for ``N`` voxels of which a fraction HF is
    hypoxic, sampling ``patch_size`` without replacement (SPEC §3.2, the lower reference curve).
    """
    hf = np.asarray(hypoxic_fraction, dtype=float)
    n = np.asarray(n_voxels, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(hf * (1.0 - hf) / patch_size * (n - patch_size) / (n - 1.0))


def clustered_sd(hypoxic_fraction: Union[float, np.ndarray]) -> np.ndarray:
    """SD of a patch's HF when hypoxia is one compact region much larger than a patch: ``sqrt(HF (1 - HF))``.

    Every patch is then wholly hypoxic or wholly not (SPEC §3.2, the upper reference curve).
    """
    hf = np.asarray(hypoxic_fraction, dtype=float)
    return np.sqrt(hf * (1.0 - hf))


def draw_patches(
    tumour_mask: np.ndarray,
    *,
    n_biopsies: Optional[int] = None,
    patch_size: int = PATCH_SIZE,
    spacing: Sequence[float] = (1.0, 1.0),
    seed: Union[int, np.random.Generator, None] = None,
) -> np.ndarray:
    """Draw compact patches of tumour voxels at random positions, all in one step.

    Parameters
    ----------
    tumour_mask : ndarray of bool, shape (rows, columns)
        The tumour on one slice.
    n_biopsies : int, optional
        Patches to draw; default ``floor(n_tumour_voxels / patch_size)``.
    patch_size : int
        Voxels per patch (default :data:`rules.PATCH_SIZE`).
    spacing : (float, float)
        Voxel size (mm) along rows (j) and columns (i), so patches are round in millimetres.
    seed : int or Generator, optional
        Makes the patches reproducible.

    Returns
    -------
    ndarray of int, shape (n_biopsies, patch_size)
        Flat (row-major) indices into the slice; every one is a tumour voxel, the patch's centre voxel first,
        then by distance from it.
    """
    mask = _slice_mask(tumour_mask)
    positions = np.argwhere(mask)
    n = positions.shape[0]
    if patch_size < 1:
        raise InputError("the patch size must be at least 1 voxel", field="patch_size", expected=">= 1")
    if n < patch_size:
        raise InputError(
            f"the tumour has {n} voxels on this slice, fewer than one {patch_size}-voxel virtual biopsy",
            field="tumour_mask",
            expected=f">= {patch_size} tumour voxels",
        )
    m = n // patch_size if n_biopsies is None else int(n_biopsies)
    if m < 1:
        raise InputError("at least one virtual biopsy must be drawn", field="n_biopsies", expected=">= 1")
    scale = np.asarray(spacing, dtype=float)
    if scale.shape != (2,) or np.any(~np.isfinite(scale)) or np.any(scale <= 0):
        raise InputError(f"invalid in-plane spacing {tuple(spacing)}", field="spacing", expected="two positive mm")
    rng = np.random.default_rng(seed)
    points = positions * scale
    centres = rng.integers(0, n, size=m)
    jitter = rng.uniform(-0.01, 0.01, size=(m, 2)) * scale
    _, nearest = cKDTree(points).query(points[centres] + jitter, k=patch_size)
    nearest = np.asarray(nearest).reshape(m, patch_size)
    flat = np.ravel_multi_index((positions[:, 0], positions[:, 1]), mask.shape)
    return flat[nearest]


def virtual_biopsies(
    a_brix: np.ndarray,
    tumour_mask: np.ndarray,
    *,
    a_threshold: float = A_THRESHOLD,
    n_biopsies: Optional[int] = None,
    patch_size: int = PATCH_SIZE,
    spacing: Sequence[float] = (1.0, 1.0),
    min_valid_voxels: int = PATCH_SIZE // 2,
    seed: Optional[int] = 0,
) -> VirtualBiopsies:
    """Virtual biopsies of one slice of an A_Brix map: patches, their hypoxic fractions, SD and mean.

    Parameters
    ----------
    a_brix : ndarray of float, shape (rows, columns)
        A_Brix on the slice; NaN where the fit failed (such voxels are left out of the HF).
    tumour_mask : ndarray of bool, same shape
        The tumour on the slice.
    a_threshold : float
        A voxel is hypoxic when A_Brix < a_threshold (:func:`rules.hypoxic_voxels`, default :data:`rules.A_THRESHOLD`).
    n_biopsies : int, optional
        Default ``floor(n_tumour_voxels / patch_size)``.
    patch_size : int
        Default :data:`rules.PATCH_SIZE`.
    spacing : (float, float)
        Voxel size (mm) along rows and columns.
    min_valid_voxels : int
        Fitted voxels a patch needs to have an HF (default 6, half a patch).
    seed : int, optional
        Seed of the patch positions (default 0).

    Returns
    -------
    VirtualBiopsies
    """
    mask = _slice_mask(tumour_mask)
    a = np.asarray(a_brix, dtype=float)
    if a.shape != mask.shape:
        raise InputError(
            f"A_Brix slice {a.shape} and tumour mask slice {mask.shape} differ in shape",
            field="a_brix",
            expected="the same grid",
        )
    if not np.isfinite(a_threshold):
        raise InputError("the A_Brix threshold must be a finite number", field="a_threshold")
    valid = mask & np.isfinite(a)
    hypoxic = valid & hypoxic_voxels(a, a_threshold)
    return virtual_biopsies_of_pattern(
        hypoxic,
        valid,
        mask,
        n_biopsies=n_biopsies,
        patch_size=patch_size,
        spacing=spacing,
        min_valid_voxels=min_valid_voxels,
        seed=seed,
    )


def virtual_biopsies_of_pattern(
    hypoxic: np.ndarray,
    valid: np.ndarray,
    tumour_mask: np.ndarray,
    *,
    n_biopsies: Optional[int] = None,
    patch_size: int = PATCH_SIZE,
    spacing: Sequence[float] = (1.0, 1.0),
    min_valid_voxels: int = PATCH_SIZE // 2,
    seed: Optional[int] = 0,
) -> VirtualBiopsies:
    """Virtual biopsies of a slice given as boolean maps (see :func:`virtual_biopsies`).

    Parameters
    ----------
    hypoxic : ndarray of bool
        Hypoxic voxels (only those that are also ``valid`` count).
    valid : ndarray of bool
        Fitted voxels (only those inside the tumour count).
    tumour_mask : ndarray of bool
    """
    mask = _slice_mask(tumour_mask)
    hypoxic = np.asarray(hypoxic, dtype=bool)
    valid = np.asarray(valid, dtype=bool)
    if hypoxic.shape != mask.shape or valid.shape != mask.shape:
        raise InputError("hypoxic, valid and tumour maps differ in shape", expected="one grid")
    valid = valid & mask
    hypoxic = hypoxic & valid
    patches = draw_patches(mask, n_biopsies=n_biopsies, patch_size=patch_size, spacing=spacing, seed=seed)
    return VirtualBiopsies(
        patches=patches,
        n_hypoxic=hypoxic.ravel()[patches].sum(axis=1),
        n_valid=valid.ravel()[patches].sum(axis=1),
        shape=tuple(mask.shape),
        n_tumour_voxels=int(mask.sum()),
        n_valid_voxels=int(valid.sum()),
        n_hypoxic_voxels=int(hypoxic.sum()),
        min_valid_voxels=int(min_valid_voxels),
        seed=seed if seed is None or isinstance(seed, (int, np.integer)) else None,
    )


def _slice_mask(tumour_mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(tumour_mask)
    if mask.ndim != 2:
        raise InputError(
            f"a virtual biopsy needs one slice, got an array of {mask.ndim} dimension(s)",
            field="tumour_mask",
            expected="a 2D slice (rows, columns)",
        )
    return mask.astype(bool, copy=False)
