"""Gene score against tumour-cell fraction (Fjeldbo et al. 2020: not correlated).

A gene score measured in a biopsy mixes tumour cells with stroma; if the score followed the share of tumour cells,
part of its disagreement with imaging would be dilution. The paper found no correlation (cell fraction 10–90 %,
median 65 %). Reported: Spearman (the paper's kind of test for a bounded, coarse percentage) and Pearson.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .association import Correlation, correlation


@dataclass
class CellFractionResult:
    """Gene score against tumour-cell fraction."""

    column: str
    n: int
    n_missing: int
    median: Optional[float]
    minimum: Optional[float]
    maximum: Optional[float]
    spearman: Correlation
    pearson: Correlation

    def to_dict(self) -> dict:
        return {"column": self.column, "n": self.n, "n_missing": self.n_missing,
                "cell_fraction_median": self.median, "cell_fraction_min": self.minimum,
                "cell_fraction_max": self.maximum, "spearman": self.spearman.to_dict(),
                "pearson": self.pearson.to_dict()}


def gene_score_vs_cell_fraction(gene_score, cell_fraction, *, column: str = "tumour_cell_fraction"
                                ) -> CellFractionResult:
    """Spearman and Pearson correlation of the gene score with the tumour-cell fraction (pairs with both values).

    Parameters
    ----------
    gene_score, cell_fraction : array-like
        One value per patient; NaN where missing. The fraction may be a percentage or a share (correlations do
        not depend on the scale).
    column : str
        The table column the fraction came from (recorded).
    """
    score = np.asarray(gene_score, dtype=float)
    fraction = np.asarray(cell_fraction, dtype=float)
    both = np.isfinite(score) & np.isfinite(fraction)
    used = fraction[both]
    return CellFractionResult(
        column=column, n=int(both.sum()), n_missing=int((~both).sum()),
        median=float(np.median(used)) if used.size else None, minimum=float(used.min()) if used.size else None,
        maximum=float(used.max()) if used.size else None,
        spearman=correlation(fraction, score, method="spearman", x_name=column, y_name="gene score"),
        pearson=correlation(fraction, score, method="pearson", x_name=column, y_name="gene score"))
