"""Reading the cells of a text table (plain or gzipped; separator and decimal mark) or an Excel sheet.

The format readers (:mod:`.table`, :mod:`.geo`, :mod:`.annotations`) find where each part of a file is; this
module turns a file into header, row labels and numeric body, naming the line or row of any bad cell."""

from __future__ import annotations

import gzip
import io
import re
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from ...errors import InputError
from .model import (
    _EXCEL_SUFFIXES,
    MISSING_TOKENS,
    PROBE_ID_PATTERNS,
)

# --------------------------------------------------------------------------------------------------------------
# Small helpers


def _normalise_name(name: str) -> str:
    return re.sub(r"[\s._\-]+", "", str(name)).lower()


def _read_bytes(path: Path, source: str) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", source=source, expected="an existing file") from None
    except IsADirectoryError:
        raise InputError("is a folder", source=source, expected="a file") from None
    except OSError as error:
        raise InputError(f"cannot read the file ({error.strerror})", source=source) from None
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as error:
            raise InputError(f"damaged gzip file ({error})", source=source, expected="a complete .gz file") from None
    return data


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Older Excel exports on Windows are cp1252/latin-1; every byte decodes, so this never fails.
        return data.decode("latin-1")


def _is_excel(path: Path, data: bytes) -> bool:
    return path.suffix.lower() in _EXCEL_SUFFIXES or data[:4] == b"PK\x03\x04" or data[:4] == b"\xd0\xcf\x11\xe0"


def _guess_separator(line: str) -> str:
    # The header line decides: tab wins when present, else the more frequent of ';' (European CSV) and ','.
    if "\t" in line:
        return "\t"
    return ";" if line.count(";") > line.count(",") else ","


def _leading_comment_lines(lines: Sequence[str], prefixes: Tuple[str, ...] = ("#",)) -> int:
    count = 0
    for line in lines:
        if line.startswith(prefixes):
            count += 1
        else:
            break
    return count


def _read_delimited(text: str, *, source: str, sep: Optional[str] = None, header: bool = False) -> pd.DataFrame:
    """Parse delimited text with pandas, every cell as stripped text ("" for an empty cell)."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    sep = sep or _guess_separator(first)
    try:
        frame = pd.read_csv(
            io.StringIO(text), sep=sep, header=0 if header else None, dtype=str, keep_default_na=False,
            na_filter=False, skip_blank_lines=False, quotechar='"', engine="c",
        )
    except pd.errors.EmptyDataError:
        raise InputError("no table found", source=source, expected="a header line and data lines") from None
    except pd.errors.ParserError as error:
        raise InputError(f"the table is not rectangular ({error})", source=source,
                         expected="the same number of fields on every line") from None
    frame = frame.fillna("")
    return frame.apply(lambda column: column.astype(str).str.strip())


def _read_excel(path: Path, *, source: str, sheet: Union[str, int, None], header: bool = False) -> pd.DataFrame:
    try:
        frame = pd.read_excel(path, sheet_name=0 if sheet is None else sheet, header=0 if header else None,
                              dtype=str, keep_default_na=False, na_filter=False)
    except ValueError as error:  # unknown sheet, not a workbook
        raise InputError(f"cannot read the workbook ({error})", source=source, field=f"sheet {sheet}"
                         if sheet is not None else None, expected="an Excel workbook with that sheet") from None
    except Exception as error:  # openpyxl/zipfile raise many kinds for damaged files
        raise InputError(f"cannot read the workbook ({type(error).__name__}: {error})", source=source,
                         expected="an .xlsx workbook") from None
    frame = frame.fillna("")
    return frame.apply(lambda column: column.astype(str).str.strip())


def _read_value_table(text: str, *, source: str, sep: Optional[str], decimal: str
                      ) -> Tuple[List[str], List[str], pd.DataFrame]:
    """Parse an expression table with pandas: header labels, row labels, and the body (numbers where possible).

    Numeric columns are parsed by pandas' C parser with round-trip precision (values are exact); columns holding
    any text stay as text and are checked cell by cell afterwards, so a bad value can be reported with its place.
    """
    first = next((line for line in text.splitlines() if line.strip()), "")
    sep = sep or _guess_separator(first)
    options = dict(sep=sep, header=None, quotechar='"', engine="c", skip_blank_lines=False)
    try:
        head = pd.read_csv(io.StringIO(text), nrows=1, dtype=str, keep_default_na=False, na_filter=False, **options)
        width = head.shape[1]
        tokens = sorted(MISSING_TOKENS | {t.upper() for t in MISSING_TOKENS} | {t.title() for t in MISSING_TOKENS}
                        | {"NaN", "#N/A"})
        body = pd.read_csv(io.StringIO(text), skiprows=1, dtype={0: str}, keep_default_na=False,
                           na_values={j: tokens for j in range(1, width)}, decimal=decimal,
                           float_precision="round_trip", names=range(width), **options)
    except pd.errors.EmptyDataError:
        raise InputError("no table found", source=source, expected="a header line and data lines") from None
    except pd.errors.ParserError as error:
        raise InputError(f"the table is not rectangular ({error})", source=source,
                         expected="the same number of fields on every line") from None
    except ValueError as error:  # e.g. more fields in a data line than in the header
        raise InputError(f"the table is not rectangular ({error})", source=source,
                         expected="the same number of fields on every line as in the header line") from None
    header = [str(v).strip() for v in head.iloc[0]]
    labels = [str(v).strip() for v in body[0].fillna("")]
    return header, labels, body.drop(columns=0).set_axis(range(width - 1), axis=1)


def _read_excel_values(path: Path, *, source: str, sheet: Union[str, int, None]
                       ) -> Tuple[List[str], List[str], pd.DataFrame]:
    """Read an Excel sheet: header labels, row labels and the body (numbers as stored in the cells)."""
    try:
        frame = pd.read_excel(path, sheet_name=0 if sheet is None else sheet, header=None)
    except ValueError as error:  # unknown sheet, not a workbook
        raise InputError(f"cannot read the workbook ({error})", source=source,
                         field=f"sheet {sheet!r}" if sheet is not None else None,
                         expected="an Excel workbook with that sheet") from None
    except Exception as error:  # openpyxl/zipfile raise many kinds for damaged files
        raise InputError(f"cannot read the workbook ({type(error).__name__}: {error})", source=source,
                         expected="an .xlsx workbook") from None
    if frame.shape[0] < 1 or frame.shape[1] < 1:
        raise InputError("the sheet is empty", source=source, expected="a header row and data rows")
    header = [_text_of(v) for v in frame.iloc[0]]
    labels = [_text_of(v) for v in frame.iloc[1:, 0]]
    body = frame.iloc[1:, 1:].reset_index(drop=True)
    body.columns = range(body.shape[1])
    return header, labels, body.infer_objects()


def _text_of(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Excel stores 1 as 1.0; a label "1" should stay "1"
    return str(value).strip()


def _cell_values(body: pd.DataFrame, decimal: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Numbers (exact), missing mask and non-numeric mask of the table body."""
    shape = body.shape
    numbers = np.full(shape, np.nan)
    missing = np.zeros(shape, dtype=bool)
    bad = np.zeros(shape, dtype=bool)
    for j in range(shape[1]):
        column = body.iloc[:, j]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            values = column.to_numpy(dtype=float)
            missing[:, j] = np.isnan(values)
            bad[:, j] = np.isinf(values)
            numbers[:, j] = np.where(bad[:, j], np.nan, values)
            continue
        # A column with text: find the missing tokens and the cells that are not numbers, parse the rest exactly.
        text = column.map(_text_of)
        is_missing = text.str.lower().isin(MISSING_TOKENS).to_numpy()
        if decimal == ",":
            text = text.str.replace(",", ".", regex=False)
        parsed = pd.to_numeric(text.where(~is_missing), errors="coerce").to_numpy(dtype=float)
        is_bad = ~is_missing & ~np.isfinite(parsed)
        good = ~is_missing & ~is_bad
        exact = np.full(len(text), np.nan)
        exact[good] = text[good].to_numpy(dtype=str).astype(float)  # Python's parser: correctly rounded
        numbers[:, j], missing[:, j], bad[:, j] = exact, is_missing, is_bad
    return numbers, missing, bad


def _looks_like_probe(label: str) -> bool:
    return any(p.match(label) for p in PROBE_ID_PATTERNS)


def _table_between(lines: List[str], begin: str, end: str, *, source: str) -> Tuple[int, int]:
    lower = [line.strip().lower() for line in lines]
    try:
        start = lower.index(begin)
    except ValueError:
        raise InputError(f"no {begin} line", source=source, expected=f"a table between {begin} and {end}") from None
    try:
        stop = lower.index(end, start + 1)
    except ValueError:
        raise InputError(f"no {end} line after {begin} (is the file truncated?)", source=source,
                         field=f"line {len(lines)}", expected=f"the table to end with {end}") from None
    return start, stop
