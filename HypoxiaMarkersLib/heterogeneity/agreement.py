"""Clustering of hypoxia against the agreement of imaging and genes (Fjeldbo et al. 2020, Fig. 4H).

If imaging and genes disagreed because a biopsy misses (or hits) a hypoxic cluster, tumours with more clustering
of hypoxia would disagree more often. Per tumour: the clustering label of the virtual biopsies (more/less, from the
GAM residual), the imaging class of the whole tumour (slice results) and the gene class of the mean biopsy score;
Fisher's test of clustering against same/different status.
"""

from __future__ import annotations

from typing import Tuple

import pandas as pd

from ..rules import MORE_HYPOXIC
from ..stats.disagreement import AgreementByClustering, agreement_by_clustering

MORE_CLUSTERING, LESS_CLUSTERING = "more clustering", "less clustering"


def clustering_agreement(virtual_tumours: pd.DataFrame, slice_tumours: pd.DataFrame, biopsy_tumours: pd.DataFrame,
                         *, conf_level: float = 0.95) -> Tuple[AgreementByClustering, pd.DataFrame]:
    """Clustering label against same/different status of the tumours that have imaging and a gene score.

    Parameters
    ----------
    virtual_tumours : DataFrame
        ``patient``, ``clustering`` ('more clustering', 'less clustering' or '' when the tumour has none).
    slice_tumours : DataFrame
        ``patient``, ``classification`` (imaging class of the whole tumour).
    biopsy_tumours : DataFrame
        ``patient``, ``classification`` (gene class of the mean biopsy score).

    Returns
    -------
    AgreementByClustering, and a table with one row per tumour: ``patient``, ``clustering``,
    ``imaging_classification``, ``gene_classification``, ``same_status``.
    """
    imaging = slice_tumours[["patient", "classification"]].rename(columns={"classification": "imaging_classification"})
    genes = biopsy_tumours[["patient", "classification"]].rename(columns={"classification": "gene_classification"})
    table = imaging.merge(genes, on="patient", how="inner").merge(
        virtual_tumours[["patient", "clustering"]], on="patient", how="left")
    table["clustering"] = table["clustering"].fillna("").astype(str)
    table["same_status"] = ((table["imaging_classification"] == MORE_HYPOXIC)
                            == (table["gene_classification"] == MORE_HYPOXIC))
    labels = [True if c == MORE_CLUSTERING else False if c == LESS_CLUSTERING else None for c in table["clustering"]]
    result = agreement_by_clustering(labels, table["same_status"].to_numpy(dtype=bool), conf_level=conf_level)
    return result, table[["patient", "clustering", "imaging_classification", "gene_classification", "same_status"]]
