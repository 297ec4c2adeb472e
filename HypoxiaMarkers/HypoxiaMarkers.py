import importlib
import importlib.util
import logging
import os
import sys
from typing import Annotated, Dict, Optional, Union

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
from slicer.parameterNodeWrapper import WithinRange, parameterNodeWrapper
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
import HypoxiaMarkersLib  # noqa: E402
import HypoxiaMarkersLib.errors  # noqa: E402
import HypoxiaMarkersLib.io.outputs  # noqa: E402
import HypoxiaMarkersLib.slicer.mrml  # noqa: E402

MODULE_NAME = "HypoxiaMarkers"

#: Output roles of HypoxiaMarkersLib.slicer.logic -> parameter-node fields holding the nodes.
OUTPUT_PARAMETERS = {
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
Tumour hypoxia of a cervical cancer from DCE-MRI and the 6-gene hypoxia score.
<ol>
<li><b>Inputs</b>: the DCE-MRI series (a volume sequence), the T2-weighted volume and the tumour drawn on T2W
(use the embedded segment editor). Check the frame times (read from the series, or typed in seconds).</li>
<li><b>Apply</b>: the Brix model is fitted to the relative signal increase of every tumour voxel. Maps of A_Brix
(amplitude), k_ep, k_el and R² are made on the DCE grid; voxels with A_Brix below the threshold (1.56) are hypoxic
(red overlay). The hypoxic fraction (hypoxic / fitted voxels) is given for the tumour, each slice, and the biopsy
slice (slice 1 = lowest slice with tumour); a tumour is <i>more hypoxic</i> when it is at least 0.27.</li>
<li><b>Gene score and composite</b>: load an expression file or a scores table (or type the score); with the
cohort's composite line (x0, y0) the module gives the group (1-4) and HScomp, the signed distance to the line
(&ge; 0: more hypoxic).</li>
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
    with slicer.util.tryWithErrorDisplay(_("Failed to make the HypoxiaMarkers phantom."), waitCursor=True):
        nodes = logic.loadPhantom(logic.getParameterNode())
        slicer.util.setSliceViewerLayers(background=logic.displayedDceVolume(nodes["dce"]), fit=True)
        return [nodes["dce"], nodes["t2w"], nodes["segmentation"]]
    return []


#
# Parameter node: every input, parameter and output, so that a saved scene restores the session
#


@parameterNodeWrapper
class HypoxiaMarkersParameterNode:
    """The module's state.

    Inputs: dceSeries (sequence or MultiVolume), t2wVolume, tumourSegmentation + tumourSegmentId, frameTimes (s,
    comma-separated; "" = from the series) and frameTimesSource, baselineFrames (0 = automatic).
    Parameters: aThreshold, hfCutoff, biopsySlice, injectionDuration (s), fitLagPerVoxel.
    Genes and composite: geneFile, geneSignatureFile, geneSource, geneSample, geneScore (text; "" = none),
    geneCutoff, compositeX0, compositeY0 (0 = not set), compositeSource.
    Outputs: the maps, label map, tables, plot series/charts, the biopsy-slice outline, and the summary.
    """

    dceSeries: Optional[Union[vtkMRMLSequenceNode, vtkMRMLScalarVolumeNode]]
    t2wVolume: vtkMRMLScalarVolumeNode
    tumourSegmentation: vtkMRMLSegmentationNode
    tumourSegmentId: str = ""
    frameTimes: str = ""
    frameTimesSource: str = ""
    baselineFrames: Annotated[int, WithinRange(0, 1000)] = 0

    aThreshold: Annotated[float, WithinRange(0.1, 5.0)] = 1.56
    hfCutoff: Annotated[float, WithinRange(0.0, 1.0)] = 0.27
    biopsySlice: Annotated[int, WithinRange(1, 999)] = 1
    injectionDuration: Annotated[float, WithinRange(0.0, 600.0)] = 0.0
    fitLagPerVoxel: bool = False

    geneFile: str = ""
    geneSignatureFile: str = ""
    geneSource: str = ""
    geneSample: str = ""
    geneScore: str = ""
    geneCutoff: Annotated[float, WithinRange(-10.0, 10.0)] = 0.0
    compositeX0: Annotated[float, WithinRange(0.0, 1.0)] = 0.0
    compositeY0: Annotated[float, WithinRange(0.0, 10.0)] = 0.0
    compositeSource: str = ""

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
    summaryHtml: str = ""
    summaryJson: str = ""


#
# HypoxiaMarkersWidget
#


class HypoxiaMarkersWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The module's panel. All work is done by HypoxiaMarkersLogic."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._observedSegmentation = None
        self._updatingGui = False
        self._summaryInputs = None
        self._lastDceNode = None

    def onReload(self):
        """Reload HypoxiaMarkersLib's submodules too (Slicer reloads only this file)."""
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
        self.ui.biopsySliceSpinBox.connect("valueChanged(int)", self.onBiopsySliceChanged)
        self.ui.showSliceChartButton.connect("clicked(bool)", self.onShowSliceChart)
        self.ui.showMeanCurveButton.connect("clicked(bool)", self.onShowMeanCurve)
        self.ui.showVoxelCurveButton.connect("clicked(bool)", self.onShowVoxelCurve)
        self.ui.loadGeneFileButton.connect("clicked(bool)", self.onLoadGeneFile)
        self.ui.geneSampleComboBox.connect("currentIndexChanged(int)", self.onGeneSampleChosen)
        self.ui.loadCohortButton.connect("clicked(bool)", self.onLoadCohort)
        self.ui.exportButton.connect("clicked(bool)", self.onExport)

        self._setupSegmentEditor()
        self.initializeParameterNode()

    def _setupSegmentEditor(self):
        editor = self.ui.segmentEditorWidget
        editor.setMRMLScene(slicer.mrmlScene)
        editor.setMRMLSegmentEditorNode(self.logic.segmentEditorNode())
        if hasattr(editor, "setSourceVolumeNodeSelectorVisible"):
            editor.setSourceVolumeNodeSelectorVisible(False)
        editor.setSegmentationNodeSelectorVisible(False)

    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()
        self.ui.segmentEditorWidget.setMRMLSegmentEditorNode(self.logic.segmentEditorNode())
        if hasattr(self.ui.segmentEditorWidget, "installKeyboardShortcuts"):
            self.ui.segmentEditorWidget.installKeyboardShortcuts()

    def exit(self) -> None:
        # Leave no segment editor effect active (it would keep capturing mouse clicks in the views).
        self.ui.segmentEditorWidget.setActiveEffect(None)
        if hasattr(self.ui.segmentEditorWidget, "uninstallKeyboardShortcuts"):
            self.ui.segmentEditorWidget.uninstallKeyboardShortcuts()
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)
        self._observeSegmentation(None)

    def onSceneEndClose(self, caller, event) -> None:
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
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
        self._parameterNode = inputParameterNode
        self._summaryInputs = None
        if self._parameterNode:
            # The frame times saved with the scene are kept: the series shown is not a newly chosen one.
            self._lastDceNode = self._parameterNode.dceSeries
            # Widgets whose dynamic property SlicerParameterName names a field are bound to it.
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
            self._onParameterNodeModified()

    def _onParameterNodeModified(self, caller=None, event=None) -> None:
        p = self._parameterNode
        if p is None or self._updatingGui:
            return
        self._updatingGui = True
        try:
            self._observeSegmentation(p.tumourSegmentation)
            self._updateSegmentComboBox()
            editor = self.ui.segmentEditorWidget
            if editor.segmentationNode() is not p.tumourSegmentation:
                editor.setSegmentationNode(p.tumourSegmentation)
            if hasattr(editor, "setSourceVolumeNode"):
                if editor.sourceVolumeNode() is not p.t2wVolume:
                    editor.setSourceVolumeNode(p.t2wVolume)
            elif editor.masterVolumeNode() is not p.t2wVolume:  # Slicer < 5.1
                editor.setMasterVolumeNode(p.t2wVolume)
            self._updateGeneSampleComboBox()
            ready = bool(p.dceSeries and p.tumourSegmentation and p.tumourSegmentId)
            self.ui.applyButton.enabled = ready
            self.ui.applyButton.toolTip = _(
                "Fit the Brix model in every tumour voxel and compute the maps and hypoxic fractions."
                if ready else "Choose the DCE series, and a tumour segmentation with the tumour segment.")
            hasResults = bool(p.aBrixVolume and p.sliceTable)
            for button in (self.ui.showSliceChartButton, self.ui.showMeanCurveButton, self.ui.exportButton):
                button.enabled = hasResults
            self.ui.showVoxelCurveButton.enabled = hasResults and self.logic.run is not None
        finally:
            self._updatingGui = False
        self._updateSummaryIfInputsChanged()

    def _updateSummaryIfInputsChanged(self):
        """Recompute the classification when the gene score, cutoffs or the composite line change."""
        p = self._parameterNode
        inputs = (p.geneScore, p.geneCutoff, p.compositeX0, p.compositeY0, p.hfCutoff, p.hypoxicFraction)
        if inputs == self._summaryInputs:
            return
        self._summaryInputs = inputs
        with slicer.util.tryWithErrorDisplay(_("Could not update the classification.")):
            self.logic.updateSummary(p)

    # Segmentation and segment

    def _observeSegmentation(self, segmentationNode):
        if segmentationNode is self._observedSegmentation:
            return
        if self._observedSegmentation is not None:
            for event in (slicer.vtkSegmentation.SegmentAdded, slicer.vtkSegmentation.SegmentRemoved,
                          slicer.vtkSegmentation.SegmentModified):
                self.removeObserver(self._observedSegmentation, event, self._onSegmentsChanged)
        self._observedSegmentation = segmentationNode
        if segmentationNode is not None:
            for event in (slicer.vtkSegmentation.SegmentAdded, slicer.vtkSegmentation.SegmentRemoved,
                          slicer.vtkSegmentation.SegmentModified):
                self.addObserver(segmentationNode, event, self._onSegmentsChanged)

    def _onSegmentsChanged(self, caller=None, event=None):
        self._updateSegmentComboBox()

    def _updateSegmentComboBox(self):
        p = self._parameterNode
        combo = self.ui.segmentComboBox
        wasBlocked = combo.blockSignals(True)
        try:
            combo.clear()
            segmentation = p.tumourSegmentation if p else None
            if segmentation is None:
                return
            for segmentId in HypoxiaMarkersLib.slicer.mrml.segment_ids(segmentation):
                combo.addItem(segmentation.GetSegmentation().GetSegment(segmentId).GetName(), segmentId)
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
        if self._parameterNode and node is not None and not HypoxiaMarkersLib.slicer.mrml.segment_ids(node):
            # A new segmentation: start it with a "tumour" segment to draw on T2W.
            node.GetSegmentation().AddEmptySegment("tumour", "tumour")
            if self._parameterNode.t2wVolume:
                node.SetReferenceImageGeometryParameterFromVolumeNode(self._parameterNode.t2wVolume)
            self.ui.segmentEditorCollapsibleButton.collapsed = False

    def onT2wChanged(self, node):
        if node is not None and self._parameterNode and not self._parameterNode.aBrixVolume:
            slicer.util.setSliceViewerLayers(background=node, fit=True)

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
        with slicer.util.tryWithErrorDisplay(_("The analysis failed."), waitCursor=False):
            if not self.logic.ensurePackages():
                return
            dialog = slicer.util.createProgressDialog(
                labelText=_("Fitting the Brix model in every tumour voxel..."), windowTitle=_("Hypoxia Markers"),
                maximum=100, autoClose=False)
            dialog.setCancelButtonText(_("Cancel"))

            def progress(done, total):
                dialog.maximum = max(int(total), 1)
                dialog.value = int(done)
                slicer.app.processEvents()
                return not dialog.wasCanceled

            try:
                self.logic.process(p, progress=progress)
            except HypoxiaMarkersLib.errors.Cancelled:
                slicer.util.showStatusMessage(_("Analysis cancelled."), 3000)
                return
            finally:
                dialog.close()
            self.logic.showResults(p)
            self._onParameterNodeModified()

    # Results

    def onBiopsySliceChanged(self, value):
        p = self._parameterNode
        if p is None or self._updatingGui or not p.sliceTable:
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

    def onLoadGeneFile(self):
        path = qt.QFileDialog.getOpenFileName(
            slicer.util.mainWindow(), _("Expression file or scores table"), self._parameterNode.geneFile or "",
            _("Tables (*.csv *.tsv *.txt *.gz *.xlsx *.xls);;All files (*)"))
        if not path:
            return
        with slicer.util.tryWithErrorDisplay(_("Could not read the gene file."), waitCursor=True):
            if not self.logic.ensurePackages():
                return
            self.logic.loadGeneFile(self._parameterNode, path)
            self._updateGeneSampleComboBox()
            self.logic.updateSummary(self._parameterNode)

    def _updateGeneSampleComboBox(self):
        combo = self.ui.geneSampleComboBox
        table = self.logic.geneScores
        wasBlocked = combo.blockSignals(True)
        try:
            combo.clear()
            if table is not None:
                for sample in table.samples:
                    combo.addItem(sample)
                combo.setCurrentIndex(max(combo.findText(self._parameterNode.geneSample), 0))
        finally:
            combo.blockSignals(wasBlocked)

    def onGeneSampleChosen(self, index):
        if self._parameterNode is None or index < 0 or self.logic.geneScores is None:
            return
        with slicer.util.tryWithErrorDisplay(_("Could not use this sample.")):
            self.logic.selectGeneSample(self._parameterNode, self.ui.geneSampleComboBox.itemText(index))
            self.logic.updateSummary(self._parameterNode)

    def onLoadCohort(self):
        path = qt.QFileDialog.getOpenFileName(slicer.util.mainWindow(), _("Cohort results"), "",
                                              _("Cohort results (*.json);;All files (*)"))
        if not path:
            return
        with slicer.util.tryWithErrorDisplay(_("Could not read the composite line.")):
            self.logic.loadCompositeLine(self._parameterNode, path)
            self.logic.updateSummary(self._parameterNode)

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
    """What the module does, without GUI: reads the parameter node, calls HypoxiaMarkersLib, fills the outputs.

    The work itself is in HypoxiaMarkersLib.slicer.logic (scene <-> library) and the library's science modules;
    this class only moves values between the parameter node and those functions, and arranges the views.
    """

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self.run = None  # the last analysis (ImagingRun), kept in memory for the voxel curve and the biopsy slice
        self.geneScores = None  # GeneScoreTable of the loaded gene file

    @property
    def lib(self):
        from HypoxiaMarkersLib.slicer import logic as slicer_logic

        return slicer_logic

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
        return bool(node) and (HypoxiaMarkersLib.slicer.mrml.is_multivolume(node)
                               or HypoxiaMarkersLib.slicer.mrml.sequence_of_proxy(node) is not None)

    # Packages

    @staticmethod
    def requirementsPath() -> str:
        return os.path.join(os.path.dirname(__file__), "Resources", "requirements.txt")

    def ensurePackages(self) -> bool:
        """Install the packages Slicer does not bundle (pandas, lifelines), after asking; True when present.

        Called on Apply and before reading gene files, never at module start.
        """
        packaging = _slicerPackaging()
        if packaging is not None:  # Slicer 5.12+
            try:
                packaging.pip_ensure(packaging.load_requirements(self.requirementsPath()), requester=MODULE_NAME)
            except RuntimeError as error:  # the user declined
                logging.info(f"Packages not installed: {error}")
                return False
            return True
        requirements = []
        with open(self.requirementsPath(), encoding="utf-8") as handle:
            for line in handle:
                line = line.split("#", 1)[0].strip()
                if line:
                    requirements.append(line)
        missing = [r for r in requirements if importlib.util.find_spec(_distributionModule(r)) is None]
        if not missing:
            return True
        if slicer.app.testingEnabled():
            logging.info(f"Testing mode: not installing {missing}")
            return True
        if not slicer.util.confirmOkCancelDisplay(
                _("Hypoxia Markers needs these Python packages, which are not installed yet:") + "\n\n"
                + "\n".join(missing) + "\n\n" + _("Install them now? (This may take a few minutes.)"),
                windowTitle=_("Hypoxia Markers - install Python packages")):
            return False
        slicer.util.pip_install(missing)
        importlib.invalidate_caches()
        return True

    # Inputs

    def detectFrameTimes(self, p, dceNode=None) -> None:
        """Fill the Frame times field from the series (``dceNode``, default the chosen one)."""
        found = self.lib.detect_frame_times(dceNode if dceNode is not None else p.dceSeries)
        p.frameTimes = found.text
        p.frameTimesSource = found.source

    def imagingParameters(self, p):
        return self.lib.imaging_parameters(
            a_threshold=p.aThreshold, hf_cutoff=p.hfCutoff, biopsy_slice=p.biopsySlice,
            baseline_frames=p.baselineFrames, injection_duration_s=p.injectionDuration,
            fit_lag_per_voxel=p.fitLagPerVoxel)

    def outputNodes(self, p) -> Dict[str, object]:
        return {role: getattr(p, name) for role, name in OUTPUT_PARAMETERS.items() if getattr(p, name)}

    def displayedDceVolume(self, dceNode):
        """The volume shown for the DCE series (its sequence browser's proxy), or None."""
        node = HypoxiaMarkersLib.slicer.mrml.resolve_dce_node(dceNode)
        if node.IsA("vtkMRMLSequenceNode"):
            return HypoxiaMarkersLib.slicer.mrml.proxy_of(node)
        return node

    # The analysis

    def process(self, p, progress=None):
        """Read the inputs, fit, and put every output in the scene (nodes saved in the parameter node)."""
        if not p.frameTimes and p.dceSeries:
            self.detectFrameTimes(p)
        run = self.lib.run_imaging(p.dceSeries, p.tumourSegmentation, p.tumourSegmentId, self.imagingParameters(p),
                                   times_text=p.frameTimes, progress=progress)
        reference = HypoxiaMarkersLib.slicer.mrml.reference_volume(p.dceSeries)
        name = p.dceSeries.GetName() if p.dceSeries else ""
        nodes = self.lib.publish_results(run, self.outputNodes(p), reference_node=reference, name=name)
        wasModifying = p.StartModify()
        try:
            for role, node in nodes.items():
                setattr(p, OUTPUT_PARAMETERS[role], node)
            p.frameTimesSource = run.series.time_source or p.frameTimesSource
            p.hypoxicFraction = float(run.result.hypoxic_fraction)
        finally:
            p.EndModify(wasModifying)
        self.run = run
        self.updateSummary(p)
        return run

    def setBiopsySlice(self, p, biopsySlice: int) -> None:
        """Another biopsy slice: its hypoxic fraction, the table and the outline are updated without refitting."""
        if self.run is not None:
            result = self.lib.change_biopsy_slice(self.run.result, biopsySlice, self.outputNodes(p),
                                                  self.run.tumour_mask)
            self.run.result = result
            self.lib.show_biopsy_slice(result, self.run.tumour_mask)
        elif p.sliceTable:  # a restored scene: the table holds every slice's numbers
            self.lib.restored_biopsy_slice(self.outputNodes(p), biopsySlice)
        if p.biopsySlice != biopsySlice:
            p.biopsySlice = biopsySlice
        self.updateSummary(p)

    def biopsySliceRow(self, p) -> Dict[str, object]:
        if self.run is not None:
            return self.run.result.biopsy_slice.as_dict()
        if p.sliceTable:
            return self.lib.biopsy_slice_from_table(p.sliceTable, p.biopsySlice)
        return {}

    def showVoxelCurve(self, p, ras) -> None:
        if self.run is None:
            raise ValueError(_("Run Apply first: the voxel curves need the analysis of this session."))
        curve = self.lib.voxel_curve(self.run, ras)
        nodes = self.lib.publish_voxel_curve(curve, self.outputNodes(p))
        for role in ("voxel_table", "voxel_series", "voxel_fit_series", "curve_chart"):
            setattr(p, OUTPUT_PARAMETERS[role], nodes[role])

    # Genes and the composite

    def loadGeneFile(self, p, path: str) -> None:
        table = self.lib.read_gene_scores(path, signature_path=p.geneSignatureFile or None)
        self.geneScores = table
        p.geneFile = str(path)
        p.geneSource = table.source
        p.geneCutoff = table.cutoff
        sample = p.geneSample if p.geneSample in table.scores else table.samples[0]
        self.selectGeneSample(p, sample)
        for warning in table.warnings:
            logging.warning(warning)

    def selectGeneSample(self, p, sample: str) -> None:
        if self.geneScores is None or sample not in self.geneScores.scores:
            raise ValueError(_("No sample '{sample}' in the gene file.").format(sample=sample))
        p.geneSample = sample
        p.geneScore = f"{self.geneScores.scores[sample]:.6g}"

    def loadCompositeLine(self, p, path: str) -> None:
        x0, y0, source = self.lib.composite_line_from_results(path)
        p.compositeX0 = x0
        p.compositeY0 = y0
        p.compositeSource = source

    def patientSummary(self, p) -> Dict[str, object]:
        hypoxicFraction = None
        if self.run is not None:
            hypoxicFraction = float(self.run.result.hypoxic_fraction)
        elif p.hypoxicFraction >= 0:
            hypoxicFraction = float(p.hypoxicFraction)
        return self.lib.patient_summary(
            hypoxicFraction, p.hfCutoff, self.lib.parse_gene_score(p.geneScore), p.geneCutoff,
            p.compositeX0, p.compositeY0, biopsy=self.biopsySliceRow(p) or None)

    def updateSummary(self, p) -> Dict[str, object]:
        import json

        summary = self.patientSummary(p)
        if summary["hypoxic_fraction"] is None and summary["gene_score"] is None:
            p.summaryHtml = _("Choose the inputs and click Apply.")
        else:
            p.summaryHtml = self.lib.summary_html(summary, self.run.result if self.run is not None else None)
        p.summaryJson = json.dumps(HypoxiaMarkersLib.io.outputs.to_jsonable(summary))
        return summary

    def exportResults(self, p, folder: str) -> str:
        if self.run is None:
            raise ValueError(_("Run Apply first: the export writes the maps of this session."))
        name = (p.dceSeries.GetName() if p.dceSeries else "patient") or "patient"
        safeName = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
        inputs = {"dce": name, "segmentation": p.tumourSegmentation.GetName() if p.tumourSegmentation else "",
                  "segment": p.tumourSegmentId, "frame_times": p.frameTimes, "gene_source": p.geneSource,
                  "gene_sample": p.geneSample, "composite_source": p.compositeSource}
        out = self.lib.export_results(self.run, os.path.join(folder, f"HypoxiaMarkers-{safeName}"),
                                      self.patientSummary(p), inputs=inputs)
        return str(out)

    # Sample data

    def loadPhantom(self, p=None, seed: int = 0, **options) -> Dict[str, object]:
        """The synthetic phantom as nodes, selected as the module's inputs (with its gene score)."""
        nodes = self.lib.load_phantom(seed=seed, **options)
        if p is not None:
            wasModifying = p.StartModify()
            try:
                p.dceSeries = nodes["dce"]
                p.t2wVolume = nodes["t2w"]
                p.tumourSegmentation = nodes["segmentation"]
                p.tumourSegmentId = nodes["segment_id"]
                p.geneScore = f"{nodes['gene_score']:.6g}"
                p.geneSource = _("synthetic phantom (sample data)")
                p.compositeX0, p.compositeY0 = nodes["line"]
                p.compositeSource = _("illustrative line for the phantom (not from a cohort)")
            finally:
                p.EndModify(wasModifying)
            self.detectFrameTimes(p)
        return nodes

    # Views

    def showResults(self, p) -> None:
        """T2W (or the DCE frame) as background, A_Brix as foreground, hypoxic voxels in red; biopsy slice."""
        background = p.t2wVolume or self.displayedDceVolume(p.dceSeries)
        slicer.util.setSliceViewerLayers(background=background, foreground=p.aBrixVolume, foregroundOpacity=0.4,
                                         label=p.hypoxicLabelMap, labelOpacity=0.7)
        if self.run is not None:
            self.lib.show_biopsy_slice(self.run.result, self.run.tumour_mask)
        self.showChart(p.sliceChart, p.sliceTable)
        self.selectBiopsyRow(p)

    def showChart(self, chartNode, tableNode=None) -> None:
        if chartNode is None or not hasattr(slicer.modules, "plots"):
            return
        slicer.modules.plots.logic().ShowChartInLayout(chartNode)
        if tableNode is not None:
            selection = slicer.app.applicationLogic().GetSelectionNode()
            selection.SetActiveTableID(tableNode.GetID())
            slicer.app.applicationLogic().PropagateTableSelection()

    def selectBiopsyRow(self, p) -> None:
        """Highlight the biopsy slice's row in the table view (when one is shown)."""
        layoutManager = slicer.app.layoutManager()
        if layoutManager is None or not p.sliceTable or layoutManager.tableViewCount == 0:
            return
        tableView = layoutManager.tableWidget(0).tableView()
        if tableView.mrmlTableNode() is not p.sliceTable:
            return
        slices = [int(v) for v in HypoxiaMarkersLib.slicer.mrml.table_columns(p.sliceTable)["slice"]]
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


def _slicerPackaging():
    """Slicer's package helper with ``pip_ensure`` and ``load_requirements`` (5.12+; named slicer.packaging, in
    some development versions slicer.pydeps), or None on older Slicer."""
    for name in ("slicer.packaging", "slicer.pydeps"):
        try:
            helper = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(helper, "pip_ensure") and hasattr(helper, "load_requirements"):
            return helper
    return None


def _distributionModule(requirement: str) -> str:
    """The module a requirement line installs ("pandas>=1.5" -> "pandas")."""
    name = requirement
    for separator in "<>=!~;[ ":
        name = name.split(separator, 1)[0]
    return name.strip().replace("-", "_").lower()


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
        np.testing.assert_allclose(HypoxiaMarkersLib.slicer.mrml.parse_times(p.frameTimes), phantom.series.times_s)

        self.delayDisplay("Segment: the tumour drawn on T2W lands on the DCE grid")
        mask = mrml.segment_mask(p.tumourSegmentation, p.tumourSegmentId, mrml.reference_volume(p.dceSeries))
        expected = mask_io.resample_mask(phantom.t2w_tumour_mask.astype(bool), phantom.t2w_geometry,
                                         phantom.series.geometry)
        np.testing.assert_array_equal(mask, expected)

        self.delayDisplay("Apply")
        run = logic.process(p)
        reference = imaging.analyse_dce(phantom.series, expected, logic.imagingParameters(p))
        self.assertEqual(run.result.hypoxic_fraction, reference.hypoxic_fraction)
        self.assertLess(abs(run.result.hypoxic_fraction - phantom.hypoxic_fraction), 0.05)
        aBrix = slicer.util.arrayFromVolume(p.aBrixVolume)
        np.testing.assert_array_equal(np.isnan(aBrix), np.isnan(reference.a_brix))
        np.testing.assert_allclose(aBrix[~np.isnan(aBrix)], reference.a_brix[~np.isnan(reference.a_brix)])
        self.assertEqual(int(slicer.util.arrayFromVolume(p.hypoxicLabelMap).sum()), reference.n_hypoxic)
        self.assertEqual(p.sliceTable.GetNumberOfRows(), len(reference.slices))
        logic.showResults(p)

        self.delayDisplay("Biopsy slice")
        logic.setBiopsySlice(p, 2)
        row = logic.biopsySliceRow(p)
        self.assertEqual(row["slice"], 2)
        self.assertEqual(row["hypoxic_fraction"], reference.slices[1].hypoxic_fraction)
        flags = mrml.table_columns(p.sliceTable)["is_biopsy_slice"]
        self.assertEqual(list(flags).index(1), 1)

        self.delayDisplay("Gene score and composite")
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
        p.frameTimes = HypoxiaMarkersLib.slicer.mrml.format_times(nodes["phantom"].series.times_s)
        run = logic.process(p)
        self.assertEqual(run.series.time_source, "entered in the module")
        self.assertTrue(np.isfinite(run.result.hypoxic_fraction))
        self.delayDisplay("Test passed")
