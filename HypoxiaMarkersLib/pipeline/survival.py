"""The survival stage: one marker of a cohort table against progression-free survival (``survival`` command).

Example::

    from HypoxiaMarkersLib.pipeline.survival import SurvivalSettings, run_survival
    run_survival("cohort.csv", "survival-out", SurvivalSettings(time="pfs", event="event", marker="hf"))

writes ``results.json``, ``km.csv`` and ``km.png`` (and ``km.svg``) into the output folder (atomically) and returns
the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Union

from .. import __version__
from ..errors import InputError
from ..progress import ProgressCallback
from ..rules import HORIZON_MONTHS
from .checks import check_conf_level, check_count, check_fraction_or_optimal, check_min_prop, prepare_output_dir

PathLike = Union[str, Path]


@dataclass
class SurvivalSettings:
    """Settings of the survival analysis of one marker (all written into ``results.json``).

    Attributes
    ----------
    time, event, marker : str
        Columns of the follow-up time, the event (1 = event, 0 = censored) and the (numeric) marker.
    cutoff : float or "optimal"
        Marker >= cutoff is "high"; "optimal" selects it (maximally selected log-rank statistic).
    min_prop, max_prop : float
        Optimal cutoff: smallest and largest share of patients in the low group (max_prop None = 1 - min_prop).
    permutations, seed : int
        Permutations of the optimal cutoff's permutation p-value (0: none) and their seed.
    horizon_months : float or None
        Follow-up censored beyond this many months (None: not censored).
    time_unit : str
        Unit of the time column (days, weeks, months, years).
    covariates, categorical : list of str
        Clinical covariates of a multivariate Cox model with the marker; those to treat as categories.
    conf_level : float
        Confidence level of hazard ratios and Kaplan-Meier bands.
    sheet : str, optional
        Excel sheet of the table.
    allow_horizon_censoring : bool
        Accept a horizon that censors more than half of the events (by default refused).
    endpoint_label : str
        The endpoint, as the Kaplan-Meier figure's y-axis label.
    """

    time: str
    event: str
    marker: str
    cutoff: Union[float, str] = "optimal"
    min_prop: float = 0.1
    max_prop: Optional[float] = None
    permutations: int = 1000
    seed: int = 0
    horizon_months: Optional[float] = HORIZON_MONTHS
    time_unit: str = "months"
    covariates: List[str] = field(default_factory=list)
    categorical: List[str] = field(default_factory=list)
    conf_level: float = 0.95
    sheet: Optional[str] = None
    allow_horizon_censoring: bool = False
    endpoint_label: str = "Progression-free survival"


@dataclass
class SurvivalOutput:
    """What :func:`run_survival` computed and where it wrote it."""

    out: Path
    result: object  # stats.cohort.MarkerResult
    results: dict  # the content of results.json
    horizon: Optional[float]  # in the time column's unit


def check_counts(settings, *names: str) -> None:
    """Counts of a stage's settings (permutations, resamples) are whole numbers >= 0."""
    for name in names:
        if getattr(settings, name) < 0:
            raise InputError(f"--{name} is negative", source=f"--{name}", expected="a number >= 0")
        check_count(getattr(settings, name), f"--{name}")


def check_covariates(covariates, **columns: str) -> None:
    """A covariate is not one of the analysis' own columns (``option=column``), nor given twice."""
    for option, column in columns.items():
        if column in covariates:
            raise InputError(f"the covariate {column!r} is the {option} column itself: a Cox model cannot hold the "
                             "same column twice", source="--covariates",
                             expected=f"clinical covariates other than --{option} {column}")
    repeated = sorted({c for c in covariates if list(covariates).count(c) > 1})
    if repeated:
        raise InputError(f"covariate(s) {', '.join(repeated)} given twice", source="--covariates",
                         expected="each covariate once")


def check_survival_settings(s: SurvivalSettings) -> None:
    """Every setting of the survival stage, named by its option (before any file is read)."""
    check_counts(s, "permutations")
    check_fraction_or_optimal(s.cutoff, "--cutoff")
    check_min_prop(s.min_prop, s.max_prop)
    check_conf_level(s.conf_level)
    check_covariates(s.covariates, time=s.time, event=s.event, marker=s.marker)


def km_table(result):
    """The Kaplan-Meier estimates of each group as one long table."""
    import pandas as pd

    frames = []
    for group, km in result.km.items():
        frames.append(pd.DataFrame({
            "group": group, "time": km.time, "n_risk": km.n_risk, "n_event": km.n_event, "n_censor": km.n_censor,
            "survival": km.survival, "std_err": km.std_err, "ci_low": km.ci_low, "ci_high": km.ci_high,
        }))
    return pd.concat(frames, ignore_index=True)


def annotation(result, *, figure: bool = False) -> str:
    """HR (or why it is not estimable) and p of a marker's dichotomised Cox model and log-rank test, the adjusted p
    first when the cutoff was searched and the optimism-corrected HR first for the composite: the console line, or
    with ``figure`` the Kaplan-Meier figure's annotation (one statement per line), worded as in the report."""
    from ..report.formats import figure_annotation, hr_text, p_text

    entry = {"cox_dichotomous": result.cox_dichotomous.coefficient(f"{result.name}_high", blank_not_estimable=True),
             "cutoff": result.cutoff.to_dict(), "logrank": {"p": result.logrank.p},
             "optimism": result.extra.get("optimism"), "cutoffs_searched": result.extra.get("cutoffs_searched")}
    return figure_annotation(entry) if figure else f"{hr_text(entry)}, {p_text(entry)}"


def time_unit_text(time_unit: str, horizon: Optional[float]) -> str:
    """'times in days, horizon 1826.25 days' (or 'no horizon'): the first words of a survival console line."""
    if horizon is None:
        return f"times in {time_unit}, no horizon"
    return f"times in {time_unit}, horizon {horizon:g} {time_unit}"


def run_survival(table_path: PathLike, out: PathLike, settings: SurvivalSettings, *,
                 progress: Optional[ProgressCallback] = None, force: bool = False) -> SurvivalOutput:
    """Survival analysis of one marker of the cohort table ``table_path``, written to the folder ``out``.

    Parameters
    ----------
    table_path : path
        Cohort table (CSV, TSV or Excel), one row per patient.
    out : path
        Output folder (``results.json``, ``km.csv``, ``km.png``); replaced only once complete.
    settings : SurvivalSettings
    progress : callable, optional
        ``progress(done, total)`` during the permutations.
    force : bool
        Replace an existing ``out`` that holds files hypoxia-markers did not write (never the table).

    Returns
    -------
    SurvivalOutput
    """
    from ..io.outputs import atomic_output_dir, write_json
    from ..io.tables import check_columns, read_table
    from ..report.km_figure import plot_kaplan_meier
    from ..stats.cohort import analyse_marker
    from ..stats.survival import horizon_in_time_units

    s = settings
    check_survival_settings(s)
    prepare_output_dir(out, [table_path], force=force)
    horizon = horizon_in_time_units(s.horizon_months, s.time_unit)
    source = str(table_path)
    table = read_table(table_path, sheet=s.sheet, rows_required=True, what="cohort table")
    for option, column in (("--time", s.time), ("--event", s.event), ("--marker", s.marker)):
        check_columns(table, [column], source=source, option=option)
    cov_frame = None
    if s.covariates:
        missing = [c for c in s.covariates if c not in table.columns]
        if missing:
            raise InputError(f"covariate column(s) {', '.join(missing)} not found", source=source,
                             field="--covariates", expected="one of " + ", ".join(map(str, table.columns)))
        cov_frame = table[s.covariates]
    result = analyse_marker(
        table[s.time], table[s.event], table[s.marker], cutoff=s.cutoff, name=s.marker,
        horizon=horizon, min_prop=s.min_prop, max_prop=s.max_prop, permutations=s.permutations,
        seed=s.seed, covariates=cov_frame, categorical=s.categorical, conf_level=s.conf_level,
        source=source, progress=progress, allow_horizon_censoring=s.allow_horizon_censoring, time_unit=s.time_unit,
    )
    parameters = {
        "table": str(Path(table_path)), "time": s.time, "event": s.event, "marker": s.marker,
        "cutoff": s.cutoff, "min_prop": s.min_prop,
        "max_prop": s.max_prop if s.max_prop is not None else 1.0 - s.min_prop,
        "permutations": s.permutations, "seed": s.seed, "horizon_months": s.horizon_months,
        "time_unit": s.time_unit, "horizon_in_time_unit": horizon, "covariates": s.covariates,
        "categorical": s.categorical, "conf_level": s.conf_level, "high_rule": "marker >= cutoff",
        "km_conf_type": "log (Greenwood), as R survfit",
    }
    results = {"version": __version__, "parameters": parameters, **result.to_dict(),
               "figures": {"kaplan_meier": "km.png"}}
    with atomic_output_dir(Path(out), [table_path], force=force) as folder:
        write_json(results, folder / "results.json")
        km_table(result).to_csv(folder / "km.csv", index=False)
        value = result.cutoff.value
        label = {"high": f"{s.marker} >= {value:g}", "low": f"{s.marker} < {value:g}"}
        plot_kaplan_meier({label[g]: km for g, km in result.km.items()}, folder / "km.png",
                          title=f"{s.marker}: cutoff {value:g} ({result.cutoff.method})",
                          time_label=f"Time ({s.time_unit})", horizon=horizon,
                          annotation=annotation(result, figure=True),
                          endpoint_label=s.endpoint_label)
    return SurvivalOutput(out=Path(out), result=result, results=results, horizon=horizon)
