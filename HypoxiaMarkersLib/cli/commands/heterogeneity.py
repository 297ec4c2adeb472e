"""``hypoxia-markers heterogeneity``: does one sample represent its tumour? Slices, biopsies, virtual biopsies."""

from __future__ import annotations

import argparse
from pathlib import Path

from ... import CITATION
from ...errors import InputError
from ...rules import A_THRESHOLD, GENE_SCORE_CUTOFF, HF_CUTOFF, PATCH_SIZE
from ..console import print_warnings
from ..options import add_a_threshold, add_hf_cutoff, add_out_dir, add_quiet, add_seed

ORDER = 60


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "heterogeneity",
        help="intratumour heterogeneity: W/T of slices, biopsies and virtual biopsies; clustering of hypoxia",
        description=(
            "Variance components (random-effects one-way ANOVA, unbalanced groups) of several samples per tumour: "
            "W/T (within-tumour share of the variance) and Wk/T for the mean of k samples, with confidence "
            "intervals. --images (image output folders): slices (W/T of slice hypoxic fractions, share of slices "
            "with their tumour's status, biopsy slice vs tumour correlation) and virtual biopsies (12-voxel patches "
            "of one slice; SD per tumour; W/T; clustering of hypoxia from the GAM SD ~ s(HF)). --biopsies (per-"
            "biopsy gene scores): W/T, Wk/T and agreement of calls. --values: any long-format table. "
            f"Method: {CITATION}"
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_out_dir(parser, "output folder: heterogeneity.json and CSV tables (and clustering.png)", metavar="DIR")
    images = parser.add_argument_group("imaging (slices and virtual biopsies)")
    images.add_argument("--images", nargs="+", type=Path, default=[], metavar="DIR",
                        help="image output folders (one per patient), or folders containing them")
    add_hf_cutoff(images, None, help_default=f" (default: each patient's own, {HF_CUTOFF:g})")
    add_a_threshold(images, None,
                    help_default=f" in the virtual biopsies (default: each patient's own, {A_THRESHOLD:g})")
    images.add_argument("--biopsy-slice", type=int, default=None,
                        help="slice number (1 = most caudal) standing for the biopsy (default: each patient's own)")
    images.add_argument("--virtual-slice", default="biopsy", metavar="biopsy|largest|N",
                        help="slice of the virtual biopsies: the biopsy slice (--biopsy-slice if given, else each "
                             "patient's own), the largest, or slice number N")
    images.add_argument("--no-virtual", action="store_true", help="skip virtual biopsies (no maps are read)")
    images.add_argument("--patch-size", type=int, default=PATCH_SIZE, help="voxels per virtual biopsy")
    images.add_argument("--min-valid-voxels", type=int, default=6,
                        help="fitted voxels a virtual biopsy needs to have a hypoxic fraction")
    images.add_argument("--transform", choices=("logit", "none"), default="logit",
                        help="scale of hypoxic fractions in the ANOVA (empirical logit, or the fraction itself)")
    images.add_argument("--min-tumours-gam", type=int, default=10,
                        help="tumours with an SD needed to fit the clustering GAM")
    genes = parser.add_argument_group("gene scores of several biopsies per tumour")
    genes.add_argument("--biopsies", type=Path, default=None, metavar="FILE",
                       help="per-biopsy scores (CSV/TSV), e.g. the genes command's per-sample output")
    genes.add_argument("--biopsy-tumour-column", default="patient", metavar="COL", help="tumour (patient) column")
    genes.add_argument("--biopsy-value-column", default="hypoxia_score", metavar="COL", help="score column")
    genes.add_argument("--gene-cutoff", type=float, default=GENE_SCORE_CUTOFF, help="'more hypoxic' at score >= this")
    values = parser.add_argument_group("any values, several per tumour")
    values.add_argument("--values", type=Path, default=None, metavar="FILE", help="long-format CSV/TSV")
    values.add_argument("--tumour-column", default="tumour", metavar="COL", help="tumour column of --values")
    values.add_argument("--value-column", default="value", metavar="COL", help="value column of --values")
    values.add_argument("--values-transform", choices=("none", "logit"), default="none",
                        help="logit for fractions strictly between 0 and 1")
    stats = parser.add_argument_group("variance components")
    stats.add_argument("--ks", default="1,2,3,4", metavar="K,K", help="report Wk/T for these numbers of samples")
    stats.add_argument("--ci", choices=("bootstrap", "f", "none"), default="bootstrap",
                       help="confidence intervals: bootstrap over tumours, or normal-theory F")
    stats.add_argument("--level", type=float, default=0.95, help="confidence level")
    stats.add_argument("--n-boot", type=int, default=2000, help="bootstrap replicates")
    add_seed(stats)
    parser.add_argument("--no-figure", action="store_true", help="do not draw clustering.png")
    add_quiet(parser)
    parser.set_defaults(func=run)


def _parse_ks(text: str) -> tuple:
    try:
        ks = tuple(int(k) for k in text.split(",") if k.strip())
    except ValueError:
        raise InputError(f"'{text}' is not a list of whole numbers", source="--ks", expected="e.g. 1,2,3,4") from None
    if not ks or min(ks) < 1:
        raise InputError(f"'{text}'", source="--ks", expected="numbers of samples >= 1, e.g. 1,2,3,4")
    return ks


def _parse_slice(text: str):
    if text in ("biopsy", "largest"):
        return text
    try:
        number = int(text)
    except ValueError:
        raise InputError(f"'{text}'", source="--virtual-slice", expected="biopsy, largest or a slice number") from None
    if number < 1:
        raise InputError(f"'{text}'", source="--virtual-slice", expected="a slice number >= 1 (1 = most caudal)")
    return number


def run(args: argparse.Namespace) -> int:
    from ...pipeline.heterogeneity import HeterogeneitySettings, run_heterogeneity
    from ...progress import progress_bar

    settings = HeterogeneitySettings(
        hf_cutoff=args.hf_cutoff, a_threshold=args.a_threshold, biopsy_slice=args.biopsy_slice,
        virtual_slice=_parse_slice(args.virtual_slice), virtual=not args.no_virtual, patch_size=args.patch_size,
        min_valid_voxels=args.min_valid_voxels, transform=args.transform, min_tumours_gam=args.min_tumours_gam,
        biopsy_tumour_column=args.biopsy_tumour_column, biopsy_value_column=args.biopsy_value_column,
        gene_cutoff=args.gene_cutoff, tumour_column=args.tumour_column, value_column=args.value_column,
        values_transform=args.values_transform, ks=_parse_ks(args.ks), ci=args.ci, level=args.level,
        n_boot=args.n_boot, seed=args.seed, figure=not args.no_figure,
    )
    with progress_bar("virtual biopsies", unit="patient", enabled=not args.quiet) as progress:
        output = run_heterogeneity(args.out, settings, images=args.images, biopsies=args.biopsies,
                                   values=args.values, progress=progress, force=args.force)
    print_warnings("heterogeneity", output.warnings)
    for message in output.messages:
        print(message)
    print(f"Results in {args.out}")
    return 0
