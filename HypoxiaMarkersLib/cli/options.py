"""Options shared by several commands: one definition, one help text and one validation each.

The defaults come from :mod:`HypoxiaMarkersLib.rules`. This module imports nothing heavy (no numpy, scipy, pandas,
lifelines, matplotlib or SimpleITK), so that ``hypoxia-markers --help``, ``COMMAND --help`` and usage errors
answer at once: the choice lists of the science modules are repeated here as plain tuples, and a test checks that
they equal the science modules' own.

The ``add_*`` functions add an option to a parser (or argument group); the ``parse_*``/``check_*`` functions turn
the parsed text into the typed value a pipeline stage takes, raising :class:`~HypoxiaMarkersLib.errors.InputError`
(exit status 2) that names the option.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import List, Optional, Union

from ..errors import InputError
from ..rules import A_THRESHOLD, GENE_SCORE_CUTOFF, HF_CUTOFF, HORIZON_MONTHS

#: Units of a follow-up time column (``stats.survival.TIME_UNITS_PER_MONTH``).
TIME_UNITS = ("days", "months", "weeks", "years")
#: Layouts of an expression table (``genes.expression.ORIENTATIONS``).
ORIENTATIONS = ("genes-by-samples", "samples-by-genes")
#: Several probes of one gene (``genes.signatures.PROBE_SELECTIONS``).
PROBE_SELECTIONS = ("highest_mean", "average")
#: Where the reference values of a signature come from (``genes.scoring.REFERENCE_MODES``).
REFERENCE_MODES = ("auto", "stored", "cohort")
#: Statistics ranking the composite lines (``stats.cutoff.STATISTICS``).
STATISTICS = ("score", "logrank")
#: Alternatives of the composite search (``stats.composite.ALTERNATIVES``).
ALTERNATIVES = ("greater", "two-sided")

OPTIMAL = "optimal"
Cutoff = Union[float, str]  # a number, or OPTIMAL


def _number(value: float) -> str:
    return f"{value:g}"


# ---------------------------------------------------------------------------------------------------------------
# Definitions
# ---------------------------------------------------------------------------------------------------------------


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` with each option's default once: not added where the help text already states its default, nor
    for options without one (None, a flag that is off)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return super()._get_help_string(action)


def add_out_dir(parser, help: str = "output folder", *, metavar: Optional[str] = None) -> None:
    """``--out`` (a result folder) and ``--force``: an existing folder is replaced only when hypoxia-markers wrote
    it, or is empty, unless ``--force``; an input is never replaced."""
    parser.add_argument("--out", required=True, type=Path, metavar=metavar,
                        help=help + "; an existing folder is replaced only when hypoxia-markers wrote it "
                                    "(or it is empty)")
    add_force(parser)


def add_map_format(parser) -> None:
    """``--format``: the file format of the maps and masks the imaging analysis writes."""
    parser.add_argument("--format", choices=("nrrd", "nifti"), default="nrrd",
                        help="file format of the maps and masks: nrrd (.nrrd) or nifti (.nii.gz, same file names; "
                             "for FSL/nibabel)")


def add_force(parser) -> None:
    parser.add_argument("--force", action="store_true",
                        help="replace an existing output folder even though it holds files hypoxia-markers did not "
                             "write (deleting them); an input is never replaced")


def add_a_threshold(parser, default: Optional[float] = A_THRESHOLD, *, help_default: str = "") -> None:
    """``--a-threshold``: a voxel is hypoxic when A_Brix is below it."""
    parser.add_argument("--a-threshold", type=float, default=default,
                        help="hypoxic voxel: A_Brix below this" + help_default)


def add_hf_cutoff(parser, default: Optional[float] = HF_CUTOFF, *, help_default: str = "") -> None:
    """``--hf-cutoff``: a tumour (slice) is "more hypoxic" when its hypoxic fraction is at or above it."""
    parser.add_argument("--hf-cutoff", type=float, default=default,
                        help="'more hypoxic' tumour or slice: hypoxic fraction at or above this" + help_default)


def add_cutoff(parser, flag: str, default: Cutoff, what: str) -> None:
    """A cutoff option (``--cutoff``, ``--imaging-cutoff``, ``--gene-cutoff``): a number or ``optimal``."""
    parser.add_argument(flag, default=default if isinstance(default, str) else _number(default), metavar="X|optimal",
                        help=f"{what} >= X is 'high' (more hypoxic); 'optimal' selects X by the maximally "
                             "selected log-rank statistic, with a p-value adjusted for the selection")


def add_imaging_and_gene_cutoffs(parser) -> None:
    """``--imaging-cutoff`` and ``--gene-cutoff`` of the cohort statistics."""
    add_cutoff(parser, "--imaging-cutoff", HF_CUTOFF, "hypoxic fraction")
    add_cutoff(parser, "--gene-cutoff", GENE_SCORE_CUTOFF, "gene score")


def add_horizon(parser) -> None:
    """``--horizon``: follow-up censored beyond this many months (``none``: not censored)."""
    parser.add_argument("--horizon", default=_number(HORIZON_MONTHS), metavar="MONTHS|none",
                        help="censor follow-up beyond this many months")


def add_time_unit(parser) -> None:
    """``--time-unit``: unit of the follow-up time column."""
    parser.add_argument("--time-unit", choices=TIME_UNITS, default="months", help="unit of the time column")


def add_permutations(parser) -> None:
    """``--permutations``: permutations of the outcome behind permutation p-values."""
    parser.add_argument("--permutations", type=int, default=1000,
                        help="permutations of the outcome for the permutation p-values of searched cutoffs and of "
                             "the composite line search (0: none)")


def add_seed(parser, *, default: int = 0) -> None:
    """``--seed``: the seed of every random draw of a command."""
    parser.add_argument("--seed", type=int, default=default,
                        help="seed of the random draws (permutations, resampling, bootstrap, virtual biopsies, "
                             "synthetic data): the same seed gives the same results")


def add_covariates(parser) -> None:
    """``--covariates`` and ``--categorical``: clinical covariates of the multivariate Cox models."""
    parser.add_argument("--covariates", default="", metavar="A,B",
                        help="clinical covariate columns for multivariate Cox models (and Kruskal-Wallis tests "
                             "across groups when numeric)")
    parser.add_argument("--categorical", default="", metavar="A,B",
                        help="covariates to treat as categories even if coded as numbers (e.g. FIGO stage)")


def add_quiet(parser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


# ---------------------------------------------------------------------------------------------------------------
# Validation: text → typed value
# ---------------------------------------------------------------------------------------------------------------


def split_names(text: Optional[str]) -> List[str]:
    """'A, B,C' → ['A', 'B', 'C'] (empty or None → [])."""
    if not text:
        return []
    return [part.strip() for part in str(text).split(",") if part.strip()]


def parse_cutoff(text: str, option: str) -> Cutoff:
    """A cutoff option: a finite number, or ``'optimal'``."""
    if str(text).strip().lower() == OPTIMAL:
        return OPTIMAL
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{text!r} is neither a number nor 'optimal'", source=option,
                         expected="a number or 'optimal'") from None
    if not math.isfinite(value):
        raise InputError(f"{text!r} is not a finite number", source=option, expected="a number or 'optimal'")
    return value


def parse_horizon(text: str) -> Optional[float]:
    """The ``--horizon`` option: months > 0, or None for 'none' (no horizon)."""
    if str(text).strip().lower() in ("none", "no", "off", "inf"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{text!r} is not a number of months", source="--horizon",
                         expected="months (e.g. 60) or 'none'") from None
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"horizon {text!r} is not positive", source="--horizon", expected="months > 0 or 'none'")
    return value


def add_biopsy_slice(parser) -> None:
    """``--biopsy-slice``: the tumour slice standing for the biopsy region."""
    parser.add_argument("--biopsy-slice", type=int, default=1,
                        help="tumour slice standing for the biopsy region, 1 = most caudal")


def add_injection_duration(parser) -> None:
    """``--injection-duration``: seconds of contrast injection (Hoffmann variant of the Brix model)."""
    parser.add_argument("--injection-duration", type=float, default=0.0,
                        help="injection duration in seconds (Hoffmann variant; 0 = fast bolus)")


def add_survival_reporting(parser) -> None:
    """``--allow-horizon-censoring`` and ``--endpoint-label`` (``survival`` and ``cohort``)."""
    parser.add_argument("--allow-horizon-censoring", action="store_true",
                        help="accept a horizon that censors more than half of the events (by default refused: the "
                             "times are probably in another unit than --time-unit)")
    parser.add_argument("--endpoint-label", default="Progression-free survival", metavar="TEXT",
                        help="y-axis label of the Kaplan-Meier figures (the endpoint of the time and event columns)")
