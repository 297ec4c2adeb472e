"""Outputs never destroy the user's files: refused targets, replacement only of the tool's own folders, atomicity,
and clean-up of what a killed run left behind (HypoxiaMarkersLib.io.outputs)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from HypoxiaMarkersLib.errors import InputError
from HypoxiaMarkersLib.io.outputs import (
    MARKER,
    atomic_file,
    atomic_output_dir,
    check_output_dir,
    remove_stale_partials,
)


def tree_digest(folder: Path) -> dict:
    """Every file under ``folder`` (and ``folder`` itself if it is a file) with the SHA-256 of its bytes."""
    folder = Path(folder)
    files = [folder] if folder.is_file() else sorted(p for p in folder.rglob("*") if p.is_file())
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture
def user_files(tmp_path):
    """A folder with the user's own files (an input and a note), as a user's working folder looks."""
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "dce.nrrd").write_bytes(b"NRRD0004 not really" * 10)
    (folder / "notes.txt").write_text("my notes\n")
    return folder


def write_result(target, inputs=(), force=False, text="new"):
    with atomic_output_dir(target, inputs, force=force) as tmp:
        (tmp / "summary.json").write_text(text)


@pytest.mark.parametrize("case", ["out_is_input", "out_contains_input", "out_inside_input_folder", "out_is_file",
                                  "out_is_cwd_with_inputs", "foreign_folder"])
def test_refused_targets_leave_every_byte(user_files, tmp_path, monkeypatch, case):
    dce = user_files / "dce.nrrd"
    target, inputs = {
        "out_is_input": (dce, [dce]),
        "out_contains_input": (user_files, [dce]),
        "out_inside_input_folder": (user_files / "results", [user_files]),
        "out_is_file": (user_files / "notes.txt", []),
        "out_is_cwd_with_inputs": (Path("."), [Path("dce.nrrd")]),
        "foreign_folder": (user_files, []),
    }[case]
    monkeypatch.chdir(user_files)
    before = tree_digest(tmp_path)
    with pytest.raises(InputError) as error:
        write_result(target, inputs)
    assert "--out" in str(error.value)
    assert tree_digest(tmp_path) == before
    assert not [p for p in tmp_path.rglob(".*partial*")]


def test_refusal_comes_before_any_work(user_files):
    ran = []
    with pytest.raises(InputError):
        with atomic_output_dir(user_files / "dce.nrrd", [user_files / "dce.nrrd"]):
            ran.append(True)
    assert not ran


def test_force_replaces_a_foreign_folder_but_never_an_input(user_files):
    write_result(user_files, [], force=True, text="forced")
    assert sorted(p.name for p in user_files.iterdir()) == [MARKER, "summary.json"]
    other = user_files.parent / "inputs"
    other.mkdir()
    (other / "t.csv").write_text("x\n")
    with pytest.raises(InputError):
        write_result(other, [other / "t.csv"], force=True)
    assert (other / "t.csv").read_text() == "x\n"


def test_own_and_empty_folders_are_replaced(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    write_result(out, text="first")  # empty folder: allowed
    assert (out / MARKER).is_file() and (out / "summary.json").read_text() == "first"
    write_result(out, text="second")  # written by the tool: replaced whole
    assert (out / "summary.json").read_text() == "second"
    assert check_output_dir(out) == out.absolute()


def test_failure_keeps_the_previous_result(tmp_path):
    out = tmp_path / "out"
    write_result(out, text="good")
    with pytest.raises(RuntimeError):
        with atomic_output_dir(out) as tmp:
            (tmp / "summary.json").write_text("half")
            raise RuntimeError("fit failed")
    assert (out / "summary.json").read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_partial_folders_of_killed_runs_are_removed_on_the_next_run(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".out.partial-{dead.pid}-abc"
    stale.mkdir()
    (stale / "a_brix.nrrd").write_text("half written")
    stale_old = tmp_path / f".out.old-{dead.pid}-def"
    stale_old.mkdir()
    running = tmp_path / f".out.partial-{os.getpid()}-ghi"  # a run still going (this process): left alone
    running.mkdir()
    other = tmp_path / f".other.partial-{dead.pid}-jkl"  # another output's: not ours to judge
    other.mkdir()
    write_result(tmp_path / "out")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(["out", running.name, other.name])
    assert remove_stale_partials(tmp_path / "out") == 0


def test_a_killed_run_leaves_the_old_result_and_the_next_run_cleans_up(tmp_path):
    out = tmp_path / "out"
    write_result(out, text="good")
    code = (
        "import os, signal\n"
        "from HypoxiaMarkersLib.io.outputs import atomic_output_dir\n"
        f"with atomic_output_dir({str(out)!r}) as tmp:\n"
        "    (tmp / 'summary.json').write_text('half')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert result.returncode != 0
    assert (out / "summary.json").read_text() == "good"
    assert any(p.name.startswith(".out.partial-") for p in tmp_path.iterdir())
    write_result(out, text="next")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert (out / "summary.json").read_text() == "next"


def test_parent_that_is_a_file_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("keep")
    with pytest.raises(InputError, match="cannot create the folder"):
        write_result(blocker / "out")
    with pytest.raises(InputError, match="cannot create the folder"):
        with atomic_file(blocker / "reference.json"):
            pass
    assert blocker.read_text() == "keep"


def test_atomic_file_never_replaces_an_input_or_a_folder(user_files):
    table = user_files / "dce.nrrd"
    before = tree_digest(user_files)
    with pytest.raises(InputError, match="is the input"):
        with atomic_file(table, [table]):
            pass
    with pytest.raises(InputError, match="is a folder"):
        with atomic_file(user_files):
            pass
    assert tree_digest(user_files) == before
    with atomic_file(user_files / "scores.csv", [table]) as tmp:
        tmp.write_text("ok\n")
    assert (user_files / "scores.csv").read_text() == "ok\n"


def test_result_folders_of_version_0_1_are_recognised(tmp_path):
    """Folders written before the marker existed are still the tool's own: a new run may replace them."""
    old = tmp_path / "image"
    old.mkdir()
    (old / "summary.json").write_text('{"hypoxic_fraction": 0.3, "n_tumour_voxels": 10, "version": "0.1.0"}')
    (old / "a_brix.nrrd").write_text("map")
    write_result(old, text="new")
    assert (old / "summary.json").read_text() == "new" and not (old / "a_brix.nrrd").exists()
    # A user's folder with a JSON file of the same name but not ours is not mistaken for a result.
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "summary.json").write_text('{"title": "my summary"}')
    with pytest.raises(InputError, match="did not write"):
        write_result(mine)
