"""Survival statistics of the markers (SPEC §4): Cox models, Kaplan–Meier, log-rank, cutoffs, composite score.

- :mod:`.survival`: Cox proportional hazards (Efron ties; the package's one Newton loop,
  :func:`~.survival.newton_efron`), Kaplan–Meier, log-rank, proportional-hazards tests, horizons and time units;
- :mod:`.cutoff`: maximally selected rank statistics (R's ``maxstat``; the one standardisation,
  :class:`~.cutoff.RankStandardisation`) with Lausen–Schumacher and permutation p-values;
- :mod:`.composite`: the composite score HScomp, its line search, permutation test and optimism correction;
- :mod:`.groups`: groups 1–4 of the two markers and their comparisons;
- :mod:`.cohort`: the whole analysis of a cohort table.

May import: numpy, scipy, pandas, lifelines and the base modules (``errors``, ``progress``, ``rules``).
Never ``pipeline``, ``cli``, ``report``, ``slicer`` or ``argparse`` (``Testing/Python/test_import_graph.py``).
"""
