"""The heterogeneity stage: does one sample represent its tumour? (``heterogeneity`` command).

Example::

    from HypoxiaMarkersLib.pipeline.heterogeneity import HeterogeneitySettings, run_heterogeneity
    run_heterogeneity("heterogeneity-out", HeterogeneitySettings(), images=["results/patients"],
                      biopsies="results/genes/scores.csv")

writes ``heterogeneity.json``, the CSV tables and ``clustering.png`` (and ``clustering.svg``) into the output
folder (atomically) and returns the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

from .. import CITATION, __version__
from ..errors import InputError
from ..progress import ProgressCallback
from ..rules import GENE_SCORE_CUTOFF, PATCH_SIZE
from .checks import check_a_threshold, check_count, check_hf_cutoff, check_range, prepare_output_dir

PathLike = Union[str, Path]


@dataclass
class HeterogeneitySettings:
    """Settings of the heterogeneity analysis (all written into ``heterogeneity.json``).

    Attributes
    ----------
    hf_cutoff, a_threshold, biopsy_slice : optional
        Slices and virtual biopsies: "more hypoxic" at HF >= hf_cutoff, hypoxic voxel at A_Brix < a_threshold,
        the biopsy slice (None: each patient's own, as in its image results).
    virtual_slice : "biopsy", "largest" or int
        Slice of the virtual biopsies (an int is a slice number, 1 = most caudal).
    virtual : bool
        Draw virtual biopsies (reads the maps).
    patch_size, min_valid_voxels : int
        Voxels per virtual biopsy; fitted voxels it needs to have a hypoxic fraction.
    transform : str
        Scale of hypoxic fractions in the ANOVA: "logit" or "none".
    min_tumours_gam : int
        Tumours with an SD needed to fit the clustering GAM.
    biopsy_tumour_column, biopsy_value_column : str
        Columns of the per-biopsy scores table.
    gene_cutoff : float
        Biopsy "more hypoxic" at score >= this.
    tumour_column, value_column, values_transform : str
        Columns and scale of a long-format values table.
    ks : tuple of int
        Wk/T reported for these numbers of samples.
    ci, level, n_boot : str, float, int
        Confidence intervals ("bootstrap", "f", "none"), their level, bootstrap replicates.
    seed : int
        Seed of the bootstrap and of the virtual biopsies.
    figure : bool
        Draw ``clustering.png``.
    """

    hf_cutoff: Optional[float] = None
    a_threshold: Optional[float] = None
    biopsy_slice: Optional[int] = None
    virtual_slice: Union[str, int] = "biopsy"
    virtual: bool = True
    patch_size: int = PATCH_SIZE
    min_valid_voxels: int = 6
    transform: str = "logit"
    min_tumours_gam: int = 10
    biopsy_tumour_column: str = "patient"
    biopsy_value_column: str = "hypoxia_score"
    gene_cutoff: float = GENE_SCORE_CUTOFF
    tumour_column: str = "tumour"
    value_column: str = "value"
    values_transform: str = "none"
    ks: Tuple[int, ...] = (1, 2, 3, 4)
    ci: str = "bootstrap"
    level: float = 0.95
    n_boot: int = 2000
    seed: int = 0
    figure: bool = True

    def check(self) -> None:
        if self.hf_cutoff is not None:
            check_hf_cutoff(self.hf_cutoff)
        if self.a_threshold is not None:
            check_a_threshold(self.a_threshold)
        if self.biopsy_slice is not None:
            check_count(self.biopsy_slice, "--biopsy-slice", minimum=1, expected="a slice number >= 1")
        check_range(self.gene_cutoff, "--gene-cutoff", expected="a finite gene score")
        check_count(self.min_tumours_gam, "--min-tumours-gam", minimum=1)
        if self.n_boot < 10:
            raise InputError(f"{self.n_boot}", source="--n-boot", expected=">= 10 replicates")
        if not 0 < self.level < 1:
            raise InputError(f"{self.level}", source="--level", expected="a level between 0 and 1, e.g. 0.95")
        if self.patch_size < 1 or self.min_valid_voxels < 1:
            raise InputError("must be >= 1", source="--patch-size/--min-valid-voxels")
        if not self.ks or min(self.ks) < 1:
            raise InputError(f"{self.ks}", source="--ks", expected="numbers of samples >= 1, e.g. 1,2,3,4")


@dataclass
class HeterogeneityOutput:
    """What :func:`run_heterogeneity` computed and where it wrote it."""

    out: Path
    results: dict  # the content of heterogeneity.json
    tables: Dict[str, object] = field(default_factory=dict)  # file name -> DataFrame
    messages: List[str] = field(default_factory=list)  # one summary line per analysis
    warnings: List[str] = field(default_factory=list)


def read_long_table(path: PathLike, tumour_column: str = "tumour", value_column: str = "value"):
    """Read a long-format table (one row per sample) and return its tumour and value columns.

    Rows with an empty value are dropped (the number dropped is in ``DataFrame.attrs['n_missing']``); a value
    that is not a number is an error naming its row.

    Parameters
    ----------
    path : path
        CSV or TSV (plain or gzipped), see :func:`HypoxiaMarkersLib.io.tables.read_table`.
    tumour_column, value_column : str
        Column names of the tumour label and of the value.

    Returns
    -------
    DataFrame with columns ``tumour`` (str) and ``value`` (float).
    """
    from ..heterogeneity.variance import long_table_from_frame
    from ..io.tables import read_table

    table = read_table(path, text=True, what="long-format table")
    return long_table_from_frame(table, tumour_column, value_column, source=str(path))


def run_heterogeneity(
    out: PathLike,
    settings: HeterogeneitySettings,
    *,
    images: Sequence[PathLike] = (),
    biopsies: Optional[PathLike] = None,
    values: Optional[PathLike] = None,
    progress: Optional[ProgressCallback] = None,
    force: bool = False,
) -> HeterogeneityOutput:
    """Variance components of several samples per tumour, virtual biopsies and the clustering of hypoxia.

    Parameters
    ----------
    out : path
        Output folder; replaced only once complete.
    settings : HeterogeneitySettings
    images : sequence of paths
        ``image`` output folders (one per patient), or folders containing them.
    biopsies : path, optional
        Per-biopsy gene scores (e.g. the ``genes`` stage's per-sample CSV).
    values : path, optional
        Any long-format table of several values per tumour.
    progress : callable, optional
        ``progress(done, total)`` over the patients' virtual biopsies.
    force : bool
        Replace an existing ``out`` that holds files hypoxia-markers did not write (never an input).

    Returns
    -------
    HeterogeneityOutput
    """
    from ..heterogeneity.analysis import (
        VarianceSettings,
        biopsy_heterogeneity,
        slice_heterogeneity,
        values_heterogeneity,
        virtual_biopsy_heterogeneity,
    )
    from ..heterogeneity.clustering import reference_curves
    from ..heterogeneity.inputs import (
        cohort_slices,
        find_image_folders,
        load_tumour_slice,
        read_biopsy_scores,
        read_image_result,
    )
    from ..io.outputs import atomic_output_dir
    from ..io.results_schema import HETEROGENEITY_JSON, write_result

    s = settings
    if not (images or biopsies or values):
        raise InputError("nothing to analyse", source="options", expected="--images, --biopsies and/or --values")
    s.check()
    # The image results themselves (not a folder that holds them, where the output may go) are the inputs.
    folders = find_image_folders([Path(p) for p in images]) if images else []
    input_paths = [*folders, biopsies, values]
    prepare_output_dir(out, input_paths, force=force)
    variance_settings = VarianceSettings(ks=tuple(s.ks), ci_method=s.ci, level=s.level, n_boot=s.n_boot,
                                         seed=s.seed)
    which_slice = s.virtual_slice
    if which_slice == "biopsy" and s.biopsy_slice is not None:
        which_slice = int(s.biopsy_slice)  # the biopsy slice chosen here, not the one of the image runs

    results: Dict[str, object] = {"version": __version__, "method": CITATION}
    parameters: Dict[str, object] = {
        "variance": variance_settings.as_dict(), "transform": s.transform, "hf_cutoff": s.hf_cutoff,
        "a_threshold": s.a_threshold, "biopsy_slice": s.biopsy_slice, "virtual_slice": which_slice,
        "virtual_biopsies": s.virtual, "patch_size": s.patch_size,
        "min_valid_voxels": s.min_valid_voxels, "min_tumours_gam": s.min_tumours_gam, "seed": s.seed,
        "gene_cutoff": s.gene_cutoff, "biopsy_tumour_column": s.biopsy_tumour_column,
        "biopsy_value_column": s.biopsy_value_column, "tumour_column": s.tumour_column,
        "value_column": s.value_column, "values_transform": s.values_transform,
    }
    inputs: Dict[str, object] = {}
    tables: Dict[str, object] = {}
    messages: List[str] = []
    warnings: List[str] = []
    virtual = None

    if images:
        image_results = [read_image_result(folder) for folder in folders]
        inputs["images"] = [str(f) for f in folders]
        slices = slice_heterogeneity(cohort_slices(image_results, biopsy_slice=s.biopsy_slice),
                                     hf_cutoff=s.hf_cutoff, transform=s.transform, settings=variance_settings)
        results["slices"] = slices.to_dict()
        tables["slices.csv"] = slices.slices
        tables["slice_tumours.csv"] = slices.tumours
        messages.append(summary_line("slices", slices.variance)
                        + f"; {slices.share_same_status:.0%} of slices have their tumour's status"
                        + (f"; biopsy slice vs tumour r = {slices.correlation['pearson_r']:.2f}"
                           if "pearson_r" in slices.correlation else ""))
        if s.virtual:
            def tumour_slices():
                for image in image_results:
                    yield load_tumour_slice(image, which_slice, a_threshold=s.a_threshold)

            virtual = virtual_biopsy_heterogeneity(
                tumour_slices(), patch_size=s.patch_size, min_valid_voxels=s.min_valid_voxels,
                seed=s.seed, transform=s.transform, settings=variance_settings,
                min_tumours_gam=s.min_tumours_gam, progress=progress, n_total=len(image_results),
            )
            results["virtual_biopsies"] = virtual.to_dict()
            tables["virtual_biopsies.csv"] = virtual.biopsies
            tables["virtual_biopsy_tumours.csv"] = virtual.tumours
            median_n = float(virtual.tumours["n_tumour_voxels"].median())
            tables["clustering_curves.csv"] = reference_curves(n_voxels=median_n, patch_size=s.patch_size,
                                                               fit=virtual.clustering)
            results["virtual_biopsies"]["reference_curves_n_voxels"] = median_n
            line = summary_line("virtual biopsies", virtual.variance)
            if virtual.clustering is not None:
                fit = virtual.clustering
                line += f"; clustering: {int((fit.label == 'more clustering').sum())} more, " \
                        f"{int((fit.label == 'less clustering').sum())} less"
            else:
                warnings.append(f"clustering not computed: {virtual.clustering_reason}")
            messages.append(line)

    if biopsies:
        table = read_biopsy_scores(biopsies, tumour_column=s.biopsy_tumour_column,
                                   value_column=s.biopsy_value_column, cutoff=s.gene_cutoff)
        inputs["biopsies"] = str(biopsies)
        biopsy = biopsy_heterogeneity(table, cutoff=s.gene_cutoff, settings=variance_settings, source=str(biopsies))
        results["biopsies"] = biopsy.to_dict()
        tables["biopsy_tumours.csv"] = biopsy.tumours
        share = results["biopsies"]["share_of_tumours_whose_biopsies_agree"]
        messages.append(summary_line("biopsies", biopsy.variance)
                        + (f"; biopsy calls agree in {share:.0%} of tumours" if share is not None else ""))

    results["clustering_vs_agreement"] = _clustering_vs_agreement(virtual, tables, s.gene_cutoff, s.level)
    agreement = results["clustering_vs_agreement"]
    if "fisher" in agreement:
        more, less = agreement["same_status_more_clustering"], agreement["same_status_less_clustering"]
        p_text = f"p = {agreement['fisher']['p']:.3g}" if agreement["fisher"]["p"] is not None else "not estimable"
        messages.append(f"clustering vs agreement: same status in {more['count']}/{more['n']} tumours with more and "
                        f"{less['count']}/{less['n']} with less clustering, Fisher {p_text}")

    if values:
        table = read_long_table(values, s.tumour_column, s.value_column)
        inputs["values"] = str(values)
        variance, summary = values_heterogeneity(table, transform=s.values_transform, settings=variance_settings,
                                                 source=str(values))
        results["values"] = {"variance_components": variance.to_dict(), "n_missing": table.attrs["n_missing"]}
        tables["values_tumours.csv"] = summary
        messages.append(summary_line("values", variance))

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
    with atomic_output_dir(Path(out), input_paths, force=force) as folder:
        for name, table in tables.items():
            table.to_csv(folder / name, index=False)
        if virtual is not None and s.figure and virtual.tumours["sd_hypoxic_fraction"].notna().any():
            from ..report.clustering_figure import plot_clustering

            plot_clustering(virtual.tumours, tables["clustering_curves.csv"], folder / "clustering.png")
            results["figures"] = ["clustering.png"]
        results["files"] = sorted(tables)
        write_result(HETEROGENEITY_JSON, results, folder / "heterogeneity.json")
    return HeterogeneityOutput(out=Path(out), results=results, tables=tables, messages=messages, warnings=warnings)


def _clustering_vs_agreement(virtual, tables: Dict[str, object], gene_cutoff: float, level: float) -> dict:
    """Fig. 4H: clustering of hypoxia against same/different status of imaging and genes, or why not computed."""
    from ..heterogeneity.agreement import clustering_agreement

    if virtual is None or virtual.clustering is None:
        return {"not_computed": "no clustering labels (needs --images with virtual biopsies and a fitted GAM)"}
    if "biopsy_tumours.csv" not in tables:
        return {"not_computed": "no gene scores (needs --biopsies)"}
    agreement, _ = clustering_agreement(virtual.tumours, tables["slice_tumours.csv"], tables["biopsy_tumours.csv"],
                                        conf_level=level)
    out = agreement.to_dict()
    out["classes"] = ("imaging: whole-tumour HF at the image runs' HF cutoff; genes: mean biopsy score at "
                      f"the gene cutoff {gene_cutoff:g}")
    return out


def summary_line(name: str, variance) -> str:
    """One line on the variance components of one analysis (W/T and its interval)."""
    if variance.components is None:
        return f"{name}: W/T not computed ({variance.reason})"
    vc = variance.components
    text = f"{name}: W/T = {vc.w_over_t:.2f} ({vc.n_tumours} tumours, {vc.n_samples} samples)"
    if variance.interval is not None:
        text += f", {variance.interval.level:.0%} CI {variance.interval.low[0]:.2f}-{variance.interval.high[0]:.2f}" \
            if int(variance.interval.ks[0]) == 1 else ""
    return text
