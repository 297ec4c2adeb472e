"""Survival core: follow-up horizon, Kaplan–Meier, log-rank test, Cox proportional hazards, PH check.

Progression-free survival (PFS) in the method is followed up to a horizon (default 60 months): later follow-up
is censored at the horizon (Fjeldbo et al., EBioMedicine 2020;57:102841; SPEC §4.2).

The numbers follow R's ``survival`` package (Therneau), which the tests compare with on real datasets:

- :func:`kaplan_meier` is ``survfit`` (Greenwood variance, ``conf.type = "log"`` by default, also ``"log-log"``
  and ``"plain"``), reported at every distinct time like ``survfit``;
- :func:`logrank_test` is ``survdiff`` (two or more groups);
- :func:`cox_fit` fits with lifelines (Efron ties, as ``coxph``) and adds what ``summary(coxph)`` reports:
  Wald, likelihood-ratio and score tests;
- :func:`ph_test` is ``cox.zph(fit, transform = "km")`` of survival ≥ 3.0: the score test for adding
  ``x · g(t)`` terms, per covariate (a categorical covariate is one term) and global.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import InputError

#: Length of one month in each supported time unit (a month is 365.25 / 12 days).
TIME_UNITS_PER_MONTH = {"days": 365.25 / 12.0, "weeks": 365.25 / 12.0 / 7.0, "months": 1.0, "years": 1.0 / 12.0}

CONF_TYPES = ("log", "log-log", "plain")


# --------------------------------------------------------------------------------------------------------------
# Input checks and the horizon
# --------------------------------------------------------------------------------------------------------------


def as_numeric(values, *, source: Optional[str] = None, field: Optional[str] = None) -> np.ndarray:
    """Convert a column to float; empty cells become NaN, text that is not a number is an :class:`InputError`."""
    series = pd.Series(values)
    if series.dtype == bool:
        return series.to_numpy(dtype=float)
    converted = pd.to_numeric(series, errors="coerce")
    bad = converted.isna() & series.notna() & (series.astype(str).str.strip() != "")
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"non-numeric value {series.iloc[first]!r} in row {first + 1}",
            source=source, field=field, expected="numbers",
        )
    return converted.to_numpy(dtype=float)


def check_survival(time, event, *, source: Optional[str] = None, time_field: str = "time",
                   event_field: str = "event") -> Tuple[np.ndarray, np.ndarray]:
    """Validate follow-up times and event indicators and return them as float and int arrays.

    Missing values are kept as NaN (time) and -1 (event) so that the caller can drop those patients and say how
    many were dropped; everything else that is wrong is an :class:`InputError`.

    Parameters
    ----------
    time, event : array-like
        Follow-up time (any unit, ≥ 0) and event indicator (1 = event, 0 = censored).
    source, time_field, event_field : str
        Where the values came from, for the error message.

    Returns
    -------
    time : ndarray of float
    event : ndarray of int (-1 where missing)
    """
    time = as_numeric(time, source=source, field=time_field)
    event_values = as_numeric(event, source=source, field=event_field)
    if time.shape != event_values.shape:
        raise InputError("time and event have different lengths", source=source, field=event_field)
    finite_time = time[np.isfinite(time)]
    if np.any(finite_time < 0):
        row = int(np.flatnonzero(time < 0)[0])
        raise InputError(f"negative follow-up time {time[row]:g} in row {row + 1}", source=source,
                         field=time_field, expected="times ≥ 0")
    if np.any(np.isinf(time)):
        raise InputError("infinite follow-up time", source=source, field=time_field, expected="finite times")
    known = np.isfinite(event_values)
    if np.any(~np.isin(event_values[known], (0.0, 1.0))):
        row = int(np.flatnonzero(known & ~np.isin(event_values, (0.0, 1.0)))[0])
        raise InputError(f"event indicator {event_values[row]:g} in row {row + 1}", source=source,
                         field=event_field, expected="0 (censored) or 1 (event)")
    event_int = np.where(known, event_values, -1).astype(int)
    return time, event_int


def horizon_in_time_units(horizon_months: Optional[float], time_unit: str) -> Optional[float]:
    """Convert a horizon in months to the table's time unit (``None`` means no horizon)."""
    if horizon_months is None:
        return None
    if time_unit not in TIME_UNITS_PER_MONTH:
        raise InputError(f"unknown time unit {time_unit!r}", source="--time-unit",
                         expected=", ".join(TIME_UNITS_PER_MONTH))
    if not np.isfinite(horizon_months) or horizon_months <= 0:
        raise InputError(f"horizon {horizon_months!r} is not a positive number of months", source="--horizon",
                         expected="a positive number of months or 'none'")
    return float(horizon_months) * TIME_UNITS_PER_MONTH[time_unit]


#: Refuse a horizon that would censor more than this share of the events (e.g. follow-up in days read as months).
HORIZON_MAX_CENSORED_EVENTS = 0.5
#: Warn when the horizon censors more than this share of the events.
HORIZON_WARN_CENSORED_EVENTS = 0.2


def check_horizon(time, event, horizon: Optional[float], *, allow: bool = False, source: Optional[str] = None,
                  time_unit: Optional[str] = None) -> List[str]:
    """Refuse (or warn about) a horizon that censors many of the events, before censoring at it.

    A follow-up table in days analysed with a horizon in months (60 "days") keeps a handful of events and gives
    numbers that look like results. More than :data:`HORIZON_MAX_CENSORED_EVENTS` of the events beyond the horizon
    is an error unless ``allow``; more than :data:`HORIZON_WARN_CENSORED_EVENTS` gives a warning.

    Parameters
    ----------
    time, event : array-like
        Follow-up and 0/1 events (missing values, NaN time or negative event, are ignored).
    horizon : float or None
        In the unit of ``time``; None: nothing to check.
    allow : bool
        Accept a horizon that censors most events (with a warning).
    source, time_unit : str, optional
        For the message.

    Returns
    -------
    list of str
        Warnings (empty when the horizon keeps most events).
    """
    if horizon is None:
        return []
    time = np.asarray(time, dtype=float)
    event = np.asarray(event)
    events = np.isfinite(time) & (event == 1)
    n_events = int(events.sum())
    beyond = int((events & (time > horizon)).sum())
    if n_events == 0 or beyond / n_events <= HORIZON_WARN_CENSORED_EVENTS:
        return []
    unit = f" {time_unit}" if time_unit else " (the table's time unit)"
    followup = float(np.nanmedian(time[np.isfinite(time)]))
    text = (f"the horizon {horizon:g}{unit} censors {beyond} of {n_events} events ({100 * beyond / n_events:.0f} %); "
            f"the median follow-up is {followup:g}")
    if beyond / n_events > HORIZON_MAX_CENSORED_EVENTS and not allow:
        raise InputError(
            text + ": are the times in another unit (--time-unit days for days)?", source=source, field="horizon",
            expected="a time unit and horizon that keep most events (--time-unit, --horizon MONTHS or none; "
                     "to censor them anyway: --allow-horizon-censoring)",
        )
    return [text + "; check --time-unit and --horizon"]


def censor_at_horizon(time, event, horizon: Optional[float]) -> Tuple[np.ndarray, np.ndarray]:
    """Censor follow-up beyond ``horizon`` at the horizon (an event exactly at the horizon stays an event).

    Parameters
    ----------
    time, event : array-like
        Follow-up times and 0/1 events.
    horizon : float or None
        In the same unit as ``time``; ``None`` leaves the data unchanged.
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=int)
    if horizon is None:
        return time.copy(), event.copy()
    beyond = time > horizon
    return np.where(beyond, horizon, time), np.where(beyond, 0, event)


def _z(conf_level: float) -> float:
    if not 0.0 < conf_level < 1.0:
        raise InputError(f"confidence level {conf_level} is not between 0 and 1", field="conf_level")
    return float(stats.norm.ppf(1.0 - (1.0 - conf_level) / 2.0))


# --------------------------------------------------------------------------------------------------------------
# Kaplan–Meier
# --------------------------------------------------------------------------------------------------------------


@dataclass
class KaplanMeier:
    """A Kaplan–Meier estimate at every distinct follow-up time (as R's ``survfit``).

    ``std_err`` is the Greenwood standard error of −log S (R's ``std.err``); ``ci_low``/``ci_high`` the pointwise
    confidence interval of type ``conf_type``; NaN where it is undefined (S = 0, or S = 1 for log-log).
    """

    time: np.ndarray
    n_risk: np.ndarray
    n_event: np.ndarray
    n_censor: np.ndarray
    survival: np.ndarray
    std_err: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    conf_type: str = "log"
    conf_level: float = 0.95
    n: int = 0

    def at(self, t: float) -> Dict[str, float]:
        """Survival, its CI and the number at risk at time ``t`` (the step function's value, as
        ``summary(fit, times = t, extend = TRUE)``)."""
        index = int(np.searchsorted(self.time, t, side="right")) - 1
        n_risk = int(self._n_at_risk(np.array([t], dtype=float))[0])
        if index < 0:
            return {"time": float(t), "survival": 1.0, "ci_low": 1.0, "ci_high": 1.0, "n_risk": n_risk}
        return {"time": float(t), "survival": float(self.survival[index]), "ci_low": float(self.ci_low[index]),
                "ci_high": float(self.ci_high[index]), "n_risk": n_risk}

    def _n_at_risk(self, times: np.ndarray) -> np.ndarray:
        # Number with follow-up ≥ t: the n_risk of the first distinct time ≥ t, or 0 beyond the last time.
        index = np.searchsorted(self.time, times, side="left")
        padded = np.append(self.n_risk, 0)
        return padded[index]

    def numbers_at_risk(self, times: Sequence[float]) -> np.ndarray:
        """Numbers at risk (follow-up ≥ t) at the given times, for the table under a KM plot."""
        return self._n_at_risk(np.asarray(times, dtype=float)).astype(int)

    def step(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Times and values of the step function starting at (0, 1): (time, survival, ci_low, ci_high)."""
        time = np.concatenate([[0.0], self.time])
        return (time, np.concatenate([[1.0], self.survival]), np.concatenate([[1.0], self.ci_low]),
                np.concatenate([[1.0], self.ci_high]))

    def to_dict(self) -> dict:
        return {
            "conf_type": self.conf_type, "conf_level": self.conf_level, "n": self.n,
            "time": self.time, "n_risk": self.n_risk, "n_event": self.n_event, "n_censor": self.n_censor,
            "survival": self.survival, "std_err": self.std_err, "ci_low": self.ci_low, "ci_high": self.ci_high,
        }


def kaplan_meier(time, event, *, conf_level: float = 0.95, conf_type: str = "log") -> KaplanMeier:
    """Kaplan–Meier estimate with Greenwood confidence intervals.

    Parameters
    ----------
    time, event : array-like
        Follow-up times and 0/1 events (already checked and censored at the horizon).
    conf_level : float
        Confidence level of the pointwise interval (default 0.95).
    conf_type : {"log", "log-log", "plain"}
        Scale of the interval; ``"log"`` is R's default, ``"log-log"`` lifelines' default.

    Returns
    -------
    KaplanMeier
    """
    if conf_type not in CONF_TYPES:
        raise InputError(f"unknown confidence interval type {conf_type!r}", field="conf_type",
                         expected=", ".join(CONF_TYPES))
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=int)
    z = _z(conf_level)
    unique, inverse = np.unique(time, return_inverse=True)
    n_event = np.bincount(inverse, weights=event, minlength=unique.size)
    n_total = np.bincount(inverse, minlength=unique.size).astype(float)
    n_censor = n_total - n_event
    # Number at risk at each distinct time: everybody whose follow-up is that long or longer.
    n_risk = time.size - np.concatenate([[0.0], np.cumsum(n_total)[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.cumprod(1.0 - n_event / n_risk)
        greenwood = np.cumsum(np.where(n_event > 0, n_event / (n_risk * (n_risk - n_event)), 0.0))
        # Undefined once the curve reaches 0 (R reports NaN there, too).
        std_err = np.where(survival > 0, np.sqrt(greenwood), np.nan)
        ci_low, ci_high = _km_interval(survival, std_err, z, conf_type)
    return KaplanMeier(time=unique, n_risk=n_risk.astype(int), n_event=n_event.astype(int),
                       n_censor=n_censor.astype(int), survival=survival, std_err=std_err, ci_low=ci_low,
                       ci_high=ci_high, conf_type=conf_type, conf_level=conf_level, n=int(time.size))


def _km_interval(surv: np.ndarray, se: np.ndarray, z: float, conf_type: str) -> Tuple[np.ndarray, np.ndarray]:
    # The same transformations as R's survfit (upper limit capped at 1 for "log" and "plain").
    if conf_type == "plain":
        half = z * se * surv
        return np.maximum(surv - half, 0.0), np.minimum(surv + half, 1.0)
    if conf_type == "log":
        s = np.where(surv > 0, surv, np.nan)
        return np.exp(np.log(s) - z * se), np.minimum(np.exp(np.log(s) + z * se), 1.0)
    s = np.where((surv > 0) & (surv < 1), surv, np.nan)
    shift = z * se / np.log(s)
    loglog = np.log(-np.log(s))
    return np.exp(-np.exp(loglog - shift)), np.exp(-np.exp(loglog + shift))


# --------------------------------------------------------------------------------------------------------------
# Log-rank test
# --------------------------------------------------------------------------------------------------------------


@dataclass
class LogRankResult:
    """Log-rank (Mantel–Haenszel) test of two or more groups, as R's ``survdiff``."""

    chi2: float
    df: int
    p: float
    groups: List
    n: np.ndarray
    observed: np.ndarray
    expected: np.ndarray
    variance: np.ndarray = field(repr=False, default=None)

    def to_dict(self) -> dict:
        return {"chi2": self.chi2, "df": self.df, "p": self.p, "groups": [_plain(g) for g in self.groups],
                "n": self.n, "observed": self.observed, "expected": self.expected}


def _plain(value):
    if isinstance(value, (np.generic,)):
        return value.item()
    return value


def logrank_test(time, event, groups) -> LogRankResult:
    """Log-rank test of equal survival in two or more groups.

    Parameters
    ----------
    time, event : array-like
        Follow-up times and 0/1 events.
    groups : array-like
        Group label of each patient (at least two distinct labels).

    Returns
    -------
    LogRankResult
        ``chi2`` on ``df = groups − 1`` degrees of freedom and its p-value, observed and expected events.
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=int)
    labels, group_index = np.unique(np.asarray(groups), return_inverse=True)
    k = labels.size
    if k < 2:
        raise InputError("the log-rank test needs at least two groups", field="groups",
                         expected="two or more distinct groups")
    event_times = np.unique(time[event == 1])
    # At-risk counts per group at each event time (k × J), from each group's sorted follow-up times.
    n_risk = np.empty((k, event_times.size))
    n_dead = np.empty((k, event_times.size))
    for g in range(k):  # loop over groups (2–4), not over patients
        t_g = np.sort(time[group_index == g])
        n_risk[g] = t_g.size - np.searchsorted(t_g, event_times, side="left")
        dead_g = np.sort(time[(group_index == g) & (event == 1)])
        n_dead[g] = np.searchsorted(dead_g, event_times, side="right") - np.searchsorted(dead_g, event_times,
                                                                                          side="left")
    n_all = n_risk.sum(axis=0)
    d_all = n_dead.sum(axis=0)
    observed = n_dead.sum(axis=1)
    expected = (d_all * n_risk / n_all).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(n_all > 1, d_all * (n_all - d_all) / (n_all * n_all * (n_all - 1.0)), 0.0)
    # Hypergeometric covariance: V_gh = Σ_j f_j n_gj (δ_gh n_j − n_hj).
    variance = np.einsum("j,gj,hj->gh", factor, n_risk, -n_risk)
    variance[np.diag_indices(k)] += (factor * n_risk * n_all).sum(axis=1)
    diff = observed - expected
    # survdiff uses a generalised inverse; dropping the last group is the same for a full-rank (k−1) block.
    sub = variance[:-1, :-1]
    chi2 = float(diff[:-1] @ np.linalg.pinv(sub) @ diff[:-1]) if k > 1 else 0.0
    df = k - 1
    p = float(stats.chi2.sf(chi2, df))
    n = np.bincount(group_index, minlength=k)
    return LogRankResult(chi2=chi2, df=df, p=p, groups=list(labels), n=n, observed=observed, expected=expected,
                         variance=variance)


# --------------------------------------------------------------------------------------------------------------
# Cox proportional hazards
# --------------------------------------------------------------------------------------------------------------


@dataclass
class PHTest:
    """Proportional-hazards check (R's ``cox.zph``, transform "km"): chi² per term and global."""

    terms: List[str]
    chi2: np.ndarray
    df: np.ndarray
    p: np.ndarray
    transform: str = "km"

    def to_dict(self) -> dict:
        return {"transform": self.transform,
                "terms": [{"term": t, "chi2": c, "df": int(d), "p": p}
                          for t, c, d, p in zip(self.terms, self.chi2, self.df, self.p)]}


@dataclass
class CoxResult:
    """A Cox proportional-hazards fit (Efron ties) with the tests ``summary(coxph)`` reports."""

    names: List[str]
    coef: np.ndarray
    se: np.ndarray
    z: np.ndarray
    p: np.ndarray
    hr: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    loglik_null: float
    loglik: float
    lr_chi2: float
    lr_df: int
    lr_p: float
    wald_chi2: float
    wald_p: float
    score_chi2: float
    score_p: float
    n: int
    events: int
    converged: bool
    terms: Dict[str, List[str]] = field(default_factory=dict)
    conf_level: float = 0.95
    ph_test: Optional[PHTest] = None
    #: Coefficient name → why its HR cannot be estimated (no events in one group, monotone likelihood, not finite).
    not_estimable: Dict[str, str] = field(default_factory=dict)

    def estimable(self, name: str) -> bool:
        """False when the HR of ``name`` is not an estimate (see :attr:`not_estimable` for why)."""
        return name not in self.not_estimable

    def coefficient(self, name: str, *, blank_not_estimable: bool = False) -> dict:
        """HR, CI and Wald p of one coefficient, in the form of the results JSON.

        ``estimable`` says whether the HR is an estimate and ``not_estimable_reason`` why not. With
        ``blank_not_estimable`` (what the results JSON uses) a coefficient that cannot be estimated has None (JSON
        null) instead of its HR, CI, p and coefficient: never a number that is not an estimate. Anything shown to a
        reader must use it or check ``estimable``.
        """
        i = self.names.index(name)
        entry = {"hr": float(self.hr[i]), "ci_low": float(self.ci_low[i]), "ci_high": float(self.ci_high[i]),
                 "p": float(self.p[i]), "coef": float(self.coef[i]), "se": float(self.se[i]),
                 "z": float(self.z[i])}
        if blank_not_estimable and not self.estimable(name):
            entry = {key: None for key in entry}
        entry["estimable"] = self.estimable(name)
        entry["not_estimable_reason"] = self.not_estimable.get(name)
        return entry

    def to_dict(self) -> dict:
        out = {
            "n": self.n, "events": self.events, "converged": self.converged, "conf_level": self.conf_level,
            "coefficients": [
                {"name": name, **self.coefficient(name, blank_not_estimable=True)} for name in self.names
            ],
            "loglik_null": self.loglik_null, "loglik": self.loglik,
            "lr_chi2": self.lr_chi2, "lr_df": self.lr_df, "lr_p": self.lr_p,
            "wald_chi2": self.wald_chi2, "wald_p": self.wald_p,
            "score_chi2": self.score_chi2, "score_p": self.score_p,
        }
        if self.ph_test is not None:
            out["ph_test"] = self.ph_test.to_dict()
        return out


def encode_covariates(table: pd.DataFrame, columns: Sequence[str], *, categorical: Sequence[str] = (),
                      source: Optional[str] = None) -> Tuple[pd.DataFrame, Dict[str, List[str]]]:
    """Design matrix for Cox models: numbers stay, categories become 0/1 indicators (treatment coding).

    A column is categorical when it is named in ``categorical`` or is not numeric; its first level in sorted
    order is the reference (as R's ``factor``). Indicator columns are named ``column[level]``.

    Returns
    -------
    design : DataFrame
        Float columns, NaN where the patient's value is missing.
    terms : dict
        Covariate name → its design columns (one term per covariate, for per-covariate tests).
    """
    parts = []
    terms: Dict[str, List[str]] = {}
    for column in columns:
        if column not in table.columns:
            raise InputError(f"column {column!r} not found", source=source, field=column,
                             expected="one of " + ", ".join(map(str, table.columns)))
        values = table[column]
        numeric = pd.to_numeric(values, errors="coerce")
        is_text = (numeric.isna() & values.notna()).any()
        if column in categorical or is_text or values.dtype == bool:
            missing = values.isna()
            labels = values.astype(str).where(~missing)
            levels = sorted(labels.dropna().unique(), key=_level_key)
            if len(levels) < 2:
                raise InputError(f"categorical covariate {column!r} has only one level", source=source,
                                 field=column, expected="at least two levels")
            names = []
            for level in levels[1:]:
                name = f"{column}[{level}]"
                parts.append(pd.Series(np.where(missing, np.nan, (labels == level).astype(float)), name=name,
                                       index=table.index))
                names.append(name)
            terms[column] = names
        else:
            if np.nanstd(numeric.to_numpy(dtype=float)) == 0:
                raise InputError(f"covariate {column!r} has one value only", source=source, field=column,
                                 expected="a covariate that varies")
            parts.append(numeric.astype(float).rename(column))
            terms[column] = [column]
    design = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=table.index)
    return design, terms


def _level_key(level: str):
    # Sort numbers numerically ("2" < "10"), other labels as text, as R's factor() does for each kind.
    try:
        return (0, float(level), "")
    except ValueError:
        return (1, 0.0, level)


def cox_fit(time, event, design: pd.DataFrame, *, terms: Optional[Dict[str, List[str]]] = None,
            conf_level: float = 0.95, ph_check: bool = True) -> CoxResult:
    """Fit a Cox proportional-hazards model (Efron ties) with lifelines, and test it as R's ``coxph`` does.

    Parameters
    ----------
    time, event : array-like
        Follow-up and 0/1 events (no missing values).
    design : DataFrame
        Covariate columns (from :func:`encode_covariates`, or one marker column); no missing values.
    terms : dict, optional
        Covariate → design columns, to test a categorical covariate as one term in the PH check.
    conf_level : float
        Level of the HR confidence interval (default 0.95).
    ph_check : bool
        Also run the proportional-hazards test (:func:`ph_test`).

    Returns
    -------
    CoxResult
        Coefficients, HR with CI, Wald p per coefficient; likelihood-ratio, Wald and score tests of the model.
    """
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceWarning

    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=int)
    design = design.astype(float)
    names = [str(c) for c in design.columns]
    x = design.to_numpy()
    if int(event.sum()) == 0:
        raise InputError("no events: every patient is censored", field="event",
                         expected="at least one event")
    frame = design.copy()
    frame.columns = [f"x{i}" for i in range(len(names))]
    frame["_time"] = time
    frame["_event"] = event
    fitter = CoxPHFitter()
    converged = True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            # Tight tolerances: the tests compare coefficients with R to 1e-6 relative.
            fitter.fit(frame, duration_col="_time", event_col="_event",
                       fit_options={"precision": 1e-11, "r_precision": 1e-14, "max_steps": 100})
        except Exception as error:  # lifelines raises ConvergenceError for separated data
            raise InputError(f"the Cox model could not be fitted: {error}".split("\n")[0], field=", ".join(names),
                             expected="covariates that do not separate events perfectly") from None
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        converged = False
    coef, cov, loglik = _polish(time, event, x, fitter.params_.to_numpy())
    se = np.sqrt(np.diag(cov))
    z_value = coef / se
    p = 2.0 * stats.norm.sf(np.abs(z_value))
    zq = _z(conf_level)
    _, _, loglik_null = _efron(time, event, x, np.zeros(len(names)))
    loglik_null = float(loglik_null)
    lr = 2.0 * (loglik - loglik_null)
    df = len(names)
    try:
        wald = float(coef @ np.linalg.solve(cov, coef))
    except np.linalg.LinAlgError:
        wald = float("nan")
    score0, info0, _ = _efron(time, event, x, np.zeros(len(names)))
    score_chi2 = float(score0 @ np.linalg.lstsq(info0, score0, rcond=None)[0])
    # Monotone likelihood (a group without events): coefficients run off; flag it instead of pretending.
    if not np.all(np.isfinite(coef)) or np.any(np.abs(coef) * np.nanstd(x, axis=0) > 15):
        converged = False
    with np.errstate(over="ignore"):
        hr, ci_low, ci_high = np.exp(coef), np.exp(coef - zq * se), np.exp(coef + zq * se)
    not_estimable = _not_estimable(names, x, event, coef, se, hr, ci_low, ci_high)
    result = CoxResult(
        names=names, coef=coef, se=se, z=z_value, p=p, hr=hr, ci_low=ci_low,
        ci_high=ci_high, loglik_null=loglik_null, loglik=loglik, lr_chi2=lr, lr_df=df,
        lr_p=float(stats.chi2.sf(lr, df)), wald_chi2=wald, wald_p=float(stats.chi2.sf(wald, df)),
        score_chi2=score_chi2, score_p=float(stats.chi2.sf(score_chi2, df)), n=int(time.size),
        events=int(event.sum()), converged=converged, terms=dict(terms or {n: [n] for n in names}),
        conf_level=conf_level, not_estimable=not_estimable,
    )
    if ph_check:
        result.ph_test = ph_test(time, event, x, coef, terms=result.terms, names=names)
    return result


def _not_estimable(names, x, event, coef, se, hr, ci_low, ci_high) -> Dict[str, str]:
    """Why each coefficient's HR is not an estimate: no events in one group of a two-valued covariate, monotone
    likelihood (the coefficient runs off: |coef| x SD(x) > 15, as flagged by ``converged``), or a non-finite HR/CI."""
    reasons: Dict[str, str] = {}
    for j, name in enumerate(names):
        column = x[:, j]
        values = np.unique(column)
        if values.size == 2:
            for value, other in ((values[0], values[1]), (values[1], values[0])):
                group = column == value
                if event[group].sum() == 0:
                    direction = "0" if value > other else "infinity"
                    reasons[name] = (f"not estimable: no events among the {int(group.sum())} patients with {name} = "
                                     f"{value:g}, so the likelihood is monotone and the HR runs to {direction}")
        if name in reasons:
            continue
        finite = all(np.isfinite(v[j]) for v in (coef, se, hr, ci_low, ci_high))
        if np.isfinite(coef[j]) and abs(coef[j]) * np.nanstd(column) > 15:
            reasons[name] = ("not estimable: monotone likelihood (the covariate separates events from non-events), "
                             "the HR runs off to 0 or infinity")
        elif not finite:
            reasons[name] = "not estimable: the HR or its confidence interval is not finite"
    return reasons


def _polish(time: np.ndarray, event: np.ndarray, x: np.ndarray, beta: np.ndarray, max_steps: int = 20):
    """Finish lifelines' fit with full Newton steps on the exact Efron likelihood.

    lifelines stops with damped steps, which can leave the score at ~1e-4; a few full Newton steps reach the
    maximum to machine precision (as R's ``coxph``), so coefficients agree with R to 1e-6 and better.
    Returns the coefficients, their covariance (inverse information) and the log partial likelihood.
    """
    beta, info, loglik = newton_efron(time, event, x, beta, max_steps=max_steps)
    try:
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        cov = np.full_like(info, np.nan)
    return beta, cov, float(loglik)


#: Step halvings before a Newton step that does not increase the likelihood is given up.
MAX_HALVINGS = 30


def newton_efron(time: np.ndarray, event: np.ndarray, x: np.ndarray, beta: np.ndarray, *, max_steps: int = 20,
                 rtol: float = 1e-12, atol: float = 0.0):
    """Maximise the Cox partial likelihood (Efron ties) from ``beta`` by Newton's method with step halving.

    The one Newton loop of the package (:func:`cox_fit` polishing lifelines' fit, :func:`composite.cox_log_hr`
    in the resampling loops). A step that lowers the log likelihood (beyond 1e-12 relative, or gives NaN) is
    halved up to :data:`MAX_HALVINGS` times, then the search stops where it is; it also stops when the information
    is singular or after a step no larger than ``atol + rtol (1 + max|beta|)`` (default: 1e-12 relative, as
    ``coxph`` converges; the resampling fitter stops at 1e-10 absolute, which is as close to the maximum).

    Returns
    -------
    beta, information, log partial likelihood at ``beta``
    """
    beta = np.asarray(beta, dtype=float).copy()
    score, info, loglik = _efron(time, event, x, beta)
    for _ in range(max_steps):
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            break
        candidate = beta + step
        c_score, c_info, c_loglik = _efron(time, event, x, candidate)
        halvings = 0
        while not c_loglik >= loglik - 1e-12 * abs(loglik) and halvings < MAX_HALVINGS:
            step = step / 2.0
            candidate = beta + step
            c_score, c_info, c_loglik = _efron(time, event, x, candidate)
            halvings += 1
        if halvings == MAX_HALVINGS:
            break
        beta, score, info, loglik = candidate, c_score, c_info, c_loglik
        if np.max(np.abs(step)) <= atol + rtol * (1.0 + np.max(np.abs(beta))):
            break
    return beta, info, float(loglik)


def _efron(time: np.ndarray, event: np.ndarray, x: np.ndarray, beta: np.ndarray, gtime: Optional[np.ndarray] = None):
    """Score, information and log partial likelihood of the Cox model with Efron's ties, at ``beta``.

    Vectorised over events: each event in a tie set of size d gets its own index k = 0..d−1 and the Efron
    denominators S_R − (k/d)·S_D. With ``gtime`` (one value per patient) it also returns the pieces of the
    score test for ``x·g(t)`` terms (cox.zph): Σ g·(x − x̄), Σ g·I_e, Σ g²·I_e.
    """
    x = np.asarray(x, dtype=float).reshape(time.size, -1)
    order = np.lexsort((-event, time))  # by time; within a time, events first (irrelevant for sums)
    t = time[order]
    e = event[order]
    xs = x[order]
    eta = xs @ beta
    w = np.exp(eta - eta.max())  # a common factor cancels in every ratio below
    p = xs.shape[1]
    # Risk-set sums at each sorted position: everyone with time ≥ t_i (reverse cumulative sums, then the
    # value at the first row of each tied time).
    wx = w[:, None] * xs
    wxx = wx[:, :, None] * xs[:, None, :]
    s0 = np.cumsum(w[::-1])[::-1]
    s1 = np.cumsum(wx[::-1], axis=0)[::-1]
    s2 = np.cumsum(wxx[::-1], axis=0)[::-1]
    first = np.searchsorted(t, t, side="left")
    s0, s1, s2 = s0[first], s1[first], s2[first]
    # Tie sets of events: sums over the events at the same time.
    ev = np.flatnonzero(e == 1)
    tie_id = np.unique(t[ev], return_inverse=True)[1]
    n_ties = np.bincount(tie_id)
    d0 = np.bincount(tie_id, weights=w[ev])
    d1 = np.zeros((n_ties.size, p))
    np.add.at(d1, tie_id, wx[ev])
    d2 = np.zeros((n_ties.size, p, p))
    np.add.at(d2, tie_id, wxx[ev])
    # Index k of each event within its tie set.
    start = np.concatenate([[0], np.cumsum(n_ties)[:-1]])
    k = np.arange(ev.size) - start[tie_id]
    frac = (k / n_ties[tie_id])
    den0 = s0[ev] - frac * d0[tie_id]
    den1 = s1[ev] - frac[:, None] * d1[tie_id]
    den2 = s2[ev] - frac[:, None, None] * d2[tie_id]
    mean = den1 / den0[:, None]
    info_e = den2 / den0[:, None, None] - mean[:, :, None] * mean[:, None, :]
    resid = xs[ev] - mean
    score = resid.sum(axis=0)
    info = info_e.sum(axis=0)
    loglik = float(np.sum(eta[ev] - (eta.max() + np.log(den0))))
    if gtime is None:
        return score, info, loglik
    g = np.asarray(gtime, dtype=float)[order][ev]
    return score, info, loglik, (g[:, None] * resid).sum(axis=0), (g[:, None, None] * info_e).sum(axis=0), \
        ((g * g)[:, None, None] * info_e).sum(axis=0)


def ph_test(time, event, x, beta, *, terms: Optional[Dict[str, List[str]]] = None,
            names: Optional[List[str]] = None) -> PHTest:
    """Test of proportional hazards from Schoenfeld residuals, as ``cox.zph(fit, transform = "km")``.

    The score test (survival ≥ 3.0) for adding ``x · g(t)`` to the fitted model, where g(t) = 1 − KM(t−) centred
    on its mean over events; one test per covariate (a categorical covariate's indicators together) and a
    global test.

    Parameters
    ----------
    time, event : array-like
    x : array (n, p)
        The design matrix of the fitted model.
    beta : array (p,)
        The fitted coefficients.
    terms : dict, optional
        Covariate → names of its columns in ``names``.
    names : list of str, optional
        Column names of ``x``.
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=int)
    x = np.asarray(x, dtype=float).reshape(time.size, -1)
    p = x.shape[1]
    names = names or [f"x{i}" for i in range(p)]
    terms = terms or {n: [n] for n in names}
    km = kaplan_meier(time, event)
    # 1 − S(t−): the KM value at the last distinct time strictly before t.
    before = np.searchsorted(km.time, time, side="left") - 1
    surv_before = np.where(before >= 0, km.survival[np.maximum(before, 0)], 1.0)
    ttimes = 1.0 - surv_before
    gtime = ttimes - ttimes[event == 1].mean()
    _, info, _, u_g, i_g, i_gg = _efron(time, event, x, np.asarray(beta, dtype=float), gtime=gtime)
    imat = np.block([[info, i_g], [i_g.T, i_gg]])
    def quadratic_form(matrix: np.ndarray, vector: np.ndarray) -> float:
        # A singular information matrix (tiny cohorts, a covariate constant among the events) gives no test.
        try:
            return float(vector @ np.linalg.solve(matrix, vector))
        except np.linalg.LinAlgError:
            return float("nan")

    labels, chi2, df = [], [], []
    for term, columns in terms.items():
        jj = [names.index(c) for c in columns]
        kk = list(range(p)) + [j + p for j in jj]
        u = np.concatenate([np.zeros(p), u_g[jj]])
        chi2.append(quadratic_form(imat[np.ix_(kk, kk)], u))
        df.append(len(jj))
        labels.append(term)
    u = np.concatenate([np.zeros(p), u_g])
    chi2.append(quadratic_form(imat, u))
    df.append(p)
    labels.append("GLOBAL")
    chi2_arr = np.array(chi2)
    df_arr = np.array(df)
    return PHTest(terms=labels, chi2=chi2_arr, df=df_arr, p=stats.chi2.sf(chi2_arr, df_arr))
