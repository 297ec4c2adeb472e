"""``report.pdf``: a summary page and one page per figure with its caption (the PNGs placed on A4 pages)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, List

from .. import __version__
from .context import MARKERS, Context
from .formats import fmt_ci, fmt_hr, fmt_int, fmt_num, fmt_p

if TYPE_CHECKING:
    from .page import Page


def write_pdf(page: Page, out: Path, title: str, overview: List[str]) -> None:
    import textwrap

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure
    from matplotlib.image import imread

    a4 = (8.27, 11.69)
    with PdfPages(str(out / "report.pdf")) as pdf:
        first = Figure(figsize=a4)
        FigureCanvasAgg(first)
        first.text(0.08, 0.95, title, fontsize=16, weight="bold", va="top")
        first.text(0.08, 0.91, "\n".join(overview), fontsize=8.5, va="top", family="monospace")
        pdf.savefig(first)
        for entry in page.figures:
            pixels = imread(str(out / entry.file))
            height, width = pixels.shape[:2]
            wide = width > 1.6 * height  # wide figures (slices, maps) on a landscape page
            size = (a4[1], a4[0]) if wide else a4
            figure = Figure(figsize=size)
            FigureCanvasAgg(figure)
            box_w, box_h = 0.84, 0.62 if wide else 0.66
            aspect = (height / width) * (size[0] / size[1])
            w, h = (box_w, box_w * aspect) if box_w * aspect <= box_h else (box_h / aspect, box_h)
            # The figure at the top of the page, its caption right below it.
            bottom = 0.94 - h
            ax = figure.add_axes([0.08 + (box_w - w) / 2, bottom, w, h])
            ax.imshow(pixels, interpolation="antialiased")
            ax.axis("off")
            text = f"Figure {entry.number}. {entry.title}. {entry.caption}"
            figure.text(0.08, bottom - 0.02, textwrap.fill(text, 150 if wide else 105), fontsize=8.5, va="top")
            pdf.savefig(figure)
        info = pdf.infodict()
        info["Title"] = title
        info["Creator"] = f"HypoxiaMarkersLib {__version__}"


def overview_lines(ctx: Context) -> List[str]:
    lines = [f"Batch folder: {ctx.batch.path}", f"HypoxiaMarkersLib {__version__}", ""]
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
