"""Never a misleading number (issue 15, items 3 and 6): non-estimable hazard ratios say why instead of giving a
number, a horizon that censors most events is refused (follow-up in days read as months, on TCGA-CESC), and the
boundaries of the hypoxia rules are pinned (A exactly 1.56, HF exactly 0.27)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from HypoxiaMarkersLib.errors import InputError
from HypoxiaMarkersLib.imaging.hypoxia import classify, fraction, hypoxic_voxels
from HypoxiaMarkersLib.stats.cohort import analyse_cohort, analyse_marker
from HypoxiaMarkersLib.stats.survival import check_horizon, cox_fit


@pytest.fixture(scope="module")
def cesc(shared_data):
    return pd.read_csv(shared_data / "tcga-cesc-clinical" / "cesc_os.csv")


def test_days_read_as_months_are_refused(cesc):
    events_kept = int(((cesc.os_days <= 60) & (cesc.os_event == 1)).sum())
    n_events = int(cesc.os_event.sum())
    assert (events_kept, n_events) == (2, 71)  # by hand: a 60-"month" horizon on days keeps 2 of 71 events
    with pytest.raises(InputError, match=f"censors {n_events - events_kept} of {n_events} events") as error:
        analyse_marker(cesc.os_days, cesc.os_event, cesc.age, cutoff="optimal", name="age", horizon=60.0)
    assert "--time-unit days" in str(error.value)


def test_non_estimable_hr_is_not_a_number_and_says_why(cesc):
    result = analyse_marker(cesc.os_days, cesc.os_event, cesc.age, cutoff="optimal", name="age", horizon=60.0,
                            allow_horizon_censoring=True)
    assert len(result.warnings) == 1 and "censors 69 of 71 events" in result.warnings[0]
    # by hand: every event before day 60 is in the high-age group, none in the low group
    cut = result.cutoff.value
    early = (cesc.os_days <= 60) & (cesc.os_event == 1)
    assert early[cesc.age >= cut].sum() == 2 and early[cesc.age < cut].sum() == 0
    entry = result.to_dict()["cox_dichotomous"]
    assert entry["estimable"] is False
    assert entry["hr"] is None and entry["ci_low"] is None and entry["p"] is None
    n_low = int((cesc.age < cut).sum())
    assert f"no events among the {n_low} patients with age_high = 0" in entry["not_estimable_reason"]
    assert "infinity" in entry["not_estimable_reason"]
    assert not result.cox_dichotomous.estimable("age_high")
    assert result.cox_continuous.estimable("age")  # the continuous age HR is an estimate


def test_days_with_their_unit_give_estimable_hrs(cesc):
    horizon_days = 60 * 365.25 / 12
    result = analyse_marker(cesc.os_days, cesc.os_event, cesc.age, cutoff="optimal", name="age",
                            horizon=horizon_days, time_unit="days")
    assert result.warnings == []
    entry = result.to_dict()["cox_dichotomous"]
    assert entry["estimable"] and np.isfinite(entry["hr"]) and entry["not_estimable_reason"] is None


def test_horizon_warning_band():
    time = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], dtype=float)
    event = np.array([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0])
    assert check_horizon(time, event, 10.0) == []  # no event beyond
    assert check_horizon(time, event, 8.0) == []  # 2 of 10 censored: 20 %, not above
    warning = check_horizon(time, event, 7.0, time_unit="months")  # 3 of 10
    assert len(warning) == 1 and "censors 3 of 10 events" in warning[0] and "7 months" in warning[0]
    assert check_horizon(time, event, 5.0, allow=True)  # 5 of 10: 50 %, still a warning
    with pytest.raises(InputError, match="censors 6 of 10"):
        check_horizon(time, event, 4.0)
    assert check_horizon(time, event, None) == []


def test_monotone_continuous_covariate_is_flagged():
    time = np.arange(1.0, 21.0)
    event = np.ones(20, dtype=int)
    x = -np.arange(20.0)  # larger x, earlier event: perfectly ordered, the likelihood is monotone
    fit = cox_fit(time, event, pd.DataFrame({"x": x}), ph_check=False)
    assert not fit.estimable("x") and "monotone" in fit.not_estimable["x"]
    assert fit.coefficient("x", blank_not_estimable=True)["hr"] is None


def test_cohort_analysis_refuses_days_with_a_months_horizon(cesc):
    rng = np.random.default_rng(0)
    table = cesc.assign(hf=rng.uniform(0, 0.6, len(cesc)), score=rng.normal(0, 1, len(cesc)))
    with pytest.raises(InputError, match="censors 69 of 71 events"):
        analyse_cohort(table, id_col="patient", time_col="os_days", event_col="os_event", imaging_col="hf",
                       genes_col="score", permutations=0, optimism="none")


# ---------------------------------------------------------------------------------------------------------------
# Boundaries of the hypoxia rules: A < 1.56 is hypoxic, HF >= 0.27 is "more hypoxic", after rounding away noise


def test_a_exactly_at_the_threshold_is_not_hypoxic():
    a = np.array([1.56, 1.5599, 1.5601, 0.15 + 1.41, 1.56 - 1e-15, 1.56 + 1e-15, np.nan])
    fitted = np.ones(a.size, dtype=bool)
    assert 0.15 + 1.41 < 1.56  # floating-point noise: 1.5599999999999998, 1.56 by hand
    np.testing.assert_array_equal(hypoxic_voxels(a, fitted, 1.56), [False, True, False, False, False, False, False])
    assert not hypoxic_voxels(np.array([1.0]), np.array([False]), 1.56)[0]  # unfitted voxels never


def test_hf_exactly_at_the_cutoff_is_more_hypoxic():
    assert classify(0.27, 0.27) == "more hypoxic"
    assert classify(fraction(27, 100), 0.27) == "more hypoxic"
    assert classify(0.27 + 1e-15, 0.27) == "more hypoxic"
    assert 0.57 - 0.3 < 0.27 and classify(0.57 - 0.3, 0.27) == "more hypoxic"  # 0.26999999999999996
    assert classify(0.2699, 0.27) == "less hypoxic"
    assert classify(float("nan"), 0.27) == "not available"
