"""Writing one tumour's imaging results as files (the ``image`` command's output folder).

Layout, all maps on the DCE grid with the series' origin, spacing and direction:
``a_brix.nrrd``, ``k_ep.nrrd``, ``k_el.nrrd``, ``r_squared.nrrd``, ``rmse.nrrd`` (float32, NaN outside the tumour
and where the fit failed), ``fit_status.nrrd`` (uint8 codes, see ``summary.json`` ``fit_status_codes``),
``hypoxic_mask.nrrd`` and ``tumour_mask.nrrd`` (uint8 label maps), ``dce_post_contrast.nrrd`` (mean signal of the
frames after bolus arrival, the anatomy to show the maps on), ``slices.csv``, ``mean_curve.csv`` and ``summary.json``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Optional

from ..imaging.analysis import ImagingResult
from ..io.outputs import atomic_output_dir, write_json
from ..io.volumes import write_volume

MAP_FILES = ("a_brix", "k_ep", "k_el", "r_squared", "rmse", "fit_status", "hypoxic_mask", "tumour_mask")
SLICE_COLUMNS = ("slice", "k_index", "voxels", "fitted", "failed", "hypoxic", "hypoxic_fraction", "classification",
                 "is_biopsy_slice")


def write_imaging_result(result: ImagingResult, out_dir: Path, *, inputs: Optional[dict] = None) -> Path:
    """Write ``result`` into ``out_dir`` atomically (complete or not at all) and return the folder.

    Parameters
    ----------
    result : ImagingResult
    out_dir : Path
        The output folder; an existing one is replaced only once the new results are complete.
    inputs : dict, optional
        Where the inputs came from (files, options), recorded in ``summary.json`` under ``inputs``.
    """
    with atomic_output_dir(Path(out_dir)) as tmp:
        for name in MAP_FILES:
            write_volume(getattr(result, name), result.geometry, tmp / f"{name}.nrrd")
        if result.post_contrast is not None:
            write_volume(result.post_contrast, result.geometry, tmp / "dce_post_contrast.nrrd")
        write_slices_csv(result, tmp / "slices.csv")
        with open(tmp / "mean_curve.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["time_s", "mean_rsi", "brix_fit_rsi"])
            curve = result.mean_curve
            for row in zip(curve.times_s, curve.rsi, curve.fitted_rsi):
                writer.writerow([f"{value:.6g}" for value in row])
        summary = result.summary()
        if inputs:
            summary["inputs"] = inputs
        write_json(summary, tmp / "summary.json")
    return Path(out_dir)


def write_slices_csv(result: ImagingResult, path: Path) -> None:
    """One row per tumour slice, caudal (slice 1) to cranial."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=SLICE_COLUMNS)
        writer.writeheader()
        for s in result.slices:
            row = s.as_dict()
            row["hypoxic_fraction"] = "" if row["hypoxic_fraction"] != row["hypoxic_fraction"] else \
                f"{row['hypoxic_fraction']:.6f}"
            row["is_biopsy_slice"] = int(row["is_biopsy_slice"])
            writer.writerow(row)
