"""Issue 15 in the command layer: fit quality, mask outside the series, time unit, non-estimable HRs and adjusted
p-values as the user sees them (console, summary.json, slices.csv, KM annotation, report, Slicer summary)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re

import numpy as np
import pytest

from HypoxiaMarkersLib.cli import main
from HypoxiaMarkersLib.imaging.brix import STATUS_HIT_BOUND
from HypoxiaMarkersLib.io.volumes import read_volume, write_volume
from HypoxiaMarkersLib.report.km_figure import risk_ticks

from helpers.cohorts import synthetic_cohort

NUMBER = r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?"


def run_cli(args):
    return main([str(a) for a in args])


@pytest.fixture(scope="module")
def invivo_run(shared_data, tmp_path_factory):
    """`image` on the real in-vivo slice with its tissue mask and times file, with the console output."""
    folder = shared_data / "invivo-dce-slice"
    out = tmp_path_factory.mktemp("invivo") / "image"
    code, stdout, stderr = _image(folder, out)
    assert code == 0
    return folder, out, stdout, stderr


def _image(folder, out, *extra):
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = run_cli(["image", folder / "dce.nrrd", "--mask", folder / "mask_tissue.nrrd", "--times",
                        folder / "times_s.txt", "--out", out, "--quiet", *extra])
    return code, stdout.getvalue(), stderr.getvalue()


def _fitted_maps(out):
    status, _ = read_volume(out / "fit_status.nrrd")
    r2, _ = read_volume(out / "r_squared.nrrd")
    a, _ = read_volume(out / "a_brix.nrrd")
    fitted = np.isfinite(a)
    return status, r2, a, fitted


def test_image_console_counts_poor_fits_as_the_maps_show_them(invivo_run):
    folder, out, stdout, stderr = invivo_run
    assert "fitted (converged or at a bound)" in stdout
    line = next(x for x in stdout.splitlines() if x.startswith("fit quality:"))
    match = re.match(rf"fit quality: (\d+) at a parameter bound, (\d+) with R² < ({NUMBER}) \((\d+) % poor fits\); "
                     rf"hypoxic fraction ({NUMBER}) over every fit, ({NUMBER}) over good fits$", line)
    assert match, line
    at_bound, low_r2, threshold = int(match[1]), int(match[2]), float(match[3])
    # Counted again from the written maps, not from the tool's own summary.
    status, r2, a, fitted = _fitted_maps(out)
    assert at_bound == int(np.sum(fitted & (status == STATUS_HIT_BOUND))) == 6689
    assert threshold == 0.5
    assert low_r2 == int(np.sum(fitted & ~(r2 >= 0.5))) == 10527
    poor = fitted & ((status == STATUS_HIT_BOUND) | ~(r2 >= 0.5))
    good = fitted & ~poor
    assert int(match[4]) == round(100 * poor.sum() / fitted.sum())
    assert float(match[5]) == pytest.approx(np.sum(fitted & (a < 1.56)) / fitted.sum(), abs=1e-3)
    assert float(match[6]) == pytest.approx(np.sum(good & (a < 1.56)) / good.sum(), abs=1e-3)
    # The poor-fit warning goes to stderr, prefixed, with both fractions.
    warnings = [x for x in stderr.splitlines() if x.startswith("hypoxia-markers image: warning: ")]
    assert any("poor fits" in w and match[5] in w and match[6] in w for w in warnings), stderr
    # slices.csv has the counts per slice, summing to the tumour's; summary.json records the mask's share outside.
    with open(out / "slices.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert sum(int(r["at_bound"]) for r in rows) == at_bound
    assert sum(int(r["low_r2"]) for r in rows) == low_r2
    assert sum(int(r["excluded"]) for r in rows) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["inputs"]["mask_share_outside_dce"] == 0.0
    assert "Oslo, 1.5 T" in summary["thresholds_source"]
    assert summary["warnings"] and summary["fit_quality"]["n_at_bound"] == at_bound


def test_min_r2_leaves_low_r2_voxels_out_of_the_fraction(invivo_run):
    folder, out = invivo_run[:2]
    out = out.parent / "min_r2"
    code, stdout, _ = _image(folder, out, "--min-r2", "0.5")
    assert code == 0
    hf = float(re.match(rf"hypoxic fraction ({NUMBER})", stdout)[1])
    status, r2, a, fitted = _fitted_maps(out)
    kept = fitted & (r2 >= 0.5)
    assert hf == pytest.approx(np.sum(kept & (a < 1.56)) / kept.sum(), abs=1e-3)
    assert hf < 0.6  # 0.653 with every fit: the sensitivity check moves the number
    with open(out / "slices.csv", newline="", encoding="utf-8") as handle:
        assert sum(int(r["excluded"]) for r in csv.DictReader(handle)) == int(np.sum(fitted & ~(r2 >= 0.5)))
    line = next(x for x in stdout.splitlines() if x.startswith("fit quality:"))
    assert "10527 excluded from the reported fraction (R² < 0.5)" in line


def test_mask_outside_the_series_refused_unless_allowed_and_share_recorded(invivo_run, capsys):
    folder, out = invivo_run[:2]
    mask, geometry = read_volume(folder / "mask_tissue.nrrd")
    shift = 60  # voxels along i (spacing 1 mm, identity direction): mask voxels with i >= 192 - 60 fall outside
    shifted = geometry.__class__(size=geometry.size, spacing=geometry.spacing,
                                 origin=(geometry.origin[0] + shift, geometry.origin[1], geometry.origin[2]),
                                 direction=geometry.direction)
    path = out.parent / "mask_shifted.nrrd"
    write_volume(mask.astype(np.uint8), shifted, path)
    expected = (mask[..., geometry.size[0] - shift:] > 0).sum() / (mask > 0).sum()
    assert expected > 0.10
    args = ["image", folder / "dce.nrrd", "--mask", path, "--times", folder / "times_s.txt", "--quiet"]
    refused = out.parent / "refused"
    assert run_cli([*args, "--out", refused]) == 2
    assert "--allow-mask-outside" in capsys.readouterr().err
    assert not refused.exists()
    allowed = out.parent / "allowed"
    assert run_cli([*args, "--out", allowed, "--allow-mask-outside"]) == 0
    summary = json.loads((allowed / "summary.json").read_text(encoding="utf-8"))
    assert summary["inputs"]["mask_share_outside_dce"] == pytest.approx(expected, abs=1e-12)
    assert summary["inputs"]["allow_mask_outside"] is True
    assert summary["warnings"][0].endswith(f"{100 * expected:.1f}% of the tumour mask (nonzero voxels) lies outside "
                                           "the DCE series; only the overlap is used")
    assert "warning: " + summary["warnings"][0] in capsys.readouterr().err


def test_risk_ticks_are_round_numbers_in_the_data_unit():
    days = risk_ticks(1826.25)
    assert list(days) == [0, 500, 1000, 1500]
    assert not any(t % 365.25 == 0 for t in days[1:])
    assert list(risk_ticks(60.0)) == [0, 10, 20, 30, 40, 50, 60]


@pytest.fixture
def km_calls(monkeypatch):
    """The keyword arguments of every Kaplan-Meier figure drawn (the figure is still drawn)."""
    from HypoxiaMarkersLib.report import km_figure

    calls = []
    original = km_figure.plot_kaplan_meier

    def record(curves, path, **kwargs):
        calls.append(kwargs)
        return original(curves, path, **kwargs)

    monkeypatch.setattr(km_figure, "plot_kaplan_meier", record)
    return calls


@pytest.mark.slow
def test_days_without_time_unit_cannot_silently_cut_follow_up(shared_data, tmp_path, capsys, km_calls):
    table = shared_data / "tcga-cesc-clinical" / "cesc_os.csv"
    args = ["survival", table, "--time", "os_days", "--event", "os_event", "--marker", "age", "--permutations", "50",
            "--quiet"]
    assert run_cli([*args, "--out", tmp_path / "refused"]) == 2
    assert "--time-unit days" in capsys.readouterr().err
    out = tmp_path / "forced"
    assert run_cli([*args, "--out", out, "--allow-horizon-censoring", "--endpoint-label", "Overall survival"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("times in months, horizon 60 months; age: n=288, events=2,")
    # The HR of a group without events is not a number: the reason is printed instead, on the console and the figure.
    assert "HR not estimable: no events among the 207 patients with age_high = 0" in captured.out
    assert not re.search(rf"\bHR {NUMBER}", captured.out)
    assert "warning: the horizon 60 months censors 69 of 71 events" in captured.err
    (annotation,) = [call["annotation"] for call in km_calls]
    assert annotation.startswith("HR not estimable: no events") and not re.search(rf"HR {NUMBER}", annotation)
    assert km_calls[0]["endpoint_label"] == "Overall survival"
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["cox_dichotomous"]["hr"] is None


def test_searched_cutoff_shows_the_adjusted_p_first(shared_data, tmp_path, capsys, km_calls):
    table = shared_data / "tcga-cesc-clinical" / "cesc_os.csv"
    out = tmp_path / "days"
    assert run_cli(["survival", table, "--time", "os_days", "--event", "os_event", "--marker", "age",
                    "--time-unit", "days", "--permutations", "200", "--seed", "0", "--out", out, "--quiet"]) == 0
    stdout = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    cutoff = results["cutoff"]
    assert cutoff["p_headline_label"] == "p adjusted for the cutoff search (permutation)"
    assert stdout.startswith("times in days, horizon 1826.25 days; ")
    adjusted = f"p adjusted for the cutoff search (permutation) = {cutoff['p_headline']:.3g}"
    naive = f"log-rank p (unadjusted for the cutoff search) = {results['logrank']['p']:.3g}"
    for text in (stdout, km_calls[0]["annotation"]):
        assert adjusted in text and naive in text
        assert text.index(adjusted) < text.index(naive)
    assert cutoff["p_headline"] > 0.05 > results["logrank"]["p"]  # 0.109 against the naive 0.0071


@pytest.mark.slow
def test_cohort_headlines_the_optimism_corrected_hr(tmp_path, capsys, km_calls):
    path = tmp_path / "cohort.csv"
    synthetic_cohort().to_csv(path, index=False)
    out = tmp_path / "cohort"
    assert run_cli(["cohort", path, "--id", "patient", "--time", "pfs_months", "--event", "pfs_event",
                    "--imaging", "hf", "--genes", "gene_score", "--permutations", "50", "--resamples", "20",
                    "--directions", "30", "--out", out, "--quiet"]) == 0
    stdout = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    composite = results["composite"]
    corrected = composite["optimism"]["corrected_hr"]
    apparent = composite["cox_dichotomous"]["hr"]
    assert stdout.startswith("times in months, horizon 60 months; cohort: n=118")
    assert f"optimism-corrected HR {corrected:.2f}; apparent HR {apparent:.2f}" in stdout
    assert corrected < apparent
    assert f"p adjusted for the cutoff search (permutation) = {composite['cutoff']['p_headline']:.3g}" in stdout
    assert composite["cutoff"]["p_headline"] == results["line"]["p_permutation"]
    composite_figure = [c for c in km_calls if c.get("title") == "composite"]
    assert composite_figure[0]["annotation"].startswith(f"optimism-corrected HR {corrected:.2f}\napparent HR")


def test_report_fit_quality_row_and_non_estimable_hr(invivo_run, shared_data, tmp_path):
    from HypoxiaMarkersLib.report.fit_quality import fit_quality_table
    from HypoxiaMarkersLib.report.formats import hr_text, p_text
    from HypoxiaMarkersLib.report.page import Page

    out = invivo_run[1]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    page = Page(tmp_path)
    page.start("imaging", "Imaging")

    class Image:
        pass

    image = Image()
    image.summary = summary
    fit_quality_table(page, {"invivo": image})
    html = "".join(page.sections[0][2])
    q = summary["fit_quality"]
    assert "table-fit-quality" in html
    for text in (f"<td>{q['n_at_bound']}</td>", f"<td>{q['n_low_r2']} (R² &lt; 0.5)</td>", "<td>83 %</td>",
                 f"<td>{q['hypoxic_fraction_all_fits']:.2f}</td>", f"<td>{q['hypoxic_fraction_good_fits']:.2f}</td>",
                 "<td>0.0 %</td>", "poor fits: 6689 ended on a parameter bound"):
        assert text in html, text
    entry = {"cox_dichotomous": {"hr": None, "ci_low": None, "ci_high": None, "estimable": False,
                                 "not_estimable_reason": "not estimable: no events among the 207 patients"},
             "cutoff": {"selected_from_data": True, "p_headline": 0.154, "p_headline_label":
                        "p adjusted for the cutoff search (permutation)"}, "logrank": {"p": 0.0232}}
    assert hr_text(entry) == "HR not estimable: no events among the 207 patients"
    assert p_text(entry) == ("p adjusted for the cutoff search (permutation) = 0.154; "
                             "log-rank p (unadjusted for the cutoff search) = 0.0232")
    entry["cutoff"] = {"selected_from_data": False}
    assert p_text(entry) == "log-rank p = 0.0232"


def test_slicer_summary_shows_fit_quality_and_warnings(invivo_tissue):
    from HypoxiaMarkersLib.imaging.analysis import ImagingParameters, analyse_dce
    from HypoxiaMarkersLib.slicer.logic import patient_summary, summary_html

    series, mask = invivo_tissue
    result = analyse_dce(series, mask, ImagingParameters())
    q = result.fit_quality
    html = summary_html(patient_summary(result.hypoxic_fraction, 0.27, None, 0.0), result)
    assert (f"Fit quality:&nbsp;</td><td>{q.n_at_bound} at a bound, {q.n_low_r2} with R² &lt; 0.5 (83 % poor); "
            f"HF {q.hypoxic_fraction_all_fits:.3f} over every fit, {q.hypoxic_fraction_good_fits:.3f} over good "
            f"fits") in html
    assert html.count("Warning:&nbsp;") == len(result.warnings) >= 1
    assert "Oslo, 1.5 T" in html


@pytest.mark.slow
def test_both_rule_on_searched_cutoffs_labels_its_p_as_unadjusted(tmp_path, capsys, km_calls):
    """With --imaging-cutoff optimal the both-rule's groups rest on a cutoff chosen from the data: no adjusted p
    exists for it, and its log-rank p says it is unadjusted (results, KM annotation, report wording); with fixed
    cutoffs it is a plain log-rank p."""
    path = tmp_path / "cohort.csv"
    synthetic_cohort().to_csv(path, index=False)
    common = ["cohort", path, "--id", "patient", "--time", "pfs_months", "--event", "pfs_event", "--imaging", "hf",
              "--genes", "gene_score", "--permutations", "20", "--resamples", "5", "--directions", "12", "--quiet"]
    assert run_cli([*common, "--imaging-cutoff", "optimal", "--out", tmp_path / "searched"]) == 0
    both = json.loads((tmp_path / "searched" / "results.json").read_text(encoding="utf-8"))["both"]
    assert both["cutoffs_searched"] == ["imaging"]
    from HypoxiaMarkersLib.report.formats import fmt_p, p_text

    label = "no adjusted p; log-rank p (unadjusted for the search of the imaging cutoff) = "
    assert p_text(both) == label + fmt_p(both["logrank"]["p"])
    figure = [c for c in km_calls if c.get("title") == "both"]
    assert figure and "unadjusted for the search of the imaging cutoff" in figure[-1]["annotation"]
    km_calls.clear()
    assert run_cli([*common, "--out", tmp_path / "fixed"]) == 0
    both = json.loads((tmp_path / "fixed" / "results.json").read_text(encoding="utf-8"))["both"]
    assert "cutoffs_searched" not in both
    assert "unadjusted" not in [c for c in km_calls if c.get("title") == "both"][-1]["annotation"]
