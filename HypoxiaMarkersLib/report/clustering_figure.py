"""Figure of the clustering of hypoxia: virtual-biopsy SD against slice HF, the GAM and the reference curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..heterogeneity.clustering import LESS, MORE
from .figure_files import new_figure, save_figure


def plot_clustering(tumours: pd.DataFrame, curves: pd.DataFrame, path: Path) -> Path:
    """Draw SD of virtual-biopsy HFs against slice HF for every tumour and save to ``path`` (.png/.pdf/.svg).

    Parameters
    ----------
    tumours : DataFrame
        ``slice_hypoxic_fraction``, ``sd_hypoxic_fraction`` and ``clustering`` (label) per tumour, as in
        :attr:`heterogeneity.VirtualBiopsyHeterogeneity.tumours`.
    curves : DataFrame
        :func:`clustering.reference_curves` output (``sd_gam`` optional).
    path : Path
    """
    figure = new_figure((6.4, 4.8))
    ax = figure.add_subplot(1, 1, 1)
    ax.plot(curves["hypoxic_fraction"], curves["sd_clustered"], color="0.3", linestyle="--",
            label="one hypoxic region: sqrt(HF(1-HF))")
    ax.plot(curves["hypoxic_fraction"], curves["sd_scattered"], color="0.3", linestyle=":",
            label="randomly scattered (hypergeometric)")
    if "sd_gam" in curves:
        ax.plot(curves["hypoxic_fraction"], curves["sd_gam"], color="black", label="GAM fit over tumours")
    hf = tumours["slice_hypoxic_fraction"].to_numpy(dtype=float)
    sd = tumours["sd_hypoxic_fraction"].to_numpy(dtype=float)
    label = tumours["clustering"].astype(str).to_numpy()
    for name, colour in ((MORE, "#c0392b"), (LESS, "#2471a3"), ("", "0.5")):
        chosen = (label == name) & np.isfinite(sd)
        if chosen.any():
            ax.scatter(hf[chosen], sd[chosen], s=18, color=colour, label=name or "no label", zorder=3)
    ax.set_xlim(0, 1)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("Hypoxic fraction of the slice (share of its tumour voxels, 0–1)")
    ax.set_ylabel("SD of virtual-biopsy hypoxic fractions (0–1 scale)")
    ax.legend(fontsize=8, frameon=False)
    figure.tight_layout()
    return save_figure(figure, path, tight=False)
