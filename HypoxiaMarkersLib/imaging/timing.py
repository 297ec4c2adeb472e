"""Frame times and bolus arrival.

Frame times must be known in seconds and strictly increasing; they are never guessed. The bolus arrival
(the last pre-contrast frame) is found on the tumour's mean relative-signal curve.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..errors import InputError

HOW_TO_GIVE_TIMES = (
    "give the frame times with --times t0,t1,... or --times FILE (seconds, one per frame) or --frame-interval SECONDS"
)


#: The Brix model's rates are per minute and its times in minutes; series times are in seconds.
SECONDS_PER_MINUTE = 60.0

#: Time units of frame-time axes and sequence indices (NRRD axis units, Slicer index units), in seconds.
SECONDS_PER_UNIT = {
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "ms": 1e-3, "msec": 1e-3, "millisecond": 1e-3, "milliseconds": 1e-3,
    "us": 1e-6, "usec": 1e-6, "microsecond": 1e-6, "microseconds": 1e-6,
    "min": SECONDS_PER_MINUTE, "mins": SECONDS_PER_MINUTE, "minute": SECONDS_PER_MINUTE,
    "minutes": SECONDS_PER_MINUTE,
}

def parse_times_option(text: str) -> np.ndarray:
    """Parse ``--times``: frame times in seconds, comma-separated, or the path of a text file of times (one per
    line or separated by commas, spaces or semicolons, e.g. a ``times_s.txt`` written by this tool)."""
    text = str(text)
    source = "--times"
    path = Path(text.strip())
    if text.strip() and not _looks_like_numbers(text) and path.is_file():
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise InputError(f"could not read the file of frame times ({error})", source=source,
                             expected="a text file of times in seconds") from None
    items = re.split(r"[,;\s]+", text.strip())
    try:
        values = [float(item) for item in items if item]
    except ValueError as error:
        raise InputError(
            f"could not read the frame times: {error}", source=source,
            expected="numbers (seconds) separated by commas, or a file of them",
        ) from None
    if not values:
        raise InputError("no frame times given", source=source, expected="one time in seconds per frame")
    return np.asarray(values, dtype=float)


def _looks_like_numbers(text: str) -> bool:
    return re.fullmatch(r"[\s,;0-9eE+\-.]+", text) is not None


def check_frame_times(times: Optional[Sequence[float]], n_frames: int, source: str) -> np.ndarray:
    """Validate frame times (seconds) for a series of ``n_frames`` frames.

    Parameters
    ----------
    times : sequence of float or None
        Times in seconds, one per frame.
    n_frames : int
        Number of frames in the series.
    source : str
        Where the times came from, for the error message (a file, a DICOM tag, an option).

    Returns
    -------
    ndarray
        The times as floats.

    Raises
    ------
    InputError
        If times are missing, of the wrong count, not finite, or not strictly increasing.
    """
    if times is None:
        raise InputError(f"the frame times are not known; {HOW_TO_GIVE_TIMES}", source=source, field="frame times")
    times = np.asarray(times, dtype=float).ravel()
    if times.size != n_frames:
        raise InputError(
            f"{times.size} frame times for {n_frames} frames; {HOW_TO_GIVE_TIMES}",
            source=source,
            field="frame times",
            expected=f"{n_frames} values",
        )
    if not np.all(np.isfinite(times)):
        raise InputError(f"frame times contain NaN or infinity; {HOW_TO_GIVE_TIMES}", source=source,
                         field="frame times", expected="finite numbers of seconds")
    steps = np.diff(times)
    if np.any(steps <= 0):
        bad = int(np.argmax(steps <= 0))
        raise InputError(
            f"frame times are not strictly increasing (frame {bad + 1}: {times[bad]:g} s, frame {bad + 2}: "
            f"{times[bad + 1]:g} s); {HOW_TO_GIVE_TIMES}",
            source=source,
            field="frame times",
            expected="strictly increasing times in seconds",
        )
    return times


#: How the user sets the baseline frames when the automatic detection cannot be used (CLI and Slicer names).
HOW_TO_GIVE_BASELINE = (
    "if the tumour does enhance, give the number of pre-contrast frames (the frames before the bolus arrives; "
    "clinical protocols often have 2-5) with --baseline-frames N (in Slicer: Baseline frames)"
)


def check_injection_duration_bound(tau_s: float, after_arrival_s: float) -> float:
    """The injection duration (seconds) at most half the acquisition after the bolus arrival, so that at least as
    long again is left for the washout: a longer injection leaves too little of the curve to fit, and A_Brix ends on
    its bound (every voxel "fitted" at a bound, worse than a flat line: issue 16).

    Parameters
    ----------
    tau_s : float
        The injection duration in seconds (``--injection-duration``; in Slicer: Injection duration).
    after_arrival_s : float
        Seconds from the last baseline frame to the last frame.

    Returns
    -------
    float
        ``tau_s``.

    Raises
    ------
    InputError
        Naming ``--injection-duration`` and the longest duration this series allows.
    """
    if tau_s > after_arrival_s / 2:
        raise InputError(f"{tau_s:g} s is longer than half the acquisition after the bolus "
                         f"arrival ({after_arrival_s:g} s from the last baseline frame to the last frame): too "
                         "little of the washout would be left to fit",
                         source="--injection-duration",
                         expected=f"seconds in [0, {after_arrival_s / 2:g}] (clinical injections last seconds; "
                                  "0 = fast bolus)")
    return tau_s


def curve_noise(curve: np.ndarray) -> float:
    """Frame-to-frame noise (standard deviation of one frame) of a signal curve, robust to the bolus.

    White noise of SD sigma gives first differences of SD sigma * sqrt(2). The upslope (and a wash-out) add a few
    large or shifted differences; the median absolute deviation of all the curve's differences ignores them as
    long as they are fewer than half, so no frame needs to be known as pre-contrast beforehand (the first frames
    of a short baseline already contain the upslope).

    Parameters
    ----------
    curve : ndarray, shape (n_frames,)

    Returns
    -------
    float
        The noise SD in the units of ``curve`` (0 for fewer than three frames or a noise-free curve).
    """
    steps = np.diff(np.asarray(curve, dtype=float))
    steps = steps[np.isfinite(steps)]
    if steps.size < 2:
        return 0.0
    return 1.4826 * float(np.median(np.abs(steps - np.median(steps)))) / np.sqrt(2.0)


def detect_baseline_frames(mean_signal: np.ndarray, *, rise_fraction: float = 0.1) -> int:
    """Number of pre-contrast (baseline) frames, from the tumour's mean signal curve.

    The bolus has arrived at the first frame whose relative signal increase over the first frame exceeds
    ``rise_fraction`` of the curve's peak increase and three times the curve's frame-to-frame noise
    (:func:`curve_noise`, estimated over the whole curve). Every frame before that one is baseline; the last of
    them is the arrival frame. A curve whose peak increase is not above five times the noise does not enhance.

    Parameters
    ----------
    mean_signal : ndarray, shape (n_frames,)
        Mean signal of the tumour in each frame.
    rise_fraction : float
        Fraction of the peak enhancement that counts as a clear rise (default 0.1).

    Returns
    -------
    int
        The number of baseline frames (>= 1).

    Raises
    ------
    InputError
        If the curve does not enhance (the message says how to give the baseline frames instead).
    """
    m = np.asarray(mean_signal, dtype=float)
    reference = m[0]
    if not reference > 0:
        raise InputError("the tumour's mean signal in the first frame is not positive", field="baseline signal",
                         expected="a positive pre-contrast signal")
    rel = m / reference - 1.0
    peak = float(np.max(rel))
    noise = curve_noise(rel)
    if not peak > max(5.0 * noise, 1e-3):
        raise InputError(
            f"no contrast enhancement found in the tumour's mean curve (peak relative signal increase {peak:.3g}, "
            f"not above 5 x its frame-to-frame noise {noise:.3g}); {HOW_TO_GIVE_BASELINE}",
            field="DCE signal",
            expected="a rise of the tumour signal after the bolus",
        )
    # rel[0] is 0 by construction, so the first rising frame is at least frame 1.
    rising = np.flatnonzero(rel > max(rise_fraction * peak, 3.0 * noise))
    return int(rising[0])
