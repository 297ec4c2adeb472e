"""Issue 16, data loss: no command's --out (or --save-reference) ever replaces, deletes or half-writes the user's
files. Every case hashes every byte under the test folder before and after the run."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from HypoxiaMarkersLib.cli import main
from HypoxiaMarkersLib.imaging.phantom import make_phantom, write_phantom
from HypoxiaMarkersLib.pipeline.checks import report_inputs

from helpers.paths import REPO_ROOT

SIX = {"DDIT3": [7.13, 8.42, 7.9, 9.05, 6.61], "ERO1A": [10.27, 9.88, 10.01, 9.12, 10.64],
       "KCTD11": [8.8, 8.15, 8.31, 7.42, 8.97], "P4HA2": [9.6, 11.02, 10.4, 10.77, 9.93],
       "STC2": [6.05, 7.71, 6.88, 5.5, 7.02], "UPK1A": [5.2, 4.76, 5.11, 5.93, 4.44]}


def tree_hashes(folder: Path) -> dict:
    """Every file (by relative path) with the SHA-256 of its bytes, and every folder."""
    entries = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        entries[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "<dir>"
    return entries


def cohort_table(path: Path, n: int = 40, seed: int = 3) -> Path:
    rng = np.random.default_rng(seed)
    hf = rng.beta(1.5, 4.0, n)
    score = rng.normal(0, 0.6, n)
    pd.DataFrame({"patient": [f"P{i}" for i in range(n)], "pfs": rng.uniform(5, 80, n).round(1),
                  "event": rng.integers(0, 2, n), "hf": hf.round(4), "score": score.round(4),
                  "age": rng.integers(30, 80, n)}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def phantom_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("loss") / "phantom"
    write_phantom(make_phantom(seed=11), folder)
    return folder


@pytest.fixture
def user(tmp_path, phantom_dir):
    """A user's folder: phantom inputs, a cohort table, an expression file, biopsy scores, notes."""
    folder = tmp_path / "user"
    folder.mkdir()
    for name in ("dce.seq.nrrd", "tumour.seg.nrrd"):
        (folder / name).write_bytes((phantom_dir / name).read_bytes())
    cohort_table(folder / "cohort.csv")
    pd.DataFrame(SIX, index=["T1", "T2", "T3", "T4", "T5"]).T.rename_axis("gene").to_csv(folder / "expr.csv")
    pd.DataFrame({"patient": ["A", "A", "B", "B", "C", "C"],
                  "hypoxia_score": [0.1, 0.3, -0.2, -0.1, 0.5, 0.2]}).to_csv(folder / "biopsies.csv", index=False)
    (folder / "notes.txt").write_text("the user's own notes\n")
    batch = folder / "batch"
    (batch / "cohort").mkdir(parents=True)
    (batch / "batch.json").write_text(json.dumps({"version": "0.1.0"}))
    (batch / "cohort" / "results.json").write_text("{}")
    return folder


# Each command, with its inputs in the user's folder U; OUT is replaced by the output path under test.
COMMANDS = {
    "image": ["image", "U/dce.seq.nrrd", "--mask", "U/tumour.seg.nrrd", "--quiet", "--out", "OUT"],
    "survival": ["survival", "U/cohort.csv", "--time", "pfs", "--event", "event", "--marker", "hf", "--cutoff", "0.3",
                 "--permutations", "0", "--quiet", "--out", "OUT"],
    "cohort": ["cohort", "U/cohort.csv", "--id", "patient", "--time", "pfs", "--event", "event", "--imaging", "hf",
               "--genes", "score", "--permutations", "0", "--optimism", "none", "--quiet", "--out", "OUT"],
    "heterogeneity": ["heterogeneity", "--biopsies", "U/biopsies.csv", "--n-boot", "20", "--quiet", "--out", "OUT"],
    "report": ["report", "U/batch", "--no-pdf", "--out", "OUT"],
    "phantom": ["phantom", "--out", "OUT"],
    "genes": ["genes", "U/expr.csv", "--out", "OUT"],
}
# The output that is an input of each command (phantom has none: its case is the user's notes file).
SAME_AS_INPUT = {"image": "U/dce.seq.nrrd", "survival": "U/cohort.csv", "cohort": "U/cohort.csv",
                 "heterogeneity": "U/biopsies.csv", "report": "U/batch", "phantom": "U/notes.txt",
                 "genes": "U/expr.csv"}


def run(command, out, user_dir):
    args = [a.replace("U/", f"{user_dir}/") for a in COMMANDS[command]]
    return main([str(out) if a == "OUT" else a for a in args])


@pytest.fixture
def no_work(monkeypatch):
    """Each command's first piece of work (reading its inputs, making a phantom) fails the test if reached."""
    import HypoxiaMarkersLib.heterogeneity.inputs as heterogeneity_inputs
    import HypoxiaMarkersLib.imaging.phantom as phantom
    import HypoxiaMarkersLib.io.tables as tables
    import HypoxiaMarkersLib.pipeline.genes as genes
    import HypoxiaMarkersLib.pipeline.image as image
    import HypoxiaMarkersLib.report.page as page

    def work(*args, **kwargs):
        raise AssertionError("the command started working before checking --out")

    for module, name in ((tables, "read_table"), (image, "analyse_image"), (phantom, "make_phantom"),
                         (page, "read_batch"), (genes, "read_genes_input"),
                         (heterogeneity_inputs, "read_biopsy_scores")):
        monkeypatch.setattr(module, name, work)


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("case", ["an input", "the folder holding the inputs", "a file of the user's"])
def test_unsafe_out_is_refused_with_every_byte_unchanged(user, command, case, capsys, no_work):
    if case == "an input":
        out = SAME_AS_INPUT[command].replace("U", str(user))
    elif case == "the folder holding the inputs":
        out = str(user)
    else:
        out = str(user / "notes.txt") if command != "genes" else str(user / "scores.csv")
        if command == "genes":
            (user / "scores.csv").mkdir()  # genes writes a file: a folder in its place is the user's
    before = tree_hashes(user.parent)
    assert run(command, out, user) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err
    assert tree_hashes(user.parent) == before  # nothing changed, nothing added (no .partial-* either)


@pytest.mark.slow
def test_force_replaces_a_foreign_folder_but_never_an_input(user, tmp_path):
    foreign = tmp_path / "results"
    foreign.mkdir()
    (foreign / "old.txt").write_text("not written by hypoxia-markers")
    assert run("survival", foreign, user) == 2
    assert (foreign / "old.txt").exists()
    assert main([*[a.replace("U/", f"{user}/") for a in COMMANDS["survival"][:-1]], str(foreign), "--force"]) == 0
    assert (foreign / "results.json").is_file() and not (foreign / "old.txt").exists()
    # a folder the tool wrote is replaced by a new run without --force
    assert run("survival", foreign, user) == 0
    # --force never replaces an input
    before = tree_hashes(user)
    assert main([*[a.replace("U/", f"{user}/") for a in COMMANDS["survival"][:-1]], str(user), "--force"]) == 2
    assert tree_hashes(user) == before


def test_report_may_write_inside_the_batch_but_not_over_its_parts(user):
    batch = user / "batch"
    inputs = report_inputs(batch, batch / "report")
    assert batch / "cohort" in inputs and batch / "batch.json" in inputs
    assert all(p.name != "report" for p in inputs)
    for out in (batch, batch / "cohort", batch / "cohort" / "x", user):
        before = tree_hashes(user)
        assert main(["report", str(batch), "--no-pdf", "--out", str(out)]) == 2
        assert tree_hashes(user) == before


def test_genes_save_reference_never_overwrites_an_input_or_writes_half(user, capsys):
    expr = user / "expr.csv"
    before = tree_hashes(user)
    assert main(["genes", str(expr), "--out", str(user / "out" / "scores.csv"), "--save-reference", str(expr)]) == 2
    assert "--save-reference" in capsys.readouterr().err
    assert tree_hashes(user) == before  # no scores written, no out/ folder made
    # a parent that is a file: a message, nothing written
    assert main(["genes", str(expr), "--out", str(user / "out" / "scores.csv"),
                 "--save-reference", str(user / "notes.txt" / "ref.json")]) == 2
    err = capsys.readouterr().err
    assert "notes.txt" in err and "is a file" in err and "Traceback" not in err
    assert tree_hashes(user) == before


def test_failed_genes_run_creates_no_folder(user, tmp_path, capsys):
    broken = tmp_path / "broken.csv"
    broken.write_text("gene,T1\nGAPDH,13\n")  # no signature gene
    out = tmp_path / "new" / "deeper" / "scores.csv"
    assert main(["genes", str(broken), "--out", str(out)]) == 2
    assert not (tmp_path / "new").exists()


def test_genes_leaves_no_stale_patients_file(user, tmp_path):
    mapping = tmp_path / "map.csv"
    pd.DataFrame({"sample": ["T1", "T2", "T3", "T4", "T5"], "patient": ["A", "A", "B", "C", "C"]}).to_csv(
        mapping, index=False)
    out = tmp_path / "g" / "scores.csv"
    assert main(["genes", str(user / "expr.csv"), "--out", str(out), "--patient-map", str(mapping)]) == 0
    patients = out.with_name("scores_patients.csv")
    assert patients.is_file()
    assert main(["genes", str(user / "expr.csv"), "--out", str(out)]) == 0
    assert not patients.exists()  # the earlier run's patients would sit beside scores of another run
    assert "patients" not in json.loads(out.with_suffix(".json").read_text())["outputs"]
    # a patients file the tool did not write (no record lists it) is the user's: left alone
    patients.write_text("mine\n")
    assert main(["genes", str(user / "expr.csv"), "--out", str(out)]) == 0
    assert patients.read_text() == "mine\n"


def test_output_under_a_read_only_folder_is_a_message(user, tmp_path, monkeypatch, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if os.geteuid() == 0:  # root may write anywhere: make the folder read-only as a normal user sees it
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == locked else real_access(p, mode))
    try:
        for command in ("survival", "image"):
            assert run(command, locked / "out", user) == 2
            err = capsys.readouterr().err
            assert "not writable" in err and "Traceback" not in err
            assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


# ------------------------------------------------------------------------------------------ killed while writing

SLOW_WRITE = """
import sys, time
import HypoxiaMarkersLib.imaging.phantom as phantom
original = phantom.write_volume
def slow(*args, **kwargs):
    original(*args, **kwargs)
    print("writing", flush=True)
    time.sleep(60)
phantom.write_volume = slow
from HypoxiaMarkersLib.cli import main
sys.exit(main(["phantom", "--out", sys.argv[1]]))
"""


def start_slow_phantom(out: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    process = subprocess.Popen([sys.executable, "-c", SLOW_WRITE, str(out)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    assert process.stdout.readline().strip() == "writing"  # inside the atomic writer, the partial folder exists
    assert [p.name for p in out.parent.iterdir() if ".partial-" in p.name]
    return process


@pytest.mark.slow
def test_sigterm_while_writing_leaves_no_partial_folder(tmp_path):
    out = tmp_path / "phantom"
    process = start_slow_phantom(out)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM
    assert "terminated" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # no .phantom.partial-*, no phantom


@pytest.mark.slow
def test_kill_9_leftovers_are_removed_by_the_next_run(tmp_path):
    out = tmp_path / "phantom"
    process = start_slow_phantom(out)
    process.kill()
    process.communicate(timeout=60)
    deadline = time.time() + 10
    while time.time() < deadline and process.poll() is None:
        time.sleep(0.1)
    assert [p.name for p in tmp_path.iterdir() if ".partial-" in p.name]  # SIGKILL cannot clean up
    assert main(["phantom", "--out", str(out)]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["phantom"]


@pytest.mark.parametrize("command", ["survival", "cohort", "heterogeneity", "genes"])
def test_truncated_gzip_input_is_a_message_and_nothing_is_written(user, tmp_path, command, capsys):
    import gzip

    source = {"survival": "cohort.csv", "cohort": "cohort.csv", "heterogeneity": "biopsies.csv",
              "genes": "expr.csv"}[command]
    packed = gzip.compress((user / source).read_bytes())
    (user / (source + ".gz")).write_bytes(packed[: len(packed) // 2])
    args = [a.replace(f"U/{source}", f"U/{source}.gz") for a in COMMANDS[command]]
    out = tmp_path / "results" / ("scores.csv" if command == "genes" else "out")
    assert main([str(out) if a == "OUT" else a.replace("U/", f"{user}/") for a in args]) == 2
    err = capsys.readouterr().err
    assert f"{source}.gz" in err and "Traceback" not in err
    assert not (tmp_path / "results").exists()
