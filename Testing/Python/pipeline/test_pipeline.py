"""The pipeline layer: each stage's one call writes what its command writes, and `batch`/`demo` run through the CLI.

The commands are parse → settings → stage → print, so a stage called from Python with the settings the command
builds must give the same files, byte for byte (JSON compared after removing the output paths).
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest

from HypoxiaMarkersLib.cli import main
from HypoxiaMarkersLib.errors import InputError
from HypoxiaMarkersLib.imaging.analysis import ImagingParameters
from HypoxiaMarkersLib.io.outputs import to_jsonable
from HypoxiaMarkersLib.io.volumes import read_volume
from HypoxiaMarkersLib.pipeline.batch import BatchSettings, read_manifest, run_batch
from HypoxiaMarkersLib.pipeline.cohort import CohortAnalysisSettings, run_cohort
from HypoxiaMarkersLib.pipeline.demo import run_demo
from HypoxiaMarkersLib.pipeline.demo_data import (
    CohortSettings,
    draw_patients,
    expression_table,
    reference_signature,
    write_cohort,
)
from HypoxiaMarkersLib.pipeline.genes import GenesSettings, run_genes
from HypoxiaMarkersLib.pipeline.heterogeneity import HeterogeneitySettings, read_long_table, run_heterogeneity
from HypoxiaMarkersLib.pipeline.image import ImageSources, run_image
from HypoxiaMarkersLib.pipeline.survival import SurvivalSettings, run_survival

SMALL = dict(phantom_size=(40, 40, 5), tumour_radii_mm=(12.0, 10.0, 9.0))


def cli(*args):
    code = main([str(a) for a in args])
    assert code == 0
    return code


def same_files(a, b, names):
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def json_without(path, *root_paths):
    text = path.read_text()
    for n, root in enumerate(root_paths):
        text = text.replace(str(root), f"<ROOT{n}>")
    return json.loads(text)


@pytest.fixture(scope="module")
def cohort_table(tmp_path_factory):
    """A cohort like the method's: HF, gene score, PFS with a planted effect, covariates (rounded as in a file)."""
    rng = np.random.default_rng(11)
    n = 80
    hf = rng.beta(1.5, 4.0, n)
    score = rng.normal(0.0, 0.6, n)
    rate = np.where(hf / 0.45 + score / 0.9 >= 1.0, 0.03, 0.006)
    event_time = rng.exponential(1.0 / rate)
    censor = rng.uniform(20.0, 100.0, n)
    table = pd.DataFrame({
        "patient": [f"P{i:03d}" for i in range(n)], "pfs": np.minimum(event_time, censor).round(2),
        "event": (event_time <= censor).astype(int), "hf": hf.round(4), "score": score.round(4),
        "figo": rng.choice(["IB", "IIB", "IIIB"], n), "volume": rng.lognormal(3.0, 0.7, n).round(1),
    })
    path = tmp_path_factory.mktemp("table") / "cohort.csv"
    table.to_csv(path, index=False)
    return path


def test_survival_stage_writes_what_the_command_writes(cohort_table, tmp_path):
    cli("survival", cohort_table, "--time", "pfs", "--event", "event", "--marker", "hf", "--permutations", "50",
        "--seed", "3", "--horizon", "48", "--covariates", "figo,volume", "--categorical", "figo",
        "--out", tmp_path / "cli", "--quiet")
    output = run_survival(cohort_table, tmp_path / "api", SurvivalSettings(
        time="pfs", event="event", marker="hf", permutations=50, seed=3, horizon_months=48.0,
        covariates=["figo", "volume"], categorical=["figo"]))
    same_files(tmp_path / "cli", tmp_path / "api", ["results.json", "km.csv"])
    written = json.loads((tmp_path / "api" / "results.json").read_text())
    assert json.loads(json.dumps(to_jsonable(output.results))) == written
    assert output.result.cutoff.method == "maxstat" and output.horizon == 48.0


@pytest.mark.slow
def test_cohort_stage_writes_what_the_command_writes(cohort_table, tmp_path):
    cli("cohort", cohort_table, "--id", "patient", "--time", "pfs", "--event", "event", "--imaging", "hf",
        "--genes", "score", "--gene-cutoff", "optimal", "--permutations", "20", "--optimism", "none",
        "--directions", "20", "--horizon", "none", "--out", tmp_path / "cli", "--quiet")
    output = run_cohort(cohort_table, tmp_path / "api", CohortAnalysisSettings(
        id="patient", time="pfs", event="event", imaging="hf", genes="score", gene_cutoff="optimal",
        permutations=20, optimism="none", directions=20, horizon_months=None))
    same_files(tmp_path / "cli", tmp_path / "api", ["results.json", "patients.csv"])
    assert sorted(output.results["figures"].values()) == sorted(
        p.name for p in (tmp_path / "api").glob("*.png"))
    assert output.results["genes"]["cutoff"]["method"] == "maxstat"
    assert output.results["parameters"]["horizon_months"] is None


def test_stage_errors_name_the_setting_and_write_nothing(cohort_table, tmp_path):
    with pytest.raises(InputError, match="column 'pfs_days' not found"):
        run_survival(cohort_table, tmp_path / "out", SurvivalSettings(time="pfs_days", event="event", marker="hf"))
    with pytest.raises(InputError, match="--permutations"):
        run_cohort(cohort_table, tmp_path / "out", CohortAnalysisSettings(
            id="patient", time="pfs", event="event", imaging="hf", genes="score", permutations=-1))
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def expression_file(tmp_path_factory):
    """Synthetic log2 expression of the signature genes, two biopsies of some patients, and a patient map."""
    folder = tmp_path_factory.mktemp("expression")
    patients = draw_patients(CohortSettings(patients=30, seed=5, **SMALL))
    table = expression_table(patients, reference_signature(5), 5)
    samples = list(table)
    genes = list(next(iter(table.values())))
    with open(folder / "expression.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["gene"] + samples)
        for gene in genes:
            writer.writerow([gene] + [f"{table[s][gene]:.5f}" for s in samples])
    pd.DataFrame({"sample": samples, "patient": [s.split("_")[0] for s in samples]}).to_csv(
        folder / "map.csv", index=False)
    return folder


def test_genes_stage_writes_what_the_command_writes(expression_file, tmp_path):
    cli("genes", expression_file / "expression.csv", "--patient-map", expression_file / "map.csv",
        "--out", tmp_path / "cli" / "scores.csv")
    output = run_genes(expression_file / "expression.csv", tmp_path / "api" / "scores.csv",
                       GenesSettings(patient_map=expression_file / "map.csv"))
    same_files(tmp_path / "cli", tmp_path / "api", ["scores.csv", "scores_patients.csv"])
    assert json_without(tmp_path / "cli" / "scores.json", tmp_path / "cli") == \
        json_without(tmp_path / "api" / "scores.json", tmp_path / "api")
    written = pd.read_csv(tmp_path / "api" / "scores_patients.csv", float_precision="round_trip")
    assert written["hypoxia_score"].tolist() == pytest.approx(output.patients["hypoxia_score"].tolist(), abs=0)
    assert output.paths["json"] == (tmp_path / "api" / "scores.json").absolute()


def test_genes_settings_that_need_another_are_refused(expression_file, tmp_path):
    with pytest.raises(InputError, match="--probe-map"):
        run_genes(expression_file / "expression.csv", tmp_path / "s.csv", GenesSettings(probe_column="ID"))
    with pytest.raises(InputError, match="--patient-map"):
        run_genes(expression_file / "expression.csv", tmp_path / "s.csv", GenesSettings(sample_column="s"))
    assert not list(tmp_path.iterdir())


def test_heterogeneity_stage_writes_what_the_command_writes(tmp_path):
    rng = np.random.default_rng(2)
    tumours = np.repeat([f"T{i}" for i in range(15)], 3)
    values = np.repeat(rng.normal(0, 1, 15), 3) + rng.normal(0, 0.5, 45)
    path = tmp_path / "values.tsv"
    pd.DataFrame({"tumour": tumours, "value": values.round(6)}).to_csv(path, sep="\t", index=False)
    cli("heterogeneity", "--values", path, "--n-boot", "200", "--ks", "1,2", "--out", tmp_path / "cli", "--quiet")
    output = run_heterogeneity(tmp_path / "api", HeterogeneitySettings(n_boot=200, ks=(1, 2)), values=path)
    same_files(tmp_path / "cli", tmp_path / "api", ["heterogeneity.json", "values_tumours.csv"])
    assert output.results["values"]["variance_components"]["n_tumours"] == 15
    assert len(read_long_table(path)) == 45
    with pytest.raises(InputError, match="nothing to analyse"):
        run_heterogeneity(tmp_path / "none", HeterogeneitySettings())


@pytest.mark.slow
def test_image_stage_writes_what_the_command_writes(tmp_path):
    cli("phantom", "--out", tmp_path / "phantom", "--seed", "2", "--n-frames", "24", "--baseline-frames", "6")
    dce, mask = tmp_path / "phantom" / "dce.seq.nrrd", tmp_path / "phantom" / "tumour_mask_t2w.nrrd"
    cli("image", dce, "--mask", mask, "--biopsy-slice", "2", "--out", tmp_path / "cli", "--quiet")
    result = run_image(ImageSources(dce=[dce], mask=mask), ImagingParameters(biopsy_slice=2), tmp_path / "api")
    same_files(tmp_path / "cli", tmp_path / "api", ["summary.json", "slices.csv", "mean_curve.csv"])
    for name in ("a_brix", "fit_status", "hypoxic_mask"):
        a, _ = read_volume(tmp_path / "cli" / f"{name}.nrrd")
        b, _ = read_volume(tmp_path / "api" / f"{name}.nrrd")
        np.testing.assert_array_equal(a, b)
    summary = json.loads((tmp_path / "api" / "summary.json").read_text())
    assert summary["hypoxic_fraction"] == result.hypoxic_fraction and summary["biopsy_slice"]["slice"] == 2
    with pytest.raises(InputError, match="--mask-min-fraction"):
        ImageSources(dce=[dce], mask=mask, mask_min_fraction=1.5)


# ----------------------------------------------------------------------------------------------------------------
# batch and demo through their command-line entry points (slow: whole cohorts)
# ----------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_cohort(tmp_path_factory):
    folder = tmp_path_factory.mktemp("small_cohort")
    write_cohort(folder, CohortSettings(patients=22, seed=8, **SMALL))
    return folder


@pytest.mark.slow
def test_batch_command_equals_the_batch_stage(small_cohort, tmp_path):
    cli("batch", small_cohort / "manifest.csv", "--out", tmp_path / "cli", "--permutations", "40",
        "--imaging-cutoff", "0.3", "--horizon", "48", "--covariates", "lymph_node",
        "--signature", small_cohort / "reference_signature.json", "--no-report", "--quiet")
    settings = BatchSettings(permutations=40, imaging_cutoff=0.3, horizon=48.0, covariates=["lymph_node"],
                             signature=str(small_cohort / "reference_signature.json"), report=False)
    record = run_batch(small_cohort / "manifest.csv", tmp_path / "api", settings, log=lambda _: None)
    cli_record = json.loads((tmp_path / "cli" / "batch.json").read_text())
    assert cli_record["parameters"] == record["parameters"] == settings.record()
    assert record["parameters"]["imaging_cutoff"] == "0.3" and record["parameters"]["horizon"] == "48"
    assert cli_record["counts"] == record["counts"] and record["counts"]["in_cohort_table"] == 22
    assert cli_record["stages"] == record["stages"] and set(record["stages"].values()) == {
        "done", "done: 22 fitted, 0 already done, 0 failed", "done: 22 scored, 0 failed"}
    same_files(tmp_path / "cli", tmp_path / "api", ["cohort_table.csv", "failures.csv", "cohort/patients.csv",
                                                    "heterogeneity/slices.csv", "heterogeneity/biopsy_tumours.csv"])
    for name in ("cohort/results.json", "heterogeneity/heterogeneity.json", "genes/scores.json"):
        assert json_without(tmp_path / "cli" / name, tmp_path / "cli") == \
            json_without(tmp_path / "api" / name, tmp_path / "api"), name
    # The cohort table carries exactly the scores the genes stage wrote.
    table = pd.read_csv(tmp_path / "api" / "cohort_table.csv", float_precision="round_trip")
    genes = pd.read_csv(tmp_path / "api" / "genes" / "scores_patients.csv", float_precision="round_trip")
    merged = table.merge(genes, on="patient")
    assert len(merged) == 22 and (merged["gene_score"] == merged["hypoxia_score"]).all()


@pytest.mark.slow
def test_demo_command_equals_the_demo_stage(tmp_path, capsys):
    # Few patients: no categorical FIGO stage (a stage without events stops the multivariate Cox model).
    options = ["--patients", "20", "--seed", "4", "--permutations", "20", "--workers", "1", "--no-report",
               "--covariates", "lymph_node,tumour_volume_ml", "--categorical", ""]
    cli("demo", "--out", tmp_path / "cli", *options)  # not --quiet: that prints nothing but errors
    printed = capsys.readouterr().out
    assert "demo: 20 synthetic patients, 20 analysed, 0 failure(s)" in printed
    assert f"results: {tmp_path / 'cli' / 'results'} (no report written)" in printed
    demo = run_demo(tmp_path / "api", CohortSettings(patients=20, seed=4), BatchSettings(
        permutations=20, seed=4, report=False, covariates=["lymph_node", "tumour_volume_ml"]), log=lambda _: None)
    assert demo.report is None and demo.record["counts"]["in_cohort_table"] == 20
    assert demo.record["stages"]["cohort"] == "done" and demo.record["stages"]["heterogeneity"] == "done"
    same_files(tmp_path / "cli", tmp_path / "api", ["data/manifest.csv", "data/expression.csv", "data/truth.csv",
                                                    "results/cohort_table.csv", "results/cohort/patients.csv"])
    assert json_without(tmp_path / "cli" / "results" / "cohort" / "results.json", tmp_path / "cli") == \
        json_without(tmp_path / "api" / "results" / "cohort" / "results.json", tmp_path / "api")
    # What the demo recovers is what it planted: hypoxic fractions of the phantoms.
    truth = pd.read_csv(tmp_path / "api" / "data" / "truth.csv")
    table = pd.read_csv(tmp_path / "api" / "results" / "cohort_table.csv")
    merged = truth.merge(table, on="patient", suffixes=("_true", ""))
    assert len(merged) == 20
    np.testing.assert_allclose(merged["hypoxic_fraction"], merged["hypoxic_fraction_true"], atol=0.03)
    assert read_manifest(tmp_path / "api" / "data" / "manifest.csv")["patient"].tolist() == truth["patient"].tolist()


def test_demo_refuses_a_tiny_cohort_before_writing(tmp_path):
    with pytest.raises(InputError, match="--patients"):
        run_demo(tmp_path / "demo", CohortSettings(patients=5), BatchSettings())
    assert not (tmp_path / "demo").exists()


def test_batch_reads_each_expression_file_once(expression_file, tmp_path, monkeypatch):
    from HypoxiaMarkersLib.genes import scoring
    from HypoxiaMarkersLib.pipeline.batch import score_genes

    calls = []
    real = scoring.read_expression
    monkeypatch.setattr(scoring, "read_expression", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    samples = pd.read_csv(expression_file / "map.csv")
    manifest = samples.groupby("patient")["sample"].agg(";".join).reset_index(name="samples")
    manifest["expression"] = str(expression_file / "expression.csv")
    genes = score_genes(manifest, tmp_path, signature=None, reference="auto")
    assert calls == [str(expression_file / "expression.csv")]
    assert len(genes) == len(manifest) and all("gene_score" in g for g in genes.values())
    # The per-patient scores are those of the genes stage run on its own with the same patient map.
    alone = run_genes(expression_file / "expression.csv", tmp_path / "alone.csv",
                      GenesSettings(patient_map=tmp_path / "genes" / "patient_map.csv"))
    for _, row in alone.patients.iterrows():
        assert genes[row["patient"]]["gene_score"] == row["hypoxia_score"]


@pytest.mark.slow
def test_the_pipeline_does_not_import_the_command_line():
    import subprocess
    import sys

    code = ("import sys\n"
            "import HypoxiaMarkersLib.pipeline.batch, HypoxiaMarkersLib.pipeline.demo\n"
            "print(sorted(m for m in sys.modules if m.startswith('HypoxiaMarkersLib.cli')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
