"""The report of a cohort batch run: figures (PNG) and tables in one HTML page, plus a PDF of the figures.

:func:`write_report` reads a batch output folder (``batch.json``, ``failures.csv``, ``cohort_table.csv``,
``patients/<patient>/`` image results, ``genes/``, ``cohort/``, ``heterogeneity/``) and writes ``report/``:

- ``index.html``: sections Overview, Survival, Imaging, Genes, Heterogeneity, Patients, Parameters; every figure
  with a caption saying what is plotted and with which parameters (cutoffs, threshold, n, seed);
- ``figures/*.png``: the figures, as files beside the page rather than embedded (base64) in it, so the page stays
  small and readable as text, and each figure can be taken as it is into a paper or slides; the whole ``report``
  folder is written at once (:func:`outputs.atomic_output_dir`), so the page and its figures always match;
- ``report.pdf``: a summary page and one page per figure with its caption (matplotlib ``PdfPages``; the PNGs are
  placed on the pages, so it costs about a second);
- ``report.json``: what the report holds (figures, captions, notes on missing parts), with ``parameters`` and
  ``version``.

Every number in the report is read from the batch's results or computed from them here; nothing is templated.
A part of the batch that is missing or unreadable gives a section that says so, never a failed report.
"""

from __future__ import annotations

import datetime
import html
import json
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from .. import CITATION, __version__
from ..io.outputs import atomic_output_dir, write_json
from ..pipeline.checks import report_inputs
from .batch_folder import BatchFolder, read_batch  # noqa: F401  (read_batch: API)
from .batch_folder import is_finite_number as _finite

DASH = "–"
# Images that can serve as the anatomical background of the example patient's maps, first found wins.
BACKGROUND_FILES = ("t2w_on_dce.nrrd", "t2w.nrrd", "dce_post_contrast.nrrd", "dce_first_post_contrast.nrrd",
                    "background.nrrd")
MARKERS = ("imaging", "genes", "both", "composite")
MARKER_TITLES = {"imaging": "Imaging (hypoxic fraction)", "genes": "Genes (6-gene hypoxia score)",
                 "both": "Both rule (group 1 vs 2-4)", "composite": "Composite score HScomp"}


# ------------------------------------------------------------------------------------------- number formats


def fmt_hr(value: Any) -> str:
    """A hazard ratio (or any ratio shown with it): 2 decimals; '–' when missing."""
    return f"{float(value):.2f}" if _finite(value) else DASH


def fmt_ci(low: Any, high: Any) -> str:
    """A confidence interval of a ratio: 'low–high', 2 decimals each."""
    return f"{fmt_hr(low)}{DASH}{fmt_hr(high)}" if _finite(low) and _finite(high) else DASH


def fmt_p(value: Any) -> str:
    """A p-value: 3 significant digits; '–' when missing."""
    if not _finite(value):
        return DASH
    value = float(value)
    return "< 1e-300" if value == 0 else f"{value:.3g}"


def fmt_num(value: Any, digits: int = 3) -> str:
    """Any other statistic: ``digits`` significant digits."""
    return f"{float(value):.{digits}g}" if _finite(value) else DASH


def fmt_frac(value: Any) -> str:
    """A fraction or share (HF, W/T, survival): 2 decimals."""
    return f"{float(value):.2f}" if _finite(value) else DASH


def fmt_int(value: Any) -> str:
    return str(int(value)) if _finite(value) else DASH


# ------------------------------------------------------------------------------------------------ the page


@dataclass
class FigureEntry:
    """One figure of the report: its file (in ``figures/``), title, caption and section."""

    file: str
    title: str
    caption: str
    section: str
    number: int = 0


class _Page:
    """Collects sections (HTML), figures and notes while the report is built."""

    def __init__(self, figures_dir: Path) -> None:
        self.figures_dir = figures_dir
        self.figures: List[FigureEntry] = []
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
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
        head = f"<thead><tr>{head}</tr></thead>" if any(str(h) for h in headers) else ""
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
        ident = f' id="{html.escape(table_id)}"' if table_id else ""
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        self.add(f"<table{ident}>{cap}{head}<tbody>{body}</tbody></table>")

    def figure(self, name: str, title: str, caption: str, draw: Callable[[Path], Any]) -> Optional[FigureEntry]:
        """Draw a figure into ``figures/<name>.png``; a failure becomes a note, not a failed report."""
        path = self.figures_dir / f"{name}.png"
        try:
            draw(path)
        except Exception as error:  # noqa: BLE001 - any drawing failure must leave the rest of the report intact
            self.errors.append(f"figure {name}: {type(error).__name__}: {error}")
            self.missing(f"the figure '{title}' could not be drawn ({type(error).__name__}: {error})")
            return None
        entry = FigureEntry(file=f"figures/{path.name}", title=title, caption=caption, section=self._section,
                            number=len(self.figures) + 1)
        self.figures.append(entry)
        self.add(
            f'<figure id="fig-{html.escape(name)}"><img src="{html.escape(entry.file)}" '
            f'alt="{html.escape(title)}"><figcaption><strong>Figure {entry.number}. {html.escape(title)}.</strong> '
            f"{html.escape(caption)}</figcaption></figure>")
        return entry

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


def _html_document(page: _Page, title: str, meta: str) -> str:
    toc = "".join(f'<li><a href="#{sid}">{html.escape(stitle)}</a></li>' for sid, stitle, _ in page.sections)
    body = "".join(f'<section id="{sid}"><h2>{html.escape(stitle)}</h2>{"".join(parts)}</section>'
                   for sid, stitle, parts in page.sections)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
            f"<style>{CSS}</style>\n</head>\n<body>\n<header><h1>{html.escape(title)}</h1>"
            f'<p class="meta">{meta}</p></header>\n<nav><ol>{toc}</ol></nav>\n{body}\n'
            f'<footer class="meta"><p>Method: {html.escape(CITATION)}</p></footer>\n</body>\n</html>\n')


# --------------------------------------------------------------------------------------------- the sections


@dataclass
class _Context:
    """Values shared by the sections (read once from the batch)."""

    batch: BatchFolder
    a_thresholds: List[float]
    hf_cutoffs: List[float]
    seed_text: str
    out_dir: Path

    @property
    def a_threshold(self) -> Optional[float]:
        return self.a_thresholds[0] if self.a_thresholds else None

    @property
    def hf_cutoff(self) -> float:
        return self.hf_cutoffs[0] if self.hf_cutoffs else 0.27

    def a_text(self) -> str:
        if not self.a_thresholds:
            return ""
        return "A_Brix threshold " + ", ".join(f"{a:g}" for a in self.a_thresholds)


def _context(batch: BatchFolder, out_dir: Path) -> _Context:
    a_values = sorted({float(img.a_threshold) for img in batch.images.values()})
    hf_values = sorted({float(img.hf_cutoff) for img in batch.images.values()})
    cohort_cutoff = (((batch.cohort or {}).get("imaging") or {}).get("cutoff") or {}).get("value")
    if not hf_values and _finite(cohort_cutoff):
        hf_values = [float(cohort_cutoff)]  # no image results: the cutoff the cohort statistics used
    seed = batch.seed
    return _Context(batch=batch, a_thresholds=a_values, hf_cutoffs=hf_values,
                    seed_text=f" Batch seed {seed}." if seed is not None else "", out_dir=out_dir)


def _flatten(data: Any, prefix: str = "") -> List[Tuple[str, str]]:
    rows: List[Tuple[str, str]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            rows.extend(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(data, list) and len(data) > 12:
        rows.append((prefix, f"[{len(data)} values]"))
    elif isinstance(data, float):
        rows.append((prefix, fmt_num(data, 4)))
    else:
        rows.append((prefix, json.dumps(data) if isinstance(data, (list, bool)) or data is None else str(data)))
    return rows


def _batch_dict(batch: BatchFolder, *keys: str) -> Dict[str, Any]:
    """The first of ``keys`` in batch.json that holds a dict (e.g. 'counts', 'timings_s'), else {}."""
    if isinstance(batch.batch, dict):
        for key in keys:
            if isinstance(batch.batch.get(key), dict):
                return batch.batch[key]
    return {}


def _stage_note(batch: BatchFolder, stage: str) -> str:
    """What batch.json says about a stage (' The batch run says: cohort failed: …'), or ''."""
    status = _batch_dict(batch, "stages").get(stage)
    return f" batch.json says the {stage} stage: {status}." if status else ""


def _section_overview(page: _Page, ctx: _Context) -> None:
    batch = ctx.batch
    page.start("overview", "Overview")
    facts = [("Patients with image results (patients/)", str(len(batch.images)))]
    for name, value in _batch_dict(batch, "counts").items():
        facts.append((f"batch.json: {str(name).replace('_', ' ')}", fmt_int(value) if _finite(value) else str(value)))
    if batch.cohort_table is not None:
        facts.append(("Patients in cohort_table.csv", str(len(batch.cohort_table))))
    cohort = batch.cohort
    if cohort is not None:
        imaging = cohort.get("imaging", {})
        facts.append(("Patients in the cohort statistics", f"{fmt_int(cohort.get('n'))} "
                      f"({fmt_int(imaging.get('events'))} events; {fmt_int((cohort.get('excluded') or {}).get('n'))}"
                      " excluded for missing values)"))
        for name in MARKERS:
            entry = cohort.get(name) or {}
            cox = entry.get("cox_dichotomous") or {}
            facts.append((f"HR for PFS, {MARKER_TITLES[name]}",
                          f"{fmt_hr(cox.get('hr'))} (95% CI {fmt_ci(cox.get('ci_low'), cox.get('ci_high'))}), "
                          f"p = {fmt_p(cox.get('p'))}"))
    if batch.seed is not None:
        facts.append(("Batch seed", str(batch.seed)))
    page.table(["", ""], facts, table_id="table-overview")
    if batch.batch is None:
        page.missing(f"batch.json: {batch.notes.get('batch', 'not found')}; batch parameters and timings are unknown")
    if batch.failures is None:
        page.missing(f"failures.csv: {batch.notes.get('failures', 'not found')}")
    elif len(batch.failures):
        page.heading("Failures")
        columns = [c for c in ("patient", "stage", "error") if c in batch.failures.columns] or \
            list(batch.failures.columns)
        page.table(columns, batch.failures[columns].astype(str).to_numpy().tolist(), table_id="table-failures",
                   caption=f"{len(batch.failures)} failure(s) during the batch run (failures.csv)")
    else:
        page.text("No patient failed (failures.csv has no rows).")
    if "patients_unreadable" in batch.notes:
        page.missing(f"unreadable image results: {batch.notes['patients_unreadable']}")
    stages = _batch_dict(batch, "stages")
    timings = _batch_dict(batch, "timings_s", "timings")
    if stages or timings:
        page.heading("Stages of the batch run")
        names = list(dict.fromkeys(list(timings) + list(stages)))
        page.table(["stage", "status", "time (s)"],
                   [[name, str(stages.get(name, DASH)), fmt_num(timings.get(name), 3)] for name in names],
                   table_id="table-stages")


def _bool_column(series: pd.Series) -> np.ndarray:
    mapping = {"true": True, "false": False, "1": True, "0": False, "1.0": True, "0.0": False}
    return series.astype(str).str.strip().str.lower().map(mapping).fillna(False).to_numpy(dtype=bool)


def _survival_data(ctx: _Context) -> Optional[Dict[str, Any]]:
    cohort, patients = ctx.batch.cohort, ctx.batch.cohort_patients
    if cohort is None or patients is None:
        return None
    included = patients[_bool_column(patients["included"])].reset_index(drop=True)
    params = cohort.get("parameters", {})
    return {
        "patients": included,
        "time": included["time"].to_numpy(dtype=float),
        "event": included["event"].to_numpy(dtype=float).astype(int),
        "horizon": params.get("horizon_in_time_unit"),
        "horizon_months": params.get("horizon_months"),
        "time_unit": params.get("time_unit", "months"),
        "conf_level": float(params.get("conf_level", 0.95)),
        "params": params,
    }


def _km_caption(entry: dict, labels: Tuple[str, str], data: Dict[str, Any], ctx: _Context) -> str:
    cox = entry.get("cox_dichotomous") or {}
    n = entry.get("n_per_group") or {}
    ev = entry.get("events_per_group") or {}
    horizon = data["horizon_months"]
    conf = int(round(100 * data["conf_level"]))
    return (f"Kaplan–Meier estimates of progression-free survival (PFS): {labels[0]} (n = {fmt_int(n.get('high'))}, "
            f"{fmt_int(ev.get('high'))} events) against {labels[1]} (n = {fmt_int(n.get('low'))}, "
            f"{fmt_int(ev.get('low'))} events). Shaded: pointwise {conf}% confidence intervals (Greenwood, log "
            f"scale); ticks: censored follow-up; below: numbers at risk. "
            + (f"Follow-up censored at {horizon:g} months (dotted line). " if _finite(horizon) else "")
            + f"Dichotomous Cox HR {fmt_hr(cox.get('hr'))} (95% CI {fmt_ci(cox.get('ci_low'), cox.get('ci_high'))}), "
            f"Wald p = {fmt_p(cox.get('p'))}; log-rank p = {fmt_p((entry.get('logrank') or {}).get('p'))}; "
            f"n = {fmt_int(entry.get('n'))}." + ctx.seed_text)


def _section_survival(page: _Page, ctx: _Context) -> None:
    from ..stats.survival import kaplan_meier
    from .km_figure import plot_composite_line, plot_kaplan_meier

    page.start("survival", "Survival: imaging, genes, both rule, composite")
    cohort = ctx.batch.cohort
    data = _survival_data(ctx)
    if data is None:
        what = "cohort/results.json" if cohort is None else "cohort/patients.csv"
        note = ctx.batch.notes.get("cohort" if cohort is None else "cohort_patients", "not found")
        page.missing(f"{what}: {note}. The cohort statistics (hazard ratios, cutoffs, Kaplan–Meier curves, "
                     "groups 1–4, composite score) need the cohort command's output in cohort/."
                     + _stage_note(ctx.batch, "cohort"))
        return
    patients, t, e = data["patients"], data["time"], data["event"]
    params = data["params"]
    conf = data["conf_level"]
    time_label = f"PFS ({data['time_unit']})"
    cut = {name: (cohort.get(name) or {}).get("cutoff", {}).get("value") for name in ("imaging", "genes")}
    line = cohort.get("line") or {}

    # Hazard ratios.
    page.heading("Hazard ratios for PFS")
    rows = []
    for name in MARKERS:
        entry = cohort.get(name) or {}
        cox = entry.get("cox_dichotomous") or {}
        n = entry.get("n_per_group") or {}
        ev = entry.get("events_per_group") or {}
        horizon = entry.get("survival_at_horizon") or {}
        ph = [term for term in (cox.get("ph_test") or {}).get("terms", []) if term.get("term") == "GLOBAL"]
        rows.append([name, _rule(name, cut, line), f"{fmt_int(n.get('high'))} / {fmt_int(n.get('low'))}",
                     f"{fmt_int(ev.get('high'))} / {fmt_int(ev.get('low'))}", fmt_hr(cox.get("hr")),
                     fmt_ci(cox.get("ci_low"), cox.get("ci_high")), fmt_p(cox.get("p")),
                     fmt_p((entry.get("logrank") or {}).get("p")), fmt_p(ph[0].get("p") if ph else None),
                     f"{fmt_frac((horizon.get('high') or {}).get('survival'))} / "
                     f"{fmt_frac((horizon.get('low') or {}).get('survival'))}"])
    optimism = line.get("optimism") or {}
    if optimism:
        rows.append(["composite, optimism-corrected",
                     f"{optimism.get('method')} ({fmt_int(optimism.get('resamples_used'))} resamples, "
                     f"seed {optimism.get('seed')})", "", "", fmt_hr(optimism.get("corrected_hr")), DASH, DASH, DASH,
                     DASH, ""])
    horizon_months = data["horizon_months"]
    page.table(["marker", "more hypoxic when", "n more / less", "events more / less", "HR", f"{conf:.0%} CI",
                "p (Wald)", "p (log-rank)", "p (PH test)",
                f"PFS at {horizon_months:g} months more / less" if _finite(horizon_months) else "PFS at horizon"],
               rows, table_id="table-hr",
               caption="Univariate Cox proportional hazards, more vs less hypoxic (Efron ties); PH test: scaled "
                       "Schoenfeld residuals against KM-transformed time (global).")
    cont_rows = []
    for name in ("imaging", "genes", "composite"):
        cox = (cohort.get(name) or {}).get("cox_continuous") or {}
        cont_rows.append([name, fmt_hr(cox.get("hr")), fmt_ci(cox.get("ci_low"), cox.get("ci_high")),
                          fmt_p(cox.get("p"))])
    page.table(["marker (continuous)", "HR per unit", f"{conf:.0%} CI", "p (Wald)"], cont_rows,
               table_id="table-hr-continuous",
               caption="Univariate Cox models of the continuous values (HF per unit fraction, score per unit, "
                       "HScomp per unit distance).")
    multi_rows = []
    for name in ("imaging", "genes", "composite"):
        model = (cohort.get(name) or {}).get("cox_multivariate") or {}
        for coefficient in model.get("coefficients", []):
            multi_rows.append([name, coefficient.get("name"), fmt_hr(coefficient.get("hr")),
                               fmt_ci(coefficient.get("ci_low"), coefficient.get("ci_high")),
                               fmt_p(coefficient.get("p"))])
    if multi_rows:
        page.details("Multivariate Cox models with the clinical covariates",
                     lambda: page.table(["model", "term", "HR", f"{conf:.0%} CI", "p (Wald)"], multi_rows,
                                        table_id="table-hr-multivariate",
                                        caption=f"Covariates: {', '.join(params.get('covariates', []))}; "
                                                f"categorical: {', '.join(params.get('categorical', [])) or 'none'}."))

    # Cutoffs with selection-adjusted p-values.
    page.heading("Cutoffs and adjusted p-values")
    cut_rows = []
    for name in MARKERS:
        c = (cohort.get(name) or {}).get("cutoff") or {}
        value = f"x0 = {fmt_num(line.get('x0'))}, y0 = {fmt_num(line.get('y0'))}" if name == "composite" \
            else fmt_num(c.get("value"))
        permutations = f"{fmt_p(c.get('p_permutation'))}" + (
            f" ({c.get('permutations')}, seed {c.get('seed')})" if c.get("permutations") else "")
        cut_rows.append([name, value, c.get("method", DASH), f"{fmt_int(c.get('n_high'))} / {fmt_int(c.get('n_low'))}",
                         fmt_num(c.get("statistic")), fmt_p(c.get("p_unadjusted")),
                         fmt_p(c.get("p_lausen_schumacher_1992")), fmt_p(c.get("p_lausen_schumacher_1994")),
                         permutations])
    page.table(["marker", "cutoff", "method", "n more / less", "statistic", "p unadjusted",
                "p Lausen–Schumacher 1992", "p Lausen–Schumacher 1994", "p permutation (permutations, seed)"],
               cut_rows, table_id="table-cutoffs",
               caption=f"Minimum group share {params.get('min_prop')}. A fixed cutoff has no selection to adjust "
                       "for (adjusted p-values '–'); the composite line's permutation test reruns the whole line "
                       f"search ({line.get('n_directions')} directions, statistic {params.get('statistic')}).")

    # Groups 1-4 and the 2x2 table.
    groups = cohort.get("groups") or {}
    _groups_tables(page, groups, patients, horizon_months, conf)

    # Figures.
    page.heading("Kaplan–Meier curves and the composite line")
    labels = {
        "imaging": (f"more hypoxic (HF ≥ {fmt_num(cut['imaging'])})", f"less hypoxic (HF < {fmt_num(cut['imaging'])})"),
        "genes": (f"more hypoxic (score ≥ {fmt_num(cut['genes'])})", f"less hypoxic (score < {fmt_num(cut['genes'])})"),
        "both": ("more hypoxic by both (group 1)", "groups 2–4"),
        "composite": ("more hypoxic (HScomp ≥ 0)", "less hypoxic (HScomp < 0)"),
    }
    columns = {"imaging": "imaging_high", "genes": "genes_high", "both": "both_high", "composite": "composite_high"}
    for name in MARKERS:
        entry = cohort.get(name)
        if not entry or columns[name] not in patients:
            page.missing(f"no {name} results in cohort/")
            continue
        high = _bool_column(patients[columns[name]])
        curves = {labels[name][i]: kaplan_meier(t[mask], e[mask], conf_level=conf)
                  for i, mask in enumerate((high, ~high)) if mask.any()}
        cox = entry.get("cox_dichotomous") or {}
        annotation = (f"HR {fmt_hr(cox.get('hr'))} ({fmt_ci(cox.get('ci_low'), cox.get('ci_high'))}), "
                      f"log-rank p = {fmt_p((entry.get('logrank') or {}).get('p'))}")
        caption = _km_caption(entry, labels[name], data, ctx)
        if name == "imaging" and ctx.a_thresholds:
            caption += f" Hypoxic voxels: {ctx.a_text()}."
        if name == "composite":
            caption += (f" Line x/x0 + y/y0 = 1 with x0 = {fmt_num(line.get('x0'))}, y0 = {fmt_num(line.get('y0'))} "
                        f"chosen by the search; permutation p of the search = {fmt_p(line.get('p_permutation'))}.")
        page.figure(f"km_{name}", f"PFS by {MARKER_TITLES[name]}", caption,
                    lambda path, curves=curves, annotation=annotation, name=name: plot_kaplan_meier(
                        curves, path, title=MARKER_TITLES[name], time_label=time_label, horizon=data["horizon"],
                        annotation=annotation))
    if "group" in patients:
        group = pd.to_numeric(patients["group"], errors="coerce").to_numpy()
        from ..stats.groups import GROUP_NAMES

        curves = {f"{g}: {GROUP_NAMES[g]}": kaplan_meier(t[group == g], e[group == g], conf_level=conf)
                  for g in (1, 2, 3, 4) if np.any(group == g)}
        logrank = groups.get("logrank_groups_1_to_4") or {}
        counts = ", ".join(f"group {g} n = {int(np.sum(group == g))}" for g in (1, 2, 3, 4))
        caption = (f"Kaplan–Meier estimates of PFS in the four groups of the two markers' classes (imaging cutoff "
                   f"HF ≥ {fmt_num(cut['imaging'])}, gene cutoff score ≥ {fmt_num(cut['genes'])}): {counts}. "
                   f"Shaded: pointwise {conf:.0%} confidence intervals; below: numbers at risk. "
                   + (f"Follow-up censored at {horizon_months:g} months. " if _finite(horizon_months) else "")
                   + f"Log-rank test across the 4 groups: chi² = {fmt_num(logrank.get('chi2'))}, "
                   f"df = {fmt_int(logrank.get('df'))}, p = {fmt_p(logrank.get('p'))}." + ctx.seed_text)
        page.figure("km_groups", "PFS by groups 1–4", caption,
                    lambda path: plot_kaplan_meier(curves, path, title="Groups 1–4", time_label=time_label,
                                                   horizon=data["horizon"],
                                                   annotation=f"log-rank p = {fmt_p(logrank.get('p'))}"))
    if line and _finite(line.get("x0")) and _finite(line.get("y0")):
        x = patients["imaging"].to_numpy(dtype=float)
        y = patients["genes"].to_numpy(dtype=float)
        more = _bool_column(patients["composite_high"])
        corr = groups.get("spearman") or {}
        caption = (f"Gene score against imaging hypoxic fraction for n = {len(patients)} patients; filled: PFS event, "
                   f"open: censored; red: more hypoxic by the composite score (HScomp ≥ 0, n = {int(more.sum())}), "
                   f"blue: less hypoxic. Solid line: the separating line x/x0 + y/y0 = 1 with x0 = "
                   f"{fmt_num(line.get('x0'))}, y0 = {fmt_num(line.get('y0'))} (searched over "
                   f"{line.get('n_directions')} directions, min group share {params.get('min_prop')}, permutation "
                   f"p = {fmt_p(line.get('p_permutation'))}). Dotted: the imaging cutoff HF = "
                   f"{fmt_num(cut['imaging'])} "
                   f"and the gene cutoff {fmt_num(cut['genes'])}. Spearman rho = {fmt_frac(corr.get('rho'))} "
                   f"(p = {fmt_p(corr.get('p'))})." + ctx.seed_text)
        page.figure("composite_line", "Gene score against imaging, with the composite line", caption,
                    lambda path: plot_composite_line(x, y, more, float(line["x0"]), float(line["y0"]), path,
                                                     imaging_cutoff=cut["imaging"], gene_cutoff=cut["genes"],
                                                     events=patients["event"].to_numpy(dtype=float) == 1))


def _rule(name: str, cut: Dict[str, Any], line: dict) -> str:
    if name == "imaging":
        return f"HF ≥ {fmt_num(cut['imaging'])}"
    if name == "genes":
        return f"score ≥ {fmt_num(cut['genes'])}"
    if name == "both":
        return "both markers (group 1)"
    return f"HScomp ≥ 0 (x0 = {fmt_num(line.get('x0'))}, y0 = {fmt_num(line.get('y0'))})"


def _groups_tables(page: _Page, groups: dict, patients: pd.DataFrame, horizon_months: Any, conf: float) -> None:
    page.heading("Groups 1–4 and agreement of the markers")
    if not groups:
        page.missing("no groups in cohort/results.json")
        return
    counts = (groups.get("table") or {}).get("counts")
    if counts is not None and np.shape(counts) == (2, 2):
        c = np.asarray(counts, dtype=int)
        page.table(["", "genes more hypoxic", "genes less hypoxic", "total"],
                   [["imaging more hypoxic", c[0, 0], c[0, 1], c[0].sum()],
                    ["imaging less hypoxic", c[1, 0], c[1, 1], c[1].sum()],
                    ["total", c[:, 0].sum(), c[:, 1].sum(), c.sum()]],
                   table_id="table-2x2", caption="Classification by imaging (rows) and genes (columns).")
    fisher = groups.get("fisher") or {}
    spearman = groups.get("spearman") or {}
    pearson = groups.get("pearson") or {}
    logrank = groups.get("logrank_groups_1_to_4") or {}
    tests = [
        ["concordance (same status)", f"{fmt_frac(groups.get('concordance'))} ({fmt_int(groups.get('n_concordant'))} "
                                      f"of {fmt_int(groups.get('n'))})", ""],
        ["Fisher's exact test, odds ratio (CI)", f"{fmt_hr(fisher.get('odds_ratio'))} "
                                                 f"({fmt_ci(fisher.get('ci_low'), fisher.get('ci_high'))})",
         fmt_p(fisher.get("p"))],
        ["Spearman rho (HF, gene score)", fmt_frac(spearman.get("rho")), fmt_p(spearman.get("p"))],
        ["Pearson r (HF, gene score)", fmt_frac(pearson.get("r")), fmt_p(pearson.get("p"))],
        ["log-rank across groups 1–4, chi²", fmt_num(logrank.get("chi2")), fmt_p(logrank.get("p"))],
    ]
    for covariate, test in (groups.get("kruskal_wallis") or {}).items():
        medians = ", ".join(f"{g}: {fmt_num(m)}" for g, m in (test.get("median_per_group") or {}).items())
        tests.append([f"Kruskal–Wallis, {covariate} across groups (medians {medians})", fmt_num(test.get("h")),
                      fmt_p(test.get("p"))])
    for covariate, by_marker in (groups.get("wilcoxon") or {}).items():
        for marker, test in by_marker.items():
            tests.append([f"Wilcoxon rank-sum, {covariate}: more vs less hypoxic by {marker} (medians "
                          f"{fmt_num(test.get('median_high'))} vs {fmt_num(test.get('median_low'))})",
                          f"W = {fmt_num(test.get('W'))}", fmt_p(test.get("p"))])
    page.table(["test", "value", "p"], tests, table_id="table-tests")
    at_horizon = groups.get("survival_at_horizon") or {}
    group = pd.to_numeric(patients.get("group"), errors="coerce").to_numpy() if "group" in patients else None
    event = patients["event"].to_numpy(dtype=float)
    rows = []
    for g in groups.get("groups", []):
        number = g.get("group")
        surv = at_horizon.get(str(number)) or {}
        events = int(np.sum(event[group == number])) if group is not None else None
        rows.append([number, g.get("name"), fmt_int(g.get("n")), fmt_int(events),
                     f"{fmt_frac(surv.get('survival'))} ({fmt_ci(surv.get('ci_low'), surv.get('ci_high'))})"])
    page.table(["group", "name", "n", "events",
                f"PFS at {horizon_months:g} months ({conf:.0%} CI)" if _finite(horizon_months) else "PFS at horizon"],
               rows, table_id="table-groups")


def _image_tables(batch: BatchFolder) -> Tuple[pd.DataFrame, pd.DataFrame]:
    """All patients' slices (with an HF) and one row per patient (whole-tumour and biopsy-slice HF)."""
    slice_frames, tumour_rows = [], []
    for patient, image in batch.images.items():
        table = image.slices.copy()
        with np.errstate(invalid="ignore", divide="ignore"):
            table["hypoxic_fraction"] = table["hypoxic"] / table["fitted"].where(table["fitted"] > 0)
        table.insert(0, "patient", patient)
        slice_frames.append(table)
        summary = image.summary
        biopsy = summary.get("biopsy_slice") or {}
        tumour_rows.append({"patient": patient, "hypoxic_fraction": summary.get("hypoxic_fraction"),
                            "biopsy_slice_hf": biopsy.get("hypoxic_fraction"), "biopsy_slice": biopsy.get("slice"),
                            "n_tumour_voxels": summary.get("n_tumour_voxels"), "n_failed": summary.get("n_failed"),
                            "tumour_volume_ml": summary.get("tumour_volume_ml")})
    slices = pd.concat(slice_frames, ignore_index=True) if slice_frames else pd.DataFrame()
    tumours = pd.DataFrame(tumour_rows)
    for column in ("hypoxic_fraction", "biopsy_slice_hf"):
        if column in tumours:
            tumours[column] = pd.to_numeric(tumours[column], errors="coerce")
    return slices, tumours


def _section_imaging(page: _Page, ctx: _Context) -> None:
    from scipy import stats

    from .figures import plot_biopsy_vs_tumour, plot_slice_fractions

    page.start("imaging", "Imaging: hypoxic fractions of tumours and slices")
    batch = ctx.batch
    if not batch.images:
        page.missing(f"patients/: {batch.notes.get('patients', 'not found')}. Per-slice hypoxic fractions and the "
                     "example patient's maps need the image results of each patient.")
    slices, tumours = _image_tables(batch) if batch.images else (pd.DataFrame(), pd.DataFrame())
    cutoff = ctx.hf_cutoff
    if len(tumours):
        hf = tumours["hypoxic_fraction"].to_numpy(dtype=float)
        page.table(["", ""], [
            ["tumours", str(len(tumours))],
            ["hypoxic fraction, median (range)", f"{fmt_frac(np.nanmedian(hf))} ({fmt_frac(np.nanmin(hf))} to "
                                                 f"{fmt_frac(np.nanmax(hf))})"],
            [f"more hypoxic (HF ≥ {cutoff:g})", f"{int(np.sum(hf >= cutoff))} ({np.mean(hf >= cutoff):.0%})"],
            ["tumour slices with a fit", str(int(slices['hypoxic_fraction'].notna().sum()))],
            ["voxels whose fit failed (all tumours)", fmt_int(pd.to_numeric(tumours["n_failed"]).sum())],
            ["parameters", ctx.a_text() + f"; HF cutoff {', '.join(f'{c:g}' for c in ctx.hf_cutoffs)}"],
        ], table_id="table-imaging")
        used = slices[slices["hypoxic_fraction"].notna()]
        n_slices = used.groupby("patient").size()
        caption = (f"Hypoxic fraction (HF) of every tumour slice with fitted voxels ({len(used)} slices of "
                   f"{len(tumours)} tumours, {int(n_slices.min())}–{int(n_slices.max())} per tumour), one column per "
                   f"patient, patients ordered by whole-tumour HF (black bar); red diamond: the biopsy slice "
                   f"(slice {_biopsy_numbers(tumours)} counted from caudal); grey line: range of the tumour's slices; "
                   f"dashed: cutoff HF = {cutoff:g}. Hypoxic voxels: {ctx.a_text() or 'threshold unknown'}."
                   + ctx.seed_text)
        page.figure("slice_fractions", "Hypoxic fraction per slice and patient", caption,
                    lambda path: plot_slice_fractions(used, tumours, path, hf_cutoff=cutoff))
    # Biopsy slice vs whole tumour: the cohort table when it has both columns, else the image results.
    pairs, source = _biopsy_pairs(batch, tumours)
    if pairs is not None and len(pairs) >= 2:
        x = pairs["hypoxic_fraction"].to_numpy(dtype=float)
        y = pairs["biopsy_slice_hf"].to_numpy(dtype=float)
        same = (x >= cutoff) == (y >= cutoff)
        r_text = ""
        if len(pairs) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
            r, p = stats.pearsonr(x, y)
            r_text = f"Pearson r = {fmt_frac(r)} (p = {fmt_p(p)})"
        caption = (f"HF of the biopsy slice against HF of the whole tumour for n = {len(pairs)} tumours ({source}). "
                   f"Dashed: cutoff HF = {cutoff:g}; grey: identity. {int(same.sum())} of {len(pairs)} biopsy slices "
                   f"({np.mean(same):.0%}) have the whole tumour's status. " + (r_text + "." if r_text else "")
                   + ctx.seed_text)
        page.figure("biopsy_slice_vs_tumour", "Biopsy slice against whole tumour", caption,
                    lambda path: plot_biopsy_vs_tumour(y, x, path, hf_cutoff=cutoff, annotation=r_text))
    elif not batch.images:
        page.missing("no biopsy-slice hypoxic fractions (cohort_table.csv without biopsy_slice_hf and no image "
                     "results)")
    if batch.images:
        _example_patient(page, ctx, tumours)


def _biopsy_numbers(tumours: pd.DataFrame) -> str:
    numbers = sorted({int(s) for s in pd.to_numeric(tumours["biopsy_slice"], errors="coerce").dropna()})
    return ", ".join(str(s) for s in numbers) or DASH


def _biopsy_pairs(batch: BatchFolder, tumours: pd.DataFrame) -> Tuple[Optional[pd.DataFrame], str]:
    table = batch.cohort_table
    if table is not None and {"hypoxic_fraction", "biopsy_slice_hf"} <= set(table.columns):
        pairs = table[["hypoxic_fraction", "biopsy_slice_hf"]].apply(pd.to_numeric, errors="coerce").dropna()
        return pairs, "cohort_table.csv"
    if len(tumours):
        return tumours[["hypoxic_fraction", "biopsy_slice_hf"]].dropna(), "image results in patients/"
    return None, ""


def _example_patient(page: _Page, ctx: _Context, tumours: pd.DataFrame) -> None:
    from ..io.volumes import read_volume
    from .figures import choose_slices, plot_patient_maps

    batch = ctx.batch
    page.heading("Example patient")
    needed = ("a_brix.nrrd", "hypoxic_mask.nrrd", "tumour_mask.nrrd")
    candidates = tumours[[all((batch.images[p].folder / f).is_file() for f in needed) for p in tumours["patient"]]]
    candidates = candidates[candidates["hypoxic_fraction"].notna()]
    if candidates.empty:
        page.missing("no patient folder holds a_brix.nrrd, hypoxic_mask.nrrd and tumour_mask.nrrd")
        return
    # The patient whose HF is nearest the cohort's median: a typical tumour, chosen the same way every time.
    median = float(tumours["hypoxic_fraction"].median())
    order = (candidates["hypoxic_fraction"] - median).abs().to_frame("d").assign(p=candidates["patient"].astype(str))
    patient = str(candidates.loc[order.sort_values(["d", "p"]).index[0], "patient"])
    image = batch.images[patient]
    folder = image.folder
    a_brix, geometry = read_volume(folder / "a_brix.nrrd")
    hypoxic, _ = read_volume(folder / "hypoxic_mask.nrrd")
    tumour, _ = read_volume(folder / "tumour_mask.nrrd")
    background, background_name = _background(folder, geometry)
    table = image.slices
    biopsy_rows = table[table["is_biopsy_slice"].astype(bool)]
    biopsy = int(biopsy_rows["slice"].iloc[0]) if len(biopsy_rows) else None
    shown = choose_slices(table["slice"].tolist(), biopsy)
    k_of = dict(zip(table["slice"].astype(int), table["k_index"].astype(int)))
    summary = image.summary
    a_threshold = image.a_threshold
    fractions = table["hypoxic"] / table["fitted"].where(table["fitted"] > 0)
    slice_hf = {int(s): h for s, h in zip(table["slice"], fractions)}
    caption = (f"Patient {patient} (whole-tumour HF {fmt_frac(summary.get('hypoxic_fraction'))}, the tumour nearest "
               f"the cohort's median HF {fmt_frac(median)}): A_Brix map (top; warm colours below the threshold "
               f"{a_threshold:g}) and hypoxic voxels (bottom; red: A_Brix < {a_threshold:g}, blue: not hypoxic, "
               f"yellow: fit failed) on tumour slices {', '.join(str(s) for s in shown)} of {len(table)} "
               f"(1 = most caudal), "
               f"cropped around the tumour; {'white' if background is not None else 'black'} line: tumour outline. "
               f"The biopsy slice (slice {biopsy}, HF "
               f"{fmt_frac(slice_hf.get(biopsy))}) has a red frame. "
               + (f"Background: {background_name}. " if background is not None
                  else "No anatomical image in the patient's folder: grey background. ")
               + f"Pixel size {geometry.spacing[0]:.2g} × {geometry.spacing[1]:.2g} mm, slice thickness "
               f"{geometry.spacing[2]:.2g} mm." + ctx.seed_text)
    page.figure("example_patient_maps", f"A_Brix and hypoxia maps of patient {patient}", caption,
                lambda path: plot_patient_maps(
                    a_brix, hypoxic > 0, tumour > 0, path, slices=[(s, k_of[s]) for s in shown], biopsy_slice=biopsy,
                    spacing_ij=(geometry.spacing[0], geometry.spacing[1]), a_threshold=a_threshold,
                    background=background, background_name=background_name, title=f"Patient {patient}"))


def _background(folder: Path, geometry) -> Tuple[Optional[np.ndarray], str]:
    """An anatomical image on the maps' grid (resampled linearly when it has another grid), or (None, '')."""
    import SimpleITK as sitk

    from ..io.volumes import image_on_grid, read_volume

    for name in BACKGROUND_FILES:
        path = folder / name
        if not path.is_file():
            continue
        image = sitk.ReadImage(str(path))
        if image.GetDimension() != 3:
            continue
        array, grid = read_volume(path)
        if grid.same_grid(geometry):
            return array.astype(float), name
        reference = image_on_grid(geometry, np.zeros(geometry.shape, dtype=np.float32))
        resampled = sitk.Resample(sitk.Cast(image, sitk.sitkFloat32), reference, sitk.Transform(), sitk.sitkLinear,
                                  float("nan"))
        return sitk.GetArrayFromImage(resampled).astype(float), f"{name} resampled onto the DCE grid (linear)"
    return None, ""


def _section_genes(page: _Page, ctx: _Context) -> None:
    from .figures import plot_gene_scores

    page.start("genes", "Genes: 6-gene hypoxia score")
    batch = ctx.batch
    scores = batch.gene_scores
    if scores is None:
        page.missing(f"genes/scores.csv: {batch.notes.get('genes', 'not found')}. The gene section needs the genes "
                     "command's per-sample output.")
        return
    if "hypoxia_score" not in scores:
        page.missing("genes/scores.csv has no hypoxia_score column")
        return
    values = pd.to_numeric(scores["hypoxia_score"], errors="coerce")
    if not np.isfinite(values.to_numpy(dtype=float)).any():
        page.missing("genes/scores.csv has no sample with a score")
        return
    cohort_cutoff = ((batch.cohort or {}).get("genes") or {}).get("cutoff", {}).get("value")
    sample_cutoff = ((batch.gene_results or {}).get("parameters") or {}).get("cutoff")
    sample_cutoff = float(sample_cutoff) if _finite(sample_cutoff) else \
        float(cohort_cutoff) if _finite(cohort_cutoff) else 0.0
    classes = scores["classification"].astype(str).value_counts() if "classification" in scores else pd.Series()
    rows = [["samples scored", str(int(values.notna().sum()))],
            ["samples without a score", str(int(values.isna().sum()))],
            ["score, median (range)", f"{fmt_num(values.median())} ({fmt_num(values.min())} to "
                                      f"{fmt_num(values.max())})"]]
    rows += [[f"samples classified '{name}'", str(int(count))] for name, count in classes.items()]
    if batch.gene_patients is not None and "n_biopsies" in batch.gene_patients:
        patients = batch.gene_patients
        rows.append(["patients (biopsies grouped)", str(len(patients))])
        rows.append(["biopsies per patient, range", f"{fmt_int(patients['n_biopsies'].min())} to "
                                                    f"{fmt_int(patients['n_biopsies'].max())}"])
    page.table(["", ""], rows, table_id="table-genes")
    caption = (f"Distribution of the 6-gene hypoxia score over {int(values.notna().sum())} samples (genes/scores.csv); "
               f"dashed: the classification cutoff {sample_cutoff:g} (score ≥ cutoff: more hypoxic, red). "
               + (f"The cohort statistics used the gene cutoff {float(cohort_cutoff):g}. "
                  if _finite(cohort_cutoff) and float(cohort_cutoff) != sample_cutoff else "")
               + ctx.seed_text.strip())
    page.figure("gene_scores", "Gene score distribution", caption.strip(),
                lambda path: plot_gene_scores(values.to_numpy(dtype=float), path, cutoff=sample_cutoff))


def _variance_row(name: str, section: dict) -> Tuple[Optional[List[str]], str]:
    vc = section.get("variance_components") or {}
    if not vc or "not_computed" in vc:
        return None, f"{name}: W/T not computed ({vc.get('not_computed', 'no result')})"
    ci = (vc.get("confidence_interval") or {}).get("Wk_over_T") or {}
    level = (vc.get("confidence_interval") or {}).get("level")
    wk = vc.get("Wk_over_T") or {}

    def with_ci(k: str) -> str:
        bounds = ci.get(k)
        return fmt_frac(wk.get(k)) + (f" ({fmt_frac(bounds[0])}{DASH}{fmt_frac(bounds[1])})" if bounds else "")

    return [name, vc.get("transform", section.get("parameters", {}).get("transform", DASH)),
            fmt_int(vc.get("n_tumours")), fmt_int(vc.get("n_samples")), fmt_num(vc.get("W")), fmt_num(vc.get("B")),
            fmt_num(vc.get("T"))] + [with_ci(k) for k in ("1", "2", "3", "4")], (
        f"{level:.0%} intervals: {(vc.get('confidence_interval') or {}).get('description', '')}" if level else "")


def _section_heterogeneity(page: _Page, ctx: _Context) -> None:
    from .clustering_figure import plot_clustering

    page.start("heterogeneity", "Heterogeneity: slices, biopsies, virtual biopsies")
    batch = ctx.batch
    het = batch.heterogeneity
    if het is None:
        page.missing(f"heterogeneity/heterogeneity.json: {batch.notes.get('heterogeneity', 'not found')}. Variance "
                     "components and the clustering of hypoxia need the heterogeneity command's output."
                     + _stage_note(batch, "heterogeneity"))
        return
    rows, notes, ci_notes = [], [], set()
    for key, name in (("slices", "slices (imaging HF)"), ("biopsies", "biopsies (gene score)"),
                      ("virtual_biopsies", "virtual biopsies (imaging HF)"), ("values", "other values")):
        if key not in het:
            if key != "values":
                notes.append(f"{name}: not analysed")
            continue
        row, note = _variance_row(name, het[key])
        if row is None:
            notes.append(note)
        else:
            rows.append(row)
            if note:
                ci_notes.add(note)
    if rows:
        page.table(["samples", "transform", "tumours", "samples (N)", "W", "B", "T", "W/T", "W2/T", "W3/T", "W4/T"],
                   rows, table_id="table-variance",
                   caption="Random-effects one-way ANOVA (method of moments, unbalanced): W within tumours, B between "
                           "tumours, T = W + B; Wk/T = (W/k) / (W/k + B) is the within-tumour share when a tumour's "
                           "value is the mean of k samples. " + " ".join(sorted(ci_notes)))
    for note in notes:
        page.missing(note)
    facts = []
    slices = het.get("slices") or {}
    if slices:
        corr = slices.get("biopsy_slice_vs_tumour") or {}
        facts += [["slices with their tumour's status", f"{fmt_frac(slices.get('share_of_slices_with_tumour_status'))}"
                   f" ({fmt_int(slices.get('n_slices_with_tumour_status'))} of {fmt_int(slices.get('n_slices'))})"],
                  ["biopsy slice vs tumour, Pearson r", f"{fmt_frac(corr.get('pearson_r'))} "
                                                        f"(p = {fmt_p(corr.get('pearson_p'))})"]]
    biopsies = het.get("biopsies") or {}
    if biopsies:
        facts.append(["tumours whose biopsies agree", fmt_frac(biopsies.get("share_of_tumours_whose_biopsies_agree"))])
    virtual = het.get("virtual_biopsies") or {}
    clustering = virtual.get("clustering") or {}
    if virtual:
        facts.append(["virtual biopsies (used)", f"{fmt_int(virtual.get('n_virtual_biopsies'))} "
                                                 f"({fmt_int(virtual.get('n_virtual_biopsies_used'))})"])
        facts.append(["clustering: more / less", f"{fmt_int(clustering.get('n_more_clustering'))} / "
                                                 f"{fmt_int(clustering.get('n_less_clustering'))}"
                      if "not_computed" not in clustering else f"not computed ({clustering['not_computed']})"])
    if facts:
        page.table(["", ""], facts, table_id="table-heterogeneity")
    tumours = batch.heterogeneity_tables.get("virtual_biopsy_tumours.csv")
    curves = batch.heterogeneity_tables.get("clustering_curves.csv")
    if tumours is None or curves is None:
        page.missing("virtual_biopsy_tumours.csv or clustering_curves.csv not in heterogeneity/: no figure of the "
                     "clustering of hypoxia")
        return
    params = virtual.get("parameters") or {}
    labels = tumours["clustering"].fillna("").astype(str) if "clustering" in tumours else pd.Series([""])
    n_sd = int(pd.to_numeric(tumours["sd_hypoxic_fraction"], errors="coerce").notna().sum())
    gam = ("" if "not_computed" in clustering else
           f" Black: GAM SD ~ s(HF) over {fmt_int(clustering.get('n_tumours'))} tumours (cubic B-splines, "
           f"{fmt_int(clustering.get('basis_size'))} basis functions, smoothing by GCV, edf "
           f"{fmt_num(clustering.get('edf'))}); red: more clustering (above the curve, n = "
           f"{int((labels == 'more clustering').sum())}), blue: less clustering (n = "
           f"{int((labels == 'less clustering').sum())}).")
    threshold = params.get("a_threshold")
    caption = (f"SD of the hypoxic fractions of the virtual biopsies of each tumour against the HF of the slice they "
               f"were drawn in, for {n_sd} tumours: {params.get('patch_size', 12)}-voxel patches, "
               f"{params.get('n_biopsies_per_tumour', 'floor(N/12)')} per tumour, seed {params.get('seed')}, "
               + (f"A_Brix threshold {threshold}" if threshold is not None else "each patient's A_Brix threshold")
               + "." + gam + " Dashed: one compact hypoxic region, sqrt(HF(1 − HF)); dotted: randomly scattered "
               f"hypoxic voxels (hypergeometric, N = {fmt_num(virtual.get('reference_curves_n_voxels'))} voxels)."
               + ctx.seed_text)
    page.figure("virtual_biopsy_sd", "Clustering of hypoxia: virtual-biopsy SD against HF", caption,
                lambda path: plot_clustering(tumours.assign(clustering=labels), curves, path))


def _section_patients(page: _Page, ctx: _Context) -> None:
    page.start("patients", "Patients")
    batch = ctx.batch
    table = batch.cohort_table
    if table is None:
        page.missing(f"cohort_table.csv: {batch.notes.get('cohort_table', 'not found')}")
        return
    shown = table.copy()
    cohort_patients = batch.cohort_patients
    if cohort_patients is not None and "id" in cohort_patients and "patient" in shown:
        extra = cohort_patients[[c for c in ("id", "group", "hscomp") if c in cohort_patients]]
        extra = extra.rename(columns={"id": "patient"}).astype({"patient": str})
        shown = shown.astype({"patient": str}).merge(extra, on="patient", how="left")
    rows = [[DASH if pd.isna(v) else fmt_num(v, 4) if isinstance(v, (float, np.floating)) else str(v) for v in row]
            for row in shown.itertuples(index=False)]
    page.details(f"cohort_table.csv with group and HScomp from the cohort statistics ({len(shown)} patients)",
                 lambda: page.table(list(shown.columns), rows, table_id="table-patients"))


def _section_parameters(page: _Page, ctx: _Context) -> None:
    page.start("parameters", "Parameters and provenance")
    batch = ctx.batch
    rows = [["report written by", f"HypoxiaMarkersLib {__version__}"], ["batch folder", str(batch.path)],
            ["report folder", str(ctx.out_dir)]]
    page.table(["", ""], rows, table_id="table-provenance")
    for title, data in (("batch.json", batch.batch), ("cohort statistics (cohort/results.json)",
                                                      (batch.cohort or {}).get("parameters")),
                        ("heterogeneity (heterogeneity/heterogeneity.json)",
                         (batch.heterogeneity or {}).get("parameters"))):
        if data:
            flat = _flatten(data)
            page.details(f"{title}: {len(flat)} entries", lambda flat=flat: page.table(["parameter", "value"], flat))
    if batch.images:
        first = next(iter(batch.images.values()))
        flat = _flatten(first.summary.get("parameters", {}))
        page.details(f"imaging parameters (patients/{first.patient}/summary.json)",
                     lambda: page.table(["parameter", "value"], flat))


SECTIONS = (_section_overview, _section_survival, _section_imaging, _section_genes, _section_heterogeneity,
            _section_patients, _section_parameters)


# ----------------------------------------------------------------------------------------------------- PDF


def _write_pdf(page: _Page, out: Path, title: str, overview: List[str]) -> None:
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


def _overview_lines(ctx: _Context) -> List[str]:
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


# ------------------------------------------------------------------------------------------------- writing


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
    title = "HypoxiaMarkers cohort report"
    ctx = _context(batch, out_dir)
    with atomic_output_dir(out_dir, report_inputs(batch.path, out_dir), force=force, option="--out") as tmp:
        figures_dir = tmp / "figures"
        figures_dir.mkdir()
        page = _Page(figures_dir)
        for build in SECTIONS:
            try:
                build(page, ctx)
            except Exception as error:  # noqa: BLE001 - one broken section must not take the others with it
                page.errors.append(f"{build.__name__}: {type(error).__name__}: {error}\n{traceback.format_exc()}")
                page.missing(f"this section could not be completed ({type(error).__name__}: {error})")
        generated = datetime.datetime.now().isoformat(timespec="seconds")
        meta = (f"Batch folder <code>{html.escape(str(batch.path))}</code> · written {generated} by HypoxiaMarkersLib "
                f"{html.escape(__version__)}" + (f" · batch seed {batch.seed}" if batch.seed is not None else ""))
        (tmp / "index.html").write_text(_html_document(page, title, meta), encoding="utf-8")
        if pdf:
            try:
                _write_pdf(page, tmp, title, _overview_lines(ctx))
            except Exception as error:  # noqa: BLE001 - the HTML report stands without the PDF
                page.errors.append(f"report.pdf: {type(error).__name__}: {error}")
        write_json({
            "version": __version__,
            "parameters": {"batch_dir": str(batch.path), "out_dir": str(out_dir), "pdf": pdf},
            "generated": generated,
            "seed": batch.seed,
            "figures": [{"file": f.file, "number": f.number, "title": f.title, "caption": f.caption,
                         "section": f.section} for f in page.figures],
            "sections": page.status,
            "batch_notes": batch.notes,
            "errors": page.errors,
        }, tmp / "report.json")
    return out_dir
