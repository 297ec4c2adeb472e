"""Tier 2: an RTSTRUCT loaded in 3D Slicer through SlicerRT is a segmentation held as a closed surface (SlicerRT
turns the planar contours into a closed surface); such a segment must work as the tumour input, i.e. Slicer's
converter puts it on the DCE grid as a binary labelmap (HypoxiaMarkersLib.slicer.mrml.segment_mask).

SlicerRT is not in the slicer-core wheel, so the closed surface is made here from the phantom's T2W label map by
Slicer's own labelmap → closed surface conversion (no smoothing), and given to a new segmentation node whose
source representation is the closed surface, with no labelmap: what the module receives from SlicerRT.
"""

from __future__ import annotations

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="tier-2 tests need the slicer-core wheel (pip install slicer-core)")
if not hasattr(slicer, "vtkMRMLScene"):  # pragma: no cover
    pytest.skip("the installed 'slicer' package is not slicer-core", allow_module_level=True)

from scipy import ndimage  # noqa: E402

from HypoxiaMarkersLib.imaging import phantom  # noqa: E402
from HypoxiaMarkersLib.io.masks import resample_mask  # noqa: E402
from HypoxiaMarkersLib.slicer import mrml  # noqa: E402


def _closed_surface_segmentation(scene, mask, geometry, name):
    import vtk

    from_labelmap = mrml.segmentation_from_mask(mask, geometry, "drawn", name, scene=scene)
    from_labelmap.GetSegmentation().SetConversionParameter("Smoothing factor", "0.0")
    assert from_labelmap.CreateClosedSurfaceRepresentation()
    surface = vtk.vtkPolyData()
    segment_id = from_labelmap.GetSegmentation().GetNthSegmentID(0)
    assert from_labelmap.GetClosedSurfaceRepresentation(segment_id, surface)
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "RTSTRUCT")
    segmentation = node.GetSegmentation()
    if hasattr(segmentation, "SetSourceRepresentationName"):
        segmentation.SetSourceRepresentationName("Closed surface")
    else:  # pragma: no cover - Slicer < 5.4
        segmentation.SetMasterRepresentationName("Closed surface")
    node.AddSegmentFromClosedSurfaceRepresentation(surface, name, [1.0, 0.0, 0.0])
    scene.RemoveNode(from_labelmap)
    return node


def test_a_closed_surface_segment_is_the_tumour_on_the_dce_grid(scene):
    p = phantom.make_phantom(seed=14, size=(48, 48, 6), tumour_radii_mm=(12.0, 10.0, 11.0), n_frames=16)
    node = _closed_surface_segmentation(scene, p.t2w_tumour_mask, p.t2w_geometry, "GTV")
    segment = node.GetSegmentation().GetSegment(node.GetSegmentation().GetSegmentIdBySegmentName("GTV"))
    assert segment.GetRepresentation("Binary labelmap") is None  # only the surface, as from SlicerRT
    g = p.series.geometry
    reference = mrml.volume_from_array(np.zeros(g.shape, dtype=np.float32), g, "DCE frame", scene=scene)

    mask = mrml.segment_mask(node, "GTV", reference)

    label_map = resample_mask(p.t2w_tumour_mask, p.t2w_geometry, g)
    differ = mask != label_map
    edge = (label_map & ~ndimage.binary_erosion(label_map)) | (ndimage.binary_dilation(label_map) & ~label_map)
    # The surface runs half-way between T2W voxel centres, like the RTSTRUCT outline: only edge voxels differ.
    assert not (differ & ~edge).any()
    assert differ.sum() <= 0.03 * label_map.sum()  # measured: 33 of 1745 (1.9 %)
