"""Reading tables (cohort tables, manifests, long-format values, per-biopsy scores): one reader for every command.

CSV, TSV or other delimited text (the delimiter is detected from the header: comma, tab or semicolon), plain or
gzipped (``.gz``), with or without a UTF-8 byte-order mark, and Excel workbooks. Problems are an
:class:`~HypoxiaMarkersLib.errors.InputError` naming the file (and the column, for a missing one).
"""

from __future__ import annotations

import csv
import gzip
import zlib
from pathlib import Path
from typing import Optional, Sequence, Union

from ..errors import InputError

EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")
DELIMITERS = ",\t;"


def _suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def _header_line(path: Path) -> str:
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
        return handle.readline()


def _delimiter(path: Path, header: str) -> str:
    try:
        return csv.Sniffer().sniff(header, delimiters=DELIMITERS).delimiter
    except csv.Error:
        # One column, or nothing to go on: the extension says it.
        return "\t" if _suffix(path) in (".tsv", ".tab", ".txt") else ","


def read_table(
    path: Union[str, Path],
    *,
    sheet: Optional[Union[str, int]] = None,
    text: bool = False,
    required: Sequence[str] = (),
    rows_required: bool = False,
    what: str = "table",
    skip_initial_space: bool = False,
):
    """Read a table with a header row into a DataFrame (column names stripped of surrounding spaces).

    Parameters
    ----------
    path : str or Path
        ``.csv``, ``.tsv``, ``.txt`` (any of them optionally ``.gz``) or an Excel workbook.
    sheet : str or int, optional
        Excel sheet (default: the first).
    text : bool
        Keep every cell as text, empty cells as ``""`` (the caller converts and names the bad cell); otherwise
        pandas infers numbers and reads empty cells as NaN.
    required : sequence of str
        Columns that must be present; a missing one is an error naming it and the columns found.
    rows_required : bool
        A table with a header but no rows is an error.
    what : str
        What the table is, for the messages (``"cohort table"``, ``"manifest"``).
    skip_initial_space : bool
        Ignore spaces after a delimiter.

    Returns
    -------
    pandas.DataFrame
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", source=str(path), expected=f"a CSV, TSV or Excel {what}")
    try:
        if _suffix(path) in EXCEL_SUFFIXES:
            table = pd.read_excel(path, sheet_name=0 if sheet is None else sheet, dtype=str if text else None,
                                  keep_default_na=not text)
            if text:
                table = table.fillna("")
        else:
            header = _header_line(path)
            if not header.strip():
                raise InputError("the file is empty", source=str(path), expected=f"a {what} with a header row")
            # Numbers exactly as written: pandas' fast float parser (and its python engine) can be one unit in the
            # last place off Python's float() (0.13203166666666663 -> 0.1320316666666666), so a value written by
            # one stage would not be the value the next stage reads; "round_trip" parses as float() does.
            table = pd.read_csv(path, sep=_delimiter(path, header), engine="c", float_precision="round_trip",
                                encoding="utf-8-sig", dtype=str if text else None, keep_default_na=not text,
                                skipinitialspace=skip_initial_space)
    except InputError:
        raise
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:  # a truncated or damaged .gz
        raise InputError(f"the compressed file is damaged or truncated ({error})", source=str(path),
                         expected="a complete compressed file (copy it again)") from None
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError, OSError, csv.Error) as error:
        raise InputError(f"cannot read the table: {error}", source=str(path),
                         expected=f"a CSV, TSV or Excel {what} with a header row") from None
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}", source=str(path), field="header",
                         expected=f"columns {', '.join(required)} (found {', '.join(table.columns)})")
    if rows_required and table.empty:
        raise InputError("the table has no rows", source=str(path), expected=f"a {what} with one row per patient")
    return table


def check_columns(table, columns: Sequence[str], *, source: str, option: Optional[str] = None) -> None:
    """Every name of ``columns`` must be a column of ``table``: else an error naming the first one missing."""
    for column in columns:
        if column not in table.columns:
            raise InputError(f"column {column!r} not found", source=source, field=option or column,
                             expected="one of " + ", ".join(map(str, table.columns)))
