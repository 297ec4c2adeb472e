"""``hypoxia-markers phantom``: write a synthetic DCE-MRI examination with known truth."""

from __future__ import annotations

import argparse

from ..options import add_out_dir, add_seed

ORDER = 10


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "phantom",
        help="write a synthetic DCE-MRI phantom with known A_Brix, hypoxic voxels and fractions",
        description=(
            "Write a synthetic DCE-MRI series (dce.seq.nrrd), a T2W-like volume on another grid with the tumour "
            "delineated on it (t2w.nrrd, tumour_mask_t2w.nrrd), and the truth (truth/: maps on the DCE grid and "
            "truth.json with the hypoxic fraction of the tumour and of each slice)."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_out_dir(parser)
    add_seed(parser)
    parser.add_argument("--noise", type=float, default=0.03,
                        help="noise SD as a fraction of the tumour's mean peak relative signal increase")
    parser.add_argument("--hypoxic-fraction", type=float, default=0.3, help="target hypoxic fraction of the tumour")
    parser.add_argument("--clustering-mm", type=float, default=4.0,
                        help="correlation length of hypoxic regions in mm (0 = randomly scattered voxels)")
    parser.add_argument("--n-frames", type=int, default=40, help="number of frames")
    parser.add_argument("--frame-interval", type=float, default=10.0, help="seconds between frames")
    parser.add_argument("--baseline-frames", type=int, default=10, help="frames before the bolus arrives")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ...errors import InputError
    from ...imaging.phantom import make_phantom, write_phantom
    from ...pipeline.checks import prepare_output_dir

    prepare_output_dir(args.out, force=args.force)

    if not 0 <= args.hypoxic_fraction <= 1:
        raise InputError("the hypoxic fraction must be between 0 and 1", source="--hypoxic-fraction",
                         expected="a number in [0, 1]")
    if args.n_frames < args.baseline_frames + 4 or args.baseline_frames < 1:
        raise InputError("too few frames after the baseline", source="--n-frames/--baseline-frames",
                         expected="at least 1 baseline frame and 4 frames after it")
    phantom = make_phantom(
        seed=args.seed, noise=args.noise, hypoxic_fraction=args.hypoxic_fraction, clustering_mm=args.clustering_mm,
        n_frames=args.n_frames, frame_interval_s=args.frame_interval, baseline_frames=args.baseline_frames,
    )
    out = write_phantom(phantom, args.out, force=args.force)
    print(f"phantom written to {out} (true hypoxic fraction {phantom.hypoxic_fraction:.3f})")
    return 0
