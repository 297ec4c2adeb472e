"""The report reads result folders: it depends on the science and io layers, never on the stages that write the
results (``pipeline``), the command line or Slicer (the pipeline may call the report, not the other way round)."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers.paths import REPO_ROOT

REPORT = REPO_ROOT / "HypoxiaMarkersLib" / "report"


def _imported(path: Path):
    """(module, level) of every import in ``path``, lazy imports included."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            yield node.module or "", node.level
            yield from ((f"{node.module or ''}.{alias.name}", node.level) for alias in node.names)
        elif isinstance(node, ast.Import):
            yield from ((alias.name, 0) for alias in node.names)


def test_the_report_imports_no_pipeline_cli_or_slicer():
    found = []
    for path in sorted(REPORT.glob("*.py")):
        for module, level in _imported(path):
            # inside report/, level 2 (``..x``) is the library; level 0 names it in full
            name = module if level == 0 else "HypoxiaMarkersLib." + module if level == 2 else ""
            parts = name.split(".")
            if parts[0] == "HypoxiaMarkersLib" and len(parts) > 1 and parts[1] in ("pipeline", "cli", "slicer"):
                found.append(f"{path.name} imports {name}")
    assert found == []
