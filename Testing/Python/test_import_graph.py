"""The layering of HypoxiaMarkersLib, read from the source (the AST of every module, lazy imports included).

Science (``io``, ``imaging``, ``genes``, ``stats``, ``heterogeneity``) and the base modules (``errors``,
``progress``, ``volume``, ``rules``) never import the layers built on them (``pipeline``, ``cli``, ``report``,
``slicer``), and never parse command lines (``argparse``): a Python user or the Slicer module gets the science
without the command layer, and an option cannot leak into a computation.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

from helpers.paths import REPO_ROOT

PACKAGE = REPO_ROOT / "HypoxiaMarkersLib"
SCIENCE = ("io", "imaging", "genes", "stats", "heterogeneity")
BASE = ("errors", "progress", "volume", "rules")
UPPER = ("pipeline", "cli", "report", "slicer")

#: Known violations left to another branch (module -> imported layer). Empty: nothing to excuse. A line added here
#: must say whose change removes it.
ALLOWED: Set[Tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str, is_package: bool) -> Set[str]:
    """Absolute names of every module ``source`` imports (relative imports resolved), at any depth."""
    package = module if is_package else module.rsplit(".", 1)[0]
    found: Set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[:len(parts) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            # ``from .. import report`` imports the module ``report``: count the names as modules too.
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def layer_of(name: str) -> str:
    """'HypoxiaMarkersLib.stats.cutoff' -> 'stats'; a module outside the package -> its top-level name."""
    parts = name.split(".")
    if parts[0] != "HypoxiaMarkersLib":
        return parts[0]
    return parts[1] if len(parts) > 1 else ""


def import_graph() -> Dict[str, Set[str]]:
    graph = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        graph[name] = imported_modules(path.read_text(encoding="utf-8"), name, path.name == "__init__.py")
    return graph


def violations(graph: Dict[str, Set[str]]) -> List[str]:
    found = []
    for module, imports in graph.items():
        if layer_of(module) not in SCIENCE + BASE:
            continue
        for target in imports:
            layer = layer_of(target)
            bad_layer = target.startswith("HypoxiaMarkersLib.") and layer in UPPER
            if (bad_layer or layer == "argparse") and (module, layer) not in ALLOWED:
                found.append(f"{module} imports {target}")
    return sorted(set(found))


def test_every_package_is_seen():
    layers = {layer_of(name) for name in import_graph()}
    assert set(SCIENCE + BASE + UPPER) <= layers


def test_science_and_base_do_not_import_the_layers_above_or_argparse():
    assert violations(import_graph()) == []


def test_allow_list_holds_only_live_violations():
    # An excused import that no longer exists must leave the list, so the list cannot hide a new one.
    graph = import_graph()
    live = {(m, layer_of(t)) for m, ts in graph.items() for t in ts}
    assert ALLOWED <= live


@pytest.mark.parametrize("source, module, expected", [
    ("from ..report.page import write_report", "HypoxiaMarkersLib.stats.cohort", True),
    ("from .. import pipeline", "HypoxiaMarkersLib.genes.scoring", True),
    ("def f():\n    from ...cli import main\n", "HypoxiaMarkersLib.genes.formats.geo", True),
    ("import argparse", "HypoxiaMarkersLib.heterogeneity.variance", True),
    ("import HypoxiaMarkersLib.slicer.mrml", "HypoxiaMarkersLib.imaging.hypoxia", True),
    ("from ..stats.survival import kaplan_meier", "HypoxiaMarkersLib.report.survival_section", False),
    ("from ..rules import HF_CUTOFF", "HypoxiaMarkersLib.stats.cohort", False),
    ("from .cli_options import x", "HypoxiaMarkersLib.stats.cohort", False),
])
def test_the_check_finds_a_violation(source, module, expected):
    graph = {module: imported_modules(source, module, is_package=False)}
    assert bool(violations(graph)) is expected
