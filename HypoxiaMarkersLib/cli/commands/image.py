"""``hypoxia-markers image``: Brix maps, hypoxic voxels and hypoxic fractions of one tumour."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..console import print_warnings
from ..options import (
    add_a_threshold,
    add_biopsy_slice,
    add_hf_cutoff,
    add_injection_duration,
    add_map_format,
    add_out_dir,
    add_quiet,
)

ORDER = 20


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "image",
        help="fit the Brix model in every tumour voxel; A_Brix maps and hypoxic fractions",
        description=(
            "Fit the Brix pharmacokinetic model to the relative signal increase of every tumour voxel of a DCE-MRI "
            "series, map A_Brix, mark hypoxic voxels (A_Brix < threshold) and report the hypoxic fraction of the "
            "tumour, of each slice (1 = most caudal) and of the biopsy slice. The tumour mask may be drawn on "
            "another grid (T2W): it is resampled onto the DCE grid in physical space."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("dce", nargs="+", type=Path, metavar="DCE",
                        help="4D file (.nrrd, .seq.nrrd, .nii[.gz], .mha), a DICOM folder, or several 3D volumes "
                             "(one per frame, with --times or --frame-interval)")
    parser.add_argument("--mask", required=True, type=Path,
                        help="tumour: label map (nonzero = tumour), Slicer segmentation (.seg.nrrd) or DICOM "
                             "RTSTRUCT (.dcm, with --roi)")
    parser.add_argument("--label", type=int, default=None, help="use only this label value of the label map")
    parser.add_argument("--segment", default=None, help="segment name in a .seg.nrrd (default: the only one)")
    parser.add_argument("--roi", default=None, metavar="NAME",
                        help="ROI name in an RTSTRUCT (default: the only one); its contours are rasterised onto the "
                             "DCE grid in physical space")
    parser.add_argument("--mask-min-fraction", type=float, default=None, metavar="F",
                        help="a DCE voxel is tumour when at least this fraction of its volume is (partial volume, "
                             "e.g. 0.5; default: nearest neighbour at the voxel centre)")
    parser.add_argument("--allow-mask-outside", action="store_true",
                        help="analyse the part of the tumour inside the DCE series even when more than 10 %% of the "
                             "mask lies outside it (the share is recorded in summary.json)")
    add_out_dir(parser)
    add_map_format(parser)
    parser.add_argument("--t2w", type=Path, default=None, metavar="FILE",
                        help="T2-weighted volume shown under the maps in quicklook.png (resampled onto the DCE grid; "
                             "default: the DCE post-contrast mean)")
    timing = parser.add_argument_group("frame times")
    timing.add_argument("--times", default=None,
                        help="frame times in seconds, comma-separated, or a file of times (one per line) "
                             "(overrides the DCE file's times)")
    timing.add_argument("--frame-interval", type=float, default=None,
                        help="seconds between frames; times = 0, dt, 2 dt, ... (overrides the file)")
    model = parser.add_argument_group("model and hypoxia")
    model.add_argument("--baseline-frames", type=int, default=None,
                       help="number of pre-contrast frames (default: detected from the tumour's mean curve)")
    add_a_threshold(model)
    add_hf_cutoff(model)
    add_biopsy_slice(model)
    add_injection_duration(model)
    model.add_argument("--fit-lag-per-voxel", action="store_true",
                       help="fit the bolus arrival time per voxel (default: one per tumour)")
    model.add_argument("--signal-floor", type=float, default=0.05,
                       help="no fit where the baseline signal is at or below this fraction of the series' "
                            "99th-percentile baseline signal")
    quality = parser.add_argument_group("fit quality (sensitivity checks; by default every fit is kept, as published)")
    quality.add_argument("--min-r2", type=float, default=None, metavar="R",
                         help="leave fitted voxels with R² below R out of the hypoxic fraction (default: keep every "
                              "fit; low R² is expected in weakly enhancing, hypoxic voxels, so this lowers the "
                              "fraction: a sensitivity check, not a correction)")
    quality.add_argument("--exclude-bound-fits", action="store_true",
                         help="leave voxels whose fit ended on a parameter bound out of the hypoxic fraction")
    dicom = parser.add_argument_group(
        "DICOM export (needs Python 3.10+ and pip install \"HypoxiaMarkersLib[dicom]\")")
    dicom.add_argument("--dicom-out", type=Path, default=None, metavar="DIR",
                       help="also write A_Brix, k_ep, k_el and R² as DICOM Parametric Maps and the tumour and its "
                            "hypoxic voxels as a DICOM Segmentation into DIR (for PACS and planning systems)")
    dicom.add_argument("--patient-id", default=None,
                       help="PatientID of the DICOM results when the DCE series is not DICOM (required then; a "
                            "DICOM series gives its own)")
    dicom.add_argument("--patient-name", default="", help="PatientName (FAMILY^GIVEN) of the DICOM results when the "
                                                          "DCE series is not DICOM (default: empty)")
    dicom.add_argument("--study-instance-uid", default=None,
                       help="StudyInstanceUID to file the DICOM results in when the DCE series is not DICOM "
                            "(default: a new study)")
    add_quiet(parser)
    parser.set_defaults(func=run)


def dicom_export_from(args: argparse.Namespace):
    """The :class:`~HypoxiaMarkersLib.pipeline.dicom_export.DicomExport` of ``--dicom-out`` and the identity options
    (None without ``--dicom-out``; identity options without it are refused)."""
    from ...errors import InputError
    from ...pipeline.dicom_export import DicomExport, DicomIdentity

    given = [option for option, value in (("--patient-id", args.patient_id), ("--patient-name", args.patient_name),
                                          ("--study-instance-uid", args.study_instance_uid)) if value]
    if args.dicom_out is None:
        if given:
            raise InputError(f"{given[0]} names the patient of DICOM results, but no --dicom-out was given",
                             source=given[0], expected="--dicom-out DIR with it, or neither")
        return None
    identity = None
    if given:
        identity = DicomIdentity(patient_id=args.patient_id or "", patient_name=args.patient_name or "",
                                 study_instance_uid=args.study_instance_uid)
    return DicomExport(out=args.dicom_out, identity=identity)


def run(args: argparse.Namespace) -> int:
    from functools import partial

    from ...imaging.analysis import ImagingParameters
    from ...imaging.timing import parse_times_option
    from ...pipeline.image import ImageSources, run_image
    from ...progress import progress_bar

    sources = ImageSources(
        dce=list(args.dce), mask=args.mask, label=args.label, segment=args.segment,
        times=parse_times_option(args.times) if args.times is not None else None, times_text=args.times,
        frame_interval=args.frame_interval, mask_min_fraction=args.mask_min_fraction,
        allow_mask_outside=args.allow_mask_outside, roi=args.roi, background=args.t2w,
    )
    parameters = ImagingParameters(
        a_threshold=args.a_threshold, hf_cutoff=args.hf_cutoff, biopsy_slice=args.biopsy_slice,
        baseline_frames=args.baseline_frames, injection_duration_s=args.injection_duration,
        fit_lag_per_voxel=args.fit_lag_per_voxel, signal_floor_fraction=args.signal_floor,
        min_r2=args.min_r2, exclude_bound_fits=args.exclude_bound_fits,
    )
    result = run_image(sources, parameters, args.out, progress=partial(progress_bar, enabled=not args.quiet),
                       force=args.force, dicom=dicom_export_from(args), map_format=args.format)
    biopsy = result.biopsy_slice
    print(
        f"hypoxic fraction {result.hypoxic_fraction:.3f} ({result.classification}); "
        f"{result.n_fitted} of {result.n_tumour_voxels} tumour voxels fitted (converged or at a bound), "
        f"{result.n_failed} failed; biopsy slice {biopsy.slice}: {biopsy.hypoxic_fraction:.3f}. Results in {args.out}"
        + (f"; DICOM in {args.dicom_out}" if args.dicom_out is not None else "")
    )
    if result.fit_quality is not None:
        print(fit_quality_line(result.fit_quality))
    print_warnings("image", result.warnings)
    return 0


def fit_quality_line(q) -> str:
    """The console line of a :class:`~HypoxiaMarkersLib.imaging.quality.FitQuality`."""
    excluded = "" if not q.n_excluded else f"; {q.n_excluded} excluded from the reported fraction ({q.excluded})"
    return (f"fit quality: {q.n_at_bound} at a parameter bound, {q.n_low_r2} with R² < {q.r2_threshold:g} "
            f"({100 * q.share_poor:.0f} % poor fits); hypoxic fraction {q.hypoxic_fraction_all_fits:.3f} over every "
            f"fit, {q.hypoxic_fraction_good_fits:.3f} over good fits{excluded}")

