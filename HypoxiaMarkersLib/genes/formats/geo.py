"""GEO series-matrix files (plain or gzipped): the table between ``!series_matrix_table_begin`` and
``!series_matrix_table_end``, sample annotations from the ``!Sample_`` lines, metadata from ``!Series_``."""

from __future__ import annotations

import io
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pandas as pd

from ...errors import InputError
from .cells import (
    _read_value_table,
    _table_between,
)
from .model import (
    ExpressionData,
    ProbeMap,
)
from .table import (
    _Grid,
    _grid_to_expression,
)


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

