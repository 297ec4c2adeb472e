"""Writing one tumour's imaging results as files (the ``image`` command's output folder).

Layout, all maps on the DCE grid with the series' origin, spacing and direction:
``a_brix.nrrd``, ``k_ep.nrrd``, ``k_el.nrrd``, ``r_squared.nrrd``, ``rmse.nrrd`` (float32, NaN outside the tumour
and where the fit failed), ``fit_status.nrrd`` (uint8 codes, see ``summary.json`` ``fit_status_codes``),
``hypoxic_mask.nrrd`` and ``tumour_mask.nrrd`` (uint8 label maps), ``dce_post_contrast.nrrd`` (mean signal of the
frames after bolus arrival, the anatomy to show the maps on), ``slices.csv``, ``mean_curve.csv``, ``summary.json``
and ``quicklook.png`` (one-page figure, :mod:`HypoxiaMarkersLib.report.quicklook`; skipped with a warning when
matplotlib is not installed, as in a bare 3D Slicer). With ``map_format="nifti"`` the volumes are ``.nii.gz`` files
with the same stems (SimpleITK writes the LPS geometry as NIfTI's RAS qform/sform).

Example (the ``image`` command in one call)::

    from HypoxiaMarkersLib.imaging.analysis import ImagingParameters
    from HypoxiaMarkersLib.pipeline.image import ImageSources, run_image
    result = run_image(ImageSources(dce=["dce.seq.nrrd"], mask="tumour.seg.nrrd"), ImagingParameters(), "results")
    print(result.hypoxic_fraction)
"""

from __future__ import annotations

import csv
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional, Sequence, Union

from ..errors import InputError
from ..progress import ProgressFactory, no_progress
from ..rules import THRESHOLDS_SOURCE
from .checks import check_imaging_parameters, check_injection_duration, check_label, prepare_output_dir

if TYPE_CHECKING:  # the science is imported when a stage runs, so that `hypoxia-markers --help` stays light
    from ..imaging.analysis import ImagingParameters, ImagingResult
    from .dicom_export import DicomExport

PathLike = Union[str, Path]

MAP_FILES = ("a_brix", "k_ep", "k_el", "r_squared", "rmse", "fit_status", "hypoxic_mask", "tumour_mask")
#: ``--format``: file ending of the volumes written.
MAP_FORMATS = {"nrrd": ".nrrd", "nifti": ".nii.gz"}
QUICKLOOK_FILE = "quicklook.png"
SLICE_COLUMNS = ("slice", "k_index", "voxels", "fitted", "failed", "hypoxic", "hypoxic_fraction", "classification",
                 "is_biopsy_slice", "at_bound", "low_r2", "excluded")


@dataclass
class ImageSources:
    """Where one tumour's images come from.

    Attributes
    ----------
    dce : list of paths
        One 4D file (.nrrd, .seq.nrrd, .nii[.gz], .mha) or DICOM folder, or several 3D volumes (one per frame).
    mask : path
        The tumour: a label map (nonzero = tumour), a Slicer segmentation or a DICOM RTSTRUCT, on any grid.
    label, segment, roi : optional
        Use only this label value of the label map / this segment of the segmentation / this ROI of the RTSTRUCT.
    times : sequence of float, optional
        Frame times in seconds (override the file); ``times_text`` is how they were given, for the record.
    frame_interval : float, optional
        Seconds between frames (times 0, dt, 2 dt, ...; override the file).
    mask_min_fraction : float, optional
        Partial volume: a DCE voxel is tumour when at least this fraction of it is (None: nearest neighbour).
    allow_mask_outside : bool
        Analyse the part of the tumour inside the DCE series even when more than
        :data:`~HypoxiaMarkersLib.io.masks.MAX_SHARE_OUTSIDE` of the mask lies outside it (default: refused).
    background : path, optional
        An anatomical volume (T2W) to show under the maps in ``quicklook.png``, resampled onto the DCE grid
        (default: the DCE series' post-contrast mean).
    mask_share_outside : float or None
        Set by :func:`analyse_image`: the share of the mask outside the DCE series, recorded in ``summary.json``.
    """

    dce: List[PathLike]
    mask: PathLike
    label: Optional[int] = None
    segment: Optional[str] = None
    times: Optional[Sequence[float]] = None
    frame_interval: Optional[float] = None
    mask_min_fraction: Optional[float] = None
    times_text: Optional[str] = field(default=None, repr=False)
    allow_mask_outside: bool = False
    roi: Optional[str] = None
    background: Optional[PathLike] = None
    mask_share_outside: Optional[float] = field(default=None, init=False)

    def __post_init__(self):
        if isinstance(self.dce, (str, Path)):
            self.dce = [self.dce]
        if self.mask_min_fraction is not None and not 0 < self.mask_min_fraction <= 1:
            raise InputError(f"{self.mask_min_fraction} is not a fraction", source="--mask-min-fraction",
                             expected="a number in (0, 1], e.g. 0.5")

    def record(self) -> dict:
        """The inputs as recorded in ``summary.json`` (``inputs``)."""
        times = self.times_text
        if times is None and self.times is not None:
            times = ",".join(f"{t:g}" for t in self.times)
        return {
            "dce": [str(p) for p in self.dce], "mask": str(self.mask), "label": self.label, "segment": self.segment,
            "roi": self.roi, "t2w": None if self.background is None else str(self.background),
            "times_option": times, "frame_interval_option": self.frame_interval,
            "mask_min_fraction": self.mask_min_fraction, "allow_mask_outside": self.allow_mask_outside,
            "mask_share_outside_dce": self.mask_share_outside,
        }


def analyse_image(sources: ImageSources, parameters: ImagingParameters, *,
                  progress: ProgressFactory = no_progress) -> ImagingResult:
    """Read the DCE series and the tumour mask of ``sources`` and fit them (nothing written).

    ``progress(description, unit=...)`` gives a context manager yielding a progress callback, once for reading
    and once for the fit (e.g. :func:`HypoxiaMarkersLib.progress.progress_bar`).
    """
    from ..imaging.analysis import analyse_dce
    from ..io import read_dce
    from ..io.masks import MAX_SHARE_OUTSIDE, read_mask, resample_mask, share_outside

    check_label(sources.label)
    check_imaging_parameters(parameters)
    _check_injection_duration_before_reading(sources, parameters)
    source = sources.dce[0] if len(sources.dce) == 1 else list(sources.dce)
    with progress("reading DCE", unit="file") as callback:
        series = read_dce(source, times=sources.times, frame_interval=sources.frame_interval, progress=callback)
    with warnings.catch_warnings(record=True) as mask_warnings:  # kept with the results, not only on a console
        warnings.simplefilter("always")
        # read_tumour_mask in two steps, so that the share of the mask outside the series is recorded with the results
        mask, mask_geometry, what = read_mask(
            sources.mask, label=sources.label, segment=sources.segment, roi=sources.roi, reference=series.geometry,
            frame_of_reference_uid=series.metadata.get("frame_of_reference_uid") or None)
        sources.mask_share_outside = share_outside(mask, mask_geometry, series.geometry)
        mask = resample_mask(mask, mask_geometry, series.geometry, min_fraction=sources.mask_min_fraction,
                             source=str(sources.mask), what=what,
                             max_share_outside=None if sources.allow_mask_outside else MAX_SHARE_OUTSIDE)
    with progress("Brix fit", unit="voxel") as callback:
        result = analyse_dce(series, mask, parameters, progress=callback)
    result.warnings[:0] = [str(w.message) for w in mask_warnings]
    result.dicom_reference = series.metadata.get("dicom_reference")
    return result


def _check_injection_duration_before_reading(sources: ImageSources, parameters: ImagingParameters) -> None:
    """Refuse an injection longer than the acquisition allows before anything is read, when the frame times are
    given (the analysis checks it again against the detected bolus arrival)."""
    times = sources.times
    if times is None or len(times) < 2:
        return
    n_base = parameters.baseline_frames or 1  # none given: the earliest arrival, the most lenient bound
    if 1 <= n_base <= len(times):
        check_injection_duration(parameters.injection_duration_s, float(times[-1]) - float(times[n_base - 1]))


def run_image(sources: ImageSources, parameters: Optional[ImagingParameters], out: PathLike, *,
              progress: ProgressFactory = no_progress, force: bool = False,
              dicom: Optional[DicomExport] = None, map_format: str = "nrrd",
              quicklook: bool = True) -> ImagingResult:
    """The ``image`` command: fit one tumour and write its maps, tables and summary into ``out`` (atomically).

    Parameters
    ----------
    sources : ImageSources
    parameters : ImagingParameters, optional
        Every setting of the analysis (None: the defaults).
    out : path
        The output folder; an existing one is replaced only once the new results are complete.
    progress : callable, optional
        Progress factory, see :func:`analyse_image`.
    force : bool
        Replace an existing ``out`` that holds files hypoxia-markers did not write (never an input).
    dicom : DicomExport, optional
        Also write the maps and the segmentation as DICOM (``--dicom-out``); checked before the fit.
    map_format : {"nrrd", "nifti"}
        File format of the maps and masks (``--format``).
    quicklook : bool
        Write ``quicklook.png``.

    Returns
    -------
    ImagingResult
    """
    from ..imaging.analysis import ImagingParameters
    from .dicom_export import check_dicom_export_settings, dicom_results

    parameters = parameters or ImagingParameters()
    check_label(sources.label)
    check_imaging_parameters(parameters)
    check_map_format(map_format)
    _check_injection_duration_before_reading(sources, parameters)
    input_paths = [*sources.dce, sources.mask] + ([sources.background] if sources.background is not None else [])
    prepare_output_dir(out, input_paths, force=force)
    if sources.background is not None and not Path(sources.background).is_file():  # before minutes of fitting
        raise InputError("file not found", source=str(sources.background), field="--t2w",
                         expected="a 3D T2-weighted volume (.nrrd, .nii.gz, ...)")
    if dicom is not None:
        check_dicom_export_settings(dicom, sources.dce, input_paths, results_out=out, force=force)
    result = analyse_image(sources, parameters, progress=progress)
    background = read_background(sources.background, result.geometry) if sources.background is not None else None
    inputs = sources.record()
    if dicom is not None:
        inputs["dicom_out"] = dicom.record()
    with dicom_results(result, dicom, input_paths, force=force):  # both folders, or neither
        write_imaging_result(result, out, inputs=inputs, input_paths=input_paths, force=force,
                             map_format=map_format, quicklook=quicklook, background=background)
    return result


def check_map_format(map_format: str) -> str:
    """``--format``: one of :data:`MAP_FORMATS`."""
    if map_format not in MAP_FORMATS:
        raise InputError(f"unknown format {map_format!r}", source="--format",
                         expected=" or ".join(MAP_FORMATS))
    return map_format


def read_background(path: PathLike, geometry):
    """The anatomical volume at ``path`` (T2W) on the DCE grid (linear interpolation in physical space)."""
    from ..io.volumes import read_volume_on_grid

    return read_volume_on_grid(path, geometry)


def write_imaging_result(result: ImagingResult, out_dir: Path, *, inputs: Optional[dict] = None,
                         input_paths: Sequence[PathLike] = (), force: bool = False, map_format: str = "nrrd",
                         quicklook: bool = True, background=None) -> Path:
    """Write ``result`` into ``out_dir`` atomically (complete or not at all) and return the folder.

    Parameters
    ----------
    result : ImagingResult
    out_dir : Path
        The output folder; an existing one is replaced only once the new results are complete.
    inputs : dict, optional
        Where the inputs came from (files, options), recorded in ``summary.json`` under ``inputs``.
    input_paths : paths
        The input files: ``out_dir`` may not be, contain or lie inside any of them.
    force : bool
        Replace an existing ``out_dir`` that holds files hypoxia-markers did not write.
    map_format : {"nrrd", "nifti"}
        File format of the volumes.
    quicklook : bool
        Write ``quicklook.png`` (skipped, with a warning in ``result.warnings``, without matplotlib).
    background : ndarray (k, j, i), optional
        Anatomy on the DCE grid for the quick-look (T2W); default the post-contrast mean.
    """
    from ..io.outputs import atomic_output_dir
    from ..io.results_schema import SUMMARY_JSON, write_result
    from ..io.volumes import write_volume

    ending = MAP_FORMATS[check_map_format(map_format)]
    with atomic_output_dir(Path(out_dir), input_paths, force=force) as tmp:
        for name in MAP_FILES:
            write_volume(getattr(result, name), result.geometry, tmp / f"{name}{ending}")
        if result.post_contrast is not None:
            write_volume(result.post_contrast, result.geometry, tmp / f"dce_post_contrast{ending}")
        write_slices_csv(result, tmp / "slices.csv")
        with open(tmp / "mean_curve.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["time_s", "mean_rsi", "brix_fit_rsi"])
            curve = result.mean_curve
            for row in zip(curve.times_s, curve.rsi, curve.fitted_rsi):
                writer.writerow([f"{value:.6g}" for value in row])
        if quicklook:
            _write_quicklook(result, tmp / QUICKLOOK_FILE, background)
        summary = result.summary()
        summary["thresholds_source"] = THRESHOLDS_SOURCE
        summary["map_format"] = map_format
        if inputs:
            summary["inputs"] = inputs
        write_result(SUMMARY_JSON, summary, tmp / "summary.json")
    return Path(out_dir)


def _write_quicklook(result: ImagingResult, path: Path, background) -> None:
    from ..report.quicklook import quicklook_data, write_quicklook

    data = quicklook_data(result, background=background,
                          background_name="T2W" if background is not None else "DCE post-contrast mean")
    if write_quicklook(data, path) is None:
        result.warnings.append(f"{QUICKLOOK_FILE} not written: matplotlib is not installed (pip install matplotlib); "
                               "the maps and numbers are complete")


def write_slices_csv(result: ImagingResult, path: Path) -> None:
    """One row per tumour slice, caudal (slice 1) to cranial, with its fit-quality counts."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=SLICE_COLUMNS)
        writer.writeheader()
        for s in result.slices:
            row = {**s.as_dict(), **s.fit_counts()}
            row["hypoxic_fraction"] = "" if row["hypoxic_fraction"] != row["hypoxic_fraction"] else \
                f"{row['hypoxic_fraction']:.6f}"
            row["is_biopsy_slice"] = int(row["is_biopsy_slice"])
            writer.writerow(row)
