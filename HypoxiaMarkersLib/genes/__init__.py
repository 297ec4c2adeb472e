"""The gene biomarker: reading expression data, hypoxia signatures, and scoring samples and patients (SPEC §2).

- :mod:`.expression`: :func:`~.expression.read_expression` (any supported file, by format) and in-memory tables;
  :mod:`.formats`: one reader per format (tables, GEO series matrices, probe and patient maps) and the data model;
- :mod:`.signatures`: signature files (genes, aliases, weights, cutoff, stored references); ``data/hypoxia6.json``
  is the shipped 6-gene signature;
- :mod:`.scoring`: scores per sample, per patient and for a new patient; classes by :func:`rules.at_or_above`.

May import: numpy, pandas, the base modules (``errors``, ``progress``, ``rules``) and ``io`` (atomic writers).
Never ``pipeline``, ``cli``, ``report``, ``slicer`` or ``argparse`` (``Testing/Python/test_import_graph.py``).
"""
