"""Synthetic cohorts for the survival and cohort commands' tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def synthetic_cohort(seed=7, n=118):
    """A cohort like the paper's: HF, gene score, PFS in months with a planted line and HR, covariates."""
    rng = np.random.default_rng(seed)
    x = rng.beta(1.5, 4.0, n)
    y = rng.normal(0.0, 0.6, n)
    more = (x / 0.45 + y / 0.9 - 1.0) >= 0
    rate = np.where(more, 0.03, 0.006)
    event_time = rng.exponential(1.0 / rate)
    censor = rng.uniform(20.0, 100.0, n)
    return pd.DataFrame({
        "patient": [f"P{i:03d}" for i in range(n)],
        "pfs_months": np.minimum(event_time, censor).round(2),
        "pfs_event": (event_time <= censor).astype(int),
        "hf": x.round(4), "gene_score": y.round(4),
        "figo": rng.choice(["IB", "IIB", "IIIB"], n), "volume": rng.lognormal(3.0, 0.7, n).round(1),
    })
