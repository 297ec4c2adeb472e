"""Tier 2: the Slicer module's work (HypoxiaMarkersLib.slicer.logic) on real MRML nodes (slicer-core).

The end-to-end check: the same phantom files analysed by ``hypoxia-markers image`` and, read with Slicer's own
readers into a scene, by the module's logic, give exactly the same numbers and maps.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="tier-2 tests need the slicer-core wheel (pip install slicer-core)")
if not hasattr(slicer, "vtkMRMLScene"):  # pragma: no cover
    pytest.skip("the installed 'slicer' package is not slicer-core", allow_module_level=True)

import SimpleITK as sitk  # noqa: E402

from HypoxiaMarkersLib import cli  # noqa: E402
from HypoxiaMarkersLib.errors import InputError  # noqa: E402
from HypoxiaMarkersLib.imaging import phantom  # noqa: E402
from HypoxiaMarkersLib.imaging.analysis import analyse_dce  # noqa: E402
from HypoxiaMarkersLib.imaging.brix import brix_curve  # noqa: E402
from HypoxiaMarkersLib.io.masks import resample_mask  # noqa: E402
from HypoxiaMarkersLib.io.volumes import geometry_of_image  # noqa: E402
from HypoxiaMarkersLib.slicer import logic as slicer_logic  # noqa: E402
from HypoxiaMarkersLib.slicer import mrml  # noqa: E402

SMALL_PHANTOM = dict(size=(48, 48, 6), tumour_radii_mm=(12.0, 10.0, 11.0), n_frames=24)


@pytest.fixture
def sequences_logic(scene):
    """Slicer's Sequences logic on the scene: sequence browsers and proxy volumes, as in the application."""
    logic = slicer.vtkSlicerSequencesLogic()
    logic.SetMRMLScene(scene)
    yield logic
    logic.SetMRMLScene(None)


@pytest.fixture(scope="module")
def phantom_files(tmp_path_factory):
    """A phantom written to files, and the ``hypoxia-markers image`` results for it."""
    folder = tmp_path_factory.mktemp("phantom")
    p = phantom.make_phantom(seed=5, **SMALL_PHANTOM)
    phantom.write_phantom(p, folder / "phantom")
    status = cli.main(["image", str(folder / "phantom" / "dce.seq.nrrd"), "--mask",
                       str(folder / "phantom" / "tumour_mask_t2w.nrrd"), "--out", str(folder / "cli"), "--quiet"])
    assert status == 0
    return folder, p


def read_with_slicer(scene, folder):
    """Load the phantom files as a user would: the sequence, and the T2W label map imported as a segmentation."""
    sequence = scene.AddNewNodeByClass("vtkMRMLSequenceNode", "DCE")
    storage = scene.AddNewNodeByClass("vtkMRMLVolumeSequenceStorageNode")
    storage.SetFileName(str(folder / "phantom" / "dce.seq.nrrd"))
    assert storage.ReadData(sequence) == 1
    labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "tumour label map")
    label_storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    label_storage.SetFileName(str(folder / "phantom" / "tumour_mask_t2w.nrrd"))
    assert label_storage.ReadData(labelmap) == 1
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Tumour")
    assert slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(labelmap, segmentation)
    return sequence, segmentation


def _read_map(path):
    image = sitk.ReadImage(str(path))
    return sitk.GetArrayFromImage(image), geometry_of_image(image)


# --------------------------------------------------------------------------------------------------------------
# End to end: the module's logic reproduces `hypoxia-markers image`
# --------------------------------------------------------------------------------------------------------------


def test_logic_reproduces_the_image_command_exactly(scene, phantom_files):
    folder, _ = phantom_files
    sequence, segmentation = read_with_slicer(scene, folder)
    times = slicer_logic.detect_frame_times(sequence)
    assert times.source == "sequence index 'time' (s)"

    run = slicer_logic.run_imaging(sequence, segmentation, "", slicer_logic.imaging_parameters(),
                                   times_text=times.text)
    nodes = slicer_logic.publish_results(run, reference_node=mrml.reference_volume(sequence), name="P")
    result = run.result
    cli_summary = json.loads((folder / "cli" / "summary.json").read_text())

    # The tumour's numbers: identical, not just close.
    for key in ("hypoxic_fraction", "classification", "n_tumour_voxels", "n_fitted", "n_failed", "n_hypoxic"):
        assert getattr(result, key) == cli_summary[key], key
    assert result.summary()["slices"] == cli_summary["slices"]
    assert result.baseline_frames == cli_summary["bolus_arrival"]["baseline_frames"]
    assert result.mean_curve.t_lag_s == cli_summary["bolus_arrival"]["t_lag_s"]
    np.testing.assert_array_equal(result.times_s, cli_summary["frame_times_s"])
    assert result.parameters.as_dict() == cli_summary["parameters"]

    # The maps in the scene: the command's NRRD files voxel for voxel, on the same grid.
    for role, filename in (("a_brix", "a_brix"), ("k_ep", "k_ep"), ("k_el", "k_el"), ("r_squared", "r_squared"),
                           ("hypoxic", "hypoxic_mask")):
        expected, geometry = _read_map(folder / "cli" / f"{filename}.nrrd")
        got = slicer.util.arrayFromVolume(nodes[role])
        np.testing.assert_array_equal(got, expected.astype(got.dtype), err_msg=role)
        assert mrml.geometry_of(nodes[role]).same_grid(geometry, tol=1e-5), role
    assert nodes["hypoxic"].IsA("vtkMRMLLabelMapVolumeNode")

    # The per-slice table: the command's slices.csv.
    with open(folder / "cli" / "slices.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns = mrml.table_columns(nodes["slice_table"])
    assert list(columns) == list(slicer_logic.SLICE_COLUMNS)
    np.testing.assert_array_equal(columns["slice"], [int(r["slice"]) for r in rows])
    np.testing.assert_allclose(columns["hypoxic_fraction"], [float(r["hypoxic_fraction"]) for r in rows],
                               rtol=0, atol=5e-7)
    np.testing.assert_array_equal(columns["is_biopsy_slice"], [int(r["is_biopsy_slice"]) for r in rows])
    assert list(columns["classification"]) == [r["classification"] for r in rows]

    # The mean curve and its fit, and the bar chart of per-slice fractions.
    curve = mrml.table_columns(nodes["curve_table"])
    np.testing.assert_array_equal(curve["mean_rsi"], cli_summary["mean_curve"]["rsi"])
    np.testing.assert_array_equal(curve["brix_fit_rsi"], cli_summary["mean_curve"]["fitted_rsi"])
    assert nodes["slice_series"].GetPlotType() == slicer.vtkMRMLPlotSeriesNode.PlotTypeScatterBar
    assert nodes["slice_chart"].GetNthPlotSeriesNodeID(0) == nodes["slice_series"].GetID()
    assert nodes["curve_chart"].GetNumberOfPlotSeriesNodes() == 2
    # A_Brix is shown with the window 0 .. 2 x threshold (the threshold mid-scale).
    display = nodes["a_brix"].GetDisplayNode()
    assert (display.GetWindow(), display.GetLevel()) == pytest.approx((3.12, 1.56))


def test_phantom_sample_data_as_nodes(scene, sequences_logic):
    nodes = slicer_logic.load_phantom(seed=3, scene=scene, sequences_logic=sequences_logic, **SMALL_PHANTOM)
    p = nodes["phantom"]
    proxy = mrml.proxy_of(nodes["dce"])
    assert proxy is not None and proxy.IsA("vtkMRMLScalarVolumeNode")
    assert mrml.reference_volume(nodes["dce"]) is proxy
    # The user picks the volume shown in the views (the proxy): the logic finds its sequence.
    run = slicer_logic.run_imaging(proxy, nodes["segmentation"], nodes["segment_id"])
    expected_mask = resample_mask(p.t2w_tumour_mask.astype(bool), p.t2w_geometry, p.series.geometry)
    np.testing.assert_array_equal(run.tumour_mask, expected_mask)
    np.testing.assert_array_equal(run.series.signal, p.series.signal)
    reference = analyse_dce(p.series, expected_mask)
    assert run.result.hypoxic_fraction == reference.hypoxic_fraction
    np.testing.assert_array_equal(run.result.a_brix, reference.a_brix)
    # And close to the truth the phantom was made with.
    assert abs(run.result.hypoxic_fraction - p.hypoxic_fraction) < 0.05
    assert mrml.geometry_of(nodes["t2w"]).same_grid(p.t2w_geometry)
    assert nodes["gene_score"] == slicer_logic.PHANTOM_GENE_SCORE


# --------------------------------------------------------------------------------------------------------------
# Biopsy slice, voxel curves
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture
def analysed(scene):
    nodes = slicer_logic.load_phantom(seed=4, scene=scene, **SMALL_PHANTOM)
    run = slicer_logic.run_imaging(nodes["dce"], nodes["segmentation"], "tumour")
    outputs = slicer_logic.publish_results(run, reference_node=mrml.reference_volume(nodes["dce"]))
    return nodes, run, outputs


def test_changing_the_biopsy_slice_updates_at_once_without_refit(scene, analysed):
    _, run, outputs = analysed
    result = run.result
    assert len(result.slices) >= 3 and result.biopsy_slice.slice == 1
    a_brix_before = slicer.util.arrayFromVolume(outputs["a_brix"]).copy()

    updated = slicer_logic.change_biopsy_slice(result, 3, outputs, run.tumour_mask)
    assert updated.biopsy_slice.slice == 3
    assert updated.biopsy_slice.hypoxic_fraction == result.slices[2].hypoxic_fraction
    assert updated.a_brix is result.a_brix  # no refit
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(outputs["a_brix"]), a_brix_before)
    flags = mrml.table_columns(outputs["slice_table"])["is_biopsy_slice"]
    np.testing.assert_array_equal(flags, [0, 0, 1] + [0] * (len(result.slices) - 3))
    assert "biopsy slice 3" in outputs["slice_chart"].GetTitle()
    low, high = mrml.roi_bounds_ijk(outputs["biopsy_outline"], result.geometry)
    k = result.slices[2].k_index
    assert (low[2], high[2]) == pytest.approx((k - 0.5, k + 0.5), abs=1e-5)
    row = slicer_logic.biopsy_slice_from_table(outputs["slice_table"], 3)
    assert row["slice"] == 3 and row["hypoxic_fraction"] == pytest.approx(result.slices[2].hypoxic_fraction)
    with pytest.raises(InputError, match="does not exist"):
        slicer_logic.biopsy_slice_from_table(outputs["slice_table"], 99)
    with pytest.raises(InputError, match="does not exist"):
        slicer_logic.change_biopsy_slice(result, 0, outputs)

    # A scene restored from file (no analysis in memory): the table, title and outline follow too.
    restored = slicer_logic.restored_biopsy_slice(outputs, 2)
    assert restored["slice"] == 2 and restored["hypoxic_fraction"] == pytest.approx(result.slices[1].hypoxic_fraction)
    columns = mrml.table_columns(outputs["slice_table"])
    np.testing.assert_array_equal(columns["is_biopsy_slice"], [0, 1] + [0] * (len(result.slices) - 2))
    np.testing.assert_array_equal(columns["slice"], np.arange(1, len(result.slices) + 1))
    assert list(columns["classification"]) == [s.classification for s in result.slices]
    assert "biopsy slice 2" in outputs["slice_chart"].GetTitle()
    low, high = mrml.roi_bounds_ijk(outputs["biopsy_outline"], result.geometry)
    assert (low[2], high[2]) == pytest.approx((result.slices[1].k_index - 0.5, result.slices[1].k_index + 0.5),
                                              abs=1e-5)

    slicer.vtkMRMLSliceNode.AddDefaultSliceOrientationPresets(scene)
    red = scene.AddNewNodeByClass("vtkMRMLSliceNode")
    red.SetLayoutName("Red")
    red.SetOrientation("Axial")
    centre = slicer_logic.show_biopsy_slice(updated, run.tumour_mask, scene=scene)
    assert mrml.index_of_ras(result.geometry, centre)[2] == k
    assert red.GetSliceOffset() == pytest.approx(centre[2])


def test_voxel_curve_under_the_crosshair(scene, analysed):
    _, run, outputs = analysed
    result = run.result
    k, j, i = (int(v) for v in np.argwhere(np.isfinite(result.a_brix))[7])
    ras = mrml.ras_of_index(result.geometry, [i + 0.3, j - 0.2, k + 0.1])  # anywhere inside the voxel
    curve = slicer_logic.voxel_curve(run, ras)
    assert curve.ijk == (i, j, k) and curve.in_tumour and curve.note == ""
    signal = run.series.signal[:, k, j, i].astype(float)
    s0 = signal[: result.baseline_frames].mean()
    np.testing.assert_allclose(curve.rsi, signal / s0 - 1.0, rtol=1e-12)
    expected_fit = brix_curve((result.times_s - result.mean_curve.t_lag_s) / 60.0, result.a_brix[k, j, i],
                              result.k_ep[k, j, i], result.k_el[k, j, i])
    np.testing.assert_allclose(curve.fitted_rsi, expected_fit, rtol=1e-12)
    # The fit describes the voxel: its R² is the one in the map.
    residual = curve.rsi[result.baseline_frames:] - curve.fitted_rsi[result.baseline_frames:]
    assert np.sqrt(np.mean(residual ** 2)) < 0.5 * np.ptp(curve.rsi)

    slicer_logic.publish_voxel_curve(curve, outputs)
    assert outputs["curve_chart"].GetNumberOfPlotSeriesNodes() == 4
    assert outputs["voxel_table"].GetNumberOfRows() == result.times_s.size

    outside = slicer_logic.voxel_curve(run, mrml.ras_of_index(result.geometry, [0, 0, k]))
    assert not outside.in_tumour and "outside the tumour" in outside.note and np.isnan(outside.fitted_rsi).all()
    with pytest.raises(InputError, match="outside the DCE volume"):
        slicer_logic.voxel_curve(run, mrml.ras_of_index(result.geometry, [-5, 0, 0]))


# --------------------------------------------------------------------------------------------------------------
# Frame times and input errors
# --------------------------------------------------------------------------------------------------------------


def test_times_typed_or_left_as_found(scene):
    nodes = slicer_logic.load_phantom(seed=6, scene=scene, **SMALL_PHANTOM)
    found = slicer_logic.detect_frame_times(nodes["dce"])
    times, source = slicer_logic.times_for_run(nodes["dce"], found.text)
    assert source == "sequence index 'time' (s)"
    np.testing.assert_array_equal(times, nodes["phantom"].series.times_s)
    typed = ", ".join(str(t * 1.5) for t in found.times_s)
    times, source = slicer_logic.times_for_run(nodes["dce"], typed)
    assert source == "entered in the module"
    np.testing.assert_allclose(times, found.times_s * 1.5)
    run = slicer_logic.run_imaging(nodes["dce"], nodes["segmentation"], "", times_text=typed)
    assert run.result.time_source == "entered in the module"
    np.testing.assert_allclose(run.result.times_s, found.times_s * 1.5)

    nodes["dce"].SetIndexUnit("")
    missing = slicer_logic.detect_frame_times(nodes["dce"])
    assert missing.times_s is None and missing.text == "" and "type the 24 frame times" in missing.source
    with pytest.raises(InputError, match="frame times are not known"):
        slicer_logic.run_imaging(nodes["dce"], nodes["segmentation"], "")
    with pytest.raises(InputError, match="choose the DCE-MRI series"):
        slicer_logic.run_imaging(None, nodes["segmentation"], "")
    with pytest.raises(InputError, match="no tumour segmentation"):
        slicer_logic.run_imaging(nodes["dce"], None, "", times_text=found.text)


def test_imaging_parameters_from_the_module_fields():
    parameters = slicer_logic.imaging_parameters(a_threshold=1.4, hf_cutoff=0.3, biopsy_slice=2, baseline_frames=0,
                                                 injection_duration_s=30, fit_lag_per_voxel=True)
    assert parameters.baseline_frames is None  # 0 = detected automatically
    assert (parameters.a_threshold, parameters.hf_cutoff, parameters.biopsy_slice) == (1.4, 0.3, 2)
    assert parameters.injection_duration_s == 30.0 and parameters.fit_lag_per_voxel
    assert slicer_logic.imaging_parameters(baseline_frames=8).baseline_frames == 8


# --------------------------------------------------------------------------------------------------------------
# Genes, composite, summary, export
# --------------------------------------------------------------------------------------------------------------

GENES = ["DDIT3", "ERO1L", "KCTD11", "P4HA2", "STC2", "UPK1A"]  # ERO1A under its older array symbol


def test_gene_scores_from_an_expression_file_by_hand(tmp_path):
    rng = np.random.default_rng(8)
    values = 7.0 + 2.0 * rng.random((len(GENES), 12))
    samples = [f"S{n:02d}" for n in range(12)]
    path = tmp_path / "expression.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["gene"] + samples)
        for gene, row in zip(GENES, values):
            writer.writerow([gene] + [f"{v:.6f}" for v in row])
    table = slicer_logic.read_gene_scores(path)
    # By hand: each gene centred on its median over the cohort, then the mean of the six (SPEC §2).
    rounded = np.round(values, 6)
    expected = (rounded - np.median(rounded, axis=1, keepdims=True)).mean(axis=0)
    assert table.samples == samples
    np.testing.assert_allclose([table.scores[s] for s in samples], expected, atol=1e-9)
    assert table.classifications["S03"] == ("more hypoxic" if expected[3] >= 0 else "less hypoxic")
    assert table.cutoff == 0.0 and "reference cohort" in table.source


def test_gene_scores_from_a_scores_table(tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text("sample,hypoxia_score,classification,n_genes\nP1,0.42,more hypoxic,6\nP2,-0.3,less hypoxic,6\n")
    table = slicer_logic.read_gene_scores(path)
    assert table.samples == ["P1", "P2"] and table.scores == {"P1": 0.42, "P2": -0.3}
    assert table.classifications["P2"] == "less hypoxic"
    bad = tmp_path / "bad.csv"
    bad.write_text("sample,hypoxia_score\nP1,high\n")
    with pytest.raises(InputError, match="'high' is not a number"):
        slicer_logic.read_gene_scores(bad)
    with pytest.raises(InputError, match="file not found"):
        slicer_logic.read_gene_scores(tmp_path / "none.csv")
    assert slicer_logic.parse_gene_score(" 0,25 ") == 0.25 and slicer_logic.parse_gene_score("") is None
    with pytest.raises(InputError, match="is not a number"):
        slicer_logic.parse_gene_score("abc")


def test_composite_line_from_cohort_results(tmp_path):
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"n": 118, "line": {"x0": 0.42, "y0": 0.8, "direction": 1.0},
                                   "composite": {"line": {"x0": 0.42, "y0": 0.8}}}))
    assert slicer_logic.composite_line_from_results(results) == (0.42, 0.8, "results.json (cohort of 118)")
    only_composite = tmp_path / "composite.json"
    only_composite.write_text(json.dumps({"composite": {"line": {"x0": 0.3, "y0": 1.2}}}))
    assert slicer_logic.composite_line_from_results(only_composite)[:2] == (0.3, 1.2)
    for text, message in (("{}", "no composite line"), ("not json", "not readable as JSON"),
                          (json.dumps({"line": {"x0": -1, "y0": 1}}), "not both positive")):
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(InputError, match=message):
            slicer_logic.composite_line_from_results(bad)


@pytest.mark.parametrize(
    "hf, score, group",
    [(0.40, 0.5, 1), (0.10, 0.5, 2), (0.10, -0.5, 3), (0.40, -0.5, 4), (0.27, 0.0, 1)],
)
def test_patient_summary_groups_and_hscomp(hf, score, group):
    summary = slicer_logic.patient_summary(hf, 0.27, score, 0.0, 0.5, 1.0)
    assert summary["group"] == group
    # HScomp by hand: signed distance to x/0.5 + y/1.0 = 1.
    expected = (hf / 0.5 + score / 1.0 - 1.0) / np.sqrt((1 / 0.5) ** 2 + 1.0)
    assert summary["hscomp"] == pytest.approx(expected, rel=1e-12)
    assert summary["composite_classification"] == ("more hypoxic" if expected >= 0 else "less hypoxic")
    html = slicer_logic.summary_html(summary)
    assert "HScomp" in html and (slicer_logic.MORE_COLOUR in html or slicer_logic.LESS_COLOUR in html)


def test_patient_summary_with_missing_pieces():
    only_imaging = slicer_logic.patient_summary(0.3, 0.27, None, 0.0)
    assert only_imaging["imaging_classification"] == "more hypoxic"
    assert only_imaging["group"] is None and only_imaging["hscomp"] is None
    no_line = slicer_logic.patient_summary(0.3, 0.27, -0.2, 0.0)
    assert no_line["group"] == 4 and no_line["hscomp"] is None
    assert "enter the composite line" in slicer_logic.summary_html(no_line)
    nothing = slicer_logic.patient_summary(None, 0.27, None, 0.0)
    assert nothing["imaging_classification"] is None


def test_export_writes_maps_and_summary(tmp_path, scene, analysed):
    _, run, _ = analysed
    summary = slicer_logic.patient_summary(run.result.hypoxic_fraction, 0.27, 0.35, 0.0, 0.5, 1.0,
                                           biopsy=run.result.biopsy_slice.as_dict())
    out = slicer_logic.export_results(run, tmp_path / "export", summary, inputs={"dce": "phantom"})
    a_brix, geometry = _read_map(out / "a_brix.nrrd")
    np.testing.assert_array_equal(a_brix, run.result.a_brix)
    assert geometry.same_grid(run.result.geometry)
    patient = json.loads((out / "patient_summary.json").read_text())
    assert patient["hscomp"] == pytest.approx(summary["hscomp"]) and patient["group"] == summary["group"]
    assert patient["imaging_parameters"]["a_threshold"] == 1.56 and "version" in patient
    with open(out / "patient_summary.csv", newline="") as handle:
        row = next(csv.DictReader(handle))
    assert float(row["hypoxic_fraction"]) == pytest.approx(run.result.hypoxic_fraction, rel=1e-5)
    assert row["biopsy_slice"] == "1" and row["x0"] == "0.5"
    assert json.loads((out / "summary.json").read_text())["inputs"] == {"dce": "phantom"}


# --------------------------------------------------------------------------------------------------------------
# Inside Slicer, pandas and lifelines are not there until the user agrees to install them
# --------------------------------------------------------------------------------------------------------------

_WITHOUT_PANDAS = """
import sys
sys.modules["pandas"] = None  # as in a fresh Slicer: importing pandas fails
sys.modules["lifelines"] = None
import slicer
from HypoxiaMarkersLib.slicer import logic as slicer_logic
from HypoxiaMarkersLib.slicer import mrml
slicer.mrmlScene = slicer.vtkMRMLScene()
mrml.register_segmentation_converters()
nodes = slicer_logic.load_phantom(seed=1, size=(40, 40, 5), tumour_radii_mm=(10, 9, 9), n_frames=20)
run = slicer_logic.run_imaging(nodes["dce"], nodes["segmentation"], "")
slicer_logic.publish_results(run)
print("HF", run.result.hypoxic_fraction)
{extra}
"""


def _run_without_pandas(extra: str = ""):
    import subprocess
    import sys

    code = _WITHOUT_PANDAS.format(extra=extra)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_imaging_runs_without_pandas():
    """The module opens and Apply works before any package is installed (pandas is needed for genes only)."""
    run = _run_without_pandas()
    assert run.returncode == 0, run.stderr[-2000:]
    assert "HF 0." in run.stdout


@pytest.mark.slow
def test_patient_summary_runs_without_pandas():
    run = _run_without_pandas("print('group', slicer_logic.patient_summary(0.3, 0.27, 0.2, 0.0, 0.5, 1.0)['group'])")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "group 1" in run.stdout
