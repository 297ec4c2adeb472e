"""The work of the HypoxiaMarkers Slicer module, without any GUI: MRML nodes in, library calls, MRML nodes out.

The module's Logic class (``HypoxiaMarkers/HypoxiaMarkers.py``) calls only these functions, so everything the
module does can be run, and is tested, without the Slicer application (with the ``slicer-core`` wheel). Nothing
here computes science: the maps and fractions come from :mod:`~HypoxiaMarkersLib.imaging.analysis`, the gene score from
:mod:`~HypoxiaMarkersLib.genes.scoring`, the composite from :mod:`~HypoxiaMarkersLib.stats.composite` and
:mod:`~HypoxiaMarkersLib.stats.groups`; nodes are read and written through :mod:`~HypoxiaMarkersLib.slicer.mrml`.
"""

from __future__ import annotations

import csv
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .. import CITATION, __version__
from ..errors import InputError
from ..imaging.analysis import ImagingParameters, ImagingResult, analyse_dce, relative_signal_increase
from ..rules import A_THRESHOLD, HF_CUTOFF, LESS_HYPOXIC, MORE_HYPOXIC, THRESHOLDS_SOURCE, at_or_above
from ..volume import DceSeries
from . import mrml

PathLike = Union[str, Path]

#: Every node a run creates, by role (the module stores them in its parameter node, so a saved scene keeps them).
OUTPUT_ROLES = (
    "a_brix", "k_ep", "k_el", "r_squared", "hypoxic",
    "slice_table", "slice_series", "slice_chart",
    "curve_table", "mean_series", "fit_series", "curve_chart",
    "voxel_table", "voxel_series", "voxel_fit_series",
    "biopsy_outline",
)

#: Output volumes: role -> (result attribute, node name suffix, what it is).
MAP_OUTPUTS = {
    "a_brix": ("a_brix", "A_Brix", "Brix amplitude A (plateau of the relative signal increase)"),
    "k_ep": ("k_ep", "k_ep", "exchange rate plasma-interstitium (1/min)"),
    "k_el": ("k_el", "k_el", "elimination rate (1/min)"),
    "r_squared": ("r_squared", "R2", "coefficient of determination of the voxel's fit"),
}

SLICE_COLUMNS = ("slice", "k_index", "voxels", "fitted", "failed", "hypoxic", "hypoxic_fraction", "classification",
                 "is_biopsy_slice")
SLICE_COLUMN_DESCRIPTIONS = {
    "slice": "tumour slice number, 1 = lowest (caudal) slice containing tumour",
    "k_index": "slice index in the DCE volume (0-based)",
    "voxels": "tumour voxels in the slice",
    "fitted": "voxels with a successful Brix fit",
    "failed": "tumour voxels without a fit (no signal, too few points, failed)",
    "hypoxic": "fitted voxels with A_Brix below the threshold",
    "hypoxic_fraction": "hypoxic / fitted voxels of the slice",
    "classification": "more hypoxic when the slice's hypoxic fraction is at or above the cutoff",
    "is_biopsy_slice": "1 for the slice standing for the biopsy region",
}

#: Colours of the summary box and of the hypoxic overlay: more hypoxic in red, less hypoxic in blue.
MORE_COLOUR = "#c62828"
LESS_COLOUR = "#1565c0"
NEUTRAL_COLOUR = "#555555"

#: The gene score of the synthetic phantom patient (more hypoxic by genes), shipped with the sample data.
PHANTOM_GENE_SCORE = 0.35
#: An illustrative composite line for the phantom demo (not fitted to any cohort).
PHANTOM_LINE = (0.5, 1.0)


# --------------------------------------------------------------------------------------------------------------
# Inputs: frame times, parameters
# --------------------------------------------------------------------------------------------------------------


@dataclass
class FrameTimes:
    """Frame times found in a DCE node: seconds (or None when the node does not say), and where from."""

    times_s: Optional[np.ndarray]
    source: str
    n_frames: int

    @property
    def text(self) -> str:
        return mrml.format_times(self.times_s)


def detect_frame_times(dce_node) -> FrameTimes:
    """The frame times stored in the DCE node (sequence index with a time unit, or MultiVolume frame labels)."""
    n_frames = mrml.number_of_frames(dce_node)
    times, source = mrml.frame_times_of_node(dce_node)
    if times is None:
        source = f"not found in the series ({source}): type the {n_frames} frame times in seconds"
    return FrameTimes(times_s=times, source=source, n_frames=n_frames)


def imaging_parameters(
    *,
    a_threshold: float = A_THRESHOLD,
    hf_cutoff: float = HF_CUTOFF,
    biopsy_slice: int = 1,
    baseline_frames: int = 0,
    injection_duration_s: float = 0.0,
    fit_lag_per_voxel: bool = False,
) -> ImagingParameters:
    """The analysis settings from the module's fields; ``baseline_frames`` 0 means detected automatically."""
    return ImagingParameters(
        a_threshold=float(a_threshold),
        hf_cutoff=float(hf_cutoff),
        biopsy_slice=int(biopsy_slice),
        baseline_frames=int(baseline_frames) if int(baseline_frames) > 0 else None,
        injection_duration_s=float(injection_duration_s),
        fit_lag_per_voxel=bool(fit_lag_per_voxel),
    )


def times_for_run(dce_node, times_text: str) -> Tuple[Optional[np.ndarray], str]:
    """The frame times to use and their source: the node's own times when the field still shows them.

    The Frame times field is filled from the node; when the user leaves it as it is, the results name the node's
    source ("sequence index 'time' (s)"), when the user typed other values, "entered in the module".
    """
    typed = mrml.parse_times(times_text)
    if typed is None:
        return None, ""
    found = detect_frame_times(dce_node)
    if found.times_s is not None and found.times_s.size == typed.size and np.allclose(found.times_s, typed,
                                                                                     rtol=1e-5, atol=1e-4):
        return found.times_s, found.source
    return typed, "entered in the module"


# --------------------------------------------------------------------------------------------------------------
# The imaging analysis
# --------------------------------------------------------------------------------------------------------------


@dataclass
class ImagingRun:
    """One analysis: the series read from the scene, the tumour mask on its grid, and the result."""

    series: DceSeries
    tumour_mask: np.ndarray
    result: ImagingResult
    dce_node_id: str = ""
    mask_share_outside: float = 0.0


#: The module's checkbox that accepts a tumour partly outside the DCE series (the command line's
#: ``--allow-mask-outside``), named in the message when the share outside is too large; its text in the .ui.
ALLOW_OUTSIDE_CHECKBOX = "Analyse a tumour partly outside the DCE series"


def read_inputs(dce_node, segmentation_node, segment: Optional[str], *, times_text: str = "",
                allow_mask_outside: bool = False) -> Tuple[DceSeries, np.ndarray, float]:
    """The DCE series (with frame times), the tumour mask on the DCE grid and the share of the tumour outside
    the series, from the scene.

    A tumour with more than :data:`~HypoxiaMarkersLib.io.masks.MAX_SHARE_OUTSIDE` of it outside the series is
    refused (the message names the checkbox :data:`ALLOW_OUTSIDE_CHECKBOX`) unless ``allow_mask_outside``, the
    command line's rule.
    """
    from ..io.masks import MAX_SHARE_OUTSIDE, check_share_outside

    if dce_node is None:
        raise InputError("choose the DCE-MRI series", source="DCE-MRI series", expected="a 4D sequence")
    times, time_source = times_for_run(dce_node, times_text)
    series = mrml.dce_from_node(dce_node, times=times, time_source=time_source)
    reference = mrml.reference_volume(dce_node)
    mask = mrml.segment_mask(segmentation_node, segment, reference)
    share = mrml.segment_share_outside(segmentation_node, segment, reference)
    name = segmentation_node.GetSegmentation().GetSegment(mrml.find_segment_id(segmentation_node, segment)).GetName()
    check_share_outside(share, None if allow_mask_outside else MAX_SHARE_OUTSIDE,
                        source=segmentation_node.GetName() or "Tumour segmentation", what=f"segment '{name}'",
                        allow=f"tick '{ALLOW_OUTSIDE_CHECKBOX}' under Parameters")
    return series, mask, share


def run_imaging(
    dce_node,
    segmentation_node,
    segment: Optional[str],
    parameters: Optional[ImagingParameters] = None,
    *,
    times_text: str = "",
    allow_mask_outside: bool = False,
    progress: Optional[Callable[[int, int], Optional[bool]]] = None,
) -> ImagingRun:
    """Read the inputs from the scene and run :func:`~HypoxiaMarkersLib.imaging.analysis.analyse_dce`.

    Parameters
    ----------
    dce_node : vtkMRMLSequenceNode or MultiVolume-style volume (or a sequence's browser/proxy)
    segmentation_node : vtkMRMLSegmentationNode
        Holds the tumour drawn on T2W (any grid: it is resampled onto the DCE grid).
    segment : str
        The tumour segment's ID or name ("" = the only segment).
    parameters : ImagingParameters
    times_text : str
        The Frame times field ("" = take them from the node).
    allow_mask_outside : bool
        Analyse the part of the tumour inside the series even when more than 10 % of it lies outside (see
        :func:`read_inputs`); the share is kept in ``ImagingRun.mask_share_outside`` and the result's warnings.
    progress : callable
        ``progress(done, total)``; returning False cancels (:class:`~HypoxiaMarkersLib.errors.Cancelled`).
    """
    series, mask, share = read_inputs(dce_node, segmentation_node, segment, times_text=times_text,
                                      allow_mask_outside=allow_mask_outside)
    result = analyse_dce(series, mask, parameters or ImagingParameters(), progress=progress)
    if share > 0:  # said with the results, as the command line does
        result.warnings.insert(0, f"{100 * share:.1f}% of the tumour segment lies outside the DCE series; only the "
                                  "overlap is used")
    return ImagingRun(series=series, tumour_mask=mask, result=result, mask_share_outside=share,
                      dce_node_id=dce_node.GetID() if dce_node is not None else "")


def slice_table_columns(result: ImagingResult) -> Dict[str, list]:
    """The per-slice table (one row per tumour slice, caudal to cranial) as columns."""
    columns: Dict[str, list] = {name: [] for name in SLICE_COLUMNS}
    for item in result.slices:
        row = item.as_dict()
        for name in SLICE_COLUMNS:
            columns[name].append(row[name])
    columns["hypoxic_fraction"] = np.asarray(columns["hypoxic_fraction"], dtype=float)
    columns["is_biopsy_slice"] = [int(bool(v)) for v in columns["is_biopsy_slice"]]
    return columns


def publish_results(
    run: ImagingRun,
    nodes: Optional[Dict[str, object]] = None,
    *,
    reference_node=None,
    name: str = "",
    scene=None,
) -> Dict[str, object]:
    """Put a run's results in the scene, reusing the nodes in ``nodes`` (by role) and creating the others.

    Creates/updates: the A_Brix, k_ep, k_el and R² volumes on the DCE grid (NaN outside the tumour; A_Brix shown
    with a colour map and the window 0 .. 2 x threshold so that the threshold sits mid-scale), the hypoxic voxels
    as a label map (red), the per-slice table with its bar chart of hypoxic fractions, the tumour's mean curve
    with its Brix fit, and the outline of the biopsy slice. Returns the nodes by role (see :data:`OUTPUT_ROLES`).
    """
    nodes = dict(nodes or {})
    result = run.result
    geometry = result.geometry
    prefix = f"{name} " if name else ""
    for role, (attribute, suffix, _what) in MAP_OUTPUTS.items():
        nodes[role] = mrml.volume_from_array(getattr(result, attribute), geometry, f"{prefix}{suffix}",
                                             node=nodes.get(role), reference_node=reference_node, scene=scene)
    threshold = result.parameters.a_threshold
    mrml.set_window(nodes["a_brix"], 0.0, 2.0 * threshold, color_node_id="vtkMRMLColorTableNodeRainbow")
    mrml.set_window(nodes["r_squared"], 0.0, 1.0, color_node_id="vtkMRMLColorTableNodeGrey")
    for role in ("k_ep", "k_el"):
        low_high = _finite_range(getattr(result, role))
        if low_high is not None:
            mrml.set_window(nodes[role], low_high[0], low_high[1], color_node_id="vtkMRMLColorTableNodeRainbow")
    nodes["hypoxic"] = mrml.label_map_from_mask(result.hypoxic_mask.astype(bool), geometry,
                                                f"{prefix}hypoxic voxels", node=nodes.get("hypoxic"),
                                                reference_node=reference_node, scene=scene)
    _publish_slice_table(result, nodes, prefix, scene)
    _publish_mean_curve(result, nodes, prefix, scene)
    nodes["biopsy_outline"] = mrml.slice_outline(geometry, result.biopsy_slice.k_index, run.tumour_mask,
                                                 name=f"{prefix}biopsy slice", node=nodes.get("biopsy_outline"),
                                                 scene=scene)
    if reference_node is not None and hasattr(reference_node, "GetTransformNodeID"):
        nodes["biopsy_outline"].SetAndObserveTransformNodeID(reference_node.GetTransformNodeID())
    return nodes


def _finite_range(values: np.ndarray) -> Optional[Tuple[float, float]]:
    finite = np.asarray(values)[np.isfinite(values)]
    if finite.size == 0:
        return None
    low, high = float(finite.min()), float(finite.max())
    return (low, high) if high > low else (low, low + 1.0)


def _publish_slice_table(result: ImagingResult, nodes: Dict[str, object], prefix: str, scene) -> None:
    nodes["slice_table"] = mrml.table_from_columns(
        slice_table_columns(result), f"{prefix}hypoxic fraction per slice", node=nodes.get("slice_table"),
        units={"hypoxic_fraction": "fraction"}, descriptions=SLICE_COLUMN_DESCRIPTIONS, scene=scene)
    nodes["slice_series"] = mrml.plot_series(nodes["slice_table"], "slice", "hypoxic_fraction",
                                             f"{prefix}hypoxic fraction", kind="bar", color=(0.78, 0.16, 0.16),
                                             node=nodes.get("slice_series"), scene=scene)
    nodes["slice_chart"] = mrml.plot_chart(
        [nodes["slice_series"]], f"{prefix}hypoxic fraction per slice",
        title=f"Hypoxic fraction per slice (biopsy slice {result.biopsy_slice.slice})",
        x_title="slice (1 = caudal)", y_title="hypoxic fraction", node=nodes.get("slice_chart"), y_range=(0.0, 1.0),
        scene=scene)


def _publish_mean_curve(result: ImagingResult, nodes: Dict[str, object], prefix: str, scene) -> None:
    curve = result.mean_curve
    nodes["curve_table"] = mrml.table_from_columns(
        {"time_s": np.asarray(curve.times_s, dtype=float), "mean_rsi": np.asarray(curve.rsi, dtype=float),
         "brix_fit_rsi": np.asarray(curve.fitted_rsi, dtype=float)},
        f"{prefix}tumour mean curve", node=nodes.get("curve_table"),
        units={"time_s": "s", "mean_rsi": "relative signal increase", "brix_fit_rsi": "relative signal increase"},
        scene=scene)
    nodes["mean_series"] = mrml.plot_series(nodes["curve_table"], "time_s", "mean_rsi", f"{prefix}tumour mean RSI",
                                            kind="scatter", marker="circle", line_style="none",
                                            color=(0.1, 0.1, 0.1), node=nodes.get("mean_series"), scene=scene)
    nodes["fit_series"] = mrml.plot_series(nodes["curve_table"], "time_s", "brix_fit_rsi",
                                           f"{prefix}Brix fit of the mean", kind="line", color=(0.9, 0.5, 0.0),
                                           node=nodes.get("fit_series"), scene=scene)
    series = [nodes["mean_series"], nodes["fit_series"]]
    series += [nodes[role] for role in ("voxel_series", "voxel_fit_series") if nodes.get(role) is not None]
    nodes["curve_chart"] = mrml.plot_chart(
        series, f"{prefix}relative signal curves",
        title=f"Tumour mean: A_Brix {curve.a_brix:.2f}, k_ep {curve.k_ep:.2f}/min, k_el {curve.k_el:.3f}/min",
        x_title="time (s)", y_title="relative signal increase", node=nodes.get("curve_chart"), scene=scene)


def with_hf_cutoff(result: ImagingResult, hf_cutoff: float) -> ImagingResult:
    """The same result with another hypoxic-fraction cutoff: the tumour, every slice and the biopsy slice are
    called again with it (no refit; the cutoff plays no part in the fit), so one cutoff holds everywhere."""
    import dataclasses

    from ..imaging.hypoxia import classify

    hf_cutoff = float(hf_cutoff)
    if hf_cutoff == result.parameters.hf_cutoff:
        return result
    slices = [dataclasses.replace(s, classification=classify(s.hypoxic_fraction, hf_cutoff)) for s in result.slices]
    return dataclasses.replace(result, slices=slices, classification=classify(result.hypoxic_fraction, hf_cutoff),
                               parameters=dataclasses.replace(result.parameters, hf_cutoff=hf_cutoff))


def restored_hf_cutoff(nodes: Dict[str, object], hf_cutoff: float, *, scene=None) -> None:
    """Another cutoff in a scene restored from file: the per-slice table's calls follow it."""
    from ..imaging.hypoxia import classify

    table = nodes.get("slice_table")
    if table is None:
        return
    columns = mrml.table_columns(table)
    if "hypoxic_fraction" not in columns or "classification" not in columns:
        return
    calls = [classify(float(v), float(hf_cutoff)) for v in columns["hypoxic_fraction"]]
    if calls == list(columns["classification"]):
        return
    columns["classification"] = calls
    columns = {name: (list(values) if getattr(values, "dtype", None) is not None and values.dtype.kind in "UO"
                      else values) for name, values in columns.items()}
    mrml.table_from_columns(columns, table.GetName(), node=table, units={"hypoxic_fraction": "fraction"},
                            descriptions=SLICE_COLUMN_DESCRIPTIONS, scene=scene)


def change_biopsy_slice(result: ImagingResult, biopsy_slice: int, nodes: Dict[str, object],
                        tumour_mask: Optional[np.ndarray] = None, *, scene=None) -> ImagingResult:
    """Another biopsy slice, without refitting: the table, chart title and outline follow at once."""
    updated = result.with_biopsy_slice(int(biopsy_slice))
    if nodes.get("slice_table") is not None:
        _publish_slice_table(updated, nodes, _prefix_of(nodes), scene)
    mask = tumour_mask if tumour_mask is not None else updated.tumour_mask.astype(bool)
    if nodes.get("biopsy_outline") is not None:
        mrml.slice_outline(updated.geometry, updated.biopsy_slice.k_index, mask, node=nodes["biopsy_outline"],
                           name=nodes["biopsy_outline"].GetName(), scene=scene)
    return updated


def _prefix_of(nodes: Dict[str, object]) -> str:
    table = nodes.get("slice_table")
    name = table.GetName() if table is not None else ""
    suffix = "hypoxic fraction per slice"
    return name[: -len(suffix)] if name.endswith(suffix) else ""


def biopsy_slice_from_table(table_node, biopsy_slice: int) -> Dict[str, object]:
    """The row of slice ``biopsy_slice`` in a per-slice table node (for a scene restored without the result)."""
    columns = mrml.table_columns(table_node)
    if "slice" not in columns:
        raise InputError("the slice table has no 'slice' column", source=table_node.GetName(), field="slice",
                         expected="a table made by HypoxiaMarkers")
    numbers = [int(v) for v in columns["slice"]]
    if int(biopsy_slice) not in numbers:
        raise InputError(f"biopsy slice {biopsy_slice} does not exist: the tumour has {len(numbers)} slice(s)",
                         source="Biopsy slice", expected=f"a slice number from 1 to {len(numbers)}")
    row = numbers.index(int(biopsy_slice))
    return {name: (values[row].item() if hasattr(values[row], "item") else values[row])
            for name, values in columns.items()}


def restored_biopsy_slice(nodes: Dict[str, object], biopsy_slice: int, *, scene=None) -> Dict[str, object]:
    """Another biopsy slice in a scene restored from file (the analysis itself is not in memory).

    The per-slice table holds every slice's numbers: its ``is_biopsy_slice`` column, the chart title and the
    outline (from the A_Brix map's grid and its fitted voxels) are updated; returns the slice's row.
    """
    table = nodes.get("slice_table")
    if table is None:
        raise InputError("no per-slice table: run Apply first", source="Biopsy slice", expected="a computed analysis")
    row = biopsy_slice_from_table(table, biopsy_slice)
    columns = mrml.table_columns(table)
    columns["is_biopsy_slice"] = np.asarray([int(int(s) == int(biopsy_slice)) for s in columns["slice"]])
    columns = {name: (list(values) if values.dtype.kind in "UO" else values) for name, values in columns.items()}
    mrml.table_from_columns(columns, table.GetName(), node=table, units={"hypoxic_fraction": "fraction"},
                            descriptions=SLICE_COLUMN_DESCRIPTIONS, scene=scene)
    chart = nodes.get("slice_chart")
    if chart is not None:
        chart.SetTitle(f"Hypoxic fraction per slice (biopsy slice {int(biopsy_slice)})")
    a_brix = nodes.get("a_brix")
    if nodes.get("biopsy_outline") is not None and a_brix is not None and a_brix.GetImageData() is not None:
        geometry = mrml.geometry_of(a_brix)
        fitted = np.isfinite(mrml.array_of(a_brix))
        mrml.slice_outline(geometry, int(row["k_index"]), fitted, node=nodes["biopsy_outline"],
                           name=nodes["biopsy_outline"].GetName(), scene=scene)
    return row


def show_biopsy_slice(result: ImagingResult, tumour_mask: Optional[np.ndarray] = None, *, scene=None) -> np.ndarray:
    """Centre the slice views on the tumour in the biopsy slice; returns that RAS position."""
    mask = tumour_mask if tumour_mask is not None else result.tumour_mask.astype(bool)
    centre = mrml.slice_centre_ras(result.geometry, result.biopsy_slice.k_index, mask)
    mrml.jump_slices_to(centre, scene=scene)
    return centre


# --------------------------------------------------------------------------------------------------------------
# The curve of one voxel
# --------------------------------------------------------------------------------------------------------------


@dataclass
class VoxelCurve:
    """The relative signal curve of one voxel and its Brix fit (NaN where there is no fit)."""

    ijk: Tuple[int, int, int]
    times_s: np.ndarray
    rsi: np.ndarray
    fitted_rsi: np.ndarray
    in_tumour: bool
    a_brix: float
    k_ep: float
    k_el: float
    r_squared: float
    note: str = ""


def voxel_curve(run: ImagingRun, ras: Sequence[float]) -> VoxelCurve:
    """The curve of the DCE voxel containing the RAS position ``ras`` (e.g. the crosshair).

    RSI = S / S0 - 1 with S0 the mean of the baseline frames used by the analysis, as in
    :func:`~HypoxiaMarkersLib.imaging.analysis.analyse_dce`; the fit is the voxel's Brix curve at its bolus arrival time
    (the tumour's, or the voxel's own when arrival times were fitted per voxel).
    """
    from ..imaging.brix import brix_curve
    from ..imaging.timing import SECONDS_PER_MINUTE

    result = run.result
    geometry = result.geometry
    i, j, k = mrml.index_of_ras(geometry, ras)
    size = geometry.size
    if not (0 <= i < size[0] and 0 <= j < size[1] and 0 <= k < size[2]):
        raise InputError("the crosshair is outside the DCE volume", source="crosshair",
                         expected="a position inside the DCE series (hold Shift and move the mouse over it)")
    _, rsi = relative_signal_increase(run.series.signal[:, k, j, i], result.baseline_frames)
    a, k_ep, k_el, r2 = (float(getattr(result, name)[k, j, i]) for name in ("a_brix", "k_ep", "k_el", "r_squared"))
    in_tumour = bool(run.tumour_mask[k, j, i])
    times = np.asarray(result.times_s, dtype=float)
    note = ""
    if not in_tumour:
        note = "outside the tumour: no fit"
    elif not math.isfinite(a):
        note = "no fit in this voxel"
    if note:
        fitted = np.full(times.shape, np.nan)
    else:
        tau_min = result.parameters.injection_duration_s / SECONDS_PER_MINUTE
        t_lag = (result.mean_curve.t_lag_s if result.voxel_t_lag_s is None
                 else float(result.voxel_t_lag_s[k, j, i]))
        fitted = brix_curve((times - t_lag) / SECONDS_PER_MINUTE, a, k_ep, k_el, tau_min)
    return VoxelCurve(ijk=(i, j, k), times_s=times, rsi=rsi, fitted_rsi=np.asarray(fitted, dtype=float),
                      in_tumour=in_tumour, a_brix=a, k_ep=k_ep, k_el=k_el, r_squared=r2, note=note)


def publish_voxel_curve(curve: VoxelCurve, nodes: Dict[str, object], *, scene=None) -> Dict[str, object]:
    """Add the voxel's curve (and fit) to the curve chart, next to the tumour's mean curve."""
    label = f"voxel ({curve.ijk[0]}, {curve.ijk[1]}, {curve.ijk[2]})"
    nodes["voxel_table"] = mrml.table_from_columns(
        {"time_s": curve.times_s, "voxel_rsi": curve.rsi, "voxel_fit_rsi": curve.fitted_rsi},
        "voxel curve", node=nodes.get("voxel_table"), units={"time_s": "s"}, scene=scene)
    nodes["voxel_series"] = mrml.plot_series(nodes["voxel_table"], "time_s", "voxel_rsi", label, kind="scatter",
                                             marker="square", line_style="none", color=(0.1, 0.4, 0.9),
                                             node=nodes.get("voxel_series"), scene=scene)
    nodes["voxel_fit_series"] = mrml.plot_series(nodes["voxel_table"], "time_s", "voxel_fit_rsi", f"{label} fit",
                                                 kind="line", color=(0.1, 0.4, 0.9), line_style="dash",
                                                 node=nodes.get("voxel_fit_series"), scene=scene)
    series = [nodes[role] for role in ("mean_series", "fit_series") if nodes.get(role) is not None]
    series += [nodes["voxel_series"], nodes["voxel_fit_series"]]
    title = f"{label}: " + (curve.note or f"A_Brix {curve.a_brix:.2f}, k_ep {curve.k_ep:.2f}/min, "
                                          f"k_el {curve.k_el:.3f}/min, R² {curve.r_squared:.2f}")
    nodes["curve_chart"] = mrml.plot_chart(series, "relative signal curves", title=title, x_title="time (s)",
                                           y_title="relative signal increase", node=nodes.get("curve_chart"),
                                           scene=scene)
    return nodes


# --------------------------------------------------------------------------------------------------------------
# Gene score and the composite
# --------------------------------------------------------------------------------------------------------------


@dataclass
class GeneScoreTable:
    """Gene scores of the samples of a file: what the module offers to pick the patient's sample from."""

    samples: List[str]
    scores: Dict[str, float]
    classifications: Dict[str, str]
    cutoff: float
    source: str
    warnings: List[str] = field(default_factory=list)


SCORE_COLUMNS = ("sample", "hypoxia_score")


def _scores_table_header(path: Path) -> Optional[List[str]]:
    """The header of a CSV/TSV written by ``hypoxia-markers genes`` (None when the file is something else)."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            first = handle.readline()
    except (OSError, UnicodeDecodeError):
        return None
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    header = [cell.strip().strip('"') for cell in first.rstrip("\r\n").split(delimiter)]
    return header if all(column in header for column in SCORE_COLUMNS) else None


#: What one patient's expression file needs to be scored (said in the panel and in the error).
SINGLE_SAMPLE_NEEDS = ("one sample is scored against stored reference values: choose a signature/reference file "
                       "made from a reference cohort with 'hypoxia-markers genes COHORT --out scores.csv "
                       "--save-reference reference.json'")


def gene_file_packages(path: PathLike) -> List[str]:
    """The Python packages (import names) reading ``path`` needs beyond what 3D Slicer bundles.

    A scores table (columns ``sample``, ``hypoxia_score``) is read with the standard library: nothing. An
    expression file needs pandas, an Excel workbook (.xlsx/.xlsm) openpyxl too. The old Excel format (.xls) is
    refused (its reader, xlrd, is not a dependency): save it as .xlsx or CSV.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise InputError("the old Excel format (.xls) is not read", source=str(path),
                         expected="the file saved as .xlsx or CSV")
    if _scores_table_header(path) is not None:
        return []
    if suffix in (".xlsx", ".xlsm"):
        return ["pandas", "openpyxl"]
    return ["pandas"]


def read_gene_scores(path: PathLike, *, signature_path: Optional[PathLike] = None,
                     reference: str = "auto") -> GeneScoreTable:
    """Gene scores from a scores table or an expression file.

    A table with columns ``sample`` and ``hypoxia_score`` (as written by ``hypoxia-markers genes``) is read as it
    is. Anything else is read as gene expression (CSV/TSV/Excel/GEO series matrix) and scored with the signature
    (default: the shipped 6-gene hypoxia signature) with :func:`~HypoxiaMarkersLib.genes.scoring.score_samples`:
    against the signature's stored reference values when it has them, else against the medians of the file's
    samples (``reference="auto"``).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", source=str(path), expected="an expression file or a scores table")
    header = _scores_table_header(path)
    if header is not None:
        return _read_scores_table(path, header)
    from ..genes.scoring import read_expression, score_samples
    from ..genes.signatures import load_signature

    signature = load_signature(signature_path)
    expression = read_expression(path, signature=signature)
    if len(expression.samples) < 2 and not signature.has_reference:
        raise InputError(f"the file holds a single sample and the signature has no stored reference values; "
                         f"{SINGLE_SAMPLE_NEEDS}", source=str(path), field="samples",
                         expected="several samples, or a signature/reference file")
    scores = score_samples(expression, signature, reference=reference)
    table = scores.table
    samples = [str(s) for s in table.index]
    return GeneScoreTable(
        samples=samples,
        scores={s: float(v) for s, v in zip(samples, table["hypoxia_score"])},
        classifications={s: str(v) for s, v in zip(samples, table["classification"])},
        cutoff=float(scores.signature.cutoff),
        source=f"{path.name}: {scores.signature.name} score, reference {scores.reference_source}",
        warnings=list(scores.warnings),
    )


def _read_scores_table(path: Path, header: List[str]) -> GeneScoreTable:
    delimiter = "\t" if len(header) > 1 and "\t" in path.read_text(encoding="utf-8-sig").splitlines()[0] else ","
    samples: List[str] = []
    scores: Dict[str, float] = {}
    classes: Dict[str, str] = {}
    with open(path, encoding="utf-8-sig", newline="") as handle:
        for line_number, row in enumerate(csv.DictReader(handle, delimiter=delimiter), start=2):
            sample = (row.get("sample") or "").strip()
            text = (row.get("hypoxia_score") or "").strip()
            if not sample:
                continue
            try:
                value = float(text) if text else float("nan")
            except ValueError:
                raise InputError(f"{text!r} is not a number", source=str(path),
                                 field=f"hypoxia_score, line {line_number}", expected="a gene score") from None
            samples.append(sample)
            scores[sample] = value
            classes[sample] = (row.get("classification") or "").strip()
    if not samples:
        raise InputError("the scores table has no samples", source=str(path), field="sample",
                         expected="one row per sample")
    return GeneScoreTable(samples=samples, scores=scores, classifications=classes, cutoff=0.0,
                          source=f"{path.name}: scores table")


def parse_gene_score(text: str) -> Optional[float]:
    """The gene score typed in the module (None when the field is empty)."""
    text = str(text or "").strip().replace(",", ".")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{text!r} is not a number", source="Gene score",
                         expected="the patient's gene score, e.g. 0.42") from None
    if not math.isfinite(value):
        raise InputError("the gene score is not finite", source="Gene score", expected="a finite number")
    return value


def composite_line_from_results(path: PathLike) -> Tuple[float, float, str]:
    """The composite line (x0, y0) of a cohort's ``results.json`` (``hypoxia-markers cohort``)."""
    from ..io.results_schema import COHORT_RESULTS_JSON

    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("file not found", source=str(path), expected="a cohort results.json") from None
    except (OSError, ValueError) as error:
        raise InputError(f"not readable as JSON ({error})", source=str(path),
                         expected="a cohort results.json") from None
    line = None
    if isinstance(data, dict):
        data = COHORT_RESULTS_JSON.wrap(data)  # partial files are accepted; the keys looked up must be declared
        line = data.get("line")
        if not (isinstance(line, dict) and "x0" in line):
            composite = data.get("composite")
            line = composite.get("line") if isinstance(composite, dict) else None
    if not (isinstance(line, dict) and "x0" in line and "y0" in line):
        raise InputError("no composite line in this file", source=str(path), field="line.x0, line.y0",
                         expected="the results.json of 'hypoxia-markers cohort'")
    try:
        x0, y0 = float(line["x0"]), float(line["y0"])
    except (TypeError, ValueError):
        raise InputError("the line's x0/y0 are not numbers", source=str(path), field="line.x0, line.y0",
                         expected="positive numbers") from None
    if not (x0 > 0 and y0 > 0 and math.isfinite(x0) and math.isfinite(y0)):
        raise InputError(f"x0={x0:g}, y0={y0:g} are not both positive", source=str(path), field="line.x0, line.y0",
                         expected="positive numbers")
    n = data.get("n") if isinstance(data, dict) else None
    return x0, y0, f"{path.name}" + (f" (cohort of {n})" if n is not None else "")


def patient_summary(
    hypoxic_fraction: Optional[float],
    hf_cutoff: float,
    gene_score: Optional[float],
    gene_cutoff: float,
    x0: float = 0.0,
    y0: float = 0.0,
    *,
    biopsy: Optional[Dict[str, object]] = None,
) -> Dict[str, object]:
    """The patient's calls: imaging, genes, the group 1-4 and the composite HScomp (when a line is given).

    Missing pieces (no imaging yet, no gene score, no line) leave the dependent entries None.
    """
    from ..imaging.hypoxia import classify
    from ..stats.composite import hscomp

    summary: Dict[str, object] = {
        "hypoxic_fraction": hypoxic_fraction, "hf_cutoff": float(hf_cutoff),
        "imaging_classification": None, "gene_score": gene_score, "gene_cutoff": float(gene_cutoff),
        "gene_classification": None, "group": None, "group_name": None, "composite_line": None, "hscomp": None,
        "composite_classification": None, "biopsy_slice": biopsy,
    }
    if hypoxic_fraction is not None and math.isfinite(hypoxic_fraction):
        summary["imaging_classification"] = classify(hypoxic_fraction, hf_cutoff)
    if gene_score is not None and math.isfinite(gene_score):
        summary["gene_classification"] = classify(gene_score, gene_cutoff)
    if summary["imaging_classification"] and summary["gene_classification"]:
        from ..stats.groups import GROUP_NAMES, classify_groups

        group = int(classify_groups([bool(at_or_above(hypoxic_fraction, hf_cutoff))],
                                    [bool(at_or_above(gene_score, gene_cutoff))])[0])
        summary["group"] = group
        summary["group_name"] = GROUP_NAMES[group]
        if x0 > 0 and y0 > 0:
            value = float(hscomp(hypoxic_fraction, gene_score, x0, y0))
            summary["composite_line"] = {"x0": float(x0), "y0": float(y0)}
            summary["hscomp"] = value
            summary["composite_classification"] = classify(value, 0.0)
    return summary


def _call_html(call: Optional[str]) -> str:
    if not call:
        return f'<span style="color:{NEUTRAL_COLOUR}">-</span>'
    colour = MORE_COLOUR if call == MORE_HYPOXIC else LESS_COLOUR if call == LESS_HYPOXIC else NEUTRAL_COLOUR
    return f'<b style="color:{colour}">{call}</b>'


def summary_html(summary: Dict[str, object], result: Optional[ImagingResult] = None) -> str:
    """The summary box of the module: values and calls, more hypoxic in red, less hypoxic in blue."""
    def number(value, digits=3):
        return "-" if value is None or not math.isfinite(float(value)) else f"{float(value):.{digits}f}"

    rows = []
    hf = summary.get("hypoxic_fraction")
    if result is not None:
        rows.append(("Tumour voxels", f"{result.n_tumour_voxels} ({result.n_fitted} fitted, {result.n_failed} "
                                      f"without fit)"))
        q = result.fit_quality
        if q is not None:  # poor fits are counted, never hidden in "fitted"
            rows.append(("Fit quality", f"{q.n_at_bound} at a bound, {q.n_low_r2} with R² &lt; {q.r2_threshold:g} "
                                        f"({100 * q.share_poor:.0f} % poor); HF {number(q.hypoxic_fraction_all_fits)} "
                                        f"over every fit, {number(q.hypoxic_fraction_good_fits)} over good fits"))
    rows.append(("Hypoxic fraction", f"{number(hf)} &nbsp; {_call_html(summary.get('imaging_classification'))}"
                                     f" <small>(cutoff {number(summary.get('hf_cutoff'), 2)})</small>"))
    biopsy = summary.get("biopsy_slice") or {}
    if biopsy:
        rows.append((f"Biopsy slice {biopsy.get('slice')}",
                     f"{number(biopsy.get('hypoxic_fraction'))} &nbsp; {_call_html(biopsy.get('classification'))}"))
    rows.append(("Gene score", f"{number(summary.get('gene_score'))} &nbsp; "
                               f"{_call_html(summary.get('gene_classification'))}"
                               f" <small>(cutoff {number(summary.get('gene_cutoff'), 2)})</small>"))
    group = summary.get("group")
    rows.append(("Group", "-" if group is None else f"{group}: {summary.get('group_name')}"))
    line = summary.get("composite_line")
    if line:
        rows.append(("HScomp", f"{number(summary.get('hscomp'))} &nbsp; "
                               f"{_call_html(summary.get('composite_classification'))}"
                               f" <small>(line x0 {number(line['x0'])}, y0 {number(line['y0'])})</small>"))
    else:
        rows.append(("HScomp", '<span style="color:#555555">enter the composite line (x0, y0)</span>'))
    if result is not None:
        rows += [("Warning", f'<span style="color:{MORE_COLOUR}">{html.escape(text)}</span>')
                 for text in result.warnings]
    body = "".join(f"<tr><td>{label}:&nbsp;</td><td>{value}</td></tr>" for label, value in rows)
    return f"<table>{body}</table><small>{html.escape(THRESHOLDS_SOURCE)}.</small>"


# --------------------------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------------------------


def unique_export_folder(parent: PathLike, series_name: str) -> Path:
    """``<parent>/HypoxiaMarkers-<series>``, or ``...-2``, ``-3`` ... when earlier exports are there."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in (series_name or "patient")) or "patient"
    base = Path(parent) / f"HypoxiaMarkers-{safe}"
    folder, number = base, 1
    while folder.exists():
        number += 1
        folder = base.with_name(f"{base.name}-{number}")
    return folder


def export_results(run: ImagingRun, folder: PathLike, summary: Dict[str, object], *,
                   inputs: Optional[Dict[str, object]] = None, map_format: str = "nrrd") -> Path:
    """Write the maps (NRRD, or NIfTI with ``map_format="nifti"``), per-slice table, mean curve and summary (JSON
    and CSV) into ``folder``.

    Uses the ``image`` command's writer (same files and names), then adds the patient summary
    (``patient_summary.json`` and ``patient_summary.csv``: imaging, gene and composite calls). The folder is
    written atomically (complete or not at all) and must not exist yet (an earlier export is never replaced).
    """
    from ..io.outputs import write_json
    from ..pipeline.image import write_imaging_result

    folder = Path(folder)
    if folder.exists():
        raise InputError("the folder exists already: an earlier export is never replaced", source=str(folder),
                         expected="a new folder (see unique_export_folder)")
    # No quicklook.png: the scene shows the maps, and drawing it would import matplotlib and pandas, which Slicer
    # does not bundle (the module's imaging path must work in a bare Slicer).
    write_imaging_result(run.result, folder, inputs=inputs, quicklook=False, map_format=map_format)
    patient = {"version": __version__, "citation": CITATION, **summary,
               "imaging_parameters": run.result.parameters.as_dict(), "time_source": run.result.time_source}
    write_json(patient, folder / "patient_summary.json")
    flat = {key: value for key, value in summary.items() if not isinstance(value, dict)}
    biopsy = summary.get("biopsy_slice") or {}
    flat["biopsy_slice"] = biopsy.get("slice") if isinstance(biopsy, dict) else None
    flat["biopsy_hypoxic_fraction"] = biopsy.get("hypoxic_fraction") if isinstance(biopsy, dict) else None
    line = summary.get("composite_line") or {}
    flat["x0"], flat["y0"] = line.get("x0"), line.get("y0")
    with open(folder / "patient_summary.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(list(flat))
        writer.writerow(["" if v is None else (f"{v:.6g}" if isinstance(v, float) else v) for v in flat.values()])
    return folder


# --------------------------------------------------------------------------------------------------------------
# Sample data: the synthetic phantom as nodes
# --------------------------------------------------------------------------------------------------------------


def load_phantom(*, seed: int = 0, scene=None, name: str = "HypoxiaMarkers phantom", sequences_logic=None,
                 **phantom_options) -> Dict[str, object]:
    """Make the synthetic DCE phantom (:func:`~HypoxiaMarkersLib.imaging.phantom.make_phantom`) and put it in the scene.

    Returns the nodes: ``dce`` (a volume sequence, frame times as its index in s), ``t2w`` (T2-weighted volume),
    ``segmentation`` with the ``segment_id`` of the tumour drawn on the T2W grid, and the phantom's
    ``gene_score`` and an illustrative composite ``line``. Nothing is downloaded.
    """
    from ..imaging.phantom import make_phantom

    phantom = make_phantom(seed=seed, **phantom_options)
    dce = mrml.sequence_from_series(phantom.series, f"{name} DCE", scene=scene, sequences_logic=sequences_logic)
    t2w = mrml.volume_from_array(phantom.t2w, phantom.t2w_geometry, f"{name} T2W", scene=scene)
    segmentation = mrml.segmentation_from_mask(phantom.t2w_tumour_mask.astype(bool), phantom.t2w_geometry,
                                               f"{name} tumour", "tumour", scene=scene)
    segmentation.SetReferenceImageGeometryParameterFromVolumeNode(t2w)
    return {
        "dce": dce, "t2w": t2w, "segmentation": segmentation,
        "segment_id": mrml.find_segment_id(segmentation, "tumour"),
        "gene_score": PHANTOM_GENE_SCORE, "line": PHANTOM_LINE, "phantom": phantom,
    }
