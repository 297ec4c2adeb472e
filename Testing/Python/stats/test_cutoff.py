"""Optimal cutoffs against R's maxstat on real datasets, and the honesty of their p-values.

Reference: reference/make_reference.R runs, for each case (after horizon censoring),

    maxstat.test(Surv(time, event) ~ marker, data, smethod = "LogRank", pmethod = "Lau92",
                 minprop = minprop, maxprop = 1 - minprop)     # and pmethod = "Lau94"

and stores the statistic, the estimated cutpoint, both p-values and the statistic at every cut.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from HypoxiaMarkersLib.errors import InputError
from HypoxiaMarkersLib.stats.cutoff import (
    LogRankSplits,
    RankStandardisation,
    fixed_cutoff,
    logrank_scores,
    optimal_cutoff,
    p_lausen_schumacher_1992,
    p_lausen_schumacher_1994,
    score_statistics,
)

from helpers.r_reference import CASES, reference_case


def load(case, request):
    _, _, r, time, event, marker = reference_case(case, request)
    return r, time, event, marker


@pytest.mark.parametrize("case", CASES)
def test_maxstat_statistic_cutpoint_and_lausen_schumacher_match_r(case, request):
    r, time, event, marker = load(case, request)
    ref = r["maxstat"]
    result = optimal_cutoff(time, event, marker, min_prop=ref["minprop"], max_prop=ref["maxprop"])
    assert result.statistic == pytest.approx(ref["statistic"], rel=1e-10)
    assert result.maxstat_estimate == ref["estimate"]  # exactly the same cutpoint
    # Our "high" starts at the next observed value above R's cutpoint (low: marker <= estimate).
    assert result.value == np.min(marker[marker > ref["estimate"]])
    np.testing.assert_array_equal(result.cuts, ref["cuts"])
    np.testing.assert_allclose(result.stats, ref["stats"], rtol=1e-10)
    assert result.p_lausen_schumacher_1992 == pytest.approx(min(ref["p_lau92"], 1.0), rel=1e-8, abs=1e-14)
    assert result.p_lausen_schumacher_1994 == pytest.approx(min(ref["p_lau94"], 1.0), rel=1e-8, abs=1e-14)
    assert result.n_low == np.sum(marker <= ref["estimate"])


@pytest.mark.parametrize("case", CASES)
def test_score_statistics_equal_r_maxstat_at_every_cut(case, request):
    # The vectorised statistic of any membership matrix (used by the composite search) against maxstat's value at
    # each of its cuts: R's low group is marker <= cut, so "high" is marker > cut.
    r, time, event, marker = load(case, request)
    ref = r["maxstat"]
    high = marker[None, :] > np.asarray(ref["cuts"], dtype=float)[:, None]
    z = score_statistics(logrank_scores(time, event), high)
    np.testing.assert_allclose(np.abs(z), ref["stats"], rtol=1e-10)


@pytest.mark.parametrize("m", [1, 2, 3, 5])
def test_rank_standardisation_has_permutation_mean_0_and_variance_1(m):
    # Exactly what a permutation standardisation means: over all 720 equally likely orders of the scores, the
    # standardised sum of the first m has mean 0 and variance 1 (an identity, independent of the formula).
    scores = np.array([0.9, -0.4, 0.3, -1.2, 0.0, 0.4])
    orders = np.array(list(itertools.permutations(range(scores.size))))
    z = RankStandardisation(scores).standardise(scores[orders][:, :m].sum(axis=1), m)
    assert np.mean(z) == pytest.approx(0.0, abs=1e-12)
    assert np.mean(z ** 2) == pytest.approx(1.0, rel=1e-12)


def test_logrank_scores_follow_exact_rank_tests_convention():
    # exactRankTests::cscores(Surv(c(1,2,2,3,2,0), c(1,1,0,1,1,0)), type = "LogRank") in R 4.2.2:
    expected = [0.8, -0.2, -1.2, -1.2, -0.2, 0.0]
    np.testing.assert_allclose(logrank_scores([1, 2, 2, 3, 2, 0], [1, 1, 0, 1, 1, 0]), expected, atol=1e-15)


def test_lausen_schumacher_formulas_by_hand():
    b = 2.5
    phi = stats.norm.pdf(b)
    by_hand = 4 * phi / b + phi * (b - 1 / b) * np.log(0.9 * 0.9 / (0.1 * 0.1))
    assert p_lausen_schumacher_1992(b, 0.1, 0.9) == pytest.approx(by_hand, rel=1e-14)
    assert p_lausen_schumacher_1992(0.5) == 1.0
    n, m = 50, np.array([5, 10, 20])
    t = np.sqrt(1 - m[:-1] * (n - m[1:]) / ((n - m[:-1]) * m[1:]))
    by_hand = 2 * stats.norm.sf(b) + np.sum(np.exp(-b * b / 2) / np.pi * (t - (b * b / 4 - 1) * t ** 3 / 6))
    assert p_lausen_schumacher_1994(b, n, m) == pytest.approx(by_hand, rel=1e-14)
    assert p_lausen_schumacher_1994(b, n, [7]) == pytest.approx(2 * stats.norm.sf(b), rel=1e-14)


def test_permutation_p_value_is_reproducible_and_close_to_the_exact_small_sample_truth():
    # Small cohort: enumerate enough permutations to know the permutation distribution well.
    rng = np.random.default_rng(4)
    n = 40
    marker = rng.normal(size=n)
    time = rng.exponential(10, n).round(1)
    event = rng.integers(0, 2, n)
    a = optimal_cutoff(time, event, marker, permutations=2000, seed=9)
    b = optimal_cutoff(time, event, marker, permutations=2000, seed=9)
    assert a.p_permutation == b.p_permutation
    reference = optimal_cutoff(time, event, marker, permutations=20000, seed=1)
    # Two Monte Carlo estimates of the same p agree within their sampling error.
    assert abs(a.p_permutation - reference.p_permutation) < 4 * np.sqrt(reference.p_permutation / 2000) + 1e-3
    assert a.p_permutation >= a.p_unadjusted  # selection can only make the evidence weaker


def test_adjusted_p_values_are_calibrated_under_the_null_while_the_naive_one_is_not():
    rng = np.random.default_rng(0)
    naive, lau94, perm = [], [], []
    for i in range(150):
        n = 80
        marker = rng.normal(size=n)
        time = rng.exponential(20, n)
        event = (rng.random(n) < 0.7).astype(int)
        result = optimal_cutoff(time, event, marker, permutations=99, seed=i)
        naive.append(result.p_unadjusted)
        lau94.append(result.p_lausen_schumacher_1994)
        perm.append(result.p_permutation)
    naive, lau94, perm = map(np.array, (naive, lau94, perm))
    assert np.mean(naive <= 0.05) > 0.25
    assert np.mean(perm <= 0.05) < 0.1
    assert stats.kstest(perm, "uniform").pvalue > 0.01
    assert np.mean(lau94 <= 0.05) < 0.1  # conservative bound


def test_vectorised_logrank_equals_lifelines_for_many_splits():
    from lifelines.statistics import logrank_test as lifelines_logrank

    rng = np.random.default_rng(2)
    n = 70
    time = rng.integers(1, 30, n).astype(float)
    event = rng.integers(0, 2, n)
    high = rng.random((25, n)) < 0.4
    z = LogRankSplits(time, event).z(high)
    for row, value in zip(high, z):
        ref = lifelines_logrank(time[row], time[~row], event[row], event[~row]).test_statistic
        assert value ** 2 == pytest.approx(ref, rel=1e-10)


def test_fixed_cutoff_and_bad_input():
    time = np.arange(1.0, 21.0)
    event = np.ones(20, dtype=int)
    marker = np.r_[np.zeros(10), np.ones(10)]
    fixed = fixed_cutoff(time, event, marker, 1.0)
    assert fixed.method == "fixed" and fixed.n_high == 10 and fixed.p_lausen_schumacher_1992 is None
    with pytest.raises(InputError, match="every patient in one group"):
        fixed_cutoff(time, event, marker, 5.0)
    with pytest.raises(InputError, match="only one value"):
        optimal_cutoff(time, event, np.ones(20))
    with pytest.raises(InputError, match="no cutoff leaves"):
        optimal_cutoff(time[:4], event[:4], [1.0, 1.0, 1.0, 2.0], min_prop=0.4)
    with pytest.raises(InputError, match="--min-prop"):
        optimal_cutoff(time, event, marker, min_prop=0.7)
