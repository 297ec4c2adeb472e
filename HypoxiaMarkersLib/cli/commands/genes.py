"""``hypoxia-markers genes``: the gene signature score (default: the 6-gene hypoxia score) of every sample."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Dict, List

from ... import CITATION, __version__
from ...errors import InputError
from ...genes.scoring import (
    ORIENTATIONS,
    PROBE_SELECTIONS,
    REFERENCE_MODES,
    output_columns,
    patients_from_annotations,
    read_expression,
    read_patient_map,
    read_probe_map,
    sample_table,
    save_signature,
    score_patients,
    score_samples,
    signature_with_reference,
)
from ...genes.signatures import load_signature
from ...io.outputs import atomic_file, write_json

ORDER = 30

PATIENT_COLUMNS = [
    "patient", "hypoxia_score", "classification", "n_biopsies", "n_biopsies_not_scored", "n_more_hypoxic",
    "biopsy_calls_agree", "biopsy_score_min", "biopsy_score_max", "biopsies",
]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "genes",
        help="6-gene hypoxia score (or another signature) of each sample from an expression table",
        description=(
            "Score gene expression with a signature (default: the 6-gene hypoxia signature DDIT3, ERO1A, KCTD11, "
            "P4HA2, STC2, UPK1A): log2 values centred on per-gene reference values (default: the cohort's "
            "medians), averaged; score >= cutoff (0) is 'more hypoxic'. Input: CSV/TSV/Excel tables (genes x "
            "samples or samples x genes) or GEO series-matrix files, plain or gzipped. "
            f"Method: {CITATION}"
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("expression", metavar="EXPR", help="expression file (table, Excel or GEO series matrix)")
    parser.add_argument("--out", required=True, metavar="FILE.csv",
                        help="per-sample scores (CSV); FILE.json (parameters, warnings) and FILE_patients.csv "
                             "(when biopsies are grouped) are written beside it")
    read = parser.add_argument_group("reading the expression file")
    read.add_argument("--orientation", choices=ORIENTATIONS, default=None,
                      help="table layout (default: detected from the labels)")
    read.add_argument("--sheet", default=None, help="Excel sheet name (default: the first sheet)")
    read.add_argument("--decimal", choices=(".", ","), default=".", help="decimal mark of a text table")
    read.add_argument("--annotation-columns", default="", metavar="A,B",
                      help="comma-separated columns (or rows) holding annotations, not expression values")
    read.add_argument("--drop-empty", action="store_true",
                      help="skip rows/columns without any value (default: an error)")
    read.add_argument("--probe-map", metavar="FILE", default=None,
                      help="platform annotation table mapping probe IDs to gene symbols")
    read.add_argument("--probe-column", default=None, help="probe-ID column of --probe-map (default: by name)")
    read.add_argument("--symbol-column", default=None, help="gene-symbol column of --probe-map (default: by name)")
    read.add_argument("--log2", action="store_true", help="the values are linear: take log2(value + offset)")
    read.add_argument("--log2-offset", type=float, default=0.0, help="offset added before --log2")
    read.add_argument("--no-scale-check", action="store_true",
                      help="skip the check that the values are log2 (not linear)")
    score = parser.add_argument_group("scoring")
    score.add_argument("--signature", metavar="FILE", default=None,
                       help="signature file, JSON or YAML (default: the shipped 6-gene hypoxia signature); with "
                            "stored reference values it scores new samples against them")
    score.add_argument("--reference", choices=REFERENCE_MODES, default="auto",
                       help="reference values: the signature's stored ones (stored), the medians of this cohort "
                            "(cohort), or stored when present else cohort (auto)")
    score.add_argument("--probe-selection", choices=PROBE_SELECTIONS, default=None,
                       help="several rows per gene: the one with the highest mean, or their average "
                            "(default: the signature's, highest_mean)")
    score.add_argument("--cutoff", type=float, default=None, help="classification cutoff (default: the signature's, 0)")
    score.add_argument("--allow-missing", action="store_true",
                       help="score on the genes present when some are missing (with a warning)")
    score.add_argument("--save-reference", metavar="FILE", default=None,
                       help="write the signature with the reference values used here (JSON, or YAML for .yaml)")
    group = parser.add_argument_group("several biopsies per tumour")
    group.add_argument("--patient-column", default=None,
                       help="sample annotation (or --patient-map column) holding the patient ID")
    group.add_argument("--patient-map", metavar="FILE", default=None,
                       help="table of sample -> patient (columns 'sample' and 'patient' by default)")
    group.add_argument("--sample-column", default=None, help="sample column of --patient-map (default: by name)")
    parser.set_defaults(func=run)


def _output_paths(out: str) -> Dict[str, Path]:
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


def run(args: argparse.Namespace) -> int:
    paths = _output_paths(args.out)
    paths["samples"].parent.mkdir(parents=True, exist_ok=True)
    signature = load_signature(args.signature)
    annotation_columns: List[str] = [c.strip() for c in args.annotation_columns.split(",") if c.strip()]
    if args.patient_column and not args.patient_map:
        annotation_columns.append(args.patient_column)
    probe_map = None
    if args.probe_map:
        probe_map = read_probe_map(args.probe_map, probe_column=args.probe_column, symbol_column=args.symbol_column)
    elif args.probe_column or args.symbol_column:
        raise InputError("--probe-column/--symbol-column need --probe-map", source="--probe-map",
                         expected="a platform annotation file")
    sheet: Any = args.sheet
    expression = read_expression(
        args.expression, orientation=args.orientation, probe_map=probe_map, signature=signature, sheet=sheet,
        decimal=args.decimal, annotation_columns=annotation_columns, log2=args.log2, log2_offset=args.log2_offset,
        check=not args.no_scale_check, drop_empty=args.drop_empty,
    )
    scores = score_samples(expression, signature, reference=args.reference, allow_missing=args.allow_missing,
                           probe_selection=args.probe_selection, cutoff=args.cutoff)

    sample_to_patient = None
    if args.patient_map:
        sample_to_patient = read_patient_map(args.patient_map, sample_column=args.sample_column,
                                             patient_column=args.patient_column)
    elif args.patient_column:
        sample_to_patient = patients_from_annotations(expression, args.patient_column)
    elif args.sample_column:
        raise InputError("--sample-column needs --patient-map", source="--sample-column",
                         expected="a --patient-map file")
    patients = score_patients(scores, sample_to_patient) if sample_to_patient is not None else None

    reference_signature = None
    if args.save_reference:
        reference_signature = signature_with_reference(signature, scores)

    table = sample_table(scores, sample_to_patient=sample_to_patient)
    columns = output_columns(scores.signature, grouped=sample_to_patient is not None)
    table = table[columns]
    title = expression.sample_annotations.get("title")
    if title is not None:
        table["title"] = title.reindex(table["sample"]).to_numpy()

    parameters = {
        "expression": str(Path(args.expression).absolute()),
        "orientation": expression.orientation,
        "orientation_reason": expression.orientation_reason,
        "sheet": sheet,
        "decimal": args.decimal,
        "annotation_columns": annotation_columns,
        "drop_empty": bool(args.drop_empty),
        "probe_map": str(Path(args.probe_map).absolute()) if args.probe_map else None,
        "probe_column": probe_map.probe_column if probe_map is not None else None,
        "symbol_column": probe_map.symbol_column if probe_map is not None else None,
        "gene_source": expression.gene_source,
        "log2": bool(args.log2),
        "log2_offset": args.log2_offset,
        "scale_check": not args.no_scale_check,
        "signature_file": str(Path(args.signature).absolute()) if args.signature else "<default hypoxia6>",
        **scores.parameters,
        "patient_column": args.patient_column,
        "patient_map": str(Path(args.patient_map).absolute()) if args.patient_map else None,
        "sample_column": args.sample_column,
        "save_reference": str(Path(args.save_reference).absolute()) if args.save_reference else None,
    }
    outputs = {"samples": paths["samples"].name}
    if patients is not None:
        outputs["patients"] = paths["patients"].name
    result = {
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
    if patients is not None:
        with atomic_file(paths["patients"]) as tmp:
            patients[PATIENT_COLUMNS].to_csv(tmp, index=False)
    if reference_signature is not None:
        save_signature(reference_signature, args.save_reference)
    with atomic_file(paths["json"]) as tmp:
        write_json(result, tmp)

    counts = scores.summary()["classes"]
    print(f"{len(table)} samples scored with {scores.signature.name} (reference: {scores.reference_source}): "
          + ", ".join(f"{n} {k}" for k, n in counts.items()))
    if patients is not None:
        print(f"{len(patients)} patients; biopsy calls disagree in {result['n_patients_calls_disagree']}")
    for warning in scores.warnings:
        print(f"warning: {warning}")
    print(f"wrote {paths['samples']}" + (f", {paths['patients']}" if patients is not None else "")
          + f", {paths['json']}" + (f", {args.save_reference}" if args.save_reference else ""))
    return 0
