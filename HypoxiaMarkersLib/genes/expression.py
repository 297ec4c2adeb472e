"""Reading gene-expression data in the shapes labs send it, into one genes × samples table of log2 values.

Supported inputs (all parsed by pandas; the reader only finds where each part of a file is):

- CSV / TSV / text tables (plain or gzipped) and Excel workbooks, genes × samples or samples × genes. The first
  column holds the row labels, the first row the column labels. Which axis holds the genes is detected from the
  labels (gene symbols and aliases of the signature, probe IDs of the probe map, common array probe-ID patterns)
  and can be forced with ``orientation``. Columns (or rows) holding only text are annotations: on the sample axis
  they become sample annotations (e.g. a ``patient`` column), on the gene axis gene annotations (e.g. a
  ``Symbol`` column beside probe IDs, used as the gene symbols when no probe map is given).
- GEO series-matrix files, plain or gzipped: ``!Series_…`` and ``!Sample_…`` header lines, then the table between
  ``!series_matrix_table_begin`` and ``!series_matrix_table_end`` (probe IDs in the first column, one column per
  GSM sample, ``null`` for missing values). Sample titles, accessions and characteristics (``key: value``) are
  kept as sample annotations.
- A probe → gene-symbol map from a platform annotation table (CSV/TSV/Excel, a GEO platform ``.annot``/SOFT file
  with ``!platform_table_begin``, or an Illumina manifest table), columns chosen by name.

Values must be log2 expression. Linear-scale data are detected (range and skew) and refused with advice, or
log2-transformed on request.
"""

from __future__ import annotations

import gzip
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple, Union

import numpy as np
import pandas as pd

from ..errors import InputError

ORIENTATIONS = ("genes-by-samples", "samples-by-genes")

#: Cell texts read as a missing value (case-insensitive): GEO writes ``null``, R ``NA``, Excel ``#N/A``.
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "#n/a"})

#: Row-label patterns of common array probe IDs (Illumina, Affymetrix, Agilent), used to detect orientation.
PROBE_ID_PATTERNS = (
    re.compile(r"^ILMN_\d+$", re.IGNORECASE),
    re.compile(r"^\d+(_[a-z]+)*_at$", re.IGNORECASE),
    re.compile(r"^A_\d+_P\d+$", re.IGNORECASE),
)

#: Column names (compared lower-case without spaces, dots, dashes or underscores) tried, in order, for a probe
#: map's probe-ID column and gene-symbol column, and for a gene-symbol annotation column in an expression table.
PROBE_COLUMN_NAMES = ("id", "idref", "probeid", "probe", "probename", "probesetid", "probeset")
SYMBOL_COLUMN_NAMES = ("symbol", "genesymbol", "genesymbols", "hgncsymbol", "ilmngene", "gene")

#: Scale check: log2 expression never reaches this value (2**50 is ~1e15-fold); a 99th percentile above it
#: means linear intensities or counts.
LOG2_CEILING = 50.0
#: Scale check for positive data below the ceiling: linear values span many doublings with a long right tail.
LINEAR_MIN_RATIO = 64.0
LINEAR_MIN_SKEW = 2.0

_EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")


@dataclass(frozen=True)
class ScaleCheck:
    """Whether expression values look linear rather than log2, and the numbers the call rests on.

    Attributes
    ----------
    looks_linear : bool
    reason : str
        One sentence giving the rule that decided.
    minimum, maximum, median, q99, skewness : float
        Of all finite values.
    n_values : int
    """

    looks_linear: bool
    reason: str
    minimum: float
    maximum: float
    median: float
    q99: float
    skewness: float
    n_values: int

    def to_dict(self) -> Dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ProbeMap:
    """Probe ID → gene symbol, from a platform annotation table.

    Attributes
    ----------
    symbols : pandas.Series
        Indexed by probe ID (str); values are gene symbols (several separated by ``///`` are allowed, as in GEO).
    source : str
    probe_column, symbol_column : str
        The columns used.
    """

    symbols: pd.Series
    source: str
    probe_column: str
    symbol_column: str


@dataclass
class ExpressionData:
    """Log2 expression as a genes × samples table, with what is known about rows and samples.

    Attributes
    ----------
    values : pandas.DataFrame
        float64, rows = features (probe IDs or gene symbols; made unique by appending `` [2]``, `` [3]`` to
        repeated labels), columns = sample IDs (unique), NaN = missing.
    symbols : pandas.Series
        Gene symbol(s) of each row, indexed like ``values`` ("" when unknown).
    sample_annotations : pandas.DataFrame
        One row per sample (indexed like ``values.columns``): GEO titles and characteristics, or the text columns
        of a samples × genes table.
    source : str
        The file read.
    orientation : str
        The file's layout, one of :data:`ORIENTATIONS`.
    orientation_reason : str
        Given by the user, or how it was detected.
    gene_source : str
        Where the gene symbols came from (row labels, a probe map, an annotation column).
    log2_transformed : bool
        True when the reader applied log2 (``log2=True``).
    log2_offset : float
    scale : ScaleCheck or None
        The scale check of the values as read (None if skipped).
    metadata : dict
        File-level facts (GEO ``!Series_`` fields, the Excel sheet).
    warnings : list of str
    """

    values: pd.DataFrame
    symbols: pd.Series
    sample_annotations: pd.DataFrame
    source: str
    orientation: str = "genes-by-samples"
    orientation_reason: str = ""
    gene_source: str = "row labels"
    log2_transformed: bool = False
    log2_offset: float = 0.0
    scale: Optional[ScaleCheck] = None
    metadata: Dict[str, Any] = field(default_factory=dict)
    warnings: List[str] = field(default_factory=list)

    @property
    def samples(self) -> List[str]:
        """Sample IDs, in file order."""
        return [str(s) for s in self.values.columns]


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


# --------------------------------------------------------------------------------------------------------------
# Scale check


def check_scale(values: Union[np.ndarray, pd.DataFrame]) -> ScaleCheck:
    """Decide whether expression values look linear (intensities, counts, fold changes) instead of log2.

    Rules, in order (documented in docs/genes.md):

    1. 99th percentile above :data:`LOG2_CEILING` (50): linear. No log2 expression comes near 50.
    2. All values positive, ``max / min`` above :data:`LINEAR_MIN_RATIO` (64, six doublings) and skewness above
       :data:`LINEAR_MIN_SKEW` (2): linear. Linear data spread over orders of magnitude with a long right tail;
       log2 data (e.g. 5–15 on arrays) are bounded and near-symmetric.
    3. Otherwise log2 (negative values, as in centred or ΔCt-based log2 data, are never linear).

    Parameters
    ----------
    values : array or DataFrame
        Any shape; NaNs are ignored.
    """
    data = np.asarray(values, dtype=float).ravel()
    data = data[np.isfinite(data)]
    if data.size == 0:
        return ScaleCheck(False, "no values", np.nan, np.nan, np.nan, np.nan, np.nan, 0)
    minimum, maximum = float(data.min()), float(data.max())
    median, q99 = (float(v) for v in np.percentile(data, [50, 99]))
    sd = data.std()
    skewness = float(np.mean((data - data.mean()) ** 3) / sd**3) if sd > 0 else 0.0
    if q99 > LOG2_CEILING:
        linear, reason = True, f"99th percentile {q99:.4g} is above {LOG2_CEILING:g}, beyond any log2 expression"
    elif minimum > 0 and maximum / minimum > LINEAR_MIN_RATIO and skewness > LINEAR_MIN_SKEW:
        linear, reason = True, (
            f"all values are positive, spanning {maximum / minimum:.3g}-fold (> {LINEAR_MIN_RATIO:g}) with "
            f"skewness {skewness:.3g} (> {LINEAR_MIN_SKEW:g}), as linear values do"
        )
    else:
        linear, reason = False, (
            f"values from {minimum:.4g} to {maximum:.4g} (99th percentile {q99:.4g}, skewness {skewness:.3g}) "
            "fit a log2 scale"
        )
    return ScaleCheck(linear, reason, minimum, maximum, median, q99, skewness, int(data.size))


# --------------------------------------------------------------------------------------------------------------
# Probe map


def _choose_column(columns: Sequence[str], wanted: Optional[str], candidates: Sequence[str], *, source: str,
                   what: str, option: str, exclude: Iterable[str] = ()) -> str:
    columns = [str(c) for c in columns]
    listed = ", ".join(repr(c) for c in columns[:30])
    if wanted is not None:
        if wanted in columns:
            return wanted
        folded = [c for c in columns if c.lower() == wanted.lower()]
        if len(folded) == 1:
            return folded[0]
        raise InputError(f"no column named {wanted!r} ({option})", source=source, field=option,
                         expected=f"one of the columns {listed}")
    normalised = {_normalise_name(c): c for c in reversed(columns) if c not in set(exclude)}
    for candidate in candidates:
        if candidate in normalised:
            return normalised[candidate]
    raise InputError(f"no {what} column found", source=source, field="header",
                     expected=f"a column named like {', '.join(candidates)}, or name it with {option}; "
                              f"columns are {listed}")


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


def read_probe_map(path: Union[str, Path], *, probe_column: Optional[str] = None,
                   symbol_column: Optional[str] = None, sheet: Union[str, int, None] = None) -> ProbeMap:
    """Read a probe → gene-symbol map from a platform annotation table.

    Parameters
    ----------
    path : str or Path
        CSV/TSV/text (plain or gzipped), Excel, or a GEO platform SOFT/annot file (the table between
        ``!platform_table_begin`` and ``!platform_table_end``). Leading ``#`` lines are skipped.
    probe_column, symbol_column : str, optional
        Column names; by default the first column named like :data:`PROBE_COLUMN_NAMES` (``ID``, ``Probe_Id``, …)
        and :data:`SYMBOL_COLUMN_NAMES` (``Symbol``, ``Gene symbol``, ``ILMN_Gene``, …).
    sheet : str or int, optional
        Excel sheet (default: the first).

    Returns
    -------
    ProbeMap

    Raises
    ------
    InputError
        No such column, a probe listed twice with different symbols, or no probe with a symbol.
    """
    path = Path(path)
    source = str(path)
    data = _read_bytes(path, source)
    if _is_excel(path, data):
        frame = _read_excel(path, source=source, sheet=sheet, header=True)
        line_offset = 2
    else:
        lines = _decode(data).splitlines()
        if any(line.strip().lower() == "!platform_table_begin" for line in lines[:100000]):
            start, stop = _table_between(lines, "!platform_table_begin", "!platform_table_end", source=source)
            body, line_offset = lines[start + 1:stop], start + 3
        else:
            skip = _leading_comment_lines(lines, ("#", "!", "^"))
            body, line_offset = lines[skip:], skip + 2
        frame = _read_delimited("\n".join(body), source=source, header=True)
    columns = [str(c) for c in frame.columns]
    probe_col = _choose_column(columns, probe_column, PROBE_COLUMN_NAMES, source=source, what="probe ID",
                               option="--probe-column")
    symbol_col = _choose_column(columns, symbol_column, SYMBOL_COLUMN_NAMES, source=source, what="gene symbol",
                                option="--symbol-column", exclude=[probe_col])
    table = pd.DataFrame({"probe": frame[probe_col].to_numpy(), "symbol": frame[symbol_col].to_numpy()})
    table["line"] = np.arange(len(table)) + line_offset
    table = table[(table["probe"] != "") & (table["symbol"] != "")]
    if table.empty:
        raise InputError(f"no probe has a gene symbol in column {symbol_col!r}", source=source, field=symbol_col,
                         expected="gene symbols next to the probe IDs")
    first = table.drop_duplicates("probe")
    conflicts = table[table.duplicated("probe", keep=False)].groupby("probe")["symbol"].nunique()
    conflicts = conflicts[conflicts > 1]
    if len(conflicts):
        probe = conflicts.index[0]
        rows = table[table["probe"] == probe]
        where = ", ".join(f"line {ln}: {sym}" for ln, sym in zip(rows["line"], rows["symbol"]))
        raise InputError(f"probe {probe!r} is listed with different symbols ({where})", source=source,
                         field=probe_col, expected="one gene symbol per probe ID")
    symbols = pd.Series(first["symbol"].to_numpy(), index=first["probe"].to_numpy(), name="symbol")
    return ProbeMap(symbols=symbols, source=source, probe_column=probe_col, symbol_column=symbol_col)


# --------------------------------------------------------------------------------------------------------------
# Expression tables


@dataclass
class _Grid:
    """A file's table: header labels (corner first), row labels, body, and how to name a row for the user."""

    header: List[str]  # the header line, corner cell first
    labels: List[str]  # first column of each body row
    body: pd.DataFrame  # values, positional columns 0..n-1 (numbers where pandas could parse them)
    source: str
    locate_row: Callable[[int], str]  # body row position -> "line 12" / "row 12"


def _where(grid: _Grid, position: int, label: str) -> str:
    return f"{grid.locate_row(position)} (row {label!r})" if label else grid.locate_row(position)


def _known_feature_labels(signature: Any, probe_map: Optional[ProbeMap]) -> Tuple[Set[str], Set[str]]:
    names: Set[str] = set()
    for gene in getattr(signature, "genes", ()):
        names.update(n.upper() for n in gene.names)
    probes: Set[str] = set(probe_map.symbols.index) if probe_map is not None else set()
    return names, probes


def _feature_hits(labels: Sequence[str], names: Set[str], probes: Set[str]) -> int:
    return sum(1 for lab in labels if lab.upper() in names or lab in probes or _looks_like_probe(lab))


def _detect_orientation(row_labels: List[str], col_labels: List[str], names: Set[str],
                        probes: Set[str]) -> Tuple[str, str]:
    row_hits = _feature_hits(row_labels, names, probes)
    col_hits = _feature_hits(col_labels, names, probes)
    row_share = row_hits / max(len(row_labels), 1)
    col_share = col_hits / max(len(col_labels), 1)
    if row_hits or col_hits:
        if row_share >= col_share:
            return "genes-by-samples", (f"detected: {row_hits} row labels are signature genes or probe IDs, "
                                        f"{col_hits} column labels")
        return "samples-by-genes", (f"detected: {col_hits} column labels are signature genes or probe IDs, "
                                    f"{row_hits} row labels")
    if len(row_labels) >= len(col_labels):
        return "genes-by-samples", ("assumed: no label is a signature gene or probe ID; more rows than columns, "
                                    "as in genes × samples tables (override with --orientation)")
    return "samples-by-genes", ("assumed: no label is a signature gene or probe ID; more columns than rows "
                                "(override with --orientation)")


def _unique_labels(labels: List[str]) -> Tuple[List[str], List[str]]:
    seen: Dict[str, int] = {}
    out, repeated = [], []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            repeated.append(label)
            out.append(f"{label} [{seen[label]}]")
        else:
            out.append(label)
    return out, repeated


def _grid_to_expression(
    grid: _Grid,
    *,
    orientation: Optional[str],
    signature: Any,
    probe_map: Optional[ProbeMap],
    decimal: str,
    annotation_fields: Sequence[str],
    drop_empty: bool,
    fixed_orientation_reason: Optional[str] = None,
) -> ExpressionData:
    source = grid.source
    numbers, missing, bad = _cell_values(grid.body, decimal)
    all_labels = grid.labels
    all_header = grid.header[1:]
    if len(all_header) != numbers.shape[1]:
        raise InputError(f"the header line has {len(all_header) + 1} fields, the data lines {numbers.shape[1] + 1}",
                         source=source, field="header line", expected="the same number of fields on every line")
    # Fully blank lines and columns (no label, no value) carry nothing: skip them, as blank lines in text.
    keep_rows = np.flatnonzero((np.array(all_labels) != "") | ~missing.all(axis=1))
    keep_cols = np.flatnonzero((np.array(all_header) != "") | ~missing.all(axis=0))
    if keep_rows.size == 0 or keep_cols.size == 0:
        raise InputError(f"the table has {keep_rows.size} data line(s) and {keep_cols.size} value column(s)",
                         source=source, expected="a header line, a label column and at least one value")
    numbers, missing, bad = (m[np.ix_(keep_rows, keep_cols)] for m in (numbers, missing, bad))
    body = grid.body.iloc[keep_rows, keep_cols]
    header = [all_header[j] for j in keep_cols]
    row_labels = [all_labels[i] for i in keep_rows]
    body_positions = keep_rows
    col_numbers = keep_cols + 2  # 1-based column numbers in the file (the label column is 1)

    def column_name(j: int) -> str:
        return f"column {header[j]!r}" if header[j] else f"column {col_numbers[j]}"

    names, probes = _known_feature_labels(signature, probe_map)
    if orientation is None:
        orientation, reason = _detect_orientation(row_labels, header, names, probes)
    else:
        if orientation not in ORIENTATIONS:
            raise InputError(f"unknown orientation {orientation!r}", source="--orientation",
                             expected=" or ".join(ORIENTATIONS))
        reason = fixed_orientation_reason or "given"
    present = ~missing
    wanted = {f.lower() for f in annotation_fields}
    # Text-only columns, then text-only rows (among the remaining columns), are annotations, not values.
    text_col = np.array([h.lower() in wanted for h in header]) | (
        bad.all(axis=0, where=present) & present.any(axis=0)
    )
    rest = ~text_col
    text_row = np.array([r.lower() in wanted for r in row_labels]) | (
        bad[:, rest].all(axis=1, where=present[:, rest]) & present[:, rest].any(axis=1)
    )
    value_rows, value_cols = np.flatnonzero(~text_row), np.flatnonzero(~text_col)
    # With no numeric block at all, report the first text cell (a decimal comma makes every cell text).
    check_rows, check_cols = (value_rows, value_cols) if value_rows.size and value_cols.size else (
        np.arange(len(row_labels)), np.arange(len(header)))
    sub_bad = bad[np.ix_(check_rows, check_cols)]
    if sub_bad.any():
        i, j = np.argwhere(sub_bad)[0]
        r, c = check_rows[i], check_cols[j]
        text = _text_of(body.iat[r, c])
        hint = ""
        if decimal != "," and re.fullmatch(r"-?\d+,\d+", text):
            hint = "; for decimal commas use --decimal ,"
        raise InputError(
            f"{text!r} is not a number (non-numeric value){hint}", source=source,
            field=f"{_where(grid, body_positions[r], row_labels[r])}, {column_name(c)}",
            expected="a log2 expression value, or empty/NA/null for a missing value; "
                     "list text columns with --annotation-columns",
        )
    if value_rows.size == 0 or value_cols.size == 0:
        raise InputError("no numeric values found", source=source,
                         expected="log2 expression values (numbers) in the table body")

    # Names along both axes of the value block.
    for j in value_cols:
        if not header[j]:
            raise InputError("a column of values has no name", source=source, field=column_name(j),
                             expected="a sample ID or gene label in the header line")
    for i in value_rows:
        if not row_labels[i]:
            raise InputError("a row of values has no label", source=source,
                             field=grid.locate_row(body_positions[i]),
                             expected="a gene symbol, probe ID or sample ID in the first column")

    values = numbers[np.ix_(value_rows, value_cols)]
    vrows = [row_labels[i] for i in value_rows]
    vcols = [header[j] for j in value_cols]
    warnings: List[str] = []

    # Empty rows / columns: a gene or sample with no value at all is an error unless the user drops them.
    empty_row = np.isnan(values).all(axis=1)
    empty_col = np.isnan(values).all(axis=0)
    # With one sample, a gene or probe without a value is that sample's missing value, not an empty row/column.
    if values.shape[1 if orientation == "genes-by-samples" else 0] == 1:
        (empty_row if orientation == "genes-by-samples" else empty_col)[:] = False
    if empty_row.any() or empty_col.any():
        places = [_where(grid, body_positions[value_rows[i]], vrows[i]) for i in np.flatnonzero(empty_row)]
        places += [column_name(value_cols[j]) for j in np.flatnonzero(empty_col)]
        shown = "; ".join(places[:5]) + (f"; and {len(places) - 5} more" if len(places) > 5 else "")
        if not drop_empty:
            raise InputError(f"empty row/column with no value: {shown}", source=source,
                             field=places[0], expected="at least one value in every row and column "
                             "(remove it, or use --drop-empty to skip such rows and columns)")
        warnings.append(f"{source}: skipped {len(places)} empty row(s)/column(s): {shown}")
        keep_r, keep_c = np.flatnonzero(~empty_row), np.flatnonzero(~empty_col)
        values = values[np.ix_(keep_r, keep_c)]
        vrows = [vrows[i] for i in keep_r]
        vcols = [vcols[j] for j in keep_c]
        value_rows, value_cols = value_rows[keep_r], value_cols[keep_c]
        if values.size == 0:
            raise InputError("no values left after skipping empty rows and columns", source=source,
                             expected="log2 expression values")

    genes_by_samples = orientation == "genes-by-samples"
    sample_labels = vcols if genes_by_samples else vrows
    feature_labels = vrows if genes_by_samples else vcols
    sample_axis = "column" if genes_by_samples else "row"
    counts = pd.Series(sample_labels).value_counts()
    duplicated = counts[counts > 1]
    if len(duplicated):
        listed = ", ".join(f"{name!r} ({n} times)" for name, n in duplicated.items())
        raise InputError(f"duplicate sample IDs: {listed}", source=source,
                         field="header line" if genes_by_samples else "first column",
                         expected=f"each sample ID once (one {sample_axis} per sample)")
    feature_labels, repeated = _unique_labels(feature_labels)
    if repeated:
        warnings.append(
            f"{source}: {len(repeated)} gene/probe label(s) occur more than once (e.g. {repeated[0]!r}); each "
            "occurrence is kept as a separate probe (suffix [2], [3], ...)"
        )

    frame = pd.DataFrame(values if genes_by_samples else values.T, index=feature_labels, columns=sample_labels)

    # Annotations: text columns/rows on the sample axis describe samples, on the gene axis they describe genes.
    text_cols, text_rows = np.flatnonzero(text_col), np.flatnonzero(text_row)
    if genes_by_samples:
        sample_ann = {row_labels[i]: [_text_of(body.iat[i, j]) for j in value_cols] for i in text_rows}
        feature_ann = {header[j]: [_text_of(body.iat[i, j]) for i in value_rows] for j in text_cols}
    else:
        sample_ann = {header[j]: [_text_of(body.iat[i, j]) for i in value_rows] for j in text_cols}
        feature_ann = {row_labels[i]: [_text_of(body.iat[i, j]) for j in value_cols] for i in text_rows}
    annotations = pd.DataFrame(sample_ann, index=pd.Index(sample_labels, name="sample"))
    frame.index.name = "feature"
    frame.columns.name = "sample"

    symbols, gene_source = _symbols_for(frame, feature_ann, probe_map, source=source)
    return ExpressionData(
        values=frame, symbols=symbols, sample_annotations=annotations, source=source, orientation=orientation,
        orientation_reason=reason, gene_source=gene_source, warnings=warnings,
    )


def _symbols_for(frame: pd.DataFrame, feature_ann: Mapping[str, List[str]], probe_map: Optional[ProbeMap], *,
                 source: str) -> Tuple[pd.Series, str]:
    labels = pd.Index(frame.index)
    # Labels made unique (" [2]") map back to the probe ID as written in the file.
    original = labels.str.replace(r" \[\d+\]$", "", regex=True)
    if probe_map is not None:
        mapped = pd.Series(original, index=labels).map(probe_map.symbols)
        n_mapped = int(mapped.notna().sum())
        if n_mapped == 0:
            example = ", ".join(repr(x) for x in list(original[:3]))
            raise InputError(
                f"none of the {len(labels)} row labels (e.g. {example}) is a probe ID of the probe map", source=source,
                field="row labels", expected=f"probe IDs listed in column {probe_map.probe_column!r} of "
                                             f"{probe_map.source}",
            )
        return mapped.fillna("").astype(str), (f"probe map {probe_map.source} (columns {probe_map.probe_column!r} "
                                              f"-> {probe_map.symbol_column!r}; {n_mapped} of {len(labels)} rows "
                                              "mapped)")
    for name in feature_ann:
        if _normalise_name(name) in SYMBOL_COLUMN_NAMES:
            return pd.Series(feature_ann[name], index=labels, dtype=str), f"annotation column {name!r} of {source}"
    return pd.Series(list(original), index=labels, dtype=str), "row labels"


def _grid_from_text(text: str, *, source: str, sep: Optional[str], decimal: str) -> _Grid:
    lines = text.splitlines()
    skip = _leading_comment_lines(lines)
    header, labels, body = _read_value_table("\n".join(lines[skip:]), source=source, sep=sep, decimal=decimal)
    # The header is on line skip + 1, so body row 0 is on line skip + 2.
    return _Grid(header, labels, body, source, locate_row=lambda pos: f"line {skip + 2 + pos}")


def _parse_sample_header(lines: List[str], *, source: str, line_numbers: List[int],
                         samples: List[str]) -> Tuple[pd.DataFrame, Dict[str, Any]]:
    """GEO ``!Sample_…`` lines → sample annotations; ``!Series_…`` lines → metadata."""
    metadata: Dict[str, Any] = {}
    columns: Dict[str, List[str]] = {}
    if not lines:
        return pd.DataFrame(index=pd.Index(samples, name="sample")), metadata
    width = max(line.count("\t") for line in lines) + 1
    frame = pd.read_csv(io.StringIO("\n".join(lines)), sep="\t", header=None, names=range(width), dtype=str,
                        keep_default_na=False, na_filter=False, quotechar='"', engine="python")
    frame = frame.fillna("").apply(lambda column: column.astype(str).str.strip())
    n = len(samples)
    for pos, row in enumerate(frame.itertuples(index=False)):
        key, cells = str(row[0]), [str(c) for c in row[1:]]
        if key.startswith("!Series_"):
            values = [c for c in cells if c]
            name = key[len("!Series_"):]
            joined = values[0] if len(values) == 1 else values
            if name in metadata:  # repeated fields (summary, contributors) collect into a list
                previous = metadata[name] if isinstance(metadata[name], list) else [metadata[name]]
                metadata[name] = previous + (joined if isinstance(joined, list) else [joined])
            else:
                metadata[name] = joined
            continue
        name = key[len("!Sample_"):]
        while cells and len(cells) > n and cells[-1] == "":
            cells.pop()
        if len(cells) != n:
            raise InputError(f"{key} has {len(cells)} values for {n} samples", source=source,
                             field=f"line {line_numbers[pos]}", expected=f"one value per sample ({n})")
        if name.startswith("characteristics_"):
            # "key: value" cells; GEO does not keep one key per line, so each cell is placed by its own key.
            for s, cell in enumerate(cells):
                if not cell:
                    continue
                k, sep, v = cell.partition(":")
                column = k.strip() if sep and k.strip() else name
                value = v.strip() if sep and k.strip() else cell
                columns.setdefault(column, [""] * n)[s] = value
            continue
        column, i = name, 2
        while column in columns:
            column, i = f"{name}_{i}", i + 1
        columns[column] = cells
    annotations = pd.DataFrame(columns, index=pd.Index(samples, name="sample"))
    if "geo_accession" in annotations:
        accessions = list(annotations["geo_accession"])
        if accessions != samples:
            raise InputError("the !Sample_geo_accession line does not match the table's sample columns",
                             source=source, field="!Sample_geo_accession",
                             expected=f"the same samples in the same order as the table header ({samples[:3]}...)")
    return annotations, metadata


def _read_series_matrix(text: str, *, source: str, orientation: Optional[str], signature: Any,
                        probe_map: Optional[ProbeMap], decimal: str, annotation_fields: Sequence[str],
                        drop_empty: bool) -> ExpressionData:
    if orientation not in (None, "genes-by-samples"):
        raise InputError("a GEO series matrix is always genes (probes) × samples", source="--orientation",
                         expected="no --orientation, or genes-by-samples")
    lines = text.splitlines()
    start, stop = _table_between(lines, "!series_matrix_table_begin", "!series_matrix_table_end", source=source)
    table = "\n".join(lines[start + 1:stop])
    if not table.strip():
        raise InputError("the series matrix table is empty", source=source, field=f"line {start + 2}",
                         expected="a header line (ID_REF and sample IDs) and one line per probe")
    header, labels, body = _read_value_table(table, source=source, sep="\t", decimal=decimal)
    # The begin marker is on line start + 1, the header on start + 2, body row 0 on start + 3.
    grid = _Grid(header, labels, body, source, locate_row=lambda pos: f"line {start + 3 + pos}")
    data = _grid_to_expression(grid, orientation="genes-by-samples", signature=signature, probe_map=probe_map,
                               decimal=decimal, annotation_fields=annotation_fields, drop_empty=drop_empty,
                               fixed_orientation_reason="GEO series matrix (probes × samples)")
    header_lines, numbers = [], []
    for number, line in enumerate(lines[:start], start=1):
        if line.startswith(("!Sample_", "!Series_")):
            header_lines.append(line)
            numbers.append(number)
    annotations, metadata = _parse_sample_header(header_lines, source=source, line_numbers=numbers,
                                                 samples=data.samples)
    data.sample_annotations = annotations
    data.metadata.update(metadata)
    return data


def read_expression(
    path: Union[str, Path],
    *,
    orientation: Optional[str] = None,
    probe_map: Union[ProbeMap, str, Path, None] = None,
    signature: Any = None,
    sheet: Union[str, int, None] = None,
    decimal: str = ".",
    annotation_columns: Sequence[str] = (),
    log2: bool = False,
    log2_offset: float = 0.0,
    check: bool = True,
    drop_empty: bool = False,
) -> ExpressionData:
    """Read a table or GEO series matrix of expression values into log2 genes × samples.

    Parameters
    ----------
    path : str or Path
        CSV, TSV or text table (plain or gzipped), Excel workbook, or GEO series matrix (plain or gzipped).
    orientation : {"genes-by-samples", "samples-by-genes"}, optional
        The table's layout; detected from the labels when not given.
    probe_map : ProbeMap or path, optional
        Probe ID → gene symbol (see :func:`read_probe_map`); needed when rows are probe IDs.
    signature : Signature, optional
        Its genes and aliases help detect the orientation (default: the shipped 6-gene signature).
    sheet : str or int, optional
        Excel sheet (default: the first).
    decimal : {".", ","}
        Decimal mark of a text table.
    annotation_columns : sequence of str
        Columns (or rows) that are annotations even though their values look numeric (e.g. a numeric patient ID).
    log2 : bool
        Transform linear values with ``log2(value + log2_offset)``. Refused when the values already look log2.
    log2_offset : float
        Added before the log2 (e.g. 1 for counts with zeros).
    check : bool
        Run the linear-scale check (:func:`check_scale`); linear data are refused unless ``log2`` is set.
    drop_empty : bool
        Skip rows and columns without any value (with a warning) instead of raising an error.

    Returns
    -------
    ExpressionData

    Raises
    ------
    InputError
        Unreadable file, non-numeric values, duplicate sample IDs, empty rows or columns, linear data, a truncated
        series matrix, and the other problems listed in docs/genes.md. The message names the file, the line or
        column and what was expected.
    """
    path = Path(path)
    source = str(path)
    if decimal not in (".", ","):
        raise InputError(f"unknown decimal mark {decimal!r}", source="--decimal", expected="'.' or ','")
    if signature is None:
        from .signatures import load_signature

        signature = load_signature()
    if probe_map is not None and not isinstance(probe_map, ProbeMap):
        probe_map = read_probe_map(probe_map)
    data_bytes = _read_bytes(path, source)
    common = dict(signature=signature, probe_map=probe_map, decimal=decimal, annotation_fields=annotation_columns,
                  drop_empty=drop_empty)
    if _is_excel(path, data_bytes):
        header, labels, body = _read_excel_values(path, source=source, sheet=sheet)
        grid = _Grid(header, labels, body, source, locate_row=lambda pos: f"row {pos + 2}")
        data = _grid_to_expression(grid, orientation=orientation, **common)
        data.metadata["sheet"] = 0 if sheet is None else sheet
    else:
        text = _decode(data_bytes)
        head = text[:2000].lstrip()
        if head.startswith("^"):
            raise InputError("this is a GEO SOFT file, not a series matrix", source=source,
                             expected="the series matrix (GSE..._series_matrix.txt.gz) or a table")
        if head.startswith(("!Series_", "!Sample_", "!series_matrix_table_begin")):
            data = _read_series_matrix(text, source=source, orientation=orientation, **common)
        else:
            grid = _grid_from_text(text, source=source, sep=None, decimal=decimal)
            data = _grid_to_expression(grid, orientation=orientation, **common)
    return apply_scale_policy(data, log2=log2, log2_offset=log2_offset, check=check)


def expression_from_frame(
    frame: pd.DataFrame,
    *,
    orientation: str = "genes-by-samples",
    source: str = "<table>",
    sample_annotations: Optional[pd.DataFrame] = None,
    log2: bool = False,
    log2_offset: float = 0.0,
    check: bool = True,
) -> ExpressionData:
    """Wrap an in-memory numeric table (e.g. from a Slicer table node) as :class:`ExpressionData`.

    Parameters
    ----------
    frame : pandas.DataFrame
        Numeric values; index = gene symbols/probe IDs and columns = samples (``genes-by-samples``) or the
        transpose (``samples-by-genes``).
    orientation, log2, log2_offset, check
        As in :func:`read_expression`.
    source : str
        Named in messages.
    sample_annotations : DataFrame, optional
        Indexed by sample ID.
    """
    if orientation not in ORIENTATIONS:
        raise InputError(f"unknown orientation {orientation!r}", source="orientation",
                         expected=" or ".join(ORIENTATIONS))
    table = frame if orientation == "genes-by-samples" else frame.T
    try:
        values = table.apply(pd.to_numeric, errors="raise").astype(float)
    except (ValueError, TypeError) as error:
        raise InputError(f"non-numeric value ({error})", source=source, expected="log2 expression values") from None
    samples = [str(s) for s in values.columns]
    counts = pd.Series(samples).value_counts()
    if (counts > 1).any():
        raise InputError(f"duplicate sample IDs: {', '.join(counts[counts > 1].index)}", source=source,
                         field="samples", expected="each sample ID once")
    labels, _ = _unique_labels([str(s) for s in values.index])
    values = pd.DataFrame(values.to_numpy(), index=pd.Index(labels, name="feature"),
                          columns=pd.Index(samples, name="sample"))
    if sample_annotations is None:
        sample_annotations = pd.DataFrame(index=values.columns)
    data = ExpressionData(values=values, symbols=pd.Series([str(s) for s in table.index], index=values.index,
                                                           dtype=str),
                          sample_annotations=sample_annotations, source=source, orientation=orientation,
                          orientation_reason="given")
    return apply_scale_policy(data, log2=log2, log2_offset=log2_offset, check=check)


def apply_scale_policy(data: ExpressionData, *, log2: bool, log2_offset: float = 0.0,
                       check: bool = True) -> ExpressionData:
    """Check the scale of ``data`` and log2-transform it on request (in place; returns ``data``).

    Linear-looking values without ``log2`` and log2-looking values with ``log2`` are errors (when ``check``).
    """
    values = data.values.to_numpy(dtype=float)
    scale = check_scale(values) if check or log2 else None
    data.scale = scale
    if log2:
        if check and scale is not None and not scale.looks_linear:
            raise InputError(
                f"--log2 was given but the values already look log2-scaled: {scale.reason}", source=data.source,
                field="values", expected="linear values for --log2 (leave --log2 out for log2 data, or add "
                                         "--no-scale-check to transform anyway)",
            )
        shifted = values + log2_offset
        bad = shifted <= 0
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise InputError(
                f"value {values[i, j]:g} + offset {log2_offset:g} is not positive, so it has no log2",
                source=data.source, field=f"gene/probe {data.values.index[i]!r}, sample {data.values.columns[j]!r}",
                expected="positive linear values (use --log2-offset, e.g. 1 for counts with zeros)",
            )
        with np.errstate(invalid="ignore"):
            data.values = pd.DataFrame(np.log2(shifted), index=data.values.index, columns=data.values.columns)
        data.log2_transformed = True
        data.log2_offset = float(log2_offset)
    elif check and scale is not None and scale.looks_linear:
        # A few samples far above the log2 range among log2 ones are usually numeric annotation columns (IDs).
        with np.errstate(invalid="ignore"):
            high = np.nanmax(np.where(np.isfinite(values), values, np.nan), axis=0) > LOG2_CEILING
        if 0 < high.sum() <= high.size / 2:
            odd = [str(s) for s in data.values.columns[high][:5]]
            raise InputError(
                f"sample(s) {', '.join(odd)} hold values above {LOG2_CEILING:g} while the others look log2",
                source=data.source, field=", ".join(odd),
                expected="log2 expression in every sample (name annotation columns such as IDs with "
                         "--annotation-columns)",
            )
        raise InputError(
            f"the values look linear, not log2: {scale.reason}", source=data.source, field="values",
            expected="log2 expression (transform with --log2, adding --log2-offset 1 for counts with zeros; or "
                     "--no-scale-check if the values are log2 after all)",
        )
    return data


def read_patient_map(path: Union[str, Path], *, sample_column: Optional[str] = None,
                     patient_column: Optional[str] = None) -> pd.Series:
    """Read a sample → patient table (CSV/TSV/Excel with a header line).

    Parameters
    ----------
    path : str or Path
    sample_column : str, optional
        Default: a column named ``sample`` (or ``sample_id``, ``biopsy``), else the first column.
    patient_column : str, optional
        Default: a column named ``patient`` (or ``patient_id``, ``tumour``, ``tumor``), else the second column.

    Returns
    -------
    pandas.Series
        Indexed by sample ID, values patient IDs.
    """
    path = Path(path)
    source = str(path)
    data = _read_bytes(path, source)
    if _is_excel(path, data):
        frame = _read_excel(path, source=source, sheet=None, header=True)
    else:
        frame = _read_delimited(_decode(data), source=source, header=True)
    columns = [str(c) for c in frame.columns]
    if len(columns) < 2:
        raise InputError("the patient map needs two columns", source=source, field="header",
                         expected="a sample column and a patient column")

    def pick(wanted, candidates, fallback, option):
        try:
            return _choose_column(columns, wanted, candidates, source=source, what=option, option=option)
        except InputError:
            if wanted is not None:
                raise
            return fallback

    sample_col = pick(sample_column, ("sample", "sampleid", "biopsy", "biopsyid"), columns[0], "--sample-column")
    patient_col = pick(patient_column, ("patient", "patientid", "tumour", "tumor", "tumourid", "tumorid"),
                       next(c for c in columns if c != sample_col), "--patient-column")
    table = frame[[sample_col, patient_col]]
    table = table[(table[sample_col] != "") | (table[patient_col] != "")]
    blank = table[(table[sample_col] == "") | (table[patient_col] == "")]
    if len(blank):
        line = int(blank.index[0]) + 2
        raise InputError("a sample without patient (or patient without sample)", source=source, field=f"line {line}",
                         expected=f"both {sample_col!r} and {patient_col!r} filled in")
    dup = table[table.duplicated(sample_col, keep=False)]
    if len(dup) and dup.groupby(sample_col)[patient_col].nunique().max() > 1:
        sample = dup[sample_col].iloc[0]
        raise InputError(f"sample {sample!r} is given two patients", source=source, field=sample_col,
                         expected="one patient per sample")
    table = table.drop_duplicates(sample_col)
    return pd.Series(table[patient_col].to_numpy(), index=table[sample_col].to_numpy(), name="patient")
