"""The report of a cohort batch run: figures (PNG) and tables in one HTML page, plus a PDF of the figures.

:func:`write_report` reads a batch output folder (``batch.json``, ``failures.csv``, ``cohort_table.csv``,
``patients/<patient>/`` image results, ``genes/``, ``cohort/``, ``heterogeneity/``) and writes ``report/``:

- ``index.html``: sections Overview, Synthetic data (only when batch.json says the data are synthetic),
  Survival, Imaging, Genes, Heterogeneity, Patients, Parameters; every figure with a caption saying what is
  plotted and with which parameters (cutoffs, threshold, n, seed);
- ``figures/*.png`` (300 dpi) and ``figures/*.svg`` (the same figure as vector graphics): the figures, as files
  beside the page rather than embedded (base64) in it, so the page stays small and readable as text, and each
  figure can be taken as it is into a paper or slides; the whole ``report`` folder is written at once
  (:func:`outputs.atomic_output_dir`), so the page and its figures always match;
- ``report.pdf``: a summary page, then section by section its tables (as text) and one page per figure with its
  caption (matplotlib ``PdfPages``; the PNGs are placed on the pages);
- ``report.json``: what the report holds (figures, captions, notes on missing parts), with ``parameters`` and
  ``version``.

Every number in the report is read from the batch's results or computed from them here; nothing is templated.
A part of the batch that is missing or unreadable gives a section that says so, never a failed report.
"""

from __future__ import annotations

import datetime
import html
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .. import CITATION, __version__
from ..io.outputs import atomic_output_dir, report_inputs, write_json
from ..io.results_schema import ResultSchemaError
from .batch_folder import read_batch
from .context import make_context
from .disagreement_section import with_disagreement_section
from .figure_files import vector_path
from .pdf import overview_lines, write_pdf
from .sections import SECTIONS


@dataclass
class FigureEntry:
    """One figure of the report: its file (in ``figures/``), title, caption and section."""

    file: str
    title: str
    caption: str
    section: str
    number: int = 0
    vector: Optional[str] = None  # the SVG beside the PNG (figures/<name>.svg), when it was written


@dataclass
class TableEntry:
    """One table of the report, kept so that ``report.pdf`` carries it too."""

    table_id: str
    headers: List[str]
    rows: List[List[str]]
    caption: str
    section: str


class Page:
    """Collects sections (HTML), figures and notes while the report is built."""

    def __init__(self, figures_dir: Path) -> None:
        self.figures_dir = figures_dir
        self.figures: List[FigureEntry] = []
        self.tables: List[TableEntry] = []
        self.sections: List[Tuple[str, str, List[str]]] = []
        self.status: Dict[str, Dict[str, Any]] = {}
        self.errors: List[str] = []
        self._parts: List[str] = []
        self._section = ""

    # --- building blocks
    def start(self, section_id: str, title: str) -> None:
        self._section = section_id
        self._parts = []
        self.sections.append((section_id, title, self._parts))
        self.status[section_id] = {"title": title, "notes": []}

    def add(self, markup: str) -> None:
        self._parts.append(markup)

    def heading(self, text: str) -> None:
        self.add(f"<h3>{html.escape(text)}</h3>")

    def text(self, text: str) -> None:
        self.add(f"<p>{html.escape(text)}</p>")

    def missing(self, text: str) -> None:
        """A note that something is missing (shown highlighted, and listed in report.json)."""
        self.status[self._section]["notes"].append(text)
        self.add(f'<p class="missing"><strong>Missing:</strong> {html.escape(text)}</p>')

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]], *, table_id: str = "",
              caption: str = "") -> None:
        self.tables.append(TableEntry(table_id=table_id, headers=[str(h) for h in headers],
                                      rows=[[str(c) for c in row] for row in rows], caption=caption,
                                      section=self._section))
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
        head = f"<thead><tr>{head}</tr></thead>" if any(str(h) for h in headers) else ""
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
        ident = f' id="{html.escape(table_id)}"' if table_id else ""
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        self.add(f"<table{ident}>{cap}{head}<tbody>{body}</tbody></table>")

    def figure(self, name: str, title: str, caption: str, draw: Callable[[Path], Any]) -> Optional[FigureEntry]:
        """Draw a figure into ``figures/<name>.png`` (and its SVG beside it); a failure becomes a note, not a failed
        report."""
        path = self.figures_dir / f"{name}.png"
        try:
            draw(path)
        except ResultSchemaError:
            raise
        except Exception as error:  # noqa: BLE001 - any drawing failure must leave the rest of the report intact
            self.errors.append(f"figure {name}: {type(error).__name__}: {error}")
            self.missing(f"the figure '{title}' could not be drawn ({type(error).__name__}: {error})")
            return None
        vector = vector_path(path)
        entry = FigureEntry(file=f"figures/{path.name}", title=title, caption=caption, section=self._section,
                            number=len(self.figures) + 1,
                            vector=f"figures/{vector.name}" if vector.is_file() else None)
        self.figures.append(entry)
        link = f' <a href="{html.escape(entry.vector)}">(vector: SVG)</a>' if entry.vector else ""
        self.add(
            f'<figure id="fig-{html.escape(name)}"><img src="{html.escape(entry.file)}" '
            f'alt="{html.escape(title)}"><figcaption><strong>Figure {entry.number}. {html.escape(title)}.</strong> '
            f"{html.escape(caption)}{link}</figcaption></figure>")
        return entry

    def links(self, items: Sequence[Tuple[str, str]], *, list_id: str = "") -> None:
        """A list of links, ``(text, href)`` each (relative paths, so that the folder can be moved as a whole)."""
        ident = f' id="{html.escape(list_id)}"' if list_id else ""
        entries = "".join(f'<li><a href="{html.escape(href)}">{html.escape(text)}</a></li>' for text, href in items)
        self.add(f"<ul{ident}>{entries}</ul>")

    def details(self, summary: str, build: Callable[[], None]) -> None:
        self.add(f"<details><summary>{html.escape(summary)}</summary>")
        build()
        self.add("</details>")


CSS = """
body { font-family: -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', Arial, sans-serif; margin: 0 auto;
       max-width: 1120px; padding: 0 24px 48px; color: #1c2833; line-height: 1.45; }
header { border-bottom: 3px solid #2471a3; margin-bottom: 12px; }
h1 { font-size: 1.7em; margin: 20px 0 4px; }
h2 { font-size: 1.35em; border-bottom: 1px solid #d5d8dc; padding-bottom: 3px; margin-top: 34px; }
h3 { font-size: 1.08em; margin: 22px 0 6px; }
nav ol { columns: 2; font-size: 0.95em; }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 0.88em; }
caption { text-align: left; font-size: 0.95em; color: #555; padding-bottom: 3px; }
th, td { border: 1px solid #d5d8dc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #eaf2f8; }
tbody tr:nth-child(even) { background: #f8f9f9; }
figure { margin: 16px 0 24px; }
figure img { max-width: 100%; border: 1px solid #e5e7e9; }
figcaption { font-size: 0.9em; color: #34495e; max-width: 980px; }
.missing { background: #fef5e7; border-left: 4px solid #d68910; padding: 6px 10px; }
.key { font-size: 1.02em; }
details { margin: 8px 0; }
summary { cursor: pointer; color: #2471a3; }
.meta { color: #566573; font-size: 0.9em; }
"""


def html_document(page: Page, title: str, meta: str) -> str:
    toc = "".join(f'<li><a href="#{sid}">{html.escape(stitle)}</a></li>' for sid, stitle, _ in page.sections)
    body = "".join(f'<section id="{sid}"><h2>{html.escape(stitle)}</h2>{"".join(parts)}</section>'
                   for sid, stitle, parts in page.sections)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
            f"<style>{CSS}</style>\n</head>\n<body>\n<header><h1>{html.escape(title)}</h1>"
            f'<p class="meta">{meta}</p></header>\n<nav><ol>{toc}</ol></nav>\n{body}\n'
            f'<footer class="meta"><p>Method: {html.escape(CITATION)}</p></footer>\n</body>\n</html>\n')


def write_report(batch_dir, out_dir=None, *, pdf: bool = True, force: bool = False) -> Path:
    """Write the report of a batch output folder: ``index.html``, ``figures/*.png``, ``report.pdf``, ``report.json``.

    Parameters
    ----------
    batch_dir : path
        The output folder of ``hypoxia-markers batch`` (or any folder with some of its parts: ``batch.json``,
        ``failures.csv``, ``cohort_table.csv``, ``patients/``, ``genes/``, ``cohort/``, ``heterogeneity/``).
    out_dir : path, optional
        Where to write the report (default ``batch_dir/report``); replaced as a whole once complete.
    pdf : bool
        Also write ``report.pdf`` (summary page and one page per figure with its caption).

    Returns
    -------
    Path
        The report folder.

    Raises
    ------
    InputError
        ``batch_dir`` is not a batch output folder. Missing parts do not raise: their sections say what is missing.
    """
    batch = read_batch(batch_dir)
    out_dir = Path(out_dir) if out_dir is not None else batch.path / "report"
    title = "HypoxiaMarkers cohort report" + (" — synthetic data (demo)" if batch.synthetic else "")
    ctx = make_context(batch, out_dir)
    with atomic_output_dir(out_dir, report_inputs(batch.path, out_dir), force=force, option="--out") as tmp:
        figures_dir = tmp / "figures"
        figures_dir.mkdir()
        page = Page(figures_dir)
        for build in with_disagreement_section(SECTIONS):
            try:
                build(page, ctx)
            except ResultSchemaError:
                raise  # a key the report reads that no writer declares: a bug to fix, not a part to call missing
            except Exception as error:  # noqa: BLE001 - one broken section must not take the others with it
                page.errors.append(f"{build.__name__}: {type(error).__name__}: {error}\n{traceback.format_exc()}")
                page.missing(f"this section could not be completed ({type(error).__name__}: {error})")
        generated = datetime.datetime.now().isoformat(timespec="seconds")
        meta = (f"Batch folder <code>{html.escape(str(batch.path))}</code> · written {generated} by HypoxiaMarkersLib "
                f"{html.escape(__version__)}" + (f" · batch seed {batch.seed}" if batch.seed is not None else ""))
        (tmp / "index.html").write_text(html_document(page, title, meta), encoding="utf-8")
        if pdf:
            try:
                write_pdf(page, tmp, title, overview_lines(ctx))
            except ResultSchemaError:
                raise
            except Exception as error:  # noqa: BLE001 - the HTML report stands without the PDF
                page.errors.append(f"report.pdf: {type(error).__name__}: {error}")
        write_json({
            "version": __version__,
            "parameters": {"batch_dir": str(batch.path), "out_dir": str(out_dir), "pdf": pdf},
            "generated": generated,
            "seed": batch.seed,
            "figures": [{"file": f.file, "vector": f.vector, "number": f.number, "title": f.title,
                         "caption": f.caption, "section": f.section} for f in page.figures],
            "sections": page.status,
            "batch_notes": batch.notes,
            "errors": page.errors,
        }, tmp / "report.json")
    return out_dir
