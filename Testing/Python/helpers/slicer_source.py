"""The Slicer module's source read as text (no Slicer needed): its parameter node's fields and their defaults.

Shared by the static checks (test_slicer_module.py, which CTest also runs as a script with Slicer's Python, so
this file uses only the standard library) and the MRML session tests.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
MODULE_DIR = REPO / "HypoxiaMarkers"
MODULE_FILE = MODULE_DIR / "HypoxiaMarkers.py"
UI_FILE = MODULE_DIR / "Resources" / "UI" / "HypoxiaMarkers.ui"
LIB_DIR = REPO / "HypoxiaMarkersLib"


def module_tree() -> ast.Module:
    return ast.parse(MODULE_FILE.read_text(encoding="utf-8"), filename=str(MODULE_FILE))


def annotation_kind(node: ast.expr) -> str:
    """'float', 'int', 'bool', 'str' or 'node' for a parameter-node annotation."""
    if isinstance(node, ast.Subscript):
        base = node.value.id if isinstance(node.value, ast.Name) else getattr(node.value, "attr", "")
        inner = node.slice
        if isinstance(inner, ast.Index):  # pragma: no cover - Python 3.8 AST
            inner = inner.value
        if base == "Annotated":
            return annotation_kind(inner.elts[0])
        if base in ("Optional", "Union"):
            options = inner.elts if isinstance(inner, ast.Tuple) else [inner]
            kinds = {annotation_kind(o) for o in options if not (isinstance(o, ast.Constant) and o.value is None)}
            return kinds.pop() if len(kinds) == 1 else "mixed"
    if isinstance(node, ast.Name):
        if node.id.startswith("vtkMRML"):
            return "node"
        return node.id
    return "unknown"


def parameter_fields() -> dict:
    """Field name -> kind, from the @parameterNodeWrapper class of the module."""
    for node in module_tree().body:
        if isinstance(node, ast.ClassDef) and any(
                getattr(d, "id", getattr(d, "attr", None)) == "parameterNodeWrapper" for d in node.decorator_list):
            return {item.target.id: annotation_kind(item.annotation) for item in node.body
                    if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)}
    raise AssertionError("no @parameterNodeWrapper class in HypoxiaMarkers.py")


def field_defaults() -> dict:
    """Field name -> default of the module's parameter node (literals, or the method's constants in rules)."""
    from HypoxiaMarkersLib import rules

    for node in module_tree().body:
        if isinstance(node, ast.ClassDef) and node.name == "HypoxiaMarkersParameterNode":
            return {item.target.id: eval(compile(ast.Expression(item.value), "<default>", "eval"), {"rules": rules})
                    for item in node.body if isinstance(item, ast.AnnAssign) and item.value is not None}
    raise AssertionError("no HypoxiaMarkersParameterNode")
