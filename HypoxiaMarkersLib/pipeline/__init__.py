"""Stages of the method as one call each (image, genes, cohort, heterogeneity, batch) and the demo data.

Each stage composes readers (``io``, ``genes``), the science (``imaging``, ``stats``, ``heterogeneity``) and the
writers, and returns a result; the commands (``cli``) and the Slicer module call these. Nothing in the science
packages imports ``pipeline`` (``Testing/Python/test_import_graph.py``).
"""
