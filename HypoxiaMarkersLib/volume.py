"""Voxel grids in physical space, and the DCE series as arrays with geometry (numpy only: files are read and
written by :mod:`HypoxiaMarkersLib.io.volumes`).

Conventions used throughout HypoxiaMarkersLib:

- 3D arrays are indexed ``[k, j, i]`` (slice, row, column), as ``SimpleITK.GetArrayFromImage`` and
  ``slicer.util.arrayFromVolume`` give them; a DCE series is ``[t, k, j, i]``.
- Geometry is ITK's: ``origin`` is the LPS position (mm) of voxel (0, 0, 0), ``spacing`` is per (i, j, k),
  ``direction`` is a 3x3 matrix whose columns are the i, j, k axes in LPS. Slicer's RAS is converted only in
  the ``mrml`` bridge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence, Tuple

import numpy as np


@dataclass(frozen=True)
class Geometry:
    """Where a voxel grid lies in the patient (ITK/LPS convention).

    Attributes
    ----------
    size : tuple of int
        Number of voxels along (i, j, k).
    spacing : tuple of float
        Voxel size in mm along (i, j, k).
    origin : tuple of float
        LPS position (mm) of the centre of voxel (0, 0, 0).
    direction : tuple of float
        The 3x3 direction matrix, row-major; its columns are the unit vectors of the i, j, k axes in LPS.
    """

    size: Tuple[int, int, int]
    spacing: Tuple[float, float, float]
    origin: Tuple[float, float, float]
    direction: Tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)

    @property
    def shape(self) -> Tuple[int, int, int]:
        """Array shape ``(k, j, i)`` of a volume on this grid."""
        return (self.size[2], self.size[1], self.size[0])

    @property
    def direction_matrix(self) -> np.ndarray:
        return np.asarray(self.direction, dtype=float).reshape(3, 3)

    def index_to_lps(self, ijk: np.ndarray) -> np.ndarray:
        """LPS positions (mm) of continuous indices ``ijk`` (..., 3) given in (i, j, k) order."""
        ijk = np.asarray(ijk, dtype=float)
        return np.asarray(self.origin) + (ijk * np.asarray(self.spacing)) @ self.direction_matrix.T

    def lps_to_index(self, lps: np.ndarray) -> np.ndarray:
        """Continuous (i, j, k) indices of LPS positions (..., 3)."""
        lps = np.asarray(lps, dtype=float)
        inv = np.linalg.inv(self.direction_matrix * np.asarray(self.spacing))
        return (lps - np.asarray(self.origin)) @ inv.T

    def ijk_to_ras(self) -> np.ndarray:
        """The 4x4 IJK-to-RAS matrix Slicer uses for this grid."""
        lps_to_ras = np.diag([-1.0, -1.0, 1.0])
        m = np.eye(4)
        m[:3, :3] = lps_to_ras @ self.direction_matrix @ np.diag(self.spacing)
        m[:3, 3] = lps_to_ras @ np.asarray(self.origin)
        return m

    @classmethod
    def from_ijk_to_ras(cls, matrix: np.ndarray, size: Sequence[int]) -> Geometry:
        """Inverse of :meth:`ijk_to_ras`: the grid of a Slicer volume with ``size`` (i, j, k)."""
        matrix = np.asarray(matrix, dtype=float)
        ras_to_lps = np.diag([-1.0, -1.0, 1.0])
        lin = ras_to_lps @ matrix[:3, :3]
        spacing = np.linalg.norm(lin, axis=0)
        direction = lin / spacing
        origin = ras_to_lps @ matrix[:3, 3]
        return cls(
            size=tuple(int(s) for s in size),
            spacing=tuple(float(s) for s in spacing),
            origin=tuple(float(o) for o in origin),
            direction=tuple(float(d) for d in direction.ravel()),
        )

    def superior_position_of_slices(self) -> np.ndarray:
        """The S (head-ward, LPS z) coordinate of the centre of each slice k, shape (size_k,).

        Used to number slices from caudal to cranial whatever the acquisition order.
        """
        k = np.arange(self.size[2], dtype=float)
        centre = np.array([(self.size[0] - 1) / 2.0, (self.size[1] - 1) / 2.0, 0.0])
        ijk = np.tile(centre, (k.size, 1))
        ijk[:, 2] = k
        return self.index_to_lps(ijk)[:, 2]

    def same_grid(self, other: Geometry, tol: float = 1e-4) -> bool:
        return (
            tuple(self.size) == tuple(other.size)
            and np.allclose(self.spacing, other.spacing, atol=tol)
            and np.allclose(self.origin, other.origin, atol=tol)
            and np.allclose(self.direction, other.direction, atol=tol)
        )


@dataclass
class DceSeries:
    """A DCE-MRI series: signal ``[t, k, j, i]``, frame times in seconds, and the grid of one frame.

    Attributes
    ----------
    signal : ndarray, float32, shape (n_frames, k, j, i)
    times_s : ndarray, float, shape (n_frames,)
        Acquisition time of each frame in seconds, strictly increasing.
    geometry : Geometry
        The grid of every frame.
    time_source : str
        Where the frame times came from (e.g. "NRRD axis spacing", "DICOM TriggerTime", "--times").
    source : str
        The file or folder read.
    """

    signal: np.ndarray
    times_s: np.ndarray
    geometry: Geometry
    time_source: str = "unknown"
    source: str = ""
    metadata: dict = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.signal.shape[0])
