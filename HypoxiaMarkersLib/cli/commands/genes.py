"""``hypoxia-markers genes``: the gene signature score (default: the 6-gene hypoxia score) of every sample."""

from __future__ import annotations

import argparse

from ... import CITATION
from ..options import ORIENTATIONS, PROBE_SELECTIONS, REFERENCE_MODES, split_names

ORDER = 30

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


def run(args: argparse.Namespace) -> int:
    from ...pipeline.genes import GenesSettings, run_genes

    settings = GenesSettings(
        orientation=args.orientation, sheet=args.sheet, decimal=args.decimal,
        annotation_columns=split_names(args.annotation_columns), drop_empty=args.drop_empty,
        probe_map=args.probe_map, probe_column=args.probe_column, symbol_column=args.symbol_column,
        log2=args.log2, log2_offset=args.log2_offset, scale_check=not args.no_scale_check,
        signature=args.signature, reference=args.reference, probe_selection=args.probe_selection,
        cutoff=args.cutoff, allow_missing=args.allow_missing, save_reference=args.save_reference,
        patient_column=args.patient_column, patient_map=args.patient_map, sample_column=args.sample_column,
    )
    output = run_genes(args.expression, args.out, settings)
    scores, patients, paths = output.scores, output.patients, output.paths
    counts = scores.summary()["classes"]
    print(f"{len(output.samples)} samples scored with {scores.signature.name} (reference: {scores.reference_source}): "
          + ", ".join(f"{n} {k}" for k, n in counts.items()))
    if patients is not None:
        print(f"{len(patients)} patients; biopsy calls disagree in {output.record['n_patients_calls_disagree']}")
    for warning in scores.warnings:
        print(f"warning: {warning}")
    print(f"wrote {paths['samples']}" + (f", {paths['patients']}" if patients is not None else "")
          + f", {paths['json']}" + (f", {args.save_reference}" if args.save_reference else ""))
    return 0
