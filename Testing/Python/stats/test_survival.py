"""Survival core against R's survival package (Therneau) on real datasets.

Reference values: Testing/Python/reference/r_reference.json, written by reference/make_reference.R with R 4.2.2,
survival 3.5-3 and maxstat 0.7-25 (Debian packages). For each case the script runs, on the data after censoring
at the horizon when one is given (time > h becomes (h, censored)):

    coxph(Surv(time, event) ~ marker)                      # continuous marker; summary(): coef, se, p, tests
    coxph(Surv(time, event) ~ high)                        # high = marker >= cutoff
    coxph(Surv(time, event) ~ marker + covariates)         # factors with treatment contrasts
    survdiff(Surv(time, event) ~ high)  and  ~ factor(by)  # log-rank, 2 and k groups
    survfit(Surv(time, event) ~ high [, conf.type = "log-log" / "plain"])
    summary(survfit(...), times = horizon, extend = TRUE)
    cox.zph(fit, transform = "km", terms = TRUE / FALSE)

Datasets: rossi and gbsg2 (lifelines' copies), lung and veteran (exported from R's survival), and the TCGA
cervical cancer cohort (shared data, age as the marker, FIGO stage as a covariate).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from HypoxiaMarkersLib.errors import InputError
from HypoxiaMarkersLib.stats.survival import (
    censor_at_horizon,
    check_survival,
    cox_fit,
    encode_covariates,
    horizon_in_time_units,
    kaplan_meier,
    logrank_test,
)

from helpers.r_reference import CASES, R, load_case, reference_case

CATEGORICAL = ("celltype", "stage", "tgrade", "horTh", "menostat")


@pytest.fixture(params=CASES)
def case(request):
    return reference_case(request.param, request)


def close(actual, expected, rel, abs_=0.0):
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape
    assert np.array_equal(np.isnan(actual), np.isnan(expected))
    ok = ~np.isnan(expected)
    np.testing.assert_allclose(actual[ok], expected[ok], rtol=rel, atol=abs_)


def check_cox(fit, ref, names=None):
    close(fit.coef, ref["coef"], 1e-6)
    close(fit.se, ref["se"], 1e-6)
    close(fit.p, ref["p"], 1e-6)
    close(fit.hr, ref["hr"], 1e-6)
    close(fit.ci_low, ref["ci_low"], 1e-6)
    close(fit.ci_high, ref["ci_high"], 1e-6)
    assert fit.loglik_null == pytest.approx(ref["loglik"][0], rel=1e-10)
    assert fit.loglik == pytest.approx(ref["loglik"][1], rel=1e-10)
    assert fit.lr_chi2 == pytest.approx(ref["lr_chi2"], rel=1e-6)
    assert fit.lr_p == pytest.approx(ref["lr_p"], rel=1e-6)
    assert fit.wald_chi2 == pytest.approx(ref["wald_chi2"], rel=1e-6)
    assert fit.wald_p == pytest.approx(ref["wald_p"], rel=1e-6)
    assert fit.score_chi2 == pytest.approx(ref["score_chi2"], rel=1e-8)
    assert fit.score_p == pytest.approx(ref["score_p"], rel=1e-8)
    assert fit.n == ref["n"] and fit.events == ref["events"]
    assert fit.converged


def test_cox_univariate_continuous_and_dichotomous_match_r(case):
    name, d, r, time, event, marker = case
    check_cox(cox_fit(time, event, pd.DataFrame({"marker": marker})), r["cox_continuous"])
    high = (marker >= r["cutoff"]).astype(float)
    check_cox(cox_fit(time, event, pd.DataFrame({"high": high})), r["cox_dichotomous"])


def test_cox_multivariate_with_categorical_covariates_and_ph_check_match_r(case):
    name, d, r, time, event, marker = case
    ref = r["cox_multivariate"]
    frame = d.assign(marker=marker, time=time, event=event)
    frame = frame.dropna(subset=["time", "event", "marker"] + ref["covariates"]).reset_index(drop=True)
    design, terms = encode_covariates(frame, ["marker"] + ref["covariates"],
                                      categorical=[c for c in ref["covariates"] if c in CATEGORICAL])
    # R names indicator columns by pasting the level: celltypelarge ↔ celltype[large].
    assert [n.replace("[", "").replace("]", "") for n in design.columns] == ref["names"]
    fit = cox_fit(frame.time, frame.event, design, terms=terms)
    check_cox(fit, ref)
    zph = r["zph"]
    assert fit.ph_test.terms == ["marker"] + ref["covariates"] + ["GLOBAL"]
    close(fit.ph_test.chi2, zph["terms_chi2"], 1e-6)
    close(fit.ph_test.df, zph["terms_df"], 0)
    close(fit.ph_test.p, zph["terms_p"], 1e-6)
    # Per column (terms = FALSE in R): each indicator of a factor tested alone.
    per_column = cox_fit(frame.time, frame.event, design, terms=None)
    close(per_column.ph_test.chi2, zph["columns_chi2"], 1e-6)


def test_ph_check_univariate_matches_r(case):
    name, d, r, time, event, marker = case
    fit = cox_fit(time, event, pd.DataFrame({"marker": marker}))
    close(fit.ph_test.chi2, r["zph_univariate"]["terms_chi2"], 1e-6)
    close(fit.ph_test.p, r["zph_univariate"]["terms_p"], 1e-6)


def test_logrank_two_groups_matches_r(case):
    name, d, r, time, event, marker = case
    result = logrank_test(time, event, marker >= r["cutoff"])
    assert result.chi2 == pytest.approx(r["logrank"]["chi2"], rel=1e-8)
    assert result.p == pytest.approx(r["logrank"]["p"], rel=1e-8)
    close(result.observed, r["logrank"]["observed"], 1e-12)
    close(result.expected, r["logrank"]["expected"], 1e-10)


@pytest.mark.parametrize("name", ["lung_age", "veteran_karno", "tcga_age"])
def test_logrank_k_groups_and_km_by_group_match_r(name, request):
    shared = request.getfixturevalue("shared_data") if name.startswith("tcga") else None
    d = load_case(name, shared)
    r = R[name]
    time, event = censor_at_horizon(d.time.to_numpy(float), d.event.to_numpy(int), r["horizon"])
    by = d[r["by"]]
    keep = by.notna().to_numpy()
    labels = by[keep].astype(str).str.replace(r"\.0$", "", regex=True).to_numpy()
    result = logrank_test(time[keep], event[keep], labels)
    assert result.df == r["logrank_by"]["df"]
    assert result.chi2 == pytest.approx(r["logrank_by"]["chi2"], rel=1e-8)
    assert result.p == pytest.approx(r["logrank_by"]["p"], rel=1e-8)
    close(result.expected, r["logrank_by"]["expected"], 1e-10)
    strata = np.array(r["km_by"]["strata"])
    for level in result.groups:
        sel = strata == f"by={level}"
        km = kaplan_meier(time[keep][labels == level], event[keep][labels == level])
        close(km.time, np.array(r["km_by"]["time"])[sel], 0)
        close(km.survival, np.array(r["km_by"]["surv"])[sel], 1e-8, 1e-12)
        close(km.ci_low, np.array(r["km_by"]["lower"])[sel], 1e-8, 1e-12)


def _km_check(time, event, groups, ref, conf_type):
    strata = np.array(ref["strata"])
    for value, label in ((False, "high=0"), (True, "high=1")):
        sel = strata == label
        km = kaplan_meier(time[groups == value], event[groups == value], conf_type=conf_type)
        close(km.time, np.array(ref["time"])[sel], 0)
        close(km.n_risk, np.array(ref["n_risk"])[sel], 0)
        close(km.n_event, np.array(ref["n_event"])[sel], 0)
        close(km.n_censor, np.array(ref["n_censor"])[sel], 0)
        close(km.survival, np.array(ref["surv"])[sel], 1e-8, 1e-12)
        close(km.std_err, np.array(ref["std_err"])[sel], 1e-8, 1e-12)
        close(km.ci_low, np.array(ref["lower"])[sel], 1e-8, 1e-12)
        close(km.ci_high, np.array(ref["upper"])[sel], 1e-8, 1e-12)


def test_kaplan_meier_with_log_ci_matches_r(case):
    name, d, r, time, event, marker = case
    _km_check(time, event, marker >= r["cutoff"], r["km"], "log")


@pytest.mark.parametrize("conf_type,key", [("log-log", "km_loglog"), ("plain", "km_plain")])
def test_kaplan_meier_other_ci_types_match_r(conf_type, key):
    d = load_case("lung_age")
    r = R["lung_age"]
    _km_check(d.time.to_numpy(float), d.event.to_numpy(int), d.age.to_numpy() >= r["cutoff"], r[key], conf_type)


@pytest.mark.parametrize("name", ["rossi_age", "lung_karno", "gbsg2_age", "tcga_age"])
def test_survival_at_horizon_matches_r(name, request):
    shared = request.getfixturevalue("shared_data") if name.startswith("tcga") else None
    d = load_case(name, shared)
    r = R[name]
    horizon = r["horizon"]
    time, event = censor_at_horizon(d.time.to_numpy(float), d.event.to_numpy(int), horizon)
    assert time.max() <= horizon and not np.any((event == 1) & (d.time.to_numpy() > horizon))
    high = d[r["marker"]].to_numpy(float) >= r["cutoff"]
    ref = r["at_horizon"]
    for value, label, i in ((False, "high=0", 0), (True, "high=1", 1)):
        assert ref["strata"][i] == label
        at = kaplan_meier(time[high == value], event[high == value]).at(horizon)
        assert at["survival"] == pytest.approx(ref["surv"][i], rel=1e-10)
        assert at["ci_low"] == pytest.approx(ref["lower"][i], rel=1e-8)
        assert at["ci_high"] == pytest.approx(ref["upper"][i], rel=1e-8)
        assert at["n_risk"] == ref["n_risk"][i]


def test_horizon_censoring_and_units():
    time, event = censor_at_horizon([10, 60, 61, 100], [1, 1, 1, 0], 60)
    assert time.tolist() == [10, 60, 60, 60]
    assert event.tolist() == [1, 1, 0, 0]  # an event at the horizon stays an event
    assert horizon_in_time_units(60, "days") == pytest.approx(1826.25)
    assert horizon_in_time_units(60, "years") == pytest.approx(5.0)
    assert horizon_in_time_units(None, "days") is None
    with pytest.raises(InputError, match="time unit"):
        horizon_in_time_units(60, "fortnights")
    with pytest.raises(InputError, match="--horizon"):
        horizon_in_time_units(-5, "months")


def test_kaplan_meier_by_hand():
    # Times 1, 2+, 3, 3, 4+: S(1) = 4/5, S(3) = 4/5 · (1 − 2/3) = 4/15.
    km = kaplan_meier([1, 2, 3, 3, 4], [1, 0, 1, 1, 0])
    assert km.time.tolist() == [1, 2, 3, 4]
    assert km.n_risk.tolist() == [5, 4, 3, 1]
    assert km.survival == pytest.approx([0.8, 0.8, 4 / 15, 4 / 15])
    assert km.std_err[2] == pytest.approx(np.sqrt(1 / (5 * 4) + 2 / (3 * 1)))
    assert km.at(0.5)["survival"] == 1.0 and km.at(3.5)["survival"] == pytest.approx(4 / 15)
    assert km.numbers_at_risk([0, 2, 2.5, 4, 5]).tolist() == [5, 4, 3, 1, 0]


def test_bad_survival_input_is_refused_with_clear_messages():
    with pytest.raises(InputError, match="non-numeric value 'abc' in row 2"):
        check_survival([1, "abc", 3], [1, 0, 1], time_field="pfs")
    with pytest.raises(InputError, match="negative follow-up time -2 in row 3") as error:
        check_survival([1, 2, -2], [1, 0, 1], source="cohort.csv", time_field="pfs")
    assert error.value.source == "cohort.csv" and error.value.field == "pfs"
    with pytest.raises(InputError, match="event indicator 2 in row 1"):
        check_survival([1, 2, 3], [2, 0, 1])
    time, event = check_survival([1, None, 3], [1, 0, None])
    assert np.isnan(time[1]) and event[2] == -1  # missing values are left for the caller to exclude
    with pytest.raises(InputError, match="every patient is censored"):
        cox_fit([1, 2, 3], [0, 0, 0], pd.DataFrame({"m": [1.0, 2.0, 3.0]}))
    with pytest.raises(InputError, match="at least two groups"):
        logrank_test([1, 2, 3], [1, 0, 1], [1, 1, 1])
    with pytest.raises(InputError, match="one value"):
        encode_covariates(pd.DataFrame({"a": [1, 1, 1]}), ["a"])
    with pytest.raises(InputError, match="not found"):
        encode_covariates(pd.DataFrame({"a": [1, 2, 3]}), ["b"])
    with pytest.raises(InputError, match="unknown confidence"):
        kaplan_meier([1, 2], [1, 1], conf_type="arcsin")
