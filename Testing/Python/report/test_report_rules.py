"""The report applies the method's rules at their boundaries: counts of "more hypoxic" tumours and of biopsy slices
with their tumour's status, and the classes of the gene-score histogram, with values exactly at the cutoffs.

Fast: the sections and figures are called on tiny inputs (the whole report is tested in test_report.py).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from HypoxiaMarkersLib.heterogeneity.inputs import ImageResult
from HypoxiaMarkersLib.report import figures
from HypoxiaMarkersLib.report.batch_folder import BatchFolder
from HypoxiaMarkersLib.report.context import make_context
from HypoxiaMarkersLib.report.page import Page
from HypoxiaMarkersLib.report.sections import SECTIONS


def _image(patient: str, biopsy_hypoxic: int, other_hypoxic: int, folder: Path) -> ImageResult:
    # Two slices of 100 fitted voxels; slice 1 is the biopsy slice. Tumour HF = (biopsy + other) / 200.
    slices = pd.DataFrame({"slice": [1, 2], "k_index": [0, 1], "voxels": [100, 100], "fitted": [100, 100],
                           "hypoxic": [biopsy_hypoxic, other_hypoxic], "is_biopsy_slice": [True, False]})
    summary = {"hypoxic_fraction": (biopsy_hypoxic + other_hypoxic) / 200, "n_tumour_voxels": 200, "n_failed": 0,
               "biopsy_slice": {"slice": 1, "hypoxic_fraction": biopsy_hypoxic / 100},
               "parameters": {"a_threshold": 1.56, "hf_cutoff": 0.27}}
    return ImageResult(patient=patient, folder=folder / patient, summary=summary, slices=slices)


def _imaging_page(tmp_path: Path) -> str:
    # (biopsy slice HF, tumour HF): P1 (0.28, 0.27) same status, tumour at the cutoff (more); P2 (0.27, 0.26)
    # differs, biopsy slice at the cutoff; P3 (0.20, 0.40) differs; P4 (0.10, 0.10) same.
    images = {"P1": _image("P1", 28, 26, tmp_path), "P2": _image("P2", 27, 25, tmp_path),
              "P3": _image("P3", 20, 60, tmp_path), "P4": _image("P4", 10, 10, tmp_path)}
    batch = BatchFolder(path=tmp_path, images=images)
    page = Page(tmp_path)
    imaging = next(section for section in SECTIONS if section.__name__ == "_section_imaging")
    imaging(page, make_context(batch, tmp_path / "report"))
    return "".join(part for _, _, parts in page.sections for part in parts)


def test_imaging_section_counts_a_tumour_at_the_cutoff_as_more_hypoxic(tmp_path):
    html = _imaging_page(tmp_path)
    assert "<td>more hypoxic (HF ≥ 0.27)</td><td>2 (50%)</td>" in html  # P1 and P3
    assert "2 of 4 biopsy slices (50%) have the whole tumour&#x27;s status" in html  # P1 and P4


def _legend_of(draw, monkeypatch, tmp_path):
    captured = []
    monkeypatch.setattr(figures, "_save", lambda figure, path: captured.append(figure) or path)
    draw(tmp_path / "figure.png")
    (axes,) = captured[0].axes
    return [text.get_text() for text in axes.get_legend().get_texts()]


def test_gene_histogram_puts_a_score_of_zero_in_the_more_hypoxic_class(monkeypatch, tmp_path):
    labels = _legend_of(lambda path: figures.plot_gene_scores([-0.5, 0.0, 0.5], path, cutoff=0.0),
                        monkeypatch, tmp_path)
    assert "less hypoxic (n = 1)" in labels and "more hypoxic (n = 2)" in labels


def test_biopsy_figure_gives_a_slice_at_the_cutoff_its_tumours_status(monkeypatch, tmp_path):
    # (biopsy, tumour): (0.27, 0.30) same (both more); (0.30, 0.27) same (both more); (0.10, 0.26) same (both
    # less); (0.50, 0.10) differs.
    labels = _legend_of(lambda path: figures.plot_biopsy_vs_tumour([0.27, 0.30, 0.10, 0.50], [0.30, 0.27, 0.26, 0.10],
                                                                   path, hf_cutoff=0.27), monkeypatch, tmp_path)
    assert "same status (n = 3)" in labels and "status differs (n = 1)" in labels
