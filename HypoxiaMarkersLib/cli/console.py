"""What the commands print besides their result line."""

from __future__ import annotations

import sys
from typing import Iterable


def print_warnings(command: str, warnings: Iterable[str]) -> None:
    """Each warning of a result on its own line of stderr, ``hypoxia-markers COMMAND: warning: ...`` (as errors
    are printed), after stdout is flushed so that a progress bar or result line has ended (the result lines on
    stdout stay parseable)."""
    warnings = list(warnings)
    if not warnings:
        return
    sys.stdout.flush()
    for text in warnings:
        print(f"hypoxia-markers {command}: warning: {text}", file=sys.stderr, flush=True)
