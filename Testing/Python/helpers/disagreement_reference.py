"""R's values for the issue-12 analyses (``reference/disagreement/disagreement.json``, made by ``disagreement.R``)
and the two cohort tables they were computed on."""

from __future__ import annotations

import json

import pandas as pd

from .paths import REFERENCE

FOLDER = REFERENCE / "disagreement"
R = json.loads((FOLDER / "disagreement.json").read_text())
SMALL_TABLE = FOLDER / "small_cohort.csv"
DEMO_TABLE = FOLDER / "demo_cohort_table.csv"


def small() -> pd.DataFrame:
    table = pd.read_csv(SMALL_TABLE, keep_default_na=False)
    return table


def classes(table: pd.DataFrame, hf_cutoff: float = 0.27, gene_cutoff: float = 0.0):
    """Imaging and gene classes (True = more hypoxic) and groups 1-4, computed here independently of the library."""
    imaging_high = (table["hypoxic_fraction"] >= hf_cutoff).to_numpy()
    genes_high = (table["gene_score"] >= gene_cutoff).to_numpy()
    group = [1 if i and g else 2 if g else 4 if i else 3 for i, g in zip(imaging_high, genes_high)]
    return imaging_high, genes_high, pd.Series(group).to_numpy()
