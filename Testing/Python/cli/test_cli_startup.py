"""Start-up of the command line (issue 14 item 4): `--help`, `COMMAND --help` and usage errors import no science.

This tests the import graph, not a time: each case runs in a fresh interpreter and lists the heavy modules in
``sys.modules`` afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from HypoxiaMarkersLib.cli import options

HEAVY = ("numpy", "scipy", "pandas", "lifelines", "matplotlib", "SimpleITK")
COMMANDS = ("demo", "phantom", "image", "genes", "survival", "cohort", "heterogeneity", "batch", "report")

PROBE = """
import contextlib, io, json, sys
from HypoxiaMarkersLib.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit:
            code = exit.code
    # Cumulative: the first case that imports a heavy module is the first with a non-empty list.
    heavy = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))
    results.append({"argv": argv, "code": code, "heavy": heavy, "out": out.getvalue(), "err": err.getvalue()})
print(json.dumps(results))
"""

HELP = [["--help"]] + [[command, "--help"] for command in COMMANDS]
USAGE_ERRORS = [[], ["survival"], ["cohort", "t.csv"], ["image", "dce.nrrd"], ["nonsense"],
                ["batch", "m.csv", "--out", "o", "--workers", "two"], ["heterogeneity", "--out", "o", "--ci", "never"],
                ["demo", "--out", "o", "--time-unit", "fortnights"]]


def probe(cases, prelude=""):
    code = PROBE.replace("HEAVY", repr(HEAVY)).replace("from HypoxiaMarkersLib.cli import main",
                                                       "from HypoxiaMarkersLib.cli import main\n" + prelude)
    done = subprocess.run([sys.executable, "-c", code, json.dumps(cases)], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def probed():
    """Every --help and usage-error case, run one after the other in one fresh interpreter."""
    return probe(HELP + USAGE_ERRORS)


def test_help_lists_every_command_without_importing_the_science(probed):
    result = probed[0]
    assert result["argv"] == ["--help"] and result["code"] == 0
    for command in COMMANDS:
        assert f"    {command}" in result["out"]


def test_command_help_and_usage_errors_import_no_science(probed):
    for result in probed:
        assert result["heavy"] == [], f"hypoxia-markers {' '.join(result['argv'])} imported {result['heavy']}"
    for result in probed[1:len(HELP)]:
        assert result["code"] == 0 and f"usage: hypoxia-markers {result['argv'][0]}" in result["out"]
    for result in probed[len(HELP):]:
        assert result["code"] == 2 and "usage: hypoxia-markers" in result["out"] + result["err"]


@pytest.mark.slow
def test_the_probe_sees_heavy_imports():
    # The check above could pass by looking at the wrong interpreter state: the same probe, after importing a
    # science module, must see it.
    result = probe([["--version"]], prelude="import HypoxiaMarkersLib.stats.cohort")
    assert {"numpy", "scipy", "pandas"} <= set(result[0]["heavy"])


def test_console_script_answers():
    script = Path(sys.executable).parent / "hypoxia-markers"
    if not script.is_file():
        pytest.skip("the console script is not installed next to this interpreter (pip install -e .)")
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("hypoxia-markers ")


def test_option_choices_equal_the_science_modules_own():
    # cli/options.py repeats the choice lists so that --help needs no science import: they must not drift.
    from HypoxiaMarkersLib.genes.expression import ORIENTATIONS
    from HypoxiaMarkersLib.genes.scoring import REFERENCE_MODES
    from HypoxiaMarkersLib.genes.signatures import PROBE_SELECTIONS
    from HypoxiaMarkersLib.stats.composite import ALTERNATIVES
    from HypoxiaMarkersLib.stats.cutoff import STATISTICS
    from HypoxiaMarkersLib.stats.survival import TIME_UNITS_PER_MONTH

    assert options.TIME_UNITS == tuple(sorted(TIME_UNITS_PER_MONTH))
    assert options.ORIENTATIONS == tuple(ORIENTATIONS)
    assert options.REFERENCE_MODES == tuple(REFERENCE_MODES)
    assert options.PROBE_SELECTIONS == tuple(PROBE_SELECTIONS)
    assert options.ALTERNATIVES == tuple(ALTERNATIVES)
    assert options.STATISTICS == tuple(STATISTICS)


def test_shared_options_take_their_defaults_from_the_rules():
    from HypoxiaMarkersLib import rules
    from HypoxiaMarkersLib.cli import build_parser

    parser = build_parser()
    image = parser.parse_args(["image", "d.nrrd", "--mask", "m.nrrd", "--out", "o"])
    assert (image.a_threshold, image.hf_cutoff) == (rules.A_THRESHOLD, rules.HF_CUTOFF)
    cohort = parser.parse_args(["cohort", "t.csv", "--id", "i", "--time", "t", "--event", "e", "--imaging", "x",
                                "--genes", "g", "--out", "o"])
    assert options.parse_cutoff(cohort.imaging_cutoff, "--imaging-cutoff") == rules.HF_CUTOFF
    assert options.parse_cutoff(cohort.gene_cutoff, "--gene-cutoff") == rules.GENE_SCORE_CUTOFF
    assert options.parse_horizon(cohort.horizon) == rules.HORIZON_MONTHS
    heterogeneity = parser.parse_args(["heterogeneity", "--out", "o"])
    assert heterogeneity.patch_size == rules.PATCH_SIZE and heterogeneity.gene_cutoff == rules.GENE_SCORE_CUTOFF
    batch = parser.parse_args(["batch", "m.csv", "--out", "o"])
    assert (batch.a_threshold, batch.hf_cutoff) == (rules.A_THRESHOLD, rules.HF_CUTOFF)
    assert options.parse_cutoff(batch.imaging_cutoff, "--imaging-cutoff") == rules.HF_CUTOFF


@pytest.mark.parametrize("text,expected", [("optimal", "optimal"), (" Optimal ", "optimal"), ("0.27", 0.27),
                                           ("-1e-3", -0.001)])
def test_parse_cutoff(text, expected):
    assert options.parse_cutoff(text, "--cutoff") == expected


@pytest.mark.parametrize("text", ["best", "nan", "inf", ""])
def test_parse_cutoff_refuses_what_is_not_a_finite_number(text):
    from HypoxiaMarkersLib.errors import InputError

    with pytest.raises(InputError, match="--cutoff"):
        options.parse_cutoff(text, "--cutoff")


def test_parse_horizon():
    from HypoxiaMarkersLib.errors import InputError

    assert options.parse_horizon("60") == 60.0 and options.parse_horizon("none") is None
    for bad in ("0", "-5", "sixty", "nan"):
        with pytest.raises(InputError, match="--horizon"):
            options.parse_horizon(bad)
    assert options.split_names(" a, b ,,c ") == ["a", "b", "c"] and options.split_names(None) == []


def test_python_m_runs_the_command_line(tmp_path):
    """`python -m HypoxiaMarkersLib.cli` is the same command as the console script (exit codes included)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "HypoxiaMarkersLib.cli", "--version"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("hypoxia-markers ")
    done = subprocess.run([sys.executable, "-m", "HypoxiaMarkersLib.cli", "image", str(tmp_path / "missing.nrrd"),
                           "--mask", str(tmp_path / "m.nrrd"), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "missing.nrrd" in done.stderr
    assert not (tmp_path / "out").exists()
