"""Frame times and bolus arrival.

Frame times must be known in seconds and strictly increasing; they are never guessed. The bolus arrival
(the last pre-contrast frame) is found on the tumour's mean relative-signal curve.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..errors import InputError

HOW_TO_GIVE_TIMES = (
    "give the frame times with --times t0,t1,... (seconds, one per frame) or --frame-interval SECONDS"
)


def parse_times_option(text: str) -> np.ndarray:
    """Parse ``--times``: a comma-separated list of frame times in seconds."""
    try:
        values = [float(item) for item in str(text).replace(";", ",").split(",") if item.strip()]
    except ValueError as error:
        raise InputError(
            f"could not read the frame times: {error}", source="--times", expected="numbers separated by commas"
        ) from None
    return np.asarray(values, dtype=float)


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


def detect_baseline_frames(mean_signal: np.ndarray, *, rise_fraction: float = 0.1) -> int:
    """Number of pre-contrast (baseline) frames, from the tumour's mean signal curve.

    The bolus has arrived at the first frame whose relative signal increase over the first frame exceeds
    ``rise_fraction`` of the curve's peak increase, and clearly exceeds the frame-to-frame noise of the
    frames before it. Every frame before that one is baseline; the last of them is the arrival frame.

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
        If the curve does not enhance.
    """
    m = np.asarray(mean_signal, dtype=float)
    reference = m[0]
    if not reference > 0:
        raise InputError("the tumour's mean signal in the first frame is not positive", field="baseline signal",
                         expected="a positive pre-contrast signal")
    rel = m / reference - 1.0
    peak = float(np.max(rel))
    # Frame-to-frame noise of the relative signal, robustly from the differences of the first frames.
    early = np.diff(rel[: max(3, min(len(rel), 6))])
    noise = 1.4826 * float(np.median(np.abs(early - np.median(early)))) if early.size else 0.0
    if not peak > max(5.0 * noise, 1e-3):
        raise InputError(
            f"no contrast enhancement in the tumour (peak relative signal increase {peak:.3g})",
            field="DCE signal",
            expected="a rise of the tumour signal after the bolus",
        )
    # rel[0] is 0 by construction, so the first rising frame is at least frame 1.
    rising = np.flatnonzero(rel > max(rise_fraction * peak, 3.0 * noise))
    return int(rising[0])
