"""Composite score HScomp and the separating-line search (SPEC §4.4): truth from planted synthetic cohorts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from HypoxiaMarkersLib.errors import InputError
from HypoxiaMarkersLib.stats.composite import (
    CandidateLines,
    candidate_lines,
    cox_log_hr,
    hscomp,
    optimism_corrected_hr,
    permutation_maxima,
    permutation_test,
    search_line,
)
from HypoxiaMarkersLib.stats.cutoff import LogRankSplits
from HypoxiaMarkersLib.stats.survival import cox_fit, logrank_test


def planted_cohort(seed, n=118, x0=0.45, y0=0.9, hazard_ratio=6.0, null=False, base_rate=0.01):
    """HF ~ Beta(1.5, 4), gene score ~ N(0, 0.6); exponential PFS with the planted HR across the planted line."""
    rng = np.random.default_rng(seed)
    x = rng.beta(1.5, 4.0, n)
    y = rng.normal(0.0, 0.6, n)
    more = (x / x0 + y / y0 - 1.0) >= 0
    rate = base_rate * (np.ones(n) if null else np.where(more, hazard_ratio, 1.0))
    event_time = rng.exponential(1.0 / rate)
    censor = rng.uniform(30.0, 120.0, n)
    time = np.minimum(event_time, censor)
    event = (event_time <= censor).astype(int)
    return x, y, time, event, more


def test_hscomp_is_signed_distance_to_the_line():
    x0, y0 = 0.4, 0.8
    # Points on the line have HScomp 0; the origin is at distance −x0·y0/hypot(x0, y0) (on the less hypoxic side).
    on_line = np.array([0.0, 0.2, 0.4])
    assert np.allclose(hscomp(on_line, y0 - y0 / x0 * on_line, x0, y0), 0.0, atol=1e-15)
    assert hscomp(0.0, 0.0, x0, y0) == pytest.approx(-x0 * y0 / np.hypot(x0, y0), rel=1e-14)
    # Moving by t along the unit normal (1/x0, 1/y0)/|·| changes HScomp by exactly t.
    normal = np.array([1 / x0, 1 / y0]) / np.hypot(1 / x0, 1 / y0)
    start = np.array([0.1, y0 - y0 / x0 * 0.1])
    for t in (-0.3, 0.05, 0.7):
        point = start + t * normal
        assert hscomp(point[0], point[1], x0, y0) == pytest.approx(t, abs=1e-14)
    with pytest.raises(InputError, match="x0"):
        hscomp([0.1], [0.1], -1.0, 0.5)


def test_candidate_lines_are_distinct_valid_splits_reproduced_by_their_lines():
    x, y, *_ = planted_cohort(1, n=80)
    lines = candidate_lines(x, y, n_directions=30, min_prop=0.1)
    high = lines.high
    n_high = high.sum(axis=1)
    assert np.all(n_high >= 8) and np.all(high.shape[1] - n_high >= 8)
    assert np.unique(np.packbits(high, axis=1), axis=0).shape[0] == high.shape[0]  # no duplicates
    assert np.all(lines.x0 > 0) and np.all(lines.y0 > 0)
    # Each representative line reproduces its split, with no patient on the line.
    scores = hscomp(x[None, :], y[None, :], lines.x0[:, None], lines.y0[:, None])
    assert np.array_equal(scores >= 0, high)
    assert np.min(np.abs(scores)) > 0


def test_vectorised_split_statistics_equal_per_split_references():
    x, y, time, event, _ = planted_cohort(2, n=60)
    time = np.round(time)  # ties
    lines = candidate_lines(x, y, n_directions=10)
    rows = lines.high[:: max(1, lines.high.shape[0] // 15)]
    z = LogRankSplits(time, event).z(rows)
    chi2 = np.array([logrank_test(time, event, r).chi2 for r in rows])
    assert np.allclose(z ** 2, chi2, rtol=1e-10)
    # Sign: positive when the high group has more events than expected.
    observed = np.array([logrank_test(time, event, r) for r in rows])
    for zi, lr in zip(z, observed):
        assert np.sign(zi) == np.sign(lr.observed[1] - lr.expected[1])
    # (The score statistic of a split is checked against R's maxstat in test_cutoff.py.)


@pytest.mark.parametrize("alternative, moment", [("greater", 1), ("two-sided", 2)])
def test_score_permutations_are_standardised(alternative, moment):
    # One candidate split: each permutation's "maximum" is that split's standardised statistic, whose permutation
    # mean is 0 and variance 1 whatever the outcome. 20000 draws: SE about 0.007 (mean) and 0.01 (mean of Z²).
    x, y, time, event, _ = planted_cohort(5, n=30)
    lines = candidate_lines(x, y, n_directions=4)
    one = CandidateLines(high=lines.high[:1], x0=lines.x0[:1], y0=lines.y0[:1], n_grid_lines=1, n_directions=1,
                         min_size=lines.min_size)
    maxima = permutation_maxima(one, time, event, permutations=20000, seed=1, statistic="score",
                                alternative=alternative)
    if moment == 1:
        assert np.mean(maxima) == pytest.approx(0.0, abs=0.03)
        assert np.var(maxima) == pytest.approx(1.0, abs=0.05)
    else:
        assert np.mean(maxima ** 2) == pytest.approx(1.0, abs=0.05) and np.all(maxima >= 0)


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_search_recovers_planted_line_and_hazard_ratio(seed):
    # 200 patients, HR 5 across the line x/0.45 + y/0.9 = 1 (≈ 20% more hypoxic), about half with events.
    x, y, time, event, truth = planted_cohort(seed, n=200, hazard_ratio=5.0, base_rate=0.02)
    found = search_line(x, y, time, event)
    agreement = np.mean(found.high == truth)
    assert agreement >= 0.95, agreement
    fit = cox_fit(time, event, _frame(found.high), ph_check=False)
    assert fit.ci_low[0] <= 5.0 <= fit.ci_high[0]
    assert found.z > 0  # the more hypoxic side does worse


def _frame(high):
    import pandas as pd

    return pd.DataFrame({"composite_high": high.astype(float)})


@pytest.mark.slow
def test_permutation_p_is_uniform_under_the_null_and_naive_p_is_not():
    p_perm, p_naive = [], []
    for seed in range(200):
        x, y, time, event, _ = planted_cohort(1000 + seed, n=50, null=True)
        found = search_line(x, y, time, event, n_directions=12)
        p_naive.append(found.p_unadjusted)
        p_perm.append(permutation_test(found, time, event, permutations=99, seed=seed))
    p_perm = np.array(p_perm)
    p_naive = np.array(p_naive)
    # Permutation p-values take values k/100: compare with the uniform distribution on that grid.
    assert stats.kstest(p_perm, "uniform").pvalue > 0.01
    assert 0.0 <= np.mean(p_perm <= 0.05) <= 0.15
    assert abs(np.mean(p_perm) - 0.5) < 0.1
    # The naive p of the maximum is far too small: most null searches look "significant".
    assert np.mean(p_naive <= 0.05) > 0.5
    assert stats.kstest(p_naive, "uniform").pvalue < 1e-6


def test_permutation_p_small_for_a_real_effect():
    x, y, time, event, _ = planted_cohort(21, n=118, hazard_ratio=6.0)
    found = search_line(x, y, time, event)
    assert permutation_test(found, time, event, permutations=199, seed=3) == pytest.approx(1 / 200)


@pytest.mark.slow
def test_one_sided_search_looks_for_the_direction_hypoxia_acts_in():
    """A cohort where the planted line's "more hypoxic" side does BETTER: only the two-sided search finds it."""
    x, y, time, event, more = planted_cohort(5, n=150, hazard_ratio=1 / 6.0)
    two_sided = search_line(x, y, time, event, alternative="two-sided")
    greater = search_line(x, y, time, event, alternative="greater")
    assert two_sided.z < 0 and two_sided.statistic == pytest.approx(-two_sided.z)
    assert np.mean(two_sided.high == more) >= 0.9
    assert greater.statistic == pytest.approx(greater.z) and greater.statistic < two_sided.statistic
    assert greater.p_unadjusted == pytest.approx(stats.norm.sf(greater.z))
    assert two_sided.p_unadjusted == pytest.approx(2 * stats.norm.sf(abs(two_sided.z)))
    # the permutation test follows the search's direction: the protective effect is no evidence for "greater"
    assert permutation_test(greater, time, event, permutations=199, seed=1) > 0.2
    assert permutation_test(two_sided, time, event, permutations=199, seed=1) < 0.05
    with pytest.raises(InputError, match="alternative"):
        search_line(x, y, time, event, alternative="less-ish")


def test_cox_log_hr_matches_cox_fit():
    x, y, time, event, truth = planted_cohort(5, n=90)
    time = np.round(time)
    fit = cox_fit(time, event, _frame(truth), ph_check=False)
    assert cox_log_hr(time, event, truth) == pytest.approx(fit.coef[0], rel=1e-9)
    # A group without events: the likelihood has no maximum.
    no_events = event.copy()
    no_events[truth] = 0
    assert cox_log_hr(time, no_events, truth) == -np.inf


@pytest.mark.slow
def test_optimism_correction_shrinks_the_apparent_hr_towards_the_truth():
    # Under the null the apparent HR of the best line is far from 1; the corrected one is much closer.
    x, y, time, event, _ = planted_cohort(31, n=80, null=True)
    boot = optimism_corrected_hr(x, y, time, event, method="bootstrap", resamples=40, seed=1, n_directions=20)
    assert boot.apparent_hr > 1.8 or boot.apparent_hr < 1 / 1.8
    assert abs(np.log(boot.corrected_hr)) < abs(np.log(boot.apparent_hr)) - 0.3
    assert boot.resamples_used >= 35
    cv = optimism_corrected_hr(x, y, time, event, method="cv", resamples=3, folds=5, seed=1, n_directions=20)
    assert abs(np.log(cv.corrected_hr)) < abs(np.log(cv.apparent_hr))
    # With a real effect the corrected HR stays well above 1.
    x, y, time, event, _ = planted_cohort(32, n=118, hazard_ratio=6.0)
    real = optimism_corrected_hr(x, y, time, event, resamples=30, seed=2, n_directions=30)
    assert real.corrected_hr > 3.0
    assert real.corrected_hr < real.apparent_hr


def test_search_refuses_what_it_cannot_do():
    x, y, time, event, _ = planted_cohort(7, n=15)
    with pytest.raises(InputError, match="cannot make two groups"):
        candidate_lines(x, y, min_size=8)
    with pytest.raises(InputError, match="one value"):
        candidate_lines(np.full(15, 0.3), y)
    with pytest.raises(InputError, match="statistic"):
        search_line(x, y, time, event, statistic="wilcoxon")
