"""One validation of each setting that several stages share, and the output checks every stage makes before work.

The stages (image, genes, survival, cohort, heterogeneity, phantom, report) call these functions first, so that a
value that makes no sense is refused with the same message from the command line and from Python, naming the
option the user typed (never an internal parameter name), and before any file is read or written. This module
imports nothing heavy (no numpy), like the command line's option definitions.
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path
from typing import Iterable, Optional, Union

from ..errors import InputError
from ..rules import A_THRESHOLD, HF_CUTOFF

PathLike = Union[str, Path]


def _number(value, option: str, expected: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{value!r} is not a number", source=option, expected=expected) from None
    if not math.isfinite(number):
        raise InputError(f"{value!r} is not a finite number", source=option, expected=expected)
    return number


def check_range(value, option: str, *, low: Optional[float] = None, high: Optional[float] = None,
                low_open: bool = False, high_open: bool = False, expected: str = "") -> float:
    """A finite number within [low, high] (open ends as asked); the error names ``option``."""
    number = _number(value, option, expected)
    too_low = low is not None and (number <= low if low_open else number < low)
    too_high = high is not None and (number >= high if high_open else number > high)
    if too_low or too_high:
        raise InputError(f"{number:g} is out of range", source=option, expected=expected)
    return number


def check_count(value, option: str, *, minimum: int = 0, expected: str = "") -> int:
    """A whole number >= ``minimum``; the error names ``option``."""
    whole = isinstance(value, numbers.Integral) or (isinstance(value, numbers.Real) and float(value).is_integer())
    if isinstance(value, bool) or not whole:
        raise InputError(f"{value!r} is not a whole number", source=option,
                         expected=expected or f"a whole number >= {minimum}")
    if int(value) < minimum:
        raise InputError(f"{value} is below {minimum}", source=option,
                         expected=expected or f"a whole number >= {minimum}")
    return int(value)


# ----------------------------------------------------------------------------------------------- shared options


def check_a_threshold(value, option: str = "--a-threshold") -> float:
    """A_Brix threshold of a hypoxic voxel: a finite A_Brix value > 0 (the fit's A lies in [0, 10])."""
    return check_range(value, option, low=0, high=10, low_open=True,
                       expected=f"a positive, finite A_Brix value up to 10 (default {A_THRESHOLD:g})")


def check_hf_cutoff(value, option: str = "--hf-cutoff") -> float:
    """Hypoxic-fraction cutoff: a fraction in [0, 1]."""
    return check_range(value, option, low=0, high=1,
                       expected=f"a hypoxic fraction between 0 and 1 (default {HF_CUTOFF:g})")


def check_fraction_or_optimal(value, option: str) -> Union[float, str]:
    """A cutoff of a stage: 'optimal' or a finite number."""
    if isinstance(value, str) and value == "optimal":
        return value
    return _number(value, option, "a number or 'optimal'")


def check_min_prop(min_prop, max_prop=None) -> None:
    """Optimal cutoff: 0 < --min-prop < 0.5 and, when given, --min-prop < --max-prop <= 1."""
    low = check_range(min_prop, "--min-prop", low=0, high=0.5, low_open=True, high_open=True,
                      expected="a share of patients in (0, 0.5), e.g. 0.1")
    if max_prop is not None:
        check_range(max_prop, "--max-prop", low=low, high=1, low_open=True,
                    expected=f"a share of patients in ({low:g}, 1]")


def check_conf_level(value, option: str = "--conf-level") -> float:
    return check_range(value, option, low=0, high=1, low_open=True, high_open=True,
                       expected="a confidence level between 0 and 1, e.g. 0.95")


def check_label(value) -> Optional[int]:
    """``--label``: a label value of the tumour (0 is the background of a label map)."""
    if value is None:
        return None
    label = check_count(value, "--label", minimum=1,
                        expected="a label value >= 1 (0 is the background of a label map)")
    return label


def check_injection_duration(value, after_arrival_s: Optional[float] = None) -> float:
    """``--injection-duration``: seconds >= 0, and at most half the acquisition after the bolus arrival when that is
    known (:func:`~HypoxiaMarkersLib.imaging.timing.check_injection_duration_bound`, which the analysis applies
    again once the series is read)."""
    tau = check_range(value, "--injection-duration", low=0, expected="seconds >= 0 (0 = fast bolus)")
    if after_arrival_s is not None:
        from ..imaging.timing import check_injection_duration_bound  # numpy: imported when a stage runs

        check_injection_duration_bound(tau, after_arrival_s)
    return tau


def check_imaging_parameters(parameters) -> None:
    """The settings of ``ImagingParameters`` that a user gives, as the ``image`` command's options."""
    p = parameters
    check_a_threshold(p.a_threshold)
    check_hf_cutoff(p.hf_cutoff)
    check_count(p.biopsy_slice, "--biopsy-slice", minimum=1, expected="a slice number >= 1 (1 = most caudal)")
    if p.baseline_frames is not None:
        check_count(p.baseline_frames, "--baseline-frames", minimum=1, expected="a number of frames >= 1")
    check_injection_duration(p.injection_duration_s)
    check_range(p.signal_floor_fraction, "--signal-floor", low=0, high=1, high_open=True,
                expected="a fraction in [0, 1), e.g. 0.05")


def check_log2_offset(value) -> float:
    return check_range(value, "--log2-offset", low=0, expected="a finite offset >= 0 added before log2")


# --------------------------------------------------------------------------------------------------- outputs


def check_writable_location(target: PathLike, option: str = "--out") -> None:
    """Refuse, before any work, an output whose folder cannot be made: a parent that is a file, or read-only."""
    path = Path(target).absolute()
    parent = path.parent
    while not parent.exists():
        if parent.parent == parent:
            break
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise InputError(f"{option} {target}: {parent} is a file, so no folder can be made there; "
                         "choose an output in a folder")
    if parent.is_dir() and not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{option} {target}: the folder {parent} is not writable; choose an output in a "
                         "writable folder")


def prepare_output_dir(out: PathLike, inputs: Iterable[Optional[PathLike]] = (), *, force: bool = False,
                       option: str = "--out") -> Path:
    """Check, before any work, that ``out`` may become a result folder (see :func:`io.outputs.check_output_dir`)
    and that its folder can be made; return it as an absolute path."""
    from ..io.outputs import check_output_dir

    path = check_output_dir(out, [i for i in inputs if i is not None], force=force, option=option)
    check_writable_location(path, option)
    return path


def prepare_output_file(out: PathLike, inputs: Iterable[Optional[PathLike]] = (), *, option: str = "--out") -> Path:
    """Check, before any work, that ``out`` may become a result file (never an input, a folder, or in a file)."""
    from ..io.outputs import check_output_file

    path = check_output_file(out, [i for i in inputs if i is not None], option=option)
    check_writable_location(path, option)
    return path

