"""A cohort in one run: imaging for every patient, gene scores, the cohort table, statistics, heterogeneity, report.

The manifest (CSV) has one row per patient:

- required: ``patient``, ``dce`` (file or DICOM folder; several 3D files separated by ``;``), ``mask``,
  ``pfs_time``, ``pfs_event``;
- optional per-patient imaging settings: ``label``, ``segment``, ``roi`` (the tumour ROI when ``mask`` is a DICOM
  RTSTRUCT), ``times`` (seconds, comma-separated), ``frame_interval``, ``baseline_frames``;
- genes: ``expression`` (a file) with ``samples`` (the patient's sample IDs in it, ``;``-separated: several
  biopsies), or ``gene_score`` (a score computed elsewhere);
- every other column is a clinical covariate carried into the cohort table.

Relative paths are relative to the manifest's folder. Each patient's imaging result is written atomically to
``OUT/patients/<folder>/`` (:func:`patient_folder_name`: the ID itself when it is made of letters, digits, ``.``,
``_`` and ``-``, other characters escaped reversibly). An interrupted run resumes: a patient's result is reused
only when its input files (path, size, modification time) and every setting that affects it are those recorded
with it (``summary.json`` ``fingerprint``); otherwise the patient is refitted and the reason recorded. ``force``
refits everyone. One patient's bad input (images, genes, outcome) goes into ``failures.csv`` and does not stop the
others; a stage that fails as a whole is recorded in ``batch.json`` (``failed_stages``).
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import time
import unicodedata
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Union

import numpy as np
import pandas as pd

from .. import __version__
from ..errors import InputError
from ..io.outputs import MARKER, check_output_dir, written_by_this_tool
from ..io.results_schema import BATCH_JSON, GENE_SCORES_JSON, SUMMARY_JSON, write_result
from ..io.tables import read_table
from ..rules import A_THRESHOLD, GENE_SCORE_CUTOFF, HF_CUTOFF, HORIZON_MONTHS
from .cohort import CohortAnalysisSettings, run_cohort
from .dicom_export import DicomExport, DicomIdentity, dicom_results, is_dicom_input
from .genes import GenesSettings, read_genes_input, run_genes
from .heterogeneity import HeterogeneitySettings, run_heterogeneity
from .image import ImageSources, analyse_image, check_map_format, write_imaging_result
from .survival import check_counts

REQUIRED_COLUMNS = ("patient", "dce", "mask", "pfs_time", "pfs_event")
IMAGING_COLUMNS = ("label", "segment", "roi", "times", "frame_interval", "baseline_frames")
GENE_COLUMNS = ("expression", "samples", "gene_score")
KNOWN_COLUMNS = REQUIRED_COLUMNS + IMAGING_COLUMNS + GENE_COLUMNS

#: Columns of the cohort table computed by the batch (besides the manifest's covariates): possible covariates.
COMPUTED_COLUMNS = ("hypoxic_fraction", "imaging_classification", "biopsy_slice_hf", "n_tumour_voxels",
                    "n_failed_voxels", "tumour_volume_ml", "gene_score", "n_biopsies")

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
    problem: str = ""  # the manifest row's imaging cells are invalid: the patient fails with this reason
    dicom_out: Optional[str] = None  # the patient's folder of DICOM results (batch --dicom-out), or None
    roi: Optional[str] = None  # the tumour ROI of an RTSTRUCT mask
    map_format: str = "nrrd"  # --format of the maps


@dataclass
class PatientOutcome:
    patient: str
    status: str
    seconds: float = 0.0
    error: str = ""
    stage: str = "image"
    refit_reason: str = ""  # why a result already in the folder was not reused ("" when there was none)
    # Warnings of the analysis, returned instead of printed: a worker process printing them would break the
    # parent's progress bar (the command line prints them on their own lines).
    warnings: List[str] = field(default_factory=list)


def _file_states(paths: Sequence[str]) -> Dict[str, object]:
    """Path → [size, mtime_ns] of every input file (every file inside a folder, e.g. a DICOM series), or
    "missing"."""
    states: Dict[str, object] = {}
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
        else:
            files = [path]
        for file in files:
            try:
                stat = file.stat()
            except OSError:
                states[str(file)] = "missing"
                continue
            states[str(file)] = [stat.st_size, stat.st_mtime_ns]
    return states


def input_fingerprint(job: PatientJob) -> dict:
    """What a patient's result depends on: its input files (path, size, modification time) and every setting of
    the analysis (all imaging parameters, times, label, segment). Stored in ``summary.json`` (``fingerprint``); a
    result is reused only when the fingerprint is unchanged."""
    from ..imaging.analysis import ImagingParameters

    try:
        parameters = asdict(ImagingParameters(**job.imaging))
    except TypeError:
        parameters = dict(job.imaging)
    settings = {"imaging": parameters, "label": job.label, "segment": job.segment, "times": job.times,
                "frame_interval": job.frame_interval}
    # Recorded only when used, so that results written before these settings existed are still reused.
    if job.roi is not None:
        settings["roi"] = job.roi
    if job.map_format != "nrrd":
        settings["format"] = job.map_format
    return {
        "files": _file_states(list(job.dce) + [job.mask]),
        "dce": [str(p) for p in job.dce], "mask": str(job.mask),
        "settings": settings,
    }


def _differences(old: dict, new: dict) -> str:
    """Why a stored fingerprint differs from the current one, in words."""
    reasons = []
    if old.get("dce") != new["dce"] or old.get("mask") != new["mask"]:
        reasons.append("other input files in the manifest")
    elif old.get("files") != new["files"]:
        changed = sorted(set(old.get("files", {})) ^ set(new["files"])) or sorted(
            p for p in new["files"] if old.get("files", {}).get(p) != new["files"][p])
        reasons.append(f"input file changed ({Path(changed[0]).name}" + (f" and {len(changed) - 1} more" if
                                                                          len(changed) > 1 else "") + ")")
    old_settings, new_settings = old.get("settings", {}), new["settings"]
    for key in dict.fromkeys([*new_settings, *old_settings]):  # a setting recorded only when used may be gone
        if key == "imaging":
            old_imaging = old_settings.get("imaging", {})
            for name, value in new_settings["imaging"].items():
                if old_imaging.get(name) != value:
                    reasons.append(f"{name} {old_imaging.get(name)!r} -> {value!r}")
        elif old_settings.get(key) != new_settings.get(key):
            reasons.append(f"{key} {old_settings.get(key)!r} -> {new_settings.get(key)!r}")
    return "; ".join(reasons) or "fingerprint changed"


def stored_difference(job: PatientJob, fingerprint: dict) -> Optional[str]:
    """None when the result in ``job.out`` was made from exactly these inputs and settings, else why not ("" when
    there is no result)."""
    summary_path = Path(job.out) / "summary.json"
    if not summary_path.is_file():
        return ""
    try:
        summary = SUMMARY_JSON.read(summary_path)
    except InputError:
        return "the earlier result is unreadable"
    inputs = summary.get("inputs") if isinstance(summary, dict) else None
    stored = inputs.get("fingerprint") if isinstance(inputs, dict) else None
    if not isinstance(stored, dict):
        return "the earlier result has no record of its inputs (written by an older version)"
    current = json.loads(json.dumps(fingerprint))  # as stored: tuples become lists
    if current == stored:
        return None
    return _differences(stored, current)


def image_patient(job: PatientJob) -> PatientOutcome:
    """Run the imaging analysis of one patient into ``job.out``; never raises for the patient's bad input.

    A result already in ``job.out`` is reused (status "skipped") only when its stored fingerprint equals
    :func:`input_fingerprint` of the job; otherwise the patient is refitted and ``refit_reason`` says why.
    """
    from ..imaging.analysis import ImagingParameters
    from ..imaging.timing import parse_times_option

    out = Path(job.out)
    if job.problem:
        return PatientOutcome(job.patient, FAILED, error=job.problem)
    fingerprint = input_fingerprint(job)
    difference = stored_difference(job, fingerprint)
    dicom_missing = job.dicom_out is not None and not written_by_this_tool(Path(job.dicom_out))
    if difference is None and not job.force and not dicom_missing:
        return PatientOutcome(job.patient, SKIPPED)
    if difference is None:  # the result stands: refitted for --force, or to write its missing DICOM results
        reason = "--force" if job.force else "no DICOM results yet (--dicom-out)"
    else:
        reason = difference
    start = time.perf_counter()
    try:
        sources = ImageSources(dce=list(job.dce), mask=job.mask, label=job.label, segment=job.segment, roi=job.roi,
                               times=parse_times_option(job.times) if job.times else None, times_text=job.times,
                               frame_interval=job.frame_interval)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            result = analyse_image(sources, ImagingParameters(**job.imaging))
        messages = list(dict.fromkeys(str(w.message) for w in caught))
        inputs = sources.record()
        del inputs["mask_min_fraction"]  # the manifest has no such column: recorded as before
        inputs.update(patient=job.patient, fingerprint=fingerprint)
        with dicom_results(result, _dicom_export(job), force=job.force):  # both folders, or neither
            write_imaging_result(result, out, inputs=inputs, map_format=job.map_format)
    except InputError as error:
        _remove_stale_result(out, difference)
        return PatientOutcome(job.patient, FAILED, time.perf_counter() - start, str(error), refit_reason=reason)
    except Exception as error:  # noqa: BLE001 - one patient's unexpected failure must not stop the cohort
        _remove_stale_result(out, difference)
        return PatientOutcome(job.patient, FAILED, time.perf_counter() - start,
                              f"unexpected {type(error).__name__}: {error}", refit_reason=reason)
    return PatientOutcome(job.patient, DONE, time.perf_counter() - start, refit_reason=reason, warnings=messages)


def _dicom_export(job: PatientJob) -> Optional[DicomExport]:
    # A DICOM series names its own patient; any other input is filed under the manifest's patient ID.
    if job.dicom_out is None:
        return None
    identity = None if is_dicom_input(job.dce) else DicomIdentity(patient_id=job.patient)
    return DicomExport(out=job.dicom_out, identity=identity)


def _remove_stale_result(out: Path, difference: Optional[str]) -> None:
    # The patient's earlier result belongs to other inputs or settings: it must not stand for this run's.
    if difference and out.is_dir() and written_by_this_tool(out):
        shutil.rmtree(out, ignore_errors=True)


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
    for index, patient in zip(table.index, table["patient"]):
        check_patient_id(patient, source=str(path), row=int(index) + 2)
    duplicated = table["patient"][table["patient"].duplicated()].unique()
    if len(duplicated):
        raise InputError(f"duplicate patient ID(s) {', '.join(duplicated[:5])}", source=str(path),
                         field="patient", expected="one row per patient")
    # IDs that differ only in case would share one folder on a case-insensitive file system (macOS, Windows).
    folded = [patient_folder_name(p).casefold() for p in table["patient"]]
    seen: Dict[str, int] = {}
    for index, (patient, key) in enumerate(zip(table["patient"], folded)):
        if key in seen:
            other = table["patient"].iloc[seen[key]]
            raise InputError(f"patient IDs {other!r} (row {seen[key] + 2}) and {patient!r} (row {index + 2}) differ "
                             "only in upper/lower case", source=str(path), field="patient",
                             expected="IDs that differ in more than case (their result folders would be one on "
                                      "case-insensitive file systems)")
        seen[key] = index
    base = path.parent.absolute()
    for column in ("dce", "mask", "expression"):
        if column in table.columns:
            table[column] = [";".join(str(_absolute(base, p)) for p in value.split(";") if p.strip())
                             if value.strip() else "" for value in table[column]]
    return table


def _absolute(base: Path, value: str) -> Path:
    p = Path(value.strip()).expanduser()
    return p if p.is_absolute() else base / p


def _optional(row: pd.Series, column: str, kind: Callable, path: Path, *, minimum: Optional[float] = None,
              strict: bool = False):
    value = str(row.get(column, "")).strip()
    if value == "":
        return None
    bound = "" if minimum is None else f" {'>' if strict else '>='} {minimum:g}"
    try:
        number = kind(value)
    except ValueError:
        number = None
    if number is None or (minimum is not None and not (
            math.isfinite(number) and (number > minimum if strict else number >= minimum))):
        raise InputError(f"{value!r} is not a valid value", source=str(path), field=f"{column} of {row['patient']}",
                         expected=f"{'a number' if kind is float else 'an integer' if kind is int else 'text'}{bound}")
    return number


def patient_jobs(manifest: pd.DataFrame, out: Path, imaging: dict, *, force: bool, source: Path,
                 map_format: str = "nrrd", dicom_out: Optional[Path] = None) -> List[PatientJob]:
    """One job per manifest row; a row whose imaging cells are invalid gets a job that fails with the reason (that
    patient goes into failures.csv, the others are analysed). With ``dicom_out``, each patient's DICOM results go
    into ``dicom_out/<patient folder>``."""
    jobs = []
    for _, row in manifest.iterrows():
        folder = str(out / "patients" / patient_folder_name(row["patient"]))
        dicom = None if dicom_out is None else str(Path(dicom_out) / patient_folder_name(row["patient"]))
        try:
            baseline = _optional(row, "baseline_frames", int, source, minimum=1)
            settings = dict(imaging)
            if baseline is not None:
                settings["baseline_frames"] = baseline
            jobs.append(PatientJob(
                patient=row["patient"], dce=row["dce"].split(";"), mask=row["mask"], out=folder,
                label=_optional(row, "label", int, source, minimum=1), segment=_optional(row, "segment", str, source),
                roi=_optional(row, "roi", str, source), map_format=map_format,
                times=_optional(row, "times", str, source),
                frame_interval=_optional(row, "frame_interval", float, source, minimum=0, strict=True),
                imaging=settings, force=force, dicom_out=dicom,
            ))
        except InputError as error:
            jobs.append(PatientJob(patient=row["patient"], dce=row["dce"].split(";"), mask=row["mask"], out=folder,
                                   force=force, problem=str(error), dicom_out=dicom))
    return jobs


#: Characters a patient's folder name keeps as they are; every other character is escaped.
_FOLDER_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
_MAX_ID_BYTES = 200  # folder names may have 255 bytes; escaping makes a character up to 12 bytes long


def check_patient_id(patient: str, *, source: str = "manifest", row: Optional[int] = None) -> None:
    """Refuse a patient ID that cannot name a result folder: empty, ``.``/``..``, path separators, control
    characters, or too long."""
    where = f"patient, row {row}" if row is not None else "patient"
    problem = None
    if patient == "":
        problem = "empty patient ID"
    elif patient in (".", ".."):
        problem = f"patient ID {patient!r} names a folder itself"
    elif "/" in patient or "\\" in patient:
        problem = f"patient ID {patient!r} contains a path separator"
    elif any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in patient):
        problem = f"patient ID {patient!r} contains a control character"
    elif len(patient_folder_name(patient).encode("utf-8")) > 255 or len(patient.encode("utf-8")) > _MAX_ID_BYTES:
        problem = f"patient ID {patient[:40]!r}... is too long"
    if problem:
        raise InputError(problem, source=source, field=where,
                         expected="an ID of printable characters without '/' or '\\', not '.' or '..'")


def patient_folder_name(patient: str) -> str:
    """The folder of a patient's results in ``patients/``: the ID itself when it is made of letters, digits,
    ``.``, ``_`` and ``-`` (not starting with ``.``); every other character (and a leading ``.``) written as
    ``%XX`` per UTF-8 byte. Different IDs always give different names (``%`` itself is escaped), and the ID can be
    read back from the name (:func:`patient_from_folder_name`)."""
    parts = []
    for position, character in enumerate(patient):
        if character in _FOLDER_CHARACTERS and not (position == 0 and character == "."):
            parts.append(character)
        else:
            parts.append("".join(f"%{byte:02X}" for byte in character.encode("utf-8")))
    return "".join(parts)


def patient_from_folder_name(name: str) -> str:
    """The patient ID of a folder name made by :func:`patient_folder_name`."""
    from urllib.parse import unquote

    return unquote(name, encoding="utf-8", errors="strict")


# ----------------------------------------------------------------------------------------------------------------
# Running the patients
# ----------------------------------------------------------------------------------------------------------------


def run_patients(
    jobs: Sequence[PatientJob],
    *,
    workers: int = 1,
    dask_scheduler: Optional[str] = None,
    progress: Optional[Callable[[int, int, PatientOutcome], None]] = None,
    while_waiting: Optional[Callable[[], None]] = None,
) -> List[PatientOutcome]:
    """Run :func:`image_patient` for every job: serially, in a process pool, or on a Dask cluster.

    ``progress(done, total, outcome)`` is called as each patient finishes (in completion order). The outcomes are
    returned in the order of ``jobs``. ``while_waiting()`` is called once in this process after the jobs went to
    the pool or cluster (never in a serial run), for work of later stages that would otherwise wait for them.
    """
    outcomes: Dict[str, PatientOutcome] = {}
    for done, outcome in enumerate(_completed(jobs, workers, dask_scheduler, while_waiting), start=1):
        outcomes[outcome.patient] = outcome
        if progress is not None:
            progress(done, len(jobs), outcome)
    return [outcomes[job.patient] for job in jobs]


def _completed(jobs: Sequence[PatientJob], workers: int, dask_scheduler: Optional[str],
               while_waiting: Optional[Callable[[], None]] = None) -> Iterator[PatientOutcome]:
    while_waiting = while_waiting or (lambda: None)
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
            while_waiting()
            for future in dask_as_completed(futures):
                yield future.result()
        finally:
            client.close()
        return
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield image_patient(job)
        return
    _load_fit_engine_before_fork()
    with ProcessPoolExecutor(max_workers=workers, initializer=_start_worker) as pool:
        futures = [pool.submit(image_patient, job) for job in jobs]
        try:
            while_waiting()  # the workers exist now (forked at the first submit): nothing of this reaches them
            for future in as_completed(futures):
                yield future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _load_fit_engine_before_fork() -> None:
    """Load the Brix fit engine once in this process before the workers are forked, so that they inherit it: loading
    the compiled engine (numba and its cached machine code) costs about 1.4 CPU-s per process, paid by every worker
    otherwise (issue 14). With another start method (spawn, forkserver) the workers load it themselves."""
    import multiprocessing

    if multiprocessing.get_start_method() != "fork":
        return
    from ..imaging.brix import fit_brix

    t = np.linspace(0.1, 5.0, 12)
    fit_brix(np.exp(-0.1 * t)[None, :] - np.exp(-t)[None, :], t)  # one curve: loads the engine, no BLAS threads


def _start_worker() -> None:
    """Each worker process with one BLAS / OpenMP thread: the workers already share the cores, and threads on top
    of them only contend (the fit's own chunk threads are off in workers too: imaging/brix_numba.py)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency; Slicer may lack it
        return
    threadpool_limits(limits=1)


def _import_cohort_stage() -> None:
    """Import the libraries of the cohort stage (scipy.stats, lifelines, matplotlib) while the workers fit: this
    process only waits for them then, and the imports are about a third of that serial stage (issue 14)."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # as the figures do (report/km_figure.py): no display in a batch
        import matplotlib.pyplot  # noqa: F401

        from ..report import km_figure  # noqa: F401
        from ..stats import cohort  # noqa: F401
    except ImportError:  # the cohort stage says what is missing, as its own failure
        return


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
        summary = SUMMARY_JSON.read(out / "patients" / patient_folder_name(patient) / "summary.json")
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
    synthetic : bool
        The data are synthetic (the demo's): recorded in ``batch.json`` so that the report says so in its title.
    truth_table : str, optional
        The synthetic cohort's true values (the demo's ``truth.csv``), compared with the recovered ones in the
        report.
    map_format : {"nrrd", "nifti"}
        File format of each patient's maps and masks (``--format``).
    validation_column, validation_table : str, optional
        Column marking validation patients (in the manifest, or in ``validation_table`` by ``patient``): the cohort
        stage reports the imaging-gene association for all, training and validation patients.
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
    dicom_out: Optional[Union[str, Path]] = None  # each patient's DICOM results in a subfolder (batch --dicom-out)
    synthetic: bool = False
    truth_table: Optional[str] = None
    map_format: str = "nrrd"
    validation_column: Optional[str] = None
    validation_table: Optional[str] = None

    def record(self) -> dict:
        """The settings as written to ``batch.json``: cutoffs and horizon as their option text (0.27 → "0.27",
        60 → "60", None → "none"), as the batch has always recorded them."""
        record = asdict(self)
        record["signature"] = None if self.signature is None else str(self.signature)
        record["dicom_out"] = None if self.dicom_out is None else str(self.dicom_out)
        for key in ("imaging_cutoff", "gene_cutoff"):
            value = record[key]
            record[key] = value if isinstance(value, str) else f"{value:g}"
        record["horizon"] = "none" if self.horizon is None else f"{self.horizon:g}"
        record["validation_table"] = None if self.validation_table is None else str(self.validation_table)
        return record


def check_settings(settings: BatchSettings, covariate_columns: Optional[Sequence[str]] = None) -> None:
    """Refuse settings that make no sense before any work (nothing is imaged or written).

    Parameters
    ----------
    settings : BatchSettings
    covariate_columns : list of str, optional
        The manifest's covariate columns; ``covariates`` and ``categorical`` must be among them or the columns the
        batch computes (:data:`COMPUTED_COLUMNS`).

    Raises
    ------
    InputError
        Naming the option and what was expected.
    """
    from ..genes.scoring import REFERENCE_MODES
    from ..stats.survival import TIME_UNITS_PER_MONTH

    s = settings
    if not isinstance(s.workers, int) or s.workers < 1:
        raise InputError(f"{s.workers!r} workers", source="--workers", expected="an integer >= 1")
    check_counts(s, "permutations")
    if not isinstance(s.seed, int) or s.seed < 0:
        raise InputError(f"{s.seed!r} is not a seed", source="--seed", expected="an integer >= 0")
    imaging = s.imaging
    for name, option, low, high in (("a_threshold", "--a-threshold", 0.0, math.inf),
                                    ("hf_cutoff", "--hf-cutoff", 0.0, 1.0),
                                    ("injection_duration_s", "--injection-duration", 0.0, math.inf)):
        value = getattr(imaging, name)
        if not (isinstance(value, (int, float)) and math.isfinite(value) and low <= value <= high
                and (name != "a_threshold" or value > 0)):
            bound = f"in [{low:g}, {high:g}]" if math.isfinite(high) else ("> 0" if name == "a_threshold" else
                                                                            ">= 0")
            raise InputError(f"{value!r} is not a valid value", source=option, expected=f"a finite number {bound}")
    check_map_format(s.map_format)
    if not isinstance(imaging.biopsy_slice, int) or imaging.biopsy_slice < 1:
        raise InputError(f"{imaging.biopsy_slice!r} is not a slice", source="--biopsy-slice",
                         expected="an integer >= 1 (1 = most caudal tumour slice)")
    for name, option in (("imaging_cutoff", "--imaging-cutoff"), ("gene_cutoff", "--gene-cutoff")):
        value = getattr(s, name)
        if not (value == "optimal" or (isinstance(value, (int, float)) and math.isfinite(value))):
            raise InputError(f"{value!r} is neither a number nor 'optimal'", source=option,
                             expected="a finite number or 'optimal'")
    if s.horizon is not None and not (math.isfinite(s.horizon) and s.horizon > 0):
        raise InputError(f"horizon {s.horizon!r} is not positive", source="--horizon", expected="months > 0 or none")
    if s.time_unit not in TIME_UNITS_PER_MONTH:
        raise InputError(f"unknown time unit {s.time_unit!r}", source="--time-unit",
                         expected=", ".join(TIME_UNITS_PER_MONTH))
    if s.gene_reference not in REFERENCE_MODES:
        raise InputError(f"unknown reference mode {s.gene_reference!r}", source="--gene-reference",
                         expected=" or ".join(REFERENCE_MODES))
    if s.signature is not None and not Path(s.signature).is_file():
        raise InputError("signature file not found", source=str(s.signature), field="--signature",
                         expected="a signature file (JSON)")
    if covariate_columns is not None:
        known = list(covariate_columns) + list(COMPUTED_COLUMNS)
        for option, names in (("--covariates", s.covariates), ("--categorical", s.categorical)):
            unknown = [n for n in names if n not in known]
            if unknown:
                raise InputError(f"no column {', '.join(map(repr, unknown))}", source=option,
                                 expected=f"columns of the manifest or of the cohort table: {', '.join(known)}")
        if s.validation_column and not s.validation_table and s.validation_column not in known:
            raise InputError(f"no column {s.validation_column!r} in the manifest", source="--validation-column",
                             expected="a manifest column, or --validation-table FILE holding it")
    if s.validation_table is not None and not Path(s.validation_table).is_file():
        raise InputError("validation table not found", source=str(s.validation_table), field="--validation-table",
                         expected="a table with a 'patient' column and the --validation-column")
    if s.validation_table is not None and not s.validation_column:
        raise InputError("a validation table needs the column that marks the validation patients",
                         source="--validation-table", expected="--validation-column COL as well")


def manifest_inputs(manifest: pd.DataFrame, manifest_path: Path, settings: BatchSettings) -> List[str]:
    """Every input file or folder of a batch (the output may not be, contain or lie inside one of them)."""
    inputs = [str(manifest_path)]
    for column in ("dce", "mask", "expression"):
        if column in manifest.columns:
            inputs.extend(p for value in manifest[column] for p in str(value).split(";") if p)
    if settings.signature is not None:
        inputs.append(str(settings.signature))
    if settings.validation_table is not None:
        inputs.append(str(settings.validation_table))
    return list(dict.fromkeys(inputs))


def outcome_problems(manifest: pd.DataFrame, source: Path) -> Dict[str, str]:
    """Patient → what is wrong with its ``pfs_time``/``pfs_event``: a time that is not a finite number >= 0, an
    event that is not 0 or 1. Missing values are allowed (the cohort stage leaves those patients out and says so).
    """
    problems = {}
    for index, row in manifest.iterrows():
        where = f"row {int(index) + 2} of {Path(source).name}"
        time_text, event_text = str(row["pfs_time"]).strip(), str(row["pfs_event"]).strip()
        if time_text:
            try:
                value = float(time_text)
            except ValueError:
                value = math.nan
            if not (math.isfinite(value) and value >= 0):
                problems[row["patient"]] = f"pfs_time {time_text!r} ({where}) is not a follow-up time >= 0"
                continue
        if event_text:
            try:
                event = float(event_text)
            except ValueError:
                event = math.nan
            if event not in (0.0, 1.0):
                problems[row["patient"]] = f"pfs_event {event_text!r} ({where}) is not 1 (event) or 0 (censored)"
    return problems


def prepare_output(out: Path, inputs: Sequence[str], *, force: bool) -> Path:
    """Check the batch's output folder before any work and mark it as written by this tool.

    The folder is written into (so that a run resumes), never replaced as a whole: it may be new, empty, an earlier
    batch output (marker or ``batch.json``), or, with ``force``, a folder holding other files. It may never be a
    file, an input, hold an input or lie inside an input folder.
    """
    earlier_batch = _is_batch_folder(out)
    out = check_output_dir(out, inputs, force=force or earlier_batch)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"--out {out}: cannot create the folder ({error.strerror or error})") from None
    mark_as_written(out)
    return out


def prepare_dicom_output(dicom_out: Path, out: Path, inputs: Sequence[str], *, force: bool) -> None:
    """Check ``--dicom-out`` before any work: highdicom importable (Python 3.10+), a folder that is no input, holds
    no input, lies outside ``out`` (and does not hold it), and is new, empty or written by this tool (or ``force``).
    Patients' subfolders are replaced one by one, each atomically."""
    from ..io.dicom_out import check_dicom_export
    from .dicom_export import check_dicom_folder

    check_dicom_export()
    check_dicom_folder(dicom_out, inputs, results_out=out, force=force)


def mark_as_written(folder: Path) -> None:
    """Put the marker of :mod:`~HypoxiaMarkersLib.io.outputs` into a folder the batch or demo writes into (so that
    a later run recognises it as the tool's own)."""
    marker = Path(folder) / MARKER
    if not marker.is_file():
        marker.write_text("This folder was written by hypoxia-markers; a new run may replace it.\n", encoding="utf-8")


def _is_batch_folder(path: Path) -> bool:
    try:
        record = json.loads((Path(path) / "batch.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and record.get("command") == "batch"


def _remove_own(path: Path) -> bool:
    """Remove a stage's output folder of an earlier run (only one this tool wrote); True if one was removed."""
    if path.is_dir() and written_by_this_tool(path):
        shutil.rmtree(path)
        return True
    return False


def run_batch(
    manifest_path: Path,
    out: Path,
    settings: BatchSettings,
    *,
    progress: Optional[Callable[[int, int, PatientOutcome], None]] = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Run the whole pipeline on a manifest; returns what batch.json holds.

    The manifest, the settings and the output folder are checked before any work. A stage that fails as a whole
    (e.g. too few patients for the cohort statistics) is recorded in ``stages`` and ``failed_stages`` and its
    output of an earlier run removed; patients refitted because their inputs or settings changed are listed in
    ``refit`` (patient → reason).
    """
    out = Path(out).absolute()
    manifest_path = Path(manifest_path).absolute()
    manifest = read_manifest(manifest_path)
    check_settings(settings, [c for c in manifest.columns if c not in KNOWN_COLUMNS])
    dicom_out = None if settings.dicom_out is None else Path(settings.dicom_out).absolute()
    jobs = patient_jobs(manifest, out, asdict(settings.imaging), force=settings.force, source=manifest_path,
                        map_format=settings.map_format, dicom_out=dicom_out)
    inputs = manifest_inputs(manifest, manifest_path, settings)
    if dicom_out is not None:
        prepare_dicom_output(dicom_out, out, inputs, force=settings.force)
    out = prepare_output(out, inputs, force=settings.force)
    if dicom_out is not None:
        dicom_out.mkdir(parents=True, exist_ok=True)
        mark_as_written(dicom_out)
    manifest.to_csv(out / "manifest.csv", index=False)
    timings: Dict[str, float] = {}

    start = time.perf_counter()
    outcomes = run_patients(jobs, workers=settings.workers, dask_scheduler=settings.dask_scheduler, progress=progress,
                            while_waiting=_import_cohort_stage)
    timings["image"] = time.perf_counter() - start
    refit = {o.patient: o.refit_reason for o in outcomes if o.refit_reason}

    start = time.perf_counter()
    genes = score_genes(manifest, out, signature=settings.signature, reference=settings.gene_reference)
    timings["genes"] = time.perf_counter() - start

    bad_outcomes = outcome_problems(manifest, manifest_path)
    table = cohort_table(manifest[~manifest["patient"].isin(list(bad_outcomes))], out, outcomes, genes)
    table.to_csv(out / "cohort_table.csv", index=False)
    failures = failures_table(manifest, outcomes, genes)
    failures += [{"patient": p, "stage": "cohort", "error": e} for p, e in bad_outcomes.items()]
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
        validation=settings.validation_column, validation_table=settings.validation_table,
    )
    if table.empty:
        stages["cohort"] = _failed(log, "cohort", "no patient has both an imaging result and a gene score")
    else:
        stages["cohort"] = _run_stage(log, "cohort", run_cohort, out / "cohort_table.csv", out / "cohort", cohort)
    timings["cohort"] = time.perf_counter() - start

    if settings.heterogeneity:
        start = time.perf_counter()
        folders = [job.out for job, o in zip(jobs, outcomes) if o.status in (DONE, SKIPPED)]
        stages["heterogeneity"] = _heterogeneity_stage(log, out, genes, settings.seed, folders)
        timings["heterogeneity"] = time.perf_counter() - start
    elif _remove_own(out / "heterogeneity"):
        stages["heterogeneity"] = "not requested (the result of an earlier run was removed)"
    for stage in ("cohort", "heterogeneity"):
        if stages.get(stage, "").startswith("failed") and _remove_own(out / stage):
            stages[stage] += " (the result of an earlier run was removed)"

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
        "failed_stages": [],
        "refit": refit,
        "timings_s": timings,
        "patients": [asdict(o) for o in outcomes],
    }
    # The report of an earlier run describes other results: it goes before batch.json says anything new.
    old_report = _remove_own(out / "report")
    if not settings.report and old_report:
        stages["report"] = "not requested (the report of an earlier run was removed)"
    record["failed_stages"] = [name for name, status in stages.items() if status.startswith("failed")]
    write_result(BATCH_JSON, record, out / "batch.json")
    if settings.report:
        start = time.perf_counter()
        stages["report"] = _report_stage(log, out)
        timings["report"] = time.perf_counter() - start
        record["failed_stages"] = [name for name, status in stages.items() if status.startswith("failed")]
        write_result(BATCH_JSON, record, out / "batch.json")
    return record


def _failed(log, name: str, reason: str) -> str:
    log(f"{name}: not done: {reason}")
    return f"failed: {reason}"


def _run_stage(log, name: str, stage: Callable, *args, **kwargs) -> str:
    try:
        stage(*args, **kwargs)
    except InputError as error:
        return _failed(log, name, str(error))
    return "done"


def _heterogeneity_stage(log, out: Path, genes: Dict[str, dict], seed: int, folders: Sequence[str]) -> str:
    settings = HeterogeneitySettings(seed=seed)
    biopsies = None
    scores = out / "genes" / "scores.csv"
    if scores.is_file():
        # The biopsy calls were made at the signature's cutoff: the agreement of calls must use the same one.
        settings.gene_cutoff = float(GENE_SCORES_JSON.read(out / "genes" / "scores.json")["parameters"]["cutoff"])
        biopsies = scores
    if not folders:
        return _failed(log, "heterogeneity", "no patient has an imaging result")
    # This run's patients only: a folder in patients/ of a patient no longer in the manifest is not part of it.
    return _run_stage(log, "heterogeneity", run_heterogeneity, out / "heterogeneity", settings,
                      images=list(folders), biopsies=biopsies)


def _report_stage(log, out: Path) -> str:
    try:
        from ..report.page import write_report
    except ImportError:
        return "not available"
    try:
        path = write_report(out)
    except InputError as error:
        return _failed(log, "report", str(error))
    return f"done: {path}"
