"""The imaging–gene association in all patients, the training set and the validation set.

The 6-gene signature was built on part of the cohort (41 patients); its correlation with imaging in those same
patients is optimistic. Fjeldbo et al. (2020) therefore repeated the comparison without them. Given a mark of the
validation patients, :func:`split_association` reports the same numbers for all, training and validation patients:
Spearman and Pearson correlation of the continuous values, the 2×2 classification table, the concordance and
Fisher's test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

import numpy as np

from .association import Correlation, FisherTest, Share, correlation, fisher_test

SUBSETS = ("all", "training", "validation")


@dataclass
class SubsetAssociation:
    """Imaging against genes in one subset of patients."""

    n: int
    spearman: Correlation
    pearson: Correlation
    concordance: Share
    fisher: FisherTest

    def to_dict(self) -> dict:
        return {"n": self.n, "spearman": self.spearman.to_dict(), "pearson": self.pearson.to_dict(),
                "concordance": self.concordance.to_dict(), "fisher": self.fisher.to_dict()}


def subset_association(imaging, genes, imaging_high, genes_high, *, conf_level: float = 0.95) -> SubsetAssociation:
    """Correlations, concordance and Fisher's test of imaging against genes in one set of patients."""
    imaging_high = np.asarray(imaging_high, dtype=bool)
    genes_high = np.asarray(genes_high, dtype=bool)
    table = [[int(np.sum(imaging_high & genes_high)), int(np.sum(imaging_high & ~genes_high))],
             [int(np.sum(~imaging_high & genes_high)), int(np.sum(~imaging_high & ~genes_high))]]
    n = int(imaging_high.size)
    return SubsetAssociation(
        n=n,
        spearman=correlation(imaging, genes, method="spearman", x_name="imaging", y_name="gene score"),
        pearson=correlation(imaging, genes, method="pearson", x_name="imaging", y_name="gene score"),
        concordance=Share(table[0][0] + table[1][1], n),
        fisher=fisher_test(table, rows=["imaging more hypoxic", "imaging less hypoxic"],
                           columns=["genes more hypoxic", "genes less hypoxic"], conf_level=conf_level))


@dataclass
class SplitAssociation:
    """The association in all, training and validation patients."""

    subsets: Dict[str, SubsetAssociation]
    column: str

    def to_dict(self) -> dict:
        return {"column": self.column, "validation_rule": "truthy values of the column mark validation patients",
                **{name: self.subsets[name].to_dict() for name in SUBSETS}}


def split_association(imaging, genes, imaging_high, genes_high, validation, *, column: str = "validation",
                      conf_level: float = 0.95) -> SplitAssociation:
    """:func:`subset_association` for all patients, the training set (``validation`` False) and the validation
    set (``validation`` True). An empty subset gives 'not estimable' entries, not numbers."""
    arrays = [np.asarray(v) for v in (imaging, genes, imaging_high, genes_high)]
    validation = np.asarray(validation, dtype=bool)
    masks = {"all": np.ones(validation.size, dtype=bool), "training": ~validation, "validation": validation}
    subsets = {name: subset_association(*(a[mask] for a in arrays), conf_level=conf_level)
               for name, mask in masks.items()}
    return SplitAssociation(subsets=subsets, column=column)
