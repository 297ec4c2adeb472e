"""Intratumour heterogeneity of hypoxia (SPEC §3): variance components, virtual biopsies, clustering of hypoxia.

- :mod:`.variance`: the random-effects ANOVA (W, B, T, Wk/T) and its confidence intervals;
- :mod:`.virtual_biopsy`: biopsy-sized patches of a tumour slice and their hypoxic fractions;
- :mod:`.clustering`: the GAM of virtual-biopsy SD against HF, more/less clustering;
- :mod:`.analysis`: slices, biopsies and virtual biopsies of a cohort, with classes by :mod:`rules`;
- :mod:`.inputs`: the ``image`` result folders and gene-score tables these analyses read.

May import: numpy, scipy, pandas, the base modules (``errors``, ``progress``, ``rules``) and ``io``.
Never ``pipeline``, ``cli``, ``report``, ``slicer`` or ``argparse`` (``Testing/Python/test_import_graph.py``).
"""
