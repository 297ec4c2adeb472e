"""Every figure is written twice: PNG at 300 dpi and an SVG (parseable XML) beside it, by one helper."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest
from PIL import Image

from HypoxiaMarkersLib.report.clustering_figure import plot_clustering
from HypoxiaMarkersLib.report.figure_files import DPI, new_figure, save_figure, vector_path
from HypoxiaMarkersLib.report.figures import plot_gene_scores
from HypoxiaMarkersLib.report.km_figure import plot_composite_line, plot_kaplan_meier
from HypoxiaMarkersLib.stats.survival import kaplan_meier


def assert_png_and_svg(path, *words):
    """The PNG says 300 dpi in its metadata and has pixels; the SVG parses as XML and holds ``words`` as text."""
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.info["dpi"] == pytest.approx((DPI, DPI), abs=0.01)
        assert min(image.size) > 300
    svg = vector_path(path)
    assert svg.name == path.stem + ".svg"
    root = ElementTree.parse(svg).getroot()
    assert root.tag.endswith("svg")
    text = svg.read_text(encoding="utf-8")
    for word in words:
        assert word in text, word


def test_save_figure_writes_png_at_300_dpi_and_svg_with_text(tmp_path):
    figure = new_figure((3.0, 2.0))
    ax = figure.add_subplot(1, 1, 1)
    ax.plot([0, 1], [1, 0])
    ax.set_xlabel("Time (months)")
    out = save_figure(figure, tmp_path / "line.png")
    assert out == tmp_path / "line.png"
    assert_png_and_svg(out, "Time (months)")  # text stays text in the SVG (searchable, editable)
    # A vector path asked for is written as it is, without a second copy.
    save_figure(figure, tmp_path / "only.svg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["line.png", "line.svg", "only.svg"]


def test_every_figure_function_saves_through_the_helper(tmp_path):
    rng = np.random.default_rng(0)
    time, event = rng.exponential(20, 40), rng.integers(0, 2, 40)
    curves = {"more": kaplan_meier(time[:20], event[:20]), "less": kaplan_meier(time[20:], event[20:])}
    assert_png_and_svg(plot_kaplan_meier(curves, tmp_path / "km.png", time_label="PFS (months)"),
                       "PFS (months)", "probability")
    x, y = rng.uniform(0, 1, 40), rng.normal(0, 1, 40)
    assert_png_and_svg(plot_composite_line(x, y, x / 0.4 + y / 1.0 >= 1, 0.4, 1.0, tmp_path / "line.png"),
                       "0–1")
    assert_png_and_svg(plot_gene_scores(y, tmp_path / "genes.png", cutoff=0.0), "log2")
    import pandas as pd

    tumours = pd.DataFrame({"slice_hypoxic_fraction": x, "sd_hypoxic_fraction": x / 3,
                            "clustering": ["more clustering"] * 20 + ["less clustering"] * 20})
    grid = np.linspace(0, 1, 11)
    curves = pd.DataFrame({"hypoxic_fraction": grid, "sd_clustered": np.sqrt(grid * (1 - grid)),
                           "sd_scattered": np.sqrt(grid * (1 - grid)) / 4})
    assert_png_and_svg(plot_clustering(tumours, curves, tmp_path / "clustering.png"), "0–1")
