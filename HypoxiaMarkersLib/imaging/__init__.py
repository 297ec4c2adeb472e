"""The imaging biomarker: DCE-MRI frame timing, Brix model fits, hypoxic voxels and fractions (SPEC §1).

- :mod:`.timing`: frame times and bolus arrival;
- :mod:`.brix`: the Brix model and its batched least-squares fit (A_Brix, k_ep, k_el per voxel);
- :mod:`.hypoxia`: hypoxic voxels (:func:`rules.hypoxic_voxels`) and the hypoxic fraction of the tumour, of each
  slice and of the biopsy slice;
- :mod:`.analysis`: one patient's whole analysis (:func:`~.analysis.analyse_dce`);
- :mod:`.phantom`: synthetic DCE phantoms with known parameters, for tests, benchmarks, the demo and Slicer.

May import: numpy, scipy, SimpleITK, the base modules (``errors``, ``progress``, ``volume``, ``rules``) and ``io``.
Never ``pipeline``, ``cli``, ``report``, ``slicer`` or ``argparse`` (``Testing/Python/test_import_graph.py``).
"""
