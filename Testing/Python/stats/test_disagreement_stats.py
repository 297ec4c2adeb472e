"""Issue 12 analyses (stats/association, disagreement, cell_fraction, validation) against R's values computed on a
fixed 40-patient table (reference/disagreement/disagreement.R) and scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from HypoxiaMarkersLib.stats.association import (
    correlation,
    fisher_test,
    holm,
    kruskal_test,
    rank_sum_test,
    trend_test,
)
from HypoxiaMarkersLib.stats.cell_fraction import gene_score_vs_cell_fraction
from HypoxiaMarkersLib.stats.disagreement import (
    agreement_by_biopsies,
    agreement_by_clustering,
    biopsy_slice_imaging,
    inconsistency_by_imaging,
    same_status,
    volume_by_group,
)
from HypoxiaMarkersLib.stats.validation import split_association

from helpers.disagreement_reference import R, classes, small

EXACT, TIED = R["small_exact"], R["small_tied"]


def check_fisher(result, reference):
    assert result.p == pytest.approx(reference["p"], rel=1e-9)
    # R finds the odds ratio and its interval with uniroot (default tolerance): its upper limit of a wide interval
    # (1740 vs scipy 1767 for the training table) is loose; the p-value is exact in both.
    assert result.odds_ratio == pytest.approx(reference["odds_ratio"], rel=1e-4)
    assert result.ci_low == pytest.approx(reference["ci_low"], rel=1e-3)
    assert result.ci_high == pytest.approx(reference["ci_high"], rel=3e-2)


def check_wilcox(result, reference):
    assert result.W == reference["W"]
    assert result.p == pytest.approx(reference["p"], rel=1e-10)
    assert ("exact" in result.method) == ("exact" in reference["method"])


def test_inconsistency_by_imaging_class_equals_r_fisher_test():
    table = small()
    imaging_high, genes_high, _ = classes(table)
    result = inconsistency_by_imaging(imaging_high, genes_high)
    different = imaging_high != genes_high
    assert result.more.count == int(np.sum(different & imaging_high))
    assert result.less.share == pytest.approx(np.mean(different[~imaging_high]))
    check_fisher(result.fisher, EXACT["inconsistency_fisher"])


@pytest.mark.parametrize("column, reference", [("tumour_volume_ml", EXACT), ("volume_tied", TIED)])
def test_volume_by_group_equals_r_wilcox_and_kruskal(column, reference):
    table = small()
    _, _, group = classes(table)
    result = volume_by_group(table[column].to_numpy(dtype=float), group)
    check_wilcox(result.group1_vs_others, reference["volume_group1_vs_others"])
    kw = reference["volume_kruskal_2_to_4"]
    assert result.groups_2_to_4.H == pytest.approx(kw["H"], rel=1e-10)
    assert result.groups_2_to_4.p == pytest.approx(kw["p"], rel=1e-10)
    for pair, key in zip(result.pairwise_2_to_4, ("volume_2_vs_3", "volume_2_vs_4", "volume_3_vs_4")):
        assert pair["W"] == reference[key]["W"]
        assert pair["p"] == pytest.approx(reference[key]["p"], rel=1e-10)
        assert pair["p_holm"] == pytest.approx(reference[key]["p_holm"], rel=1e-10)


def test_the_wilcoxon_convention_matters_on_this_table():
    # The check above can fail: R's exact p (no ties, < 50 per group) differs from the normal approximation.
    table = small()
    _, _, group = classes(table)
    volume = table["tumour_volume_ml"].to_numpy(dtype=float)
    approx = stats.mannwhitneyu(volume[group == 1], volume[group != 1], method="asymptotic").pvalue
    assert abs(approx - EXACT["volume_group1_vs_others"]["p"]) > 1e-3


def test_rank_sum_switches_to_the_normal_approximation_at_50_values():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=50), rng.normal(0.3, size=20)
    result = rank_sum_test(x, y)
    expected = stats.mannwhitneyu(x, y, method="asymptotic", use_continuity=True).pvalue
    assert "normal approximation" in result.method and result.p == pytest.approx(expected, rel=1e-12)
    assert "exact" in rank_sum_test(x[:49], y).method


def test_biopsy_slice_imaging_equals_r_and_scipy():
    table = small()
    result = biopsy_slice_imaging(table["hypoxic_fraction"], table["biopsy_slice_hf"], table["gene_score"],
                                  hf_cutoff=0.27, gene_cutoff=0.0)
    ref = EXACT["slice_vs_tumour_pearson"]
    assert result.slice_vs_tumour.coefficient == pytest.approx(ref["r"], rel=1e-12)
    assert result.slice_vs_tumour.p == pytest.approx(ref["p"], rel=1e-8)
    assert result.slice_vs_tumour.slope == pytest.approx(ref["slope"], rel=1e-10)
    assert result.slice_vs_tumour.intercept == pytest.approx(ref["intercept"], rel=1e-9)
    rho = stats.spearmanr(table["biopsy_slice_hf"], table["gene_score"])
    assert result.slice_vs_genes.coefficient == pytest.approx(EXACT["slice_vs_genes_spearman_rho"], rel=1e-12)
    assert result.slice_vs_genes.p == pytest.approx(rho.pvalue, rel=1e-12)
    genes_high = table["gene_score"] >= 0
    assert result.same_biopsy_slice.count == int(((table["biopsy_slice_hf"] >= 0.27) == genes_high).sum())
    check_fisher(result.fisher, EXACT["same_status_fisher"])


def test_agreement_by_number_of_biopsies_equals_r_prop_trend_test():
    table = small()
    imaging_high, genes_high, _ = classes(table)
    result = agreement_by_biopsies(table["n_biopsies"], same_status(imaging_high, genes_high))
    assert sum(result.totals) == len(table)
    assert result.trend.chi2 == pytest.approx(EXACT["biopsies_trend"]["chi2"], rel=1e-10)
    assert result.trend.p == pytest.approx(EXACT["biopsies_trend"]["p"], rel=1e-10)
    check_fisher(result.one_vs_several, EXACT["biopsies_fisher_one_vs_several"])


def test_agreement_by_clustering_equals_r_fisher_test():
    table = small()
    imaging_high, genes_high, _ = classes(table)
    labels = [True if c == "more clustering" else False if c == "less clustering" else None
              for c in table["clustering"]]
    result = agreement_by_clustering(labels, same_status(imaging_high, genes_high))
    assert result.n_without_label == int((table["clustering"] == "").sum()) > 0
    check_fisher(result.fisher, EXACT["clustering_fisher"])


def test_cell_fraction_correlation_equals_r_cor_test():
    table = small()
    result = gene_score_vs_cell_fraction(table["gene_score"], table["tumour_cell_fraction"])
    ref = EXACT["cell_fraction_pearson"]
    assert result.pearson.coefficient == pytest.approx(ref["r"], rel=1e-10)
    assert result.pearson.p == pytest.approx(ref["p"], rel=1e-8)
    rho = stats.spearmanr(table["tumour_cell_fraction"], table["gene_score"])
    assert result.spearman.coefficient == pytest.approx(rho.statistic, rel=1e-12)
    assert (result.median, result.n) == (float(np.median(table["tumour_cell_fraction"])), len(table))


def test_training_and_validation_equal_r_on_each_subset():
    table = small()
    imaging_high, genes_high, _ = classes(table)
    validation = table["validation"].to_numpy() == 1
    result = split_association(table["hypoxic_fraction"], table["gene_score"], imaging_high, genes_high, validation)
    assert result.subsets["all"].n == len(table)
    assert result.subsets["validation"].n == int(validation.sum()) and result.subsets["training"].n == int(
        (~validation).sum())
    for name in ("training", "validation"):
        subset = result.subsets[name]
        check_fisher(subset.fisher, EXACT[f"{name}_fisher"])
        assert subset.pearson.coefficient == pytest.approx(EXACT[f"{name}_pearson"]["r"], rel=1e-10)
        assert subset.pearson.p == pytest.approx(EXACT[f"{name}_pearson"]["p"], rel=1e-8)
    whole = stats.spearmanr(table["hypoxic_fraction"], table["gene_score"])
    assert result.subsets["all"].spearman.coefficient == pytest.approx(whole.statistic, rel=1e-12)


def test_holm_equals_r_p_adjust():
    # R: p.adjust(c(0.01, 0.04, 0.03, 0.005), "holm") = 0.03 0.06 0.06 0.02
    assert holm([0.01, 0.04, None, 0.03, 0.005]) == pytest.approx([0.03, 0.06, None, 0.06, 0.02])


def test_degenerate_cases_are_not_estimable_never_numbers():
    every_same = fisher_test([[5, 0], [3, 0]], rows=["a", "b"], columns=["same", "different"])
    assert every_same.p is None and "column 'different'" in every_same.note
    assert "not_estimable" in every_same.to_dict()
    empty = rank_sum_test([], [1.0, 2.0], x_name="group 4")
    assert empty.p is None and "group 4" in empty.note
    assert rank_sum_test([1.0, 1.0], [1.0]).p is None
    assert kruskal_test({"group 2": [], "group 3": [1.0, 2.0], "group 4": []}).p is None
    assert trend_test([2, 0], [2, 0], [1, 2]).p is None
    assert trend_test([3, 4], [3, 4], [1, 2]).p is None  # everyone the same status
    assert correlation([1, 2], [3, 4], method="pearson").coefficient is None
    assert correlation([1, 1, 1], [3, 4, 5], method="spearman").note.startswith("not estimable")
    no_validation = split_association([0.1, 0.5, 0.3], [0.2, 0.1, 0.4], [False, True, True], [True, False, True],
                                      [False, False, False])
    assert no_validation.subsets["validation"].n == 0
    assert no_validation.subsets["validation"].fisher.p is None
    assert no_validation.subsets["validation"].spearman.coefficient is None
