"""Tier 2: the module's "Analyse a tumour partly outside the DCE series" checkbox (the command line's
``--allow-mask-outside``) reaches the analysis, on real MRML (slicer-core).

A phantom tumour is drawn on T2W shifted upwards so that part of it lies above the DCE series' top slice. The
truth is the share of the tumour's T2W voxel centres above the DCE field of view, counted here with numpy on the
two grids (both axis-aligned); the voxels analysed are checked against the command line's resampling
(:func:`HypoxiaMarkersLib.io.masks.resample_mask`, SimpleITK), a route independent of Slicer's export.
"""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="tier-2 tests need the slicer-core wheel (pip install slicer-core)")
if not hasattr(slicer, "vtkMRMLScene"):  # pragma: no cover
    pytest.skip("the installed 'slicer' package is not slicer-core", allow_module_level=True)

from HypoxiaMarkersLib.errors import InputError  # noqa: E402
from HypoxiaMarkersLib.io.masks import MAX_SHARE_OUTSIDE, resample_mask  # noqa: E402
from HypoxiaMarkersLib.slicer import logic as slicer_logic  # noqa: E402
from HypoxiaMarkersLib.slicer import mrml  # noqa: E402
from HypoxiaMarkersLib.slicer.session import PatientSession, ResultState  # noqa: E402

from helpers.paths import REPO_ROOT  # noqa: E402
from helpers.slicer_source import field_defaults, parameter_fields  # noqa: E402

SMALL = dict(size=(40, 40, 5), tumour_radii_mm=(10.0, 9.0, 9.0), n_frames=20)
SHIFT_MM = 9.0  # upwards (superior, +z in LPS): part of the tumour above the DCE series' top slice


class Fields:
    """The module's parameter-node fields (names and defaults read from HypoxiaMarkers.py) as plain attributes."""

    def __init__(self):
        defaults = field_defaults()
        for name, kind in parameter_fields().items():
            setattr(self, name, defaults.get(name, None if kind == "node" else ""))

    def __setattr__(self, name, value):
        if name not in parameter_fields():
            raise AttributeError(f"{name} is not a field of the module's parameter node")
        object.__setattr__(self, name, value)

    def StartModify(self):
        return 0

    def EndModify(self, was_modifying):
        return 0


@pytest.fixture
def shifted(scene):
    """The phantom's series, and its tumour drawn 9 mm too high, chosen as the module's inputs."""
    nodes = slicer_logic.load_phantom(seed=5, scene=scene, name="P", **SMALL)
    phantom = nodes["phantom"]
    geometry = phantom.t2w_geometry
    moved = dataclasses.replace(geometry, origin=tuple(np.add(geometry.origin, (0.0, 0.0, SHIFT_MM))))
    mask = phantom.t2w_tumour_mask.astype(bool)
    segmentation = mrml.segmentation_from_mask(mask, moved, "P shifted tumour", scene=scene)
    p = Fields()
    p.dceSeries, p.t2wVolume, p.tumourSegmentation = nodes["dce"], nodes["t2w"], segmentation
    p.tumourSegmentId = mrml.find_segment_id(segmentation, "tumour")
    p.frameTimes = slicer_logic.detect_frame_times(nodes["dce"]).text
    return p, phantom, mask, moved


def applied_patient(scene, seed):
    """A phantom patient with the tumour inside the series, chosen and analysed (Apply)."""
    nodes = slicer_logic.load_phantom(seed=seed, scene=scene, name=f"S{seed}", **SMALL)
    p = Fields()
    p.dceSeries, p.tumourSegmentation, p.tumourSegmentId = nodes["dce"], nodes["segmentation"], nodes["segment_id"]
    session = PatientSession()
    return p, session, session.apply(p)


def share_above(mask, geometry, dce_geometry) -> float:
    """Share of the mask's voxel centres above (or below) the DCE field of view: axis-aligned grids, so z alone."""
    assert np.allclose(geometry.direction, np.eye(3).ravel()) and np.allclose(dce_geometry.direction,
                                                                             np.eye(3).ravel())
    z = geometry.origin[2] + geometry.spacing[2] * np.nonzero(mask)[0]
    low = dce_geometry.origin[2] - 0.5 * dce_geometry.spacing[2]
    high = dce_geometry.origin[2] + (dce_geometry.size[2] - 0.5) * dce_geometry.spacing[2]
    return float(np.mean((z < low) | (z >= high)))


def test_the_checkbox_named_in_the_message_is_the_one_in_the_panel():
    widgets = {w.get("name"): w for w in ET.parse(REPO_ROOT / "HypoxiaMarkers" / "Resources" / "UI"
                                                 / "HypoxiaMarkers.ui").getroot().iter("widget")}
    box = widgets["allowMaskOutsideCheckBox"]
    properties = {p.get("name"): p.find("./*").text for p in box.findall("property")}
    assert properties["text"] == slicer_logic.ALLOW_OUTSIDE_CHECKBOX
    assert properties["SlicerParameterName"] == "allowMaskOutside"
    assert "--allow-mask-outside" in properties["toolTip"]
    assert parameter_fields()["allowMaskOutside"] == "bool" and field_defaults()["allowMaskOutside"] is False


def test_a_tumour_partly_outside_is_refused_then_analysed_with_the_checkbox(shifted, tmp_path):
    p, phantom, mask, moved = shifted
    truth = share_above(mask, moved, phantom.series.geometry)
    assert 0.15 < truth < 0.6  # the case the checkbox is for (more than the 10 % accepted)
    assert truth > MAX_SHARE_OUTSIDE
    session = PatientSession()

    # Refused by default, and the message says which checkbox to tick (not the command line's option).
    with pytest.raises(InputError) as refused:
        session.apply(p)
    message = str(refused.value)
    assert f"{100 * truth:.1f}% of the tumour mask" in message
    assert f"tick '{slicer_logic.ALLOW_OUTSIDE_CHECKBOX}'" in message and "--allow-mask-outside" not in message
    assert session.state(p) is ResultState.NONE

    # Ticked: the part inside is analysed, the share recorded.
    p.allowMaskOutside = True
    run = session.apply(p)
    assert run.mask_share_outside == pytest.approx(truth, abs=1e-12)
    inside = resample_mask(mask, moved, phantom.series.geometry, max_share_outside=None)
    np.testing.assert_array_equal(run.tumour_mask, inside)
    assert run.result.n_tumour_voxels == int(inside.sum()) < int(resample_mask(
        mask, phantom.t2w_geometry, phantom.series.geometry).sum())
    assert f"{100 * truth:.1f}% of the tumour segment lies outside" in run.result.warnings[0]
    assert session.state(p) is ResultState.CURRENT
    out = session.export(p, str(tmp_path))
    inputs = json.loads(open(f"{out}/summary.json").read())["inputs"]
    assert inputs["allow_mask_outside"] is True
    assert inputs["mask_share_outside_dce"] == pytest.approx(truth, abs=1e-12)

    # Unticking it makes these results stale (export refused); ticking it again makes them current.
    p.allowMaskOutside = False
    assert session.sync(p) is ResultState.STALE
    with pytest.raises(InputError, match="Apply first"):
        session.export(p, str(tmp_path))
    p.allowMaskOutside = True
    assert session.sync(p) is ResultState.CURRENT


def test_a_tumour_inside_needs_no_checkbox_and_records_none_outside(scene, tmp_path):
    p, session, run = applied_patient(scene, 6)
    assert run.mask_share_outside == 0.0
    assert not any("outside the DCE series" in w for w in run.result.warnings)
    out = session.export(p, str(tmp_path))
    inputs = json.loads(open(f"{out}/summary.json").read())["inputs"]
    assert inputs["allow_mask_outside"] is False and inputs["mask_share_outside_dce"] == 0.0


def test_the_share_follows_a_transform_on_the_segmentation(shifted):
    """The segmentation under a linear transform (moved back down by the shift): nothing lies outside any more."""
    p, _phantom, _mask, _moved = shifted
    transform = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    matrix = np.eye(4)
    matrix[2, 3] = -SHIFT_MM  # RAS S = LPS z
    transform.SetMatrixTransformToParent(slicer.util.vtkMatrixFromArray(matrix))
    p.tumourSegmentation.SetAndObserveTransformNodeID(transform.GetID())
    share = mrml.segment_share_outside(p.tumourSegmentation, p.tumourSegmentId, mrml.reference_volume(p.dceSeries))
    assert share == 0.0
    p.tumourSegmentation.SetAndObserveTransformNodeID(None)
    assert mrml.segment_share_outside(p.tumourSegmentation, p.tumourSegmentId,
                                      mrml.reference_volume(p.dceSeries)) > MAX_SHARE_OUTSIDE


def test_export_writes_the_maps_in_the_format_chosen(scene, tmp_path):
    """The Map format combo box (mapFormat): NRRD by default, NIfTI (.nii.gz) as the command line's --format."""
    from HypoxiaMarkersLib.io.volumes import read_volume

    p, session, run = applied_patient(scene, 7)
    assert p.mapFormat == "nrrd"
    default = session.export(p, str(tmp_path / "nrrd"))
    p.mapFormat = "nifti"
    assert session.state(p) is ResultState.CURRENT  # the format is not an input of the analysis
    nifti = session.export(p, str(tmp_path / "nifti"))
    names = {path.name for path in (tmp_path / "nifti").glob("*/*")}
    assert {"a_brix.nii.gz", "hypoxic_mask.nii.gz", "slices.csv", "summary.json"} <= names
    assert not any(name.endswith(".nrrd") for name in names) and "quicklook.png" not in names
    for name in ("a_brix", "k_ep", "hypoxic_mask"):
        from_nrrd, geometry_nrrd = read_volume(tmp_path / "nrrd" / default.split("/")[-1] / f"{name}.nrrd")
        from_nifti, geometry_nifti = read_volume(tmp_path / "nifti" / nifti.split("/")[-1] / f"{name}.nii.gz")
        truth = getattr(run.result, name)
        np.testing.assert_array_equal(np.isnan(from_nifti), np.isnan(truth.astype(float)))
        np.testing.assert_allclose(from_nifti[~np.isnan(from_nifti)], truth[~np.isnan(truth.astype(float))],
                                   rtol=1e-6)
        np.testing.assert_array_equal(from_nifti, from_nrrd)
        assert geometry_nifti.same_grid(run.result.geometry) and geometry_nrrd.same_grid(run.result.geometry)
