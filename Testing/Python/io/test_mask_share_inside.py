"""The share of a tumour mask inside the DCE field of view (io/masks.py ``_fraction_inside``): the bounding-box
shortcut gives exactly what mapping every mask voxel gives (the computation before the shortcut, kept here)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from HypoxiaMarkersLib.imaging.phantom import make_phantom
from HypoxiaMarkersLib.io import masks
from HypoxiaMarkersLib.volume import Geometry


def every_voxel_share(mask, mask_geometry, reference) -> float:
    """Each mask voxel centre mapped to the reference's continuous indices and tested against its box."""
    ijk = np.argwhere(mask)[:, ::-1]
    if ijk.size == 0:
        return 0.0
    index = reference.lps_to_index(mask_geometry.index_to_lps(ijk))
    upper = np.asarray(reference.size, dtype=float) - 0.5
    return float(np.all((index >= -0.5) & (index < upper), axis=1).mean())


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(seed=11, size=(48, 40, 8), tumour_radii_mm=(14, 12, 10), n_frames=12, baseline_frames=4)


def shifted(geometry: Geometry, mm) -> Geometry:
    return dataclasses.replace(geometry, origin=tuple(np.add(geometry.origin, mm)))


@pytest.mark.parametrize("shift_mm", [(0, 0, 0), (12, 0, 0), (0, -9, 0), (0, 0, 15), (25, 20, 0), (200, 0, 0)])
def test_share_inside_equals_every_voxel_mapped(phantom, shift_mm):
    reference = shifted(phantom.series.geometry, shift_mm)
    mask, geometry = phantom.t2w_tumour_mask, phantom.t2w_geometry
    share = masks._fraction_inside(mask, geometry, reference)
    assert share == every_voxel_share(mask, geometry, reference)
    if shift_mm == (0, 0, 0):
        assert share == 1.0
    elif shift_mm == (200, 0, 0):
        assert share == 0.0
    elif shift_mm == (25, 20, 0):
        assert 0.0 < share < 1.0


def test_centres_exactly_on_the_edge_of_the_field_of_view():
    """Mask voxel centres on the half-voxel faces of the reference box: the half-open test decides, as before."""
    reference = Geometry(size=(10, 10, 4), spacing=(2.0, 2.0, 4.0), origin=(0.0, 0.0, 0.0))
    fine = Geometry(size=(24, 24, 10), spacing=(1.0, 1.0, 2.0), origin=(-1.0, -1.0, -2.0))  # centres at -1, 0, 1...
    mask = np.zeros(fine.shape, dtype=bool)
    mask[1:9, 0:22, 0:23] = True
    share = masks._fraction_inside(mask, fine, reference)
    assert share == every_voxel_share(mask, fine, reference)
    assert 0.0 < share < 1.0


def test_oblique_grids_and_random_masks():
    rng = np.random.default_rng(12)
    a = np.radians(17.0)
    rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    reference = Geometry(size=(30, 28, 9), spacing=(1.5, 1.5, 4.0), origin=(-20.0, -18.0, -16.0),
                         direction=tuple(rot.ravel()))
    fine = Geometry(size=(70, 64, 20), spacing=(0.6, 0.6, 2.0), origin=(-21.0, -19.0, -17.0))
    for _ in range(5):
        mask = np.zeros(fine.shape, dtype=bool)
        low = rng.integers(0, [10, 30, 30])
        high = low + rng.integers(2, [10, 34, 40])
        mask[low[0]:high[0], low[1]:high[1], low[2]:high[2]] = rng.random(tuple(high - low)) < 0.7
        assert masks._fraction_inside(mask, fine, reference) == every_voxel_share(mask, fine, reference)
    assert masks._fraction_inside(np.zeros(fine.shape, bool), fine, reference) == 0.0
