"""Reading and writing files: DCE series (every format), frame times, tumour masks, volumes, atomic outputs.

One import for the commands; the work is done in one module per concern:

- :mod:`.dce`: 4D files (NRRD, Slicer .seq.nrrd and MultiVolume NRRD, NIfTI, MetaImage), lists of 3D volumes,
  frame times, signal checks, and writing series;
- :mod:`.dicom`: a folder of DICOM files of one dynamic series;
- :mod:`.masks`: tumour masks (label maps, Slicer segmentations) resampled onto the DCE grid;
- :mod:`.volumes`: one 3D volume to and from a file, with its :class:`~HypoxiaMarkersLib.volume.Geometry`;
- :mod:`.outputs`: atomic writers (a file or a folder appears whole or not at all).
- :mod:`.results_schema`: the declared keys of every result file (``summary.json``, ``results.json``, ...),
  checked by the writers and the readers.

May import: numpy, SimpleITK, pydicom, the base modules and ``imaging.timing`` (frame times). Never ``pipeline``,
``cli``, ``report``, ``slicer`` or ``argparse`` (``Testing/Python/test_import_graph.py``).
"""

from __future__ import annotations

from ..imaging.timing import check_frame_times, parse_times_option
from .dce import check_signal, read_dce, write_dce
from .dicom import DicomSeries, read_dicom_series
from .masks import (
    SegmentInfo,
    partial_volume_fraction,
    read_mask,
    read_tumour_mask,
    resample_mask,
    segment_masks,
    segments_in_file,
    write_segmentation,
    write_tumour_mask,
)

__all__ = [
    "read_dce", "write_dce", "check_signal", "read_dicom_series", "DicomSeries", "read_tumour_mask", "read_mask",
    "resample_mask", "partial_volume_fraction", "segments_in_file", "segment_masks", "SegmentInfo",
    "write_tumour_mask", "write_segmentation", "check_frame_times", "parse_times_option",
]
