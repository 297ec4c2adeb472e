"""What the commands print besides their result line."""

from __future__ import annotations

import sys
from typing import Iterable


def print_warnings(warnings: Iterable[str]) -> None:
    """Each warning of a result on stderr as ``warning: ...`` (the result lines on stdout stay parseable)."""
    for text in warnings:
        print(f"warning: {text}", file=sys.stderr)
