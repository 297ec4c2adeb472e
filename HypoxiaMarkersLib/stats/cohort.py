"""The statistics of a cohort table: one marker's survival analysis, and the whole two-marker analysis.

:func:`analyse_marker` is what the ``survival`` command reports for any one marker; :func:`analyse_cohort` runs
it for the imaging value, the gene score, the "both" rule and the composite score HScomp, and adds the groups
1–4 (SPEC §4; Fjeldbo et al., EBioMedicine 2020;57:102841).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import pandas as pd

from .. import __version__
from ..errors import InputError
from ..progress import ProgressCallback
from ..rules import GENE_SCORE_CUTOFF, HF_CUTOFF, HORIZON_MONTHS, HSCOMP_CUTOFF, at_or_above
from .composite import hscomp, optimism_corrected_hr, permutation_test, search_line
from .cutoff import CutoffResult, fixed_cutoff, optimal_cutoff
from .groups import GROUP_NAMES, classify_groups, compare_groups
from .survival import (
    CoxResult,
    KaplanMeier,
    LogRankResult,
    as_numeric,
    censor_at_horizon,
    check_horizon,
    check_survival,
    cox_fit,
    encode_covariates,
    horizon_in_time_units,
    kaplan_meier,
    logrank_test,
)

Cutoff = Union[float, str]


def _cox_entry(fit: CoxResult, name: str) -> dict:
    entry = fit.coefficient(name, blank_not_estimable=True)
    entry.update({"lr_chi2": fit.lr_chi2, "lr_p": fit.lr_p, "wald_p": fit.wald_p, "score_p": fit.score_p,
                  "n": fit.n, "events": fit.events, "converged": fit.converged})
    if fit.ph_test is not None:
        entry["ph_test"] = fit.ph_test.to_dict()
    return entry


@dataclass
class MarkerResult:
    """Survival analysis of one marker (continuous, and dichotomised at a cutoff: high = marker ≥ cutoff)."""

    name: str
    n: int
    events: int
    n_excluded: int
    horizon: Optional[float]
    cox_continuous: CoxResult
    cutoff: CutoffResult
    cox_dichotomous: CoxResult
    logrank: LogRankResult
    km: Dict[str, KaplanMeier]
    high: np.ndarray = field(repr=False)
    cox_multivariate: Optional[CoxResult] = None
    extra: dict = field(default_factory=dict)
    warnings: List[str] = field(default_factory=list)

    @property
    def survival_at_horizon(self) -> Optional[Dict[str, dict]]:
        if self.horizon is None:
            return None
        return {group: km.at(self.horizon) for group, km in self.km.items()}

    def to_dict(self) -> dict:
        high_name = f"{self.name}_high"
        out = {
            "marker": self.name, "n": self.n, "events": self.events, "n_excluded": self.n_excluded,
            "horizon": self.horizon,
            "cox_continuous": _cox_entry(self.cox_continuous, self.name),
            "cutoff": self.cutoff.to_dict(),
            "cox_dichotomous": _cox_entry(self.cox_dichotomous, high_name),
            "logrank": self.logrank.to_dict(),
            "survival_at_horizon": self.survival_at_horizon,
            "n_per_group": {"high": int(self.high.sum()), "low": int((~self.high).sum())},
            "events_per_group": {"high": int(self.logrank.observed[list(self.logrank.groups).index(True)]),
                                 "low": int(self.logrank.observed[list(self.logrank.groups).index(False)])},
            "km": {group: km.to_dict() for group, km in self.km.items()},
        }
        if self.cox_multivariate is not None:
            out["cox_multivariate"] = self.cox_multivariate.to_dict()
        out["warnings"] = list(self.warnings)
        out.update(self.extra)
        return out


def _check_covariates_are_not_the_marker(frame: pd.DataFrame, marker: np.ndarray, name: str, source) -> None:
    """A covariate that is the marker (same name, or the same values) makes the multivariate model singular."""
    for column in frame.columns:
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        same_values = values.shape == marker.shape and np.array_equal(values, marker)
        if str(column) == name or same_values:
            raise InputError(f"the covariate {column!r} is the marker {name!r} itself"
                             + ("" if str(column) == name else " (the same values)"), source=source,
                             field="--covariates", expected="clinical covariates other than the marker")


def _complete(time, event, marker, *, source, time_field, event_field, marker_field):
    time, event = check_survival(time, event, source=source, time_field=time_field, event_field=event_field)
    marker = as_numeric(marker, source=source, field=marker_field)
    keep = np.isfinite(time) & (event >= 0) & np.isfinite(marker)
    return time, event, marker, keep


def analyse_marker(time, event, marker, *, cutoff: Cutoff = "optimal", name: str = "marker",
                   horizon: Optional[float] = None, min_prop: float = 0.1, max_prop: Optional[float] = None,
                   permutations: int = 0, seed: Optional[int] = None, covariates: Optional[pd.DataFrame] = None,
                   categorical: Sequence[str] = (), conf_level: float = 0.95, source: Optional[str] = None,
                   progress: Optional[ProgressCallback] = None, _complete_cases: bool = False,
                   allow_horizon_censoring: bool = False, time_unit: Optional[str] = None) -> MarkerResult:
    """Survival analysis of one marker: Cox (continuous, dichotomous, with covariates), cutoff, log-rank, KM.

    Parameters
    ----------
    time, event, marker : array-like
        Follow-up (≥ 0), 0/1 event and marker value per patient; patients with a missing value are excluded
        (counted in ``n_excluded``).
    cutoff : float or "optimal"
        High = marker ≥ cutoff; "optimal" selects it by the maximally selected log-rank statistic
        (:func:`cutoff.optimal_cutoff`), with Lausen–Schumacher and permutation p-values.
    name : str
        The marker's name in the results.
    horizon : float, optional
        Censor follow-up beyond this time (same unit as ``time``); survival at the horizon per group.
    min_prop, max_prop, permutations, seed
        Passed to :func:`cutoff.optimal_cutoff`.
    covariates : DataFrame, optional
        Clinical covariates (same rows) for a multivariate Cox model with the continuous marker.
    categorical : sequence of str
        Covariates to encode as categories even if they are numbers.
    conf_level : float
        Confidence level of HRs and KM intervals.
    allow_horizon_censoring : bool
        Accept a horizon that censors most events (:func:`survival.check_horizon`); default: an error.
    time_unit : str, optional
        The unit of ``time`` and ``horizon``, for messages.

    Returns
    -------
    MarkerResult
        HRs that cannot be estimated carry no number (``CoxResult.not_estimable`` says why); ``warnings`` lists
        what the reader must know (heavy censoring at the horizon).
    """
    time, event, marker, keep = _complete(time, event, marker, source=source, time_field="time",
                                          event_field="event", marker_field=name)
    n_excluded = int((~keep).sum())
    time, event, marker = time[keep], event[keep], marker[keep]
    warnings = check_horizon(time, event, horizon, allow=allow_horizon_censoring, source=source, time_unit=time_unit)
    time, event = censor_at_horizon(time, event, horizon)
    n = int(time.size)
    if n < 2:
        raise InputError(f"only {n} patient(s) with complete time, event and {name}", source=source, field=name,
                         expected="at least two patients")
    if int(event.sum()) == 0:
        raise InputError("no events: every patient is censored" + (" at the horizon" if horizon else ""),
                         source=source, field="event", expected="at least one event")
    if np.unique(marker).size < 2:
        raise InputError(f"the marker {name!r} has only one value ({marker[0]:g})", source=source, field=name,
                         expected="a marker with at least two distinct values")
    cox_continuous = cox_fit(time, event, pd.DataFrame({name: marker}), conf_level=conf_level)
    if isinstance(cutoff, str):
        if cutoff != "optimal":
            raise InputError(f"cutoff {cutoff!r} is neither a number nor 'optimal'", source="--cutoff",
                             expected="a number or 'optimal'")
        chosen = optimal_cutoff(time, event, marker, min_prop=min_prop, max_prop=max_prop,
                                permutations=permutations, seed=seed, progress=progress)
    else:
        chosen = fixed_cutoff(time, event, marker, float(cutoff))
    high = at_or_above(marker, chosen.value)
    high_name = f"{name}_high"
    cox_dichotomous = cox_fit(time, event, pd.DataFrame({high_name: high.astype(float)}), conf_level=conf_level)
    logrank = logrank_test(time, event, high)
    km = {"high": kaplan_meier(time[high], event[high], conf_level=conf_level),
          "low": kaplan_meier(time[~high], event[~high], conf_level=conf_level)}
    multivariate = None
    if covariates is not None and len(covariates.columns):
        frame = covariates.loc[keep] if len(covariates) == keep.size else covariates
        _check_covariates_are_not_the_marker(frame, marker, name, source)
        design, terms = encode_covariates(frame.reset_index(drop=True), list(frame.columns),
                                          categorical=categorical, source=source)
        design.insert(0, name, marker)
        terms = {name: [name], **terms}
        rows = design.notna().all(axis=1).to_numpy()
        if rows.sum() > design.shape[1] and event[rows].sum() > 0:
            multivariate = cox_fit(time[rows], event[rows], design.loc[rows], terms=terms, conf_level=conf_level)
    return MarkerResult(name=name, n=n, events=int(event.sum()), n_excluded=n_excluded, horizon=horizon,
                        cox_continuous=cox_continuous, cutoff=chosen, cox_dichotomous=cox_dichotomous,
                        logrank=logrank, km=km, high=high, cox_multivariate=multivariate, warnings=warnings)


# --------------------------------------------------------------------------------------------------------------
# The whole cohort
# --------------------------------------------------------------------------------------------------------------


@dataclass
class CohortResult:
    """All statistics of a cohort: per marker (imaging, genes, both, composite), the line and the groups."""

    markers: Dict[str, MarkerResult]
    line: dict
    groups: dict
    patients: pd.DataFrame
    parameters: dict
    excluded: List[str]
    warnings: List[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "version": __version__,
            "parameters": self.parameters,
            "warnings": list(self.warnings),
            "n": int(self.patients["included"].sum()),
            "excluded": {"n": len(self.excluded), "ids": self.excluded},
            **{name: result.to_dict() for name, result in self.markers.items()},
            "line": self.line,
            "groups": self.groups,
        }


def _column(table: pd.DataFrame, name: str, source: Optional[str], option: str) -> pd.Series:
    if name not in table.columns:
        raise InputError(f"column {name!r} not found", source=source, field=option,
                         expected="one of " + ", ".join(map(str, table.columns)))
    return table[name]


def analyse_cohort(table: pd.DataFrame, *, id_col: str, time_col: str, event_col: str, imaging_col: str,
                   genes_col: str, covariates: Sequence[str] = (), categorical: Sequence[str] = (),
                   imaging_cutoff: Cutoff = HF_CUTOFF, gene_cutoff: Cutoff = GENE_SCORE_CUTOFF,
                   horizon_months: Optional[float] = HORIZON_MONTHS,
                   time_unit: str = "months", min_prop: float = 0.1, permutations: int = 1000,
                   seed: Optional[int] = 0, n_directions: int = 90, statistic: str = "logrank",
                   alternative: str = "greater",
                   optimism: str = "bootstrap", resamples: int = 200, folds: int = 5, conf_level: float = 0.95,
                   source: Optional[str] = None, progress: Optional[ProgressCallback] = None,
                   allow_horizon_censoring: bool = False) -> CohortResult:
    """The whole analysis of a cohort table (SPEC §4): markers, both-rule, composite line and groups.

    Parameters
    ----------
    table : DataFrame
        One row per patient.
    id_col, time_col, event_col, imaging_col, genes_col : str
        Column names: patient id, PFS time, PFS event (1 = relapse or disease-related death, 0 = censored),
        imaging value (hypoxic fraction, 0–1) and gene score.
    covariates : sequence of str
        Clinical covariates for the multivariate Cox models (categorical ones encoded) and, when numeric, for
        Kruskal–Wallis tests across groups 1–4.
    categorical : sequence of str
        Covariates to encode as categories even if coded as numbers (e.g. FIGO stage 1–4).
    imaging_cutoff, gene_cutoff : float or "optimal"
        High = value ≥ cutoff (:func:`rules.at_or_above`; defaults :data:`rules.HF_CUTOFF` and
        :data:`rules.GENE_SCORE_CUTOFF`, SPEC §1.4 and §2).
    horizon_months : float or None
        Follow-up beyond this is censored (default :data:`rules.HORIZON_MONTHS`); ``time_unit`` is the unit of
        ``time_col``.
    min_prop : float
        Minimum share of patients on each side of a searched cutoff or line (default 0.1).
    permutations, seed : int
        Permutations for the optimal-cutoff and composite-search p-values (default 1000, seed 0).
    n_directions, statistic, alternative : int, str, str
        The composite line grid, the statistic that ranks lines and the direction searched ("greater": the more
        hypoxic side does worse, default; "two-sided"), see :func:`composite.search_line`.
    optimism, resamples, folds
        Optimism correction of the composite HR: "bootstrap" (default, 200 resamples), "cv" or "none".

    Returns
    -------
    CohortResult
    """
    columns = {"--id": id_col, "--time": time_col, "--event": event_col, "--imaging": imaging_col,
               "--genes": genes_col}
    for option, name in columns.items():
        _column(table, name, source, option)
    for name in covariates:
        _column(table, name, source, "--covariates")
    ids = table[id_col].astype(str).to_numpy()
    if pd.Series(ids).duplicated().any():
        duplicate = pd.Series(ids)[pd.Series(ids).duplicated()].iloc[0]
        raise InputError(f"patient id {duplicate!r} appears more than once", source=source, field=id_col,
                         expected="one row per patient")
    time, event = check_survival(table[time_col], table[event_col], source=source, time_field=time_col,
                                 event_field=event_col)
    imaging = as_numeric(table[imaging_col], source=source, field=imaging_col)
    genes = as_numeric(table[genes_col], source=source, field=genes_col)
    included = np.isfinite(time) & (event >= 0) & np.isfinite(imaging) & np.isfinite(genes)
    excluded = [str(i) for i in ids[~included]]
    horizon = horizon_in_time_units(horizon_months, time_unit)
    horizon_warnings = check_horizon(time[included], event[included], horizon, allow=allow_horizon_censoring,
                                     source=source, time_unit=time_unit)
    t, e = censor_at_horizon(time[included], event[included], horizon)
    x, y = imaging[included], genes[included]
    n = int(t.size)
    min_size = max(1, int(np.ceil(min_prop * n)))
    if n < 2 * min_size or n < 4:
        raise InputError(f"{n} complete patients cannot make two groups of at least {min_size}", source=source,
                         expected="more patients, or a smaller --min-prop")
    if int(e.sum()) == 0:
        raise InputError("no events: every patient is censored", source=source, field=event_col,
                         expected="at least one event")
    cov_frame = table.loc[included, list(covariates)].reset_index(drop=True) if covariates else None
    common = dict(horizon=horizon, min_prop=min_prop, permutations=permutations, seed=seed,
                  covariates=cov_frame, categorical=categorical, conf_level=conf_level, source=source)
    markers: Dict[str, MarkerResult] = {}
    markers["imaging"] = analyse_marker(t, e, x, cutoff=imaging_cutoff, name="imaging", **common)
    markers["genes"] = analyse_marker(t, e, y, cutoff=gene_cutoff, name="genes", **common)
    imaging_high = markers["imaging"].high
    genes_high = markers["genes"].high
    group = classify_groups(imaging_high, genes_high)
    both = (group == 1).astype(float)
    if np.unique(both).size < 2:
        raise InputError("the both-rule puts every patient in one group", source=source,
                         expected="patients more hypoxic by both markers and patients who are not")
    markers["both"] = analyse_marker(t, e, both, cutoff=1.0, name="both", **common)
    markers["both"].extra["rule"] = "group 1 (more hypoxic by both markers) vs groups 2-4"
    searched = [name for name in ("imaging", "genes") if markers[name].cutoff.selected_from_data]
    if searched:  # its groups rest on cutoffs chosen from these data: its p is naive, and said to be
        markers["both"].extra["cutoffs_searched"] = searched

    search = search_line(x, y, t, e, n_directions=n_directions, min_prop=min_prop, statistic=statistic,
                         alternative=alternative)
    score = hscomp(x, y, search.x0, search.y0)
    composite = analyse_marker(t, e, score, cutoff=HSCOMP_CUTOFF, name="composite", **common)
    p_perm = permutation_test(search, t, e, permutations=permutations, seed=seed, progress=progress) \
        if permutations > 0 else None
    composite.cutoff.method = "composite line search"
    composite.cutoff.statistic = search.statistic
    composite.cutoff.statistic_name = (
        ("log-rank Z (survdiff)" if statistic == "logrank" else "standardized log-rank score statistic (maxstat)")
        + (" of the more hypoxic side" if alternative == "greater" else ", absolute value")
        + ", maximised over the line grid")
    composite.cutoff.p_unadjusted = search.p_unadjusted
    composite.cutoff.p_permutation = p_perm
    composite.cutoff.permutations = int(permutations)
    composite.cutoff.seed = seed
    composite.cutoff.min_prop = min_prop
    line = {"x0": search.x0, "y0": search.y0, **search.to_dict(), "p_permutation": p_perm,
            "equation": "imaging/x0 + genes/y0 = 1; HScomp >= 0 is more hypoxic"}
    if optimism != "none":
        correction = optimism_corrected_hr(x, y, t, e, method=optimism, resamples=resamples, folds=folds, seed=seed,
                                           n_directions=n_directions, min_prop=min_prop, statistic=statistic,
                                           alternative=alternative)
        line["optimism"] = correction.to_dict()
        composite.extra["optimism"] = correction.to_dict()
    composite.extra["line"] = {"x0": search.x0, "y0": search.y0}
    markers["composite"] = composite

    numeric_covariates = None
    if covariates:
        keep_cols = [c for c in covariates if c not in categorical and
                     not (pd.to_numeric(cov_frame[c], errors="coerce").isna() & cov_frame[c].notna()).any()]
        numeric_covariates = cov_frame[keep_cols] if keep_cols else None
    groups = compare_groups(imaging_high, genes_high, x, y, covariates=numeric_covariates, conf_level=conf_level)
    groups_dict = groups.to_dict()
    groups_dict["logrank_groups_1_to_4"] = logrank_test(t, e, group).to_dict()
    groups_dict["survival_at_horizon"] = (
        {str(g): kaplan_meier(t[group == g], e[group == g]).at(horizon) for g in (1, 2, 3, 4) if np.any(group == g)}
        if horizon is not None else None)

    patients = pd.DataFrame({"id": ids, "included": included})
    for column_name, values in (("time", t), ("event", e), ("imaging", x), ("genes", y)):
        full = np.full(ids.size, np.nan)
        full[included] = values
        patients[column_name] = full
    patients["event"] = patients["event"].astype("Int64")
    for column_name, values in (("imaging_high", imaging_high), ("genes_high", genes_high),
                                ("both_high", group == 1), ("composite_high", at_or_above(score, HSCOMP_CUTOFF))):
        full = pd.array([pd.NA] * ids.size, dtype="boolean")
        full[np.flatnonzero(included)] = values
        patients[column_name] = full
    group_full = pd.array([pd.NA] * ids.size, dtype="Int64")
    group_full[np.flatnonzero(included)] = group
    patients["group"] = group_full
    patients["group_name"] = [GROUP_NAMES[int(g)] if not pd.isna(g) else "" for g in group_full]
    hs = np.full(ids.size, np.nan)
    hs[included] = score
    patients["hscomp"] = hs

    parameters = {
        "id_col": id_col, "time_col": time_col, "event_col": event_col, "imaging_col": imaging_col,
        "genes_col": genes_col, "covariates": list(covariates), "categorical": list(categorical),
        "imaging_cutoff": imaging_cutoff, "gene_cutoff": gene_cutoff, "horizon_months": horizon_months,
        "time_unit": time_unit, "horizon_in_time_unit": horizon, "min_prop": min_prop,
        "permutations": permutations, "seed": seed, "n_directions": n_directions, "statistic": statistic,
        "alternative": alternative,
        "optimism": optimism, "resamples": resamples, "folds": folds, "conf_level": conf_level,
        "high_rule": "value >= cutoff is more hypoxic", "source": source,
    }
    return CohortResult(markers=markers, line=line, groups=groups_dict, patients=patients,
                        parameters=parameters, excluded=excluded, warnings=horizon_warnings)
