"""``hypoxia-markers heterogeneity``: does one sample represent its tumour? Slices, biopsies, virtual biopsies."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, List

from ... import CITATION, __version__
from ...errors import InputError

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
    parser.add_argument("--out", required=True, type=Path, metavar="DIR",
                        help="output folder: heterogeneity.json and CSV tables (and clustering.png)")
    images = parser.add_argument_group("imaging (slices and virtual biopsies)")
    images.add_argument("--images", nargs="+", type=Path, default=[], metavar="DIR",
                        help="image output folders (one per patient), or folders containing them")
    images.add_argument("--hf-cutoff", type=float, default=None,
                        help="slice/tumour 'more hypoxic' at HF >= this (default: each patient's own, 0.27)")
    images.add_argument("--a-threshold", type=float, default=None,
                        help="virtual biopsies: hypoxic voxel at A_Brix < this (default: each patient's own, 1.56)")
    images.add_argument("--biopsy-slice", type=int, default=None,
                        help="slice number (1 = most caudal) standing for the biopsy (default: each patient's own)")
    images.add_argument("--virtual-slice", default="biopsy", metavar="biopsy|largest|N",
                        help="slice of the virtual biopsies: the biopsy slice (--biopsy-slice if given, else each "
                             "patient's own), the largest, or slice number N")
    images.add_argument("--no-virtual", action="store_true", help="skip virtual biopsies (no maps are read)")
    images.add_argument("--patch-size", type=int, default=12, help="voxels per virtual biopsy")
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
    genes.add_argument("--gene-cutoff", type=float, default=0.0, help="'more hypoxic' at score >= this")
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
    stats.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and of the virtual biopsies")
    parser.add_argument("--no-figure", action="store_true", help="do not draw clustering.png")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
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
    from ...heterogeneity.analysis import (
        VarianceSettings,
        biopsy_heterogeneity,
        slice_heterogeneity,
        values_heterogeneity,
        virtual_biopsy_heterogeneity,
    )
    from ...heterogeneity.clustering import reference_curves
    from ...heterogeneity.inputs import (
        cohort_slices,
        find_image_folders,
        load_tumour_slice,
        read_biopsy_scores,
        read_image_result,
    )
    from ...heterogeneity.variance import read_long_table
    from ...io.outputs import atomic_output_dir, write_json
    from ...progress import progress_bar

    if not (args.images or args.biopsies or args.values):
        raise InputError("nothing to analyse", source="options", expected="--images, --biopsies and/or --values")
    if args.n_boot < 10:
        raise InputError(f"{args.n_boot}", source="--n-boot", expected=">= 10 replicates")
    if not 0 < args.level < 1:
        raise InputError(f"{args.level}", source="--level", expected="a level between 0 and 1, e.g. 0.95")
    if args.patch_size < 1 or args.min_valid_voxels < 1:
        raise InputError("must be >= 1", source="--patch-size/--min-valid-voxels")
    settings = VarianceSettings(ks=_parse_ks(args.ks), ci_method=args.ci, level=args.level, n_boot=args.n_boot,
                                seed=args.seed)
    which_slice = _parse_slice(args.virtual_slice)
    if which_slice == "biopsy" and args.biopsy_slice is not None:
        which_slice = int(args.biopsy_slice)  # the biopsy slice chosen here, not the one of the image runs

    results: Dict[str, object] = {"version": __version__, "method": CITATION}
    parameters: Dict[str, object] = {
        "variance": settings.as_dict(), "transform": args.transform, "hf_cutoff": args.hf_cutoff,
        "a_threshold": args.a_threshold, "biopsy_slice": args.biopsy_slice, "virtual_slice": which_slice,
        "virtual_biopsies": not args.no_virtual, "patch_size": args.patch_size,
        "min_valid_voxels": args.min_valid_voxels, "min_tumours_gam": args.min_tumours_gam, "seed": args.seed,
        "gene_cutoff": args.gene_cutoff, "biopsy_tumour_column": args.biopsy_tumour_column,
        "biopsy_value_column": args.biopsy_value_column, "tumour_column": args.tumour_column,
        "value_column": args.value_column, "values_transform": args.values_transform,
    }
    inputs: Dict[str, object] = {}
    tables: Dict[str, object] = {}
    messages: List[str] = []
    warnings: List[str] = []
    virtual = None

    if args.images:
        folders = find_image_folders(args.images)
        images = [read_image_result(folder) for folder in folders]
        inputs["images"] = [str(f) for f in folders]
        slices = slice_heterogeneity(cohort_slices(images, biopsy_slice=args.biopsy_slice),
                                     hf_cutoff=args.hf_cutoff, transform=args.transform, settings=settings)
        results["slices"] = slices.to_dict()
        tables["slices.csv"] = slices.slices
        tables["slice_tumours.csv"] = slices.tumours
        messages.append(_summary_line("slices", slices.variance)
                        + f"; {slices.share_same_status:.0%} of slices have their tumour's status"
                        + (f"; biopsy slice vs tumour r = {slices.correlation['pearson_r']:.2f}"
                           if "pearson_r" in slices.correlation else ""))
        if not args.no_virtual:
            def tumour_slices():
                for image in images:
                    yield load_tumour_slice(image, which_slice, a_threshold=args.a_threshold)

            with progress_bar("virtual biopsies", unit="patient", enabled=not args.quiet) as progress:
                virtual = virtual_biopsy_heterogeneity(
                    tumour_slices(), patch_size=args.patch_size, min_valid_voxels=args.min_valid_voxels,
                    seed=args.seed, transform=args.transform, settings=settings,
                    min_tumours_gam=args.min_tumours_gam, progress=progress, n_total=len(images),
                )
            results["virtual_biopsies"] = virtual.to_dict()
            tables["virtual_biopsies.csv"] = virtual.biopsies
            tables["virtual_biopsy_tumours.csv"] = virtual.tumours
            median_n = float(virtual.tumours["n_tumour_voxels"].median())
            tables["clustering_curves.csv"] = reference_curves(n_voxels=median_n, patch_size=args.patch_size,
                                                               fit=virtual.clustering)
            results["virtual_biopsies"]["reference_curves_n_voxels"] = median_n
            line = _summary_line("virtual biopsies", virtual.variance)
            if virtual.clustering is not None:
                fit = virtual.clustering
                line += f"; clustering: {int((fit.label == 'more clustering').sum())} more, " \
                        f"{int((fit.label == 'less clustering').sum())} less"
            else:
                warnings.append(f"clustering not computed: {virtual.clustering_reason}")
            messages.append(line)

    if args.biopsies:
        table = read_biopsy_scores(args.biopsies, tumour_column=args.biopsy_tumour_column,
                                   value_column=args.biopsy_value_column, cutoff=args.gene_cutoff)
        inputs["biopsies"] = str(args.biopsies)
        biopsies = biopsy_heterogeneity(table, cutoff=args.gene_cutoff, settings=settings, source=str(args.biopsies))
        results["biopsies"] = biopsies.to_dict()
        tables["biopsy_tumours.csv"] = biopsies.tumours
        share = results["biopsies"]["share_of_tumours_whose_biopsies_agree"]
        messages.append(_summary_line("biopsies", biopsies.variance)
                        + (f"; biopsy calls agree in {share:.0%} of tumours" if share is not None else ""))

    if args.values:
        table = read_long_table(args.values, args.tumour_column, args.value_column)
        inputs["values"] = str(args.values)
        variance, summary = values_heterogeneity(table, transform=args.values_transform, settings=settings,
                                                 source=str(args.values))
        results["values"] = {"variance_components": variance.to_dict(), "n_missing": table.attrs["n_missing"]}
        tables["values_tumours.csv"] = summary
        messages.append(_summary_line("values", variance))

    for key in ("slices", "virtual_biopsies", "biopsies", "values"):
        section = results.get(key)
        components = section.get("variance_components", {}) if isinstance(section, dict) else {}
        if "not_computed" in components:
            warnings.append(f"{key}: W/T not computed: {components['not_computed']}")
        if "note" in components:
            warnings.append(f"{key}: {components['note']}")
    results["parameters"] = parameters
    results["inputs"] = inputs
    results["warnings"] = warnings
    with atomic_output_dir(args.out) as out:
        for name, table in tables.items():
            table.to_csv(out / name, index=False)
        if virtual is not None and not args.no_figure and virtual.tumours["sd_hypoxic_fraction"].notna().any():
            from ...report.clustering_figure import plot_clustering

            plot_clustering(virtual.tumours, tables["clustering_curves.csv"], out / "clustering.png")
            results["figures"] = ["clustering.png"]
        results["files"] = sorted(tables)
        write_json(results, out / "heterogeneity.json")
    for warning in warnings:
        print(f"hypoxia-markers heterogeneity: warning: {warning}", file=sys.stderr)
    for message in messages:
        print(message)
    print(f"Results in {args.out}")
    return 0


def _summary_line(name: str, variance) -> str:
    if variance.components is None:
        return f"{name}: W/T not computed ({variance.reason})"
    vc = variance.components
    text = f"{name}: W/T = {vc.w_over_t:.2f} ({vc.n_tumours} tumours, {vc.n_samples} samples)"
    if variance.interval is not None:
        text += f", {variance.interval.level:.0%} CI {variance.interval.low[0]:.2f}-{variance.interval.high[0]:.2f}" \
            if int(variance.interval.ks[0]) == 1 else ""
    return text
