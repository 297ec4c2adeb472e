"""Tier 2: the MRML bridge on real MRML nodes (the ``slicer-core`` wheel: Slicer's MRML without Qt).

Fixtures are written independently of the code under test (pynrrd writes the NRRD files exactly as Slicer and
MultiVolume do; expected masks are computed from the geometry by hand), then read with Slicer's own readers
(vtkMRMLVolumeSequenceStorageNode) and converted by ``HypoxiaMarkersLib.slicer.mrml``.
"""

from __future__ import annotations

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="tier-2 tests need the slicer-core wheel (pip install slicer-core)")
nrrd = pytest.importorskip("nrrd")
if not hasattr(slicer, "vtkMRMLScene"):  # pragma: no cover - a different package called slicer
    pytest.skip("the installed 'slicer' package is not slicer-core", allow_module_level=True)

from HypoxiaMarkersLib.errors import InputError  # noqa: E402
from HypoxiaMarkersLib.slicer import mrml  # noqa: E402
from HypoxiaMarkersLib.volume import Geometry  # noqa: E402


def _rotation_z(degrees: float) -> np.ndarray:
    a = np.deg2rad(degrees)
    return np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])


DCE_GEOMETRY = Geometry(
    size=(12, 10, 4),
    spacing=(1.6, 1.6, 5.0),
    origin=(-9.7, -8.1, -7.3),
    direction=tuple(_rotation_z(4.0).ravel()),
)


def _signal(n_frames: int, geometry: Geometry = DCE_GEOMETRY, seed: int = 1) -> np.ndarray:
    """A distinct float32 value for every voxel and frame: [t, k, j, i]."""
    rng = np.random.default_rng(seed)
    return (100.0 + 50.0 * rng.random((n_frames,) + geometry.shape)).astype(np.float32)


def _nrrd_space(geometry: Geometry):
    """NRRD 'space directions' rows (one per axis i, j, k) and origin, in LPS, from a Geometry."""
    directions = geometry.direction_matrix * np.asarray(geometry.spacing)  # columns = axis vectors
    return directions.T, np.asarray(geometry.origin, dtype=float)


def write_seq_nrrd(path, signal, geometry, *, index_values=None, label="time", unit="s"):
    """A 4D NRRD as Slicer writes a volume sequence (.seq.nrrd): axes i, j, k, then the frame axis."""
    rows, origin = _nrrd_space(geometry)
    data = np.transpose(signal, (3, 2, 1, 0))  # [t,k,j,i] -> [i,j,k,t] (pynrrd uses Fortran order by default)
    header = {
        "type": "float",
        "dimension": 4,
        "space": "left-posterior-superior",
        "kinds": ["domain", "domain", "domain", "list"],
        "space directions": np.vstack([rows, np.full(3, np.nan)]),
        "space origin": origin,
        "DataNodeClassName": "vtkMRMLScalarVolumeNode",
    }
    if label is not None:
        header["labels"] = ["", "", "", label]
    if unit is not None:
        header["units"] = ["", "", "", unit]
    if index_values is not None:
        header["axis 3 index type"] = "numeric"
        header["axis 3 index values"] = " ".join(f"{v:g}" for v in index_values)
    nrrd.write(str(path), data, header, custom_field_map={
        "DataNodeClassName": "string", "axis 3 index type": "string", "axis 3 index values": "string"})
    return path


def write_multivolume_nrrd(path, signal, geometry, frame_labels, *, tag="TriggerTime", units="ms"):
    """A MultiVolume NRRD as MultiVolumeExplorer writes it: frame axis first ('list'), times in attributes."""
    rows, origin = _nrrd_space(geometry)
    data = np.transpose(signal, (0, 3, 2, 1))  # [t,k,j,i] -> [t,i,j,k]
    header = {
        "type": "float",
        "dimension": 4,
        "space": "left-posterior-superior",
        "kinds": ["list", "domain", "domain", "domain"],
        "space directions": np.vstack([np.full(3, np.nan), rows]),
        "space origin": origin,
        "MultiVolume.FrameLabels": ",".join(f"{v:g}" for v in frame_labels),
        "MultiVolume.NumberOfFrames": str(len(frame_labels)),
    }
    if tag is not None:
        header["MultiVolume.FrameIdentifyingDICOMTagName"] = tag
    if units is not None:
        header["MultiVolume.FrameIdentifyingDICOMTagUnits"] = units
    nrrd.write(str(path), data, header)
    return path


def read_sequence(scene, path, name="DCE"):
    """Read a 4D NRRD with Slicer's reader (what File > Add data does for a sequence)."""
    sequence = scene.AddNewNodeByClass("vtkMRMLSequenceNode", name)
    storage = scene.AddNewNodeByClass("vtkMRMLVolumeSequenceStorageNode")
    storage.SetFileName(str(path))
    assert storage.ReadData(sequence) == 1
    sequence.SetAndObserveStorageNodeID(storage.GetID())
    return sequence


# --------------------------------------------------------------------------------------------------------------
# DCE series and frame times
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "unit, values, expected",
    [
        ("s", [0, 5.5, 11, 16.5, 22], [0, 5.5, 11, 16.5, 22]),
        ("ms", [0, 5500, 11000, 16500, 22000], [0, 5.5, 11, 16.5, 22]),
        ("min", [0, 0.5, 1, 1.5, 2], [0, 30, 60, 90, 120]),
    ],
)
def test_seq_nrrd_with_time_index(scene, tmp_path, unit, values, expected):
    signal = _signal(5)
    path = write_seq_nrrd(tmp_path / "dce.seq.nrrd", signal, DCE_GEOMETRY, index_values=values, unit=unit)
    sequence = read_sequence(scene, path)
    series = mrml.dce_from_node(sequence)
    np.testing.assert_array_equal(series.signal, signal)
    np.testing.assert_allclose(series.times_s, expected, rtol=1e-12)
    assert series.time_source == f"sequence index 'time' ({unit})"
    assert series.geometry.same_grid(DCE_GEOMETRY, tol=1e-5)
    times, source = mrml.frame_times_of_node(sequence)
    np.testing.assert_allclose(times, expected)


def test_multivolume_nrrd_with_frame_labels(scene, tmp_path):
    signal = _signal(6, seed=2)
    labels_ms = [0, 7200, 14400, 21600, 28800, 36000]
    path = write_multivolume_nrrd(tmp_path / "dce.nrrd", signal, DCE_GEOMETRY, labels_ms)
    sequence = read_sequence(scene, path)
    # Slicer gives such a file the index "frame" 0..N-1: the index must not be taken as times.
    assert sequence.GetIndexName() == "frame"
    assert [sequence.GetNthIndexValue(i) for i in range(6)] == ["0", "1", "2", "3", "4", "5"]
    series = mrml.dce_from_node(sequence)
    np.testing.assert_array_equal(series.signal, signal)
    np.testing.assert_allclose(series.times_s, np.asarray(labels_ms) / 1000.0)
    assert "MultiVolume.FrameLabels" in series.time_source and "ms" in series.time_source
    assert series.geometry.same_grid(DCE_GEOMETRY, tol=1e-5)


def test_multivolume_clock_times_are_made_relative(scene, tmp_path):
    signal = _signal(3, seed=3)
    clock_ms = [36_000_000, 36_006_500, 36_013_000]  # 10:00:00, 10:00:06.5, 10:00:13 as ms of the day
    path = write_multivolume_nrrd(tmp_path / "dce.nrrd", signal, DCE_GEOMETRY, clock_ms, tag="AcquisitionTime")
    series = mrml.dce_from_node(read_sequence(scene, path))
    np.testing.assert_allclose(series.times_s, [0.0, 6.5, 13.0])
    assert "relative to the first frame" in series.time_source


def test_multivolume_labels_that_are_not_times_are_refused(scene, tmp_path):
    signal = _signal(3, seed=4)
    path = write_multivolume_nrrd(tmp_path / "vfa.nrrd", signal, DCE_GEOMETRY, [2, 10, 15], tag="FlipAngle",
                                  units="degrees")
    sequence = read_sequence(scene, path)
    with pytest.raises(InputError, match="FlipAngle") as info:
        mrml.dce_from_node(sequence)
    assert "Frame times" in str(info.value)


def test_sequence_without_times_asks_for_them(scene, tmp_path):
    signal = _signal(4, seed=5)
    path = write_seq_nrrd(tmp_path / "dce.seq.nrrd", signal, DCE_GEOMETRY, index_values=None, label=None, unit=None)
    sequence = read_sequence(scene, path)
    times, reason = mrml.frame_times_of_node(sequence)
    assert times is None and "not a time" in reason
    with pytest.raises(InputError) as info:
        mrml.dce_from_node(sequence)
    message = str(info.value)
    assert "frame times are not known" in message and "Frame times field" in message and "4 times" in message
    # The times the user types are then used, and checked.
    series = mrml.dce_from_node(sequence, times=mrml.parse_times("0, 6, 12, 18"))
    np.testing.assert_allclose(series.times_s, [0, 6, 12, 18])
    assert series.time_source == "entered by the user"
    np.testing.assert_array_equal(series.signal, signal)
    with pytest.raises(InputError, match="3 frame times for 4 frames"):
        mrml.dce_from_node(sequence, times=[0, 6, 12])
    with pytest.raises(InputError, match="not strictly increasing"):
        mrml.dce_from_node(sequence, times=[0, 6, 6, 12])
    with pytest.raises(InputError, match="could not read the frame times"):
        mrml.parse_times("0, 6, twelve")


def test_sequence_index_named_after_a_dicom_tag(scene):
    """An index named after a DICOM clock tag is made relative; an echo-time index is not a frame time."""
    sequence = scene.AddNewNodeByClass("vtkMRMLSequenceNode", "tagged")
    for value in ("36000000", "36006500", "36013000"):
        frame = slicer.vtkMRMLScalarVolumeNode()
        slicer.util.updateVolumeFromArray(frame, np.ones((2, 3, 4), np.float32))
        sequence.SetDataNodeAtValue(frame, value)
    sequence.SetIndexName("AcquisitionTime")
    sequence.SetIndexUnit("ms")
    times, source = mrml.frame_times_of_node(sequence)
    np.testing.assert_allclose(times, [0.0, 6.5, 13.0])
    assert "relative to the first frame" in source
    sequence.SetIndexName("EchoTime")
    times, source = mrml.frame_times_of_node(sequence)
    assert times is None and "EchoTime" in source


def test_user_times_override_the_file(scene, tmp_path):
    signal = _signal(3, seed=6)
    path = write_seq_nrrd(tmp_path / "dce.seq.nrrd", signal, DCE_GEOMETRY, index_values=[0, 1, 2], unit="s")
    series = mrml.dce_from_node(read_sequence(scene, path), times=[0, 10, 20], time_source="typed")
    np.testing.assert_allclose(series.times_s, [0, 10, 20])
    assert series.time_source == "typed"


def test_frames_on_different_grids_are_refused(scene):
    sequence = scene.AddNewNodeByClass("vtkMRMLSequenceNode", "moved")
    for index, origin in enumerate([(0, 0, 0), (0, 0, 0), (0, 3, 0)]):
        geometry = Geometry(size=(4, 3, 2), spacing=(1, 1, 1), origin=origin)
        frame = slicer.vtkMRMLScalarVolumeNode()
        slicer.util.updateVolumeFromArray(frame, np.ones(geometry.shape, np.float32))
        mrml.set_geometry(frame, geometry)
        sequence.SetDataNodeAtValue(frame, str(index))
    sequence.SetIndexUnit("s")
    with pytest.raises(InputError, match="frame 3"):
        mrml.dce_from_node(sequence)


def test_multivolume_style_volume_with_components(scene):
    """A 4D volume whose scalar components are the frames (vtkMRMLMultiVolumeNode's layout)."""
    signal = _signal(5, seed=7)
    import vtk
    from vtk.util import numpy_support

    voxels = np.ascontiguousarray(np.moveaxis(signal, 0, 3))  # [k, j, i, t]
    image = vtk.vtkImageData()
    image.SetDimensions(*DCE_GEOMETRY.size)
    scalars = numpy_support.numpy_to_vtk(voxels.reshape(-1, 5), deep=True, array_type=vtk.VTK_FLOAT)
    image.GetPointData().SetScalars(scalars)
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "mv")
    node.SetAndObserveImageData(image)
    mrml.set_geometry(node, DCE_GEOMETRY)
    node.SetAttribute("MultiVolume.FrameLabels", "0,6000,12000,18000,24000")
    node.SetAttribute("MultiVolume.NumberOfFrames", "5")
    assert mrml.is_multivolume(node)
    series = mrml.dce_from_node(node)
    np.testing.assert_array_equal(series.signal, signal)
    np.testing.assert_allclose(series.times_s, [0, 6, 12, 18, 24])
    assert series.geometry.same_grid(DCE_GEOMETRY, tol=1e-6)
    node.SetAttribute("MultiVolume.FrameLabels", "0,6000,12000")
    with pytest.raises(InputError, match="3 frame labels for 5 frames"):
        mrml.dce_from_node(node)


def test_proxy_and_browser_resolve_to_their_sequence(scene, tmp_path):
    path = write_seq_nrrd(tmp_path / "dce.seq.nrrd", _signal(3), DCE_GEOMETRY, index_values=[0, 5, 10])
    sequence = read_sequence(scene, path)
    scene.RegisterNodeClass(slicer.vtkMRMLSequenceBrowserNode())  # the Sequences module does this in Slicer
    browser = scene.AddNewNodeByClass("vtkMRMLSequenceBrowserNode", "DCE browser")
    browser.SetAndObserveMasterSequenceNodeID(sequence.GetID())
    proxy = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "DCE proxy")
    browser.AddProxyNode(proxy, sequence, False)
    assert mrml.resolve_dce_node(browser) is sequence
    assert mrml.resolve_dce_node(proxy) is sequence
    plain = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "T2W")
    slicer.util.updateVolumeFromArray(plain, np.zeros((2, 3, 4), np.float32))
    with pytest.raises(InputError, match="not a 4D series"):
        mrml.resolve_dce_node(plain)


# --------------------------------------------------------------------------------------------------------------
# Segment drawn on T2W -> mask on the DCE grid
# --------------------------------------------------------------------------------------------------------------

T2W_GEOMETRY = Geometry(
    size=(44, 36, 9),
    spacing=(0.55, 0.55, 2.5),
    origin=(-11.3, -9.2, -9.1),
    direction=tuple(_rotation_z(-7.0).ravel()),
)


def _ellipsoid_on(geometry: Geometry, centre_lps, radii_mm) -> np.ndarray:
    k, j, i = np.indices(geometry.shape)
    ijk = np.stack([i, j, k], axis=-1).astype(float)
    lps = geometry.index_to_lps(ijk)
    return (((lps - np.asarray(centre_lps)) / np.asarray(radii_mm)) ** 2).sum(axis=-1) <= 1.0


def _nearest_neighbour_on(mask: np.ndarray, source: Geometry, target: Geometry) -> np.ndarray:
    """Expected resampling, computed by hand: each target voxel centre takes the source voxel it falls in."""
    k, j, i = np.indices(target.shape)
    lps = target.index_to_lps(np.stack([i, j, k], axis=-1).astype(float))
    index = np.floor(source.lps_to_index(lps) + 0.5).astype(int)
    inside = np.all((index >= 0) & (index < np.asarray(source.size)), axis=-1)
    out = np.zeros(target.shape, dtype=bool)
    ii, jj, kk = index[inside].T
    out[inside] = mask[kk, jj, ii]
    return out


def _data_node_ids(scene):
    """IDs of the nodes in the scene except the subject hierarchy (which the application always has)."""
    nodes = [scene.GetNthNode(i) for i in range(scene.GetNumberOfNodes())]
    return {node.GetID() for node in nodes if not node.IsA("vtkMRMLSubjectHierarchyNode")}


def test_segment_on_t2w_lands_on_the_right_dce_voxels(scene, tmp_path):
    tumour_t2w = _ellipsoid_on(T2W_GEOMETRY, centre_lps=(0.4, 1.1, 1.0), radii_mm=(6.5, 5.0, 7.0))
    assert 200 < tumour_t2w.sum()
    segmentation = mrml.segmentation_from_mask(tumour_t2w, T2W_GEOMETRY, "Tumour segmentation", "tumour")
    path = write_seq_nrrd(tmp_path / "dce.seq.nrrd", _signal(3), DCE_GEOMETRY, index_values=[0, 5, 10])
    sequence = read_sequence(scene, path)
    nodes_before = _data_node_ids(scene)

    mask = mrml.segment_mask(segmentation, "tumour", mrml.reference_volume(sequence))

    expected = _nearest_neighbour_on(tumour_t2w, T2W_GEOMETRY, DCE_GEOMETRY)
    assert mask.shape == DCE_GEOMETRY.shape and mask.dtype == bool
    assert expected.sum() > 20
    # Slicer resamples in physical space (here through two different rotations and grids): same voxels as the
    # hand computation, voxel for voxel.
    np.testing.assert_array_equal(mask, expected)
    assert _data_node_ids(scene) == nodes_before, "the temporary label map must not stay in the scene"
    # By segment ID too, and with the only segment chosen automatically.
    segment_id = mrml.find_segment_id(segmentation, "tumour")
    np.testing.assert_array_equal(mrml.segment_mask(segmentation, segment_id, mrml.reference_volume(sequence)), mask)
    np.testing.assert_array_equal(mrml.segment_mask(segmentation, "", mrml.reference_volume(sequence)), mask)


def test_segment_errors_name_the_problem(scene, tmp_path):
    far_away = Geometry(size=(10, 10, 3), spacing=(1, 1, 3), origin=(500, 500, 500))
    mask = np.zeros(far_away.shape, bool)
    mask[1, 3:6, 3:6] = True
    segmentation = mrml.segmentation_from_mask(mask, far_away, "Elsewhere", "tumour")
    path = write_seq_nrrd(tmp_path / "dce.seq.nrrd", _signal(3), DCE_GEOMETRY, index_values=[0, 5, 10])
    reference = mrml.reference_volume(read_sequence(scene, path))
    with pytest.raises(InputError, match="does not overlap the DCE volume"):
        mrml.segment_mask(segmentation, "tumour", reference)
    with pytest.raises(InputError, match="no segment 'bladder'"):
        mrml.segment_mask(segmentation, "bladder", reference)
    empty = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Empty")
    with pytest.raises(InputError, match="draw the tumour first"):
        mrml.segment_mask(empty, "", reference)


# --------------------------------------------------------------------------------------------------------------
# Outputs: volumes, label maps, tables, plots, the biopsy-slice outline
# --------------------------------------------------------------------------------------------------------------


def _ijk_to_ras_of(node) -> np.ndarray:
    import vtk

    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return slicer.util.arrayFromVTKMatrix(matrix)


def test_output_volumes_have_the_dce_geometry(scene, tmp_path):
    path = write_seq_nrrd(tmp_path / "dce.seq.nrrd", _signal(3), DCE_GEOMETRY, index_values=[0, 5, 10])
    sequence = read_sequence(scene, path)
    frame = mrml.reference_volume(sequence)
    series = mrml.dce_from_node(sequence)
    a_brix = np.full(series.geometry.shape, np.nan, dtype=np.float32)
    a_brix[1:3, 2:5, 3:7] = np.linspace(0.5, 3.0, 24).reshape(2, 3, 4)

    node = mrml.volume_from_array(a_brix, series.geometry, "A_Brix")
    assert node.IsA("vtkMRMLScalarVolumeNode") and not node.IsA("vtkMRMLLabelMapVolumeNode")
    np.testing.assert_allclose(_ijk_to_ras_of(node), _ijk_to_ras_of(frame), atol=1e-6)
    got = slicer.util.arrayFromVolume(node)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(a_brix))
    np.testing.assert_array_equal(got[~np.isnan(got)], a_brix[~np.isnan(a_brix)])

    mrml.set_window(node, 0.0, 3.12)
    display = node.GetDisplayNode()
    assert (display.GetWindow(), display.GetLevel()) == pytest.approx((3.12, 1.56))
    assert display.GetApplyThreshold() and display.GetLowerThreshold() == pytest.approx(0.5)

    hypoxic = np.zeros(series.geometry.shape, dtype=bool)
    hypoxic[1, 2, 3:5] = True
    label = mrml.label_map_from_mask(hypoxic, series.geometry, "Hypoxic voxels")
    assert label.IsA("vtkMRMLLabelMapVolumeNode")
    np.testing.assert_allclose(_ijk_to_ras_of(label), _ijk_to_ras_of(frame), atol=1e-6)
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(label), hypoxic.astype(np.uint8))
    color = label.GetDisplayNode().GetColorNode()
    rgba = [0.0] * 4
    color.GetColor(1, rgba)
    assert rgba == pytest.approx([1.0, 0.0, 0.0, 1.0])
    color.GetColor(0, rgba)
    assert rgba[3] == 0.0

    # Updating an existing node keeps it (a saved scene keeps referring to the same node).
    same = mrml.volume_from_array(a_brix * 2, series.geometry, "ignored", node=node)
    assert same is node and node.GetName() == "A_Brix"
    np.testing.assert_allclose(np.nanmax(slicer.util.arrayFromVolume(node)), 6.0)

    with pytest.raises(ValueError, match="does not match the grid"):
        mrml.volume_from_array(np.zeros((1, 2, 3)), series.geometry, "bad")


def test_outputs_follow_the_dce_transform(scene):
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "registration")
    proxy = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "DCE proxy")
    proxy.SetAndObserveTransformNodeID(transform.GetID())
    node = mrml.volume_from_array(np.zeros(DCE_GEOMETRY.shape, np.float32), DCE_GEOMETRY, "k_ep",
                                  reference_node=proxy)
    assert node.GetTransformNodeID() == transform.GetID()


def test_tables_and_plots_hold_the_expected_columns(scene):
    table = mrml.table_from_columns(
        {
            "slice": np.array([1, 2, 3]),
            "hypoxic_fraction": np.array([0.1, 0.25, np.nan]),
            "classification": ["less hypoxic", "less hypoxic", ""],
            "is_biopsy_slice": np.array([True, False, False]),
        },
        "Slices",
        units={"hypoxic_fraction": "fraction"},
        descriptions={"slice": "1 = lowest (caudal) slice with tumour"},
    )
    assert table.IsA("vtkMRMLTableNode")
    vtk_table = table.GetTable()
    assert [vtk_table.GetColumnName(i) for i in range(vtk_table.GetNumberOfColumns())] == [
        "slice", "hypoxic_fraction", "classification", "is_biopsy_slice"]
    assert vtk_table.GetColumnByName("slice").IsA("vtkIntArray")
    assert vtk_table.GetColumnByName("hypoxic_fraction").IsA("vtkDoubleArray")
    assert vtk_table.GetColumnByName("classification").IsA("vtkStringArray")
    assert table.GetColumnUnitLabel("hypoxic_fraction") == "fraction"
    assert table.GetColumnDescription("slice").startswith("1 = lowest")
    columns = mrml.table_columns(table)
    np.testing.assert_array_equal(columns["slice"], [1, 2, 3])
    np.testing.assert_array_equal(columns["is_biopsy_slice"], [1, 0, 0])
    assert list(columns["classification"]) == ["less hypoxic", "less hypoxic", ""]
    assert np.isnan(columns["hypoxic_fraction"][2])

    series = mrml.plot_series(table, "slice", "hypoxic_fraction", "HF per slice", kind="bar", color=(0.8, 0.1, 0.1))
    # Bars at their X values (slices 1..N), not at the row index: ScatterBar (PlotTypeBar ignores the X column).
    assert series.GetPlotType() == slicer.vtkMRMLPlotSeriesNode.PlotTypeScatterBar and series.IsXColumnRequired()
    assert (series.GetXColumnName(), series.GetYColumnName()) == ("slice", "hypoxic_fraction")
    assert series.GetTableNodeID() == table.GetID()
    chart = mrml.plot_chart([series], "Hypoxic fraction per slice", x_title="slice", y_title="HF", y_range=(0, 1))
    assert chart.GetNumberOfPlotSeriesNodes() == 1 and chart.GetNthPlotSeriesNodeID(0) == series.GetID()
    assert chart.GetXAxisTitle() == "slice" and chart.GetYAxisTitle() == "HF"
    assert tuple(chart.GetYAxisRange()) == (0.0, 1.0)
    # Refilling replaces the rows and the chart's series.
    mrml.table_from_columns({"slice": [1], "hypoxic_fraction": [0.5]}, "ignored", node=table)
    assert table.GetNumberOfRows() == 1 and table.GetNumberOfColumns() == 2
    line = mrml.plot_series(table, "slice", "hypoxic_fraction", "line", kind="line")
    assert line.IsXColumnRequired() and line.GetMarkerStyle() == slicer.vtkMRMLPlotSeriesNode.MarkerStyleNone
    mrml.plot_chart([line], "ignored", node=chart)
    assert chart.GetNumberOfPlotSeriesNodes() == 1 and chart.GetNthPlotSeriesNodeID(0) == line.GetID()
    with pytest.raises(ValueError, match="no column 'volume'"):
        mrml.plot_series(table, "slice", "volume", "bad")


def test_biopsy_slice_outline_and_jump(scene):
    mask = np.zeros(DCE_GEOMETRY.shape, dtype=bool)
    mask[2, 3:6, 4:9] = True
    roi = mrml.slice_outline(DCE_GEOMETRY, 2, mask, margin_voxels=1.0)
    low, high = mrml.roi_bounds_ijk(roi, DCE_GEOMETRY)
    # One slice thick (k = 2 +- 0.5), in-plane the tumour's voxels +- half a voxel + 1 voxel margin.
    np.testing.assert_allclose(low, [4 - 1.5, 3 - 1.5, 1.5], atol=1e-5)
    np.testing.assert_allclose(high, [8 + 1.5, 5 + 1.5, 2.5], atol=1e-5)
    moved = mrml.slice_outline(DCE_GEOMETRY, 0, None, node=roi)
    assert moved is roi
    low, high = mrml.roi_bounds_ijk(roi, DCE_GEOMETRY)
    np.testing.assert_allclose(low, [-0.5, -0.5, -0.5], atol=1e-5)
    np.testing.assert_allclose(high, [11.5, 9.5, 0.5], atol=1e-5)

    slicer.vtkMRMLSliceNode.AddDefaultSliceOrientationPresets(scene)
    red = scene.AddNewNodeByClass("vtkMRMLSliceNode")
    red.SetLayoutName("Red")
    red.SetOrientation("Axial")
    centre = mrml.slice_centre_ras(DCE_GEOMETRY, 2, mask)
    np.testing.assert_allclose(centre, mrml.ras_of_index(DCE_GEOMETRY, [6.0, 4.0, 2.0]))
    mrml.jump_slices_to(centre)
    assert red.GetSliceOffset() == pytest.approx(centre[2])
    assert mrml.index_of_ras(DCE_GEOMETRY, centre) == (6, 4, 2)


def test_geometry_round_trip_through_a_node(scene):
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "v")
    slicer.util.updateVolumeFromArray(node, np.zeros(DCE_GEOMETRY.shape, np.float32))
    mrml.set_geometry(node, DCE_GEOMETRY)
    assert mrml.geometry_of(node).same_grid(DCE_GEOMETRY, tol=1e-9)
    # LPS origin shows up with R and A negated in RAS.
    np.testing.assert_allclose(_ijk_to_ras_of(node)[:3, 3], [9.7, 8.1, -7.3])
