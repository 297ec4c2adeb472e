"""How every figure of the report (and of the cohort and heterogeneity commands) is made and saved.

:func:`new_figure` gives a matplotlib ``Figure`` on an Agg canvas (the object-oriented API: nothing happens at
import time, and Slicer's or a notebook's pyplot backend is never switched). :func:`save_figure` writes it twice:
the raster file asked for (PNG at :data:`DPI` dots per inch, the resolution journals ask for) and a vector copy
(SVG) beside it with the same name, for a paper or slides.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Tuple

#: Resolution of every PNG (journals ask for at least 300 dpi for figures with lines and text).
DPI = 300
#: The vector copy written beside every raster figure.
VECTOR_SUFFIX = ".svg"


def new_figure(size: Tuple[float, float]):
    """A matplotlib ``Figure`` of ``size`` inches on an Agg canvas (no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size)
    FigureCanvasAgg(figure)
    return figure


def vector_path(path: Path) -> Path:
    """The vector copy of the figure file ``path`` (``km_imaging.png`` → ``km_imaging.svg``)."""
    return Path(path).with_suffix(VECTOR_SUFFIX)


def save_figure(figure, path: Path, *, tight: bool = True) -> Path:
    """Write ``figure`` to ``path`` (PNG at :data:`DPI` dpi, or the format of its suffix) and an SVG beside it.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
    path : Path
        The raster file (its name is the contract: e.g. ``figures/km_imaging.png``); a ``.svg`` or ``.pdf`` path is
        written as it is, without a second copy.
    tight : bool
        Crop the white margin (``bbox_inches="tight"``).

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    raster = path.suffix.lower() not in (".svg", ".pdf")
    # One tight box for both files: savefig(bbox_inches="tight") lays the figure out once more per file just to
    # find it (the slowest part of saving); the box is found at the PNG's resolution, so the PNG is the same.
    box = tight_box(figure, DPI if raster else figure.dpi) if tight else None
    # SVG text kept as text (not paths): smaller files whose words can be searched and edited.
    with _svg_text_as_text():
        figure.savefig(str(path), dpi=DPI, bbox_inches=box)
        if raster:
            figure.savefig(str(vector_path(path)), bbox_inches=box)
    return path


def tight_box(figure, dpi: float):
    """The figure's drawn area in inches with matplotlib's margin (``savefig.pad_inches``), as
    ``bbox_inches="tight"`` finds it, laid out at ``dpi``."""
    import matplotlib

    with _figure_dpi(figure, dpi):
        figure.draw_without_rendering()
        box = figure.get_tightbbox()
    return box.padded(matplotlib.rcParams["savefig.pad_inches"])


@contextmanager
def _figure_dpi(figure, dpi: float):
    original = figure.dpi
    figure.dpi = dpi
    try:
        yield
    finally:
        figure.dpi = original


def _svg_text_as_text():
    import matplotlib

    return matplotlib.rc_context({"svg.fonttype": "none"})
