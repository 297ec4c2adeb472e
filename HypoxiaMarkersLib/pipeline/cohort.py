"""The cohort stage: the whole two-marker statistics of a cohort table (``cohort`` command).

Example::

    from HypoxiaMarkersLib.pipeline.cohort import CohortAnalysisSettings, run_cohort
    run_cohort("cohort_table.csv", "cohort-out", CohortAnalysisSettings(
        id="patient", time="pfs_time", event="pfs_event", imaging="hypoxic_fraction", genes="gene_score"))

writes ``results.json``, ``patients.csv``, ``disagreement_patients.csv``, ``km_*.png`` and ``composite_line.png``
(300 dpi, each with its SVG beside it) into the output folder (atomically) and returns the result. Besides survival,
``results.json`` holds why imaging and genes disagree (``disagreement``), the gene score against tumour-cell fraction
(``gene_score_vs_tumour_cell_fraction``) and the association in training and validation patients
(``training_validation``); see :mod:`.cohort_extras`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Union

from ..progress import ProgressCallback
from ..rules import GENE_SCORE_CUTOFF, HF_CUTOFF, HORIZON_MONTHS
from .checks import check_conf_level, check_count, check_fraction_or_optimal, check_min_prop, prepare_output_dir
from .survival import annotation, check_counts, check_covariates

PathLike = Union[str, Path]

PATIENT_COLUMNS = ["id", "included", "time", "event", "imaging", "genes", "imaging_high", "genes_high",
                   "both_high", "composite_high", "group", "group_name", "hscomp"]


@dataclass
class CohortAnalysisSettings:
    """Settings of the cohort statistics (see :func:`HypoxiaMarkersLib.stats.cohort.analyse_cohort`).

    Attributes
    ----------
    id, time, event, imaging, genes : str
        Columns: patient id, PFS time, PFS event (1/0), imaging value (hypoxic fraction), gene score.
    covariates, categorical : list of str
        Clinical covariates (multivariate Cox; Kruskal-Wallis across groups if numeric); those to treat as
        categories.
    imaging_cutoff, gene_cutoff : float or "optimal"
        Value >= cutoff is more hypoxic.
    horizon_months : float or None
        Follow-up censored beyond this many months (None: not censored); ``time_unit`` is the time column's unit.
    min_prop, permutations, seed, directions, statistic, alternative, optimism, resamples, folds, conf_level
        As the ``cohort`` command's options of the same names.
    sheet : str, optional
        Excel sheet of the table.
    allow_horizon_censoring : bool
        Accept a horizon that censors more than half of the events (by default refused).
    endpoint_label : str
        The endpoint, as the Kaplan-Meier figures' y-axis label.
    tumour_volume, biopsy_slice_hf, n_biopsies, cell_fraction : str, optional
        Columns of tumour volume, biopsy-slice HF, number of biopsies and tumour-cell fraction (None: the usual
        names, :data:`.cohort_extras.USUAL_NAMES`, when the table has them).
    validation : str, optional
        Column marking validation patients (truthy) against training patients: the imaging-gene association is
        reported for all, training and validation patients.
    validation_table : str, optional
        A separate table (patient id column named ``id``, and ``validation``) instead of the cohort table's column.
    """

    id: str
    time: str
    event: str
    imaging: str
    genes: str
    covariates: List[str] = field(default_factory=list)
    categorical: List[str] = field(default_factory=list)
    imaging_cutoff: Union[float, str] = HF_CUTOFF
    gene_cutoff: Union[float, str] = GENE_SCORE_CUTOFF
    horizon_months: Optional[float] = HORIZON_MONTHS
    time_unit: str = "months"
    min_prop: float = 0.1
    permutations: int = 1000
    seed: int = 0
    directions: int = 90
    statistic: str = "logrank"
    alternative: str = "greater"
    optimism: str = "bootstrap"
    resamples: int = 200
    folds: int = 5
    conf_level: float = 0.95
    sheet: Optional[str] = None
    allow_horizon_censoring: bool = False
    endpoint_label: str = "Progression-free survival"
    tumour_volume: Optional[str] = None
    biopsy_slice_hf: Optional[str] = None
    n_biopsies: Optional[str] = None
    cell_fraction: Optional[str] = None
    validation: Optional[str] = None
    validation_table: Optional[str] = None


@dataclass
class CohortOutput:
    """What :func:`run_cohort` computed and where it wrote it."""

    out: Path
    result: object  # stats.cohort.CohortResult
    results: dict  # the content of results.json


def check_cohort_settings(s: CohortAnalysisSettings) -> None:
    """Every setting of the cohort stage, named by its option (before any file is read)."""
    check_counts(s, "permutations", "resamples")
    check_fraction_or_optimal(s.imaging_cutoff, "--imaging-cutoff")
    check_fraction_or_optimal(s.gene_cutoff, "--gene-cutoff")
    check_min_prop(s.min_prop)
    check_conf_level(s.conf_level)
    check_count(s.directions, "--directions", minimum=1, expected="a number of directions >= 1, e.g. 90")
    check_count(s.folds, "--folds", minimum=2, expected="a number of folds >= 2, e.g. 5")
    check_covariates(s.covariates, id=s.id, time=s.time, event=s.event, imaging=s.imaging, genes=s.genes)


def run_cohort(table_path: PathLike, out: PathLike, settings: CohortAnalysisSettings, *,
               progress: Optional[ProgressCallback] = None, force: bool = False) -> CohortOutput:
    """The cohort statistics of the table ``table_path``, written to the folder ``out``.

    Parameters
    ----------
    table_path : path
        Cohort table (CSV, TSV or Excel), one row per patient.
    out : path
        Output folder; replaced only once complete.
    settings : CohortAnalysisSettings
    progress : callable, optional
        ``progress(done, total)`` during the composite permutations.
    force : bool
        Replace an existing ``out`` that holds files hypoxia-markers did not write (never the table).

    Returns
    -------
    CohortOutput
    """
    from ..io.outputs import atomic_output_dir
    from ..io.results_schema import COHORT_RESULTS_JSON, write_result
    from ..io.tables import read_table
    from ..report.km_figure import plot_composite_line, plot_kaplan_meier
    from ..stats.cohort import analyse_cohort
    from ..stats.composite import hscomp
    from ..stats.survival import horizon_in_time_units, kaplan_meier
    from .cohort_extras import PATIENT_FILE, extra_analyses

    s = settings
    check_cohort_settings(s)
    inputs = [table_path] + ([s.validation_table] if s.validation_table else [])
    prepare_output_dir(out, inputs, force=force)
    table = read_table(table_path, sheet=s.sheet, rows_required=True, what="cohort table")
    horizon = horizon_in_time_units(s.horizon_months, s.time_unit)
    result = analyse_cohort(
        table, id_col=s.id, time_col=s.time, event_col=s.event, imaging_col=s.imaging, genes_col=s.genes,
        covariates=s.covariates, categorical=s.categorical, imaging_cutoff=s.imaging_cutoff,
        gene_cutoff=s.gene_cutoff, horizon_months=s.horizon_months, time_unit=s.time_unit, min_prop=s.min_prop,
        permutations=s.permutations, seed=s.seed, n_directions=s.directions, statistic=s.statistic,
        alternative=s.alternative, optimism=s.optimism, resamples=s.resamples, folds=s.folds,
        conf_level=s.conf_level, source=str(table_path), progress=progress,
        allow_horizon_censoring=s.allow_horizon_censoring,
    )
    result.parameters["table"] = str(Path(table_path))
    extras, extra_patients = extra_analyses(
        table, result.patients, imaging_cutoff=result.markers["imaging"].cutoff.value,
        gene_cutoff=result.markers["genes"].cutoff.value, source=str(table_path), conf_level=s.conf_level,
        validation_table=None if s.validation_table is None else str(s.validation_table), id_column=s.id,
        columns={"tumour_volume": s.tumour_volume, "biopsy_slice_hf": s.biopsy_slice_hf,
                 "n_biopsies": s.n_biopsies, "cell_fraction": s.cell_fraction, "validation": s.validation})
    time_label = f"Time ({s.time_unit})"
    figures = {}
    with atomic_output_dir(Path(out), inputs, force=force) as folder:
        for name, marker in result.markers.items():
            value = marker.cutoff.value
            labels = {"high": "more hypoxic", "low": "less hypoxic"}
            if name in ("imaging", "genes"):
                labels = {"high": f"more hypoxic ({name} >= {value:g})", "low": f"less hypoxic ({name} < {value:g})"}
            figure = f"km_{name}.png"
            plot_kaplan_meier({labels[g]: km for g, km in marker.km.items()}, folder / figure,
                              title=f"{name}", time_label=time_label, horizon=horizon,
                              annotation=annotation(marker, figure=True),
                              endpoint_label=s.endpoint_label)
            figures[name] = figure
        patients = result.patients
        included = patients[patients["included"]]
        group = included["group"].to_numpy(dtype=int)
        curves = {f"group {g}": kaplan_meier(included["time"].to_numpy()[group == g],
                                             included["event"].to_numpy(dtype=int)[group == g])
                  for g in (1, 2, 3, 4) if (group == g).any()}
        plot_kaplan_meier(curves, folder / "km_groups.png", title="groups 1-4", time_label=time_label,
                          horizon=horizon, endpoint_label=s.endpoint_label)
        figures["groups"] = "km_groups.png"
        line = result.line
        x = included["imaging"].to_numpy()
        y = included["genes"].to_numpy()
        plot_composite_line(x, y, hscomp(x, y, line["x0"], line["y0"]) >= 0, line["x0"], line["y0"],
                            folder / "composite_line.png", imaging_cutoff=result.markers["imaging"].cutoff.value,
                            gene_cutoff=result.markers["genes"].cutoff.value,
                            events=included["event"].to_numpy(dtype=int) == 1)
        figures["composite_line"] = "composite_line.png"
        results = result.to_dict()
        results["figures"] = figures
        results["parameters"]["analysis_columns"] = extras.pop("columns")
        results.update(extras)
        write_result(COHORT_RESULTS_JSON, results, folder / "results.json")
        patients[PATIENT_COLUMNS].to_csv(folder / "patients.csv", index=False)
        extra_patients.to_csv(folder / PATIENT_FILE, index=False)
    return CohortOutput(out=Path(out), result=result, results=results)
