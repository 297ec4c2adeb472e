"""The suite mirrors the library: each test module sits in the folder of the package it tests, shares code only
through ``helpers/``, and finds files through ``helpers.paths`` (no path arithmetic on ``__file__``)."""

from __future__ import annotations

import ast

from helpers.paths import REPO_ROOT

SUITE = REPO_ROOT / "Testing" / "Python"
LIBRARY = REPO_ROOT / "HypoxiaMarkersLib"
#: Tests of the whole library (its import graph, its rules, its README, this layout) stay at the top.
TOP_LEVEL = {"test_import_graph.py", "test_readme.py", "test_rules_boundaries.py", "test_suite_layout.py"}


def _test_modules():
    return sorted(p for p in SUITE.rglob("test_*.py") if "reference" not in p.relative_to(SUITE).parts)


def test_each_test_module_sits_in_the_folder_of_a_library_package():
    packages = {p.name for p in LIBRARY.iterdir() if (p / "__init__.py").is_file()}
    misplaced = []
    for path in _test_modules():
        parts = path.relative_to(SUITE).parts
        if len(parts) == 1:
            if parts[0] not in TOP_LEVEL:
                misplaced.append(str(path.relative_to(SUITE)))
        elif len(parts) != 2 or parts[0] not in packages:
            misplaced.append(str(path.relative_to(SUITE)))
    assert not misplaced, f"test modules outside a package folder ({sorted(packages)}): {misplaced}"


def test_test_module_names_are_unique():
    names = [p.name for p in _test_modules()]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_no_test_module_imports_another_or_computes_paths_from_its_file():
    test_names = {p.stem for p in _test_modules()} | {"conftest"}
    problems = []
    for path in _test_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in test_names:
                problems.append(f"{path.name} imports {node.module}")
            if isinstance(node, ast.Import):
                problems += [f"{path.name} imports {a.name}" for a in node.names if a.name in test_names]
            # Path(__file__).parents[...] / .parent: the kind of arithmetic that breaks when a file moves
            if (isinstance(node, ast.Attribute) and node.attr in ("parent", "parents")
                    and "__file__" in ast.unparse(node.value)):
                problems.append(f"{path.name}: {ast.unparse(node)}")
    # The static Slicer checks also run as a script under CTest, where they must put the source tree on sys.path.
    problems = [p for p in problems if not p.startswith("test_slicer_module.py: Path(__file__).resolve().parents")]
    assert not problems, problems
