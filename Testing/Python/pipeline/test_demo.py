"""The demo's synthetic cohort through the pipeline: numbers computed (a new seed changes them) and true."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from HypoxiaMarkersLib.cli import main
from HypoxiaMarkersLib.io.volumes import read_volume
from HypoxiaMarkersLib.pipeline.batch import BatchSettings, run_batch
from HypoxiaMarkersLib.pipeline.demo_data import CohortSettings, draw_patients, write_cohort
from HypoxiaMarkersLib.stats.survival import cox_fit

SMALL = dict(phantom_size=(40, 40, 5), tumour_radii_mm=(12.0, 10.0, 9.0))


def run_demo_like(folder, seed, patients=70):
    """What ``hypoxia-markers demo`` does, on small phantoms: write the cohort, then batch with its signature."""
    data = folder / "data"
    write_cohort(data, CohortSettings(patients=patients, seed=seed, **SMALL))
    settings = BatchSettings(permutations=100, seed=seed, report=False,
                             signature=str(data / "reference_signature.json"),
                             covariates=["figo_stage", "lymph_node"], categorical=["figo_stage"])
    run_batch(data / "manifest.csv", folder / "results", settings, log=lambda _: None)
    return data, folder / "results"


@pytest.fixture(scope="module")
def demo0(tmp_path_factory):
    return run_demo_like(tmp_path_factory.mktemp("demo0"), seed=0)


@pytest.fixture(scope="module")
def demo1(tmp_path_factory):
    return run_demo_like(tmp_path_factory.mktemp("demo1"), seed=1)


def test_cohort_shape_resembles_the_methods_cohort():
    fractions = []
    for seed in range(5):
        patients = draw_patients(CohortSettings(patients=118, seed=seed))
        imaging = np.array([p.hypoxic_fraction_target >= 0.27 for p in patients])
        genes = np.array([p.gene_score >= 0 for p in patients])
        fractions.append((imaging.mean(), genes.mean(), (imaging == genes).mean()))
    imaging, genes, concordant = np.mean(fractions, axis=0)
    assert 0.25 <= imaging <= 0.38 and 0.30 <= genes <= 0.42 and 0.70 <= concordant <= 0.85


def true_fraction_on_analysed_voxels(data, results, patient):
    """The phantom's true hypoxic fraction over the voxels the pipeline analysed (the mask drawn on T2W)."""
    truth, _ = read_volume(data / "patients" / patient / "truth" / "hypoxic_mask.nrrd")
    analysed, _ = read_volume(results / "patients" / patient / "tumour_mask.nrrd")
    return float(truth[analysed > 0].mean())


def test_recovered_fractions_scores_and_groups_match_the_truth(demo0):
    data, results = demo0
    table = pd.read_csv(results / "cohort_table.csv").set_index("patient")
    truth = pd.read_csv(data / "truth.csv").set_index("patient").loc[table.index]
    assert len(table) == len(truth) == 70
    expected = [true_fraction_on_analysed_voxels(data, results, p) for p in table.index]
    np.testing.assert_allclose(table["hypoxic_fraction"], expected, atol=0.02)
    # scored against the stored reference, each tumour's score is exactly its true score
    np.testing.assert_allclose(table["gene_score"], truth["gene_score"], atol=1e-4)
    patients = pd.read_csv(results / "cohort" / "patients.csv").set_index("id").loc[table.index]
    assert np.mean(patients["group"].to_numpy() == truth["group"].to_numpy()) >= 0.9


def both_rule_cox(time, event, group_one):
    time = np.minimum(time, 60.0)
    event = np.where(np.asarray(time) < 60.0, event, 0)
    design = pd.DataFrame({"group_1": np.asarray(group_one, dtype=float)})
    return cox_fit(time, event, design, ph_check=False).to_dict()["coefficients"][0]


@pytest.mark.slow
def test_the_generator_plants_the_hazard_ratio_it_states():
    """Over many seeds the Cox HR of the true group 1 covers the planted HR as a 95% interval should."""
    covered, estimates = 0, []
    for seed in range(40):
        patients = draw_patients(CohortSettings(patients=118, seed=seed))
        fit = both_rule_cox(np.array([p.pfs_time for p in patients]), np.array([p.pfs_event for p in patients]),
                            [p.group == 1 for p in patients])
        covered += fit["ci_low"] <= 4.8 <= fit["ci_high"]
        estimates.append(np.log(fit["hr"]))
    assert covered >= 34  # 95% nominal; at least 85% of 40
    assert abs(np.exp(np.median(estimates)) - 4.8) < 0.6


def test_recovered_hazard_ratio_of_the_both_rule_matches_the_truth(demo0):
    data, results = demo0
    both = json.loads((results / "cohort" / "results.json").read_text())["both"]["cox_dichotomous"]
    cohort = pd.read_csv(results / "cohort_table.csv").set_index("patient")
    truth = pd.read_csv(data / "truth.csv").set_index("patient").loc[cohort.index]
    on_true_groups = both_rule_cox(cohort["pfs_time"].to_numpy(), cohort["pfs_event"].to_numpy(),
                                   truth["group"].to_numpy() == 1)
    # The measured markers recover the true groups, so the HR agrees with the one the true groups give ...
    assert abs(np.log(both["hr"]) - np.log(on_true_groups["hr"])) < 0.25
    assert both["ci_low"] <= on_true_groups["hr"] <= both["ci_high"]
    # ... and it points the planted way.
    assert both["hr"] > 1


def test_a_new_seed_changes_the_numbers(demo0, demo1):
    a = json.loads((demo0[1] / "cohort" / "results.json").read_text())
    b = json.loads((demo1[1] / "cohort" / "results.json").read_text())
    for marker in ("imaging", "genes", "both", "composite"):
        assert a[marker]["cox_dichotomous"]["hr"] != b[marker]["cox_dichotomous"]["hr"]
    ta = pd.read_csv(demo0[1] / "cohort_table.csv")
    tb = pd.read_csv(demo1[1] / "cohort_table.csv")
    assert not np.allclose(ta["hypoxic_fraction"], tb["hypoxic_fraction"])


def test_heterogeneity_results_are_written(demo0):
    _, results = demo0
    summary = json.loads((results / "heterogeneity" / "heterogeneity.json").read_text())
    assert summary  # the heterogeneity command's own tests check its numbers
    assert (results / "heterogeneity" / "virtual_biopsy_tumours.csv").is_file()


def test_demo_command_refuses_a_tiny_cohort(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "d"), "--patients", "5", "--quiet"]) == 2
    assert "--patients" in capsys.readouterr().err
