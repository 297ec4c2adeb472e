"""The bridge to 3D Slicer: MRML nodes to and from the library's arrays (:mod:`.mrml`) and the GUI-free logic of
the HypoxiaMarkers module (:mod:`.logic`).

May import everything else in the package; ``slicer`` itself is imported lazily, so the rest of the package
works without Slicer. Nothing in the science packages imports ``slicer`` (``Testing/Python/test_import_graph.py``).
"""
