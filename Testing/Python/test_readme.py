"""The README's Python API section runs as written, and its layout section matches the tree."""

from __future__ import annotations

import re
import runpy
import subprocess

import pytest

from helpers.paths import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:] if end < 0 else README[start:end]


def layout_entries():
    block = re.search(r"```\n(.*?)```", section("Layout"), re.S).group(1)
    return [line.split()[0] for line in block.splitlines() if line.strip()], block


def tracked_top_level_folders():
    """Top-level folders holding files under version control (None outside a git checkout)."""
    try:
        done = subprocess.run(["git", "-C", str(REPO_ROOT), "ls-files"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return {line.split("/")[0] + "/" for line in done.stdout.splitlines() if "/" in line}


def test_layout_lists_every_folder_of_the_repository_and_the_library():
    entries, block = layout_entries()
    library = REPO_ROOT / "HypoxiaMarkersLib"
    packages = {p.name + "/" for p in library.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    modules = {p.name for p in library.glob("*.py") if p.name != "__init__.py"}
    top = tracked_top_level_folders()
    for name in sorted(packages | (top or set())):
        assert name in entries, f"{name} is missing from the README's layout"
    for name in sorted(modules):
        assert re.search(rf"(^|\s){re.escape(name)}(\s|$)", block, re.M), f"{name} is missing from the layout"
    for entry in entries:  # and nothing listed is absent
        assert (REPO_ROOT / entry).exists() or (library / entry).exists(), f"the layout lists {entry}: absent"


def test_python_api_names_one_call_per_stage():
    text = section("Python API")
    for call in ("run_image", "run_genes", "run_survival", "run_cohort", "run_heterogeneity", "run_batch",
                 "run_demo"):
        assert f"{call}(" in text


@pytest.mark.slow
def test_python_api_example_runs(tmp_path, monkeypatch, capsys):
    code = re.search(r"```python\n(.*?)```", section("Python API"), re.S).group(1)
    script = tmp_path / "api_example.py"
    script.write_text(code)
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(script), run_name="__main__")
    printed = capsys.readouterr().out
    assert "P001: hypoxic fraction" in printed and "composite line x0 =" in printed
    for folder in ("image/P001", "genes", "survival", "cohort", "heterogeneity", "batch"):
        assert any((tmp_path / "api" / folder).iterdir()), folder
