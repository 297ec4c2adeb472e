"""batch and demo never lose the user's files and never report stale results (issue 16).

Refused outputs leave every byte of the user's files unchanged (hashed before and after); patient IDs map to
folders injectively; a resumed batch refits exactly the patients whose inputs or settings changed; a demo re-run
with other settings regenerates its data as a whole; a failed stage is a non-zero exit; --quiet prints only errors.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from HypoxiaMarkersLib.cli import main
from HypoxiaMarkersLib.errors import InputError
from HypoxiaMarkersLib.io.outputs import MARKER
from HypoxiaMarkersLib.pipeline.batch import (
    DONE,
    SKIPPED,
    BatchImaging,
    BatchSettings,
    patient_folder_name,
    patient_from_folder_name,
    patient_jobs,
    read_manifest,
    run_batch,
)
from HypoxiaMarkersLib.pipeline.demo import run_demo
from HypoxiaMarkersLib.pipeline.demo_data import CohortSettings, write_cohort

SMALL = dict(phantom_size=(40, 40, 5), tumour_radii_mm=(12.0, 10.0, 9.0))


def tree_digest(folder: Path) -> dict:
    """Every file under ``folder`` (or ``folder`` itself if a file) with the SHA-256 of its bytes."""
    folder = Path(folder)
    files = [folder] if folder.is_file() else sorted(p for p in folder.rglob("*") if p.is_file())
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def quick(**changes) -> BatchSettings:
    return dataclasses.replace(BatchSettings(permutations=20, heterogeneity=False, report=False, seed=1), **changes)


def silent(_):
    return None


# ----------------------------------------------------------------------------------------------------------------
# A user's folder with a manifest whose images are not images: refusals happen before any work
# ----------------------------------------------------------------------------------------------------------------


@pytest.fixture
def user_study(tmp_path):
    """The user's study folder: manifest, expression file, each patient's dce and mask (bytes only), notes."""
    study = tmp_path / "study"
    (study / "images").mkdir(parents=True)
    rows = []
    for n in range(1, 4):
        (study / "images" / f"p{n}_dce.nrrd").write_bytes(os.urandom(256))
        (study / "images" / f"p{n}_mask.nrrd").write_bytes(os.urandom(64))
        rows.append(f"P00{n},images/p{n}_dce.nrrd,images/p{n}_mask.nrrd,{10 * n},1,expression.csv,S{n}")
    dicom = study / "images" / "p4_dicom"  # a DICOM series: the dce is a folder
    dicom.mkdir()
    for k in range(3):
        (dicom / f"IM{k}").write_bytes(os.urandom(128))
    rows.append("P004,images/p4_dicom,images/p1_mask.nrrd,40,0,expression.csv,S1")
    (study / "manifest.csv").write_text("patient,dce,mask,pfs_time,pfs_event,expression,samples\n"
                                        + "\n".join(rows) + "\n")
    (study / "expression.csv").write_text("gene,S1,S2,S3\nCA9,1,2,3\n")
    (study / "notes.txt").write_text("my notes\n")
    return study


@pytest.mark.parametrize("case", ["manifest", "expression", "dce", "mask", "study_folder", "images_folder",
                                  "dicom_folder", "inside_dicom_folder", "foreign_folder", "a_file"])
def test_batch_refuses_an_output_that_would_touch_the_users_files(user_study, tmp_path, case, capsys):
    other = tmp_path / "other"
    other.mkdir()
    (other / "thesis.docx").write_bytes(os.urandom(100))
    out = {
        "manifest": user_study / "manifest.csv",
        "expression": user_study / "expression.csv",
        "dce": user_study / "images" / "p2_dce.nrrd",
        "mask": user_study / "images" / "p3_mask.nrrd",
        "study_folder": user_study,
        "images_folder": user_study / "images",
        "dicom_folder": user_study / "images" / "p4_dicom",
        "inside_dicom_folder": user_study / "images" / "p4_dicom" / "results",
        "foreign_folder": other,
        "a_file": user_study / "notes.txt",
    }[case]
    before = tree_digest(tmp_path)
    assert main(["batch", str(user_study / "manifest.csv"), "--out", str(out), "--quiet"]) == 2
    assert "--out" in capsys.readouterr().err
    assert tree_digest(tmp_path) == before  # every byte, and no file added
    assert not list(tmp_path.rglob(".*partial*"))


def test_batch_force_writes_into_a_foreign_folder_without_deleting_its_files(user_study, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "thesis.docx").write_bytes(b"chapter 1")
    inputs = tree_digest(user_study)
    status = main(["batch", str(user_study / "manifest.csv"), "--out", str(other), "--force", "--quiet",
                   "--no-heterogeneity", "--no-report"])
    assert status == 1  # no patient could be imaged: the cohort stage failed (see below)
    assert (other / "thesis.docx").read_bytes() == b"chapter 1"
    assert (other / MARKER).is_file() and (other / "batch.json").is_file()
    assert tree_digest(user_study) == inputs


def test_a_batch_output_is_marked_and_may_be_run_again(user_study, tmp_path):
    out = tmp_path / "results"
    assert main(["batch", str(user_study / "manifest.csv"), "--out", str(out), "--quiet", "--no-report"]) == 1
    assert (out / MARKER).is_file()
    # the same output again: it is the tool's own folder, not refused (the stages fail again for the bad images)
    assert main(["batch", str(user_study / "manifest.csv"), "--out", str(out), "--quiet", "--no-report"]) == 1


def test_a_failed_stage_is_a_nonzero_exit_with_the_reason(user_study, tmp_path, capsys):
    out = tmp_path / "results"
    # an earlier cohort result in the folder must not stand for this run's
    (out / "cohort").mkdir(parents=True)
    (out / "cohort" / MARKER).write_text("")
    (out / "cohort" / "results.json").write_text("{}")
    (out / MARKER).write_text("")
    status = main(["batch", str(user_study / "manifest.csv"), "--out", str(out), "--no-report"])
    captured = capsys.readouterr()
    assert status == 1
    assert "cohort: not done: no patient has both" in captured.err and "failed stage(s): cohort" in captured.err
    assert "cohort: failed: no patient has both" in captured.out
    record = json.loads((out / "batch.json").read_text())
    assert "cohort" in record["failed_stages"] and record["stages"]["cohort"].startswith("failed")
    assert not (out / "cohort").exists()
    failures = pd.read_csv(out / "failures.csv")
    assert set(failures["patient"]) == {"P001", "P002", "P003", "P004"}


@pytest.mark.parametrize("options,named", [
    (["--covariates", "no_such_column"], "--covariates"),
    (["--permutations", "-1"], "--permutations"),
    (["--workers", "0"], "--workers"),
    (["--hf-cutoff", "2"], "--hf-cutoff"),
    (["--a-threshold", "-1"], "--a-threshold"),
    (["--biopsy-slice", "0"], "--biopsy-slice"),
    (["--signature", "no_such_signature.json"], "--signature"),
    (["--seed", "-3"], "--seed"),
])
def test_batch_refuses_invalid_options_before_any_imaging(user_study, tmp_path, capsys, options, named):
    out = tmp_path / "results"
    assert main(["batch", str(user_study / "manifest.csv"), "--out", str(out), "--quiet"] + options) == 2
    assert named in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("options,named", [
    (["--workers", "0"], "--workers"),
    (["--permutations", "-5"], "--permutations"),
    (["--covariates", "nonexistent"], "--covariates"),
    (["--hr-both", "nan"], "--hr-both"),
    (["--patients", "5"], "--patients"),
    (["--seed", "-1"], "--seed"),
])
def test_demo_refuses_invalid_options_before_generating_anything(tmp_path, capsys, options, named):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quiet"] + options) == 2
    assert named in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("case", ["file", "foreign_folder"])
def test_demo_refuses_an_output_holding_the_users_files(tmp_path, capsys, case):
    target = tmp_path / "target"
    if case == "file":
        target.write_bytes(b"precious")
    else:
        target.mkdir()
        (target / "data.csv").write_text("a,b\n1,2\n")
    before = tree_digest(tmp_path)
    assert main(["demo", "--out", str(target), "--patients", "20", "--quiet"]) == 2
    assert "--out" in capsys.readouterr().err
    assert tree_digest(tmp_path) == before


# ----------------------------------------------------------------------------------------------------------------
# Patient IDs and folders
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("patient,problem", [(".", "names a folder"), ("..", "names a folder"),
                                             ("a/b", "path separator"), ("a\\b", "path separator"),
                                             ("P\x071", "control character"), ("", "empty patient ID")])
def test_patient_ids_that_cannot_name_a_folder_are_refused_with_the_row(tmp_path, patient, problem):
    path = tmp_path / "manifest.csv"
    pd.DataFrame({"patient": ["P001", patient], "dce": ["a", "b"], "mask": ["m", "n"], "pfs_time": [1, 2],
                  "pfs_event": [0, 1], "gene_score": [0.1, 0.2]}).to_csv(path, index=False)
    with pytest.raises(InputError, match=problem) as error:
        read_manifest(path)
    assert "row 3" in str(error.value) and "manifest.csv" in str(error.value)


def test_ids_differing_only_in_case_are_refused(tmp_path):
    path = tmp_path / "manifest.csv"
    path.write_text("patient,dce,mask,pfs_time,pfs_event,gene_score\nAb1,a,m,1,0,0\nab1,b,n,2,1,0\n")
    with pytest.raises(InputError, match="only in upper/lower case"):
        read_manifest(path)


def test_folder_names_are_injective_readable_back_and_keep_simple_ids():
    ids = ["P001", "P 1", "P_1", "P%201", "P.1", ".P1", "%2EP1", "Pé", "P\u00a01", "P-1", "p_1x"]
    names = [patient_folder_name(i) for i in ids]
    assert len(set(names)) == len(ids)
    assert [patient_from_folder_name(n) for n in names] == ids
    assert patient_folder_name("P001") == "P001" and patient_folder_name("CX-12.b_3") == "CX-12.b_3"
    assert all(set(n) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-%") for n in names)
    assert not any(n.startswith(".") for n in names)  # never hidden, never '.' or '..'


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory):
    folder = tmp_path_factory.mktemp("phantoms")
    write_cohort(folder, CohortSettings(patients=8, seed=4, **SMALL))
    return folder


def manifest_of(phantoms: Path, path: Path, ids=None, *, dce_of=None) -> Path:
    """A manifest of the phantom cohort with absolute paths; ``ids`` renames patients, ``dce_of`` maps a patient
    to another patient's images."""
    table = pd.read_csv(phantoms / "manifest.csv", dtype=str)
    for column in ("dce", "mask", "expression"):
        table[column] = [str(phantoms / p) for p in table[column]]
    for patient, other in (dce_of or {}).items():
        source = table.index[table["patient"] == other][0]
        target = table.index[table["patient"] == patient][0]
        table.loc[target, ["dce", "mask"]] = table.loc[source, ["dce", "mask"]].to_numpy()
    if ids:
        table["patient"] = [ids.get(p, p) for p in table["patient"]]
    table.to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_ids_mapping_to_one_folder_today_get_their_own_results(phantoms, tmp_path):
    manifest = manifest_of(phantoms, tmp_path / "manifest.csv", ids={"P001": "P 1", "P002": "P_1"})
    out = tmp_path / "results"
    record = run_batch(manifest, out, quick(), log=silent)
    assert record["counts"]["imaging_done"] == 8
    folders = {p.name for p in (out / "patients").iterdir()}
    assert {"P%201", "P_1", "P003"} <= folders and "P001" not in folders
    truth = pd.read_csv(phantoms / "truth.csv").set_index("patient")["hypoxic_fraction"]
    table = pd.read_csv(out / "cohort_table.csv").set_index("patient")
    assert abs(table.loc["P 1", "hypoxic_fraction"] - truth["P001"]) < 0.03
    assert abs(table.loc["P_1", "hypoxic_fraction"] - truth["P002"]) < 0.03
    assert abs(truth["P001"] - truth["P002"]) > 0.06  # the two results could not be confused
    for folder, patient in (("P%201", "P 1"), ("P_1", "P_1")):
        assert json.loads((out / "patients" / folder / "summary.json").read_text())["inputs"]["patient"] == patient


# ----------------------------------------------------------------------------------------------------------------
# Resume: exactly what changed is refitted
# ----------------------------------------------------------------------------------------------------------------


def stamps(out: Path) -> dict:
    return {p.name: (p / "summary.json").stat().st_mtime_ns for p in (out / "patients").iterdir()}


@pytest.mark.slow
def test_resume_refits_exactly_what_changed(phantoms, tmp_path, capsys):
    manifest = manifest_of(phantoms, tmp_path / "manifest.csv")
    out = tmp_path / "results"
    first = run_batch(manifest, out, quick(), log=silent)
    assert first["counts"]["imaging_done"] == 8 and first["refit"] == {}
    before = stamps(out)

    # unchanged: nothing refitted, no result file touched
    again = run_batch(manifest, out, quick(), log=silent)
    assert {p["status"] for p in again["patients"]} == {SKIPPED} and again["refit"] == {}
    assert stamps(out) == before

    # one patient's images now point to another patient's: exactly that patient is refitted, with the new images
    manifest_of(phantoms, manifest, dce_of={"P003": "P006"})
    changed = run_batch(manifest, out, quick(), log=silent)
    statuses = {p["patient"]: p["status"] for p in changed["patients"]}
    assert statuses.pop("P003") == DONE and set(statuses.values()) == {SKIPPED}
    assert list(changed["refit"]) == ["P003"] and "other input files" in changed["refit"]["P003"]
    after = stamps(out)
    assert {p for p in before if after[p] != before[p]} == {"P003"}
    table = pd.read_csv(out / "cohort_table.csv").set_index("patient")
    truth = pd.read_csv(phantoms / "truth.csv").set_index("patient")["hypoxic_fraction"]
    assert abs(table.loc["P003", "hypoxic_fraction"] - truth["P006"]) < 0.03
    assert abs(truth["P003"] - truth["P006"]) > 0.06

    # a setting of the imaging analysis: everyone is refitted, and the console says so
    manifest_of(phantoms, manifest)
    before = stamps(out)
    status = main(["batch", str(manifest), "--out", str(out), "--a-threshold", "1.4", "--permutations", "20",
                   "--no-heterogeneity", "--no-report"])
    assert status == 0
    printed = capsys.readouterr().out
    assert "refitted 8 patient(s)" in printed and "a_threshold 1.56 -> 1.4" in printed
    record = json.loads((out / "batch.json").read_text())
    assert set(record["refit"]) == set(before) and all("a_threshold" in r for r in record["refit"].values())
    assert all(stamps(out)[p] != before[p] for p in before)

    # a file rewritten in place (same path, new content): that patient only
    mask = phantoms / "patients" / "P005" / "tumour_mask_t2w.nrrd"
    os.utime(mask, ns=(mask.stat().st_atime_ns, mask.stat().st_mtime_ns + 1_000_000_000))
    before = stamps(out)
    touched = run_batch(manifest, out, quick(imaging=BatchImaging(a_threshold=1.4)), log=silent)
    assert list(touched["refit"]) == ["P005"] and "tumour_mask_t2w.nrrd" in touched["refit"]["P005"]
    assert {p for p in before if stamps(out)[p] != before[p]} == {"P005"}


@pytest.mark.slow
def test_a_bad_outcome_row_is_isolated(phantoms, tmp_path):
    manifest = manifest_of(phantoms, tmp_path / "manifest.csv")
    table = pd.read_csv(manifest, dtype=str)
    table.loc[2, "pfs_time"] = "12,5 months"
    table.loc[4, "pfs_event"] = "2"
    table.to_csv(manifest, index=False)
    out = tmp_path / "results"
    record = run_batch(manifest, out, quick(), log=silent)
    failures = pd.read_csv(out / "failures.csv").set_index("patient")
    assert set(failures.index) == {"P003", "P005"} and set(failures["stage"]) == {"cohort"}
    assert "pfs_time '12,5 months'" in failures.loc["P003", "error"] and "row 4" in failures.loc["P003", "error"]
    assert "pfs_event '2'" in failures.loc["P005", "error"]
    assert record["stages"]["cohort"] == "done" and record["failed_stages"] == []
    assert sorted(pd.read_csv(out / "cohort_table.csv")["patient"]) == [f"P00{n}" for n in (1, 2, 4, 6, 7, 8)]


# ----------------------------------------------------------------------------------------------------------------
# Demo: data and results of one setting only
# ----------------------------------------------------------------------------------------------------------------


def phantom_truth(data: Path) -> dict:
    return {p.name: json.loads((p / "truth" / "truth.json").read_text())["hypoxic_fraction"]
            for p in (data / "patients").iterdir()}


@pytest.mark.slow
def test_demo_rerun_with_another_seed_regenerates_the_data_and_refits(tmp_path):
    out = tmp_path / "demo"
    batch = BatchSettings(permutations=20, heterogeneity=False, report=False)
    first = run_demo(out, CohortSettings(patients=20, seed=0, **SMALL), batch, log=silent)
    assert first.record["counts"]["imaging_done"] == 20
    seed0 = pd.read_csv(out / "data" / "truth.csv").set_index("patient")
    # an earlier report in the results: not to be announced by a run without one
    (out / "results" / "report").mkdir()
    (out / "results" / "report" / MARKER).write_text("")
    (out / "results" / "report" / "index.html").write_text("<html>seed 0</html>")

    second = run_demo(out, CohortSettings(patients=20, seed=5, **SMALL), batch, log=silent)
    truth = pd.read_csv(out / "data" / "truth.csv").set_index("patient")
    assert json.loads((out / "data" / "truth.json").read_text())["settings"]["seed"] == 5
    phantoms = phantom_truth(out / "data")
    np.testing.assert_allclose(truth["hypoxic_fraction"], [phantoms[p] for p in truth.index])
    assert not np.allclose(truth["hypoxic_fraction"], seed0["hypoxic_fraction"])
    manifest = pd.read_csv(out / "data" / "manifest.csv").set_index("patient")
    expected = pd.read_csv(out / "data" / "expression.csv").columns[1:]
    assert set(s for samples in manifest["samples"] for s in samples.split(";")) == set(expected)
    # every patient refitted on the new phantoms
    assert second.record["counts"]["imaging_done"] == 20 and len(second.record["refit"]) == 20
    table = pd.read_csv(out / "results" / "cohort_table.csv").set_index("patient")
    np.testing.assert_allclose(table["hypoxic_fraction"], truth.loc[table.index, "hypoxic_fraction"], atol=0.03)
    assert second.report is None and not (out / "results" / "report").exists()
    assert "removed" in second.record["stages"]["report"]
    assert not [p for p in out.rglob(".*") if "partial" in p.name or ".old-" in p.name]

    # the same settings again: the data are reused as they are, nothing refitted
    data_before = tree_digest(out / "data")
    third = run_demo(out, CohortSettings(patients=20, seed=5, **SMALL), batch, log=silent)
    assert tree_digest(out / "data") == data_before
    assert third.record["counts"]["imaging_skipped"] == 20 and third.record["refit"] == {}


# ----------------------------------------------------------------------------------------------------------------
# Console: --quiet and piped streams
# ----------------------------------------------------------------------------------------------------------------


def test_quiet_prints_nothing_but_errors(user_study, tmp_path, capsys):
    status = main(["batch", str(user_study / "manifest.csv"), "--out", str(tmp_path / "r"), "--quiet",
                   "--no-report"])
    captured = capsys.readouterr()
    assert status == 1 and captured.out == ""
    lines = captured.err.strip().splitlines()
    assert lines and all("failed" in line or "not done" in line for line in lines)


def test_a_piped_stream_gets_whole_lines_without_carriage_returns(user_study, tmp_path, capsys):
    main(["batch", str(user_study / "manifest.csv"), "--out", str(tmp_path / "r"), "--no-report"])
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.strip().splitlines()
    assert sum(line.startswith("P00") and ": failed:" in line for line in lines) == 4


def test_patient_jobs_use_the_escaped_folder(tmp_path):
    path = tmp_path / "manifest.csv"
    path.write_text("patient,dce,mask,pfs_time,pfs_event,gene_score\nP 1,a,m,1,0,0\nP_1,b,n,2,1,0\n")
    jobs = patient_jobs(read_manifest(path), tmp_path / "out", {}, force=False, source=path)
    assert [Path(j.out).name for j in jobs] == ["P%201", "P_1"]


@pytest.mark.slow
def test_a_patient_no_longer_in_the_manifest_is_not_part_of_the_results(phantoms, tmp_path):
    from HypoxiaMarkersLib.report.batch_folder import read_batch

    manifest = manifest_of(phantoms, tmp_path / "manifest.csv")
    out = tmp_path / "results"
    run_batch(manifest, out, quick(), log=silent)
    table = pd.read_csv(manifest, dtype=str)
    table[table["patient"] != "P002"].to_csv(manifest, index=False)
    record = run_batch(manifest, out, quick(heterogeneity=True), log=silent)
    assert record["stages"]["heterogeneity"] == "done"
    assert (out / "patients" / "P002").is_dir()  # its result is kept, but stands for no patient of this run
    slices = pd.read_csv(out / "heterogeneity" / "slices.csv")
    assert "P002" not in set(slices["patient"]) and len(set(slices["patient"])) == 7
    assert sorted(read_batch(out).images) == [f"P00{n}" for n in (1, 3, 4, 5, 6, 7, 8)]


class Terminal(io.StringIO):
    """A stream that says it is a terminal (where a progress bar is drawn with carriage returns)."""

    def isatty(self):
        return True


@pytest.mark.parametrize("quiet", [False, True])
def test_on_a_terminal_warnings_and_failures_get_lines_of_their_own(quiet):
    from HypoxiaMarkersLib.cli.commands.batch import PatientBar
    from HypoxiaMarkersLib.pipeline.batch import PatientOutcome

    stream = Terminal()
    bar = PatientBar(quiet, stream=stream)
    with bar.warnings_on_own_lines():
        bar(1, 3, PatientOutcome("P001", "done", warnings=["slow convergence"]))
        warnings.warn("step size halved", stacklevel=1)
        bar(2, 3, PatientOutcome("P002", "failed", error="bad file"))
        bar.log("cohort: not done: too few patients")
        bar(3, 3, PatientOutcome("P003", "done", refit_reason="a_threshold 1.56 -> 1.4"))
    bar.close()
    text = stream.getvalue()
    errors = ["P002: failed: bad file", "cohort: not done: too few patients"]
    others = ["P001: warning: slow convergence", "warning: step size halved",
              "P003: done (refitted: a_threshold 1.56 -> 1.4)"]
    for message in errors + ([] if quiet else others):
        at = text.index(message)
        assert (at == 0 or text[at - 1] in "\r\n") and text[at + len(message)] == "\n", message
    if quiet:
        assert text.splitlines() == errors  # nothing but errors, no bar
    else:
        assert "\r" in text and "patients" in text  # the bar is drawn


def test_a_bad_imaging_cell_fails_that_patient_only(user_study, tmp_path):
    table = pd.read_csv(user_study / "manifest.csv", dtype=str)
    table["label"] = ["", "x", "", "0"]
    table["frame_interval"] = ["", "", "-2", ""]
    table.to_csv(user_study / "manifest.csv", index=False)
    out = tmp_path / "results"
    record = run_batch(user_study / "manifest.csv", out, quick(), log=silent)
    errors = pd.read_csv(out / "failures.csv").query("stage == 'image'").set_index("patient")["error"]
    assert "label of P002" in errors["P002"] and "'x'" in errors["P002"]
    assert "frame_interval of P003" in errors["P003"] and "> 0" in errors["P003"]
    assert "label of P004" in errors["P004"] and ">= 1" in errors["P004"]
    assert "NRRD" in errors["P001"]  # the only one whose row is valid was read (and its bytes are not an image)
    assert record["counts"]["imaging_failed"] == 4
