"""The per-tumour pictures' data, checked against independent computations on small hand-made inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from HypoxiaMarkersLib.io.volumes import write_volume
from HypoxiaMarkersLib.report.tumour_figures import (
    NOT_GROUPED,
    biopsy_scores,
    biopsy_slice_map,
    clustering_extremes,
    most_heterogeneous,
    plot_binary_maps,
    plot_slice_classification,
    slice_classification,
)
from HypoxiaMarkersLib.volume import Geometry

CUTOFF = 0.3


def hand_made_slices():
    """Five tumours with 2 to 5 slices; slice HFs written out by hand, one slice without a fit (NaN)."""
    hf = {"A": [0.1, 0.5, 0.3], "B": [0.9, 0.8], "C": [0.0, 0.29, 0.31, 0.6, np.nan], "D": [0.2, 0.2, 0.2],
          "E": [0.7, 0.1, 0.4, 0.05]}
    rows = [{"patient": p, "slice": s + 1, "hypoxic_fraction": v, "is_biopsy_slice": s == 1}
            for p, values in hf.items() for s, v in enumerate(values)]
    tumours = pd.DataFrame({"patient": list("ABCDE"), "hypoxic_fraction": [0.35, 0.85, 0.3, 0.2, 0.25]})
    return pd.DataFrame(rows), tumours, hf


def test_slice_classification_is_slice_hf_at_or_above_the_cutoff_by_group_and_tumour_hf():
    slices, tumours, hf = hand_made_slices()
    groups = {"A": 1, "B": 1, "C": 4, "D": 3}  # E is not in the cohort statistics
    data = slice_classification(slices, tumours, CUTOFF, groups)
    # Group 1 (A 0.35 before B 0.85), group 3 (D), group 4 (C), then E.
    assert data.patients == ["A", "B", "D", "C", "E"]
    assert data.groups == ["1", "1", "3", "4", NOT_GROUPED]
    np.testing.assert_array_equal(data.tumour_hf, [0.35, 0.85, 0.2, 0.3, 0.25])
    assert data.matrix.shape == (5, 5)
    for column, patient in enumerate(data.patients):
        values = np.asarray(hf[patient] + [np.nan] * (5 - len(hf[patient])))
        expected = np.where(np.isnan(values), np.nan, (values >= CUTOFF).astype(float))
        np.testing.assert_array_equal(data.matrix[:, column], expected)  # row 0 = slice 1 (caudal)
    assert data.matrix[1, 0] == 1.0 and data.matrix[1, 3] == 0.0  # 0.5 ≥ 0.3; 0.29 < 0.3


def test_slice_classification_from_the_per_slice_csvs_of_a_batch(tmp_path):
    # The report's slice table is hypoxic / fitted of each patients/<id>/slices.csv: recompute from the CSV text.
    slices, tumours, _ = hand_made_slices()
    fitted = np.full(len(slices), 200)
    hypoxic = np.round(np.nan_to_num(slices["hypoxic_fraction"].to_numpy()) * 200).astype(int)
    csv = tmp_path / "slices.csv"
    pd.DataFrame({"patient": slices["patient"], "slice": slices["slice"], "fitted": fitted,
                  "hypoxic": hypoxic}).to_csv(csv, index=False)
    read = pd.read_csv(csv)
    read["hypoxic_fraction"] = read["hypoxic"] / read["fitted"]
    data = slice_classification(read, tumours, CUTOFF)
    expected = np.full((5, 5), np.nan)
    for p, s, h, f in zip(read["patient"], read["slice"], read["hypoxic"], read["fitted"]):
        expected[s - 1, data.patients.index(p)] = float(h / f >= CUTOFF)
    np.testing.assert_array_equal(data.matrix, expected)
    # Without groups: one block ordered by whole-tumour HF.
    assert data.patients == ["D", "E", "C", "A", "B"]


def test_most_heterogeneous_tumours_have_the_largest_sd_of_slice_hf(tmp_path):
    slices, tumours, hf = hand_made_slices()
    sd = {p: np.std([v for v in values if np.isfinite(v)]) for p, values in hf.items()
          if np.isfinite(values).sum() >= 3}  # B has only 2 slices
    expected = sorted(sd, key=lambda p: (-sd[p], p))[:2]
    assert most_heterogeneous(slices, count=2) == expected == ["E", "C"]
    assert "B" not in most_heterogeneous(slices, count=5)
    data = slice_classification(slices, tumours, CUTOFF)
    plot_slice_classification(data, tmp_path / "classes.png", hf_cutoff=CUTOFF)
    assert (tmp_path / "classes.svg").is_file()


def test_biopsy_scores_keep_tumours_with_several_biopsies_ordered_by_mean():
    scores = pd.DataFrame({"sample": ["a1", "a2", "b1", "c1", "c2", "c3", "d1", "d2"],
                           "patient": ["A", "A", "B", "C", "C", "C", "D", "D"],
                           "hypoxia_score": [0.5, -0.1, 2.0, -1.0, -0.5, 0.9, np.nan, 0.3]})
    table = biopsy_scores(scores)
    # B has one biopsy, D one with a score: left out. Means: A 0.2, C -0.2 → C first.
    assert table["patient"].tolist() == ["C", "C", "C", "A", "A"]
    assert table["sample"].tolist() == ["c1", "c2", "c3", "a1", "a2"]
    np.testing.assert_allclose(table["hypoxia_score"], [-1.0, -0.5, 0.9, 0.5, -0.1])
    np.testing.assert_allclose(table["mean_score"], [-0.2] * 3 + [0.2] * 2)


def test_clustering_extremes_are_the_largest_and_smallest_residuals():
    tumours = pd.DataFrame({"patient": list("ABCDEFG"),
                            "residual": [0.05, -0.02, 0.11, np.nan, -0.09, 0.0, -0.03]})
    assert clustering_extremes(tumours, 2) == (["C", "A"], ["E", "G"])
    assert clustering_extremes(tumours.head(3), 2) == (["C", "A"], ["B"])


def test_the_biopsy_slice_map_is_the_slice_of_the_masks_over_t2w(tmp_path):
    rng = np.random.default_rng(4)
    geometry = Geometry(size=(20, 16, 3), spacing=(0.8, 0.8, 4.0), origin=(0.0, 0.0, 0.0))
    tumour = np.zeros(geometry.shape, dtype=np.uint8)
    tumour[:, 5:11, 6:14] = 1
    hypoxic = (rng.uniform(size=geometry.shape) < 0.4).astype(np.uint8) * tumour
    t2w = rng.normal(100, 10, geometry.shape).astype(np.float32)
    write_volume(tumour, geometry, tmp_path / "tumour_mask.nrrd")
    write_volume(hypoxic, geometry, tmp_path / "hypoxic_mask.nrrd")
    write_volume(t2w, geometry, tmp_path / "t2w.nrrd")
    m = biopsy_slice_map(tmp_path, "P1", 1, margin=2)
    crop = (1, slice(3, 13), slice(4, 16))
    np.testing.assert_array_equal(m.tumour, tumour[crop] > 0)
    np.testing.assert_array_equal(m.hypoxic, hypoxic[crop] > 0)
    np.testing.assert_allclose(m.background, t2w[crop])
    assert m.background_name == "t2w.nrrd" and m.spacing_ij == (0.8, 0.8)
    assert m.hypoxic_fraction == pytest.approx(hypoxic[1][tumour[1] > 0].mean())
    (tmp_path / "t2w.nrrd").unlink()
    bare = biopsy_slice_map(tmp_path, "P1", 1)
    assert bare.background is None and bare.background_name == ""
    plot_binary_maps([m], [bare], tmp_path / "maps.png")
    assert (tmp_path / "maps.svg").is_file()
