"""Tier 2: one patient at a time in the Slicer module (HypoxiaMarkersLib.slicer.session) on real MRML.

The parameter node is a real ``vtkMRMLScriptedModuleNode`` made as ``ScriptedLoadableModuleLogic.getParameterNode``
makes it (singleton tag "HypoxiaMarkers"), holding the fields of the module's ``@parameterNodeWrapper`` class (read
from ``HypoxiaMarkers.py``: names, kinds, defaults) as node parameters and node references, as the wrapper stores
them. ``slicer-core`` has no ``parameterNodeWrapper`` (it needs Qt), so :class:`SceneParameters` gives the fields
as attributes; what matters here, where the values live, is MRML's own: closing the scene (``Clear(0)``, what
File > Close Scene does) resets the node, and node IDs are then reused.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="tier-2 tests need the slicer-core wheel (pip install slicer-core)")
if not hasattr(slicer, "vtkMRMLScene"):  # pragma: no cover
    pytest.skip("the installed 'slicer' package is not slicer-core", allow_module_level=True)


from HypoxiaMarkersLib import cli, rules  # noqa: E402
from HypoxiaMarkersLib.errors import InputError  # noqa: E402
from HypoxiaMarkersLib.imaging.analysis import analyse_dce  # noqa: E402
from HypoxiaMarkersLib.slicer import logic as slicer_logic  # noqa: E402
from HypoxiaMarkersLib.slicer import mrml  # noqa: E402
from HypoxiaMarkersLib.slicer.session import OUTPUT_FIELDS, PatientSession, ResultState  # noqa: E402

from helpers.slicer_source import field_defaults, parameter_fields  # noqa: E402

SMALL = dict(size=(40, 40, 5), tumour_radii_mm=(10.0, 9.0, 9.0), n_frames=20)


class SceneParameters:
    """The module's parameter node fields as attributes of a real vtkMRMLScriptedModuleNode (see the docstring)."""

    _KINDS = parameter_fields()
    _DEFAULTS = field_defaults()

    def __init__(self, scene):
        node = scene.GetSingletonNode("HypoxiaMarkers", "vtkMRMLScriptedModuleNode")
        if node is None:
            node = scene.CreateNodeByClass("vtkMRMLScriptedModuleNode")
            node.UnRegister(None)
            node.SetSingletonTag("HypoxiaMarkers")
            node = scene.AddNode(node)
        object.__setattr__(self, "parameterNode", node)

    def __getattr__(self, name):
        kind = self._KINDS[name]
        node = self.parameterNode
        if kind == "node":
            return node.GetNodeReference(name)
        if not node.GetParameter(name) and name not in node.GetParameterNames():
            return self._DEFAULTS.get(name, "" if kind == "str" else None)
        text = node.GetParameter(name)
        return {"float": float, "int": int, "bool": lambda t: t == "True", "str": str}[kind](text)

    def __setattr__(self, name, value):
        kind = self._KINDS[name]  # KeyError: not a field of the module's parameter node
        if kind == "node":
            self.parameterNode.SetNodeReferenceID(name, value.GetID() if value is not None else None)
        else:
            self.parameterNode.SetParameter(name, str(value))

    def StartModify(self):
        return self.parameterNode.StartModify()

    def EndModify(self, was_modifying):
        return self.parameterNode.EndModify(was_modifying)


def load_patient(scene, seed, name):
    """A patient as the module sees one: a DCE sequence, a T2W volume and the tumour segmentation."""
    nodes = slicer_logic.load_phantom(seed=seed, scene=scene, name=name, **SMALL)
    return nodes


def choose(p, nodes):
    wasModifying = p.StartModify()
    p.dceSeries = nodes["dce"]
    p.t2wVolume = nodes["t2w"]
    p.tumourSegmentation = nodes["segmentation"]
    p.tumourSegmentId = nodes["segment_id"]
    p.frameTimes = slicer_logic.detect_frame_times(nodes["dce"]).text
    p.EndModify(wasModifying)


def reference_result(nodes):
    run = slicer_logic.run_imaging(nodes["dce"], nodes["segmentation"], nodes["segment_id"])
    return analyse_dce(run.series, run.tumour_mask)


def slice_fractions(p):
    return list(mrml.table_columns(p.sliceTable)["hypoxic_fraction"]) if p.sliceTable is not None else []


def assert_holds_only(p, session, tmp_path, expected, other):
    """Summary, slice table and export hold ``expected``'s numbers and nothing of ``other``."""
    summary = session.patient_summary(p)
    assert summary["hypoxic_fraction"] == expected.hypoxic_fraction
    np.testing.assert_allclose(slice_fractions(p), [s.hypoxic_fraction for s in expected.slices], rtol=1e-6)
    out = session.export(p, str(tmp_path))
    written = json.loads(open(f"{out}/patient_summary.json").read())
    assert written["hypoxic_fraction"] == expected.hypoxic_fraction != other.hypoxic_fraction
    with open(f"{out}/slices.csv", newline="") as handle:
        rows = [float(r["hypoxic_fraction"]) for r in csv.DictReader(handle)]
    np.testing.assert_allclose(rows, [s.hypoxic_fraction for s in expected.slices], rtol=0, atol=5e-7)  # %.6g
    return out


def assert_holds_nothing(p, session, tmp_path):
    assert session.state(p) in (ResultState.NONE, ResultState.STALE)
    assert session.patient_summary(p)["hypoxic_fraction"] is None
    assert slice_fractions(p) == []
    assert session.biopsy_row(p) == {}
    with pytest.raises(InputError, match="Apply first"):
        session.export(p, str(tmp_path))
    with pytest.raises(InputError, match="Apply first"):
        session.set_biopsy_slice(p, 2)
    assert "Apply" in p.summaryHtml


# --------------------------------------------------------------------------------------------------------------
# Acceptance: patient A, then patient B
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("close_scene", [True, False], ids=["scene closed", "same scene"])
def test_patient_a_never_reaches_patient_b(scene, tmp_path, close_scene):
    session = PatientSession()
    p = SceneParameters(scene)
    a = load_patient(scene, 21, "A")
    a_id = a["dce"].GetID()
    expected_a = reference_result(a)
    choose(p, a)
    p.geneScore = "0.3"
    session.apply(p)
    assert session.state(p) is ResultState.CURRENT
    assert_holds_only(p, session, tmp_path / "a", expected_a, other=_Fraction(-1))
    a_table = p.sliceTable

    if close_scene:
        scene.Clear(0)  # File > Close Scene (slicer.mrmlScene.Clear(0)); the module also resets its memory then,
        # but must not need to: this session is deliberately not reset.
        p = SceneParameters(scene)
    b = load_patient(scene, 22, "B")
    if close_scene:
        assert b["dce"].GetID() == a_id  # MRML reuses node IDs after Clear: IDs alone cannot tell A from B
    expected_b = reference_result(b)
    assert expected_b.hypoxic_fraction != expected_a.hypoxic_fraction
    choose(p, b)
    session.sync(p)  # what the module's parameter-node observer does

    # Before Apply: nothing of A, export refused with a clear message.
    assert_holds_nothing(p, session, tmp_path / "b-before")
    if not close_scene:
        assert a_table.GetScene() is scene and slice_fractions(p) == []  # A's table stays A's, not B's
        np.testing.assert_allclose(mrml.table_columns(a_table)["hypoxic_fraction"],
                                   [s.hypoxic_fraction for s in expected_a.slices], rtol=1e-6)
    summary = session.patient_summary(p)
    assert summary["gene_score"] is None and p.geneScore == ""  # A's gene score is not B's
    assert summary["group"] is None and summary["hscomp"] is None
    if not close_scene:
        assert "entered for another series" in p.summaryHtml
    p.geneScore = "-0.2"  # B's own score, typed once B's series is chosen: kept
    session.sync(p)
    assert session.patient_summary(p)["gene_score"] == -0.2

    # After Apply: B's numbers, in new nodes (A's are never written over).
    session.apply(p)
    out = assert_holds_only(p, session, tmp_path / "b-after", expected_b, other=expected_a)
    assert "HypoxiaMarkers-B_DCE" in out
    if not close_scene:
        assert p.sliceTable is not a_table and p.aBrixVolume.GetName() == "B DCE A_Brix"
        np.testing.assert_allclose(mrml.table_columns(a_table)["hypoxic_fraction"],
                                   [s.hypoxic_fraction for s in expected_a.slices], rtol=1e-6)


class _Fraction:
    def __init__(self, value):
        self.hypoxic_fraction = value


def test_a_changed_input_makes_the_results_stale_until_apply(scene, tmp_path):
    session = PatientSession()
    p = SceneParameters(scene)
    a = load_patient(scene, 23, "A")
    choose(p, a)
    session.apply(p)
    table = p.sliceTable
    for change, undo in (
            (lambda: setattr(p, "aThreshold", 1.2), lambda: setattr(p, "aThreshold", rules.A_THRESHOLD)),
            (lambda: setattr(p, "baselineFrames", 3), lambda: setattr(p, "baselineFrames", 0)),
            (lambda: setattr(p, "frameTimes", p.frameTimes.replace("0, ", "0.5, ", 1)),
             lambda: setattr(p, "frameTimes", slicer_logic.detect_frame_times(a["dce"]).text))):
        change()
        session.sync(p)
        assert session.state(p) is ResultState.STALE
        assert p.sliceTable is table  # the same patient: the nodes are kept, and said to be out of date
        assert session.patient_summary(p)["hypoxic_fraction"] is None
        with pytest.raises(InputError, match="Apply first"):
            session.export(p, str(tmp_path))
        assert "inputs changed since Apply" in p.summaryHtml
        undo()
        session.sync(p)
        assert session.state(p) is ResultState.CURRENT

    # The tumour redrawn: one voxel more in the segment's labelmap.
    segment = a["segmentation"].GetSegmentation().GetSegment(a["segment_id"])
    labelmap = segment.GetRepresentation("Binary labelmap")
    from vtk.util import numpy_support

    voxels = numpy_support.vtk_to_numpy(labelmap.GetPointData().GetScalars())
    outside = int(np.flatnonzero(voxels == 0)[0])
    voxels[outside] = segment.GetLabelValue()
    labelmap.Modified()
    session.sync(p)
    assert session.state(p) is ResultState.STALE
    session.apply(p)
    assert session.state(p) is ResultState.CURRENT and p.sliceTable is table  # same patient: nodes updated


def test_one_cutoff_everywhere_and_the_biopsy_slice_within_the_tumour(scene):
    session = PatientSession()
    p = SceneParameters(scene)
    a = load_patient(scene, 24, "A")
    choose(p, a)
    run = session.apply(p)
    slices = run.result.slices
    assert session.slice_numbers(p) == [s.slice for s in slices]
    with pytest.raises(InputError, match="does not exist"):
        session.set_biopsy_slice(p, len(slices) + 1)
    row = session.set_biopsy_slice(p, 2)
    assert row["slice"] == 2 and row["hypoxic_fraction"] == slices[1].hypoxic_fraction
    assert list(mrml.table_columns(p.sliceTable)["is_biopsy_slice"]) == [0, 1] + [0] * (len(slices) - 2)

    # A cutoff between the biopsy slice's fraction and the tumour's: every call follows it at once.
    fractions = sorted({s.hypoxic_fraction for s in slices} | {run.result.hypoxic_fraction})
    cutoff = (fractions[0] + fractions[-1]) / 2.0
    p.hfCutoff = cutoff
    session.sync(p)
    summary = session.patient_summary(p)
    assert summary["hf_cutoff"] == cutoff
    expected = [rules.hypoxia_class(s.hypoxic_fraction, cutoff) for s in slices]
    assert list(mrml.table_columns(p.sliceTable)["classification"]) == expected
    assert summary["biopsy_slice"]["classification"] == expected[1]
    assert summary["imaging_classification"] == rules.hypoxia_class(run.result.hypoxic_fraction, cutoff)
    assert session.run.result.parameters.hf_cutoff == cutoff  # what the export writes
    assert len(set(expected)) == 2  # the cutoff splits the slices: the check above could fail


def test_a_restored_scene_shows_its_results_but_exports_only_after_apply(scene, tmp_path):
    first = PatientSession()
    p = SceneParameters(scene)
    a = load_patient(scene, 25, "A")
    choose(p, a)
    run = first.apply(p)
    restored = PatientSession()  # Slicer restarted, the saved scene loaded: nothing in memory
    restored.sync(p)
    assert restored.state(p) is ResultState.RESTORED
    assert restored.patient_summary(p)["hypoxic_fraction"] == pytest.approx(run.result.hypoxic_fraction)
    with pytest.raises(InputError, match="Apply first"):
        restored.export(p, str(tmp_path))
    assert "click Apply again to export" in p.summaryHtml
    row = restored.set_biopsy_slice(p, 3)
    assert row["slice"] == 3 and row["hypoxic_fraction"] == pytest.approx(run.result.slices[2].hypoxic_fraction)
    p.hfCutoff = 0.0
    restored.sync(p)
    assert set(mrml.table_columns(p.sliceTable)["classification"]) == {rules.MORE_HYPOXIC}


def test_export_never_replaces_an_earlier_export(scene, tmp_path):
    session = PatientSession()
    p = SceneParameters(scene)
    choose(p, load_patient(scene, 26, "A"))
    session.apply(p)
    first = session.export(p, str(tmp_path))
    second = session.export(p, str(tmp_path))
    assert first.endswith("HypoxiaMarkers-A_DCE") and second.endswith("HypoxiaMarkers-A_DCE-2")
    with pytest.raises(InputError, match="never replaced"):
        slicer_logic.export_results(session.run, first, session.patient_summary(p))


# --------------------------------------------------------------------------------------------------------------
# Typing, gene scores, composite line
# --------------------------------------------------------------------------------------------------------------


def test_typing_a_negative_gene_score_never_raises(scene):
    session = PatientSession()
    p = SceneParameters(scene)
    for typed in ("-", "-0", "-0.", "-0.4", "-0.42", "-0,42", "abc", ""):
        p.geneScore = typed
        session.sync(p)  # the observer: must not raise
    p.geneScore = "-0.42"
    session.sync(p)
    summary = session.patient_summary(p)
    assert summary["gene_score"] == -0.42 and summary["gene_classification"] == rules.LESS_HYPOXIC
    p.geneScore = "abc"
    session.sync(p)
    assert "'abc' is not a number" in p.summaryHtml and session.patient_summary(p)["gene_score"] is None


def test_a_cohort_line_with_large_x0_y0_loads(scene, tmp_path):
    session = PatientSession()
    p = SceneParameters(scene)
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"n": 80, "line": {"x0": 5.4, "y0": 127.0}}))
    assert session.load_composite_line(p, str(path)) == (5.4, 127.0)
    assert (p.compositeX0, p.compositeY0) == (5.4, 127.0) and "cohort of 80" in p.compositeSource
    p.geneScore = "0.5"
    choose(p, load_patient(scene, 27, "A"))
    run = session.apply(p)
    summary = session.patient_summary(p)
    hf = run.result.hypoxic_fraction
    assert summary["hscomp"] == pytest.approx((hf / 5.4 + 0.5 / 127.0 - 1) / np.hypot(1 / 5.4, 1 / 127.0))


GENES = ["DDIT3", "ERO1L", "KCTD11", "P4HA2", "STC2", "UPK1A"]


def _write_expression(path, values, samples):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["gene"] + samples)
        for gene, row in zip(GENES, values):
            writer.writerow([gene] + [f"{v:.6f}" for v in row])


def test_one_patient_scored_against_a_saved_reference(scene, tmp_path):
    """The single-sample path: reference saved by ``hypoxia-markers genes --save-reference`` from a cohort."""
    rng = np.random.default_rng(3)
    cohort = np.round(7.0 + 2.0 * rng.random((len(GENES), 9)), 6)
    _write_expression(tmp_path / "cohort.csv", cohort, [f"C{n}" for n in range(9)])
    status = cli.main(["genes", str(tmp_path / "cohort.csv"), "--out", str(tmp_path / "scores.csv"),
                       "--save-reference", str(tmp_path / "reference.json")])
    assert status == 0
    patient = np.round(7.5 + rng.random(len(GENES)), 6)
    _write_expression(tmp_path / "patient.csv", patient[:, None], ["P1"])

    session = PatientSession()
    p = SceneParameters(scene)
    with pytest.raises(InputError, match="single sample.*save-reference"):
        session.load_gene_file(p, str(tmp_path / "patient.csv"))  # the shipped signature has no reference
    p.geneSignatureFile = str(tmp_path / "reference.json")
    session.load_gene_file(p, str(tmp_path / "patient.csv"))
    expected = float(np.mean(patient - np.median(cohort, axis=1)))  # by hand: SPEC §2, cohort medians
    assert float(p.geneScore) == pytest.approx(expected, abs=1e-5) and p.geneSample == "P1"
    assert session.patient_summary(p)["gene_score"] == pytest.approx(expected, abs=1e-5)
    assert "stored" in p.geneSource or "reference" in p.geneSource
    scene.Clear(0)
    p = SceneParameters(scene)
    assert session.gene_table(p) is None  # the file read belongs to the closed scene
    with pytest.raises(InputError, match="no sample"):
        session.select_gene_sample(p, "P1")


def test_packages_a_gene_file_needs(tmp_path):
    scores = tmp_path / "scores.csv"
    scores.write_text("sample,hypoxia_score\nP1,0.2\n")
    expression = tmp_path / "expression.csv"
    _write_expression(expression, np.ones((6, 2)), ["S1", "S2"])
    assert slicer_logic.gene_file_packages(scores) == []
    assert slicer_logic.gene_file_packages(expression) == ["pandas"]
    assert slicer_logic.gene_file_packages(tmp_path / "expression.xlsx") == ["pandas", "openpyxl"]
    with pytest.raises(InputError, match=r"\.xls"):
        slicer_logic.gene_file_packages(tmp_path / "old.xls")


# --------------------------------------------------------------------------------------------------------------
# Plots: every series with an X column is drawn against it
# --------------------------------------------------------------------------------------------------------------


def test_every_plot_series_is_drawn_against_its_x_column(scene):
    session = PatientSession()
    p = SceneParameters(scene)
    choose(p, load_patient(scene, 28, "A"))
    run = session.apply(p)
    k = run.result.biopsy_slice.k_index
    session.show_voxel_curve(p, mrml.slice_centre_ras(run.result.geometry, k, run.tumour_mask))
    series = [scene.GetNthNodeByClass(i, "vtkMRMLPlotSeriesNode")
              for i in range(scene.GetNumberOfNodesByClass("vtkMRMLPlotSeriesNode"))]
    assert len(series) == 5
    for node in series:
        assert node.GetXColumnName(), node.GetName()
        assert node.IsXColumnRequired(), f"{node.GetName()}: {node.GetPlotTypeAsString(node.GetPlotType())}"
    fits = [p.fitSeries, p.voxelFitSeries]
    for node in fits:  # curves: a line, no markers
        assert node.GetPlotType() == slicer.vtkMRMLPlotSeriesNode.PlotTypeScatter
        assert node.GetMarkerStyle() == slicer.vtkMRMLPlotSeriesNode.MarkerStyleNone
        assert node.GetLineStyle() != slicer.vtkMRMLPlotSeriesNode.LineStyleNone
    for node in (p.meanSeries, p.voxelSeries):  # measured points: markers, no line
        assert node.GetLineStyle() == slicer.vtkMRMLPlotSeriesNode.LineStyleNone
        assert node.GetMarkerStyle() != slicer.vtkMRMLPlotSeriesNode.MarkerStyleNone
    assert p.sliceSeries.GetPlotType() == slicer.vtkMRMLPlotSeriesNode.PlotTypeScatterBar
    x = mrml.table_columns(p.sliceTable)[p.sliceSeries.GetXColumnName()]
    np.testing.assert_array_equal(x, np.arange(1, len(run.result.slices) + 1))  # slices numbered from 1
    t = mrml.table_columns(p.curveTable)[p.fitSeries.GetXColumnName()]
    np.testing.assert_array_equal(t, run.result.times_s)  # seconds, not the frame index


def test_output_fields_are_the_logic_roles():
    assert set(OUTPUT_FIELDS) == set(slicer_logic.OUTPUT_ROLES)
    kinds = parameter_fields()
    assert all(kinds.get(name) == "node" for name in OUTPUT_FIELDS.values())
    for name in ("resultInputs", "hypoxicFraction", "summaryHtml", "geneSignatureFile", "compositeSource",
                 "genePatient"):
        assert name in kinds
