"""Expression tables (CSV, TSV, text, Excel; genes × samples or samples × genes) into :class:`ExpressionData`:
orientation detected from the labels, text columns kept as annotations, gene symbols from labels, a probe map
or an annotation column."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple

import numpy as np
import pandas as pd

from ...errors import InputError
from .cells import (
    _cell_values,
    _leading_comment_lines,
    _looks_like_probe,
    _normalise_name,
    _read_value_table,
    _text_of,
)
from .model import (
    ORIENTATIONS,
    SYMBOL_COLUMN_NAMES,
    ExpressionData,
    ProbeMap,
)

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

