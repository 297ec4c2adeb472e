"""The bridge between 3D Slicer's scene (MRML nodes) and the arrays of HypoxiaMarkersLib.

Everything that knows about MRML lives here, so the rest of the library stays plain numpy:

- a DCE series in the scene (a ``vtkMRMLSequenceNode`` of scalar volumes, or a MultiVolume-style volume whose
  scalar components are the frames) becomes a :class:`~HypoxiaMarkersLib.volume.DceSeries`, with frame times
  taken from the sequence's numeric index and its time unit, else from the ``MultiVolume.FrameLabels``
  attribute; when neither says when the frames were acquired the user is asked (an ``InputError``);
- a segment drawn on T2W becomes a boolean mask on the DCE grid (Slicer's own resampling, a DCE frame as the
  reference geometry);
- arrays become volumes on the DCE grid (the geometry is copied explicitly: ``updateVolumeFromArray`` copies
  voxels only), label maps, tables and plot series/charts; a slice can be outlined with a markups ROI.

``slicer`` is imported lazily, inside the functions: importing this module never needs Slicer, and the
library can be used without it. Works with the Slicer application and with the ``slicer-core`` wheel (MRML
without Qt), which is what the tests use.

Geometry: MRML uses RAS, the library LPS (ITK); the conversion is done only here, through
:meth:`Geometry.ijk_to_ras` and :meth:`Geometry.from_ijk_to_ras`.
"""

from __future__ import annotations

import re
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..errors import InputError
from ..imaging.timing import SECONDS_PER_UNIT, check_frame_times
from ..volume import DceSeries, Geometry

#: Seconds per unit, for the unit strings found in sequence nodes (index unit) and MultiVolume attributes.
TIME_UNITS: Dict[str, float] = dict(SECONDS_PER_UNIT)

#: DICOM tags MultiVolume uses to tell frames apart that are acquisition times (others, such as EchoTime,
#: FlipAngle or b-values, label frames of a different kind of series and are not frame times).
MULTIVOLUME_TIME_TAGS = ("TriggerTime", "AcquisitionTime", "SeriesTime", "ContentTime", "DeltaStartTime")
#: Of those, the ones that are clock times of day: they are made relative to the first frame.
MULTIVOLUME_CLOCK_TAGS = ("AcquisitionTime", "SeriesTime", "ContentTime")
#: Frame-identifying tags with a time unit that are not acquisition times (multi-echo, multi-TR, multi-TI series).
MULTIVOLUME_NOT_TIME_TAGS = ("EchoTime", "RepetitionTime", "InversionTime")

ASK_FOR_TIMES = "enter the frame times (seconds, one per frame, separated by commas) in the module's Frame times field"

HYPOXIC_COLOR_NAME = "HypoxiaMarkers hypoxic"


# --------------------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------------------


def _slicer():
    import slicer

    return slicer


def _scene(scene=None):
    return scene if scene is not None else _slicer().mrmlScene


def _node_label(node) -> str:
    if node is None:
        return "<no node>"
    name = node.GetName() or node.GetID() or node.GetClassName()
    return f"'{name}'"


def _vtk_matrix(array: np.ndarray):
    import vtk

    matrix = vtk.vtkMatrix4x4()
    for row in range(4):
        for col in range(4):
            matrix.SetElement(row, col, float(array[row, col]))
    return matrix


def _numpy_matrix(vtk_matrix) -> np.ndarray:
    return np.array([[vtk_matrix.GetElement(row, col) for col in range(4)] for row in range(4)], dtype=float)


def time_unit_factor(unit: Optional[str]) -> Optional[float]:
    """Seconds per ``unit`` (e.g. "s", "ms", "min"), or None when ``unit`` is not a unit of time."""
    if unit is None:
        return None
    return TIME_UNITS.get(str(unit).strip().lower())


# --------------------------------------------------------------------------------------------------------------
# Volumes and geometry
# --------------------------------------------------------------------------------------------------------------


def geometry_of(volume_node) -> Geometry:
    """The grid (LPS :class:`Geometry`) of a volume node, from its IJK-to-RAS matrix and image dimensions.

    The node's own matrix is used; a parent transform, if any, is not applied (outputs are placed under the
    same transform instead, see :func:`volume_from_array`).
    """
    image = volume_node.GetImageData() if volume_node is not None else None
    if image is None:
        raise InputError("the volume has no image data", source=_node_label(volume_node), expected="a loaded volume")
    import vtk

    matrix = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(matrix)
    return Geometry.from_ijk_to_ras(_numpy_matrix(matrix), image.GetDimensions())


def array_of(volume_node) -> np.ndarray:
    """A copy of a scalar volume's voxels, ``[k, j, i]`` (``[k, j, i, c]`` for several components)."""
    if volume_node is None or volume_node.GetImageData() is None:
        raise InputError("the volume has no image data", source=_node_label(volume_node), expected="a loaded volume")
    # Read the scalars directly: slicer.util.arrayFromVolume refuses a scalar-volume class holding several
    # components, which is how a MultiVolume-style 4D volume may arrive.
    from vtk.util import numpy_support

    image = volume_node.GetImageData()
    scalars = image.GetPointData().GetScalars()
    if scalars is None:
        raise InputError("the volume has no voxels", source=_node_label(volume_node), expected="a loaded volume")
    shape = tuple(reversed(image.GetDimensions()))
    components = scalars.GetNumberOfComponents()
    voxels = numpy_support.vtk_to_numpy(scalars)
    voxels = voxels.reshape(shape + ((components,) if components > 1 else ()))
    return np.array(voxels, copy=True)


def set_geometry(volume_node, geometry: Geometry) -> None:
    """Give ``volume_node`` the grid ``geometry`` (origin, spacing and axis directions)."""
    volume_node.SetIJKToRASMatrix(_vtk_matrix(geometry.ijk_to_ras()))


def volume_from_array(
    array: np.ndarray,
    geometry: Geometry,
    name: str,
    *,
    node=None,
    label_map: bool = False,
    reference_node=None,
    scene=None,
):
    """Put ``array`` ``[k, j, i]`` into a volume node on ``geometry`` and return the node.

    Parameters
    ----------
    array : ndarray, shape ``geometry.shape``
        Voxel values. Booleans are stored as uint8, int64 as int32 (Slicer refuses int64 volumes).
    geometry : Geometry
        The grid of the array (the DCE grid for the maps).
    name : str
        Node name (used when a node is created).
    node : vtkMRMLVolumeNode, optional
        Existing node to update (e.g. the one saved in the parameter node); a new one is added otherwise.
    label_map : bool
        Create a ``vtkMRMLLabelMapVolumeNode`` instead of a scalar volume.
    reference_node : vtkMRMLNode, optional
        The output is placed under the same parent transform as this node (the DCE volume), so it overlays it.
    scene : vtkMRMLScene, optional
        Defaults to ``slicer.mrmlScene``.
    """
    slicer = _slicer()
    scene = _scene(scene)
    array = np.asarray(array)
    if tuple(array.shape) != tuple(geometry.shape):
        raise ValueError(f"array shape {array.shape} does not match the grid {geometry.shape} (k, j, i)")
    if array.dtype == bool:
        array = array.astype(np.uint8)
    elif array.dtype == np.int64:
        array = array.astype(np.int32)
    elif array.dtype == np.float64:
        array = array.astype(np.float32)
    class_name = "vtkMRMLLabelMapVolumeNode" if label_map else "vtkMRMLScalarVolumeNode"
    if node is None:
        node = scene.AddNewNodeByClass(class_name, name)
    slicer.util.updateVolumeFromArray(node, np.ascontiguousarray(array))
    set_geometry(node, geometry)
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    if reference_node is not None and hasattr(reference_node, "GetTransformNodeID"):
        node.SetAndObserveTransformNodeID(reference_node.GetTransformNodeID())
    node.Modified()
    return node


def set_window(volume_node, low: float, high: float, *, color_node_id: Optional[str] = None,
               transparent_outside: bool = True) -> None:
    """Display a map with the window ``[low, high]`` and a colour table; NaN voxels shown transparent.

    ``transparent_outside`` thresholds the display at the finite range of the voxels, so voxels outside the
    tumour (NaN) do not cover the T2W image when the map is shown as foreground.
    """
    display = volume_node.GetDisplayNode()
    if display is None:
        volume_node.CreateDefaultDisplayNodes()
        display = volume_node.GetDisplayNode()
    display.SetAutoWindowLevel(False)
    display.SetWindowLevelMinMax(float(low), float(high))
    if color_node_id and volume_node.GetScene() is not None and volume_node.GetScene().GetNodeByID(color_node_id):
        display.SetAndObserveColorNodeID(color_node_id)
    if transparent_outside and hasattr(display, "SetApplyThreshold"):
        values = _finite_range(volume_node)
        if values is not None:
            display.SetAutoThreshold(False)
            display.SetLowerThreshold(values[0])
            display.SetUpperThreshold(values[1])
            display.SetApplyThreshold(True)


def _finite_range(volume_node) -> Optional[Tuple[float, float]]:
    values = _slicer().util.arrayFromVolume(volume_node)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    return float(finite.min()), float(finite.max())


def hypoxic_color_node(scene=None, rgba: Sequence[float] = (1.0, 0.0, 0.0, 1.0)):
    """The two-entry colour table for the hypoxic label map: 0 transparent, 1 = hypoxic (red)."""
    scene = _scene(scene)
    node = scene.GetFirstNodeByName(HYPOXIC_COLOR_NAME)
    if node is None or not node.IsA("vtkMRMLColorTableNode"):
        node = scene.AddNewNodeByClass("vtkMRMLColorTableNode", HYPOXIC_COLOR_NAME)
    node.SetTypeToUser()
    node.SetNumberOfColors(2)
    node.SetColor(0, "background", 0.0, 0.0, 0.0, 0.0)
    node.SetColor(1, "hypoxic", *[float(c) for c in rgba])
    node.SetHideFromEditors(False)
    return node


def label_map_from_mask(mask: np.ndarray, geometry: Geometry, name: str, *, node=None, reference_node=None,
                        scene=None):
    """A label map (1 inside ``mask``, 0 elsewhere) on ``geometry``, coloured with :func:`hypoxic_color_node`."""
    node = volume_from_array(np.asarray(mask).astype(np.uint8), geometry, name, node=node, label_map=True,
                             reference_node=reference_node, scene=scene)
    color = hypoxic_color_node(scene=node.GetScene())
    node.GetDisplayNode().SetAndObserveColorNodeID(color.GetID())
    return node


# --------------------------------------------------------------------------------------------------------------
# DCE series: sequences and MultiVolume-style volumes
# --------------------------------------------------------------------------------------------------------------


def _parse_numbers(values: Sequence[str]) -> Optional[np.ndarray]:
    try:
        out = np.array([float(v) for v in values], dtype=float)
    except (TypeError, ValueError):
        return None
    return out if np.all(np.isfinite(out)) else None


def _frame_labels_times(node, n_frames: int) -> Tuple[Optional[np.ndarray], str]:
    """Times from the ``MultiVolume.FrameLabels`` attribute, or (None, why not)."""
    labels = node.GetAttribute("MultiVolume.FrameLabels")
    if not labels:
        return None, "no MultiVolume.FrameLabels attribute"
    source = f"{_node_label(node)} attribute MultiVolume.FrameLabels"
    tag = (node.GetAttribute("MultiVolume.FrameIdentifyingDICOMTagName") or "").strip()
    unit = (node.GetAttribute("MultiVolume.FrameIdentifyingDICOMTagUnits") or "").strip()
    if tag and tag not in MULTIVOLUME_TIME_TAGS:
        return None, f"MultiVolume.FrameLabels are values of {tag} ({unit or 'no unit'}), not acquisition times"
    if unit:
        factor = time_unit_factor(unit)
        if factor is None:
            return None, f"MultiVolume.FrameLabels have the unit '{unit}', which is not a unit of time"
        unit_text = unit
    else:
        # MultiVolume always stores frame times in milliseconds (MultiVolumeImporter converts seconds to ms).
        factor, unit_text = 1e-3, "ms (MultiVolume convention)"
    numbers = _parse_numbers([item for item in re.split(r"[,\s]+", labels.strip()) if item])
    if numbers is None:
        raise InputError("the frame labels are not numbers", source=source, expected="comma-separated numbers")
    if numbers.size != n_frames:
        raise InputError(
            f"{numbers.size} frame labels for {n_frames} frames; {ASK_FOR_TIMES}",
            source=source,
            expected=f"{n_frames} values",
        )
    times = numbers * factor
    description = f"MultiVolume.FrameLabels ({unit_text}{', ' + tag if tag else ''})"
    if tag in MULTIVOLUME_CLOCK_TAGS:
        times = times - times[0]
        description += ", relative to the first frame"
    return times, description


def frame_times_of_sequence(sequence_node) -> Tuple[Optional[np.ndarray], str]:
    """Frame times (s) stored in a sequence node, and where they came from.

    Looked for, in order: the index values when the index unit is a unit of time (a ``.seq.nrrd`` gives index
    "time", unit "s"); the ``MultiVolume.FrameLabels`` attribute (ms, a MultiVolume NRRD or a DICOM series
    loaded as a sequence). Returns ``(None, reason)`` when neither is there: frame numbers are never taken as
    times.

    Raises
    ------
    InputError
        When times are present but unusable (not numbers, wrong count, not increasing).
    """
    n_frames = sequence_node.GetNumberOfDataNodes()
    name = sequence_node.GetIndexName() or ""
    unit = sequence_node.GetIndexUnit() or ""
    factor = time_unit_factor(unit)
    index_values = [sequence_node.GetNthIndexValue(i) for i in range(n_frames)]
    where = f"{_node_label(sequence_node)} index '{name}'"
    if factor is not None and name.strip() in MULTIVOLUME_NOT_TIME_TAGS:
        factor = None  # e.g. an echo-time series: its index is in ms but is not when the frames were acquired
    if factor is not None:
        numbers = _parse_numbers(index_values)
        if numbers is None:
            raise InputError(
                f"the index values are not numbers ({', '.join(index_values[:4])}...); {ASK_FOR_TIMES}",
                source=where,
                expected=f"numeric times in {unit}",
            )
        times = numbers * factor
        check_frame_times(times, n_frames, where)
        if name.strip() in MULTIVOLUME_CLOCK_TAGS:
            return times - times[0], f"sequence index '{name}' ({unit.strip()}), relative to the first frame"
        return times, f"sequence index '{name}' ({unit.strip()})"
    times, why_not = _frame_labels_times(sequence_node, n_frames)
    if times is not None:
        check_frame_times(times, n_frames, f"{_node_label(sequence_node)} MultiVolume.FrameLabels")
        return times, why_not
    reason = f"the index '{name}' has {'the unit ' + repr(unit) if unit.strip() else 'no unit'}, which is not a time"
    return None, f"{reason}; {why_not}"


def frame_times_of_multivolume(volume_node) -> Tuple[Optional[np.ndarray], str]:
    """Frame times (s) of a MultiVolume-style volume (frames as scalar components), and their source."""
    n_frames = volume_node.GetImageData().GetNumberOfScalarComponents()
    times, how = _frame_labels_times(volume_node, n_frames)
    if times is not None:
        check_frame_times(times, n_frames, f"{_node_label(volume_node)} MultiVolume.FrameLabels")
    return times, how


def is_multivolume(node) -> bool:
    """True for a volume whose scalar components are the frames of a 4D series (MultiVolume style)."""
    if node is None or not node.IsA("vtkMRMLScalarVolumeNode") or node.GetImageData() is None:
        return False
    if node.IsA("vtkMRMLMultiVolumeNode"):
        return True
    has_frames = node.GetAttribute("MultiVolume.NumberOfFrames") or node.GetAttribute("MultiVolume.FrameLabels")
    return bool(has_frames) and node.GetImageData().GetNumberOfScalarComponents() > 1


def sequence_of_proxy(node, scene=None):
    """The sequence whose proxy (the volume shown in the views) is ``node``, or None."""
    scene = _scene(scene) if node is None or node.GetScene() is None else node.GetScene()
    if node is None or scene is None:
        return None
    browsers = scene.GetNodesByClass("vtkMRMLSequenceBrowserNode")
    for index in range(browsers.GetNumberOfItems()):
        browser = browsers.GetItemAsObject(index)
        sequence = browser.GetSequenceNode(node)
        if sequence is not None:
            return sequence
    return None


def resolve_dce_node(node, scene=None):
    """The node holding the DCE frames: a sequence, a MultiVolume-style volume, or the sequence of a proxy."""
    if node is None:
        raise InputError("no DCE series selected", source="DCE series", expected="a 4D sequence or MultiVolume")
    if node.IsA("vtkMRMLSequenceNode") or is_multivolume(node):
        return node
    if node.IsA("vtkMRMLSequenceBrowserNode"):
        sequence = node.GetMasterSequenceNode()
        if sequence is not None:
            return sequence
    sequence = sequence_of_proxy(node, scene)
    if sequence is not None:
        return sequence
    raise InputError(
        "this node is not a 4D series",
        source=_node_label(node),
        expected="a volume sequence (vtkMRMLSequenceNode) or a MultiVolume with one component per frame",
    )


def dce_from_sequence(sequence_node, *, times: Optional[Sequence[float]] = None, time_source: str = "") -> DceSeries:
    """The DCE series held by a sequence of scalar volumes.

    Parameters
    ----------
    sequence_node : vtkMRMLSequenceNode
        One scalar volume per frame, all on the same grid.
    times : sequence of float, optional
        Frame times in seconds given by the user; they take precedence over times found in the node.
    time_source : str
        How to describe ``times`` in the results (default "entered by the user").

    Raises
    ------
    InputError
        No frames, frames that are not scalar volumes or lie on different grids, or no frame times.
    """
    slicer = _slicer()
    label = _node_label(sequence_node)
    n_frames = sequence_node.GetNumberOfDataNodes()
    if n_frames < 2:
        raise InputError(f"the sequence has {n_frames} frame(s)", source=label, expected="a 4D series of 2+ frames")
    first = sequence_node.GetNthDataNode(0)
    if first is None or not first.IsA("vtkMRMLScalarVolumeNode") or first.GetImageData() is None:
        raise InputError(
            "the sequence does not hold scalar volumes",
            source=label,
            field=f"frame 1 ({first.GetClassName() if first is not None else 'empty'})",
            expected="one scalar volume per frame",
        )
    geometry = geometry_of(first)
    signal = np.empty((n_frames,) + geometry.shape, dtype=np.float32)
    for index in range(n_frames):
        frame = sequence_node.GetNthDataNode(index)
        if frame is None or not frame.IsA("vtkMRMLScalarVolumeNode") or frame.GetImageData() is None:
            raise InputError("a frame is not a scalar volume", source=label, field=f"frame {index + 1}",
                             expected="one scalar volume per frame")
        if frame.GetImageData().GetNumberOfScalarComponents() != 1:
            raise InputError("a frame has several components", source=label, field=f"frame {index + 1}",
                             expected="single-component scalar volumes")
        if not geometry_of(frame).same_grid(geometry):
            raise InputError(
                "the frames do not all lie on the same grid (resample or register the series first)",
                source=label,
                field=f"frame {index + 1}",
                expected="the grid of frame 1",
            )
        signal[index] = slicer.util.arrayFromVolume(frame)
    times_s, source_of_times = _choose_times(sequence_node, n_frames, times, time_source,
                                             lambda: frame_times_of_sequence(sequence_node))
    return DceSeries(signal=signal, times_s=times_s, geometry=geometry, time_source=source_of_times,
                     source=sequence_node.GetName() or "", metadata={"node_id": sequence_node.GetID()})


def dce_from_multivolume(volume_node, *, times: Optional[Sequence[float]] = None,
                         time_source: str = "") -> DceSeries:
    """The DCE series held by a MultiVolume-style volume (one scalar component per frame)."""
    label = _node_label(volume_node)
    voxels = array_of(volume_node)
    if voxels.ndim != 4 or voxels.shape[3] < 2:
        raise InputError("the volume has one component, not one per frame", source=label,
                         expected="a MultiVolume with one component per frame")
    geometry = geometry_of(volume_node)
    signal = np.ascontiguousarray(np.moveaxis(voxels, 3, 0), dtype=np.float32)
    n_frames = signal.shape[0]
    times_s, source_of_times = _choose_times(volume_node, n_frames, times, time_source,
                                             lambda: frame_times_of_multivolume(volume_node))
    return DceSeries(signal=signal, times_s=times_s, geometry=geometry, time_source=source_of_times,
                     source=volume_node.GetName() or "", metadata={"node_id": volume_node.GetID()})


def _choose_times(node, n_frames, times, time_source, find) -> Tuple[np.ndarray, str]:
    if times is not None and len(times) > 0:
        source = time_source or "entered by the user"
        return check_frame_times(times, n_frames, f"frame times ({source})"), source
    found, how = find()
    if found is None:
        raise InputError(f"the frame times are not known ({how}); {ASK_FOR_TIMES}", source=_node_label(node),
                         field="frame times", expected=f"{n_frames} times in seconds")
    return found, how


def dce_from_node(node, *, times: Optional[Sequence[float]] = None, time_source: str = "", scene=None) -> DceSeries:
    """The DCE series of whatever the user picked: a sequence, its browser or proxy, or a MultiVolume."""
    node = resolve_dce_node(node, scene)
    if node.IsA("vtkMRMLSequenceNode"):
        return dce_from_sequence(node, times=times, time_source=time_source)
    return dce_from_multivolume(node, times=times, time_source=time_source)


def frame_times_of_node(node, scene=None) -> Tuple[Optional[np.ndarray], str]:
    """Frame times found in a DCE node (sequence, browser/proxy or MultiVolume) and their source, or None."""
    node = resolve_dce_node(node, scene)
    if node.IsA("vtkMRMLSequenceNode"):
        return frame_times_of_sequence(node)
    return frame_times_of_multivolume(node)


def number_of_frames(node, scene=None) -> int:
    node = resolve_dce_node(node, scene)
    if node.IsA("vtkMRMLSequenceNode"):
        return int(node.GetNumberOfDataNodes())
    return int(node.GetImageData().GetNumberOfScalarComponents())


def format_times(times: Optional[Sequence[float]]) -> str:
    """Frame times as the text shown in the module ("0, 5.5, 11")."""
    if times is None:
        return ""
    return ", ".join(f"{float(t):.6g}" for t in times)


def parse_times(text: str) -> Optional[np.ndarray]:
    """Frame times typed by the user ("0, 5.5, 11" or "0 5.5 11"), or None for an empty field."""
    items = [item for item in re.split(r"[,;\s]+", str(text or "").strip()) if item]
    if not items:
        return None
    numbers = _parse_numbers(items)
    if numbers is None:
        raise InputError(f"could not read the frame times '{text}'", source="Frame times",
                         expected="numbers of seconds separated by commas")
    return numbers


def sequence_from_series(series: DceSeries, name: str, *, scene=None, sequences_logic=None):
    """A volume sequence holding ``series``: one scalar volume per frame, index "time" in seconds.

    This is what Slicer makes when it reads a ``.seq.nrrd``. A sequence browser and its proxy volume (the volume
    shown in the views) are added when a Sequences logic is available: ``sequences_logic``, else the
    application's ``slicer.modules.sequences.logic()``.
    """
    slicer = _slicer()
    scene = _scene(scene)
    sequence = scene.AddNewNodeByClass("vtkMRMLSequenceNode", name)
    sequence.SetIndexName("time")
    sequence.SetIndexUnit("s")
    sequence.SetIndexType(sequence.NumericIndex)
    for index in range(series.n_frames):
        frame = slicer.vtkMRMLScalarVolumeNode()
        slicer.util.updateVolumeFromArray(frame, np.ascontiguousarray(series.signal[index], dtype=np.float32))
        set_geometry(frame, series.geometry)
        frame.SetName(f"{name}_{index:04d}")
        sequence.SetDataNodeAtValue(frame, f"{float(series.times_s[index]):.10g}")
    if sequences_logic is None:
        modules = getattr(slicer, "modules", None)
        if modules is not None and hasattr(modules, "sequences"):
            sequences_logic = modules.sequences.logic()
    if sequences_logic is not None:
        browser = scene.AddNewNodeByClass("vtkMRMLSequenceBrowserNode", f"{name} browser")
        browser.SetAndObserveMasterSequenceNodeID(sequence.GetID())
        sequences_logic.UpdateProxyNodesFromSequences(browser)
        proxy = browser.GetProxyNode(sequence)
        if proxy is not None:
            proxy.SetName(name)
    return sequence


def proxy_of(sequence_node, scene=None):
    """The volume shown in the views for ``sequence_node`` (its browser's proxy node), or None."""
    scene = sequence_node.GetScene() if sequence_node.GetScene() is not None else _scene(scene)
    browsers = scene.GetNodesByClass("vtkMRMLSequenceBrowserNode")
    for index in range(browsers.GetNumberOfItems()):
        browser = browsers.GetItemAsObject(index)
        if browser.IsSynchronizedSequenceNodeID(sequence_node.GetID(), True):
            proxy = browser.GetProxyNode(sequence_node)
            if proxy is not None:
                return proxy
    return None


def reference_volume(node, scene=None):
    """A scalar volume node on the DCE grid, to use as reference geometry (e.g. for resampling a segment).

    For a sequence: its browser's proxy volume when there is one (it carries the parent transform, if the series
    was registered), else its first frame (a node of the sequence's own scene; only its geometry is used).
    For a MultiVolume: the volume itself.
    """
    node = resolve_dce_node(node, scene)
    if node.IsA("vtkMRMLSequenceNode"):
        proxy = proxy_of(node, scene)
        if proxy is not None and proxy.IsA("vtkMRMLScalarVolumeNode") and proxy.GetImageData() is not None:
            if geometry_of(proxy).same_grid(geometry_of(node.GetNthDataNode(0))):
                return proxy
        return node.GetNthDataNode(0)
    return node


# --------------------------------------------------------------------------------------------------------------
# Segmentations
# --------------------------------------------------------------------------------------------------------------


def register_segmentation_converters() -> None:
    """Register the labelmap/closed-surface converter rules (the application does it at start-up).

    Needed only without the application (``slicer-core``); registering twice is harmless.
    """
    slicer = _slicer()
    factory = slicer.vtkSegmentationConverterFactory.GetInstance()
    registered = {rule.GetName() for rule in _iterate_rules(factory)}
    for rule_class in (
        "vtkBinaryLabelmapToClosedSurfaceConversionRule",
        "vtkClosedSurfaceToBinaryLabelmapConversionRule",
        "vtkClosedSurfaceToFractionalLabelmapConversionRule",
        "vtkFractionalLabelmapToClosedSurfaceConversionRule",
    ):
        rule_type = getattr(slicer, rule_class, None)
        if rule_type is None:
            continue
        rule = rule_type()
        if rule.GetName() not in registered:
            factory.RegisterConverterRule(rule)


def _iterate_rules(factory) -> List:
    try:
        return list(factory.GetConverterRules())
    except (AttributeError, TypeError):  # older wrappings return a vtkCollection-like object
        return []


def segment_ids(segmentation_node) -> List[str]:
    """The IDs of the segments of a segmentation node, in order."""
    segmentation = segmentation_node.GetSegmentation()
    return [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())]


def find_segment_id(segmentation_node, segment: Optional[str]) -> str:
    """The ID of ``segment`` (an ID or a name); the only segment when ``segment`` is empty and there is one."""
    label = _node_label(segmentation_node)
    if segmentation_node is None:
        raise InputError("no tumour segmentation selected", source="Tumour segmentation",
                         expected="a segmentation with the tumour drawn on T2W")
    ids = segment_ids(segmentation_node)
    if not ids:
        raise InputError("the segmentation has no segments: draw the tumour first", source=label,
                         expected="a segment with the tumour")
    segmentation = segmentation_node.GetSegmentation()
    if not segment:
        if len(ids) == 1:
            return ids[0]
        names = ", ".join(segmentation.GetSegment(i).GetName() for i in ids)
        raise InputError(f"the segmentation has {len(ids)} segments ({names}): choose the tumour", source=label,
                         field="segment", expected="one segment")
    if segmentation.GetSegment(segment) is not None:
        return segment
    by_name = segmentation.GetSegmentIdBySegmentName(segment)
    if by_name:
        return by_name
    names = ", ".join(segmentation.GetSegment(i).GetName() for i in ids)
    raise InputError(f"no segment '{segment}'", source=label, field="segment", expected=f"one of {names}")


def segment_digest(segmentation_node, segment: Optional[str]) -> str:
    """A digest of the voxels (or surface points) of a segment, to tell whether the tumour was redrawn.

    The segment's binary labelmap is cropped to the voxels of the segment, so the digest does not change with
    the extent Slicer keeps around it (e.g. after saving and loading the scene); its position and grid are
    included. A segment held only as a closed surface is digested by its points. Raises ``InputError`` as
    :func:`find_segment_id` does.
    """
    import hashlib

    import vtk
    from vtk.util import numpy_support

    segment_id = find_segment_id(segmentation_node, segment)
    item = segmentation_node.GetSegmentation().GetSegment(segment_id)
    digest = hashlib.sha1()
    labelmap = item.GetRepresentation("Binary labelmap")
    if labelmap is not None and labelmap.GetPointData().GetScalars() is not None:
        dims = labelmap.GetDimensions()
        voxels = numpy_support.vtk_to_numpy(labelmap.GetPointData().GetScalars()).reshape(tuple(reversed(dims)))
        inside = voxels == item.GetLabelValue()
        digest.update(b"labelmap")
        if inside.any():
            kk, jj, ii = np.nonzero(inside)
            box = inside[kk.min():kk.max() + 1, jj.min():jj.max() + 1, ii.min():ii.max() + 1]
            extent = labelmap.GetExtent()
            corner = (ii.min() + extent[0], jj.min() + extent[2], kk.min() + extent[4])
            matrix = vtk.vtkMatrix4x4()
            labelmap.GetImageToWorldMatrix(matrix)
            digest.update(np.round(_numpy_matrix(matrix), 6).tobytes())
            digest.update(np.asarray(corner + box.shape, dtype=np.int64).tobytes())
            digest.update(np.packbits(box).tobytes())
        return digest.hexdigest()
    surface = item.GetRepresentation("Closed surface")
    digest.update(b"surface")
    if surface is not None and surface.GetPoints() is not None:
        digest.update(np.round(numpy_support.vtk_to_numpy(surface.GetPoints().GetData()), 4).tobytes())
    return digest.hexdigest()


def segment_mask(segmentation_node, segment: Optional[str], reference_node, scene=None) -> np.ndarray:
    """The tumour (a segment drawn e.g. on T2W) as a boolean mask ``[k, j, i]`` on the grid of ``reference_node``.

    Slicer resamples the segment's binary labelmap onto the reference geometry (nearest neighbour, in physical
    space, following parent transforms), exactly as ``slicer.util.arrayFromSegmentBinaryLabelmap`` does;
    a DCE frame as reference puts the T2W delineation on the DCE grid. The temporary label map (and the colour
    table Slicer makes for it) is removed from the scene afterwards.

    Raises
    ------
    InputError
        No such segment, or the segment does not overlap the reference volume.
    """
    segment_id = find_segment_id(segmentation_node, segment)
    geometry = geometry_of(reference_node)
    mask, exported, _matrix = _export_segment(segmentation_node, segment_id, reference_node, scene)
    if mask.shape != geometry.shape or not exported.same_grid(geometry):
        raise RuntimeError("the exported segment is not on the reference grid")  # Slicer contract broken
    if not mask.any():
        name = segmentation_node.GetSegmentation().GetSegment(segment_id).GetName()
        raise InputError(
            "the tumour segment does not overlap the DCE volume (is it drawn on the right patient and position?)",
            source=_node_label(segmentation_node),
            field=name,
            expected="a tumour inside the DCE field of view",
        )
    return mask


def _export_segment(segmentation_node, segment_id: str, reference_node, scene=None, *, own_grid: bool = False):
    """The segment as a boolean mask ``[k, j, i]``, its grid, and the matrix from the exported label map's world
    to the reference node's world (None when that transform is not linear).

    On ``reference_node``'s grid (extent of the reference geometry), or with ``own_grid`` on the segment's own
    grid, cropped to the segment. The temporary label map (and the colour table Slicer makes for it) is removed.
    """
    slicer = _slicer()
    import vtk

    scene = segmentation_node.GetScene() if segmentation_node is not None else _scene(scene)
    ids = vtk.vtkStringArray()
    ids.InsertNextValue(segment_id)
    labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "__HypoxiaMarkers_temporary_mask")
    colors_before = _node_ids(scene, "vtkMRMLColorTableNode")
    try:
        if not own_grid:
            ok = slicer.vtkSlicerSegmentationsModuleLogic.ExportSegmentsToLabelmapNode(
                segmentation_node, ids, labelmap, reference_node, slicer.vtkSegmentation.EXTENT_REFERENCE_GEOMETRY
            )
        else:
            ok = slicer.vtkSlicerSegmentationsModuleLogic.ExportSegmentsToLabelmapNode(segmentation_node, ids, labelmap)
        if not ok or labelmap.GetImageData() is None:
            raise InputError("the segment could not be converted to a label map", source=_node_label(segmentation_node),
                             field=segmentation_node.GetSegmentation().GetSegment(segment_id).GetName(),
                             expected="a segment with a binary labelmap or closed surface")
        mask = np.array(slicer.util.arrayFromVolume(labelmap)) != 0
        exported = geometry_of(labelmap)
        # Without a reference Slicer puts the label map under the segmentation's transform; the reference volume
        # may be under another one (vtkSlicerSegmentationsModuleLogic::ExportSegmentsToLabelmapNode, 5.8).
        matrix = vtk.vtkMatrix4x4()
        linear = slicer.vtkMRMLTransformNode.GetMatrixTransformBetweenNodes(
            labelmap.GetParentTransformNode(), reference_node.GetParentTransformNode(), matrix)
    finally:
        _remove_display_and_storage(scene, labelmap)
        scene.RemoveNode(labelmap)
        for node_id in _node_ids(scene, "vtkMRMLColorTableNode") - colors_before:
            scene.RemoveNode(scene.GetNodeByID(node_id))
    return mask, exported, (_numpy_matrix(matrix) if linear else None)


def segment_share_outside(segmentation_node, segment: Optional[str], reference_node) -> float:
    """Share of the segment's voxels (on its own grid, e.g. T2W) whose centres lie outside ``reference_node``'s
    field of view (the DCE series): :func:`HypoxiaMarkersLib.io.masks.share_outside`, as the command line measures
    it before resampling. :func:`segment_mask` alone would crop the segment to the DCE grid without saying so.

    Raises
    ------
    InputError
        No such segment, or the segment and the series are under transforms that are not linear between them.
    """
    from ..io.masks import share_outside

    segment_id = find_segment_id(segmentation_node, segment)
    mask, own, matrix = _export_segment(segmentation_node, segment_id, reference_node, own_grid=True)
    if matrix is None:
        raise InputError("the tumour segmentation and the DCE series are under transforms that are not linear "
                         "between them", source=_node_label(segmentation_node),
                         expected="harden the transforms (Transforms module) before Apply")
    if not mask.any():
        return 0.0  # nothing drawn: segment_mask says so
    own = Geometry.from_ijk_to_ras(matrix @ own.ijk_to_ras(), own.size)
    return share_outside(mask, own, geometry_of(reference_node))


def _node_ids(scene, class_name: str) -> set:
    nodes = scene.GetNodesByClass(class_name)
    return {nodes.GetItemAsObject(i).GetID() for i in range(nodes.GetNumberOfItems())}


def _remove_display_and_storage(scene, node) -> None:
    for getter, counter in (("GetNthDisplayNode", "GetNumberOfDisplayNodes"),
                            ("GetNthStorageNode", "GetNumberOfStorageNodes")):
        if not hasattr(node, counter):
            continue
        for index in reversed(range(getattr(node, counter)())):
            child = getattr(node, getter)(index)
            if child is not None:
                scene.RemoveNode(child)


def segmentation_from_mask(mask: np.ndarray, geometry: Geometry, name: str, segment_name: str = "tumour", *,
                           color: Sequence[float] = (0.9, 0.8, 0.1), scene=None):
    """A segmentation node with one segment made from a boolean mask on ``geometry`` (e.g. on the T2W grid)."""
    slicer = _slicer()
    scene = _scene(scene)
    labelmap = volume_from_array(np.asarray(mask).astype(np.uint8), geometry, f"{name} labelmap", label_map=True,
                                 scene=scene)
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
    segmentation.CreateDefaultDisplayNodes()
    ok = slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(labelmap, segmentation)
    _remove_display_and_storage(scene, labelmap)
    scene.RemoveNode(labelmap)
    if not ok or segmentation.GetSegmentation().GetNumberOfSegments() < 1:
        raise RuntimeError("could not import the mask into a segmentation")
    segment = segmentation.GetSegmentation().GetNthSegment(0)
    segment.SetName(segment_name)
    segment.SetColor(*[float(c) for c in color])
    return segmentation


# --------------------------------------------------------------------------------------------------------------
# Tables and plots
# --------------------------------------------------------------------------------------------------------------


def _vtk_column(name: str, values):
    import vtk

    values = list(values) if not isinstance(values, np.ndarray) else values
    array = np.asarray(values)
    if array.dtype.kind in "biu" and array.dtype.kind != "b":
        column = vtk.vtkIntArray()
        for value in array.ravel():
            column.InsertNextValue(int(value))
    elif array.dtype.kind == "b":
        column = vtk.vtkIntArray()
        for value in array.ravel():
            column.InsertNextValue(1 if value else 0)
    elif array.dtype.kind == "f":
        column = vtk.vtkDoubleArray()
        for value in array.ravel():
            column.InsertNextValue(float(value))
    else:
        column = vtk.vtkStringArray()
        for value in (values if not isinstance(values, np.ndarray) else values.ravel().tolist()):
            column.InsertNextValue("" if value is None else str(value))
    column.SetName(name)
    return column


def table_from_columns(columns: Mapping[str, Sequence], name: str, *, node=None, units: Optional[Mapping[str, str]]
                       = None, descriptions: Optional[Mapping[str, str]] = None, scene=None):
    """A ``vtkMRMLTableNode`` with one typed column per entry of ``columns`` (int, float, or text).

    ``units``/``descriptions`` are stored as the columns' properties (shown as tooltips in Slicer's table view).
    An existing ``node`` is emptied and refilled.
    """
    scene = _scene(scene)
    lengths = {len(values) for values in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns of different lengths: { {k: len(v) for k, v in columns.items()} }")
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLTableNode", name)
    was_modifying = node.StartModify()
    table = node.GetTable()
    table.Initialize()
    for column_name, values in columns.items():
        table.AddColumn(_vtk_column(column_name, values))
    for column_name, unit in (units or {}).items():
        node.SetColumnUnitLabel(column_name, unit)
    for column_name, text in (descriptions or {}).items():
        node.SetColumnDescription(column_name, text)
    node.SetUseColumnTitleAsColumnHeader(True) if hasattr(node, "SetUseColumnTitleAsColumnHeader") else None
    table.Modified()
    node.EndModify(was_modifying)
    node.Modified()
    return node


def table_columns(table_node) -> Dict[str, np.ndarray]:
    """The columns of a table node as numpy arrays (text columns as arrays of str)."""
    table = table_node.GetTable()
    out = {}
    for index in range(table.GetNumberOfColumns()):
        column = table.GetColumn(index)
        if column.IsA("vtkStringArray"):
            out[column.GetName()] = np.array([column.GetValue(i) for i in range(column.GetNumberOfValues())])
        else:
            out[column.GetName()] = np.array([column.GetValue(i) for i in range(column.GetNumberOfTuples())])
    return out


#: Plot kinds -> Slicer plot types. Every kind has an X column, so every kind is a type that draws against it:
#: vtkMRMLPlotSeriesNode draws PlotTypeLine and PlotTypeBar against the row index and ignores their X column
#: (IsXColumnRequired() is true only for Scatter and ScatterBar, Libs/MRML/Core/vtkMRMLPlotSeriesNode.cxx,
#: v5.8.1 as in v5.10). A "line" is a Scatter series drawn with a solid line and no markers.
PLOT_TYPES = {"line": "PlotTypeScatter", "scatter": "PlotTypeScatter", "bar": "PlotTypeScatterBar"}


def plot_series(table_node, x_column: str, y_column: str, name: str, *, kind: str = "line",
                color: Optional[Sequence[float]] = None, line_style: Optional[str] = None,
                marker: Optional[str] = None, node=None, scene=None):
    """A ``vtkMRMLPlotSeriesNode`` drawing ``y_column`` against ``x_column`` of ``table_node``.

    ``kind`` is "line" (a curve: solid line, no markers unless given), "scatter" (markers, no line unless
    given) or "bar" (bars at the X values); ``line_style`` "solid", "dash", "dot" or "none";
    ``marker`` "circle", "square", "cross", "plus", "diamond" or "none".
    """
    slicer = _slicer()
    scene = _scene(scene)
    table = table_node.GetTable()
    for column in (x_column, y_column):
        if table.GetColumnByName(column) is None:
            raise ValueError(f"table {table_node.GetName()} has no column '{column}'")
    if kind not in PLOT_TYPES:
        raise ValueError(f"unknown plot kind {kind!r}; expected one of {sorted(PLOT_TYPES)}")
    if line_style is None:
        line_style = "none" if kind == "scatter" else "solid"
    if marker is None:
        marker = "circle" if kind == "scatter" else "none"
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLPlotSeriesNode", name)
    node.SetName(name)
    node.SetAndObserveTableNodeID(table_node.GetID())
    node.SetXColumnName(x_column)
    node.SetYColumnName(y_column)
    node.SetPlotType(getattr(slicer.vtkMRMLPlotSeriesNode, PLOT_TYPES[kind]))
    node.SetLineStyle(node.GetLineStyleFromString(line_style))
    node.SetMarkerStyle(node.GetMarkerStyleFromString(marker))
    if color is not None:
        node.SetColor(*[float(c) for c in color[:3]])
    return node


def plot_chart(series_nodes: Sequence, name: str, *, title: str = "", x_title: str = "", y_title: str = "",
               node=None, y_range: Optional[Tuple[float, float]] = None, scene=None):
    """A ``vtkMRMLPlotChartNode`` showing ``series_nodes`` (replacing the series it showed before)."""
    scene = _scene(scene)
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLPlotChartNode", name)
    node.RemoveAllPlotSeriesNodeIDs()
    for series in series_nodes:
        node.AddAndObservePlotSeriesNodeID(series.GetID())
    node.SetTitle(title or name)
    node.SetXAxisTitle(x_title)
    node.SetYAxisTitle(y_title)
    if y_range is not None:
        node.SetYAxisRangeAuto(False)
        node.SetYAxisRange(float(y_range[0]), float(y_range[1]))
    else:
        node.SetYAxisRangeAuto(True)
    return node


# --------------------------------------------------------------------------------------------------------------
# Positions, slices and the biopsy slice outline
# --------------------------------------------------------------------------------------------------------------


def ras_of_index(geometry: Geometry, ijk: Sequence[float]) -> np.ndarray:
    """RAS position (mm) of a continuous voxel index (i, j, k) on ``geometry``."""
    homogeneous = np.append(np.asarray(ijk, dtype=float), 1.0)
    return (geometry.ijk_to_ras() @ homogeneous)[:3]


def index_of_ras(geometry: Geometry, ras: Sequence[float]) -> Tuple[int, int, int]:
    """The voxel (i, j, k) containing the RAS position ``ras`` (nearest voxel centre)."""
    ijk = np.linalg.solve(geometry.ijk_to_ras(), np.append(np.asarray(ras, dtype=float), 1.0))[:3]
    return tuple(int(v) for v in np.floor(ijk + 0.5))


def slice_outline(geometry: Geometry, k_index: int, mask: Optional[np.ndarray] = None, *, margin_voxels: float = 2.0,
                  name: str = "Biopsy slice", node=None, color: Sequence[float] = (0.1, 0.9, 0.2), scene=None):
    """A markups ROI outlining slice ``k_index`` of ``geometry``: one slice thick, aligned with the grid.

    In-plane it covers the voxels of ``mask`` in that slice (plus ``margin_voxels``), or the whole slice. In
    the slice views it appears as a rectangle around the tumour in the slice's plane and as a thin band
    marking the slice in the other views.
    """
    scene = _scene(scene)
    ni, nj, nk = geometry.size
    if not 0 <= int(k_index) < nk:
        raise ValueError(f"slice index {k_index} outside 0..{nk - 1}")
    lo = np.array([0.0, 0.0]) - 0.5
    hi = np.array([ni - 1.0, nj - 1.0]) + 0.5
    if mask is not None and np.asarray(mask)[int(k_index)].any():
        jj, ii = np.nonzero(np.asarray(mask)[int(k_index)])
        lo = np.array([ii.min(), jj.min()]) - 0.5 - margin_voxels
        hi = np.array([ii.max(), jj.max()]) + 0.5 + margin_voxels
    centre_ijk = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0, float(k_index)]
    size = [(hi[0] - lo[0]) * geometry.spacing[0], (hi[1] - lo[1]) * geometry.spacing[1], geometry.spacing[2]]
    matrix = geometry.ijk_to_ras()
    axes = matrix[:3, :3] / np.linalg.norm(matrix[:3, :3], axis=0)
    if np.linalg.det(axes) < 0:  # a left-handed grid: keep the ROI's frame right-handed
        axes[:, 2] = -axes[:, 2]
    object_to_node = np.eye(4)
    object_to_node[:3, :3] = axes
    object_to_node[:3, 3] = ras_of_index(geometry, centre_ijk)
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", name)
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    node.SetName(name)
    node.SetAndObserveObjectToNodeMatrix(_vtk_matrix(object_to_node))
    node.SetSize(*[float(s) for s in size])
    display = node.GetDisplayNode()
    if display is not None:
        display.SetSelectedColor(*[float(c) for c in color])
        display.SetColor(*[float(c) for c in color])
        if hasattr(display, "SetFillVisibility"):
            display.SetFillVisibility(False)
        if hasattr(display, "SetHandlesInteractive"):
            display.SetHandlesInteractive(False)
    node.SetLocked(True)
    return node


def roi_bounds_ijk(node, geometry: Geometry) -> Tuple[np.ndarray, np.ndarray]:
    """The (min, max) continuous (i, j, k) indices of the corners of an ROI (for checks)."""
    object_to_world = _numpy_matrix(node.GetObjectToNodeMatrix())
    half = np.asarray(node.GetSize(), dtype=float) / 2.0
    corners = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=float) * half
    world = (object_to_world[:3, :3] @ corners.T).T + object_to_world[:3, 3]
    ras_to_ijk = np.linalg.inv(geometry.ijk_to_ras())
    ijk = (ras_to_ijk[:3, :3] @ world.T).T + ras_to_ijk[:3, 3]
    return ijk.min(axis=0), ijk.max(axis=0)


def jump_slices_to(ras: Sequence[float], scene=None) -> None:
    """Centre every slice view on the RAS position ``ras`` (e.g. the tumour centre in the biopsy slice)."""
    slicer = _slicer()
    scene = _scene(scene)
    slicer.vtkMRMLSliceNode.JumpAllSlices(scene, float(ras[0]), float(ras[1]), float(ras[2]),
                                          slicer.vtkMRMLSliceNode.CenteredJumpSlice)


def slice_centre_ras(geometry: Geometry, k_index: int, mask: Optional[np.ndarray] = None) -> np.ndarray:
    """RAS position of the centre of the tumour in slice ``k_index`` (of the slice when no tumour there)."""
    if mask is not None and np.asarray(mask)[int(k_index)].any():
        jj, ii = np.nonzero(np.asarray(mask)[int(k_index)])
        ijk = [float(ii.mean()), float(jj.mean()), float(k_index)]
    else:
        ijk = [(geometry.size[0] - 1) / 2.0, (geometry.size[1] - 1) / 2.0, float(k_index)]
    return ras_of_index(geometry, ijk)
