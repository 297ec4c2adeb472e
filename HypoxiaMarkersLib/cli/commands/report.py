"""``hypoxia-markers report``: the HTML (and PDF) report of a batch output folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from ... import CITATION
from ..options import add_force

ORDER = 80


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="HTML report (figures, tables, captions) and PDF of a batch output folder",
        description=(
            "Write the report of a batch run: Kaplan-Meier curves with numbers at risk (imaging, genes, both rule, "
            "composite, groups 1-4), gene score against imaging with the composite line, per-slice hypoxic "
            "fractions, biopsy slice against whole tumour, an example patient's A_Brix and hypoxia maps, the "
            "clustering of hypoxia (virtual-biopsy SD against HF with the GAM), and tables of hazard ratios, "
            "cutoffs with adjusted p-values, the 2x2 table and tests, and variance components. Parts missing from "
            "the batch folder give a note in their section. "
            f"Method: {CITATION}"
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("batch", metavar="BATCH_DIR", help="output folder of hypoxia-markers batch")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="report folder: index.html, figures/, report.pdf, report.json (default BATCH_DIR/report)")
    parser.add_argument("--no-pdf", action="store_true", help="do not write report.pdf")
    add_force(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ...io.outputs import report_inputs
    from ...pipeline.checks import prepare_output_dir
    from ...report.page import write_report

    batch = Path(args.batch)
    out = Path(args.out) if args.out is not None else batch / "report"
    prepare_output_dir(out, report_inputs(batch, out), force=args.force)
    out = write_report(batch, out, pdf=not args.no_pdf, force=args.force)
    print(f"report: {out / 'index.html'}")
    return 0
