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

from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
import pandas as pd

from ..errors import InputError
from .formats.annotations import read_probe_map
from .formats.cells import _decode, _is_excel, _read_bytes, _read_excel_values
from .formats.geo import _read_series_matrix
from .formats.model import LOG2_CEILING, ORIENTATIONS, ExpressionData, ProbeMap, check_scale
from .formats.table import _Grid, _grid_from_text, _grid_to_expression, _unique_labels


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


