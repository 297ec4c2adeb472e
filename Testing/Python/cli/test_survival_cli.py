"""The ``survival`` and ``cohort`` commands end to end: outputs, agreement with R, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from HypoxiaMarkersLib import __version__
from HypoxiaMarkersLib.cli import main
from HypoxiaMarkersLib.errors import InputError
from HypoxiaMarkersLib.stats.cohort import analyse_cohort, analyse_marker
from HypoxiaMarkersLib.stats.composite import hscomp

from helpers.cohorts import synthetic_cohort
from helpers.paths import REFERENCE

R = json.loads((REFERENCE / "r_reference.json").read_text())


def run_cli(args):
    return main([str(a) for a in args])


@pytest.mark.slow
def test_survival_command_on_tcga_matches_r(shared_data, tmp_path):
    table = shared_data / "tcga-cesc-clinical" / "cesc_os.csv"
    r = R["tcga_age"]
    out = tmp_path / "optimal"
    assert run_cli(["survival", table, "--time", "os_days", "--event", "os_event", "--marker", "age",
                    "--time-unit", "days", "--horizon", "60", "--permutations", "200", "--seed", "1",
                    "--covariates", "stage", "--out", out, "--quiet"]) == 0
    result = json.loads((out / "results.json").read_text())
    assert result["version"] == __version__
    assert result["parameters"]["horizon_in_time_unit"] == pytest.approx(1826.25)
    assert result["n"] == r["n"] and result["events"] == r["events"]
    cox = result["cox_continuous"]
    assert cox["hr"] == pytest.approx(r["cox_continuous"]["hr"][0], rel=1e-6)
    assert cox["ci_low"] == pytest.approx(r["cox_continuous"]["ci_low"][0], rel=1e-6)
    assert cox["p"] == pytest.approx(r["cox_continuous"]["p"][0], rel=1e-6)
    cutoff = result["cutoff"]
    assert cutoff["method"] == "maxstat"
    assert cutoff["maxstat_estimate"] == r["maxstat"]["estimate"]
    assert cutoff["statistic"] == pytest.approx(r["maxstat"]["statistic"], rel=1e-10)
    assert cutoff["p_lausen_schumacher_1992"] == pytest.approx(r["maxstat"]["p_lau92"], rel=1e-8)
    assert cutoff["p_lausen_schumacher_1994"] == pytest.approx(r["maxstat"]["p_lau94"], rel=1e-8)
    # The permutation p, (1 + count) / (B + 1) with B = 200, estimates the selection-adjusted p that R's
    # Lausen-Schumacher 1994 bound approximates: within 4 Monte-Carlo standard errors of it.
    p_perm, p_lau94 = cutoff["p_permutation"], r["maxstat"]["p_lau94"]
    assert cutoff["permutations"] == 200 and abs(p_perm * 201 - round(p_perm * 201)) < 1e-9
    assert abs(p_perm - p_lau94) < 4 * np.sqrt(p_lau94 * (1 - p_lau94) / 200)
    names = [c["name"] for c in result["cox_multivariate"]["coefficients"]]
    assert names == ["age", "stage[II]", "stage[III]", "stage[IV]"]
    assert (out / "km.png").stat().st_size > 10_000
    km = pd.read_csv(out / "km.csv")
    assert set(km["group"]) == {"high", "low"}

    fixed = tmp_path / "fixed"
    assert run_cli(["survival", table, "--time", "os_days", "--event", "os_event", "--marker", "age",
                    "--cutoff", "50", "--time-unit", "days", "--out", fixed, "--quiet"]) == 0
    result = json.loads((fixed / "results.json").read_text())
    assert result["cutoff"]["method"] == "fixed" and result["cutoff"]["value"] == 50
    assert result["cutoff"]["p_lausen_schumacher_1992"] is None
    assert result["cox_dichotomous"]["hr"] == pytest.approx(r["cox_dichotomous"]["hr"][0], rel=1e-6)
    assert result["logrank"]["chi2"] == pytest.approx(r["logrank"]["chi2"], rel=1e-8)
    at = result["survival_at_horizon"]
    assert at["low"]["survival"] == pytest.approx(r["at_horizon"]["surv"][0], rel=1e-10)
    assert at["high"]["survival"] == pytest.approx(r["at_horizon"]["surv"][1], rel=1e-10)
    assert at["high"]["ci_low"] == pytest.approx(r["at_horizon"]["lower"][1], rel=1e-8)


@pytest.mark.slow
def test_cohort_command_writes_the_whole_analysis(tmp_path):
    table = synthetic_cohort()
    table.loc[3, "hf"] = np.nan  # excluded, and said so
    path = tmp_path / "cohort.csv"
    table.to_csv(path, index=False)
    out = tmp_path / "out"
    assert run_cli(["cohort", path, "--id", "patient", "--time", "pfs_months", "--event", "pfs_event",
                    "--imaging", "hf", "--genes", "gene_score", "--covariates", "figo,volume",
                    "--permutations", "99", "--resamples", "20", "--directions", "45", "--out", out,
                    "--quiet"]) == 0
    result = json.loads((out / "results.json").read_text())
    assert result["version"] == __version__
    assert result["parameters"]["imaging_cutoff"] == 0.27 and result["parameters"]["gene_cutoff"] == 0.0
    assert result["excluded"] == {"n": 1, "ids": ["P003"]}
    keys = {"n", "events", "cox_continuous", "cutoff", "cox_dichotomous", "logrank", "survival_at_horizon"}
    for marker in ("imaging", "genes", "both", "composite"):
        assert keys <= set(result[marker]), marker
        assert {"hr", "ci_low", "ci_high", "p"} <= set(result[marker]["cox_continuous"])
        assert {"value", "method", "statistic", "p_unadjusted", "p_lausen_schumacher_1992",
                "p_lausen_schumacher_1994", "p_permutation"} <= set(result[marker]["cutoff"])
        assert {"chi2", "p"} <= set(result[marker]["logrank"])
        assert result[marker]["n"] == 117
    line = result["line"]
    assert line["x0"] > 0 and line["y0"] > 0 and 0 < line["p_permutation"] <= 0.05
    assert result["composite"]["optimism"]["corrected_hr"] < result["composite"]["optimism"]["apparent_hr"]
    patients = pd.read_csv(out / "patients.csv")
    assert len(patients) == 118 and not patients.loc[patients.id == "P003", "included"].item()
    inc = patients[patients.included]
    # Per-patient calls are consistent with the cutoffs, the line and the groups.
    assert (inc.imaging_high == (inc.imaging >= 0.27)).all()
    assert (inc.genes_high == (inc.genes >= 0)).all()
    np.testing.assert_allclose(inc.hscomp, hscomp(inc.imaging, inc.genes, line["x0"], line["y0"]), rtol=1e-12)
    assert (inc.composite_high == (inc.hscomp >= 0)).all()
    im = inc.imaging_high.to_numpy(bool)
    ge = inc.genes_high.to_numpy(bool)
    expected_group = np.select([im & ge, ge, im], [1, 2, 4], 3)
    assert (inc.group == expected_group).all()
    groups = result["groups"]
    assert [g["n"] for g in groups["groups"]] == [int((inc.group == g).sum()) for g in (1, 2, 3, 4)]
    assert "volume" in groups["kruskal_wallis"] and groups["fisher"]["p"] <= 1
    assert result["composite"]["n_per_group"]["high"] == int(inc.composite_high.sum())
    for figure in ("km_imaging.png", "km_genes.png", "km_both.png", "km_composite.png", "km_groups.png",
                   "composite_line.png"):
        assert (out / figure).stat().st_size > 5_000


def test_analyse_marker_api_and_optimal_cutoff_permutation():
    table = synthetic_cohort(3)
    result = analyse_marker(table.pfs_months, table.pfs_event, table.hf, cutoff="optimal", name="hf",
                            horizon=60.0, permutations=199, seed=5)
    d = result.to_dict()
    assert d["cutoff"]["method"] == "maxstat" and d["cutoff"]["p_permutation"] >= 1 / 200
    assert d["cutoff"]["p_permutation"] > d["cutoff"]["p_unadjusted"]
    assert d["n_per_group"]["high"] == int((table.hf >= d["cutoff"]["value"]).sum())
    assert set(d["survival_at_horizon"]) == {"high", "low"}


BAD = [
    ({"drop": "pfs_event"}, "column 'pfs_event' not found"),
    ({"set": ("pfs_months", 2, "soon")}, "non-numeric value 'soon' in row 3"),
    ({"set": ("pfs_months", 4, -3.0)}, "negative follow-up time"),
    ({"set": ("pfs_event", 5, 2)}, "event indicator 2"),
    ({"all": ("pfs_event", 0)}, "every patient is censored"),
    ({"all": ("hf", 0.3)}, "one value"),
]


@pytest.mark.parametrize("change,message", BAD)
def test_cohort_bad_input_gives_clear_messages(change, message, tmp_path, capsys):
    table = synthetic_cohort(n=40)
    if "drop" in change:
        table = table.drop(columns=change["drop"])
    if "set" in change:
        column, row, value = change["set"]
        table[column] = table[column].astype(object)
        table.loc[row, column] = value
    if "all" in change:
        column, value = change["all"]
        table[column] = value
    path = tmp_path / "bad.csv"
    table.to_csv(path, index=False)
    code = run_cli(["cohort", path, "--id", "patient", "--time", "pfs_months", "--event", "pfs_event",
                    "--imaging", "hf", "--genes", "gene_score", "--permutations", "9", "--optimism", "none",
                    "--out", tmp_path / "out", "--quiet"])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_too_few_patients_and_bad_options(tmp_path, capsys):
    table = synthetic_cohort(n=5)
    with pytest.raises(InputError, match="cannot make two groups"):
        analyse_cohort(table, id_col="patient", time_col="pfs_months", event_col="pfs_event", imaging_col="hf",
                       genes_col="gene_score", min_prop=0.45, permutations=0, optimism="none")
    with pytest.raises(InputError, match="no cutoff leaves"):
        analyse_marker([5, 8, 3, 9], [1, 0, 1, 1], [0.1, 0.1, 0.1, 0.4], min_prop=0.45)
    path = tmp_path / "t.csv"
    synthetic_cohort(n=30).to_csv(path, index=False)
    code = run_cli(["survival", path, "--time", "pfs_months", "--event", "pfs_event", "--marker", "hf",
                    "--cutoff", "best", "--out", tmp_path / "o", "--quiet"])
    assert code == 2 and "'best' is neither a number nor 'optimal'" in capsys.readouterr().err
    code = run_cli(["survival", path, "--time", "pfs_months", "--event", "pfs_event", "--marker", "hf",
                    "--horizon", "soon", "--out", tmp_path / "o", "--quiet"])
    assert code == 2 and "--horizon" in capsys.readouterr().err
    code = run_cli(["survival", tmp_path / "missing.csv", "--time", "a", "--event", "b", "--marker", "c",
                    "--out", tmp_path / "o", "--quiet"])
    assert code == 2 and "file not found" in capsys.readouterr().err
