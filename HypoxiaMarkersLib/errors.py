"""Errors that users see: each names the file, the field and what was expected."""

from __future__ import annotations

from typing import Optional


class InputError(ValueError):
    """Bad input given by the user (a file, a column, an option).

    The message always says where the problem is (``source``: a file or option), which part
    (``field``: a column, a tag, a header key, a row) and what was expected, so the user can fix it
    without reading a traceback. The command-line tool prints it and exits with status 2.

    Parameters
    ----------
    message : str
        What is wrong, in the user's words.
    source : str, optional
        The file, folder or option the problem is in.
    field : str, optional
        The column, tag, key or row within ``source``.
    expected : str, optional
        What was expected instead.
    """

    def __init__(
        self,
        message: str,
        *,
        source: Optional[str] = None,
        field: Optional[str] = None,
        expected: Optional[str] = None,
    ) -> None:
        self.source = None if source is None else str(source)
        self.field = field
        self.expected = expected
        self.reason = message
        super().__init__(self._compose())

    def _compose(self) -> str:
        where = []
        if self.source:
            where.append(self.source)
        if self.field:
            where.append(self.field)
        text = (": ".join(where) + ": " if where else "") + self.reason
        if self.expected:
            text += f" (expected {self.expected})"
        return text


class Cancelled(RuntimeError):
    """The user cancelled a long computation (a progress callback returned False)."""
