"""``report.pdf``: a summary page, then section by section the tables as text and one page per figure with its
caption (the PNGs placed on A4 pages)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, List

from .. import __version__
from .context import MARKERS, Context
from .figure_files import new_figure
from .formats import fmt_ci, fmt_hr, fmt_int, fmt_num, fmt_p

if TYPE_CHECKING:
    from .page import Page


A4 = (8.27, 11.69)
#: Characters per line and lines per page of the tables' text pages (monospace, 6.5 pt, portrait A4).
TABLE_WIDTH = 128
TABLE_LINES = 92
#: Pixels per inch of the figures on the PDF's pages (their 300 dpi PNGs and SVGs are in figures/).
PAGE_DPI = 100


def write_pdf(page: Page, out: Path, title: str, overview: List[str]) -> None:
    """``report.pdf``: the summary page, then section by section its tables (as text, searchable) and its figures,
    one page each with the caption."""
    import matplotlib
    from matplotlib.backends.backend_pdf import PdfPages

    # TrueType fonts (not Type 3): the tables' words can be found and copied in any PDF reader.
    with matplotlib.rc_context({"pdf.fonttype": 42}), PdfPages(str(out / "report.pdf")) as pdf:
        first = new_figure(A4)
        first.text(0.08, 0.95, title, fontsize=15, weight="bold", va="top")
        first.text(0.08, 0.91, "\n".join(overview), fontsize=8.5, va="top", family="monospace")
        pdf.savefig(first)
        for section_id, section_title, _ in page.sections:
            lines: List[str] = []
            for entry in (t for t in page.tables if t.section == section_id):
                lines += table_lines(entry) + [""]
            for start in range(0, len(lines), TABLE_LINES):
                text_page = new_figure(A4)
                text_page.text(0.06, 0.97, f"{section_title}: tables" + (" (continued)" if start else ""),
                               fontsize=10, weight="bold", va="top")
                text_page.text(0.06, 0.945, "\n".join(lines[start:start + TABLE_LINES]), fontsize=6.5, va="top",
                               family="monospace")
                pdf.savefig(text_page)
            for entry in (f for f in page.figures if f.section == section_id):
                pdf.savefig(_figure_page(out, entry))
        info = pdf.infodict()
        info["Title"] = title
        info["Creator"] = f"HypoxiaMarkersLib {__version__}"


def _figure_page(out: Path, entry):
    import textwrap

    import numpy as np
    from PIL import Image

    with Image.open(out / entry.file) as png:
        png.load()
        width, height = png.size
        wide = width > 1.6 * height  # wide figures (slices, maps) on a landscape page
        size = (A4[1], A4[0]) if wide else A4
        box_w, box_h = 0.84, 0.62 if wide else 0.66
        aspect = (height / width) * (size[0] / size[1])
        w, h = (box_w, box_w * aspect) if box_w * aspect <= box_h else (box_h / aspect, box_h)
        # The PNG scaled once to the pixels it gets on the page (Pillow, in C), then placed as it is: matplotlib
        # neither converts the 300 dpi picture to floats nor resamples it while writing the page.
        pixels = np.asarray(png.convert("RGB").resize(
            (max(1, round(w * size[0] * PAGE_DPI)), max(1, round(h * size[1] * PAGE_DPI))), Image.HAMMING,
            reducing_gap=2.0))
    figure = new_figure(size)
    # The figure at the top of the page, its caption right below it.
    bottom = 0.94 - h
    ax = figure.add_axes([0.08 + (box_w - w) / 2, bottom, w, h])
    ax.imshow(pixels, interpolation="none", aspect="auto")
    ax.axis("off")
    text = f"Figure {entry.number}. {entry.title}. {entry.caption}"
    figure.text(0.08, bottom - 0.02, textwrap.fill(text, 150 if wide else 105), fontsize=8.5, va="top")
    return figure


def table_lines(entry, width: int = TABLE_WIDTH, cell: int = 34) -> List[str]:
    """A table as lines of monospace text: its caption, then its columns aligned; a table wider than ``width``
    characters is split into blocks of columns, each repeating the first column; cells longer than ``cell``
    characters are wrapped onto further lines."""
    import textwrap

    lines = textwrap.wrap(entry.caption, width) if entry.caption else []
    headers = list(entry.headers) or [""] * max((len(r) for r in entry.rows), default=0)
    columns = len(headers)
    if not columns:
        return lines
    rows = [list(r) + [""] * (columns - len(r)) for r in entry.rows]
    wrapped = [[textwrap.wrap(str(c), cell) or [""] for c in row] for row in [headers] + rows]
    widths = [max(len(line) for row in wrapped for line in row[i]) for i in range(columns)]
    blocks, current = [], [0]
    for i in range(1, columns):
        if sum(widths[j] + 2 for j in current) + widths[i] > width:
            blocks.append(current)
            current = [0]
        current.append(i)
    blocks.append(current)
    for block in blocks:
        for r, row in enumerate(wrapped):
            height = max(len(row[i]) for i in block)
            for k in range(height):
                lines.append("  ".join((row[i][k] if k < len(row[i]) else "").ljust(widths[i])
                                       for i in block).rstrip())
            if r == 0 and any(headers):
                lines.append("  ".join("-" * widths[i] for i in block))
        lines.append("")
    return lines[:-1]


def overview_lines(ctx: Context) -> List[str]:
    lines = [f"Batch folder: {ctx.batch.path}", f"HypoxiaMarkersLib {__version__}", ""]
    if ctx.batch.synthetic:
        lines += ["SYNTHETIC DATA (demo): a synthetic cohort with known truth, not patients;",
                  "recovered values are compared with the truth in the report.", ""]
    cohort = ctx.batch.cohort
    if cohort is None:
        lines.append("No cohort statistics (cohort/results.json missing).")
        return lines
    lines.append(f"Cohort statistics: n = {fmt_int(cohort.get('n'))} patients")
    lines.append(f"{'marker':<12}{'HR':>8}  {'95% CI':<14}{'p (Wald)':>10}")
    for name in MARKERS:
        cox = (cohort.get(name) or {}).get("cox_dichotomous") or {}
        lines.append(f"{name:<12}{fmt_hr(cox.get('hr')):>8}  {fmt_ci(cox.get('ci_low'), cox.get('ci_high')):<14}"
                     f"{fmt_p(cox.get('p')):>10}")
    line = cohort.get("line") or {}
    lines.append(f"composite line x0 = {fmt_num(line.get('x0'))}, y0 = {fmt_num(line.get('y0'))}, "
                 f"permutation p = {fmt_p(line.get('p_permutation'))}")
    lines += ["", "Figures and tables with captions: index.html"]
    return lines
