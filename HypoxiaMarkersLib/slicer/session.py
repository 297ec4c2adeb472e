"""One patient at a time in the Slicer module: results tied to the exact inputs they came from.

The module's Logic (``HypoxiaMarkers/HypoxiaMarkers.py``) hands its parameter node to a :class:`PatientSession`
and does nothing else with results. The rules that keep one patient's numbers away from the next:

- The results are the output nodes the parameter node references, and the parameter node's ``resultInputs``
  says which inputs they came from: a *stamp* made of the patient's inputs (DCE node, segmentation and segment),
  the analysis inputs (the tumour's voxels, frame times, fit parameters) and a random token of the run.
- The analysis kept in memory (needed for the voxel curves and the export) is used only while its stamp is the
  one in the parameter node *and* the inputs still give the same fingerprint. Closing the scene resets the
  parameter node (``vtkMRMLScene::Clear`` resets singleton nodes, node IDs are then reused: a new patient's
  series may get the ID the previous one had), so nothing of the previous patient can match; the module also
  drops the memory on ``EndCloseEvent``.
- When another patient's series or tumour is chosen, the output references are dropped (the nodes stay in the
  scene under the previous patient's name); when the tumour, frame times or fit parameters change, the results
  are *stale*: the summary says so, the export is refused, Apply makes them current.
- The hypoxic-fraction cutoff and the biopsy slice need no refit: they are applied to the results at once
  (tumour, slices and biopsy slice with one cutoff).

``p`` is the module's parameter node (``@parameterNodeWrapper``): any object with its fields as attributes.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from enum import Enum
from typing import Callable, Dict, List, Optional, Tuple

from ..errors import InputError
from . import logic as lib
from . import mrml

#: Output roles (HypoxiaMarkersLib.slicer.logic.OUTPUT_ROLES) -> parameter-node fields holding the nodes.
OUTPUT_FIELDS = {
    "a_brix": "aBrixVolume",
    "k_ep": "kEpVolume",
    "k_el": "kElVolume",
    "r_squared": "rSquaredVolume",
    "hypoxic": "hypoxicLabelMap",
    "slice_table": "sliceTable",
    "slice_series": "sliceSeries",
    "slice_chart": "sliceChart",
    "curve_table": "curveTable",
    "mean_series": "meanSeries",
    "fit_series": "fitSeries",
    "curve_chart": "curveChart",
    "voxel_table": "voxelTable",
    "voxel_series": "voxelSeries",
    "voxel_fit_series": "voxelFitSeries",
    "biopsy_outline": "biopsyOutline",
}

#: hypoxicFraction when no result is referenced.
NO_FRACTION = -1.0


class ResultState(Enum):
    """What the output nodes referenced by the parameter node are, for the inputs chosen now."""

    NONE = "none"  # no results
    CURRENT = "current"  # results of these inputs, analysis in memory: everything works
    RESTORED = "restored"  # results of these inputs from a saved scene: shown, but not exported (Apply again)
    STALE = "stale"  # the tumour, frame times or parameters changed since Apply


#: What the panel says in each state (and why Export is refused).
STATE_MESSAGES = {
    ResultState.NONE: "Choose the inputs and click Apply.",
    ResultState.RESTORED: "Results restored with the scene: click Apply again to export them or to see the curve "
                          "of a voxel.",
    ResultState.STALE: "The inputs changed since Apply (tumour, frame times or parameters): click Apply.",
}


# --------------------------------------------------------------------------------------------------------------
# Fingerprints of the inputs
# --------------------------------------------------------------------------------------------------------------


def _digest(items) -> str:
    return hashlib.sha1(json.dumps(items, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:16]


def _dce_id(p) -> str:
    dce = p.dceSeries
    if dce is None:
        return ""
    try:
        dce = mrml.resolve_dce_node(dce)
    except InputError:
        pass
    return dce.GetID() or ""


def patient_fingerprint(p) -> str:
    """Which series and tumour: the DCE node (the sequence behind a proxy), the segmentation and its segment."""
    # Node IDs are unique within a scene (renaming the series keeps its results); across a scene close they are
    # reused, which the stamp held in the (reset) parameter node takes care of.
    items = {
        "dce": _dce_id(p) or None,
        "segmentation": p.tumourSegmentation.GetID() if p.tumourSegmentation is not None else None,
        "segment": p.tumourSegmentId,
    }
    return _digest(items)


def _times_key(text: str):
    try:
        times = mrml.parse_times(text)
    except InputError:
        return str(text).strip()
    return None if times is None else [round(float(t), 6) for t in times]


def analysis_fingerprint(p) -> str:
    """What the maps depend on besides the patient: the tumour's voxels, the frame times, the fit parameters and
    whether a tumour partly outside the series is analysed (not the hypoxic-fraction cutoff nor the biopsy slice,
    which are applied without refitting)."""
    try:
        tumour = _tumour_digest(p.tumourSegmentation, p.tumourSegmentId) if p.tumourSegmentation else None
    except InputError as error:
        tumour = f"unusable: {error}"
    items = {
        "tumour": tumour,
        "times": _times_key(p.frameTimes),
        "a_threshold": round(float(p.aThreshold), 9),
        "baseline_frames": int(p.baselineFrames),
        "injection_duration": round(float(p.injectionDuration), 9),
        "fit_lag_per_voxel": bool(p.fitLagPerVoxel),
    }
    if p.allowMaskOutside:  # only when ticked: stamps made before the checkbox existed stay valid
        items["allow_mask_outside"] = True
    return _digest(items)


_DIGEST_CACHE: Dict[tuple, str] = {}


def _tumour_digest(segmentation_node, segment: str) -> str:
    """:func:`mrml.segment_digest`, computed again only when the segmentation or its labelmap were modified
    (the panel asks for it several times per change, and on every paint stroke)."""
    segment_id = mrml.find_segment_id(segmentation_node, segment)
    item = segmentation_node.GetSegmentation().GetSegment(segment_id)
    stamps = [segmentation_node.GetMTime(), segmentation_node.GetSegmentation().GetMTime(), item.GetLabelValue()]
    for name in ("Binary labelmap", "Closed surface"):
        representation = item.GetRepresentation(name)
        stamps.append(representation.GetMTime() if representation is not None else None)
    key = (segmentation_node.GetID(), segment_id, id(segmentation_node), tuple(stamps))
    if key not in _DIGEST_CACHE:
        _DIGEST_CACHE.clear()
        _DIGEST_CACHE[key] = mrml.segment_digest(segmentation_node, segment_id)
    return _DIGEST_CACHE[key]


def _split_stamp(stamp: str) -> Tuple[str, str, str]:
    parts = (stamp or "").split(":")
    return tuple(parts) if len(parts) == 3 else ("", "", "")  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------------------------
# The session
# --------------------------------------------------------------------------------------------------------------


class PatientSession:
    """The module's work on one parameter node (see the module docstring for the rules).

    Attributes
    ----------
    run : ImagingRun or None
        The last analysis, with :attr:`stamp`: used only while it is the analysis of the current inputs.
    gene_scores : GeneScoreTable or None
        The last gene file read, with the path and signature it was read with.
    """

    def __init__(self) -> None:
        self.run: Optional[lib.ImagingRun] = None
        self.stamp = ""
        self.gene_scores: Optional[lib.GeneScoreTable] = None
        self._gene_key: Tuple[str, str] = ("", "")

    def reset(self) -> None:
        """Forget everything held in memory (the scene was closed)."""
        self.__init__()

    # State ------------------------------------------------------------------------------------------------------

    def output_nodes(self, p) -> Dict[str, object]:
        return {role: getattr(p, name) for role, name in OUTPUT_FIELDS.items() if getattr(p, name) is not None}

    def state(self, p) -> ResultState:
        """CURRENT, RESTORED, STALE or NONE for the inputs chosen now (see :class:`ResultState`)."""
        patient, analysis, _token = _split_stamp(p.resultInputs)
        if not patient or p.aBrixVolume is None or p.sliceTable is None:
            return ResultState.NONE
        if patient != patient_fingerprint(p):
            return ResultState.STALE  # (sync drops the references: another patient's series or tumour)
        if analysis != analysis_fingerprint(p):
            return ResultState.STALE
        if self.run is not None and self.stamp == p.resultInputs:
            return ResultState.CURRENT
        return ResultState.RESTORED

    def current_run(self, p) -> lib.ImagingRun:
        """The analysis of the current inputs, or an ``InputError`` saying to click Apply."""
        state = self.state(p)
        if state is not ResultState.CURRENT:
            raise InputError("Apply first: " + STATE_MESSAGES.get(state, ""), source="Results",
                             expected="an analysis of the inputs chosen now (click Apply)")
        return self.run

    def sync(self, p) -> ResultState:
        """Bring the results and the summary in line with the parameter node; never raises.

        Called whenever the parameter node changes. Another patient's series or tumour: the output references
        are dropped. Results of these inputs: the cutoff and biopsy slice are applied. Then the summary.
        """
        problems: List[str] = []
        try:
            self._tie_gene_score(p, problems)
            patient, _analysis, _token = _split_stamp(p.resultInputs)
            if patient and patient != patient_fingerprint(p):
                self._drop_results(p)
            state = self.state(p)
            if state is ResultState.CURRENT:
                self._follow_cutoff_and_biopsy(p)
            elif state is ResultState.RESTORED:
                lib.restored_hf_cutoff(self.output_nodes(p), p.hfCutoff)
                table = lib.biopsy_slice_from_table(p.sliceTable, p.biopsySlice) if self._slice_exists(p) else None
                if table is not None and not int(table.get("is_biopsy_slice", 0)):
                    lib.restored_biopsy_slice(self.output_nodes(p), p.biopsySlice)
        except Exception as error:  # noqa: BLE001 - called from an observer: say it in the panel, never raise
            problems.append(str(error))
        try:
            self.update_summary(p, problems)
        except Exception as error:  # noqa: BLE001
            p.summaryHtml = f'<span style="color:{lib.MORE_COLOUR}">{_html(str(error))}</span>'
        return self.state(p)

    def _tie_gene_score(self, p, problems: List[str]) -> None:
        """The gene score belongs to the series it was entered with: another series clears it (and its sample).

        A score entered with no series chosen is taken as the next series'. ``genePatient`` holds the series'
        node ID (the parameter node is reset with the scene, so an ID reused after a close cannot match).
        """
        series = _dce_id(p)
        if not p.geneScore and not p.geneSample:
            if p.genePatient:
                p.genePatient = ""
            return
        if not series:
            return
        if not p.genePatient:
            p.genePatient = series
        elif p.genePatient != series:
            wasModifying = p.StartModify()
            try:
                p.geneScore, p.geneSample, p.genePatient = "", "", ""
            finally:
                p.EndModify(wasModifying)
            problems.append("The gene score was cleared: it was entered for another series. Pick this patient's "
                            "sample or type the score.")

    def _drop_results(self, p) -> None:
        wasModifying = p.StartModify()
        try:
            for name in OUTPUT_FIELDS.values():
                if getattr(p, name) is not None:
                    setattr(p, name, None)
            p.resultInputs = ""
            p.hypoxicFraction = NO_FRACTION
        finally:
            p.EndModify(wasModifying)
        self.run = None
        self.stamp = ""

    def _slice_exists(self, p) -> bool:
        return int(p.biopsySlice) in self.slice_numbers(p)

    def slice_numbers(self, p) -> List[int]:
        """The tumour's slice numbers (1 = caudal) of the results shown, for the biopsy-slice box."""
        if self.state(p) is ResultState.CURRENT:
            return [s.slice for s in self.run.result.slices]
        if p.sliceTable is not None and self.state(p) is not ResultState.NONE:
            columns = mrml.table_columns(p.sliceTable)
            return [int(v) for v in columns.get("slice", [])]
        return []

    def _follow_cutoff_and_biopsy(self, p) -> None:
        result = self.run.result
        updated = lib.with_hf_cutoff(result, p.hfCutoff)
        biopsy = int(p.biopsySlice)
        if biopsy != updated.biopsy_slice.slice and biopsy in [s.slice for s in updated.slices]:
            updated = updated.with_biopsy_slice(biopsy)
        if updated is not result:
            self.run.result = lib.change_biopsy_slice(updated, updated.biopsy_slice.slice, self.output_nodes(p),
                                                      self.run.tumour_mask)

    # Apply ------------------------------------------------------------------------------------------------------

    def apply(self, p, progress: Optional[Callable[[int, int], Optional[bool]]] = None) -> lib.ImagingRun:
        """Fit, and put every output in the scene (nodes referenced by the parameter node, stamped)."""
        if not p.frameTimes and p.dceSeries is not None:
            self.detect_frame_times(p)
        run = lib.run_imaging(p.dceSeries, p.tumourSegmentation, p.tumourSegmentId, self.imaging_parameters(p),
                              times_text=p.frameTimes, allow_mask_outside=bool(p.allowMaskOutside),
                              progress=progress)
        slices = [s.slice for s in run.result.slices]
        biopsy = int(p.biopsySlice) if int(p.biopsySlice) in slices else slices[0]
        if biopsy != run.result.biopsy_slice.slice:
            run.result = run.result.with_biopsy_slice(biopsy)
        patient = patient_fingerprint(p)
        # The same patient's earlier outputs are updated; another patient's are never written over.
        reuse = self.output_nodes(p) if _split_stamp(p.resultInputs)[0] == patient else {}
        dce = mrml.resolve_dce_node(p.dceSeries)
        name = dce.GetName() or ""
        nodes = lib.publish_results(run, reuse, reference_node=mrml.reference_volume(p.dceSeries), name=name)
        _rename(nodes, name)
        stamp = f"{patient}:{analysis_fingerprint(p)}:{uuid.uuid4().hex[:12]}"
        wasModifying = p.StartModify()
        try:
            for role, node in nodes.items():
                setattr(p, OUTPUT_FIELDS[role], node)
            p.frameTimesSource = run.series.time_source or p.frameTimesSource
            p.hypoxicFraction = float(run.result.hypoxic_fraction)
            p.biopsySlice = biopsy
            p.resultInputs = stamp
        finally:
            p.EndModify(wasModifying)
        self.run, self.stamp = run, stamp
        self.sync(p)
        return run

    @staticmethod
    def imaging_parameters(p):
        """The fit's settings from the parameter node (the biopsy slice is chosen after the fit)."""
        return lib.imaging_parameters(
            a_threshold=p.aThreshold, hf_cutoff=p.hfCutoff, biopsy_slice=1, baseline_frames=p.baselineFrames,
            injection_duration_s=p.injectionDuration, fit_lag_per_voxel=p.fitLagPerVoxel)

    def detect_frame_times(self, p, dce_node=None) -> None:
        """Fill the Frame times field from the series (``dce_node``, default the chosen one)."""
        found = lib.detect_frame_times(dce_node if dce_node is not None else p.dceSeries)
        p.frameTimes = found.text
        p.frameTimesSource = found.source

    # Biopsy slice, voxel curve ----------------------------------------------------------------------------------

    def set_biopsy_slice(self, p, biopsy_slice: int) -> Dict[str, object]:
        """Another biopsy slice (no refit): table, chart and outline follow; returns the slice's row."""
        numbers = self.slice_numbers(p)
        if not numbers:
            raise InputError("Apply first: there are no results of these inputs", source="Biopsy slice",
                             expected="an analysis (click Apply)")
        if int(biopsy_slice) not in numbers:
            raise InputError(f"biopsy slice {biopsy_slice} does not exist: the tumour has {len(numbers)} slice(s)",
                             source="Biopsy slice", expected=f"a slice number from 1 to {len(numbers)}")
        p.biopsySlice = int(biopsy_slice)  # the observer calls sync(); call it here too for callers without one
        self.sync(p)
        return self.biopsy_row(p)

    def biopsy_row(self, p) -> Dict[str, object]:
        state = self.state(p)
        if state is ResultState.CURRENT:
            return self.run.result.biopsy_slice.as_dict()
        if state is ResultState.RESTORED and self._slice_exists(p):
            return lib.biopsy_slice_from_table(p.sliceTable, p.biopsySlice)
        return {}

    def show_voxel_curve(self, p, ras) -> lib.VoxelCurve:
        run = self.current_run(p)
        curve = lib.voxel_curve(run, ras)
        nodes = lib.publish_voxel_curve(curve, self.output_nodes(p))
        for role in ("voxel_table", "voxel_series", "voxel_fit_series", "curve_chart"):
            setattr(p, OUTPUT_FIELDS[role], nodes[role])
        return curve

    # Genes and the composite ------------------------------------------------------------------------------------

    def gene_table(self, p) -> Optional[lib.GeneScoreTable]:
        """The gene file read, while it is the one the parameter node names (nothing after the scene closed)."""
        if self.gene_scores is not None and self._gene_key == (p.geneFile, p.geneSignatureFile):
            return self.gene_scores
        return None

    def load_gene_file(self, p, path: str) -> lib.GeneScoreTable:
        table = lib.read_gene_scores(path, signature_path=p.geneSignatureFile or None)
        wasModifying = p.StartModify()
        try:
            p.geneFile = str(path)
            p.geneSource = table.source
            p.geneCutoff = table.cutoff
            self.gene_scores, self._gene_key = table, (p.geneFile, p.geneSignatureFile)
            sample = p.geneSample if p.geneSample in table.scores else table.samples[0]
            self.select_gene_sample(p, sample)
        finally:
            p.EndModify(wasModifying)
        return table

    def select_gene_sample(self, p, sample: str) -> float:
        table = self.gene_table(p)
        if table is None or sample not in table.scores:
            raise InputError(f"no sample '{sample}' in the gene file", source=p.geneFile or "gene file",
                             field="sample", expected="a sample of the file loaded")
        p.geneSample = sample
        p.geneScore = f"{table.scores[sample]:.6g}"
        return table.scores[sample]

    def load_composite_line(self, p, path: str) -> Tuple[float, float]:
        x0, y0, source = lib.composite_line_from_results(path)
        wasModifying = p.StartModify()
        try:
            p.compositeX0, p.compositeY0, p.compositeSource = x0, y0, source
        finally:
            p.EndModify(wasModifying)
        return x0, y0

    # Summary and export -----------------------------------------------------------------------------------------

    def patient_summary(self, p) -> Dict[str, object]:
        """The calls of the current inputs only: no hypoxic fraction unless the results are of these inputs."""
        state = self.state(p)
        fraction = None
        if state is ResultState.CURRENT:
            fraction = float(self.run.result.hypoxic_fraction)
        elif state is ResultState.RESTORED and p.hypoxicFraction >= 0:
            fraction = float(p.hypoxicFraction)
        score, _problem = gene_score_or_problem(p.geneScore)
        return lib.patient_summary(fraction, p.hfCutoff, score, p.geneCutoff, p.compositeX0, p.compositeY0,
                                   biopsy=self.biopsy_row(p) or None)

    def update_summary(self, p, problems: Optional[List[str]] = None) -> Dict[str, object]:
        summary = self.patient_summary(p)
        state = self.state(p)
        notes = list(problems or [])
        _score, problem = gene_score_or_problem(p.geneScore)
        if problem:
            notes.append(problem)
        html = ""
        if state is ResultState.CURRENT or summary["gene_score"] is not None or state is ResultState.RESTORED:
            html = lib.summary_html(summary, self.run.result if state is ResultState.CURRENT else None)
        if state is not ResultState.CURRENT:
            notes.insert(0, STATE_MESSAGES[state])
        if state in (ResultState.CURRENT, ResultState.RESTORED):
            dce = p.dceSeries.GetName() if p.dceSeries is not None else ""
            notes.insert(0, f"Results of {dce}" if dce else "")
        text = "".join(f"<p>{_html(n)}</p>" for n in notes if n)
        p.summaryHtml = text + html
        return summary

    def export(self, p, parent_folder: str, *, extra_inputs: Optional[Dict[str, object]] = None) -> str:
        """Write the results of the current inputs into a new folder ``HypoxiaMarkers-<series>[-N]``.

        Refused ("Apply first") unless the results are those of the inputs chosen now; never replaces an
        earlier export.
        """
        run = self.current_run(p)
        dce = mrml.resolve_dce_node(p.dceSeries)
        name = dce.GetName() or "patient"
        inputs = {"dce": name, "segmentation": p.tumourSegmentation.GetName() if p.tumourSegmentation else "",
                  "segment": p.tumourSegmentId, "frame_times": p.frameTimes, "gene_source": p.geneSource,
                  "gene_sample": p.geneSample, "composite_source": p.compositeSource,
                  "allow_mask_outside": bool(p.allowMaskOutside), "mask_share_outside_dce": run.mask_share_outside,
                  **(extra_inputs or {})}
        folder = lib.unique_export_folder(parent_folder, name)
        out = lib.export_results(run, folder, self.patient_summary(p), inputs=inputs, map_format=p.mapFormat)
        return str(out)

    # Sample data ------------------------------------------------------------------------------------------------

    def load_phantom(self, p=None, seed: int = 0, **options) -> Dict[str, object]:
        """The synthetic phantom as nodes, selected as the inputs (with its gene score and an illustrative line)."""
        nodes = lib.load_phantom(seed=seed, **options)
        if p is not None:
            wasModifying = p.StartModify()
            try:
                p.dceSeries = nodes["dce"]
                p.t2wVolume = nodes["t2w"]
                p.tumourSegmentation = nodes["segmentation"]
                p.tumourSegmentId = nodes["segment_id"]
                p.geneScore = f"{nodes['gene_score']:.6g}"
                p.geneSource = "synthetic phantom (sample data)"
                p.compositeX0, p.compositeY0 = nodes["line"]
                p.compositeSource = "illustrative line for the phantom (not from a cohort)"
                self.detect_frame_times(p)
            finally:
                p.EndModify(wasModifying)
        return nodes


def _rename(nodes: Dict[str, object], name: str) -> None:
    """Outputs reused from an earlier run of the same patient get this run's names (the series may be renamed)."""
    prefix = f"{name} " if name else ""
    suffixes = {role: suffix for role, (_a, suffix, _w) in lib.MAP_OUTPUTS.items()}
    suffixes.update({"hypoxic": "hypoxic voxels", "biopsy_outline": "biopsy slice"})
    for role, suffix in suffixes.items():
        if nodes.get(role) is not None:
            nodes[role].SetName(prefix + suffix)


def _html(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def gene_score_or_problem(text: str) -> Tuple[Optional[float], str]:
    """The gene score typed in the module, leniently: (value, "") or (None, what is wrong), never raises.

    Empty, or a number still being typed ("-", "0.", "-0,4"), is no score rather than an error.
    """
    text = str(text or "").strip()
    if text in ("", "-", "+", ".", "-.", "+.", ","):
        return None, ""
    try:
        value = lib.parse_gene_score(text)
    except InputError as error:
        return None, f"Gene score: {error}"
    if value is None or not math.isfinite(value):
        return None, ""
    return value, ""
