"""One sample scored against a saved reference whose probe for a gene is null in that sample (issue 15, item 2).

The reference is saved from a cohort scored at probe level (two STC2 probes; the one with the highest mean is
stored). A one-sample file then has ``<stored STC2 probe>,null`` and a value for the other STC2 probe. The stored
reference fixes the probe of each gene: STC2 is a missing value for this sample, never the other probe centred on
the stored probe's median. Expected values are computed by hand with the standard library (csv, statistics).
"""

from __future__ import annotations

import csv
import math
import statistics

import numpy as np
import pytest

from HypoxiaMarkersLib.genes.scoring import (
    load_signature,
    read_expression,
    save_signature,
    score_samples,
    signature_with_reference,
)

PROBES = {  # probe -> (symbol as on the array, typical log2 level)
    "ILMN_1666006": ("DDIT3", 8.9), "ILMN_1666007": ("ERO1L", 9.6), "ILMN_1666008": ("KCTD11", 8.1),
    "ILMN_1666009": ("P4HA2", 10.2), "ILMN_1691006": ("STC2", 7.9), "ILMN_1692133": ("STC2", 6.4),
    "ILMN_1666010": ("UPK1A", 5.1), "ILMN_1666011": ("GAPDH", 13.0),
}
STORED_STC2, OTHER_STC2 = "ILMN_1691006", "ILMN_1692133"


@pytest.fixture()
def saved(tmp_path):
    rng = np.random.default_rng(2024)
    samples = [f"GSM{i}" for i in range(100, 112)]
    cohort = tmp_path / "cohort.csv"
    with open(cohort, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ID_REF"] + samples)
        for probe, (_, level) in PROBES.items():
            writer.writerow([probe] + [f"{level + v:.4f}" for v in rng.normal(0, 0.7, len(samples))])
    platform = tmp_path / "platform.csv"
    with open(platform, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Probe_Id", "Symbol"])
        writer.writerows([probe, symbol] for probe, (symbol, _) in PROBES.items())
    scores = score_samples(read_expression(cohort, probe_map=platform))
    reference = save_signature(signature_with_reference(load_signature(), scores), tmp_path / "reference.json")
    # The cohort's values by hand (as written in the file), for the hand computation.
    with open(cohort, newline="") as handle:
        rows = {row[0]: [float(v) for v in row[1:]] for row in list(csv.reader(handle))[1:]}
    return cohort, platform, reference, rows


def _one_sample(path, values):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ID_REF", "GSM999"])
        writer.writerows([probe, value] for probe, value in values.items())
    return path


def test_the_stored_probe_is_the_highest_mean_one(saved):
    _, _, reference, rows = saved
    assert statistics.fmean(rows[STORED_STC2]) > statistics.fmean(rows[OTHER_STC2])
    assert load_signature(reference).gene("STC2").reference_probes == (STORED_STC2,)


def test_null_in_the_stored_probe_is_a_missing_gene_never_another_probe(saved, tmp_path):
    _, platform, reference, rows = saved
    sample = {"ILMN_1666006": "9.81", "ILMN_1666007": "10.12", "ILMN_1666008": "8.95", "ILMN_1666009": "11.03",
              STORED_STC2: "null", OTHER_STC2: "7.35", "ILMN_1666010": "5.62", "ILMN_1666011": "13.2"}
    path = _one_sample(tmp_path / "one.csv", sample)
    data = read_expression(path, probe_map=platform)  # no "empty row" error: a null is a missing value
    assert math.isnan(data.values.loc[STORED_STC2, "GSM999"])

    # By hand: five genes present, each centred on the cohort median of its probe, averaged.
    five = ["ILMN_1666006", "ILMN_1666007", "ILMN_1666008", "ILMN_1666009", "ILMN_1666010"]
    expected = math.fsum(float(sample[p]) - statistics.median(rows[p]) for p in five) / 5
    # What the old code gave: the other STC2 probe centred on the stored probe's median, six genes.
    substituted = (math.fsum(float(sample[p]) - statistics.median(rows[p]) for p in five)
                   + float(sample[OTHER_STC2]) - statistics.median(rows[STORED_STC2])) / 6
    assert abs(expected - substituted) > 0.05

    signature = load_signature(reference)
    scored = score_samples(data, signature, allow_missing=True)
    row = scored.table.loc["GSM999"]
    assert row["hypoxia_score"] == pytest.approx(expected, abs=1e-9)
    assert row["n_genes"] == 5 and scored.probes["STC2"] == [STORED_STC2]
    assert math.isnan(row["expression_STC2"])

    unscored = score_samples(data, signature)
    assert math.isnan(unscored.table.loc["GSM999", "hypoxia_score"])
    assert unscored.table.loc["GSM999", "classification"] == ""
    assert any("GSM999 (STC2)" in w and "--allow-missing" in w for w in unscored.warnings)


def test_a_score_that_is_zero_by_hand_is_at_the_cutoff():
    """Issue 15, item 6: centred values that sum to exactly 0 by hand (decimal arithmetic) give a float score of
    -3e-16; the call must be the one for 0 (at the cutoff: "more hypoxic")."""
    from fractions import Fraction

    import pandas as pd

    from HypoxiaMarkersLib.genes.expression import expression_from_frame

    genes = ["DDIT3", "ERO1A", "KCTD11", "P4HA2", "STC2", "UPK1A"]
    reference = [8.23, 6.98, 9.73, 6.82, 7.72, 5.8]
    sample = [8.04, 6.39, 9.25, 7.32, 7.28, 7.0]
    assert sum(Fraction(str(x)) - Fraction(str(r)) for x, r in zip(sample, reference)) == 0
    frame = pd.DataFrame({"S": sample, "other": reference}, index=genes)
    scores = score_samples(expression_from_frame(frame), reference=dict(zip(genes, reference)))
    assert scores.table.loc["S", "hypoxia_score"] < 0  # floating-point noise, -2.96e-16
    assert scores.table.loc["S", "classification"] == "more hypoxic"
