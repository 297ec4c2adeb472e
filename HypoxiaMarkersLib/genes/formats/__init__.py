"""Readers of gene-expression files, one module per format, behind :func:`genes.expression.read_expression`.

- :mod:`.model`: the data model (:class:`ExpressionData`, :class:`ProbeMap`, :class:`ScaleCheck`, the scale
  check) and the constants the readers share;
- :mod:`.cells`: the cells of a text table or an Excel sheet;
- :mod:`.table`: expression tables (CSV/TSV/text/Excel, either orientation);
- :mod:`.geo`: GEO series matrices;
- :mod:`.annotations`: probe → gene-symbol maps and sample → patient maps.

May import: numpy, pandas, :mod:`HypoxiaMarkersLib.errors` and each other; nothing from the rest of the
package (the signature is passed in by the caller).
"""
