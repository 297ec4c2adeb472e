"""Progress reporting that works the same on the command line (tqdm) and in Slicer (a progress dialog).

Long computations take ``progress``: a callable ``progress(done, total)`` called between chunks of work.
If it returns ``False`` the computation stops and raises :class:`~HypoxiaMarkersLib.errors.Cancelled`.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Callable, ContextManager, Iterator, Optional

from .errors import Cancelled

ProgressCallback = Callable[[int, int], Optional[bool]]


def report(progress: Optional[ProgressCallback], done: int, total: int) -> None:
    """Call ``progress`` if given; raise :class:`Cancelled` when it asks to stop."""
    if progress is not None and progress(done, total) is False:
        raise Cancelled("cancelled by the user")


@contextmanager
def progress_bar(description: str, *, unit: str = "voxel", enabled: bool = True) -> Iterator[ProgressCallback]:
    """A tqdm bar on stderr, yielded as a progress callback.

    Only on a terminal: on a pipe or a log file a bar redrawn with carriage returns becomes one long line that
    swallows the warnings printed meanwhile, so there the bar is off.
    """
    import sys

    from tqdm import tqdm

    enabled = enabled and _is_terminal(sys.stderr)
    bar = tqdm(desc=description, unit=unit, unit_scale=True, disable=not enabled, leave=False)
    shown = warnings.showwarning
    if enabled:
        # A warning raised while the bar is drawn goes on its own line, above the bar (not glued to it).
        def show(message, category, filename, lineno, file=None, line=None):
            text = warnings.formatwarning(message, category, filename, lineno, line)
            tqdm.write(text.rstrip("\n"), file=file or sys.stderr)

        warnings.showwarning = show

    def update(done: int, total: int) -> None:
        if bar.total != total:
            bar.total = total
        # update() (not refresh) so that tqdm limits how often it redraws
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        warnings.showwarning = shown
        bar.close()


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


#: A progress factory: ``factory(description, unit=...)`` gives a context manager yielding a progress callback
#: (:func:`progress_bar` on the command line), so that a stage shows one bar per step.
ProgressFactory = Callable[..., ContextManager[Optional[ProgressCallback]]]


@contextmanager
def no_progress(description: str = "", *, unit: str = "") -> Iterator[Optional[ProgressCallback]]:
    """A progress factory that reports nothing."""
    yield None
