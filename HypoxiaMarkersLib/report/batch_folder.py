"""Reading the output folder of a batch run for the report: every part, or a note saying why it is missing.

A batch folder holds ``batch.json``, ``failures.csv``, ``cohort_table.csv``, ``patients/<patient>/`` (the ``image``
command's results), ``genes/``, ``cohort/`` and ``heterogeneity/``. :func:`read_batch` reads what is there; a part
that is missing or unreadable is None in :class:`BatchFolder` and explained in its ``notes``, so that the report can
say so instead of failing.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional

import pandas as pd

from ..errors import InputError
from ..io.results_schema import (
    BATCH_JSON,
    COHORT_RESULTS_JSON,
    GENE_SCORES_JSON,
    HETEROGENEITY_JSON,
    ResultFile,
)

KNOWN_PARTS = ("batch.json", "failures.csv", "cohort_table.csv", "patients", "genes", "cohort", "heterogeneity")


def is_finite_number(value: Any) -> bool:
    """True for a value that converts to a finite float."""
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


@dataclass
class BatchFolder:
    """What a batch output folder holds; a part that is missing or unreadable is None and has a note.

    Attributes
    ----------
    path : Path
    batch : dict or None
        ``batch.json``.
    failures : DataFrame or None
        ``failures.csv`` (patient, stage, error).
    cohort_table : DataFrame or None
        ``cohort_table.csv``.
    images : dict
        Patient → :class:`heterogeneity_io.ImageResult` of every readable ``patients/<patient>/`` folder.
    gene_scores, gene_patients : DataFrame or None
        ``genes/scores.csv`` and ``genes/scores_patients.csv``.
    gene_results : dict or None
        ``genes/scores.json`` (parameters of the gene scores).
    cohort : dict or None
        ``cohort/results.json``.
    cohort_patients : DataFrame or None
        ``cohort/patients.csv``.
    heterogeneity : dict or None
        ``heterogeneity/heterogeneity.json``.
    heterogeneity_tables : dict
        File name → DataFrame of the CSV tables in ``heterogeneity/``.
    notes : dict
        Part → why it is missing or unreadable.
    """

    path: Path
    batch: Optional[dict] = None
    failures: Optional[pd.DataFrame] = None
    cohort_table: Optional[pd.DataFrame] = None
    images: Dict[str, Any] = field(default_factory=dict)
    gene_scores: Optional[pd.DataFrame] = None
    gene_patients: Optional[pd.DataFrame] = None
    gene_results: Optional[dict] = None
    cohort: Optional[dict] = None
    cohort_patients: Optional[pd.DataFrame] = None
    heterogeneity: Optional[dict] = None
    heterogeneity_tables: Dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: Dict[str, str] = field(default_factory=dict)

    @property
    def parameters(self) -> dict:
        """The batch's parameters (``batch.json`` ``parameters``), or {}."""
        params = self.batch.get("parameters") if isinstance(self.batch, dict) else None
        return params if isinstance(params, dict) else {}

    @property
    def synthetic(self) -> bool:
        """True when ``batch.json`` says the data are synthetic (``parameters.synthetic`` is ``true``: the demo
        sets it). Only this explicit entry counts: nothing is guessed from names of files or patients."""
        return self.parameters.get("synthetic") is True

    @property
    def truth_table(self) -> Optional[Path]:
        """The table of true values of a synthetic cohort (``parameters.truth_table``, the demo's ``truth.csv``),
        relative paths taken from the batch folder; None when not synthetic or not recorded."""
        value = self.parameters.get("truth_table")
        if not self.synthetic or not isinstance(value, str) or not value:
            return None
        path = Path(value)
        return path if path.is_absolute() else self.path / path

    @property
    def seed(self) -> Optional[int]:
        """The batch's seed (synthetic cohorts), if ``batch.json`` records one."""
        if not isinstance(self.batch, dict):
            return None
        for place in (self.batch, self.batch.get("parameters"), (self.batch.get("parameters") or {}).get("cohort")):
            if isinstance(place, dict) and is_finite_number(place.get("seed")):
                return int(place["seed"])
        return None


def _read_json(path: Path, notes: Dict[str, str], key: str, declared: ResultFile) -> Optional[dict]:
    """The file checked against its declaration (:mod:`~HypoxiaMarkersLib.io.results_schema`), or None and a note
    saying why (not found, unreadable, or a required key missing and which version wrote the file)."""
    if not path.is_file():
        notes[key] = f"{path.name} not found"
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, OSError) as error:
        notes[key] = f"{path.name} could not be read ({error})"
        return None
    if not isinstance(data, dict):
        notes[key] = f"{path.name} is not a JSON object"
        return None
    try:
        return declared.load(data, path.name)
    except InputError as error:
        notes[key] = str(error)
        return None


def _read_csv(path: Path, notes: Dict[str, str], key: str, *, empty_ok: bool = False) -> Optional[pd.DataFrame]:
    if not path.is_file():
        notes[key] = f"{path.name} not found"
        return None
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        if empty_ok:
            return pd.DataFrame()
        notes[key] = f"{path.name} is empty"
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as error:
        notes[key] = f"{path.name} could not be read ({error})"
    return None


def read_batch(batch_dir) -> BatchFolder:
    """Read everything a batch output folder holds, noting what is missing instead of failing.

    Raises
    ------
    InputError
        ``batch_dir`` is not a folder, or holds none of the parts of a batch output.
    """
    path = Path(batch_dir)
    if not path.is_dir():
        raise InputError("not a folder", source=str(path), expected="the output folder of hypoxia-markers batch")
    if not any((path / part).exists() for part in KNOWN_PARTS):
        raise InputError("none of the parts of a batch output is here", source=str(path),
                         expected=f"some of {', '.join(KNOWN_PARTS)}")
    batch = BatchFolder(path=path)
    notes = batch.notes
    batch.batch = _read_json(path / "batch.json", notes, "batch", BATCH_JSON)
    batch.failures = _read_csv(path / "failures.csv", notes, "failures", empty_ok=True)
    batch.cohort_table = _read_csv(path / "cohort_table.csv", notes, "cohort_table")
    _read_images(path / "patients", batch)
    genes = path / "genes"
    batch.gene_scores = _read_csv(genes / "scores.csv", notes, "genes")
    if (genes / "scores_patients.csv").is_file():
        batch.gene_patients = _read_csv(genes / "scores_patients.csv", notes, "gene_patients")
    if (genes / "scores.json").is_file():
        batch.gene_results = _read_json(genes / "scores.json", notes, "gene_results", GENE_SCORES_JSON)
    batch.cohort = _read_json(path / "cohort" / "results.json", notes, "cohort", COHORT_RESULTS_JSON)
    batch.cohort_patients = _read_csv(path / "cohort" / "patients.csv", notes, "cohort_patients")
    het = path / "heterogeneity"
    batch.heterogeneity = _read_json(het / "heterogeneity.json", notes, "heterogeneity", HETEROGENEITY_JSON)
    if het.is_dir():
        for csv in sorted(het.glob("*.csv")):
            table = _read_csv(csv, notes, f"heterogeneity/{csv.name}")
            if table is not None:
                batch.heterogeneity_tables[csv.name] = table
    return batch


def _read_images(folder: Path, batch: BatchFolder) -> None:
    from ..heterogeneity.inputs import read_image_result

    if not folder.is_dir():
        batch.notes["patients"] = "patients/ not found"
        return
    problems = []
    # The patients of the run batch.json describes (a folder of a patient no longer in the manifest is not one).
    listed = batch.batch.get("patients") if isinstance(batch.batch, dict) else None
    current = None
    if isinstance(listed, list) and all(isinstance(p, dict) for p in listed):
        current = {p.get("patient") for p in listed if p.get("status") in ("done", "skipped")}
    for patient_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        try:
            result = read_image_result(patient_dir)
            if current is None or result.patient in current:
                batch.images[result.patient] = result
        except InputError as error:
            problems.append(f"{patient_dir.name}: {error}")
    if problems:
        batch.notes["patients_unreadable"] = "; ".join(problems)
    if not batch.images:
        batch.notes["patients"] = "no readable image results in patients/"
