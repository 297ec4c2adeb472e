"""The demo's issue-12 results, end to end on a small demo (slow): the heterogeneity stage's clustering against
agreement and the cohort stage's training/validation split reproduced from the stage's own CSV tables with scipy,
and the report showing them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from HypoxiaMarkersLib.pipeline.demo_data import SPLIT_FILE


def test_clustering_against_agreement_equals_scipy_on_the_stage_tables(small_demo):
    folder = small_demo.results / "heterogeneity"
    result = json.loads((folder / "heterogeneity.json").read_text())["clustering_vs_agreement"]
    imaging = pd.read_csv(folder / "slice_tumours.csv").set_index("patient")["classification"]
    genes = pd.read_csv(folder / "biopsy_tumours.csv").set_index("patient")["classification"]
    clustering = pd.read_csv(folder / "virtual_biopsy_tumours.csv", keep_default_na=False).set_index("patient")[
        "clustering"]
    patients = imaging.index.intersection(genes.index)
    same = (imaging[patients] == "more hypoxic") == (genes[patients] == "more hypoxic")
    label = clustering.reindex(patients).fillna("")
    table = [[int(((label == c) & same).sum()), int(((label == c) & ~same).sum())]
             for c in ("more clustering", "less clustering")]
    assert result["fisher"]["table"] == table
    assert result["fisher"]["p"] == pytest.approx(stats.fisher_exact(table)[1], rel=1e-12)
    assert result["n_without_clustering_label"] == int((label == "").sum())


def test_training_validation_of_the_demo_equals_scipy_on_its_split(small_demo):
    split = pd.read_csv(small_demo.data / SPLIT_FILE)
    assert (split["validation"] == 0).sum() == 20  # 41 or half the patients
    results = json.loads((small_demo.results / "cohort" / "results.json").read_text())
    patients = pd.read_csv(small_demo.results / "cohort" / "patients.csv")
    patients = patients[patients["included"]].merge(split, left_on="id", right_on="patient")
    for name, keep in (("training", patients["validation"] == 0), ("validation", patients["validation"] == 1)):
        subset = results["training_validation"][name]
        rho = stats.spearmanr(patients.loc[keep, "imaging"], patients.loc[keep, "genes"]).statistic
        assert subset["n"] == int(keep.sum())
        assert subset["spearman"]["rho"] == pytest.approx(rho, rel=1e-12)
    page = (small_demo.results / "report" / "index.html").read_text(encoding="utf-8")
    for table in ("table-training-validation", "table-clustering-agreement", "table-cell-fraction",
                  "table-volume-tests", "table-biopsy-slice-imaging", "table-biopsies-agreement"):
        assert f'id="{table}"' in page
    notes = json.loads((small_demo.results / "report" / "report.json").read_text())["sections"]["disagreement"]
    assert notes["notes"] == [] and np.isfinite(results["gene_score_vs_tumour_cell_fraction"]["spearman"]["rho"])
