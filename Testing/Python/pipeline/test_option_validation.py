"""Issue 16 / 15: one validation of each shared option, the same in every command and in the Python stages, named by
the option the user typed; the --baseline-frames check; --help shows each default once; bars only on a terminal."""

from __future__ import annotations

import io
import json
import re
import sys

import numpy as np
import pandas as pd
import pytest

from HypoxiaMarkersLib.cli import build_parser, main
from HypoxiaMarkersLib.cli.options import TIME_UNITS
from HypoxiaMarkersLib.errors import InputError
from HypoxiaMarkersLib.imaging.analysis import ImagingParameters
from HypoxiaMarkersLib.imaging.phantom import make_phantom, write_phantom
from HypoxiaMarkersLib.pipeline.cohort import CohortAnalysisSettings, run_cohort
from HypoxiaMarkersLib.pipeline.genes import GenesSettings, run_genes
from HypoxiaMarkersLib.pipeline.heterogeneity import HeterogeneitySettings, run_heterogeneity
from HypoxiaMarkersLib.pipeline.image import ImageSources, run_image
from HypoxiaMarkersLib.pipeline.survival import SurvivalSettings, run_survival
from HypoxiaMarkersLib.progress import progress_bar

INTERNAL_NAMES = ("conf_level", "n_directions", "folds=", "min_prop", "a_threshold", "hf_cutoff",
                  "injection_duration_s", "log2_offset")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("options")
    write_phantom(make_phantom(seed=5), folder / "phantom")
    rng = np.random.default_rng(2)
    n = 40
    pd.DataFrame({"patient": [f"P{i}" for i in range(n)], "pfs": rng.uniform(5, 80, n).round(1),
                  "event": rng.integers(0, 2, n), "hf": rng.beta(1.5, 4, n).round(4),
                  "score": rng.normal(0, 0.6, n).round(4)}).to_csv(folder / "cohort.csv", index=False)
    pd.DataFrame({"DDIT3": [7.1, 8.4, 7.9], "ERO1A": [10.2, 9.8, 10.0], "KCTD11": [8.8, 8.1, 8.3],
                  "P4HA2": [9.6, 11.0, 10.4], "STC2": [6.0, 7.7, 6.8], "UPK1A": [5.2, 4.7, 5.1]},
                 index=["T1", "T2", "T3"]).T.rename_axis("gene").to_csv(folder / "expr.csv")
    pd.DataFrame({"patient": list("AABBCC"), "hypoxia_score": [0.1, 0.3, -0.2, -0.1, 0.5, 0.2]}).to_csv(
        folder / "biopsies.csv", index=False)
    return folder


IMAGE = ["image", "I/phantom/dce.seq.nrrd", "--mask", "I/phantom/tumour.seg.nrrd", "--quiet"]
SURVIVAL = ["survival", "I/cohort.csv", "--time", "pfs", "--event", "event", "--marker", "hf", "--quiet"]
COHORT = ["cohort", "I/cohort.csv", "--id", "patient", "--time", "pfs", "--event", "event", "--imaging", "hf",
          "--genes", "score", "--quiet"]
HETEROGENEITY = ["heterogeneity", "--biopsies", "I/biopsies.csv", "--quiet"]
GENES = ["genes", "I/expr.csv"]

CASES = [
    (COHORT, ["--min-prop", "-1"], "--min-prop"),
    (COHORT, ["--min-prop", "0"], "--min-prop"),
    (SURVIVAL, ["--min-prop", "0"], "--min-prop"),
    (SURVIVAL, ["--min-prop", "0.2", "--max-prop", "0.1"], "--max-prop"),
    (COHORT, ["--conf-level", "1.5"], "--conf-level"),
    (SURVIVAL, ["--conf-level", "0"], "--conf-level"),
    (COHORT, ["--directions", "0"], "--directions"),
    (COHORT, ["--folds", "1"], "--folds"),
    (COHORT, ["--covariates", "score"], "--covariates"),
    (SURVIVAL, ["--covariates", "hf"], "--covariates"),  # the marker itself as a covariate (issue 15)
    (HETEROGENEITY, ["--hf-cutoff", "2"], "--hf-cutoff"),
    (HETEROGENEITY, ["--a-threshold", "-1"], "--a-threshold"),
    (IMAGE, ["--a-threshold", "inf"], "--a-threshold"),
    (IMAGE, ["--hf-cutoff", "2"], "--hf-cutoff"),
    (IMAGE, ["--label", "0"], "--label"),
    (IMAGE, ["--injection-duration", "-5"], "--injection-duration"),
    (IMAGE, ["--injection-duration", "300"], "--injection-duration"),  # longer than the acquisition's washout
    (IMAGE, ["--injection-duration", "30000"], "--injection-duration"),
    (GENES, ["--log2-offset", "nan"], "--log2-offset"),
    (GENES, ["--cutoff", "nan"], "--cutoff"),
]


@pytest.mark.parametrize("base, extra, option", CASES, ids=[" ".join(c[1]) for c in CASES])
def test_impossible_values_exit_2_naming_the_option(inputs, tmp_path, capsys, base, extra, option):
    out = tmp_path / ("out.csv" if base is GENES else "out")
    args = [a.replace("I/", f"{inputs}/") for a in base] + extra + ["--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"error: {option}:" in err, err
    assert not any(name in err for name in INTERNAL_NAMES), err
    assert list(tmp_path.iterdir()) == []


def cli_message(capsys, args):
    assert main(args) == 2
    return capsys.readouterr().err.split("error: ", 1)[1].strip()


def test_python_stages_give_the_cli_errors(inputs, tmp_path, capsys):
    table = inputs / "cohort.csv"
    cohort = dict(id="patient", time="pfs", event="event", imaging="hf", genes="score")
    pairs = [
        (lambda: run_cohort(table, tmp_path / "c", CohortAnalysisSettings(**cohort, min_prop=0)),
         [a.replace("I/", f"{inputs}/") for a in COHORT] + ["--min-prop", "0", "--out", str(tmp_path / "c")]),
        (lambda: run_survival(table, tmp_path / "s", SurvivalSettings(time="pfs", event="event", marker="hf",
                                                                      covariates=["hf"])),
         [a.replace("I/", f"{inputs}/") for a in SURVIVAL] + ["--covariates", "hf", "--out", str(tmp_path / "s")]),
        (lambda: run_heterogeneity(tmp_path / "h", HeterogeneitySettings(hf_cutoff=2),
                                   biopsies=inputs / "biopsies.csv"),
         [a.replace("I/", f"{inputs}/") for a in HETEROGENEITY] + ["--hf-cutoff", "2", "--out", str(tmp_path / "h")]),
        (lambda: run_genes(inputs / "expr.csv", tmp_path / "g.csv", GenesSettings(log2_offset=float("nan"))),
         [a.replace("I/", f"{inputs}/") for a in GENES] + ["--log2-offset", "nan", "--out", str(tmp_path / "g.csv")]),
        (lambda: run_image(ImageSources(dce=[inputs / "phantom" / "dce.seq.nrrd"],
                                        mask=inputs / "phantom" / "tumour.seg.nrrd"),
                           ImagingParameters(a_threshold=float("inf")), tmp_path / "i"),
         [a.replace("I/", f"{inputs}/") for a in IMAGE] + ["--a-threshold", "inf", "--out", str(tmp_path / "i")]),
    ]
    for call, args in pairs:
        with pytest.raises(InputError) as raised:
            call()
        assert str(raised.value) == cli_message(capsys, args)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------------------------- baseline frames


def test_baseline_frames_far_from_the_detected_arrival_are_warned_and_recorded(inputs, tmp_path, capsys):
    args = [a.replace("I/", f"{inputs}/") for a in IMAGE]
    assert main(args + ["--baseline-frames", "5", "--out", str(tmp_path / "five")]) == 0
    err = capsys.readouterr().err
    assert "warning: --baseline-frames 5 disagrees with the 10 baseline frames detected" in err
    summary = json.loads((tmp_path / "five" / "summary.json").read_text())
    assert summary["bolus_arrival"]["baseline_frames"] == 5
    assert summary["bolus_arrival"]["baseline_frames_detected"] == 10
    assert any("--baseline-frames 5" in w for w in summary["warnings"])
    # The detected value given, or none given: nothing to warn about; the detected value is recorded.
    for extra, name in ((["--baseline-frames", "10"], "ten"), ([], "auto")):
        assert main(args + extra + ["--out", str(tmp_path / name)]) == 0
        assert "warning" not in capsys.readouterr().err
        summary = json.loads((tmp_path / name / "summary.json").read_text())
        assert summary["warnings"] == [] and summary["bolus_arrival"]["baseline_frames_detected"] == 10


def test_a_plausible_injection_duration_is_accepted(inputs, tmp_path):
    args = [a.replace("I/", f"{inputs}/") for a in IMAGE]
    assert main(args + ["--injection-duration", "20", "--out", str(tmp_path / "tau")]) == 0
    summary = json.loads((tmp_path / "tau" / "summary.json").read_text())
    assert summary["parameters"]["injection_duration_s"] == 20


# --------------------------------------------------------------------------------------------------------- help


def subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return action.choices


@pytest.mark.parametrize("name", sorted(subcommands()))
def test_help_shows_each_default_once(name):
    text = subcommands()[name].format_help()
    assert "(default: None)" not in text
    # one option's help (from its flag to the next flag) holds at most one "(default"
    blocks = re.split(r"\n  (?=-)", text)
    for block in blocks[1:]:  # blocks[0] is the usage and the description
        assert block.count("(default") <= 1, block


def test_time_unit_choices_are_the_same_everywhere():
    seen = {}
    for name, parser in subcommands().items():
        for action in parser._actions:
            if "--time-unit" in action.option_strings:
                seen[name] = tuple(action.choices)
    assert seen and set(seen.values()) == {TIME_UNITS}


# --------------------------------------------------------------------------------------------- progress on a pipe


def test_no_progress_bar_on_a_pipe(monkeypatch):
    piped = io.StringIO()  # isatty() is False, like a pipe or a log file
    monkeypatch.setattr(sys, "stderr", piped)
    with progress_bar("Brix fit") as update:
        for done in range(0, 101, 10):
            update(done, 100)
    assert piped.getvalue() == ""

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with progress_bar("Brix fit") as update:
        update(50, 100)
    assert "Brix fit" in terminal.getvalue()


def test_a_warning_during_a_bar_gets_its_own_line(monkeypatch):
    import warnings

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        with progress_bar("Brix fit") as update:
            update(10, 100)
            warnings.warn("the mask lies partly outside the series", UserWarning, stacklevel=1)
            update(60, 100)
    lines = [line for line in terminal.getvalue().split("\n") if "UserWarning: the mask" in line]
    assert len(lines) == 1
    shown = lines[0].split("\r")[-1]  # what stays on the screen after the bar's line was cleared
    assert shown.endswith("UserWarning: the mask lies partly outside the series") and "Brix fit" not in shown


def test_counts_accept_numpy_integers_and_refuse_fractions():
    from HypoxiaMarkersLib.pipeline.checks import check_count

    assert check_count(np.int64(200), "--permutations") == 200
    assert check_count(5.0, "--folds", minimum=2) == 5
    for bad in (2.5, True, "3", float("nan")):
        with pytest.raises(InputError, match="--folds"):
            check_count(bad, "--folds", minimum=2)
