"""Annotation tables: a probe → gene-symbol map (platform table, GEO ``.annot``/SOFT, Illumina manifest) and a
sample → patient map."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

import numpy as np
import pandas as pd

from ...errors import InputError
from .cells import (
    _decode,
    _is_excel,
    _leading_comment_lines,
    _normalise_name,
    _read_bytes,
    _read_delimited,
    _read_excel,
    _table_between,
)
from .model import (
    PROBE_COLUMN_NAMES,
    SYMBOL_COLUMN_NAMES,
    ProbeMap,
)

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
