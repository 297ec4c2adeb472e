"""Mutation check of the method's rules: flip each rule where it is defined and where it is applied, run the tests.

Run by hand (minutes; not part of the suite)::

    python tools/mutate_rules.py [--tests FILE ...] > mutation.txt

Each mutant is applied to a copy of the package in a temporary folder (the working tree is never changed), and the
tests run against that copy with ``pytest -x``; a mutant is *killed* when at least one test fails. Mutants:

- in rules.py: ``>=`` -> ``>`` in at_or_above, ``<`` -> ``<=`` in hypoxic_voxels;
- at every place a rule is applied (a call of at_or_above, hypoxic_voxels, hypoxia_class, hypoxia_classes): that
  one call replaced by the flipped rule, so each application is checked on its own;
- the Cox step halving (no halving; halving never triggered) and the maxstat permutation standardisation
  ((N - 1) -> N; the expected sum; the group size of the composite permutations).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAST_TESTS = ["test_rules_boundaries.py", "test_report_rules.py", "test_cutoff.py", "test_composite.py",
              "test_heterogeneity.py", "test_virtual_biopsy.py", "test_genes.py", "test_groups.py",
              "test_imaging.py", "test_survival.py"]

# Flipped rules, added to the copy's rules.py so that a call site can use them.
MUTANT_RULES = '''

def _mutant_above(values, cutoff):
    return _rounded(values) > _rounded(cutoff)


def _mutant_voxels(a_brix, threshold=A_THRESHOLD):
    return _rounded(a_brix) <= _rounded(threshold)


def _mutant_class(value, cutoff):
    return MORE_HYPOXIC if bool(_mutant_above(value, cutoff)) else LESS_HYPOXIC


def _mutant_classes(values, cutoff):
    return np.where(_mutant_above(values, cutoff), MORE_HYPOXIC, LESS_HYPOXIC)
'''
CALLS = {"at_or_above": "_mutant_above", "hypoxic_voxels": "_mutant_voxels", "hypoxia_class": "_mutant_class",
         "hypoxia_classes": "_mutant_classes"}
RULES_MODULE = "__import__('HypoxiaMarkersLib.rules', fromlist=['rules'])."

# (file, exact text, replacement, description)
FIXED_MUTANTS = [
    ("rules.py", "return _rounded(values) >= _rounded(cutoff)", "return _rounded(values) > _rounded(cutoff)",
     "rules.at_or_above: >= -> >"),
    ("rules.py", "return _rounded(a_brix) < _rounded(threshold)", "return _rounded(a_brix) <= _rounded(threshold)",
     "rules.hypoxic_voxels: < -> <="),
    ("stats/survival.py", "            step = step / 2.0\n", "            step = step / 1.0\n",
     "newton_efron: a rejected step is not halved"),
    ("stats/survival.py", "while not c_loglik >= loglik - 1e-12 * abs(loglik) and halvings < MAX_HALVINGS:",
     "while False and halvings < MAX_HALVINGS:", "newton_efron: never halves"),
    ("stats/cutoff.py", "np.sqrt(m * (n - m) / (n * n * (n - 1.0)) * self.spread)",
     "np.sqrt(m * (n - m) / (n * n * n) * self.spread)", "RankStandardisation: variance with N instead of N - 1"),
    ("stats/cutoff.py", "(observed - m / n * self.total)", "(observed - self.total / 2.0)",
     "RankStandardisation: wrong permutation mean"),
    # (Standardising with the other group's size instead would be an equivalent mutant: log-rank scores sum to 0,
    # so the permutation mean vanishes and the variance m(N - m) is symmetric.)
    ("stats/composite.py", "m = candidates.high.sum(axis=1).astype(float)[:, None]",
     "m = np.full((candidates.high.shape[0], 1), candidates.high.shape[1] / 2.0)",
     "composite score permutations: standardised as if every split were half-half"),
]


def call_site_mutants(package: Path):
    """One mutant per call of a rule outside rules.py (and inside it, for the helpers built on at_or_above)."""
    pattern = re.compile(r"(?<![\w.])(rules\.)?(at_or_above|hypoxic_voxels|hypoxia_classes|hypoxia_class)\(")
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package).as_posix()
        lines = path.read_text().split("\n")
        for number, line in enumerate(lines, start=1):
            code = line.split("#")[0]
            if code.lstrip().startswith(("def ", "from ", "import ", '"""', "``")) or ":func:" in line:
                continue
            for match in pattern.finditer(code):
                if rel == "rules.py" and match.group(2) != "at_or_above":
                    continue
                if rel == "imaging/analysis.py":  # hypoxia.hypoxic_voxels(a, fitted, t): checked at its definition
                    continue
                yield rel, number, match.start(), match.group(0), match.group(2)


def apply_call_mutant(copy: Path, rel: str, number: int, start: int, text: str, name: str) -> None:
    path = copy / "HypoxiaMarkersLib" / rel
    lines = path.read_text().split("\n")
    line = lines[number - 1]
    replacement = ("rules." if text.startswith("rules.") else RULES_MODULE) + CALLS[name] + "("
    if rel == "rules.py":
        replacement = CALLS[name] + "("
    lines[number - 1] = line[:start] + replacement + line[start + len(text):]
    path.write_text("\n".join(lines))


def run_tests(copy: Path, tests) -> bool:
    """True when at least one test fails (the mutant is killed)."""
    env = {"PYTHONPATH": str(copy), "MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--rootdir", str(copy)]
    command += [str(copy / "Testing" / "Python" / t) for t in tests]
    done = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True)
    last = (done.stdout.strip().splitlines() or [""])[-1]
    return done.returncode != 0, last


def fresh_copy(base: Path) -> Path:
    copy = Path(tempfile.mkdtemp(dir=base))
    shutil.copytree(ROOT / "HypoxiaMarkersLib", copy / "HypoxiaMarkersLib")
    shutil.copytree(ROOT / "Testing", copy / "Testing")
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    rules = copy / "HypoxiaMarkersLib" / "rules.py"
    rules.write_text(rules.read_text() + MUTANT_RULES)
    return copy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tests", nargs="*", default=FAST_TESTS)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="mutants-"))
    survivors = 0
    mutants = [("fixed", m) for m in FIXED_MUTANTS]
    mutants += [("call", m) for m in call_site_mutants(ROOT / "HypoxiaMarkersLib")]
    for kind, mutant in mutants:
        copy = fresh_copy(base)
        if kind == "fixed":
            rel, old, new, description = mutant
            path = copy / "HypoxiaMarkersLib" / rel
            source = path.read_text()
            assert source.count(old) == 1, (rel, old)
            path.write_text(source.replace(old, new))
        else:
            rel, number, start, text, name = mutant
            apply_call_mutant(copy, rel, number, start, text, name)
            description = f"{rel}:{number}: {name} flipped at this call"
        killed, last = run_tests(copy, args.tests)
        survivors += not killed
        print(f"{'killed ' if killed else 'SURVIVED'}  {description}   [{last}]", flush=True)
        shutil.rmtree(copy)
    shutil.rmtree(base)
    print(f"{len(mutants)} mutants, {survivors} survived")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
