"""The R reference cases shared by the survival and cutoff tests.

``reference/r_reference.json`` holds what R (survival, maxstat) computed on these datasets; it is made by
``Rscript make_reference.R ../../Data/tcga-cesc-clinical/cesc_os.csv`` (run in ``reference/``).
"""

from __future__ import annotations

import json

import pandas as pd

from HypoxiaMarkersLib.stats.survival import censor_at_horizon

from .paths import REFERENCE

R = json.loads((REFERENCE / "r_reference.json").read_text())
CASES = ["rossi_prio", "rossi_age", "lung_age", "lung_karno", "veteran_karno", "gbsg2_pnodes", "gbsg2_age",
         "tcga_age"]


def load_case(case: str, shared_data=None) -> pd.DataFrame:
    """The dataset of a reference case with columns time, event, as R read it."""
    if case.startswith("rossi"):
        d = pd.read_csv(REFERENCE / "rossi.csv").assign(time=lambda f: f.week, event=lambda f: f.arrest)
    elif case.startswith("lung"):
        d = pd.read_csv(REFERENCE / "lung.csv")
        d["event"] = (d.status == 2).astype(int)
        if case == "lung_karno":
            d = d[d["ph.karno"].notna()].reset_index(drop=True)
    elif case.startswith("veteran"):
        d = pd.read_csv(REFERENCE / "veteran.csv").assign(event=lambda f: f.status)
    elif case.startswith("gbsg2"):
        d = pd.read_csv(REFERENCE / "gbsg2.csv").assign(event=lambda f: f.cens)
    else:
        d = pd.read_csv(shared_data / "tcga-cesc-clinical" / "cesc_os.csv")
        d = d.assign(time=d.os_days, event=d.os_event)
    return d


def reference_case(name: str, request):
    """(name, data, R's results, time, event, marker) of a case, censored at the case's horizon."""
    shared = request.getfixturevalue("shared_data") if name.startswith("tcga") else None
    d = load_case(name, shared)
    r = R[name]
    time, event = censor_at_horizon(d.time.to_numpy(float), d.event.to_numpy(int), r["horizon"])
    return name, d, r, time, event, d[r["marker"]].to_numpy(float)
