"""The cohort and heterogeneity stages' issue-12 keys: on the demo cohort's table and a fixed 40-patient table,
every number equals R's (reference/disagreement/disagreement.R); named columns, refusals, 'not computed'."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from HypoxiaMarkersLib.errors import InputError
from HypoxiaMarkersLib.heterogeneity.agreement import clustering_agreement
from HypoxiaMarkersLib.pipeline.cohort import CohortAnalysisSettings, run_cohort

from helpers.disagreement_reference import DEMO_TABLE, SMALL_TABLE, R

COLUMNS = dict(id="patient", time="pfs_time", event="pfs_event", imaging="hypoxic_fraction", genes="gene_score",
               permutations=20, resamples=10)


def _small_with_outcome(tmp_path: Path) -> Path:
    table = pd.read_csv(SMALL_TABLE, keep_default_na=False)
    table["pfs_time"] = [12.0 + 1.5 * i for i in range(len(table))]
    table["pfs_event"] = [i % 3 == 0 for i in range(len(table))]
    table["pfs_event"] = table["pfs_event"].astype(int)
    path = tmp_path / "small.csv"
    table.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def demo_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo_cohort") / "cohort"
    return run_cohort(DEMO_TABLE, out, CohortAnalysisSettings(**COLUMNS)).results


@pytest.mark.slow
def test_demo_cohort_numbers_equal_r(demo_results):
    ref = R["demo"]
    d = demo_results["disagreement"]
    assert d["inconsistency_by_imaging"]["fisher"]["p"] == pytest.approx(ref["inconsistency_fisher"]["p"], rel=1e-9)
    assert d["inconsistency_by_imaging"]["fisher"]["odds_ratio"] == pytest.approx(
        ref["inconsistency_fisher"]["odds_ratio"], rel=1e-4)
    volume = d["tumour_volume_by_group"]
    assert volume["wilcoxon_group_1_vs_others"]["W"] == ref["volume_group1_vs_others"]["W"]
    assert volume["wilcoxon_group_1_vs_others"]["p"] == pytest.approx(ref["volume_group1_vs_others"]["p"], rel=1e-10)
    assert volume["kruskal_wallis_groups_2_to_4"]["p"] == pytest.approx(ref["volume_kruskal_2_to_4"]["p"], rel=1e-10)
    pairs = ("volume_2_vs_3", "volume_2_vs_4", "volume_3_vs_4")
    for pair, key in zip(volume["wilcoxon_pairwise_groups_2_to_4"], pairs):
        assert pair["p"] == pytest.approx(ref[key]["p"], rel=1e-10) and pair["W"] == ref[key]["W"]
    slices = d["biopsy_slice_imaging"]
    assert slices["biopsy_slice_hf_vs_tumour_hf"]["r"] == pytest.approx(ref["slice_vs_tumour_pearson"]["r"], rel=1e-10)
    assert slices["biopsy_slice_hf_vs_tumour_hf"]["slope"] == pytest.approx(ref["slice_vs_tumour_pearson"]["slope"],
                                                                            rel=1e-9)
    assert slices["biopsy_slice_hf_vs_gene_score"]["rho"] == pytest.approx(ref["slice_vs_genes_spearman_rho"],
                                                                           rel=1e-10)
    assert slices["fisher"]["p"] == pytest.approx(ref["same_status_fisher"]["p"], rel=1e-9)
    biopsies = d["agreement_by_number_of_biopsies"]
    assert biopsies["trend"]["p"] == pytest.approx(ref["biopsies_trend"]["p"], rel=1e-10)
    assert biopsies["fisher_one_vs_several"]["p"] == pytest.approx(ref["biopsies_fisher_one_vs_several"]["p"],
                                                                   rel=1e-9)
    cell = demo_results["gene_score_vs_tumour_cell_fraction"]
    assert cell["column"] == "tumour_cell_fraction"
    assert cell["pearson"]["r"] == pytest.approx(ref["cell_fraction_pearson"]["r"], rel=1e-10)
    assert demo_results["parameters"]["analysis_columns"]["tumour_volume"] == "tumour_volume_ml"
    assert "not_computed" in demo_results["training_validation"]


@pytest.mark.slow
def test_validation_column_and_named_columns_equal_r(tmp_path):
    path = _small_with_outcome(tmp_path)
    results = run_cohort(path, tmp_path / "out", CohortAnalysisSettings(
        **COLUMNS, validation="validation", tumour_volume="volume_tied")).results
    split = results["training_validation"]
    assert split["column"] == "validation"
    for name in ("training", "validation"):
        assert split[name]["fisher"]["p"] == pytest.approx(R["small_exact"][f"{name}_fisher"]["p"], rel=1e-9)
        assert split[name]["pearson"]["r"] == pytest.approx(R["small_exact"][f"{name}_pearson"]["r"], rel=1e-10)
    assert split["all"]["n"] == split["training"]["n"] + split["validation"]["n"] == 40
    tied = results["disagreement"]["tumour_volume_by_group"]["wilcoxon_group_1_vs_others"]
    assert tied["p"] == pytest.approx(R["small_tied"]["volume_group1_vs_others"]["p"], rel=1e-10)
    per_patient = pd.read_csv(tmp_path / "out" / "disagreement_patients.csv")
    assert list(per_patient["id"]) == [f"S{i:02d}" for i in range(1, 41)]
    assert per_patient["validation"].sum() == split["validation"]["n"]


def test_unreadable_validation_column_is_refused_naming_the_row(tmp_path):
    path = _small_with_outcome(tmp_path)
    table = pd.read_csv(path)
    table["split"] = ["training"] * 5 + ["maybe"] + ["validation"] * 34
    table.to_csv(path, index=False)
    with pytest.raises(InputError, match=r"split.*row 7"):
        run_cohort(path, tmp_path / "out", CohortAnalysisSettings(**COLUMNS, validation="split"))
    assert not (tmp_path / "out").exists()
    with pytest.raises(InputError, match="--tumour-cell-fraction"):
        run_cohort(path, tmp_path / "out", CohortAnalysisSettings(**COLUMNS, cell_fraction="tcf"))


@pytest.mark.slow
def test_missing_columns_are_not_computed_with_a_reason(tmp_path):
    path = _small_with_outcome(tmp_path)
    table = pd.read_csv(path).drop(columns=["tumour_volume_ml", "n_biopsies", "tumour_cell_fraction"])
    table["tumor_cell_fraction"] = range(len(table))
    table.to_csv(path, index=False)
    results = run_cohort(path, tmp_path / "out", CohortAnalysisSettings(**COLUMNS)).results
    assert "tumour_volume_ml" in results["disagreement"]["tumour_volume_by_group"]["not_computed"]
    assert "not_computed" in results["disagreement"]["agreement_by_number_of_biopsies"]
    assert results["gene_score_vs_tumour_cell_fraction"]["column"] == "tumor_cell_fraction"  # US spelling found
    mine = {k: results[k] for k in ("disagreement", "gene_score_vs_tumour_cell_fraction", "training_validation")}
    json.dumps(mine, allow_nan=False)  # no NaN where a value is not estimable


def test_clustering_against_agreement_from_the_heterogeneity_tables_equals_r():
    table = pd.read_csv(SMALL_TABLE, keep_default_na=False)
    imaging = pd.DataFrame({"patient": table["patient"], "classification": [
        "more hypoxic" if v >= 0.27 else "less hypoxic" for v in table["hypoxic_fraction"]]})
    genes = pd.DataFrame({"patient": table["patient"][::-1], "classification": [
        "more hypoxic" if v >= 0 else "less hypoxic" for v in table["gene_score"][::-1]]})
    virtual = pd.DataFrame({"patient": table["patient"], "clustering": table["clustering"]})
    result, per_tumour = clustering_agreement(virtual, imaging, genes)
    assert result.fisher.p == pytest.approx(R["small_exact"]["clustering_fisher"]["p"], rel=1e-9)
    assert result.fisher.odds_ratio == pytest.approx(R["small_exact"]["clustering_fisher"]["odds_ratio"], rel=1e-4)
    assert len(per_tumour) == 40
