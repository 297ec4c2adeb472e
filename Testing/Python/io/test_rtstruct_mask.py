"""RTSTRUCT tumour contours on the DCE grid: the same voxels as the equivalent label map (io.rtstruct).

The RTSTRUCTs are built here from phantom masks (helpers.rtstruct_files: contourpy outlines at level 0.5, written
with pydicom), so the truth is the label map they were traced from.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import ndimage

from HypoxiaMarkersLib.errors import InputError
from HypoxiaMarkersLib.imaging import phantom
from HypoxiaMarkersLib.imaging.analysis import analyse_dce
from HypoxiaMarkersLib.io.masks import read_tumour_mask, resample_mask
from HypoxiaMarkersLib.io.rtstruct import is_rtstruct, read_roi, roi_names
from HypoxiaMarkersLib.volume import Geometry

from helpers.rtstruct_files import mask_contours, write_rtstruct

FRAME = "1.2.826.0.1.3680043.8.498.1"
SMALL = dict(size=(48, 48, 6), tumour_radii_mm=(12.0, 10.0, 11.0), n_frames=20)


@pytest.fixture(scope="module")
def tumour():
    return phantom.make_phantom(seed=11, **SMALL)


def read(path, geometry, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the frame of reference cannot be checked without a DICOM series
        return read_tumour_mask(path, geometry, **options)


def edge_voxels(mask: np.ndarray) -> np.ndarray:
    """Voxels of the mask with a face neighbour outside it, and voxels outside with a face neighbour inside."""
    return (mask & ~ndimage.binary_erosion(mask)) | (ndimage.binary_dilation(mask) & ~mask)


def test_contours_traced_on_the_dce_slices_give_the_label_maps_voxels(tumour, tmp_path):
    g = tumour.series.geometry
    path = write_rtstruct(tmp_path / "rs.dcm", {"GTV": mask_contours(tumour.tumour_mask, g)}, FRAME)
    assert is_rtstruct(path) and roi_names(path) == ["GTV"]
    # The outline passes half-way between voxel centres: nearest neighbour and half-volume agree voxel for voxel.
    np.testing.assert_array_equal(read(path, g), tumour.tumour_mask)
    np.testing.assert_array_equal(read(path, g, roi="GTV", min_fraction=0.5), tumour.tumour_mask)


@pytest.mark.parametrize("min_fraction", [None, 0.25, 0.5, 0.75])
def test_contours_drawn_on_t2w_match_the_t2w_label_map_within_edge_voxels(tumour, tmp_path, min_fraction):
    """The outline of the T2W label map (0.5 x 0.5 x 2.5 mm, shifted planes) gives the DCE voxels the label map
    gives, except where a DCE voxel centre (or sub-voxel, for partial volume) lies within a fraction of a T2W voxel
    of the outline: the polygon cuts the label map's staircase corners. Those differences are edge voxels only."""
    g = tumour.series.geometry
    path = write_rtstruct(tmp_path / "rs.dcm", {"GTV": mask_contours(tumour.t2w_tumour_mask, tumour.t2w_geometry)},
                          FRAME)
    label_map = resample_mask(tumour.t2w_tumour_mask, tumour.t2w_geometry, g, min_fraction=min_fraction)
    contours = read(path, g, roi="GTV", min_fraction=min_fraction)
    differ = contours != label_map
    assert not (differ & ~edge_voxels(label_map)).any(), "a difference away from the tumour's edge"
    # Measured: 0.3-1.0 % of the tumour's voxels (the T2W voxel is 0.5 mm, the DCE voxel 0.8 mm in plane).
    assert differ.sum() <= 0.02 * label_map.sum()
    assert differ.sum() <= 0.1 * edge_voxels(label_map).sum()


def test_the_hypoxic_fraction_from_the_rtstruct_equals_the_label_maps_within_its_edge_voxels(tumour, tmp_path):
    """Each differing voxel moves the hypoxic fraction by at most 1/n: |HF_rt - HF_label| <= differing / n."""
    g = tumour.series.geometry
    path = write_rtstruct(tmp_path / "rs.dcm", {"GTV": mask_contours(tumour.t2w_tumour_mask, tumour.t2w_geometry)},
                          FRAME)
    label_map = resample_mask(tumour.t2w_tumour_mask, tumour.t2w_geometry, g)
    contours = read(path, g, roi="GTV")
    from_label = analyse_dce(tumour.series, label_map)
    from_contours = analyse_dce(tumour.series, contours)
    n = min(from_label.n_fitted, from_contours.n_fitted)
    differing = int((contours != label_map).sum())
    assert differing > 0  # the bound below is tested, not trivially met
    assert abs(from_contours.hypoxic_fraction - from_label.hypoxic_fraction) <= differing / n
    assert abs(from_contours.hypoxic_fraction - tumour.hypoxic_fraction) < 0.03  # and both near the truth


@pytest.mark.parametrize("offset, shift", [(0.4, 0), (-0.45, 0), (1.0, 1), (0.6, 1)])
def test_contour_planes_between_dce_slices_go_to_the_nearest_slice(tumour, tmp_path, offset, shift):
    """Contours on planes ``offset`` slice spacings off the DCE slice centres land on the nearest DCE slice."""
    g = tumour.series.geometry
    normal = g.direction_matrix[:, 2]
    moved = [c + offset * g.spacing[2] * normal for c in mask_contours(tumour.tumour_mask, g)]
    path = write_rtstruct(tmp_path / "rs.dcm", {"GTV": moved}, FRAME)
    expected = np.zeros_like(tumour.tumour_mask)
    expected[shift:] = tumour.tumour_mask[:g.size[2] - shift]
    np.testing.assert_array_equal(read(path, g, roi="GTV"), expected)


def test_a_contour_inside_another_is_a_hole(tmp_path):
    g = Geometry(size=(30, 30, 3), spacing=(1.0, 1.0, 3.0), origin=(-15.0, -15.0, 0.0))
    j, i = np.mgrid[0:30, 0:30]
    ring = ((i - 15) ** 2 + (j - 15) ** 2 <= 100) & ((i - 15) ** 2 + (j - 15) ** 2 > 16)
    mask = np.zeros(g.shape, bool)
    mask[1] = ring
    contours = mask_contours(mask, g)
    assert len(contours) == 2  # the outer outline and the hole's
    path = write_rtstruct(tmp_path / "rs.dcm", {"ring": contours}, FRAME)
    np.testing.assert_array_equal(read(path, g), mask)


def test_oblique_contour_planes_give_the_label_maps_voxels_within_edge_voxels(tumour, tmp_path):
    """Contours drawn on sagittal planes (perpendicular to the DCE slices) take the general path."""
    g = tumour.series.geometry
    mask = tumour.tumour_mask
    # Trace each sagittal plane i of the mask: swap the axes so that "slices" are i, and give the matching grid.
    sagittal = Geometry(size=(g.size[1], g.size[2], g.size[0]), spacing=(g.spacing[1], g.spacing[2], g.spacing[0]),
                        origin=g.origin, direction=(0, 0, 1, 1, 0, 0, 0, 1, 0))
    contours = mask_contours(mask.transpose(2, 0, 1), sagittal)
    path = write_rtstruct(tmp_path / "rs.dcm", {"GTV": contours}, FRAME)
    result = read(path, g)
    differ = result != mask
    assert not (differ & ~edge_voxels(mask)).any()
    assert differ.sum() <= 0.02 * mask.sum()


def test_roi_choice_and_what_is_refused(tumour, tmp_path):
    g = tumour.series.geometry
    contours = mask_contours(tumour.tumour_mask, g)
    path = write_rtstruct(tmp_path / "rs.dcm", {"GTV": contours, "Bladder": contours[:1], "Rectum": contours[1:2]},
                          FRAME)
    with pytest.raises(InputError, match='3 ROIs \\("GTV", "Bladder", "Rectum"\\); say which') as error:
        read(path, g)
    assert error.value.field == "--roi"
    with pytest.raises(InputError, match='no ROI named "gtv" \\(ROIs: "GTV", "Bladder", "Rectum"\\)'):
        read(path, g, roi="gtv")
    assert read_roi(path, "2").name == "Bladder"  # the ROI number is accepted too
    with pytest.raises(InputError, match="--label does not apply to an RTSTRUCT"):
        read(path, g, roi="GTV", label=1)
    points = write_rtstruct(tmp_path / "points.dcm", {"GTV": contours}, FRAME, geometric_type="POINT")
    with pytest.raises(InputError, match="no closed planar contours \\(only POINT contours\\)"):
        read(points, g)
    far = write_rtstruct(tmp_path / "far.dcm", {"GTV": [c + [0, 0, 200.0] for c in contours]}, FRAME)
    with pytest.raises(InputError, match='ROI "GTV" has no contours on the DCE slices'):
        read(far, g)
    with pytest.raises(InputError, match="frame of reference 1.2.3, the DCE series in 1.2.4") as error:
        read_tumour_mask(write_rtstruct(tmp_path / "for.dcm", {"GTV": contours}, "1.2.3"), g,
                         frame_of_reference_uid="1.2.4")
    assert error.value.field == "ReferencedFrameOfReferenceUID"
    with pytest.warns(UserWarning, match="frame of reference cannot be checked"):
        read_tumour_mask(path, g, roi="GTV")


def test_the_real_in_vivo_slice_tissue_mask_as_an_rtstruct(shared_data, tmp_path):
    """The real in-vivo DCE slice (NRRD, one slice): its tissue mask traced as contours gives the same voxels."""
    from HypoxiaMarkersLib.io.masks import read_mask

    folder = shared_data / "invivo-dce-slice"
    mask, geometry, _ = read_mask(folder / "mask_tissue.nrrd")
    path = write_rtstruct(tmp_path / "rs.dcm", {"tissue": mask_contours(mask, geometry)}, FRAME)
    on_dce = read(folder / "mask_tissue.nrrd", geometry)
    np.testing.assert_array_equal(read(path, geometry, roi="tissue"), on_dce)
    assert on_dce.sum() > 100
