"""The method's constants and decision rules, in one place (SPEC §1.3–1.4, §2, §3; Fjeldbo et al. 2020).

Every module that marks a voxel hypoxic, calls a tumour, slice or biopsy "more hypoxic", or needs one of the
method's defaults takes it from here, so a rule cannot be written two ways. The thresholds come from one centre's
protocol and field strength (Oslo, 1.5 T, Gd-DTPA): they are defaults to change for another protocol, not
constants of nature.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:  # numpy is imported where a rule is applied, so that `--help` and the constants stay light
    import numpy as np

#: A voxel is hypoxic when its Brix amplitude A_Brix is below this (SPEC §1.3).
A_THRESHOLD = 1.56
#: A tumour (slice, virtual biopsy) is "more hypoxic" when its hypoxic fraction is at or above this (SPEC §1.4).
HF_CUTOFF = 0.27
#: A sample or patient is "more hypoxic" when its 6-gene score is at or above this (SPEC §2).
GENE_SCORE_CUTOFF = 0.0
#: A patient is "more hypoxic" by the composite score when HScomp (signed distance to the line) is at or above this.
HSCOMP_CUTOFF = 0.0
#: Where A_THRESHOLD and HF_CUTOFF come from, said wherever they are applied (summary.json, report, Slicer).
THRESHOLDS_SOURCE = ("A_Brix 1.56 and HF 0.27 come from one centre's protocol and field strength (Oslo, 1.5 T, "
                     "Gd-DTPA): check them before applying them to another protocol")
#: Survival is censored at this many months for the statistics (SPEC §4).
HORIZON_MONTHS = 60.0
#: Tumour voxels in one virtual biopsy (SPEC §3.2).
PATCH_SIZE = 12

MORE_HYPOXIC = "more hypoxic"
LESS_HYPOXIC = "less hypoxic"

#: Values are compared with a cutoff after rounding to this many decimals, so that floating-point noise
#: (a centred score of -7.6e-17 that is 0 by hand) cannot flip a call.
COMPARISON_DECIMALS = 12

ArrayOrFloat = Union[float, "np.ndarray"]


def _rounded(values: ArrayOrFloat) -> np.ndarray:
    import numpy as np

    return np.round(np.asarray(values, dtype=float), COMPARISON_DECIMALS)


def at_or_above(values: ArrayOrFloat, cutoff: ArrayOrFloat) -> np.ndarray:
    """True where ``values`` are at or above ``cutoff``: the "more hypoxic" side of every cutoff of the method.

    Parameters
    ----------
    values : float or array
        Hypoxic fractions, gene scores or composite scores.
    cutoff : float or array
        The cutoff (e.g. :data:`HF_CUTOFF`, :data:`GENE_SCORE_CUTOFF`, 0 for HScomp), or one per value.

    Returns
    -------
    numpy.ndarray of bool
        Same shape as ``values``; NaN gives False (not classified as more hypoxic).
    """
    return _rounded(values) >= _rounded(cutoff)


def hypoxic_voxels(a_brix: ArrayOrFloat, threshold: ArrayOrFloat = A_THRESHOLD) -> np.ndarray:
    """True where A_Brix is below ``threshold`` (a hypoxic voxel); NaN (no fit) gives False.

    Parameters
    ----------
    a_brix : float or array
        Brix amplitudes.
    threshold : float or array
        The hypoxia threshold, default :data:`A_THRESHOLD`.
    """
    return _rounded(a_brix) < _rounded(threshold)


def hypoxia_class(value: float, cutoff: float) -> str:
    """"more hypoxic" when ``value`` is at or above ``cutoff``, else "less hypoxic" (check NaN before calling)."""
    return MORE_HYPOXIC if bool(at_or_above(value, cutoff)) else LESS_HYPOXIC


def hypoxia_classes(values: ArrayOrFloat, cutoff: ArrayOrFloat) -> np.ndarray:
    """:func:`hypoxia_class` of each value (array of str); NaN gives "less hypoxic" (check NaN before calling)."""
    import numpy as np

    return np.where(at_or_above(values, cutoff), MORE_HYPOXIC, LESS_HYPOXIC)
