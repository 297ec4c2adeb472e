"""Heterogeneity over a cohort: slices, biopsies, virtual biopsies, and the ``heterogeneity`` command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from HypoxiaMarkersLib.cli import main
from HypoxiaMarkersLib.errors import InputError
from HypoxiaMarkersLib.heterogeneity.analysis import (
    TumourSlice,
    VarianceSettings,
    biopsy_heterogeneity,
    slice_heterogeneity,
    virtual_biopsy_heterogeneity,
)
from HypoxiaMarkersLib.heterogeneity.inputs import find_image_folders, load_tumour_slice, read_image_result
from HypoxiaMarkersLib.heterogeneity.variance import empirical_logit, variance_components
from HypoxiaMarkersLib.imaging.phantom import hypoxic_pattern
from HypoxiaMarkersLib.io.volumes import write_volume
from HypoxiaMarkersLib.volume import Geometry

NO_CI = VarianceSettings(ci_method="none")


# ------------------------------------------------------------------------------ image folders, as `image` writes


def write_image_folder(root: Path, patient: str, a_brix: np.ndarray, mask: np.ndarray, *, biopsy_slice: int = 1,
                       a_threshold: float = 1.56, hf_cutoff: float = 0.27, spacing=(0.8, 0.8, 5.0)) -> Path:
    """An ``image`` output folder: maps on a [k, j, i] grid (slice 1 = lowest k: identity direction) + tables."""
    folder = root / patient
    folder.mkdir(parents=True)
    geometry = Geometry(size=(mask.shape[2], mask.shape[1], mask.shape[0]), spacing=spacing, origin=(0.0, 0.0, 0.0))
    a_brix = np.where(mask, a_brix, np.nan).astype(np.float32)
    fitted = mask & np.isfinite(a_brix)
    hypoxic = fitted & (np.nan_to_num(a_brix, nan=np.inf) < a_threshold)
    write_volume(a_brix, geometry, folder / "a_brix.nrrd")
    write_volume(mask.astype(np.uint8), geometry, folder / "tumour_mask.nrrd")
    write_volume(hypoxic.astype(np.uint8), geometry, folder / "hypoxic_mask.nrrd")
    rows = []
    for number, k in enumerate(np.flatnonzero(mask.any(axis=(1, 2))), start=1):
        n_fit, n_hyp = int(fitted[k].sum()), int(hypoxic[k].sum())
        hf = n_hyp / n_fit if n_fit else float("nan")
        rows.append({"slice": number, "k_index": int(k), "voxels": int(mask[k].sum()), "fitted": n_fit,
                     "failed": int(mask[k].sum()) - n_fit, "hypoxic": n_hyp,
                     "hypoxic_fraction": "" if n_fit == 0 else f"{hf:.6f}",
                     "classification": "more hypoxic" if hf >= hf_cutoff else "less hypoxic",
                     "is_biopsy_slice": int(number == biopsy_slice)})
    pd.DataFrame(rows).to_csv(folder / "slices.csv", index=False)
    hf = hypoxic.sum() / fitted.sum()
    biopsy = rows[biopsy_slice - 1]
    summary = {
        "hypoxic_fraction": float(hf), "classification": "more hypoxic" if hf >= hf_cutoff else "less hypoxic",
        "n_tumour_voxels": int(mask.sum()), "n_fitted": int(fitted.sum()), "n_failed": int((mask & ~fitted).sum()),
        "n_hypoxic": int(hypoxic.sum()),
        "biopsy_slice": {"slice": biopsy["slice"], "k_index": biopsy["k_index"]},
        "parameters": {"a_threshold": a_threshold, "hf_cutoff": hf_cutoff, "biopsy_slice": biopsy_slice},
    }
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def ellipse_slice(shape, radius_rows, radius_columns):
    j, i = np.mgrid[: shape[0], : shape[1]] - np.array(shape).reshape(2, 1, 1) / 2
    return (j / radius_rows) ** 2 + (i / radius_columns) ** 2 <= 1


def phantom_cohort(root: Path, n_patients: int = 24, seed: int = 0):
    """Patients with 3 tumour slices of different HF; odd patients' hypoxia clustered, even ones' scattered."""
    rng = np.random.default_rng(seed)
    truth = {}
    for p in range(n_patients):
        shape = (5, 64, 64)
        mask = np.zeros(shape, bool)
        radii = rng.uniform(14, 28, 2)
        for k in (1, 2, 3):
            mask[k] = ellipse_slice(shape[1:], radii[0] * (1 - 0.15 * abs(k - 2)), radii[1])
        clustered = p % 2 == 1
        tumour_hf = rng.uniform(0.08, 0.6)
        hypoxic = np.zeros(shape, bool)
        for k in (1, 2, 3):
            hf = float(np.clip(tumour_hf + rng.normal(0, 0.05), 0.02, 0.95))
            hypoxic[k] = hypoxic_pattern(mask[k], hf, 3.5 if clustered else 0.0, rng)
        a_brix = np.where(hypoxic, 1.0, 2.5)
        write_image_folder(root, f"P{p:03d}", a_brix, mask)
        truth[f"P{p:03d}"] = clustered
    return truth


# ------------------------------------------------------------------------------------------------------ slices


def _slice_table():
    # P1: slices 40/100, 10/100, 30/100 (tumour 80/300 = 0.267: less); slice statuses M, L, M -> 1 of 3 same.
    # P2: 50/100, 60/100 (tumour 0.55: more); both more -> 2 of 2.  P3: 5/50 only (0.10: less) -> 1 of 1.
    return pd.DataFrame({
        "patient": ["P1", "P1", "P1", "P2", "P2", "P3"],
        "slice": [1, 2, 3, 1, 2, 1],
        "fitted": [100, 100, 100, 100, 100, 50],
        "hypoxic": [40, 10, 30, 50, 60, 5],
        "is_biopsy_slice": [True, False, False, True, False, True],
    })


def test_slices_by_hand():
    result = slice_heterogeneity(_slice_table(), settings=NO_CI)
    tumours = result.tumours.set_index("patient")
    assert tumours.loc["P1", "hypoxic_fraction"] == pytest.approx(80 / 300)
    assert tumours.loc[["P1", "P2", "P3"], "classification"].tolist() == ["less hypoxic", "more hypoxic",
                                                                          "less hypoxic"]
    assert result.share_same_status == pytest.approx(4 / 6)
    assert tumours["share_same_status"].tolist() == pytest.approx([1 / 3, 1.0, 1.0])
    table = _slice_table()
    expected = variance_components(empirical_logit(table["hypoxic"], table["fitted"]), table["patient"])
    assert result.variance.components.w_over_t == pytest.approx(expected.w_over_t, rel=1e-12)
    assert result.variance.components.n_single_sample_tumours == 1
    # A cutoff given by the user replaces the per-patient one: at 0.5 only P2's slices 1, 2 are "more".
    result = slice_heterogeneity(_slice_table(), hf_cutoff=0.5, settings=NO_CI)
    assert result.share_same_status == pytest.approx(6 / 6)
    assert result.to_dict()["parameters"]["hf_cutoff"] == 0.5


def test_slices_recover_known_variance_components_and_correlation():
    # 80 tumours, 2-6 slices of 400-1500 fitted voxels; slice logit-HF = tumour logit + N(0, 0.3^2),
    # tumour logits N(-1, 1). The empirical logit adds binomial noise ~1/(n p (1-p)) to the within part.
    rng = np.random.default_rng(8)
    rows = []
    binomial_variance = []
    for p in range(80):
        mu = rng.normal(-1.0, 1.0)
        for s in range(rng.integers(2, 7)):
            n = int(rng.integers(400, 1500))
            prob = 1 / (1 + np.exp(-(mu + rng.normal(0, 0.3))))
            rows.append({"patient": f"P{p}", "slice": s + 1, "fitted": n, "hypoxic": rng.binomial(n, prob),
                         "is_biopsy_slice": s == 0})
            binomial_variance.append(1 / (n * prob * (1 - prob)))
    table = pd.DataFrame(rows)
    result = slice_heterogeneity(table, settings=VarianceSettings(n_boot=1000, seed=1))
    within = 0.3**2 + np.mean(binomial_variance)
    truth = within / (within + 1.0)
    interval = result.variance.interval
    assert interval.low[0] < truth < interval.high[0]
    assert result.variance.components.w_over_t == pytest.approx(truth, abs=0.04)
    tumours = result.tumours
    r = stats.pearsonr(tumours["biopsy_slice_hypoxic_fraction"], tumours["hypoxic_fraction"])[0]
    assert result.correlation["pearson_r"] == pytest.approx(r)
    assert result.correlation["n_tumours"] == 80
    assert 0.8 < r < 1.0


def test_slices_without_fit_are_left_out_and_counted():
    table = _slice_table()
    table.loc[len(table)] = ["P3", 2, 0, 0, False]
    table.loc[len(table)] = ["P4", 1, 0, 0, True]
    result = slice_heterogeneity(table, settings=NO_CI)
    assert result.n_slices_without_fit == 2
    assert len(result.slices) == 6
    assert result.to_dict()["tumours_without_fit"] == ["P4"]
    with pytest.raises(InputError, match="more hypoxic than fitted"):
        slice_heterogeneity(table.assign(hypoxic=table["fitted"] + 1), settings=NO_CI)
    with pytest.raises(InputError, match="missing column"):
        slice_heterogeneity(table.drop(columns="fitted"))


# ---------------------------------------------------------------------------------------------------- biopsies


def test_biopsies_by_hand():
    table = pd.DataFrame({
        "tumour": ["A", "A", "A", "B", "B", "C", "D", "D"],
        "value": [0.5, 0.2, -0.1, -0.4, -0.6, 0.3, 0.1, -0.5],
    })
    result = biopsy_heterogeneity(table, cutoff=0.0, settings=NO_CI)
    tumours = result.tumours.set_index("patient")
    # A: mean 0.2 more; calls M, M, L -> disagree, 2/3 with tumour. B: both L agree. C: single. D: mean -0.2 less;
    # calls M, L -> disagree, 1/2 with tumour.
    assert tumours["classification"].tolist() == ["more hypoxic", "less hypoxic", "more hypoxic", "less hypoxic"]
    assert tumours["calls_agree"].tolist() == [False, True, True, False]
    assert tumours["share_agreeing_with_tumour"].tolist() == pytest.approx([2 / 3, 1.0, 1.0, 0.5])
    summary = result.to_dict()
    assert summary["n_tumours_with_several_biopsies"] == 3
    assert summary["share_of_tumours_whose_biopsies_agree"] == pytest.approx(1 / 3)
    assert summary["share_of_biopsies_with_tumour_call"] == pytest.approx((2 + 2 + 1) / 7)
    # By hand: tumour means 0.2, -0.5, 0.3, -0.2 (grand mean -0.0625); SSW = 0.18 + 0.02 + 0 + 0.18 = 0.38 on 4 df,
    # so W = 0.095; SSB = 3(0.2625)² + 2(0.4375)² + (0.3625)² + 2(0.1375)² = 0.75875 on 3 df; n0 = (8 - 18/8)/3;
    # B = (0.75875/3 - 0.095)/n0 = 0.0823913.
    w, b = 0.095, (0.75875 / 3 - 0.095) / ((8 - 18 / 8) / 3)
    assert summary["variance_components"]["W_over_T"] == pytest.approx(w / (w + b), rel=1e-12)
    assert summary["variance_components"]["Wk_over_T"]["3"] == pytest.approx((w / 3) / (w / 3 + b), rel=1e-12)


def test_biopsies_worked_check_from_a_cohort():
    # Simulated biopsy scores with W/T = 1/3: the reported Wk/T follow 0.33 -> 0.20, 0.14, 0.11 (SPEC §3.1).
    rng = np.random.default_rng(3)
    means = rng.normal(0, np.sqrt(2 / 3), 400)
    sizes = rng.integers(2, 5, 400)
    labels = np.repeat(np.arange(400), sizes)
    table = pd.DataFrame({"tumour": labels.astype(str), "value": means[labels] + rng.normal(0, np.sqrt(1 / 3),
                                                                                             labels.size)})
    shares = biopsy_heterogeneity(table, settings=VarianceSettings(n_boot=500)).to_dict()["variance_components"]
    assert [round(shares["Wk_over_T"][k], 2) for k in "1234"] == pytest.approx([0.33, 0.20, 0.14, 0.11], abs=0.03)


# ------------------------------------------------------------------------------------------ virtual biopsies


def test_virtual_biopsies_from_image_folders_label_clustering(tmp_path):
    truth = phantom_cohort(tmp_path / "images", n_patients=24)
    images = [read_image_result(f) for f in find_image_folders([tmp_path / "images"])]
    slices = [load_tumour_slice(image) for image in images]
    assert slices[0].spacing == (0.8, 0.8) and slices[0].slice == 1 and slices[0].k_index == 1
    result = virtual_biopsy_heterogeneity(slices, settings=NO_CI)
    tumours = result.tumours.set_index("patient")
    clustered = pd.Series(truth)
    agreement = np.mean((tumours.loc[clustered.index, "clustering"] == "more clustering") == clustered)
    assert agreement >= 0.9
    # m = floor(n / 12) for every tumour, and the patch table has them all.
    assert (tumours["n_biopsies"] == tumours["n_tumour_voxels"] // 12).all()
    assert len(result.biopsies) == tumours["n_biopsies"].sum()
    # W/T over virtual biopsies: the ANOVA of the patches' empirical logits.
    used = result.biopsies[result.biopsies["used"]]
    expected = variance_components(empirical_logit(used["n_hypoxic"], used["n_valid"]), used["patient"])
    assert result.variance.components.w_over_t == pytest.approx(expected.w_over_t)


def test_virtual_biopsies_do_not_depend_on_cohort_order():
    rng = np.random.default_rng(0)
    slices = []
    for p in range(4):
        mask = ellipse_slice((50, 50), 18, 15)
        slices.append(TumourSlice(f"P{p}", np.where(hypoxic_pattern(mask, 0.3, 2.0, rng), 1.0, 2.5), mask))
    forward = virtual_biopsy_heterogeneity(slices, settings=NO_CI)
    backward = virtual_biopsy_heterogeneity(slices[::-1], settings=NO_CI)
    a = forward.tumours.set_index("patient").sort_index()
    b = backward.tumours.set_index("patient").sort_index()
    assert np.array_equal(a["sd_hypoxic_fraction"], b["sd_hypoxic_fraction"])
    other_seed = virtual_biopsy_heterogeneity(slices, seed=1, settings=NO_CI).tumours.set_index("patient")
    assert not np.array_equal(a["sd_hypoxic_fraction"], other_seed.sort_index()["sd_hypoxic_fraction"])
    assert forward.clustering is None and "too few" in forward.clustering_reason


def test_small_and_failed_slices_are_reported_not_fatal():
    big = ellipse_slice((50, 50), 18, 15)
    tiny = np.zeros((50, 50), bool)
    tiny[10:13, 10:13] = True  # 9 voxels
    one = np.zeros((50, 50), bool)
    one[10:14, 10:15] = True  # 20 voxels: one biopsy, no SD
    slices = [TumourSlice("big", np.where(hypoxic_pattern(big, 0.3, 0, 1), 1.0, 2.5), big),
              TumourSlice("tiny", np.ones((50, 50)), tiny),
              TumourSlice("one", np.ones((50, 50)), one),
              TumourSlice("failed", np.full((50, 50), np.nan), big)]
    result = virtual_biopsy_heterogeneity(slices, settings=NO_CI)
    tumours = result.tumours.set_index("patient")
    assert tumours.loc["tiny", "n_biopsies"] == 0 and "fewer than one 12-voxel" in tumours.loc["tiny", "note"]
    assert tumours.loc["one", "n_biopsies"] == 1 and "SD needs 2 or more" in tumours.loc["one", "note"]
    assert np.isnan(tumours.loc["failed", "slice_hypoxic_fraction"]) and "fitted voxels" in tumours.loc["failed",
                                                                                                          "note"]
    assert tumours.loc["big", "note"] == ""
    summary = result.to_dict()
    assert set(summary["excluded_tumours"]) == {"tiny", "one", "failed"}
    assert "not_computed" in summary["clustering"]


# --------------------------------------------------------------------------------------------------- command


@pytest.mark.slow
def test_command_on_a_cohort(tmp_path, capsys):
    truth = phantom_cohort(tmp_path / "images", n_patients=20, seed=4)
    scores = tmp_path / "scores.csv"
    pd.DataFrame({
        "sample": [f"S{i}" for i in range(9)],
        "patient": ["A", "A", "A", "B", "B", "C", "C", "D", "D"],
        "hypoxia_score": ["0.5", "0.3", "-0.1", "-0.4", "-0.6", "0.3", "", "0.1", "-0.5"],
        "classification": ["more hypoxic", "more hypoxic", "less hypoxic", "less hypoxic", "less hypoxic",
                           "more hypoxic", "not scored", "more hypoxic", "less hypoxic"],
    }).to_csv(scores, index=False)
    out = tmp_path / "out"
    code = main(["heterogeneity", "--images", str(tmp_path / "images"), "--biopsies", str(scores), "--out", str(out),
                 "--n-boot", "200", "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "slices: W/T = " in printed and "biopsies: W/T = " in printed
    results = json.loads((out / "heterogeneity.json").read_text())
    assert results["version"] and results["parameters"]["variance"]["n_boot"] == 200
    assert results["parameters"]["seed"] == 0 and results["parameters"]["virtual_slice"] == "biopsy"
    assert results["slices"]["n_tumours"] == 20 and results["slices"]["n_slices"] == 60
    assert results["biopsies"]["n_biopsies_without_score"] == 1
    assert results["virtual_biopsies"]["parameters"]["a_threshold"] == 1.56
    # What each table holds, counted from the inputs: 20 tumours of 3 slices; the biopsy scores above.
    assert len(pd.read_csv(out / "slices.csv")) == 60 and len(pd.read_csv(out / "slice_tumours.csv")) == 20
    biopsies = pd.read_csv(out / "biopsy_tumours.csv").set_index("patient")
    assert biopsies["n_biopsies"].to_dict() == {"A": 3, "B": 2, "C": 1, "D": 2}
    assert biopsies["n_more_hypoxic"].to_dict() == {"A": 2, "B": 0, "C": 1, "D": 1}
    assert biopsies["classification"].to_dict() == {"A": "more hypoxic", "B": "less hypoxic", "C": "more hypoxic",
                                                    "D": "less hypoxic"}  # means 0.233, -0.5, 0.3, -0.2
    tumours = pd.read_csv(out / "virtual_biopsy_tumours.csv").set_index("patient")
    patches = pd.read_csv(out / "virtual_biopsies.csv").groupby("patient").size()
    assert (patches == tumours["n_tumour_voxels"] // 12).all() and len(patches) == 20  # floor(N / 12) each
    assert (out / "clustering.png").stat().st_size > 10_000
    agreement = np.mean((tumours["clustering"] == "more clustering") == pd.Series(truth)[tumours.index])
    assert agreement >= 0.9
    curves = pd.read_csv(out / "clustering_curves.csv")
    assert {"hypoxic_fraction", "sd_scattered", "sd_clustered", "sd_gam"} <= set(curves.columns)
    ci = results["slices"]["variance_components"]["confidence_interval"]["Wk_over_T"]["1"]
    assert ci[0] <= results["slices"]["variance_components"]["W_over_T"] <= ci[1]

    # The same seed gives the same virtual biopsies; --virtual-slice picks another slice.
    again = tmp_path / "again"
    assert main(["heterogeneity", "--images", str(tmp_path / "images"), "--out", str(again), "--ci", "none",
                 "--quiet", "--no-figure"]) == 0
    assert pd.read_csv(again / "virtual_biopsies.csv").equals(pd.read_csv(out / "virtual_biopsies.csv"))
    assert not (again / "clustering.png").exists()
    largest = tmp_path / "largest"
    assert main(["heterogeneity", "--images", str(tmp_path / "images"), "--out", str(largest), "--ci", "none",
                 "--virtual-slice", "2", "--quiet"]) == 0
    assert (pd.read_csv(largest / "virtual_biopsy_tumours.csv")["slice"] == 2).all()
    assert main(["heterogeneity", "--images", str(tmp_path / "images"), "--out", str(largest), "--ci", "none",
                 "--biopsy-slice", "3", "--quiet"]) == 0
    assert (pd.read_csv(largest / "virtual_biopsy_tumours.csv")["slice"] == 3).all()
    assert (pd.read_csv(largest / "slice_tumours.csv")["biopsy_slice"] == 3).all()
    assert main(["heterogeneity", "--images", str(tmp_path / "images"), "--out", str(largest), "--biopsy-slice",
                 "4", "--quiet"]) == 2
    assert "has no slice 4" in capsys.readouterr().err


def test_command_values_and_clear_failures(tmp_path, capsys):
    values = tmp_path / "values.csv"
    values.write_text("tumour,value\na,1\na,1\nb,1\nb,1\n")
    out = tmp_path / "out"
    assert main(["heterogeneity", "--values", str(values), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "all values are equal" in captured.err
    results = json.loads((out / "heterogeneity.json").read_text())
    assert "all values are equal" in results["values"]["variance_components"]["not_computed"]

    values.write_text("tumour,value\na,1\na,2\nb,5\nb,7\nc,3\n")
    assert main(["heterogeneity", "--values", str(values), "--out", str(out), "--ci", "f"]) == 0
    results = json.loads((out / "heterogeneity.json").read_text())
    assert results["values"]["variance_components"]["n_single_sample_tumours"] == 1
    assert results["values"]["variance_components"]["confidence_interval"]["method"] == "f"
    assert "unreliable below 10 tumours" in results["values"]["variance_components"]["note"]
    assert "unreliable below 10 tumours" in capsys.readouterr().err

    assert main(["heterogeneity", "--out", str(out)]) == 2
    assert "nothing to analyse" in capsys.readouterr().err
    assert main(["heterogeneity", "--values", str(values), "--value-column", "score", "--out", str(out)]) == 2
    assert "no column 'score'" in capsys.readouterr().err
    assert main(["heterogeneity", "--values", str(values), "--ks", "0,1", "--out", str(out)]) == 2
    assert main(["heterogeneity", "--images", str(tmp_path), "--out", str(out)]) == 2
    assert "no image results here" in capsys.readouterr().err

    scores = tmp_path / "scores.csv"
    scores.write_text("patient,hypoxia_score,classification\nA,0.2,more hypoxic\nA,0.1,less hypoxic\n"
                      "B,-0.3,less hypoxic\nB,0.3,more hypoxic\n")
    assert main(["heterogeneity", "--biopsies", str(scores), "--out", str(out)]) == 2
    assert "does not follow score >= 0" in capsys.readouterr().err
    assert main(["heterogeneity", "--biopsies", str(scores), "--gene-cutoff", "0.15", "--out", str(out)]) == 0


def test_command_refuses_inconsistent_image_folders(tmp_path, capsys):
    mask = np.zeros((3, 30, 30), bool)
    mask[1] = ellipse_slice((30, 30), 10, 10)
    folder = write_image_folder(tmp_path / "images", "P1", np.full(mask.shape, 2.0), mask)
    summary = json.loads((folder / "summary.json").read_text())
    summary["n_fitted"] += 1
    (folder / "summary.json").write_text(json.dumps(summary))
    assert main(["heterogeneity", "--images", str(folder), "--out", str(tmp_path / "out")]) == 2
    assert "slices.csv adds up to" in capsys.readouterr().err
    summary["n_fitted"] -= 1
    (folder / "summary.json").write_text(json.dumps(summary))
    pd.read_csv(folder / "slices.csv").drop(columns="hypoxic").to_csv(folder / "slices.csv", index=False)
    assert main(["heterogeneity", "--images", str(folder), "--out", str(tmp_path / "out")]) == 2
    assert "missing column(s) hypoxic" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_one_patient_cohort_gives_clear_results(tmp_path, capsys):
    mask = np.zeros((3, 40, 40), bool)
    mask[1] = ellipse_slice((40, 40), 14, 12)
    mask[2] = ellipse_slice((40, 40), 2, 2)  # 13 voxels... a small top slice
    a_brix = np.where(hypoxic_pattern(mask, 0.3, 0, 2), 1.0, 2.5)
    write_image_folder(tmp_path / "images", "P1", a_brix, mask)
    out = tmp_path / "out"
    assert main(["heterogeneity", "--images", str(tmp_path / "images"), "--out", str(out), "--quiet"]) == 0
    results = json.loads((out / "heterogeneity.json").read_text())
    assert "at least 2" in results["slices"]["variance_components"]["not_computed"]
    assert "not_computed" in results["virtual_biopsies"]["clustering"]
    assert "W/T not computed" in capsys.readouterr().err
