"""The genes stage: the signature score (default: the 6-gene hypoxia score) of every sample (``genes`` command).

Example::

    from HypoxiaMarkersLib.pipeline.genes import GenesSettings, run_genes
    run_genes("expression.csv", "scores.csv", GenesSettings())

writes ``scores.csv`` (per sample), ``scores.json`` (parameters, warnings) and, when biopsies are grouped by
patient, ``scores_patients.csv``, each file atomically, the JSON last, and returns the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from .. import CITATION, __version__
from ..errors import InputError
from .checks import check_log2_offset, check_range, prepare_output_file

PathLike = Union[str, Path]

PATIENT_COLUMNS = [
    "patient", "hypoxia_score", "classification", "n_biopsies", "n_biopsies_not_scored", "n_more_hypoxic",
    "biopsy_calls_agree", "biopsy_score_min", "biopsy_score_max", "biopsies",
]


@dataclass
class GenesSettings:
    """Settings of reading and scoring an expression file (all written into the JSON record).

    Attributes
    ----------
    orientation : str, optional
        "genes-by-samples" or "samples-by-genes" (None: detected from the labels).
    sheet : str, optional
        Excel sheet (None: the first).
    decimal : str
        Decimal mark of a text table.
    annotation_columns : list of str
        Columns (or rows) holding annotations, not expression values.
    drop_empty : bool
        Skip rows/columns without any value (otherwise an error).
    probe_map : path, optional
        Platform annotation table mapping probe IDs to gene symbols; ``probe_column``/``symbol_column`` name its
        columns (None: by name).
    log2, log2_offset : bool, float
        The values are linear: take log2(value + offset).
    scale_check : bool
        Check that the values are log2 (not linear).
    signature : path, optional
        Signature file, JSON or YAML (None: the shipped 6-gene hypoxia signature).
    reference : str
        "auto", "stored" or "cohort" reference values.
    probe_selection : str, optional
        Several rows per gene: "highest_mean" or "average" (None: the signature's).
    cutoff : float, optional
        Classification cutoff (None: the signature's).
    allow_missing : bool
        Score on the genes present when some are missing (with a warning).
    save_reference : path, optional
        Write the signature with the reference values used here.
    patient_column, patient_map, sample_column
        Several biopsies per tumour: the sample annotation (or ``patient_map`` column) holding the patient ID; a
        table of sample -> patient; its sample column.
    """

    orientation: Optional[str] = None
    sheet: Optional[str] = None
    decimal: str = "."
    annotation_columns: List[str] = field(default_factory=list)
    drop_empty: bool = False
    probe_map: Optional[PathLike] = None
    probe_column: Optional[str] = None
    symbol_column: Optional[str] = None
    log2: bool = False
    log2_offset: float = 0.0
    scale_check: bool = True
    signature: Optional[PathLike] = None
    reference: str = "auto"
    probe_selection: Optional[str] = None
    cutoff: Optional[float] = None
    allow_missing: bool = False
    save_reference: Optional[PathLike] = None
    patient_column: Optional[str] = None
    patient_map: Optional[PathLike] = None
    sample_column: Optional[str] = None

    def check(self) -> None:
        """Options that only make sense together."""
        if (self.probe_column or self.symbol_column) and not self.probe_map:
            raise InputError("--probe-column/--symbol-column need --probe-map", source="--probe-map",
                             expected="a platform annotation file")
        if self.sample_column and not self.patient_map and not self.patient_column:
            raise InputError("--sample-column needs --patient-map", source="--sample-column",
                             expected="a --patient-map file")
        check_log2_offset(self.log2_offset)
        if self.cutoff is not None:
            check_range(self.cutoff, "--cutoff", expected="a finite score cutoff (default: the signature's, 0)")

    def input_files(self, expression_path: PathLike) -> List[PathLike]:
        """The files a run reads (no output may be one of them)."""
        return [p for p in (expression_path, self.probe_map, self.signature, self.patient_map) if p]


@dataclass
class GenesInput:
    """An expression file read (with the signature and probe map it was read with): read once, scored many times."""

    path: Path
    signature: Any
    probe_map: Any
    expression: Any  # genes.expression.ExpressionData
    annotation_columns: List[str]

    @property
    def samples(self) -> List[str]:
        return list(self.expression.values.columns.astype(str))


@dataclass
class GenesOutput:
    """What :func:`run_genes` computed and where it wrote it."""

    paths: Dict[str, Path]  # samples, json, patients
    samples: Any  # DataFrame as written to the samples CSV
    patients: Any  # DataFrame (grouped biopsies) or None
    record: dict  # the content of the JSON file
    scores: Any  # genes.scoring scores object


def output_paths(out: PathLike) -> Dict[str, Path]:
    """The files of a genes run: the samples CSV ``out`` and the JSON and patients CSV beside it."""
    path = Path(out).absolute()
    if path.is_dir():
        raise InputError("is a folder", source="--out", expected="a file name ending in .csv")
    if path.suffix.lower() != ".csv":
        raise InputError(f"{path.name} does not end in .csv", source="--out", expected="a file name ending in .csv")
    return {
        "samples": path,
        "json": path.with_suffix(".json"),
        "patients": path.with_name(f"{path.stem}_patients.csv"),
    }


def check_outputs(expression_path: PathLike, out: PathLike, settings: GenesSettings) -> Dict[str, Path]:
    """Check, before any work, every file a genes run writes: never an input, a folder, or in a file or a
    read-only folder; return the output paths (nothing is created)."""
    paths = output_paths(out)
    inputs = settings.input_files(expression_path)
    for key, path in paths.items():
        prepare_output_file(path, inputs, option="--out" if key == "samples" else f"--out (its {path.name})")
    if settings.save_reference:
        prepare_output_file(settings.save_reference, inputs, option="--save-reference")
        written = {Path(p).resolve() for p in paths.values()}
        if Path(settings.save_reference).absolute().resolve() in written:
            raise InputError(f"--save-reference {settings.save_reference} is one of the score files of --out",
                             source="--save-reference", expected="another file name (JSON or YAML)")
    return paths


def _written_by_earlier_run(paths: Dict[str, Path]) -> bool:
    """The patients CSV beside ``out`` is an earlier genes run's (its JSON record lists it)."""
    import json

    if not paths["patients"].is_file():
        return False
    try:
        record = json.loads(paths["json"].read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (isinstance(record, dict) and record.get("command") == "genes"
            and (record.get("outputs") or {}).get("patients") == paths["patients"].name)


def read_genes_input(expression_path: PathLike, settings: GenesSettings) -> GenesInput:
    """Read the signature, the probe map and the expression file as ``settings`` say."""
    from ..genes.scoring import read_expression, read_probe_map
    from ..genes.signatures import load_signature

    s = settings
    s.check()
    signature = load_signature(s.signature)
    annotation_columns = list(s.annotation_columns)
    if s.patient_column and not s.patient_map:
        annotation_columns.append(s.patient_column)
    probe_map = None
    if s.probe_map:
        probe_map = read_probe_map(s.probe_map, probe_column=s.probe_column, symbol_column=s.symbol_column)
    expression = read_expression(
        expression_path, orientation=s.orientation, probe_map=probe_map, signature=signature, sheet=s.sheet,
        decimal=s.decimal, annotation_columns=annotation_columns, log2=s.log2, log2_offset=s.log2_offset,
        check=s.scale_check, drop_empty=s.drop_empty,
    )
    return GenesInput(Path(expression_path), signature, probe_map, expression, annotation_columns)


def run_genes(expression_path: PathLike, out: PathLike, settings: GenesSettings, *,
              read: Optional[GenesInput] = None) -> GenesOutput:
    """Score every sample of ``expression_path`` and write the scores to ``out`` (a ``.csv`` file name).

    Parameters
    ----------
    expression_path : path
        Expression file (table, Excel or GEO series matrix, plain or gzipped).
    out : path
        The per-sample CSV; ``<stem>.json`` and ``<stem>_patients.csv`` are written beside it.
    settings : GenesSettings
    read : GenesInput, optional
        The file as already read by :func:`read_genes_input` with the same settings (it is not read again).

    Returns
    -------
    GenesOutput
    """
    from ..genes.scoring import (
        output_columns,
        patients_from_annotations,
        read_patient_map,
        sample_table,
        save_signature,
        score_patients,
        score_samples,
        signature_with_reference,
    )
    from ..io.outputs import atomic_file
    from ..io.results_schema import GENE_SCORES_JSON, write_result

    s = settings
    s.check()
    paths = check_outputs(expression_path, out, s)
    if read is None:
        read = read_genes_input(expression_path, s)
    signature, probe_map, expression = read.signature, read.probe_map, read.expression
    scores = score_samples(expression, signature, reference=s.reference, allow_missing=s.allow_missing,
                           probe_selection=s.probe_selection, cutoff=s.cutoff)

    sample_to_patient = None
    if s.patient_map:
        sample_to_patient = read_patient_map(s.patient_map, sample_column=s.sample_column,
                                             patient_column=s.patient_column)
    elif s.patient_column:
        sample_to_patient = patients_from_annotations(expression, s.patient_column)
    patients = score_patients(scores, sample_to_patient) if sample_to_patient is not None else None

    reference_signature = None
    if s.save_reference:
        reference_signature = signature_with_reference(signature, scores)

    table = sample_table(scores, sample_to_patient=sample_to_patient)
    columns = output_columns(scores.signature, grouped=sample_to_patient is not None)
    table = table[columns]
    title = expression.sample_annotations.get("title")
    if title is not None:
        table["title"] = title.reindex(table["sample"]).to_numpy()

    parameters = {
        "expression": str(Path(expression_path).absolute()),
        "orientation": expression.orientation,
        "orientation_reason": expression.orientation_reason,
        "sheet": s.sheet,
        "decimal": s.decimal,
        "annotation_columns": read.annotation_columns,
        "drop_empty": bool(s.drop_empty),
        "probe_map": str(Path(s.probe_map).absolute()) if s.probe_map else None,
        "probe_column": probe_map.probe_column if probe_map is not None else None,
        "symbol_column": probe_map.symbol_column if probe_map is not None else None,
        "gene_source": expression.gene_source,
        "log2": bool(s.log2),
        "log2_offset": s.log2_offset,
        "scale_check": bool(s.scale_check),
        "signature_file": str(Path(s.signature).absolute()) if s.signature else "<default hypoxia6>",
        **scores.parameters,
        "patient_column": s.patient_column,
        "patient_map": str(Path(s.patient_map).absolute()) if s.patient_map else None,
        "sample_column": s.sample_column,
        "save_reference": str(Path(s.save_reference).absolute()) if s.save_reference else None,
    }
    outputs = {"samples": paths["samples"].name}
    if patients is not None:
        outputs["patients"] = paths["patients"].name
    record = {
        "command": "genes",
        "version": __version__,
        "citation": CITATION,
        "parameters": parameters,
        "signature": scores.signature.to_dict(),
        "scale_check": expression.scale.to_dict() if expression.scale is not None else None,
        "metadata": expression.metadata,
        **scores.summary(),
        "n_patients": int(len(patients)) if patients is not None else None,
        "n_patients_calls_disagree": int((~patients["biopsy_calls_agree"]).sum()) if patients is not None else None,
        "warnings": scores.warnings,
        "outputs": outputs,
    }

    # Everything is computed: now write, each file atomically, the JSON last (it lists the others).
    with atomic_file(paths["samples"]) as tmp:
        table.to_csv(tmp, index=False)
    stale_patients = patients is None and _written_by_earlier_run(paths)
    if patients is not None:
        patients = patients[PATIENT_COLUMNS]
        with atomic_file(paths["patients"]) as tmp:
            patients.to_csv(tmp, index=False)
    elif stale_patients:  # an earlier run grouped biopsies: its patients file would sit beside this run's scores
        paths["patients"].unlink()
    if reference_signature is not None:
        save_signature(reference_signature, s.save_reference)
    with atomic_file(paths["json"]) as tmp:
        write_result(GENE_SCORES_JSON, record, tmp)
    return GenesOutput(paths=paths, samples=table, patients=patients, record=record, scores=scores)
