"""The declaration of the result files (io/results_schema) shared by writers and readers: a key renamed in a
writer, in the declaration or in the report fails, instead of becoming "missing" in the report.

The whole pipeline runs once (small phantoms, 24 patients, report included) into a module fixture; each test
then renames one key in one place and shows which check catches it.
"""

from __future__ import annotations

import json
import pickle
import re
import shutil
from pathlib import Path

import pytest

from HypoxiaMarkersLib.errors import InputError
from HypoxiaMarkersLib.heterogeneity.inputs import read_image_result
from HypoxiaMarkersLib.imaging.analysis import ImagingResult
from HypoxiaMarkersLib.io.outputs import write_json
from HypoxiaMarkersLib.io.results_schema import (
    COHORT_RESULTS_JSON,
    LIST,
    RESULT_FILES,
    SUMMARY_JSON,
    ResultDict,
    ResultFile,
    ResultSchemaError,
    always,
    optional,
    required,
    write_result,
)
from HypoxiaMarkersLib.pipeline.batch import BatchSettings, run_batch
from HypoxiaMarkersLib.pipeline.demo_data import CohortSettings, write_cohort
from HypoxiaMarkersLib.pipeline.image import ImageSources, run_image
from HypoxiaMarkersLib.report.page import write_report

SMALL = dict(phantom_size=(40, 40, 5), tumour_radii_mm=(12.0, 10.0, 9.0))


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory):
    """A demo-like cohort run through every stage and the report: (data folder, results folder)."""
    folder = tmp_path_factory.mktemp("schema")
    data = folder / "data"
    write_cohort(data, CohortSettings(patients=24, seed=3, **SMALL))
    settings = BatchSettings(permutations=50, seed=3, signature=str(data / "reference_signature.json"),
                             covariates=["figo_stage", "lymph_node"], categorical=["figo_stage"])
    run_batch(data / "manifest.csv", folder / "results", settings, log=lambda _: None)
    return data, folder / "results"


def _instances(results: Path, pattern: str):
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted(results.glob(pattern))]


def _written_paths(value, prefix: str, spec, found: set) -> None:
    """Every declared path (as :meth:`ResultFile.declared_paths` names it) that ``value`` holds."""
    if isinstance(value, dict):
        for name, item in value.items():
            child = spec.keys.get(name)
            if child is not None:
                path = f"{prefix}.{name}" if prefix else name
                found.add(path)
                _written_paths(item, path, child, found)
            elif spec.each is not None:
                found.add(f"{prefix}.*")
                _written_paths(item, f"{prefix}.*", spec.each, found)
    elif isinstance(value, list) and spec.each is not None:
        for item in value:
            found.add(f"{prefix}[]")
            _written_paths(item, f"{prefix}[]", spec.each, found)


def _demo_paths(spec, prefix: str):
    """The declared paths the demo's settings write: not legacy, not marked ``in_demo=False``, nor inside one."""
    for name, child in spec.keys.items():
        if child.in_demo and child.presence != "legacy":
            path = f"{prefix}.{name}" if prefix else name
            yield path
            yield from _demo_paths(child, path)
    if spec.each is not None and spec.each.in_demo:
        path = f"{prefix}[]" if spec.kind == LIST else f"{prefix}.*"
        yield path
        yield from _demo_paths(spec.each, path)


@pytest.mark.slow
def test_every_declared_key_is_written_by_the_pipeline(pipeline_run):
    """A key renamed in a writer (or in the declaration) leaves its declared name unwritten: this fails, also for
    keys written only sometimes, which the writers' own check cannot require."""
    _, results = pipeline_run
    assert (results / "report" / "index.html").is_file()
    for pattern, declared in RESULT_FILES.items():
        instances = _instances(results, pattern)
        assert instances, pattern
        found: set = set()
        for data in instances:
            assert declared.problems(data, writing=True) == [], pattern
            _written_paths(data, "", declared.root, found)
        expected = set(_demo_paths(declared.root, ""))
        assert sorted(expected - found) == [], f"{pattern}: declared but never written"


@pytest.mark.slow
def test_report_reads_only_declared_keys(pipeline_run, tmp_path):
    """The report on the pipeline's results: every section built, no key looked up that is not declared (such a
    look-up raises), nothing noted missing."""
    _, results = pipeline_run
    record = json.loads((results / "report" / "report.json").read_text(encoding="utf-8"))
    assert record["errors"] == []
    assert {name: s["notes"] for name, s in record["sections"].items() if s["notes"]} == {}
    assert len(record["figures"]) >= 10


@pytest.mark.slow
def test_a_key_renamed_in_the_declaration_fails_the_report(pipeline_run, tmp_path, monkeypatch):
    """The report looks up composite line x0: without that declaration the report fails, naming the key, instead of
    printing 'x0 = –'."""
    _, results = pipeline_run
    line = COHORT_RESULTS_JSON.keys["line"].keys
    monkeypatch.setitem(line, "x_0", line["x0"])
    monkeypatch.delitem(line, "x0")
    with pytest.raises(ResultSchemaError, match=r"results.json.line: the key 'x0' is not declared"):
        write_report(results, tmp_path / "report", pdf=False)
    assert not (tmp_path / "report").exists()


@pytest.mark.slow
def test_a_key_renamed_in_the_image_writer_fails_the_write(pipeline_run, tmp_path, monkeypatch):
    """The image stage renaming hypoxic_fraction: nothing is written, and the error names the key."""
    data, _ = pipeline_run
    patient = data / "patients" / "P001"
    original = ImagingResult.summary

    def renamed(self):
        summary = original(self)
        summary["hf"] = summary.pop("hypoxic_fraction")
        return summary

    monkeypatch.setattr(ImagingResult, "summary", renamed)
    sources = ImageSources(dce=[patient / "dce.seq.nrrd"], mask=patient / "tumour_mask_t2w.nrrd")
    with pytest.raises(ResultSchemaError, match=r"summary.json .*'hypoxic_fraction' missing"):
        run_image(sources, None, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_results_folder_of_an_older_version_names_the_missing_key(pipeline_run, tmp_path):
    """A required key missing in a user's results folder: the report's section says which key and which version
    wrote the file; the heterogeneity reader refuses the image result with the same information."""
    _, results = pipeline_run
    copy = tmp_path / "old"
    shutil.copytree(results, copy)
    shutil.rmtree(copy / "report")
    path = copy / "cohort" / "results.json"
    cohort = json.loads(path.read_text(encoding="utf-8"))
    del cohort["composite"]
    cohort["version"] = "0.0.9"
    path.write_text(json.dumps(cohort), encoding="utf-8")
    write_report(copy, pdf=False)
    record = json.loads((copy / "report" / "report.json").read_text(encoding="utf-8"))
    survival = " ".join(record["sections"]["survival"]["notes"])
    assert "results.json: composite: missing" in survival
    assert "HypoxiaMarkersLib 0.0.9" in survival

    patient = next(p for p in sorted((copy / "patients").iterdir()) if p.is_dir())
    summary = json.loads((patient / "summary.json").read_text(encoding="utf-8"))
    del summary["parameters"]["a_threshold"]
    summary["version"] = "0.0.8"
    (patient / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    with pytest.raises(InputError) as error:
        read_image_result(patient)
    assert error.value.field == "parameters.a_threshold"
    assert "summary.json" in str(error.value) and "0.0.8" in str(error.value)


@pytest.mark.slow
def test_the_check_leaves_the_bytes_of_write_json(pipeline_run, tmp_path):
    """write_result writes exactly what write_json writes (key order, number formatting)."""
    _, results = pipeline_run
    for pattern, declared in RESULT_FILES.items():
        source = sorted(results.glob(pattern))[0]
        data = json.loads(source.read_text(encoding="utf-8"))
        write_result(declared, data, tmp_path / "checked.json")
        write_json(data, tmp_path / "plain.json")
        assert (tmp_path / "checked.json").read_bytes() == (tmp_path / "plain.json").read_bytes() \
            == source.read_bytes(), pattern


# --- The mechanics on a small declaration (no pipeline needed) --------------------------------------------------

TOY = ResultFile("toy.json", "a test", {
    "version": always("text"),
    "value": required("number"),
    "detail": optional({"a": always("integer"), "b": optional("text")}),
    "stages": always("object", each=always("text")),
    "rows": always(LIST, each=always({"name": always("text")})),
})


@pytest.mark.parametrize("data, key, what", [
    ({"version": "1", "stages": {}, "rows": []}, "value", "missing"),
    ({"version": "1", "value": "0.3", "stages": {}, "rows": []}, "value", "not a number"),
    ({"version": "1", "value": True, "stages": {}, "rows": []}, "value", "not a number"),
    ({"version": "1", "value": 1, "stages": {"cohort": 3}, "rows": []}, "stages.cohort", "not a text"),
    ({"version": "1", "value": 1, "stages": {}, "rows": [{"nom": "x"}]}, "rows[0].name", "missing"),
    ({"value": 1, "stages": {}, "rows": []}, "version", "missing"),
])
def test_writing_refuses_a_declared_key_missing_or_of_another_kind(data, key, what):
    with pytest.raises(ResultSchemaError, match=rf"'{re.escape(key)}' .*{what}"):
        TOY.check_written(data)


def test_reading_needs_only_the_required_keys_and_keeps_unknown_ones():
    data = {"value": None, "newer_key": {"x": 1}, "detail": {"a": 2}}
    loaded = TOY.load(data, "toy.json")  # an older file without version/stages/rows; null is 'not available'
    assert loaded == data and json.dumps(loaded) == json.dumps(data)
    assert loaded.get("stages") is None and loaded["detail"]["a"] == 2 and loaded["detail"].get("b", "-") == "-"
    with pytest.raises(InputError) as error:
        TOY.load({"version": "0.0.1", "detail": {}}, "old/toy.json")
    assert error.value.field == "value" and "0.0.1" in str(error.value) and "old/toy.json" in str(error.value)


def test_a_reader_cannot_look_up_an_undeclared_key():
    loaded = TOY.load({"value": 1, "newer_key": 2, "detail": {"a": 1},
                       "stages": {"any stage": "done"}, "rows": [{"name": "x"}]}, "toy.json")
    for look_up in (lambda: loaded.get("newer_key"), lambda: loaded["valeu"], lambda: "vlaue" in loaded,
                    lambda: loaded["detail"].get("c"), lambda: loaded["rows"][0].get("nom")):
        with pytest.raises(ResultSchemaError, match="not declared"):
            look_up()
    assert loaded["stages"]["any stage"] == "done"  # keys that are data (stage names) are all allowed
    assert isinstance(loaded["rows"][0], ResultDict)
    plain = pickle.loads(pickle.dumps(loaded))
    assert type(plain) is dict and plain == loaded


def test_declared_paths_name_every_level():
    paths = TOY.declared_paths()
    assert {"value", "detail.a", "detail.b", "stages.*", "rows[]", "rows[].name"} <= set(paths)
    assert SUMMARY_JSON.declared_paths()["parameters.a_threshold"].presence == "required"


def test_reading_checks_the_kind_of_required_values_and_of_containers_only():
    base = {"value": 1.5, "stages": {}, "rows": []}
    assert TOY.load({**base, "version": 3}, "toy.json")["version"] == 3  # not required: not the reader's concern
    for bad, key in (({**base, "value": "1.5"}, "value"), ({**base, "detail": [1]}, "detail"),
                     ({**base, "rows": {"name": "x"}}, "rows")):
        with pytest.raises(InputError) as error:
            TOY.load(bad, "toy.json")
        assert error.value.field == key
