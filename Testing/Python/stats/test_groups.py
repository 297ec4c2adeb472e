"""Groups 1–4, their agreement and covariates across them, against R (fisher.test, cor.test, kruskal.test).

Reference: reference/make_reference.R, function groups_case: with x_high = x >= x_cut and y_high = y >= y_cut,
group 1 both, 2 y only, 3 neither, 4 x only;

    fisher.test(matrix(c(n1, n2, n4, n3), 2))          # rows x more/less, columns y more/less
    cor.test(x, y, method = "spearman", exact = FALSE); cor.test(x, y, method = "pearson")
    kruskal.test(covariate, factor(group))
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from HypoxiaMarkersLib.errors import InputError
from HypoxiaMarkersLib.stats.groups import classify_groups, compare_groups, wilcoxon_rank_sum

from helpers.paths import REFERENCE

R = json.loads((REFERENCE / "r_reference.json").read_text())


def test_classify_groups_follows_the_paper():
    imaging = [True, False, False, True]
    genes = [True, True, False, False]
    assert classify_groups(imaging, genes).tolist() == [1, 2, 3, 4]
    with pytest.raises(InputError):
        classify_groups([True], [True, False])


@pytest.mark.parametrize("case,dataset", [("groups_gbsg2", "gbsg2.csv"), ("groups_lung", "lung.csv")])
def test_agreement_statistics_match_r(case, dataset):
    ref = R[case]
    d = pd.read_csv(REFERENCE / dataset)
    d = d[d[ref["x"]].notna() & d[ref["y"]].notna()].reset_index(drop=True)
    x = d[ref["x"]].to_numpy(float)
    y = d[ref["y"]].to_numpy(float)
    covariates = d[[k["covariate"] for k in ref["kruskal"]]]
    result = compare_groups(x >= ref["x_cut"], y >= ref["y_cut"], x, y, covariates=covariates)
    assert [result.counts[g] for g in (1, 2, 3, 4)] == ref["counts"]
    assert result.table.ravel().tolist() == ref["table"]
    assert result.concordance == pytest.approx((ref["counts"][0] + ref["counts"][2]) / len(d))
    assert result.fisher_p == pytest.approx(ref["fisher_p"], rel=1e-6)
    # R finds the conditional MLE with uniroot (tolerance ~1e-4); scipy solves it more tightly.
    assert result.fisher_odds_ratio == pytest.approx(ref["fisher_or"], rel=1e-4)
    assert result.fisher_ci_low == pytest.approx(ref["fisher_ci"][0], rel=1e-4)
    assert result.fisher_ci_high == pytest.approx(ref["fisher_ci"][1], rel=1e-4)
    assert result.spearman_rho == pytest.approx(ref["spearman_rho"], rel=1e-10)
    assert result.spearman_p == pytest.approx(ref["spearman_p"], rel=1e-6)
    assert result.pearson_r == pytest.approx(ref["pearson_r"], rel=1e-10)
    assert result.pearson_p == pytest.approx(ref["pearson_p"], rel=1e-8)
    for k in ref["kruskal"]:
        mine = result.kruskal_wallis[k["covariate"]]
        assert mine["h"] == pytest.approx(k["h"], rel=1e-10)
        assert mine["df"] == k["df"]
        assert mine["p"] == pytest.approx(k["p"], rel=1e-8)
    out = result.to_dict()
    assert out["n_discordant"] == ref["counts"][1] + ref["counts"][3]


def test_kruskal_wallis_reports_missing_values_and_refuses_text():
    high = np.array([True, False] * 5)
    result = compare_groups(high, high[::-1], covariates=pd.DataFrame({"volume": [1, 2, np.nan, 4, 5, 6, 7, 8, 9, 10]}))
    assert result.kruskal_wallis["volume"]["n_missing"] == 1
    with pytest.raises(InputError, match="not numeric"):
        compare_groups(high, high, covariates=pd.DataFrame({"stage": ["I", "II"] * 5}))


def test_wilcoxon_matches_r():
    """R: wilcox.test(x[high], x[!high], exact = FALSE, correct = TRUE); reference/wilcoxon.R wrote the values."""

    expected = json.loads((REFERENCE / "wilcoxon.json").read_text())
    lung = pd.read_csv(REFERENCE / "lung.csv")
    cases = {
        "age_by_sex": (lung["age"], lung["sex"] == 2),
        "karno_by_ecog": (lung["ph.karno"], lung["ph.ecog"].fillna(-1) >= 1),
        "wtloss_by_inst_small": (lung["wt.loss"], lung["inst"].fillna(99) < 10),
    }
    for name, (values, high) in cases.items():
        got = wilcoxon_rank_sum(values.to_numpy(float), high.to_numpy(bool))
        ref = expected[name]
        assert (got["n_high"], got["n_low"]) == (ref["n_high"], ref["n_low"])
        assert got["W"] == ref["W"]
        assert got["p"] == pytest.approx(ref["p"], rel=1e-10)


def test_wilcoxon_in_compare_groups_and_degenerate_input():
    imaging_high = np.array([True, True, False, False, True, False, False, True])
    genes_high = np.array([True, False, True, False, True, False, False, False])
    volume = pd.DataFrame({"volume": [50.0, 60.0, 20.0, 25.0, 55.0, 30.0, 22.0, 58.0]})
    result = compare_groups(imaging_high, genes_high, covariates=volume).to_dict()
    imaging = result["wilcoxon"]["volume"]["imaging"]
    assert imaging["W"] == 16.0 and imaging["median_high"] == 56.5  # every more hypoxic tumour is larger
    assert imaging["p"] < 0.05
    same = wilcoxon_rank_sum(np.ones(6), np.array([True, False] * 3))
    assert same["W"] is None and "same" in same["note"]
