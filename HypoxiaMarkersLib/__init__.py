"""HypoxiaMarkersLib: imaging and gene-based hypoxia biomarkers for cervical cancer.

The science behind the HypoxiaMarkers 3D Slicer extension and the ``hypoxia-markers`` command:
Brix pharmacokinetic model fits of DCE-MRI (A_Brix maps, hypoxic fractions), the 6-gene hypoxia score,
their composite, intratumour heterogeneity and survival statistics.

Method: Fjeldbo CS et al., "Combining imaging- and gene-based hypoxia biomarkers in cervical cancer improves
prediction of chemoradiotherapy failure independent of intratumour heterogeneity", EBioMedicine 2020;57:102841.

Layout, from the bottom up (enforced by ``Testing/Python/test_import_graph.py``):

- base modules: ``errors`` (InputError), ``progress``, ``volume`` (the grid model, numpy only) and ``rules`` (the
  method's thresholds, cutoffs, horizon, patch size, class labels and comparison rules, in one place);
- science: ``io`` (reading and writing files), ``imaging``, ``genes``, ``stats``, ``heterogeneity``; these never
  import the layers below nor ``argparse``;
- ``pipeline`` (one call per stage), ``report`` (the cohort report), ``slicer`` (MRML bridge and module logic) and
  ``cli`` (the ``hypoxia-markers`` command).

This package never imports Qt, CTK or Slicer's GUI; ``slicer.mrml`` imports ``slicer`` lazily.
"""

__version__ = "0.1.0"

CITATION = (
    "Fjeldbo CS, Hompland T, Hillestad T, et al. Combining imaging- and gene-based hypoxia biomarkers in "
    "cervical cancer improves prediction of chemoradiotherapy failure independent of intratumour heterogeneity. "
    "EBioMedicine. 2020;57:102841. doi:10.1016/j.ebiom.2020.102841"
)
