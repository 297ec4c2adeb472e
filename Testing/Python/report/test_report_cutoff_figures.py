"""The cutoff curves against R maxstat's standardized statistics, and the forest plot against the Cox results.

R reference: Testing/Python/reference/make_reference.R stores, for each case,
``maxstat.test(Surv(time, event) ~ marker, data, smethod = "LogRank", pmethod = "Lau92", minprop, maxprop)$stats``
and ``$cuts`` (r_reference.json, ``<case>.maxstat.stats`` / ``.cuts``).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from HypoxiaMarkersLib.report.cutoff_figures import cutoff_curve, forest_rows, plot_cutoff_curve, plot_forest
from HypoxiaMarkersLib.stats.cutoff import fixed_cutoff, optimal_cutoff

from helpers.r_reference import reference_case

CASES = ["rossi_prio", "lung_karno", "gbsg2_pnodes"]


@pytest.mark.parametrize("case", CASES)
def test_the_curve_of_a_fixed_cutoff_is_r_maxstats_statistic_at_every_cut(case, request):
    _, _, r, time, event, marker = reference_case(case, request)
    ref = r["maxstat"]
    fixed = json.loads(json.dumps(fixed_cutoff(time, event, marker, r["cutoff"]).to_dict(), default=list))
    curve = cutoff_curve("imaging", fixed, time, event, marker, min_prop=ref["minprop"])
    assert curve.method == "fixed" and curve.source.startswith("recomputed")
    np.testing.assert_allclose(curve.statistics, ref["stats"], rtol=1e-10)
    np.testing.assert_allclose(curve.cuts, ref["cuts"], rtol=0, atol=0)
    assert curve.search_maximum == pytest.approx(ref["statistic"], rel=1e-10)
    assert curve.search_p == pytest.approx(ref["p_lau94"], rel=1e-6)
    # The marked point is the fixed cutoff's own statistic, which lies on the curve: the statistic of the split
    # whose low group ends at the largest value below the cutoff.
    below = np.flatnonzero(np.asarray(ref["cuts"]) < r["cutoff"])
    if below.size:
        assert curve.statistic == pytest.approx(ref["stats"][below[-1]], rel=1e-10)


@pytest.mark.parametrize("case", CASES)
def test_the_curve_of_a_searched_cutoff_is_read_from_the_results(case, request, tmp_path):
    _, _, r, time, event, marker = reference_case(case, request)
    ref = r["maxstat"]
    result = optimal_cutoff(time, event, marker, min_prop=ref["minprop"], permutations=99, seed=1)
    stored = json.loads(json.dumps(result.to_dict(), default=list))  # as in cohort/results.json
    # Times shuffled: a curve recomputed instead of read would differ.
    curve = cutoff_curve("genes", stored, time[::-1], event, marker, min_prop=ref["minprop"])
    np.testing.assert_allclose(curve.statistics, ref["stats"], rtol=1e-10)
    np.testing.assert_allclose(curve.cuts, ref["cuts"])
    assert curve.statistic == pytest.approx(ref["statistic"], rel=1e-10)
    assert curve.value > ref["estimate"] and curve.search_maximum is None
    assert "permutation" in curve.p_label and f"{result.p_permutation:.3g}"[:4] in curve.p_label
    plot_cutoff_curve(curve, tmp_path / "curve.png")
    assert "Standardized log-rank statistic" in (tmp_path / "curve.svg").read_text(encoding="utf-8")


def _cohort_results():
    """A cohort/results.json fragment: one estimable HR, one not estimable, one with an infinite interval."""
    ok = {"hr": 2.5, "ci_low": 1.2, "ci_high": 5.1, "p": 0.012, "estimable": True, "not_estimable_reason": None}
    return {
        "imaging": {"cox_dichotomous": ok, "cox_continuous": {**ok, "hr": 4.0, "ci_low": 1.5, "ci_high": 10.0},
                    "cox_multivariate": {"coefficients": [
                        {"name": "imaging", **ok},
                        {"name": "figo_stage[4]", "hr": None, "ci_low": None, "ci_high": None, "p": None,
                         "estimable": False,
                         "not_estimable_reason": "not estimable: no events among the 3 patients with figo_stage = 4"},
                        {"name": "lymph_node", "hr": 1.7, "ci_low": 0.4, "ci_high": math.inf, "p": 0.5,
                         "estimable": True, "not_estimable_reason": None}]}},
        "genes": {"cox_dichotomous": {**ok, "hr": 0.5, "ci_low": 0.25, "ci_high": 0.9}},
    }


def test_forest_rows_are_the_cox_results_and_non_estimable_ones_are_not_drawn(tmp_path):
    cohort = _cohort_results()
    rows = forest_rows(cohort)
    assert [(r.model, r.term) for r in rows] == [
        ("univariate, more vs less hypoxic", "imaging"), ("univariate, more vs less hypoxic", "genes"),
        ("univariate, continuous (per unit)", "imaging"), ("multivariate, imaging model", "imaging"),
        ("multivariate, imaging model", "figo_stage[4]"), ("multivariate, imaging model", "lymph_node")]
    sources = [cohort["imaging"]["cox_dichotomous"], cohort["genes"]["cox_dichotomous"],
               cohort["imaging"]["cox_continuous"]] + cohort["imaging"]["cox_multivariate"]["coefficients"]
    for row, source in zip(rows, sources):
        assert (row.hr, row.ci_low, row.ci_high, row.p) == (source["hr"], source["ci_low"], source["ci_high"],
                                                            source["p"])
    assert [r.drawable for r in rows] == [True, True, True, True, False, False]
    assert rows[4].reason.startswith("not estimable: no events")
    plot_forest(rows, tmp_path / "forest.png")
    svg = (tmp_path / "forest.svg").read_text(encoding="utf-8")
    assert "not drawn: not estimable: no events among the 3 patients" in svg
    assert "interval not finite" in svg
    assert "2.50 (1.20–5.10), p 0.012" in svg
