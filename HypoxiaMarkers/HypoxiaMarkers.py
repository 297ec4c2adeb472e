import importlib
import importlib.util
import logging
import os
import sys
from typing import Annotated, List, Optional, Union

import qt
import slicer
import vtk
from slicer import (
    vtkMRMLLabelMapVolumeNode,
    vtkMRMLMarkupsROINode,
    vtkMRMLPlotChartNode,
    vtkMRMLPlotSeriesNode,
    vtkMRMLScalarVolumeNode,
    vtkMRMLSegmentationNode,
    vtkMRMLSequenceNode,
    vtkMRMLTableNode,
)
from slicer.parameterNodeWrapper import Choice, Minimum, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

try:
    from slicer.i18n import tr as _
except ImportError:  # Slicer without translation support

    def _(text):
        return text


def _findLibrary():
    """Make HypoxiaMarkersLib importable.

    Built extension: the package is installed beside this file (qt-scripted-modules/HypoxiaMarkersLib), a folder
    that is already on sys.path. Source tree: the package is one folder up (next to HypoxiaMarkers/), which
    Slicer does not put on sys.path.
    """
    moduleDir = os.path.dirname(os.path.abspath(__file__))
    if os.path.isdir(os.path.join(moduleDir, "HypoxiaMarkersLib")):
        return
    sourceRoot = os.path.dirname(moduleDir)
    if os.path.isdir(os.path.join(sourceRoot, "HypoxiaMarkersLib")) and sourceRoot not in sys.path:
        sys.path.insert(0, sourceRoot)


_findLibrary()
# Slicer executes every scripted module at start-up: only the method's constants are imported here (rules.py
# needs numpy alone, which Slicer's own scripted modules, e.g. DICOMScalarVolumePlugin, already import at
# start-up). Everything else of the library (SimpleITK, scipy, the MRML bridge) is imported by the Logic, when the
# module is opened or used.
from HypoxiaMarkersLib import rules  # noqa: E402

MODULE_NAME = "HypoxiaMarkers"

#: Import names of the packages the gene files may need -> the requirement installed (Resources/requirements.txt).
#: Nothing else is ever installed: the imaging analysis needs only what Slicer bundles.
OPTIONAL_PACKAGES = {"pandas": "pandas>=1.5", "openpyxl": "openpyxl>=3.0"}


#
# HypoxiaMarkers
#


class HypoxiaMarkers(ScriptedLoadableModule):
    """Imaging and gene hypoxia biomarkers of one cervical cancer patient (see the help text)."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Hypoxia Markers")
        self.parent.categories = [_("Quantification")]
        self.parent.dependencies = ["Sequences", "Segmentations", "Markups", "Plots", "Tables"]
        self.parent.contributors = ["HypoxiaMarkers developers"]
        self.parent.helpText = _(
            """
Tumour hypoxia of a cervical cancer from DCE-MRI and the 6-gene hypoxia score, one patient at a time.
<ol>
<li><b>Inputs</b>: the DCE-MRI series (a volume sequence), the T2-weighted volume and the tumour drawn on T2W
(use the embedded segment editor). Check the frame times (read from the series, or typed in seconds; taken when
you press Enter).</li>
<li><b>Apply</b>: the Brix model is fitted to the relative signal increase of every tumour voxel. Maps of A_Brix
(amplitude), k_ep, k_el and R² are made on the DCE grid; voxels with A_Brix below the threshold (1.56) are hypoxic
(red overlay). The hypoxic fraction (hypoxic / fitted voxels) is given for the tumour, each slice, and the biopsy
slice (slice 1 = lowest slice with tumour); a tumour is <i>more hypoxic</i> when it is at least 0.27. The results
belong to the inputs they were computed from: change the series, the tumour, the frame times or a fit parameter
and they must be computed again (Apply) before they are shown or exported.</li>
<li><b>Gene score and composite</b>: load an expression file or a scores table (or type the score); one patient's
expression needs a reference file saved from a cohort (<i>hypoxia-markers genes ... --save-reference</i>). With the
cohort's composite line (x0, y0) the module gives the group (1-4) and HScomp, the signed distance to the line
(&ge; 0: more hypoxic).</li>
<li><b>Export</b>: the maps (NRRD, or NIfTI .nii.gz: Map format), the per-slice table and the summary. DICOM
Parametric Maps and SEG are written by the command line only (<i>hypoxia-markers image ... --dicom-out</i>, Python
3.10+; Slicer 5.8 has Python 3.9).</li>
</ol>
Method: Fjeldbo CS, Hompland T, Hillestad T, et al. Combining imaging- and gene-based hypoxia biomarkers in
cervical cancer improves prediction of chemoradiotherapy failure independent of intratumour heterogeneity.
EBioMedicine 2020;57:102841. doi:10.1016/j.ebiom.2020.102841.
Research use only: not a medical device.
"""
        )
        self.parent.acknowledgementText = _(
            """
The method is the one of Fjeldbo et al. (EBioMedicine 2020), from the Department of Radiation Biology, Oslo
University Hospital. The module follows the 3D Slicer scripted module template by Jean-Christophe Fillion-Robin
(Kitware), Andras Lasso (PerkLab) and Steve Pieper (Isomics), partially funded by NIH grant 3P41RR013218-12S1.
"""
        )
        slicer.app.connect("startupCompleted()", registerSampleData)


#
# Sample data: a synthetic phantom generated locally (nothing is downloaded)
#


def registerSampleData():
    """Add the synthetic phantom to the Sample Data module."""
    import SampleData

    iconsPath = os.path.join(os.path.dirname(__file__), "Resources", "Icons")
    SampleData.SampleDataLogic.registerCustomSampleDataSource(
        category="HypoxiaMarkers",
        sampleName="HypoxiaMarkersPhantom",
        thumbnailFileName=os.path.join(iconsPath, "HypoxiaMarkersPhantom.png"),
        uris=[],
        fileNames=[],
        nodeNames=[],
        customDownloader=loadPhantomSample,
    )


def loadPhantomSample(source=None):
    """Generate the phantom, put it in the scene and select it in the module (the Sample Data button)."""
    logic = HypoxiaMarkersLogic()
    # tryWithErrorDisplay shows the error and raises it again: nothing runs after a failure here.
    with slicer.util.tryWithErrorDisplay(_("Failed to make the HypoxiaMarkers phantom."), waitCursor=True):
        nodes = logic.loadPhantom(logic.getParameterNode())
        slicer.util.setSliceViewerLayers(background=logic.displayedDceVolume(nodes["dce"]), fit=True)
    return [nodes["dce"], nodes["t2w"], nodes["segmentation"]]


#
# Parameter node: every input, parameter and output, so that a saved scene restores the session
#


@parameterNodeWrapper
class HypoxiaMarkersParameterNode:
    """The module's state (it lives in the scene: closing the scene resets it).

    Inputs: dceSeries (sequence or MultiVolume), t2wVolume, tumourSegmentation + tumourSegmentId, frameTimes (s,
    comma-separated; "" = from the series) and frameTimesSource, baselineFrames (0 = automatic).
    Parameters: aThreshold, hfCutoff, biopsySlice (1 = caudal tumour slice), injectionDuration (s), fitLagPerVoxel,
    allowMaskOutside (analyse the part of a tumour more than 10 % outside the DCE series; --allow-mask-outside).
    Genes and composite: geneFile, geneSignatureFile (signature/reference file; "" = the shipped signature),
    geneSource, geneSample, geneScore (text; "" = none), genePatient (the series the score was entered with: another
    series clears it), geneCutoff, compositeX0, compositeY0 (0 = not set; any
    positive value), compositeSource.
    Export: mapFormat, the file format of the exported maps ("nrrd" or "nifti": the command line's --format).
    Outputs: the maps, label map, tables, plot series/charts and the biopsy-slice outline (see
    HypoxiaMarkersLib.slicer.session.OUTPUT_FIELDS), the hypoxic fraction, resultInputs (which inputs the outputs
    came from: HypoxiaMarkersLib.slicer.session) and the summary shown.
    """

    dceSeries: Optional[Union[vtkMRMLSequenceNode, vtkMRMLScalarVolumeNode]]
    t2wVolume: vtkMRMLScalarVolumeNode
    tumourSegmentation: vtkMRMLSegmentationNode
    tumourSegmentId: str = ""
    frameTimes: str = ""
    frameTimesSource: str = ""
    baselineFrames: Annotated[int, WithinRange(0, 1000)] = 0

    aThreshold: Annotated[float, WithinRange(0.1, 5.0)] = rules.A_THRESHOLD
    hfCutoff: Annotated[float, WithinRange(0.0, 1.0)] = rules.HF_CUTOFF
    biopsySlice: Annotated[int, Minimum(1)] = 1
    injectionDuration: Annotated[float, WithinRange(0.0, 600.0)] = 0.0
    fitLagPerVoxel: bool = False
    allowMaskOutside: bool = False

    geneFile: str = ""
    geneSignatureFile: str = ""
    geneSource: str = ""
    geneSample: str = ""
    geneScore: str = ""
    genePatient: str = ""
    geneCutoff: Annotated[float, WithinRange(-10.0, 10.0)] = rules.GENE_SCORE_CUTOFF
    compositeX0: Annotated[float, Minimum(0.0)] = 0.0
    compositeY0: Annotated[float, Minimum(0.0)] = 0.0
    compositeSource: str = ""
    mapFormat: Annotated[str, Choice(["nrrd", "nifti"])] = "nrrd"

    aBrixVolume: vtkMRMLScalarVolumeNode
    kEpVolume: vtkMRMLScalarVolumeNode
    kElVolume: vtkMRMLScalarVolumeNode
    rSquaredVolume: vtkMRMLScalarVolumeNode
    hypoxicLabelMap: vtkMRMLLabelMapVolumeNode
    sliceTable: vtkMRMLTableNode
    sliceSeries: vtkMRMLPlotSeriesNode
    sliceChart: vtkMRMLPlotChartNode
    curveTable: vtkMRMLTableNode
    meanSeries: vtkMRMLPlotSeriesNode
    fitSeries: vtkMRMLPlotSeriesNode
    curveChart: vtkMRMLPlotChartNode
    voxelTable: vtkMRMLTableNode
    voxelSeries: vtkMRMLPlotSeriesNode
    voxelFitSeries: vtkMRMLPlotSeriesNode
    biopsyOutline: vtkMRMLMarkupsROINode
    hypoxicFraction: float = -1.0
    resultInputs: str = ""
    summaryHtml: str = ""


#
# HypoxiaMarkersWidget
#


class HypoxiaMarkersWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The module's panel. All work is done by HypoxiaMarkersLogic (HypoxiaMarkersLib.slicer.session)."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._observedSegmentation = None
        self._updatingGui = False
        self._lastDceNode = None
        self._shortcutsInstalled = False

    def onReload(self):
        """Reload HypoxiaMarkersLib's submodules too (Slicer reloads only this file)."""
        import HypoxiaMarkersLib

        logging.debug("Reloading HypoxiaMarkersLib")
        packageName = HypoxiaMarkersLib.__name__
        submodules = sorted(name for name in sys.modules if name.startswith(packageName + "."))
        for name in submodules:
            del sys.modules[name]
        importlib.reload(HypoxiaMarkersLib)
        for name in submodules:
            try:
                importlib.import_module(name)
            except ImportError as error:  # e.g. pandas not installed yet: imported again when needed
                logging.debug(f"{name} not reloaded: {error}")
        ScriptedLoadableModuleWidget.onReload(self)

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/HypoxiaMarkers.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = HypoxiaMarkersLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.readTimesButton.connect("clicked(bool)", self.onReadTimes)
        self.ui.dceSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.onDceChanged)
        self.ui.segmentationSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.onSegmentationChanged)
        self.ui.t2wSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.onT2wChanged)
        self.ui.segmentComboBox.connect("currentIndexChanged(int)", self.onSegmentChosen)
        # Typed fields are taken when editing is finished (Enter, or focus leaves), never on each keystroke: a
        # half-typed "-" is not a number, and Slicer 5.8's QLineEdit connector moves the cursor to the end after
        # every keystroke (fixed in 5.10). The spin boxes have keyboardTracking off in the .ui for the same reason.
        self.ui.frameTimesLineEdit.connect("editingFinished()", self.onFrameTimesEdited)
        self.ui.geneScoreLineEdit.connect("editingFinished()", self.onGeneScoreEdited)
        self.ui.biopsySliceSpinBox.connect("valueChanged(int)", self.onBiopsySliceChanged)
        self.ui.showSliceChartButton.connect("clicked(bool)", self.onShowSliceChart)
        self.ui.showMeanCurveButton.connect("clicked(bool)", self.onShowMeanCurve)
        self.ui.showVoxelCurveButton.connect("clicked(bool)", self.onShowVoxelCurve)
        self.ui.chooseSignatureButton.connect("clicked(bool)", self.onChooseSignature)
        self.ui.defaultSignatureButton.connect("clicked(bool)", self.onDefaultSignature)
        self.ui.loadGeneFileButton.connect("clicked(bool)", self.onLoadGeneFile)
        self.ui.geneSampleComboBox.connect("currentIndexChanged(int)", self.onGeneSampleChosen)
        self.ui.loadCohortButton.connect("clicked(bool)", self.onLoadCohort)
        self.ui.exportButton.connect("clicked(bool)", self.onExport)
        self.ui.segmentEditorCollapsibleButton.connect("contentsCollapsed(bool)", self.onSegmentEditorCollapsed)

        self._setupSegmentEditor()
        self.initializeParameterNode()

    def _setupSegmentEditor(self):
        editor = self.ui.segmentEditorWidget
        editor.setMRMLScene(slicer.mrmlScene)
        editor.setMRMLSegmentEditorNode(self.logic.segmentEditorNode())
        editor.setSourceVolumeNodeSelectorVisible(False)  # Slicer >= 5.1 (the T2W selector above chooses it)
        editor.setSegmentationNodeSelectorVisible(False)

    # Segment editor keyboard shortcuts only while the editor is shown: number keys would otherwise start a
    # hidden effect.

    def onSegmentEditorCollapsed(self, collapsed):
        self._setEditorActive(self.parent.isEntered and not collapsed)

    def _setEditorActive(self, active):
        editor = self.ui.segmentEditorWidget
        if active and not self._shortcutsInstalled:
            editor.installKeyboardShortcuts()
            self._shortcutsInstalled = True
        elif not active:
            editor.setActiveEffect(None)  # no effect left capturing clicks in the views
            if self._shortcutsInstalled:
                editor.uninstallKeyboardShortcuts()
                self._shortcutsInstalled = False

    def cleanup(self) -> None:
        """Called before Reload and at exit: leave nothing connected to the scene or to this panel."""
        self._setEditorActive(False)
        self.setParameterNode(None)
        self._observeSegmentation(None)
        self.ui.segmentEditorWidget.setMRMLSegmentEditorNode(None)
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()
        self.ui.segmentEditorWidget.setMRMLSegmentEditorNode(self.logic.segmentEditorNode())
        self._setEditorActive(not self.ui.segmentEditorCollapsibleButton.collapsed)

    def exit(self) -> None:
        self._setEditorActive(False)
        self.setParameterNode(None)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)
        self._observeSegmentation(None)

    def onSceneEndClose(self, caller, event) -> None:
        # The closed scene's patient is gone: forget everything held in memory (the parameter node was reset by
        # the scene, and results in memory are only used with their stamp anyway).
        self.logic.reset()
        self._lastDceNode = None
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.t2wVolume:
            firstVolume = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if firstVolume and not self.logic.isDceCandidate(firstVolume):
                self._parameterNode.t2wVolume = firstVolume
        if not self._parameterNode.dceSeries:
            firstSequence = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLSequenceNode")
            if firstSequence:
                self._parameterNode.dceSeries = firstSequence

    def setParameterNode(self, inputParameterNode: Optional[HypoxiaMarkersParameterNode]) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            # The frame times saved with the scene are kept: the series shown is not a newly chosen one.
            self._lastDceNode = self._parameterNode.dceSeries
            # Widgets whose dynamic property SlicerParameterName names a field are bound to it.
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
            self._onParameterNodeModified()

    def _onParameterNodeModified(self, caller=None, event=None) -> None:
        """Bring the panel in line with the parameter node. An observer: it never raises."""
        p = self._parameterNode
        if p is None or self._updatingGui:
            return
        self._updatingGui = True
        try:
            state = self.logic.session.sync(p)  # results of other inputs dropped or marked stale; the summary
            self._observeSegmentation(p.tumourSegmentation)
            self._updateSegmentComboBox()
            self._updateSegmentEditor()
            self._updateTypedFields()
            self._updateGeneSampleComboBox()
            self._updateBiopsySliceBox()
            self._updateButtons(state)
        except Exception as error:  # noqa: BLE001 - an observer must not raise; say it where the user looks
            logging.exception("HypoxiaMarkers: could not update the panel")
            self.ui.summaryLabel.text = _("Could not update the panel:") + f" {error}"
        finally:
            self._updatingGui = False

    def _updateSegmentEditor(self):
        p = self._parameterNode
        editor = self.ui.segmentEditorWidget
        if editor.segmentationNode() is not p.tumourSegmentation:
            editor.setSegmentationNode(p.tumourSegmentation)
        # setSourceVolumeNode logs a critical error while no segmentation is set (qMRMLSegmentEditorWidget.cxx,
        # 5.8 as 5.10): only set it once there is one.
        if editor.segmentationNode() is not None and editor.sourceVolumeNode() is not p.t2wVolume:
            editor.setSourceVolumeNode(p.t2wVolume)

    def _updateTypedFields(self):
        p = self._parameterNode
        for lineEdit, value in ((self.ui.frameTimesLineEdit, p.frameTimes), (self.ui.geneScoreLineEdit, p.geneScore)):
            if not lineEdit.hasFocus() and lineEdit.text != value:
                lineEdit.text = value

    def _updateBiopsySliceBox(self):
        p = self._parameterNode
        box = self.ui.biopsySliceSpinBox
        slices = self.logic.session.slice_numbers(p)
        wasBlocked = box.blockSignals(True)
        try:
            box.setRange(1, max(len(slices), 1))
            box.value = p.biopsySlice if p.biopsySlice in slices else 1
            box.enabled = bool(slices)
            if slices:
                box.toolTip = _("Tumour slice standing for the biopsy region, 1 = lowest (caudal) slice with tumour, "
                                "up to {n}. Its hypoxic fraction is updated at once (no refit).").format(n=len(slices))
            else:
                box.toolTip = _("Tumour slice standing for the biopsy region, 1 = lowest (caudal) slice with tumour. "
                                "Available once Apply has run on the inputs chosen now.")
        finally:
            box.blockSignals(wasBlocked)

    def _updateButtons(self, state):
        p = self._parameterNode
        State = type(state)  # HypoxiaMarkersLib.slicer.session.ResultState
        ready = bool(p.dceSeries and p.tumourSegmentation and p.tumourSegmentId)
        self.ui.applyButton.enabled = ready
        if ready:
            self.ui.applyButton.toolTip = _("Fit the Brix model in every tumour voxel and compute the maps and "
                                            "hypoxic fractions.")
        else:
            self.ui.applyButton.toolTip = _("Choose the DCE series, and a tumour segmentation with the tumour segment.")
        shown = state in (State.CURRENT, State.RESTORED)
        self.ui.showSliceChartButton.enabled = shown
        self.ui.showMeanCurveButton.enabled = shown
        self.ui.showVoxelCurveButton.enabled = state is State.CURRENT
        self.ui.exportButton.enabled = state is State.CURRENT
        if state is State.CURRENT:
            self.ui.exportButton.toolTip = _("Write the maps (in the Map format chosen), the per-slice table and "
                                             "the summary (JSON and CSV) into a new folder HypoxiaMarkers-<series> "
                                             "in the folder you choose (an earlier export is never replaced).")
        elif state is State.RESTORED:
            self.ui.exportButton.toolTip = _("Apply first: the results were restored with the scene; the analysis "
                                             "itself is not saved in it.")
        elif state is State.STALE:
            self.ui.exportButton.toolTip = _("Apply first: the inputs changed since Apply.")
        else:
            self.ui.exportButton.toolTip = _("Apply first: there are no results of the inputs chosen now.")

    # Segmentation and segment

    def _observeSegmentation(self, segmentationNode):
        if segmentationNode is self._observedSegmentation:
            return
        events = (slicer.vtkSegmentation.SegmentAdded, slicer.vtkSegmentation.SegmentRemoved,
                  slicer.vtkSegmentation.SegmentModified)
        if self._observedSegmentation is not None:
            for event in events:
                self.removeObserver(self._observedSegmentation, event, self._onSegmentsChanged)
        self._observedSegmentation = segmentationNode
        if segmentationNode is not None:
            for event in events:
                self.addObserver(segmentationNode, event, self._onSegmentsChanged)

    def _onSegmentsChanged(self, caller=None, event=None):
        # A segment added, removed or redrawn: the combo box, and whether the results still hold.
        self._updateSegmentComboBox()
        self._onParameterNodeModified()

    def _updateSegmentComboBox(self):
        p = self._parameterNode
        combo = self.ui.segmentComboBox
        wasBlocked = combo.blockSignals(True)
        try:
            combo.clear()
            segmentation = p.tumourSegmentation if p else None
            if segmentation is None:
                return
            segments = segmentation.GetSegmentation()
            for index in range(segments.GetNumberOfSegments()):
                segmentId = segments.GetNthSegmentID(index)
                combo.addItem(segments.GetSegment(segmentId).GetName(), segmentId)
            index = combo.findData(p.tumourSegmentId) if p.tumourSegmentId else -1
            if index < 0 and combo.count > 0:
                index = 0
            combo.setCurrentIndex(index)
        finally:
            combo.blockSignals(wasBlocked)
        if p is not None and combo.currentIndex >= 0 and p.tumourSegmentId != combo.itemData(combo.currentIndex):
            p.tumourSegmentId = combo.itemData(combo.currentIndex)

    def onSegmentChosen(self, index):
        if self._parameterNode and index >= 0:
            self._parameterNode.tumourSegmentId = self.ui.segmentComboBox.itemData(index)
            self.logic.segmentEditorNode().SetSelectedSegmentID(self._parameterNode.tumourSegmentId)

    def onSegmentationChanged(self, node):
        if self._parameterNode and node is not None and node.GetSegmentation().GetNumberOfSegments() == 0:
            # A new segmentation: start it with a "tumour" segment to draw on T2W.
            node.GetSegmentation().AddEmptySegment("tumour", "tumour")
            if self._parameterNode.t2wVolume:
                node.SetReferenceImageGeometryParameterFromVolumeNode(self._parameterNode.t2wVolume)
            self.ui.segmentEditorCollapsibleButton.collapsed = False

    def onT2wChanged(self, node):
        if node is not None and self._parameterNode and not self._parameterNode.aBrixVolume:
            slicer.util.setSliceViewerLayers(background=node, fit=True)

    # Typed fields

    def onFrameTimesEdited(self):
        if self._parameterNode is not None and self._parameterNode.frameTimes != self.ui.frameTimesLineEdit.text:
            self._parameterNode.frameTimes = self.ui.frameTimesLineEdit.text  # parsed on Apply, not while typing

    def onGeneScoreEdited(self):
        if self._parameterNode is not None and self._parameterNode.geneScore != self.ui.geneScoreLineEdit.text:
            self._parameterNode.geneScore = self.ui.geneScoreLineEdit.text  # parsed leniently by the summary

    # Frame times

    def onDceChanged(self, node):
        p = self._parameterNode
        if p is None or self._updatingGui or node is self._lastDceNode:
            return
        self._lastDceNode = node
        if node is None:
            p.frameTimes = ""
            p.frameTimesSource = ""
            return
        with slicer.util.tryWithErrorDisplay(_("Could not read the frame times of this series.")):
            self.logic.detectFrameTimes(p, node)

    def onReadTimes(self):
        with slicer.util.tryWithErrorDisplay(_("Could not read the frame times of this series.")):
            self.logic.detectFrameTimes(self._parameterNode)

    # Apply

    def onApplyButton(self) -> None:
        p = self._parameterNode
        # Nothing to install: the imaging analysis needs only numpy, scipy, SimpleITK and vtk, which Slicer bundles.
        with slicer.util.tryWithErrorDisplay(_("The analysis failed.")):
            dialog = slicer.util.createProgressDialog(
                labelText=_("Fitting the Brix model in every tumour voxel..."), windowTitle=_("Hypoxia Markers"),
                maximum=100, autoClose=False)
            dialog.setCancelButtonText(_("Cancel"))

            def progress(done, total):
                dialog.maximum = max(int(total), 1)
                dialog.value = int(done)
                slicer.app.processEvents()
                return not dialog.wasCanceled

            from HypoxiaMarkersLib.errors import Cancelled

            try:
                self.logic.process(p, progress=progress)
            except Cancelled:
                slicer.util.showStatusMessage(_("Analysis cancelled."), 3000)
                return
            finally:
                dialog.close()
            self.logic.showResults(p)
        self._onParameterNodeModified()

    # Results

    def onBiopsySliceChanged(self, value):
        p = self._parameterNode
        if p is None or self._updatingGui:
            return
        with slicer.util.tryWithErrorDisplay(_("Could not change the biopsy slice.")):
            self.logic.setBiopsySlice(p, int(value))
            self.logic.selectBiopsyRow(p)

    def onShowSliceChart(self):
        with slicer.util.tryWithErrorDisplay(_("Could not show the chart.")):
            self.logic.showChart(self._parameterNode.sliceChart, self._parameterNode.sliceTable)
            self.logic.selectBiopsyRow(self._parameterNode)

    def onShowMeanCurve(self):
        with slicer.util.tryWithErrorDisplay(_("Could not show the chart.")):
            self.logic.showChart(self._parameterNode.curveChart, self._parameterNode.curveTable)

    def onShowVoxelCurve(self):
        with slicer.util.tryWithErrorDisplay(_("Could not show the voxel's curve.")):
            ras = self.logic.crosshairPosition()
            self.logic.showVoxelCurve(self._parameterNode, ras)
            self.logic.showChart(self._parameterNode.curveChart, self._parameterNode.voxelTable)

    # Genes and composite

    def onChooseSignature(self):
        path = qt.QFileDialog.getOpenFileName(
            slicer.util.mainWindow(), _("Signature/reference file"), self._parameterNode.geneSignatureFile or "",
            _("Signature files (*.json *.yaml *.yml);;All files (*)"))
        if path:
            self._parameterNode.geneSignatureFile = path

    def onDefaultSignature(self):
        self._parameterNode.geneSignatureFile = ""

    def onLoadGeneFile(self):
        path = qt.QFileDialog.getOpenFileName(
            slicer.util.mainWindow(), _("Expression file or scores table"), self._parameterNode.geneFile or "",
            _("Tables (*.csv *.tsv *.txt *.gz *.xlsx);;All files (*)"))
        if not path:
            return
        with slicer.util.tryWithErrorDisplay(_("Could not read the gene file."), waitCursor=True):
            if not self.ensurePackages(self.logic.genePackages(path)):
                return
            self.logic.loadGeneFile(self._parameterNode, path)
        self._onParameterNodeModified()

    # Packages: only for the gene files, only when one is loaded

    def ensurePackages(self, modules: List[str]) -> bool:
        """Install the packages ``modules`` (import names) that are missing, after asking; True when all present.

        Only reading an expression file needs a package (pandas; openpyxl for .xlsx). slicer.util.pip_install
        exists in Slicer 5.8 and later (Slicer 5.12 adds slicer.packaging.pip_ensure, not needed here).
        """
        missing = [name for name in modules if importlib.util.find_spec(name) is None]
        if not missing:
            return True
        requirements = [OPTIONAL_PACKAGES.get(name, name) for name in missing]
        if slicer.app.testingEnabled():
            logging.info(f"Testing mode: not installing {requirements}")
            return False
        if not slicer.util.confirmOkCancelDisplay(
                _("Reading this file needs these Python packages, which are not installed yet:") + "\n\n"
                + "\n".join(requirements) + "\n\n" + _("Install them now? (This may take a minute.)"),
                windowTitle=_("Hypoxia Markers - install Python packages")):
            return False
        slicer.app.setOverrideCursor(qt.Qt.WaitCursor)
        try:
            slicer.util.pip_install(requirements)
        finally:
            slicer.app.restoreOverrideCursor()
        importlib.invalidate_caches()
        return True

    def _updateGeneSampleComboBox(self):
        combo = self.ui.geneSampleComboBox
        table = self.logic.session.gene_table(self._parameterNode)
        wasBlocked = combo.blockSignals(True)
        try:
            combo.clear()
            if table is not None:
                for sample in table.samples:
                    combo.addItem(sample)
                combo.setCurrentIndex(combo.findText(self._parameterNode.geneSample))  # -1: none chosen yet
            combo.enabled = table is not None
        finally:
            combo.blockSignals(wasBlocked)

    def onGeneSampleChosen(self, index):
        if self._parameterNode is None or index < 0 or self._updatingGui:
            return
        with slicer.util.tryWithErrorDisplay(_("Could not use this sample.")):
            self.logic.selectGeneSample(self._parameterNode, self.ui.geneSampleComboBox.itemText(index))

    def onLoadCohort(self):
        path = qt.QFileDialog.getOpenFileName(slicer.util.mainWindow(), _("Cohort results"), "",
                                              _("Cohort results (*.json);;All files (*)"))
        if not path:
            return
        with slicer.util.tryWithErrorDisplay(_("Could not read the composite line.")):
            self.logic.loadCompositeLine(self._parameterNode, path)

    def onExport(self):
        folder = qt.QFileDialog.getExistingDirectory(slicer.util.mainWindow(), _("Export the results into"))
        if not folder:
            return
        with slicer.util.tryWithErrorDisplay(_("Export failed."), waitCursor=True):
            out = self.logic.exportResults(self._parameterNode, folder)
        slicer.util.infoDisplay(_("Results written to:") + f"\n{out}", windowTitle=_("Hypoxia Markers"))


#
# HypoxiaMarkersLogic
#


class HypoxiaMarkersLogic(ScriptedLoadableModuleLogic):
    """What the module does, without GUI: the parameter node handed to HypoxiaMarkersLib.slicer.session.

    The session keeps results tied to the inputs they came from (see its docstring); this class adds what needs
    the application: packages, the segment editor node, the layout and the views.
    """

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        from HypoxiaMarkersLib.slicer.session import PatientSession  # the library, when the module is used

        self.session = PatientSession()

    def reset(self) -> None:
        """Forget the analysis and gene file held in memory (the scene was closed)."""
        self.session.reset()

    def getParameterNode(self):
        return HypoxiaMarkersParameterNode(super().getParameterNode())

    def segmentEditorNode(self):
        node = slicer.mrmlScene.GetSingletonNode("HypoxiaMarkersSegmentEditor", "vtkMRMLSegmentEditorNode")
        if node is None:
            node = slicer.mrmlScene.CreateNodeByClass("vtkMRMLSegmentEditorNode")
            node.UnRegister(None)
            node.SetSingletonTag("HypoxiaMarkersSegmentEditor")
            node = slicer.mrmlScene.AddNode(node)
        return node

    @staticmethod
    def isDceCandidate(node) -> bool:
        from HypoxiaMarkersLib.slicer import mrml

        return bool(node) and (mrml.is_multivolume(node) or mrml.sequence_of_proxy(node) is not None)

    @staticmethod
    def genePackages(path: str) -> List[str]:
        """Import names of the packages reading this gene file needs (none for a scores table)."""
        from HypoxiaMarkersLib.slicer import logic as slicer_logic

        return slicer_logic.gene_file_packages(path)

    # Inputs and the analysis: HypoxiaMarkersLib.slicer.session

    def detectFrameTimes(self, p, dceNode=None) -> None:
        self.session.detect_frame_times(p, dceNode)

    def process(self, p, progress=None):
        """Fit, and put every output in the scene (nodes saved in the parameter node, stamped with the inputs)."""
        return self.session.apply(p, progress=progress)

    def setBiopsySlice(self, p, biopsySlice: int):
        return self.session.set_biopsy_slice(p, biopsySlice)

    def biopsySliceRow(self, p):
        return self.session.biopsy_row(p)

    def showVoxelCurve(self, p, ras) -> None:
        self.session.show_voxel_curve(p, ras)

    def loadGeneFile(self, p, path: str) -> None:
        table = self.session.load_gene_file(p, path)
        for warning in table.warnings:
            logging.warning(warning)

    def selectGeneSample(self, p, sample: str) -> None:
        self.session.select_gene_sample(p, sample)

    def loadCompositeLine(self, p, path: str) -> None:
        self.session.load_composite_line(p, path)

    def updateSummary(self, p):
        return self.session.update_summary(p)

    def exportResults(self, p, folder: str) -> str:
        return self.session.export(p, folder)

    def loadPhantom(self, p=None, seed: int = 0, **options):
        """The synthetic phantom as nodes, selected as the module's inputs (with its gene score)."""
        return self.session.load_phantom(p, seed=seed, **options)

    def displayedDceVolume(self, dceNode):
        """The volume shown for the DCE series (its sequence browser's proxy), or None."""
        from HypoxiaMarkersLib.slicer import mrml

        node = mrml.resolve_dce_node(dceNode)
        if node.IsA("vtkMRMLSequenceNode"):
            return mrml.proxy_of(node)
        return node

    # Views

    def showResults(self, p) -> None:
        """T2W (or the DCE frame) as background, A_Brix as foreground, hypoxic voxels in red; biopsy slice."""
        from HypoxiaMarkersLib.slicer import logic as slicer_logic

        background = p.t2wVolume or self.displayedDceVolume(p.dceSeries)
        slicer.util.setSliceViewerLayers(background=background, foreground=p.aBrixVolume, foregroundOpacity=0.4,
                                         label=p.hypoxicLabelMap, labelOpacity=0.7)
        run = self.session.run
        if run is not None:
            slicer_logic.show_biopsy_slice(run.result, run.tumour_mask)
        self.showChart(p.sliceChart, p.sliceTable)
        self.selectBiopsyRow(p)

    def showChart(self, chartNode, tableNode=None) -> None:
        """Show the chart, and the table beside it (a layout with a plot and a table view)."""
        if chartNode is None:
            return
        if tableNode is not None:
            # Plots' ShowChartInLayout switches to a layout with a plot but no table (Conventional -> Conventional
            # plot, vtkSlicerPlotsLogic::GetLayoutWithPlot, 5.8 as 5.10): the table and its highlighted biopsy row
            # would not be visible. Four-up + plot + table is the standard layout with both.
            layoutManager = slicer.app.layoutManager()
            withTable = slicer.vtkMRMLLayoutNode.SlicerLayoutFourUpPlotTableView
            if layoutManager is not None and layoutManager.layout != withTable:
                layoutManager.setLayout(withTable)
        slicer.modules.plots.logic().ShowChartInLayout(chartNode)
        if tableNode is not None:
            appLogic = slicer.app.applicationLogic()
            appLogic.GetSelectionNode().SetActiveTableID(tableNode.GetID())
            appLogic.PropagateTableSelection()

    def selectBiopsyRow(self, p) -> None:
        """Highlight the biopsy slice's row in the table view (shown by showChart)."""
        from HypoxiaMarkersLib.slicer import mrml

        layoutManager = slicer.app.layoutManager()
        if layoutManager is None or not p.sliceTable or layoutManager.tableViewCount == 0:
            return
        tableView = layoutManager.tableWidget(0).tableView()
        if tableView.mrmlTableNode() is not p.sliceTable:
            return
        slices = [int(v) for v in mrml.table_columns(p.sliceTable)["slice"]]
        if p.biopsySlice in slices:
            tableView.selectRow(slices.index(p.biopsySlice))

    @staticmethod
    def crosshairPosition():
        crosshair = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLCrosshairNode")
        if crosshair is None:
            raise ValueError(_("No crosshair in the scene."))
        position = [0.0, 0.0, 0.0]
        crosshair.GetCrosshairRAS(position)
        return position


#
# HypoxiaMarkersTest
#


class HypoxiaMarkersTest(ScriptedLoadableModuleTest):
    """The in-Slicer self-test: phantom -> segment -> Apply -> biopsy slice -> gene score -> composite -> export.

    Synthetic data only (generated by HypoxiaMarkersLib.imaging.phantom), nothing downloaded. Run with
    Slicer --no-main-window --testing --additional-module-paths <source>/HypoxiaMarkers
    --python-code "import slicer.testing; slicer.testing.runUnitTest(['<source>/HypoxiaMarkers'], 'HypoxiaMarkers')"
    """

    def setUp(self):
        slicer.mrmlScene.Clear()

    @staticmethod
    def logic_state_is_current(logic, p):
        from HypoxiaMarkersLib.slicer.session import ResultState

        return logic.session.state(p) is ResultState.CURRENT

    def runTest(self):
        self.setUp()
        self.test_HypoxiaMarkersWorkflow()
        self.setUp()
        self.test_HypoxiaMarkersMissingFrameTimes()

    def test_HypoxiaMarkersWorkflow(self):
        import numpy as np

        from HypoxiaMarkersLib.imaging import analysis as imaging
        from HypoxiaMarkersLib.io import masks as mask_io
        from HypoxiaMarkersLib.slicer import mrml
        from HypoxiaMarkersLib.stats import composite

        self.delayDisplay("Load: the synthetic phantom")
        logic = HypoxiaMarkersLogic()
        p = logic.getParameterNode()
        nodes = logic.loadPhantom(p, seed=11)
        phantom = nodes["phantom"]
        self.assertIsNotNone(p.dceSeries)
        self.assertIn("time", p.frameTimesSource)
        np.testing.assert_allclose(mrml.parse_times(p.frameTimes), phantom.series.times_s)

        self.delayDisplay("Segment: the tumour drawn on T2W lands on the DCE grid")
        mask = mrml.segment_mask(p.tumourSegmentation, p.tumourSegmentId, mrml.reference_volume(p.dceSeries))
        expected = mask_io.resample_mask(phantom.t2w_tumour_mask.astype(bool), phantom.t2w_geometry,
                                         phantom.series.geometry)
        np.testing.assert_array_equal(mask, expected)

        self.delayDisplay("Apply")
        run = logic.process(p)
        reference = imaging.analyse_dce(phantom.series, expected, logic.session.imaging_parameters(p))
        self.assertEqual(run.result.hypoxic_fraction, reference.hypoxic_fraction)
        self.assertLess(abs(run.result.hypoxic_fraction - phantom.hypoxic_fraction), 0.05)
        aBrix = slicer.util.arrayFromVolume(p.aBrixVolume)
        np.testing.assert_array_equal(np.isnan(aBrix), np.isnan(reference.a_brix))
        np.testing.assert_allclose(aBrix[~np.isnan(aBrix)], reference.a_brix[~np.isnan(reference.a_brix)])
        self.assertEqual(int(slicer.util.arrayFromVolume(p.hypoxicLabelMap).sum()), reference.n_hypoxic)
        self.assertEqual(p.sliceTable.GetNumberOfRows(), len(reference.slices))
        logic.showResults(p)
        self.assertTrue(self.logic_state_is_current(logic, p))

        self.delayDisplay("Biopsy slice")
        logic.setBiopsySlice(p, 2)
        row = logic.biopsySliceRow(p)
        self.assertEqual(row["slice"], 2)
        self.assertEqual(row["hypoxic_fraction"], reference.slices[1].hypoxic_fraction)
        flags = mrml.table_columns(p.sliceTable)["is_biopsy_slice"]
        self.assertEqual(list(flags).index(1), 1)

        self.delayDisplay("Gene score and composite")
        p.geneScore = "-"  # half typed: no error, no score
        self.assertIsNone(logic.updateSummary(p)["gene_score"])
        p.geneScore = "0.35"
        p.compositeX0, p.compositeY0 = 0.5, 1.0
        summary = logic.updateSummary(p)
        self.assertEqual(summary["gene_classification"], "more hypoxic")
        expectedGroup = 1 if reference.hypoxic_fraction >= p.hfCutoff else 2
        self.assertEqual(summary["group"], expectedGroup)
        self.assertAlmostEqual(summary["hscomp"],
                               float(composite.hscomp(reference.hypoxic_fraction, 0.35, 0.5, 1.0)), places=12)
        self.assertIn("HScomp", p.summaryHtml)

        self.delayDisplay("Voxel curve and export")
        centre = mrml.slice_centre_ras(run.result.geometry, run.result.biopsy_slice.k_index, run.tumour_mask)
        logic.showVoxelCurve(p, centre)
        self.assertEqual(p.voxelTable.GetNumberOfRows(), phantom.series.n_frames)
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            out = logic.exportResults(p, folder)
            for name in ("a_brix.nrrd", "hypoxic_mask.nrrd", "slices.csv", "summary.json", "patient_summary.json",
                         "patient_summary.csv"):
                self.assertTrue(os.path.isfile(os.path.join(out, name)), name)
        self.delayDisplay("Test passed")

    def test_HypoxiaMarkersMissingFrameTimes(self):
        """A sequence without frame times: the module asks for them, then uses what is typed."""
        import numpy as np

        from HypoxiaMarkersLib.errors import InputError
        from HypoxiaMarkersLib.slicer import mrml

        logic = HypoxiaMarkersLogic()
        p = logic.getParameterNode()
        nodes = logic.loadPhantom(p, seed=12)
        sequence = nodes["dce"]
        sequence.SetIndexName("frame")
        sequence.SetIndexUnit("")
        logic.detectFrameTimes(p)
        self.assertEqual(p.frameTimes, "")
        self.assertIn("not found", p.frameTimesSource)
        with self.assertRaises(InputError):
            logic.process(p)
        p.frameTimes = mrml.format_times(nodes["phantom"].series.times_s)
        run = logic.process(p)
        self.assertEqual(run.series.time_source, "entered in the module")
        self.assertTrue(np.isfinite(run.result.hypoxic_fraction))
        self.delayDisplay("Test passed")
