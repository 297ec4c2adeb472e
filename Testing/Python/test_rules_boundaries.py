"""The method's rules at their boundaries, in every place they decide something.

Each test puts a value exactly on a threshold or cutoff (A_Brix = 1.56, HF = 0.27, gene score = 0) and checks the
side it falls on against the method's definition (SPEC §1.3-1.4, §2, §3; Fjeldbo et al. 2020): A_Brix *below* the
threshold is hypoxic, a fraction or score *at or above* its cutoff is "more hypoxic". Written so that flipping
``<`` to ``<=`` or ``>=`` to ``>`` anywhere these rules are applied fails a test here (see the mutation record in
the closing note of branch i11b). Expected values are counted by hand from the inputs, not recomputed with the
library.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from HypoxiaMarkersLib import rules
from HypoxiaMarkersLib.errors import InputError
from HypoxiaMarkersLib.genes.scoring import expression_from_frame, load_signature, score_patients, score_samples
from HypoxiaMarkersLib.heterogeneity.analysis import (
    TumourSlice,
    biopsy_heterogeneity,
    slice_heterogeneity,
    virtual_biopsy_heterogeneity,
)
from HypoxiaMarkersLib.heterogeneity.inputs import read_biopsy_scores
from HypoxiaMarkersLib.heterogeneity.virtual_biopsy import virtual_biopsies
from HypoxiaMarkersLib.imaging.hypoxia import classify, hypoxic_voxels, slice_fractions
from HypoxiaMarkersLib.stats.cohort import analyse_marker
from HypoxiaMarkersLib.stats.composite import cox_log_hr
from HypoxiaMarkersLib.stats.cutoff import fixed_cutoff
from HypoxiaMarkersLib.stats.survival import newton_efron
from HypoxiaMarkersLib.volume import Geometry

from helpers.paths import REFERENCE

A, HF, ZERO = rules.A_THRESHOLD, rules.HF_CUTOFF, rules.GENE_SCORE_CUTOFF
MORE, LESS = "more hypoxic", "less hypoxic"


# ----------------------------------------------------------------------------------------------------- rules.py


def test_the_method_constants():
    # SPEC §1.3, §1.4, §2, §3.2, §4: the published values, written here once more on purpose.
    assert (A, HF, ZERO, rules.HORIZON_MONTHS, rules.PATCH_SIZE) == (1.56, 0.27, 0.0, 60.0, 12)
    assert (rules.MORE_HYPOXIC, rules.LESS_HYPOXIC) == (MORE, LESS)


def test_at_or_above_at_the_cutoff():
    values = np.array([0.26, 0.27, 0.28, np.nan])
    assert rules.at_or_above(values, HF).tolist() == [False, True, True, False]
    assert rules.at_or_above([-1e-9, 0.0, 1e-9], ZERO).tolist() == [False, True, True]
    # one cutoff per value
    assert rules.at_or_above([0.3, 0.3], [0.3, 0.31]).tolist() == [True, False]


def test_float_noise_does_not_flip_a_call():
    # The bug fixed on this branch: a centred score of -7.6e-17 (0 by hand) was "less hypoxic".
    assert rules.at_or_above(-7.6e-17, 0.0)
    assert rules.hypoxia_class(0.1 + 0.2 - 0.3 - 5.551115123125783e-17 * 2, 0.0) == MORE
    assert rules.at_or_above(0.27 - 1e-16, 0.27)
    assert not rules.at_or_above(0.27 - 1e-9, 0.27)  # a real difference still counts


def test_hypoxic_voxels_at_the_threshold():
    a = np.array([1.55, 1.56, 1.57, np.nan, 1.56 - 1e-15, 0.0])
    assert rules.hypoxic_voxels(a).tolist() == [True, False, False, False, False, True]
    assert rules.hypoxic_voxels(np.array([2.0, 2.5]), 2.5).tolist() == [True, False]


def test_hypoxia_class_and_classes():
    assert rules.hypoxia_class(0.27, HF) == MORE and rules.hypoxia_class(0.2699, HF) == LESS
    assert rules.hypoxia_classes([0.0, -0.001], ZERO).tolist() == [MORE, LESS]


# ---------------------------------------------------------------------------------------------------- imaging


def test_imaging_classify_and_hypoxic_voxels_at_the_boundary():
    assert classify(0.27, 0.27) == MORE and classify(0.2699, 0.27) == LESS
    assert classify(float("nan"), 0.27) == "not available"
    a = np.array([1.0, 1.56, 2.0, 1.0])
    fitted = np.array([True, True, True, False])
    assert hypoxic_voxels(a, fitted, 1.56).tolist() == [True, False, False, False]


def test_slice_fraction_exactly_at_the_cutoff():
    # Two slices of 4 fitted voxels: 1 hypoxic (HF 0.25) and 2 hypoxic (HF 0.5); cutoff 0.25.
    mask = np.zeros((2, 2, 2), dtype=bool)
    mask[:] = True
    hypoxic = np.zeros_like(mask)
    hypoxic[0, 0, 0] = True
    hypoxic[1, 0, :] = True
    geometry = Geometry(size=(2, 2, 2), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    slices = slice_fractions(mask, mask, hypoxic, geometry, hf_cutoff=0.25)
    assert [(s.hypoxic_fraction, s.classification) for s in slices] == [(0.25, MORE), (0.5, MORE)]
    slices = slice_fractions(mask, mask, hypoxic, geometry, hf_cutoff=0.26)
    assert [s.classification for s in slices] == [LESS, MORE]


# ---------------------------------------------------------------------------------------------- heterogeneity


def test_virtual_biopsies_count_a_voxel_at_the_threshold_as_not_hypoxic():
    # A 4x6 tumour slice: 12 voxels at exactly 1.56 (not hypoxic), 12 at 1.0 (hypoxic).
    a = np.full((4, 6), A)
    a[2:, :] = 1.0
    result = virtual_biopsies(a, np.ones((4, 6), dtype=bool), a_threshold=A, seed=0)
    assert result.n_hypoxic_voxels == 12 and result.n_valid_voxels == 24
    assert result.slice_hypoxic_fraction == 0.5


def test_virtual_biopsy_heterogeneity_of_a_slice_too_small_for_a_biopsy():
    # 8 tumour voxels (< 12: no biopsy): the slice HF is still reported, from voxels strictly below threshold.
    a = np.array([[1.0, 1.0, A, A], [A, 2.0, 2.0, 2.0]])
    item = TumourSlice(patient="P1", a_brix=a, tumour_mask=np.ones_like(a, dtype=bool), a_threshold=A)
    result = virtual_biopsy_heterogeneity([item])
    row = result.tumours.iloc[0]
    assert row["n_biopsies"] == 0 and row["slice_hypoxic_fraction"] == pytest.approx(2 / 8)


def _slices(hypoxic_counts, fitted=100):
    rows = []
    for patient, counts in hypoxic_counts.items():
        for number, hypoxic in enumerate(counts, start=1):
            rows.append({"patient": patient, "slice": number, "fitted": fitted, "hypoxic": hypoxic,
                         "is_biopsy_slice": number == 1})
    return pd.DataFrame(rows)


def test_slice_heterogeneity_classes_at_the_cutoff():
    # Patient A: slices 27/100 (= 0.27, more) and 26/100 (less); whole tumour 53/200 = 0.265 (less).
    # Patient B: slices 27/100 and 28/100; whole tumour 0.275 (more). Patient C: 28 and 26, whole tumour 0.27.
    result = slice_heterogeneity(_slices({"A": [27, 26], "B": [27, 28], "C": [28, 26]}), hf_cutoff=0.27)
    tumours = result.tumours.set_index("patient")
    assert tumours["classification"].to_dict() == {"A": LESS, "B": MORE, "C": MORE}
    slices = result.slices
    assert slices["classification"].tolist() == [MORE, LESS, MORE, MORE, MORE, LESS]


def test_biopsy_heterogeneity_calls_a_score_of_zero_more_hypoxic():
    table = pd.DataFrame({"tumour": ["A", "A", "B", "B", "C", "C"], "value": [0.0, 0.5, -0.5, 0.0, -0.5, 0.5]})
    result = biopsy_heterogeneity(table, cutoff=0.0)
    tumours = result.tumours.set_index("patient")
    # A: both biopsies at or above 0 -> all 2 more hypoxic, calls agree; B: one of two, mean -0.25 -> less;
    # C: one of two, mean exactly 0 -> more.
    assert tumours.loc["A", "n_more_hypoxic"] == 2 and bool(tumours.loc["A", "calls_agree"])
    assert tumours.loc["B", "n_more_hypoxic"] == 1 and tumours.loc["C", "n_more_hypoxic"] == 1
    assert tumours["classification"].to_dict() == {"A": MORE, "B": LESS, "C": MORE}


def test_biopsy_scores_with_calls_at_the_cutoff_are_consistent(tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text("sample,patient,hypoxia_score,classification\n"
                    "s1,A,0,more hypoxic\ns2,A,-0.5,less hypoxic\ns3,B,0.25,more hypoxic\n")
    table = read_biopsy_scores(path, cutoff=0.0)
    assert table["value"].tolist() == [0.0, -0.5, 0.25]
    # A cutoff that puts the 0 on the other side than its label is refused.
    with pytest.raises(InputError, match="does not follow"):
        read_biopsy_scores(path, cutoff=0.1)


# ------------------------------------------------------------------------------------------------------ genes


def test_gene_score_of_exactly_zero_and_of_float_noise_is_more_hypoxic():
    signature = load_signature()
    genes = list(signature.symbols)
    reference = [8.0, 10.3, 11.1, 5.7, 10.9, 7.8]
    # S1: differences -0, -0.7, +0.4, -0.4, +0.7, 0 sum to 0 by hand; in floating point the mean is -3e-16.
    # S2: every gene at its reference: exactly 0. S3: all 0.1 below: -0.1.
    frame = pd.DataFrame({"S1": [8.0, 9.6, 11.5, 5.3, 11.6, 7.8], "S2": reference,
                          "S3": [r - 0.1 for r in reference]}, index=genes)
    scores = score_samples(expression_from_frame(frame), signature, reference=dict(zip(genes, reference)))
    table = scores.table
    assert abs(table.loc["S1", "hypoxia_score"]) < 1e-15 and table.loc["S2", "hypoxia_score"] == 0.0
    assert table["classification"].tolist() == [MORE, MORE, LESS]
    assert signature.classify(0.0) == MORE and signature.classify(-1e-9) == LESS
    # Patients: P1 = mean of S2 (0) and S3 (-0.1) is less; P2 = S2 alone is more; S1 and S2 agree for P3.
    patients = score_patients(scores, pd.Series({"S1": "P3", "S2": "P2", "S3": "P1"}))
    calls = dict(zip(patients["patient"], patients["classification"]))
    assert calls == {"P3": MORE, "P2": MORE, "P1": LESS}


# ------------------------------------------------------------------------------------------------------ stats


def _survival(n=10):
    time = np.arange(1.0, n + 1)
    event = np.array([1, 0, 1, 1, 0, 1, 1, 0, 1, 1])[:n]
    return time, event


def test_fixed_cutoff_puts_a_marker_equal_to_the_cutoff_in_the_high_group():
    time, event = _survival()
    marker = np.array([0.1, 0.2, 0.27, 0.27, 0.3, 0.1, 0.5, 0.26, 0.4, 0.2])
    result = fixed_cutoff(time, event, marker, 0.27)
    assert (result.n_high, result.n_low) == (5, 5)  # 0.27, 0.27, 0.3, 0.5, 0.4


def test_analyse_marker_dichotomises_at_or_above_the_cutoff():
    time, event = _survival()
    marker = np.array([0.0, -0.2, 0.0, 0.3, -0.1, 0.0, -0.4, 0.2, -0.3, 0.1])
    result = analyse_marker(time, event, marker, cutoff=0.0, name="genes")
    assert result.high.tolist() == [True, False, True, True, False, True, False, True, False, True]


def test_newton_halves_a_step_that_overshoots_and_reaches_r():
    # A covariate with one outlier: the full Newton step from 0 lowers the likelihood (R: newton_halving.R).
    ref = json.loads((REFERENCE / "newton_halving.json").read_text())
    time = np.asarray(ref["time"], dtype=float)
    event = np.asarray(ref["event"], dtype=int)
    x = np.asarray(ref["x"], dtype=float)
    beta, _, loglik = newton_efron(time, event, x.reshape(-1, 1), np.zeros(1), max_steps=30)
    assert beta[0] == pytest.approx(ref["coef"], rel=1e-9)
    assert loglik == pytest.approx(ref["loglik"], rel=1e-12)
    assert cox_log_hr(time, event, x) == pytest.approx(ref["coef"], rel=1e-9)
    # The first step alone: the full Newton step (beta = 0.0176) would lower the likelihood below R's value at
    # beta = 0; the halved step (0.0088) raises it.
    first, _, loglik_first = newton_efron(time, event, x.reshape(-1, 1), np.zeros(1), max_steps=1)
    assert loglik_first > ref["loglik_null"] and 0.0 < first[0] < 0.0176
