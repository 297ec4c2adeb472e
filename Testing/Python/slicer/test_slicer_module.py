"""Checks of the Slicer module that need no Slicer: the .ui, the parameter node, Python 3.9, the CMake lists.

Runs with pytest, or as a script with any Python (``python test_slicer_module.py``, which is how CTest runs it
with Slicer's own Python): it needs only the standard library and HypoxiaMarkersLib.
"""

from __future__ import annotations

import ast
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

# Run as a script (CTest, with Slicer's Python) the library and the tests' helpers are found from the source tree.
for _folder in (Path(__file__).resolve().parents[3], Path(__file__).resolve().parents[1]):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

from helpers.slicer_source import (  # noqa: E402
    LIB_DIR,
    MODULE_DIR,
    MODULE_FILE,
    REPO,
    UI_FILE,
    field_defaults,
    module_tree,
    parameter_fields,
)

# Widgets the parameterNodeWrapper of Slicer 5.8 (the oldest version the module supports: Python 3.9) connects to
# each field type: the canRepresent() of every GuiConnector in Base/Python/slicer/parameterNodeWrapper/
# guiConnectors.py at tag v5.8.1. They compare type(widget) exactly (a subclass does not connect). Later versions
# add connectors (5.10: ctkCheckablePushButton for bool, int fields on the float widgets, ctkColorPickerButton):
# widgets that need them would break the panel on 5.8, so they are not listed here.
CONNECTABLE = {
    "float": {"QDoubleSpinBox", "ctkSliderWidget", "qMRMLSliderWidget", "ctkDoubleSlider", "ctkDoubleSpinBox",
              "qMRMLSpinBox"},
    "int": {"QSpinBox", "QSlider"},
    "bool": {"QCheckBox", "ctkCheckBox", "QPushButton"},
    "str": {"QLineEdit", "QLabel", "QTextEdit", "QComboBox", "ctkComboBox"},
    "node": {"qMRMLNodeComboBox"},
    "path": {"ctkPathLineEdit", "ctkDirectoryButton"},
}
#: Connectors that refuse an unbounded field (5.8.1: QSlider for int, ctkSliderWidget/qMRMLSliderWidget for float).
NEEDS_BOUNDS = {"QSlider", "ctkSliderWidget", "qMRMLSliderWidget"}
#: A combo box bound to a str/int/float/bool field needs its choices (5.8.1 QComboBoxToStringableConnector raises).
NEEDS_CHOICE = {"QComboBox", "ctkComboBox"}
NODE_METHODS_USED_ON_PARAMETER_NODE = {"StartModify", "EndModify", "connectGui", "disconnectGui", "parameterNode"}


# --------------------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------------------


def ui_root() -> ET.Element:
    return ET.parse(UI_FILE).getroot()


def ui_widgets() -> dict:
    """name -> (class, {property: value}) of every widget in the .ui."""
    widgets = {}
    for widget in ui_root().iter("widget"):
        properties = {}
        for prop in widget.findall("property"):
            value = prop.find("./*")
            properties[prop.get("name")] = value.text if value is not None else None
        widgets[widget.get("name")] = (widget.get("class"), properties)
    return widgets


def field_annotations() -> dict:
    """Field name -> annotation source text, from the @parameterNodeWrapper class of the module."""
    for node in module_tree().body:
        if isinstance(node, ast.ClassDef) and node.name == "HypoxiaMarkersParameterNode":
            return {item.target.id: ast.unparse(item.annotation) for item in node.body
                    if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)}
    raise AssertionError("no HypoxiaMarkersParameterNode")


def _is_bounded(annotation: str) -> bool:
    return "WithinRange(" in annotation or ("Minimum(" in annotation and "Maximum(" in annotation)


def attribute_names_on(tree: ast.AST, owner: str) -> set:
    """Names X in every ``<owner>.X`` (owner like "self.ui" or "p")."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and ast.unparse(node.value) == owner:
            names.add(node.attr)
    return names


def cmake_list(path: Path, variable: str) -> list:
    """Items of ``set(<variable> ...)`` in a CMakeLists.txt, with ${MODULE_NAME} expanded."""
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"#[^\n]*", "", text)
    module = re.search(r"set\(\s*MODULE_NAME\s+(\S+?)\s*\)", text)
    match = re.search(rf"set\(\s*{variable}\s+([^)]*)\)", text)
    assert match, f"{path}: no set({variable} ...)"
    items = match.group(1).split()
    if module:
        items = [item.replace("${MODULE_NAME}", module.group(1)) for item in items]
    return items


def python_files(folder: Path) -> list:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


# --------------------------------------------------------------------------------------------------------------
# The .ui and the parameter node
# --------------------------------------------------------------------------------------------------------------


def test_ui_parses_and_is_the_module_panel():
    root = ui_root()
    assert root.tag == "ui" and root.findtext("class") == "HypoxiaMarkers"
    top = root.find("widget")
    assert top.get("class") == "qMRMLWidget" and top.get("name") == "HypoxiaMarkers"
    names = [w.get("name") for w in root.iter("widget")]
    assert len(names) == len(set(names)), "widget names must be unique"
    declared = {c.findtext("class") for c in root.iter("customwidget")}
    used = {w.get("class") for w in root.iter("widget")}
    custom = {c for c in used if not c.startswith("Q")}
    assert custom <= declared, f"custom widgets not declared: {custom - declared}"
    # Every MRML widget gets the scene from the panel (the template's mrmlSceneChanged connections).
    receivers = {c.findtext("receiver") for c in root.iter("connection")
                 if c.findtext("signal") == "mrmlSceneChanged(vtkMRMLScene*)"}
    mrml_widgets = {w.get("name") for w in root.iter("widget")
                    if w.get("class") in ("qMRMLNodeComboBox", "qMRMLSegmentEditorWidget")}
    assert mrml_widgets <= receivers, f"no scene for {mrml_widgets - receivers}"


def test_every_widget_the_code_names_exists_in_the_ui():
    used = attribute_names_on(module_tree(), "self.ui")
    widgets = ui_widgets()
    missing = used - set(widgets)
    assert not missing, f"HypoxiaMarkers.py uses widgets that are not in the .ui: {sorted(missing)}"
    assert {"applyButton", "dceSelector", "segmentEditorWidget", "exportButton"} <= used


def test_every_slicer_parameter_name_is_a_field_with_a_slicer_58_connector():
    fields = parameter_fields()
    annotations = field_annotations()
    bound = {name: (cls, props["SlicerParameterName"]) for name, (cls, props) in ui_widgets().items()
             if "SlicerParameterName" in props}
    assert len(bound) >= 18
    for widget, (cls, field) in bound.items():
        assert field in fields, f"{widget}: SlicerParameterName {field!r} is not a parameter-node field"
        kind = fields[field]
        assert cls in CONNECTABLE.get(kind, set()), f"{widget} ({cls}) has no Slicer 5.8 connector for {kind} ({field})"
        if cls in NEEDS_BOUNDS:
            assert _is_bounded(annotations[field]), f"{widget} ({cls}) needs a bounded field, {field} is not"
        if cls in NEEDS_CHOICE:
            assert "Choice(" in annotations[field], f"{widget} ({cls}) needs a Choice annotation on {field}"
    fields_bound = [field for _, field in bound.values()]
    assert len(fields_bound) == len(set(fields_bound)), "two widgets bound to the same field"


def test_the_connector_table_is_the_one_of_slicer_58():
    """The table above against a 5.10-only widget sneaking in (the check itself must be able to fail)."""
    assert "ctkCheckablePushButton" not in set().union(*CONNECTABLE.values())
    assert "ctkColorPickerButton" not in set().union(*CONNECTABLE.values())
    assert "QLabel" in CONNECTABLE["str"]  # from 5.8 on: why the module needs Slicer 5.8


def test_typed_fields_are_taken_when_editing_is_finished():
    """Line edits bound to a field would write (and be checked) on every keystroke; spin boxes likewise unless
    keyboardTracking is off. Typed text is taken on editingFinished and parsed leniently."""
    widgets = ui_widgets()
    for name, (cls, props) in widgets.items():
        if cls == "QLineEdit":
            assert "SlicerParameterName" not in props, f"{name} is bound: written on every keystroke"
        if cls in ("QSpinBox", "QDoubleSpinBox"):
            assert props.get("keyboardTracking") == "false", f"{name}: set keyboardTracking false"
    source = MODULE_FILE.read_text(encoding="utf-8")
    for name in ("frameTimesLineEdit", "geneScoreLineEdit"):
        assert f'self.ui.{name}.connect("editingFinished()"' in source, name
    assert "biopsySliceSpinBox" not in {n for n, (_c, props) in widgets.items() if "SlicerParameterName" in props}
    assert 'self.ui.biopsySliceSpinBox.connect("valueChanged(int)"' in source  # fired only on commit (no tracking)


def test_composite_line_is_positive_and_unbounded():
    """Lines from 'hypoxia-markers cohort' reach x0 > 1 and y0 > 100 (x0 = 5.4, y0 = 127 must load)."""
    annotations = field_annotations()
    widgets = ui_widgets()
    for field, widget in (("compositeX0", "compositeX0SpinBox"), ("compositeY0", "compositeY0SpinBox")):
        assert "Minimum(0.0)" in annotations[field] and "Maximum(" not in annotations[field]
        assert "WithinRange" not in annotations[field]
        assert float(widgets[widget][1]["maximum"]) >= 1e5 and float(widgets[widget][1]["minimum"]) == 0.0
    assert "Minimum(1)" in annotations["biopsySlice"] and "WithinRange" not in annotations["biopsySlice"]


def test_parameter_node_holds_every_input_parameter_and_output():
    fields = parameter_fields()
    for name in ("dceSeries", "t2wVolume", "tumourSegmentation", "tumourSegmentId", "frameTimes", "frameTimesSource",
                 "baselineFrames", "aThreshold", "hfCutoff", "biopsySlice", "injectionDuration", "geneScore",
                 "geneCutoff", "compositeX0", "compositeY0", "aBrixVolume", "kEpVolume", "kElVolume",
                 "rSquaredVolume", "hypoxicLabelMap", "sliceTable", "sliceChart", "curveChart", "biopsyOutline",
                 "summaryHtml"):
        assert name in fields, name
    from HypoxiaMarkersLib import rules
    from HypoxiaMarkersLib.slicer import logic as slicer_logic
    from HypoxiaMarkersLib.slicer.session import OUTPUT_FIELDS

    assert set(OUTPUT_FIELDS) == set(slicer_logic.OUTPUT_ROLES), "every output role has a parameter-node field"
    assert all(fields.get(name) == "node" for name in OUTPUT_FIELDS.values())
    assert {"resultInputs", "hypoxicFraction"} <= set(fields) and "summaryJson" not in fields
    # Defaults are the method's (SPEC §1, rules.py): threshold 1.56, cutoff 0.27, biopsy slice 1, fast bolus.
    defaults = field_defaults()
    assert (defaults["aThreshold"], defaults["hfCutoff"]) == (rules.A_THRESHOLD, rules.HF_CUTOFF) == (1.56, 0.27)
    assert defaults["geneCutoff"] == rules.GENE_SCORE_CUTOFF and defaults["biopsySlice"] == 1
    annotations = field_annotations()
    assert "rules.A_THRESHOLD" in ast.unparse(module_tree()) and "rules.HF_CUTOFF" in ast.unparse(module_tree())
    assert annotations["aThreshold"].startswith("Annotated")
    assert defaults["injectionDuration"] == 0.0 and defaults["baselineFrames"] == 0
    widgets = ui_widgets()
    assert float(widgets["aThresholdSliderWidget"][1]["value"]) == rules.A_THRESHOLD
    assert float(widgets["hfCutoffSliderWidget"][1]["value"]) == rules.HF_CUTOFF


def test_parameter_node_attributes_used_by_the_code_exist():
    fields = set(parameter_fields())
    tree = module_tree()
    used = attribute_names_on(tree, "p") | attribute_names_on(tree, "self._parameterNode")
    unknown = used - fields - NODE_METHODS_USED_ON_PARAMETER_NODE
    assert not unknown, f"parameter-node attributes that are not fields: {sorted(unknown)}"


def test_library_functions_called_by_the_module_exist():
    from HypoxiaMarkersLib.slicer import logic as slicer_logic
    from HypoxiaMarkersLib.slicer import mrml
    from HypoxiaMarkersLib.slicer.session import PatientSession

    tree = module_tree()
    session = PatientSession()
    for owner, module in (("self.session", session), ("self.logic.session", session),
                          ("logic.session", session), ("slicer_logic", slicer_logic), ("mrml", mrml)):
        for name in attribute_names_on(tree, owner):
            assert hasattr(module, name), f"{owner}.{name} does not exist in {module}"
    assert attribute_names_on(tree, "self.session")  # the check above looked at something
    logic = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "HypoxiaMarkersLogic")
    logic_members = {f.name for f in logic.body if isinstance(f, ast.FunctionDef)} | {"session"}
    for owner in ("self.logic", "logic"):
        unknown = attribute_names_on(tree, owner) - logic_members
        assert not unknown, f"{owner}.{sorted(unknown)} not defined by HypoxiaMarkersLogic"


def test_module_imports_the_library_lazily():
    """Slicer executes every scripted module at start-up: at import the module file may take only rules.py (which
    itself imports numpy alone); the bridge, SimpleITK and scipy come with the Logic."""
    tree = module_tree()
    top = [ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    library = [line for line in top if "HypoxiaMarkersLib" in line]
    assert library == ["from HypoxiaMarkersLib import rules"], library
    rules_tree = ast.parse((LIB_DIR / "rules.py").read_text(encoding="utf-8"))
    rules_imports = {alias.name.split(".")[0] for n in ast.walk(rules_tree) if isinstance(n, ast.Import)
                     for alias in n.names}
    rules_imports |= {n.module.split(".")[0] for n in ast.walk(rules_tree) if isinstance(n, ast.ImportFrom)}
    assert rules_imports <= {"__future__", "typing", "numpy"}, rules_imports
    text = MODULE_FILE.read_text(encoding="utf-8")
    assert "pydeps" not in text  # no such module in any Slicer


def test_translations_wrap_plain_strings_only():
    """_() around a conditional or an f-string hides the texts from translation extraction."""
    for node in ast.walk(module_tree()):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_":
            assert len(node.args) == 1 and isinstance(node.args[0], ast.Constant) and isinstance(
                node.args[0].value, str), f"line {node.lineno}: _({ast.unparse(node.args[0])})"


def test_no_code_after_a_with_block_that_always_returns_or_raises():
    """tryWithErrorDisplay re-raises (slicer/util.py, 5.8 as 5.10): a 'return' after its block never runs."""
    for function in ast.walk(module_tree()):
        for body in [getattr(function, "body", None), getattr(function, "orelse", None)]:
            if not isinstance(body, list):
                continue
            for index, statement in enumerate(body[:-1]):
                if isinstance(statement, ast.With) and "tryWithErrorDisplay" in ast.unparse(statement.items[0]):
                    assert not isinstance(statement.body[-1], (ast.Return, ast.Raise)), (
                        f"line {body[index + 1].lineno} is never reached")


def test_widget_lifecycle_leaves_nothing_connected():
    widget = next(n for n in module_tree().body if isinstance(n, ast.ClassDef) and n.name == "HypoxiaMarkersWidget")
    methods = {f.name: ast.unparse(f) for f in widget.body if isinstance(f, ast.FunctionDef)}
    cleanup = methods["cleanup"]
    for needed in ("self.setParameterNode(None)", "self.removeObservers()", "self._setEditorActive(False)",
                   "setMRMLSegmentEditorNode(None)"):
        assert needed in cleanup, needed
    assert "uninstallKeyboardShortcuts" in methods["_setEditorActive"]
    assert "self._setEditorActive(False)" in methods["exit"]
    assert "collapsed" in methods["enter"]  # shortcuts only while the editor is expanded
    assert "self.logic.reset()" in methods["onSceneEndClose"]
    # setSourceVolumeNode logs a critical error while no segmentation is set (qMRMLSegmentEditorWidget.cxx).
    editor = methods["_updateSegmentEditor"]
    assert editor.index("segmentationNode() is not None") < editor.index("setSourceVolumeNode(")
    # The parameter-node observer never raises: its body is guarded.
    observer = methods["_onParameterNodeModified"]
    assert "except Exception" in observer and "tryWithErrorDisplay" not in observer


def test_the_table_is_shown_beside_the_chart():
    """The biopsy row highlight needs a table view: the layout with a plot and a table, before the chart."""
    logic = next(n for n in module_tree().body if isinstance(n, ast.ClassDef) and n.name == "HypoxiaMarkersLogic")
    show = ast.unparse(next(f for f in logic.body if isinstance(f, ast.FunctionDef) and f.name == "showChart"))
    assert show.index("SlicerLayoutFourUpPlotTableView") < show.index("ShowChartInLayout")
    assert "PropagateTableSelection" in show


def test_readme_says_slicer_58_and_walks_through_the_panel_as_it_is():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## 3D Slicer"):readme.index("## Tests, benchmarks and validation")]
    assert "Slicer 5.8 or newer" in section and "5.6 or newer" not in section
    walk = section[section.index("### First session"):section.index("### What the outputs mean")]
    texts = {(props.get("text") or props.get("title") or "").strip() for _name, (_cls, props) in ui_widgets().items()}
    texts = {t.rstrip(":").replace("...", "…") for t in texts if t}
    for button in ("Apply", "Export…", "Read from series", "Per-slice chart", "Mean curve", "Curve at crosshair",
                   "Choose reference file…", "Shipped signature", "Load composite line from results.json…",
                   "Draw the tumour on T2W", "Gene score and composite"):
        assert button in texts, f"{button} is not in the panel"
        assert f"*{button}*" in " ".join(walk.split()), f"the walk-through does not mention {button}"
    # Every italic name ending like a button ("…") is a button of the panel.
    for name in re.findall(r"\*([^*]+…)\*", " ".join(walk.split())):
        assert name in texts, f"the walk-through names '{name}', which the panel does not have"
    assert "lifelines" not in section


def test_apply_installs_nothing_and_gene_files_ask_only_for_what_they_need():
    tree = module_tree()
    widget = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "HypoxiaMarkersWidget")
    methods = {f.name: ast.unparse(f) for f in widget.body if isinstance(f, ast.FunctionDef)}
    assert "ensurePackages" not in methods["onApplyButton"]
    assert "self.ensurePackages(self.logic.genePackages(path))" in methods["onLoadGeneFile"]
    assert "*.xls " not in methods["onLoadGeneFile"] and "*.xls)" not in methods["onLoadGeneFile"]
    ensure = methods["ensurePackages"]
    assert "confirmOkCancelDisplay" in ensure and "WaitCursor" in ensure
    assert (ensure.index("setOverrideCursor(") < ensure.index("slicer.util.pip_install(")
            < ensure.index("restoreOverrideCursor()"))


def test_tooltips_say_what_the_parameters_mean():
    widgets = ui_widgets()
    for name in ("aThresholdSliderWidget", "hfCutoffSliderWidget", "biopsySliceSpinBox", "injectionDurationSpinBox",
                 "baselineFramesSpinBox", "frameTimesLineEdit", "dceSelector", "segmentComboBox", "geneScoreLineEdit",
                 "compositeX0SpinBox", "compositeY0SpinBox"):
        tip = widgets[name][1].get("toolTip") or ""
        assert len(tip) > 40, f"{name} needs a tooltip that explains it"
    assert "1.56" in widgets["aThresholdSliderWidget"][1]["toolTip"]
    assert "0.27" in widgets["hfCutoffSliderWidget"][1]["toolTip"]
    assert "caudal" in widgets["biopsySliceSpinBox"][1]["toolTip"]


def test_module_follows_the_scripted_template_and_cites_the_method():
    tree = module_tree()
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    for name in ("HypoxiaMarkers", "HypoxiaMarkersParameterNode", "HypoxiaMarkersWidget", "HypoxiaMarkersLogic",
                 "HypoxiaMarkersTest"):
        assert name in classes, name
    text = MODULE_FILE.read_text(encoding="utf-8")
    assert "EBioMedicine 2020;57:102841" in text and "Fjeldbo" in text
    assert "acknowledgementText" in text and "registerSampleData" in text
    widget_methods = {f.name for f in classes["HypoxiaMarkersWidget"].body if isinstance(f, ast.FunctionDef)}
    assert {"setup", "onReload", "onApplyButton", "enter", "exit", "cleanup"} <= widget_methods
    # The Logic is GUI-free: it never touches the widget's ui.
    logic_source = ast.unparse(classes["HypoxiaMarkersLogic"])
    assert "self.ui" not in logic_source and "qt.Q" not in logic_source
    # Packages are installed when a gene file needs them (after asking), never at import.
    top_level_calls = [ast.unparse(n) for n in tree.body if isinstance(n, ast.Expr)]
    assert not any("pip" in call for call in top_level_calls)
    test_methods = {f.name for f in classes["HypoxiaMarkersTest"].body if isinstance(f, ast.FunctionDef)}
    assert "runTest" in test_methods and sum(name.startswith("test_") for name in test_methods) >= 2


def test_self_test_covers_the_whole_workflow_without_downloads():
    tree = module_tree()
    test_class = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "HypoxiaMarkersTest")
    source = ast.unparse(test_class)
    for step in ("loadPhantom", "segment_mask", "process", "setBiopsySlice", "geneScore", "compositeX0",
                 "updateSummary", "exportResults", "ResultState.CURRENT"):
        assert step in source, f"the self-test does not cover {step}"
    assert "http" not in source and "downloadSample" not in source


def test_module_finds_its_library_from_the_source_tree_and_when_built():
    """_findLibrary: source tree = HypoxiaMarkersLib one folder up; built = beside the module (already on path)."""
    function = next(n for n in module_tree().body if isinstance(n, ast.FunctionDef) and n.name == "_findLibrary")
    code = compile(ast.Module(body=[function], type_ignores=[]), str(MODULE_FILE), "exec")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder).resolve()
        source = root / "source"
        (source / "HypoxiaMarkers").mkdir(parents=True)
        (source / "HypoxiaMarkersLib").mkdir()
        built = root / "qt-scripted-modules"
        (built / "HypoxiaMarkersLib").mkdir(parents=True)
        saved = list(sys.path)
        try:
            for module_path, expected in ((source / "HypoxiaMarkers" / "HypoxiaMarkers.py", str(source)),
                                          (built / "HypoxiaMarkers.py", None)):
                sys.path[:] = saved
                namespace = {"os": __import__("os"), "sys": sys, "__file__": str(module_path)}
                exec(code, namespace)
                namespace["_findLibrary"]()
                added = [p for p in sys.path if p not in saved]
                assert added == ([expected] if expected else []), (module_path, added)
        finally:
            sys.path[:] = saved


def test_reload_reloads_the_library():
    widget = next(n for n in module_tree().body if isinstance(n, ast.ClassDef) and n.name == "HypoxiaMarkersWidget")
    on_reload = next(f for f in widget.body if isinstance(f, ast.FunctionDef) and f.name == "onReload")
    source = ast.unparse(on_reload)
    assert "sys.modules" in source and "importlib.reload" in source and "import_module" in source
    assert "ScriptedLoadableModuleWidget.onReload(self)" in source


# --------------------------------------------------------------------------------------------------------------
# Python 3.9 (Slicer 5.8)
# --------------------------------------------------------------------------------------------------------------


def _syntax_problems(path: Path) -> list:
    text = path.read_text(encoding="utf-8")
    problems = []
    try:
        tree = ast.parse(text, filename=str(path), feature_version=(3, 9))
    except SyntaxError as error:
        return [f"{path.name}:{error.lineno}: not Python 3.9 syntax: {error.msg}"]
    future = any(isinstance(n, ast.ImportFrom) and n.module == "__future__" and
                 any(a.name == "annotations" for a in n.names) for n in tree.body)
    for node in ast.walk(tree):
        annotations = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            annotations = [a.annotation for a in node.args.args + node.args.kwonlyargs + node.args.posonlyargs]
            annotations += [node.returns]
        elif isinstance(node, ast.AnnAssign):
            annotations = [node.annotation]
        for annotation in annotations:
            if annotation is not None and not future and any(
                    isinstance(n, ast.BinOp) and isinstance(n.op, ast.BitOr) for n in ast.walk(annotation)):
                problems.append(f"{path.name}:{node.lineno}: 'X | Y' annotation is evaluated on Python 3.9")
        if isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            keywords = {k.arg for k in node.keywords}
            if name == "zip" and "strict" in keywords:
                problems.append(f"{path.name}:{node.lineno}: zip(strict=) needs Python 3.10")
            if name.endswith("dataclass") and keywords & {"slots", "kw_only", "match_args"}:
                problems.append(f"{path.name}:{node.lineno}: dataclass({keywords}) needs Python 3.10")
            if name in ("isinstance", "issubclass") and len(node.args) == 2 and isinstance(node.args[1], ast.BinOp):
                problems.append(f"{path.name}:{node.lineno}: isinstance(x, A | B) needs Python 3.10")
    return problems


def test_module_and_library_use_only_python_39_syntax():
    files = [MODULE_FILE] + python_files(LIB_DIR)
    problems = [p for path in files for p in _syntax_problems(path)]
    assert not problems, "\n".join(problems)


def test_library_modules_postpone_annotations():
    """Every library module has `from __future__ import annotations` (DESIGN: Python 3.9 inside Slicer)."""
    missing = []
    for path in python_files(LIB_DIR):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if not tree.body:
            continue
        if not any(isinstance(n, ast.ImportFrom) and n.module == "__future__" for n in tree.body):
            if any(isinstance(n, (ast.FunctionDef, ast.ClassDef)) for n in tree.body):
                missing.append(str(path.relative_to(REPO)))
    assert not missing, f"no 'from __future__ import annotations' in {missing}"


def test_the_checker_catches_what_it_should():
    """The 3.9 check itself: it must flag code Slicer 5.8 cannot run."""
    bad = {
        "match.py": "match x:\n    case 1:\n        pass\n",
        "union.py": "def f(a: int | None) -> None:\n    pass\n",
        "zip.py": "from __future__ import annotations\nzip([1], [2], strict=True)\n",
        "slots.py": "from dataclasses import dataclass\n@dataclass(slots=True)\nclass A:\n    x: int = 0\n",
    }
    good = "from __future__ import annotations\ndef f(a: int | None) -> None:\n    pass\n"
    with tempfile.TemporaryDirectory() as folder:
        for name, text in bad.items():
            path = Path(folder) / name
            path.write_text(text)
            assert _syntax_problems(path), f"{name} should be refused"
        path = Path(folder) / "good.py"
        path.write_text(good)
        assert not _syntax_problems(path)


# --------------------------------------------------------------------------------------------------------------
# CMake: the extension, the module, the library package
# --------------------------------------------------------------------------------------------------------------


def test_every_library_file_is_packaged():
    listed = cmake_list(LIB_DIR / "CMakeLists.txt", "MODULE_PYTHON_SCRIPTS")
    present = [str(p.relative_to(LIB_DIR)) for p in python_files(LIB_DIR)]
    missing = sorted(set(present) - set(listed))
    assert not missing, f"HypoxiaMarkersLib/CMakeLists.txt does not list {missing}"
    absent = [item for item in listed if not (LIB_DIR / item).is_file()]
    assert not absent, f"HypoxiaMarkersLib/CMakeLists.txt lists missing files {absent}"
    resources = cmake_list(LIB_DIR / "CMakeLists.txt", "MODULE_PYTHON_RESOURCES")
    data = sorted(str(p.relative_to(LIB_DIR)) for pattern in ("genes/data/*.json", "genes/data/*.yaml")
                  for p in LIB_DIR.glob(pattern))
    assert set(data) <= set(resources), f"signature files not packaged: {sorted(set(data) - set(resources))}"
    assert all((LIB_DIR / item).is_file() for item in resources)
    text = (LIB_DIR / "CMakeLists.txt").read_text(encoding="utf-8")
    assert re.search(r"slicerMacroBuildScriptedModule\([^)]*WITH_SUBDIR", text)


def test_every_module_file_is_packaged():
    cmake = MODULE_DIR / "CMakeLists.txt"
    scripts = cmake_list(cmake, "MODULE_PYTHON_SCRIPTS")
    resources = cmake_list(cmake, "MODULE_PYTHON_RESOURCES")
    present = [str(p.relative_to(MODULE_DIR)) for p in python_files(MODULE_DIR)]
    assert sorted(present) == sorted(scripts), f"module scripts {present} vs listed {scripts}"
    for item in resources:
        assert (MODULE_DIR / item).is_file(), f"listed resource {item} is missing"
    for needed in ("Resources/Icons/HypoxiaMarkers.png", "Resources/UI/HypoxiaMarkers.ui",
                   "Resources/requirements.txt"):
        assert needed in resources
    text = cmake.read_text(encoding="utf-8")
    assert re.search(r"slicerMacroBuildScriptedModule\([^)]*WITH_GENERIC_TESTS", text)
    assert "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in text


def test_extension_metadata_and_subdirectories():
    text = (REPO / "CMakeLists.txt").read_text(encoding="utf-8")
    for variable in ("EXTENSION_HOMEPAGE", "EXTENSION_CONTRIBUTORS", "EXTENSION_DESCRIPTION", "EXTENSION_ICONURL",
                     "EXTENSION_SCREENSHOTURLS", "EXTENSION_CATEGORY", "EXTENSION_DEPENDS"):
        assert re.search(rf"set\({variable}\s+\S", text), variable
    assert "find_package(Slicer REQUIRED)" in text and "${Slicer_EXTENSION_GENERATE_CONFIG}" in text
    # Every picture the Extension Index shows exists in the repository (no screenshot until one is made).
    prefix = "https://raw.githubusercontent.com/HypoxiaMarkers/SlicerHypoxiaMarkers/main/"
    for variable in ("EXTENSION_ICONURL", "EXTENSION_SCREENSHOTURLS"):
        value = re.search(rf'set\({variable}\s+"([^"]*)"', text).group(1)
        for url in value.split():
            assert url.startswith(prefix) and (REPO / url[len(prefix):]).is_file(), f"{variable}: {url}"
    license_text = (REPO / "LICENSE.txt").read_text(encoding="utf-8")
    assert "Redistribution and use in source and binary forms" in license_text and "3." in license_text
    assert 'license = { text = "BSD-3-Clause" }' in (REPO / "pyproject.toml").read_text(encoding="utf-8")
    contributors = re.search(r'set\(EXTENSION_CONTRIBUTORS\s+"([^"]*)"', text).group(1)
    assert f'self.parent.contributors = ["{contributors}"]' in MODULE_FILE.read_text(encoding="utf-8")
    for folder in ("HypoxiaMarkersLib", "HypoxiaMarkers", "Testing"):
        assert f"add_subdirectory({folder})" in text and (REPO / folder / "CMakeLists.txt").is_file()


def test_cmake_lists_are_valid_cmake():
    """Evaluate the module and library CMakeLists with real CMake, Slicer's macros replaced by recorders."""
    cmake = shutil.which("cmake")
    if cmake is None:
        _skip("cmake is not installed")
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "check.cmake"
        script.write_text(
            "macro(slicerMacroBuildScriptedModule)\n"
            "  cmake_parse_arguments(MY \"WITH_GENERIC_TESTS;WITH_SUBDIR\" \"NAME\" \"SCRIPTS;RESOURCES\" ${ARGN})\n"
            "  foreach(item ${MY_SCRIPTS} ${MY_RESOURCES})\n"
            "    if(NOT EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${item})\n"
            "      message(FATAL_ERROR \"missing ${item}\")\n"
            "    endif()\n"
            "  endforeach()\n"
            "  list(LENGTH MY_SCRIPTS n)\n"
            "  message(STATUS \"${MY_NAME} ${n} scripts\")\n"
            "endmacro()\n"
            "macro(slicer_add_python_unittest)\nendmacro()\n"
            "set(BUILD_TESTING OFF)\n"
            f"set(CMAKE_CURRENT_SOURCE_DIR \"{LIB_DIR.as_posix()}\")\n"
            f"include(\"{(LIB_DIR / 'CMakeLists.txt').as_posix()}\")\n"
            f"set(CMAKE_CURRENT_SOURCE_DIR \"{MODULE_DIR.as_posix()}\")\n"
            f"include(\"{(MODULE_DIR / 'CMakeLists.txt').as_posix()}\")\n"
        )
        run = subprocess.run([cmake, "-P", str(script)], capture_output=True, text=True, timeout=60)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    n_lib = len(python_files(LIB_DIR))
    assert f"HypoxiaMarkersLib {n_lib} scripts" in output
    assert "HypoxiaMarkers 1 scripts" in output


# --------------------------------------------------------------------------------------------------------------
# Resources
# --------------------------------------------------------------------------------------------------------------


def _png_size(path: Path):
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_icons_and_requirements():
    assert _png_size(MODULE_DIR / "Resources" / "Icons" / "HypoxiaMarkers.png") == (128, 128)
    assert _png_size(REPO / "Resources" / "HypoxiaMarkers.png") == (128, 128)
    module_requirements = (MODULE_DIR / "Resources" / "requirements.txt").read_text(encoding="utf-8")
    assert module_requirements == (REPO / "Resources" / "requirements.txt").read_text(encoding="utf-8")
    names = {re.split(r"[<>=!~; \[]", line.strip(), maxsplit=1)[0].lower()
             for line in module_requirements.splitlines() if line.strip() and not line.startswith("#")}
    assert names == {"pandas", "openpyxl"}  # for gene files only; the module never uses lifelines
    # Slicer bundles these (SimpleITK is a custom build): the module must never reinstall them.
    assert not names & {"numpy", "scipy", "simpleitk", "vtk"}


def _skip(reason: str):
    try:
        import pytest
    except ImportError:  # run as a script
        raise _Skipped(reason) from None
    pytest.skip(reason)


class _Skipped(Exception):
    pass


def main() -> int:
    """Run every check without pytest (CTest runs this with Slicer's Python)."""
    failures = 0
    for name, function in sorted(globals().items()):
        if not name.startswith("test_") or not callable(function):
            continue
        try:
            function()
        except _Skipped as reason:
            print(f"SKIP {name}: {reason}")
            continue
        except Exception as error:  # noqa: BLE001 - report every failing check
            failures += 1
            print(f"FAIL {name}: {type(error).__name__}: {error}")
            continue
        print(f"ok   {name}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
