"""Tumour masks drawn on T2W, put on the DCE grid in physical space.

The geometry test is built by hand: a T2W grid with half the DCE voxel size, turned 90 degrees in plane and
shifted by a known offset, with the tumour painted on the T2W voxels that physically lie in a chosen set of DCE
voxels; resampling must give back exactly that set. An oblique case is compared with a numpy nearest-neighbour
reference and with Slicer's own segmentation export (slicer-core).
"""

from __future__ import annotations

import warnings

import nrrd
import numpy as np
import pytest
import SimpleITK as sitk

from HypoxiaMarkersLib.errors import InputError
from HypoxiaMarkersLib.io import (
    partial_volume_fraction,
    read_dce,
    read_tumour_mask,
    resample_mask,
    segment_masks,
    segments_in_file,
    write_dce,
    write_segmentation,
    write_tumour_mask,
)
from HypoxiaMarkersLib.io.volumes import write_volume
from HypoxiaMarkersLib.volume import DceSeries, Geometry


def rotation(ax_deg, ay_deg, az_deg) -> np.ndarray:
    ax, ay, az = np.radians([ax_deg, ay_deg, az_deg])
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


R = rotation(12.0, -20.0, 33.0)
DCE_ORIGIN = np.array([10.0, -20.0, 30.0])
DCE = Geometry(size=(12, 10, 6), spacing=(1.0, 1.0, 5.0), origin=tuple(DCE_ORIGIN), direction=tuple(R.ravel()))

# T2W: 0.5 x 0.5 x 2.5 mm; its i axis along the DCE j axis, its j axis along minus the DCE i axis (90 degrees in
# plane), its origin shifted from the DCE origin by (14.2, -3.1, -10.5) mm in the DCE axes.
T2W_OFFSET = np.array([14.2, -3.1, -10.5])
T2W = Geometry(
    size=(28, 32, 16),
    spacing=(0.5, 0.5, 2.5),
    origin=tuple(DCE_ORIGIN + R @ T2W_OFFSET),
    direction=tuple(np.column_stack([R[:, 1], -R[:, 0], R[:, 2]]).ravel()),
)

# The DCE voxels (i, j, k) the tumour covers.
TUMOUR_VOXELS = {(i, j, k) for i in range(3, 7) for j in range(2, 5) for k in range(1, 4)} | {(9, 7, 4)}
# A second structure elsewhere, and one overlapping the tumour (for segmentation layers).
BLADDER_VOXELS = {(i, j, k) for i in range(8, 11) for j in range(0, 2) for k in range(0, 2)}
BOOST_VOXELS = {(i, j, 2) for i in range(5, 8) for j in range(3, 6)}


def dce_mask(voxels) -> np.ndarray:
    mask = np.zeros(DCE.shape, bool)
    for i, j, k in voxels:
        mask[k, j, i] = True
    return mask


def paint_on_t2w(voxels) -> np.ndarray:
    """T2W voxels whose centres lie in the given DCE voxels, from the construction above (not from Geometry)."""
    a, b, c = np.meshgrid(*(np.arange(n) for n in T2W.size), indexing="ij")
    # Centre of T2W voxel (a, b, c) in mm along the DCE axes, from the DCE origin.
    u = T2W_OFFSET[0] - 0.5 * b
    v = T2W_OFFSET[1] + 0.5 * a
    w = T2W_OFFSET[2] + 2.5 * c
    i, j, k = np.rint(u / 1.0).astype(int), np.rint(v / 1.0).astype(int), np.rint(w / 5.0).astype(int)
    painted = np.zeros(a.shape, bool)
    for vi, vj, vk in voxels:
        painted |= (i == vi) & (j == vj) & (k == vk)
    return painted.transpose(2, 1, 0)  # (a, b, c) = (i, j, k) -> (k, j, i)


def test_construction_is_consistent():
    # The painted T2W voxels are where Geometry puts them too (a check of the test, not of the code).
    painted = paint_on_t2w(TUMOUR_VOXELS)
    centres = T2W.index_to_lps(np.argwhere(painted)[:, ::-1])
    dce_index = np.rint(DCE.lps_to_index(centres)).astype(int)
    assert {tuple(v) for v in dce_index} == TUMOUR_VOXELS
    # 0.25 x 0.25 x 2.5 ... : each DCE voxel holds 2 x 2 x 2 T2W voxels.
    assert painted.sum() == 8 * len(TUMOUR_VOXELS)


def test_shifted_rotated_finer_mask_lands_on_the_right_voxels():
    result = resample_mask(paint_on_t2w(TUMOUR_VOXELS), T2W, DCE)
    np.testing.assert_array_equal(result, dce_mask(TUMOUR_VOXELS))


@pytest.mark.parametrize("name", ["tumour_mask_t2w.nrrd", "tumour_mask_t2w.nii.gz"])
def test_label_map_file_on_the_dce_grid_read_from_file(tmp_path, name):
    """The DCE grid as read back from a written series, the mask from a label map file."""
    signal = np.ones((3,) + DCE.shape, np.float32)
    series = read_dce(write_dce(DceSeries(signal, np.array([0.0, 5.0, 10.0]), DCE), tmp_path / "dce.seq.nrrd"))
    labels = paint_on_t2w(TUMOUR_VOXELS).astype(np.uint8) * 3 + paint_on_t2w(BLADDER_VOXELS).astype(np.uint8) * 7
    path = tmp_path / name
    write_volume(labels, T2W, path)
    assert read_tumour_mask(path, series.geometry).sum() == len(TUMOUR_VOXELS) + len(BLADDER_VOXELS)
    np.testing.assert_array_equal(read_tumour_mask(path, series.geometry, label=3), dce_mask(TUMOUR_VOXELS))
    np.testing.assert_array_equal(read_tumour_mask(path, series.geometry, label=7), dce_mask(BLADDER_VOXELS))
    with pytest.raises(InputError, match=r"label 5 is not in the label map \(labels found: 3, 7\)"):
        read_tumour_mask(path, series.geometry, label=5)


def test_write_tumour_mask_writes_the_label(tmp_path):
    path = write_tumour_mask(paint_on_t2w(TUMOUR_VOXELS), T2W, tmp_path / "m.nrrd", label=2)
    np.testing.assert_array_equal(read_tumour_mask(path, DCE, label=2), dce_mask(TUMOUR_VOXELS))


# ------------------------------------------------------------------------------------------------------------
# Segmentations


@pytest.fixture
def segmentation_file(tmp_path):
    path = tmp_path / "tumour.seg.nrrd"
    write_segmentation(path, {"tumour": paint_on_t2w(TUMOUR_VOXELS), "bladder": paint_on_t2w(BLADDER_VOXELS),
                              "boost": paint_on_t2w(BOOST_VOXELS)}, T2W)
    return path


def test_segments_share_layers_as_slicer_stores_them(segmentation_file):
    segments = {s.name: s for s in segments_in_file(segmentation_file)}
    assert set(segments) == {"tumour", "bladder", "boost"}
    # tumour and bladder do not overlap: one layer, two label values; boost overlaps the tumour: a second layer.
    assert segments["tumour"].layer == segments["bladder"].layer == 0
    assert segments["tumour"].label_value != segments["bladder"].label_value
    assert segments["boost"].layer == 1


@pytest.mark.parametrize("name, voxels", [("tumour", TUMOUR_VOXELS), ("bladder", BLADDER_VOXELS),
                                          ("boost", BOOST_VOXELS)])
def test_segment_by_name(segmentation_file, name, voxels):
    np.testing.assert_array_equal(read_tumour_mask(segmentation_file, DCE, segment=name), dce_mask(voxels))


def test_segment_masks_agree_with_slicerio(segmentation_file):
    slicerio = pytest.importorskip("slicerio")
    masks, geometry = segment_masks(segmentation_file)
    assert geometry.same_grid(T2W, tol=1e-9)
    reference = slicerio.read_segmentation(str(segmentation_file))
    for name, mask in masks.items():
        np.testing.assert_array_equal(mask, slicerio.segment_mask(reference, name).transpose(2, 1, 0))


def test_segment_choice_errors(segmentation_file, tmp_path):
    with pytest.raises(InputError, match=r'3 segments \("tumour", "bladder", "boost"\).*--segment NAME'):
        read_tumour_mask(segmentation_file, DCE)
    with pytest.raises(InputError, match=r'no segment named "Tumor" \(segments: "tumour", "bladder", "boost"\)'):
        read_tumour_mask(segmentation_file, DCE, segment="Tumor")
    with pytest.raises(InputError, match="--label applies to label maps"):
        read_tumour_mask(segmentation_file, DCE, label=1)
    single = write_segmentation(tmp_path / "one.seg.nrrd", {"GTV": paint_on_t2w(TUMOUR_VOXELS)}, T2W)
    np.testing.assert_array_equal(read_tumour_mask(single, DCE), dce_mask(TUMOUR_VOXELS))
    labels = write_tumour_mask(paint_on_t2w(TUMOUR_VOXELS), T2W, tmp_path / "labels.nrrd")
    with pytest.raises(InputError, match="--segment applies to Slicer segmentations"):
        read_tumour_mask(labels, DCE, segment="tumour")


def test_segmentation_without_layer_and_label_fields(tmp_path):
    """Files from before shared label maps: one layer per segment, value 1, no LabelValue/Layer keys."""
    t, b = paint_on_t2w(TUMOUR_VOXELS), paint_on_t2w(BOOST_VOXELS)
    layers = np.stack([t, b]).astype(np.uint8)  # (segment, k, j, i)
    g = T2W
    header = {
        "type": "uchar", "dimension": 4, "space": "left-posterior-superior",
        "kinds": ["list", "domain", "domain", "domain"],
        "space directions": np.vstack([np.full(3, np.nan)] + [g.direction_matrix[:, a] * g.spacing[a]
                                                                for a in range(3)]),
        "space origin": np.asarray(g.origin), "encoding": "gzip",
        "Segment0_ID": "Segment_1", "Segment0_Name": "tumour", "Segment1_ID": "Segment_2", "Segment1_Name": "boost",
    }
    path = tmp_path / "old.seg.nrrd"
    nrrd.write(str(path), np.moveaxis(layers, 0, -1), header, index_order="C")
    np.testing.assert_array_equal(read_tumour_mask(path, DCE, segment="tumour"), dce_mask(TUMOUR_VOXELS))
    np.testing.assert_array_equal(read_tumour_mask(path, DCE, segment="boost"), dce_mask(BOOST_VOXELS))


# ------------------------------------------------------------------------------------------------------------
# Oblique grids: numpy reference and Slicer's own export


def oblique_case():
    dce = Geometry((20, 18, 8), (1.1, 1.1, 4.0), (-5.0, -3.0, -12.0), tuple(rotation(10, 20, 30).ravel()))
    r2 = rotation(-25, 5, 50)
    size, spacing = np.array([60, 60, 30]), np.array([0.45, 0.45, 1.3])
    centre = dce.index_to_lps((np.asarray(dce.size) - 1) / 2.0)
    origin = centre - r2 @ ((size - 1) * spacing / 2.0) + np.array([1.3, -2.1, 0.7])
    t2w = Geometry(tuple(int(s) for s in size), tuple(spacing), tuple(origin), tuple(r2.ravel()))
    kk, jj, ii = np.indices(t2w.shape)
    blob = ((ii - 30) ** 2 + (jj - 28) ** 2) / 12.0**2 + ((kk - 14) / 7.0) ** 2 < 1
    blob |= (np.abs(ii - 20) < 3) & (np.abs(jj - 40) < 4) & (np.abs(kk - 18) < 3)
    return dce, t2w, blob


def numpy_nearest(mask, mask_geometry, reference):
    """For each reference voxel centre: the mask voxel whose centre is nearest (round the continuous index)."""
    kk, jj, ii = np.indices(reference.shape)
    ijk = np.stack([ii, jj, kk], axis=-1).reshape(-1, 3)
    index = mask_geometry.lps_to_index(reference.index_to_lps(ijk))
    nearest = np.floor(index + 0.5).astype(int)
    inside = np.all((nearest >= 0) & (nearest < np.asarray(mask_geometry.size)), axis=1)
    values = np.zeros(len(ijk), bool)
    n = nearest[inside]
    values[inside] = mask[n[:, 2], n[:, 1], n[:, 0]]
    return values.reshape(reference.shape)


def test_oblique_matches_numpy_nearest_neighbour():
    dce, t2w, blob = oblique_case()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the whole tumour is in the DCE field of view
        result = resample_mask(blob, t2w, dce)
    assert result.sum() > 50
    np.testing.assert_array_equal(result, numpy_nearest(blob, t2w, dce))


def test_oblique_matches_slicer_segmentation_export(tmp_path):
    slicer = pytest.importorskip("slicer")
    if not hasattr(slicer, "vtkSlicerSegmentationsModuleLogic"):
        pytest.skip("slicer-core without Segmentations")
    import vtk

    dce, t2w, blob = oblique_case()
    path = write_segmentation(tmp_path / "oblique.seg.nrrd", {"tumour": blob}, t2w)
    ours = read_tumour_mask(path, dce)
    slicer.mrmlScene = slicer.vtkMRMLScene()
    segmentation = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    storage = slicer.vtkMRMLSegmentationStorageNode()
    slicer.mrmlScene.AddNode(storage)
    storage.SetFileName(str(path))
    assert storage.ReadData(segmentation) == 1
    assert segmentation.GetSegmentation().GetNthSegment(0).GetName() == "tumour"
    reference = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
    image = vtk.vtkImageData()
    image.SetDimensions(*dce.size)
    image.AllocateScalars(vtk.VTK_UNSIGNED_CHAR, 1)
    reference.SetAndObserveImageData(image)
    matrix = vtk.vtkMatrix4x4()
    matrix.DeepCopy(dce.ijk_to_ras().ravel().tolist())
    reference.SetIJKToRASMatrix(matrix)
    labelmap = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode")
    ids = vtk.vtkStringArray()
    ids.InsertNextValue(segmentation.GetSegmentation().GetNthSegmentID(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert slicer.vtkSlicerSegmentationsModuleLogic.ExportSegmentsToLabelmapNode(segmentation, ids, labelmap,
                                                                                     reference)
    slicers = slicer.util.arrayFromVolume(labelmap) > 0
    assert slicers.shape == dce.shape and slicers.sum() > 50
    np.testing.assert_array_equal(ours, slicers)


# ------------------------------------------------------------------------------------------------------------
# Partial-volume fraction


def test_partial_volume_fraction_is_exact_for_nested_grids():
    """T2W voxels of half the DCE size tile each DCE voxel 2 x 2 x 2: fractions are counts / 8."""
    fine = Geometry((24, 20, 12), (0.5, 0.5, 2.5), tuple(DCE.index_to_lps([-0.25, -0.25, -0.25])), DCE.direction)
    mask = np.zeros(fine.shape, bool)
    mask[2:4, 4:6, 6:8] = True  # all 8 of DCE voxel (i, j, k) = (3, 2, 1)
    mask[4, 6:8, 10:12] = True  # 4 of 8 of DCE voxel (5, 3, 2)
    mask[6, 2, 2:4] = True
    mask[7, 2, 2] = True  # 3 of 8 of DCE voxel (1, 1, 3)
    fraction = partial_volume_fraction(mask, fine, DCE)
    expected = np.zeros(DCE.shape, np.float32)
    expected[1, 2, 3], expected[2, 3, 5], expected[3, 1, 1] = 1.0, 0.5, 0.375
    np.testing.assert_array_equal(fraction, expected)
    at_half = resample_mask(mask, fine, DCE, min_fraction=0.5)
    np.testing.assert_array_equal(at_half, expected >= 0.5)


# ------------------------------------------------------------------------------------------------------------
# Bad masks


def test_mask_outside_the_series(tmp_path):
    far = Geometry(T2W.size, T2W.spacing, tuple(np.asarray(T2W.origin) + [0.0, 0.0, 500.0]), T2W.direction)
    path = write_tumour_mask(paint_on_t2w(TUMOUR_VOXELS), far, tmp_path / "far.nrrd")
    with pytest.raises(InputError, match=r"far.nrrd: the tumour mask \(nonzero voxels\) does not overlap the DCE "
                                         r"series.*LPS, mm"):
        read_tumour_mask(path, DCE)


def test_mask_smaller_than_a_dce_voxel():
    mask = np.zeros(T2W.shape, bool)
    # DCE voxel centres sample the T2W voxels (a, b, c) = (2j + 6, 28 - 2i, 2k + 4), all even: one T2W voxel with
    # odd indices, inside the DCE field of view (at DCE index (9.2, 1.4, 0.4)), is seen by none.
    mask[5, 10, 9] = True
    with pytest.raises(InputError, match="covers no DCE voxel centre"):
        resample_mask(mask, T2W, DCE, source="m")


def test_mask_partly_outside_warns():
    shifted = Geometry(T2W.size, T2W.spacing, tuple(DCE_ORIGIN + R @ (T2W_OFFSET + [0.0, 0.0, 10.0])),
                       T2W.direction)
    with pytest.warns(UserWarning, match=r"% of the tumour mask .* lies outside the DCE series"):
        result = resample_mask(paint_on_t2w(TUMOUR_VOXELS), shifted, DCE)
    # Shifted by 10 mm = 2 DCE slices along k: slices 1-3 -> 3-5; the single voxel at k = 4 -> 6 is outside.
    expected = {(i, j, k + 2) for i, j, k in TUMOUR_VOXELS if k + 2 < 6}
    np.testing.assert_array_equal(result, dce_mask(expected))


def test_empty_label_map_and_missing_files(tmp_path):
    path = write_tumour_mask(np.zeros(T2W.shape, bool), T2W, tmp_path / "empty.nrrd")
    with pytest.raises(InputError, match="no nonzero voxel"):
        read_tumour_mask(path, DCE)
    with pytest.raises(InputError, match="mask file not found"):
        read_tumour_mask(tmp_path / "none.nrrd", DCE)
    broken = tmp_path / "broken.nrrd"
    broken.write_bytes(b"NRRD0004\ntype: what\n\n")
    with pytest.raises(InputError, match="broken.nrrd: could not read the mask"):
        read_tumour_mask(broken, DCE)


def test_4d_file_is_not_a_label_map(tmp_path):
    signal = np.zeros((2,) + T2W.shape, np.float32)
    path = write_dce(DceSeries(signal, np.array([0.0, 1.0]), T2W), tmp_path / "dce.nrrd")
    with pytest.raises(InputError, match="4D image.*expected a 3D label map"):
        read_tumour_mask(path, DCE)


def test_mask_on_the_dce_grid_is_unchanged(shared_data):
    """The in-vivo masks are on the DCE grid: resampling must give back the same voxels."""
    folder = shared_data / "invivo-dce-slice"
    series = read_dce(folder / "dce.nrrd")
    for name in ("mask_tissue.nrrd", "mask_all.nrrd"):
        stored = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / name))) != 0
        np.testing.assert_array_equal(read_tumour_mask(folder / name, series.geometry), stored)
