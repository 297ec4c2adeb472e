"""A cohort in one run: imaging for every patient, gene scores, the cohort table, statistics, heterogeneity, report.

The manifest (CSV) has one row per patient:

- required: ``patient``, ``dce`` (file or DICOM folder; several 3D files separated by ``;``), ``mask``,
  ``pfs_time``, ``pfs_event``;
- optional per-patient imaging settings: ``label``, ``segment``, ``times`` (seconds, comma-separated),
  ``frame_interval``, ``baseline_frames``;
- genes: ``expression`` (a file) with ``samples`` (the patient's sample IDs in it, ``;``-separated: several
  biopsies), or ``gene_score`` (a score computed elsewhere);
- every other column is a clinical covariate carried into the cohort table.

Relative paths are relative to the manifest's folder. Each patient's imaging result is written atomically to
``OUT/patients/<patient>/``; a patient already done is skipped unless ``force``, so an interrupted run resumes.
One patient's bad input goes into ``failures.csv`` and does not stop the others.
"""

from __future__ import annotations

import csv
import json
import math
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Union

import numpy as np
import pandas as pd

from .. import __version__
from ..errors import InputError
from ..io.outputs import write_json
from ..io.tables import read_table
from ..rules import A_THRESHOLD, GENE_SCORE_CUTOFF, HF_CUTOFF, HORIZON_MONTHS
from .cohort import CohortAnalysisSettings, run_cohort
from .genes import GenesSettings, read_genes_input, run_genes
from .heterogeneity import HeterogeneitySettings, run_heterogeneity
from .image import ImageSources, analyse_image, write_imaging_result

REQUIRED_COLUMNS = ("patient", "dce", "mask", "pfs_time", "pfs_event")
IMAGING_COLUMNS = ("label", "segment", "times", "frame_interval", "baseline_frames")
GENE_COLUMNS = ("expression", "samples", "gene_score")
KNOWN_COLUMNS = REQUIRED_COLUMNS + IMAGING_COLUMNS + GENE_COLUMNS

DONE, SKIPPED, FAILED = "done", "skipped", "failed"


@dataclass
class PatientJob:
    """Everything one worker needs to run the imaging analysis of one patient (picklable for process pools)."""

    patient: str
    dce: List[str]
    mask: str
    out: str
    label: Optional[int] = None
    segment: Optional[str] = None
    times: Optional[str] = None
    frame_interval: Optional[float] = None
    imaging: Dict[str, object] = field(default_factory=dict)
    force: bool = False


@dataclass
class PatientOutcome:
    patient: str
    status: str
    seconds: float = 0.0
    error: str = ""
    stage: str = "image"


def image_patient(job: PatientJob) -> PatientOutcome:
    """Run the imaging analysis of one patient into ``job.out``; never raises for the patient's bad input."""
    from ..imaging.analysis import ImagingParameters
    from ..imaging.timing import parse_times_option

    out = Path(job.out)
    if not job.force and (out / "summary.json").is_file():
        return PatientOutcome(job.patient, SKIPPED)
    start = time.perf_counter()
    try:
        sources = ImageSources(dce=list(job.dce), mask=job.mask, label=job.label, segment=job.segment,
                               times=parse_times_option(job.times) if job.times else None, times_text=job.times,
                               frame_interval=job.frame_interval)
        result = analyse_image(sources, ImagingParameters(**job.imaging))
        inputs = sources.record()
        del inputs["mask_min_fraction"]  # the manifest has no such column: recorded as before
        write_imaging_result(result, out, inputs=inputs)
    except InputError as error:
        return PatientOutcome(job.patient, FAILED, time.perf_counter() - start, str(error))
    except Exception as error:  # noqa: BLE001 - one patient's unexpected failure must not stop the cohort
        return PatientOutcome(job.patient, FAILED, time.perf_counter() - start,
                              f"unexpected {type(error).__name__}: {error}")
    return PatientOutcome(job.patient, DONE, time.perf_counter() - start)


# ----------------------------------------------------------------------------------------------------------------
# Manifest
# ----------------------------------------------------------------------------------------------------------------


def read_manifest(path: Path) -> pd.DataFrame:
    """Read and check the manifest; paths are made absolute (relative to the manifest's folder)."""
    path = Path(path)
    table = read_table(path, text=True, required=REQUIRED_COLUMNS, what="manifest", skip_initial_space=True)
    if not ("gene_score" in table.columns or "expression" in table.columns):
        raise InputError("no gene column", source=str(path), field="header",
                         expected="a 'gene_score' column, or 'expression' and 'samples' columns")
    if "expression" in table.columns and "samples" not in table.columns:
        raise InputError("an 'expression' column needs a 'samples' column", source=str(path), field="header",
                         expected="'samples': the patient's sample IDs in the expression file, ';'-separated")
    table["patient"] = table["patient"].str.strip()
    empty = table.index[table["patient"] == ""]
    if len(empty):
        raise InputError("empty patient ID", source=str(path), field=f"row {int(empty[0]) + 2}",
                         expected="an ID in every row")
    duplicated = table["patient"][table["patient"].duplicated()].unique()
    if len(duplicated):
        raise InputError(f"duplicate patient ID(s) {', '.join(duplicated[:5])}", source=str(path),
                         field="patient", expected="one row per patient")
    base = path.parent.absolute()
    for column in ("dce", "mask", "expression"):
        if column in table.columns:
            table[column] = [";".join(str(_absolute(base, p)) for p in value.split(";") if p.strip())
                             if value.strip() else "" for value in table[column]]
    return table


def _absolute(base: Path, value: str) -> Path:
    p = Path(value.strip()).expanduser()
    return p if p.is_absolute() else base / p


def _optional(row: pd.Series, column: str, kind: Callable, path: Path):
    value = str(row.get(column, "")).strip()
    if value == "":
        return None
    try:
        return kind(value)
    except ValueError:
        raise InputError(f"{value!r} is not a valid value", source=str(path), field=f"{column} of {row['patient']}",
                         expected=f"{kind.__name__}") from None


def patient_jobs(manifest: pd.DataFrame, out: Path, imaging: dict, *, force: bool, source: Path) -> List[PatientJob]:
    jobs = []
    for _, row in manifest.iterrows():
        baseline = _optional(row, "baseline_frames", int, source)
        settings = dict(imaging)
        if baseline is not None:
            settings["baseline_frames"] = baseline
        jobs.append(PatientJob(
            patient=row["patient"], dce=row["dce"].split(";"), mask=row["mask"],
            out=str(out / "patients" / _safe_name(row["patient"])),
            label=_optional(row, "label", int, source), segment=_optional(row, "segment", str, source),
            times=_optional(row, "times", str, source), frame_interval=_optional(row, "frame_interval", float, source),
            imaging=settings, force=force,
        ))
    return jobs


def _safe_name(patient: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in patient)


# ----------------------------------------------------------------------------------------------------------------
# Running the patients
# ----------------------------------------------------------------------------------------------------------------


def run_patients(
    jobs: Sequence[PatientJob],
    *,
    workers: int = 1,
    dask_scheduler: Optional[str] = None,
    progress: Optional[Callable[[int, int, PatientOutcome], None]] = None,
) -> List[PatientOutcome]:
    """Run :func:`image_patient` for every job: serially, in a process pool, or on a Dask cluster.

    ``progress(done, total, outcome)`` is called as each patient finishes (in completion order). The outcomes are
    returned in the order of ``jobs``.
    """
    outcomes: Dict[str, PatientOutcome] = {}
    for done, outcome in enumerate(_completed(jobs, workers, dask_scheduler), start=1):
        outcomes[outcome.patient] = outcome
        if progress is not None:
            progress(done, len(jobs), outcome)
    return [outcomes[job.patient] for job in jobs]


def _completed(jobs: Sequence[PatientJob], workers: int, dask_scheduler: Optional[str]) -> Iterator[PatientOutcome]:
    if dask_scheduler:
        try:
            from distributed import Client
            from distributed import as_completed as dask_as_completed
        except ImportError:  # pragma: no cover - depends on the installation
            raise InputError("running on a Dask cluster needs the 'distributed' package",
                             source="--dask-scheduler", expected="pip install distributed") from None
        try:
            client = Client(dask_scheduler, timeout="20s")
        except OSError as error:
            raise InputError(f"cannot connect to the Dask scheduler: {error}", source="--dask-scheduler",
                             expected="the address of a running scheduler, e.g. tcp://host:8786") from None
        try:
            futures = [client.submit(image_patient, job, key=f"image-{job.patient}-{time.time_ns()}", pure=False)
                       for job in jobs]
            for future in dask_as_completed(futures):
                yield future.result()
        finally:
            client.close()
        return
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield image_patient(job)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(image_patient, job) for job in jobs]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise


# ----------------------------------------------------------------------------------------------------------------
# Genes, cohort table
# ----------------------------------------------------------------------------------------------------------------


def score_genes(manifest: pd.DataFrame, out: Path, *, signature: Optional[Union[str, Path]],
                reference: str) -> Dict[str, dict]:
    """Gene score per patient: from the expression files (the genes stage, each file read once) or the
    ``gene_score`` column.

    Returns patient → {"gene_score", "n_biopsies", "biopsy_calls_agree", "error"}.
    """
    result: Dict[str, dict] = {}
    if "gene_score" in manifest.columns:
        for _, row in manifest.iterrows():
            text = str(row["gene_score"]).strip()
            if text:
                try:
                    result[row["patient"]] = {"gene_score": float(text), "n_biopsies": np.nan, "source": "manifest"}
                except ValueError:
                    result[row["patient"]] = {"error": f"gene_score {text!r} is not a number"}
    if "expression" not in manifest.columns:
        return result
    rows = manifest[manifest["expression"] != ""]
    files = list(dict.fromkeys(rows["expression"]))
    genes_dir = out / "genes"
    genes_dir.mkdir(parents=True, exist_ok=True)
    for n, expression in enumerate(files):
        subset = rows[rows["expression"] == expression]
        folder = genes_dir if len(files) == 1 else genes_dir / f"{n + 1}_{Path(expression).stem}"
        folder.mkdir(parents=True, exist_ok=True)
        wanted = {p: [s.strip() for s in samples.split(";") if s.strip()]
                  for p, samples in zip(subset["patient"], subset["samples"])}
        settings = GenesSettings(signature=signature, reference=reference)
        try:
            read = read_genes_input(expression, settings)
        except InputError as error:
            for patient in subset["patient"]:
                result[patient] = {"error": str(error)}
            continue
        in_file = set(read.samples)
        for patient, samples in wanted.items():
            absent = [s for s in samples if s not in in_file]
            if absent:
                result[patient] = {"error": f"sample(s) {', '.join(absent)} not in {expression}"}
        # Every sample of the file is scored (they are the reference cohort when centring on medians); samples of
        # no manifest patient stand for themselves.
        owner = {s: p for p, samples in wanted.items() if p not in result for s in samples}
        pairs = [(s, owner.get(s, s)) for s in sorted(in_file)]
        map_path = folder / "patient_map.csv"
        pd.DataFrame(pairs, columns=["sample", "patient"]).to_csv(map_path, index=False)
        settings.patient_map = str(map_path)
        try:
            scored = run_genes(expression, folder / "scores.csv", settings, read=read)
        except InputError as error:
            for patient in subset["patient"]:
                result[patient] = {"error": str(error)}
            continue
        patients = scored.patients
        patients = patients[patients["patient"].isin(owner.values())]
        for _, row in patients.iterrows():
            score = row["hypoxia_score"]
            if isinstance(score, float) and math.isnan(score):
                result[row["patient"]] = {"error": "no biopsy of this patient could be scored"}
            else:
                result[row["patient"]] = {"gene_score": float(score), "n_biopsies": int(row["n_biopsies"]),
                                          "biopsy_calls_agree": row.get("biopsy_calls_agree"), "source": expression}
        for patient in subset["patient"]:
            result.setdefault(patient, {"error": "none of the listed samples is in the expression file"})
    return result


def cohort_table(manifest: pd.DataFrame, out: Path, outcomes: Sequence[PatientOutcome],
                 genes: Dict[str, dict]) -> pd.DataFrame:
    """One row per patient with imaging and gene results, outcome and covariates (patients with both markers)."""
    rows = []
    ok = {o.patient for o in outcomes if o.status in (DONE, SKIPPED)}
    covariates = [c for c in manifest.columns if c not in KNOWN_COLUMNS]
    for _, row in manifest.iterrows():
        patient = row["patient"]
        gene = genes.get(patient, {})
        if patient not in ok or "gene_score" not in gene:
            continue
        summary = json.loads((out / "patients" / _safe_name(patient) / "summary.json").read_text())
        record = {
            "patient": patient,
            "pfs_time": row["pfs_time"],
            "pfs_event": row["pfs_event"],
            "hypoxic_fraction": summary["hypoxic_fraction"],
            "imaging_classification": summary["classification"],
            "biopsy_slice_hf": summary["biopsy_slice"]["hypoxic_fraction"],
            "n_tumour_voxels": summary["n_tumour_voxels"],
            "n_failed_voxels": summary["n_failed"],
            "tumour_volume_ml": summary.get("tumour_volume_ml"),
            "gene_score": gene["gene_score"],
            "n_biopsies": gene.get("n_biopsies"),
        }
        for c in covariates:
            record[c] = row[c]
        rows.append(record)
    return pd.DataFrame(rows)


def failures_table(manifest: pd.DataFrame, outcomes: Sequence[PatientOutcome], genes: Dict[str, dict]) -> List[dict]:
    rows = [{"patient": o.patient, "stage": "image", "error": o.error} for o in outcomes if o.status == FAILED]
    for patient in manifest["patient"]:
        gene = genes.get(patient)
        if gene is None:
            rows.append({"patient": patient, "stage": "genes", "error": "no expression sample or gene_score given"})
        elif "error" in gene:
            rows.append({"patient": patient, "stage": "genes", "error": gene["error"]})
    return rows


def write_failures(rows: Sequence[dict], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["patient", "stage", "error"])
        writer.writeheader()
        writer.writerows(rows)


@dataclass
class BatchImaging:
    """The imaging settings of a batch, the same for every patient (``baseline_frames`` may be set per patient in
    the manifest); see :class:`HypoxiaMarkersLib.imaging.analysis.ImagingParameters`."""

    a_threshold: float = A_THRESHOLD
    hf_cutoff: float = HF_CUTOFF
    biopsy_slice: int = 1
    injection_duration_s: float = 0.0
    min_r2: Optional[float] = None  # fit quality: a sensitivity check, as `image --min-r2`
    exclude_bound_fits: bool = False


@dataclass
class BatchSettings:
    """Settings of a batch run (written to batch.json).

    Attributes
    ----------
    workers : int
        Patients analysed in parallel on this machine.
    dask_scheduler : str, optional
        Address of a Dask distributed scheduler to run the patients on.
    force : bool
        Refit patients already done.
    imaging : BatchImaging
    signature : path, optional
        Signature file (None: the shipped 6-gene signature); ``gene_reference`` "auto", "stored" or "cohort".
    covariates, categorical : list of str
        Clinical covariates (manifest columns) of the multivariate Cox models; those to treat as categories.
    imaging_cutoff, gene_cutoff : float or "optimal"
        Cohort statistics: value >= cutoff is more hypoxic.
    permutations, seed : int
        Permutations of the cohort statistics; seed of every random draw.
    horizon : float or None
        Follow-up censored beyond this many months (None: not censored); ``time_unit`` of ``pfs_time``.
    heterogeneity, report : bool
        Run the heterogeneity analysis; write the report.
    """

    workers: int = 1
    dask_scheduler: Optional[str] = None
    force: bool = False
    imaging: BatchImaging = field(default_factory=BatchImaging)
    signature: Optional[Union[str, Path]] = None
    gene_reference: str = "auto"
    covariates: List[str] = field(default_factory=list)
    categorical: List[str] = field(default_factory=list)
    imaging_cutoff: Union[float, str] = HF_CUTOFF
    gene_cutoff: Union[float, str] = GENE_SCORE_CUTOFF
    permutations: int = 1000
    seed: int = 0
    horizon: Optional[float] = HORIZON_MONTHS
    time_unit: str = "months"
    heterogeneity: bool = True
    report: bool = True

    def record(self) -> dict:
        """The settings as written to ``batch.json``: cutoffs and horizon as their option text (0.27 → "0.27",
        60 → "60", None → "none"), as the batch has always recorded them."""
        record = asdict(self)
        record["signature"] = None if self.signature is None else str(self.signature)
        for key in ("imaging_cutoff", "gene_cutoff"):
            value = record[key]
            record[key] = value if isinstance(value, str) else f"{value:g}"
        record["horizon"] = "none" if self.horizon is None else f"{self.horizon:g}"
        return record


def run_batch(
    manifest_path: Path,
    out: Path,
    settings: BatchSettings,
    *,
    progress: Optional[Callable[[int, int, PatientOutcome], None]] = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Run the whole pipeline on a manifest; returns what batch.json holds."""
    out = Path(out).absolute()
    manifest_path = Path(manifest_path).absolute()
    manifest = read_manifest(manifest_path)
    out.mkdir(parents=True, exist_ok=True)
    manifest.to_csv(out / "manifest.csv", index=False)
    timings: Dict[str, float] = {}

    start = time.perf_counter()
    jobs = patient_jobs(manifest, out, asdict(settings.imaging), force=settings.force, source=manifest_path)
    outcomes = run_patients(jobs, workers=settings.workers, dask_scheduler=settings.dask_scheduler, progress=progress)
    timings["image"] = time.perf_counter() - start

    start = time.perf_counter()
    genes = score_genes(manifest, out, signature=settings.signature, reference=settings.gene_reference)
    timings["genes"] = time.perf_counter() - start

    table = cohort_table(manifest, out, outcomes, genes)
    table.to_csv(out / "cohort_table.csv", index=False)
    failures = failures_table(manifest, outcomes, genes)
    write_failures(failures, out / "failures.csv")

    stages: Dict[str, str] = {
        "image": (f"done: {sum(o.status == DONE for o in outcomes)} fitted, "
                  f"{sum(o.status == SKIPPED for o in outcomes)} already done, "
                  f"{sum(o.status == FAILED for o in outcomes)} failed"),
        "genes": (f"done: {sum('gene_score' in g for g in genes.values())} scored, "
                  f"{sum('error' in g for g in genes.values())} failed"),
    }
    start = time.perf_counter()
    cohort = CohortAnalysisSettings(
        id="patient", time="pfs_time", event="pfs_event", imaging="hypoxic_fraction", genes="gene_score",
        covariates=list(settings.covariates), categorical=list(settings.categorical),
        imaging_cutoff=settings.imaging_cutoff, gene_cutoff=settings.gene_cutoff, horizon_months=settings.horizon,
        time_unit=settings.time_unit, permutations=settings.permutations, seed=settings.seed,
    )
    stages["cohort"] = _run_stage(log, "cohort", run_cohort, out / "cohort_table.csv", out / "cohort", cohort)
    timings["cohort"] = time.perf_counter() - start

    if settings.heterogeneity:
        start = time.perf_counter()
        stages["heterogeneity"] = _heterogeneity_stage(log, out, genes, settings.seed)
        timings["heterogeneity"] = time.perf_counter() - start

    counts = {
        "patients": len(manifest),
        "imaging_done": sum(o.status == DONE for o in outcomes),
        "imaging_skipped": sum(o.status == SKIPPED for o in outcomes),
        "imaging_failed": sum(o.status == FAILED for o in outcomes),
        "in_cohort_table": len(table),
        "failures": len(failures),
    }
    record = {
        "command": "batch",
        "version": __version__,
        "manifest": str(manifest_path),
        "parameters": settings.record(),
        "counts": counts,
        "stages": stages,
        "timings_s": timings,
        "patients": [asdict(o) for o in outcomes],
    }
    write_json(record, out / "batch.json")
    if settings.report:
        start = time.perf_counter()
        stages["report"] = _report_stage(log, out)
        timings["report"] = time.perf_counter() - start
        write_json(record, out / "batch.json")
    return record


def _run_stage(log, name: str, stage: Callable, *args, **kwargs) -> str:
    try:
        stage(*args, **kwargs)
    except InputError as error:
        log(f"{name}: not done: {error}")
        return f"failed: {error}"
    return "done"


def _heterogeneity_stage(log, out: Path, genes: Dict[str, dict], seed: int) -> str:
    settings = HeterogeneitySettings(seed=seed)
    biopsies = None
    scores = out / "genes" / "scores.csv"
    if scores.is_file():
        # The biopsy calls were made at the signature's cutoff: the agreement of calls must use the same one.
        settings.gene_cutoff = float(json.loads((out / "genes" / "scores.json").read_text())["parameters"]["cutoff"])
        biopsies = scores
    return _run_stage(log, "heterogeneity", run_heterogeneity, out / "heterogeneity", settings,
                      images=[out / "patients"], biopsies=biopsies)


def _report_stage(log, out: Path) -> str:
    try:
        from ..report.page import write_report
    except ImportError:
        return "not available"
    try:
        path = write_report(out)
    except InputError as error:
        log(f"report: not done: {error}")
        return f"failed: {error}"
    return f"done: {path}"
