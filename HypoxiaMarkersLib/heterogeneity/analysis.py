"""Intratumour heterogeneity over a cohort: slices, biopsies and virtual biopsies (SPEC §3).

Does one sample represent its tumour? Three kinds of samples are analysed the same way, with the variance
components of :mod:`variance` (``W/T``: the within-tumour share of the variance):

- **slices**: the hypoxic fraction (HF) of every tumour slice of the A_Brix map; also the share of slices whose
  more/less hypoxic status is that of their whole tumour, and the correlation of the biopsy slice's HF with the
  whole tumour's HF;
- **biopsies**: several gene scores per tumour; ``Wk/T`` for a tumour value averaged over ``k`` biopsies, and how
  often the biopsies of a tumour give the same call;
- **virtual biopsies**: 12-voxel patches of one slice (:mod:`virtual_biopsy`); per tumour the SD of their HFs,
  ``W/T`` over the cohort, and the clustering of hypoxia from the GAM ``SD ~ s(HF)`` (:mod:`clustering`).

Imaging fractions are compared on the empirical-logit scale (SPEC §3.1); gene scores as they are (they are
already log2-based and unbounded).

Functions here work on tables and arrays; reading the ``image`` command's output folders and the gene score
table is in :mod:`heterogeneity_io`.

Reference: Fjeldbo CS et al., EBioMedicine 2020;57:102841 (slices W/T 0.16, 88% same status, r = 0.86;
biopsies W/T 0.33, 0.20, 0.14, 0.11 for 1-4 biopsies; virtual biopsies W/T 0.50).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from ..errors import InputError
from ..progress import ProgressCallback, report
from ..rules import (
    A_THRESHOLD,
    GENE_SCORE_CUTOFF,
    HF_CUTOFF,
    MORE_HYPOXIC,
    PATCH_SIZE,
    at_or_above,
    hypoxia_classes,
    hypoxic_voxels,
)
from .clustering import ClusteringFit, fit_clustering
from .variance import (
    DEFAULT_KS,
    Interval,
    VarianceComponents,
    confidence_interval,
    empirical_logit,
    variance_components,
)
from .virtual_biopsy import (
    clustered_sd,
    scattered_sd,
    virtual_biopsies,
)

TRANSFORMS = ("logit", "none")
# Below this many tumours the bootstrap over tumours has very few distinct resamples and the F interval leans
# entirely on normality: intervals are reported with a note.
FEW_TUMOURS = 10


@dataclass(frozen=True)
class VarianceSettings:
    """How variance components and their confidence intervals are computed (written into every result).

    Attributes
    ----------
    ks : tuple of int
        Samples per tumour to report ``Wk/T`` for (default 1-4).
    ci_method : str
        ``"bootstrap"`` (default: percentile bootstrap over tumours) or ``"f"`` (normal-theory), or ``"none"``.
    level : float
        Confidence level (0.95).
    n_boot : int
        Bootstrap replicates (2000).
    seed : int
        Seed of the bootstrap (0).
    """

    ks: Tuple[int, ...] = DEFAULT_KS
    ci_method: str = "bootstrap"
    level: float = 0.95
    n_boot: int = 2000
    seed: int = 0

    def as_dict(self) -> Dict[str, object]:
        return {"ks": list(self.ks), "ci_method": self.ci_method, "level": self.level, "n_boot": self.n_boot,
                "seed": self.seed}


@dataclass
class VarianceResult:
    """Variance components of one kind of sample, with intervals, or why they could not be computed."""

    components: Optional[VarianceComponents]
    interval: Optional[Interval]
    transform: str
    settings: VarianceSettings
    reason: str = ""

    def to_dict(self) -> Dict[str, object]:
        out: Dict[str, object] = {"transform": self.transform}
        if self.components is None:
            out["not_computed"] = self.reason
            return out
        out.update(self.components.to_dict(self.settings.ks))
        if self.interval is not None and self.components.n_tumours < FEW_TUMOURS:
            out["note"] = (f"{self.components.n_tumours} tumours: the confidence interval is unreliable below "
                           f"{FEW_TUMOURS} tumours")
        if self.interval is not None:
            out["confidence_interval"] = self.interval.to_dict()
        elif self.reason:
            out["confidence_interval_not_computed"] = self.reason
        return out


def analyse_variance(
    values: np.ndarray,
    tumours: np.ndarray,
    *,
    transform: str = "none",
    settings: VarianceSettings = VarianceSettings(),
    source: Optional[str] = None,
) -> VarianceResult:
    """Variance components and intervals; a cohort where they are undefined gives a result saying why.

    Parameters
    ----------
    values, tumours : arrays
        One value per sample (already transformed) and its tumour.
    transform : str
        Recorded in the result (``"logit"`` or ``"none"``).
    settings : VarianceSettings

    Returns
    -------
    VarianceResult
        ``components`` is None (and ``reason`` says why) for fewer than 2 tumours, no tumour with 2 or more
        samples, or all values equal.
    """
    try:
        components = variance_components(values, tumours, source=source)
    except InputError as error:
        return VarianceResult(None, None, transform, settings, reason=error.reason)
    interval, reason = None, ""
    if settings.ci_method != "none":
        try:
            interval = confidence_interval(
                values, tumours, method=settings.ci_method, ks=settings.ks, level=settings.level,
                n_boot=settings.n_boot, seed=settings.seed, source=source,
            )
        except InputError as error:
            reason = error.reason
    return VarianceResult(components, interval, transform, settings, reason=reason)


def _transform_fraction(hypoxic: np.ndarray, n: np.ndarray, transform: str) -> np.ndarray:
    if transform == "logit":
        return empirical_logit(hypoxic, n)
    if transform == "none":
        return np.asarray(hypoxic, dtype=float) / np.asarray(n, dtype=float)
    raise InputError(f"unknown transform '{transform}'", field="transform", expected=" or ".join(TRANSFORMS))


# --------------------------------------------------------------------------------------------------- slices


@dataclass
class SliceHeterogeneity:
    """Heterogeneity between the slices of each tumour.

    Attributes
    ----------
    slices : DataFrame
        One row per slice with a fit: ``patient``, ``slice``, ``k_index``, ``fitted``, ``hypoxic``,
        ``hypoxic_fraction``, ``value`` (what the ANOVA used), ``hf_cutoff``, ``classification``,
        ``tumour_hypoxic_fraction``, ``tumour_classification``, ``same_status``, ``is_biopsy_slice``.
    tumours : DataFrame
        One row per tumour: ``patient``, ``n_slices``, ``hypoxic_fraction``, ``classification``,
        ``biopsy_slice``, ``biopsy_slice_hypoxic_fraction``, ``share_same_status``.
    variance : VarianceResult
    share_same_status : float
        Slices with the status of their whole tumour / all slices with a fit.
    correlation : dict
        Pearson and Spearman correlation of the biopsy slice's HF with the tumour's HF.
    n_slices_without_fit : int
        Slices with no fitted voxel (no HF), left out.
    tumours_without_fit : list of str
        Patients with no fitted voxel at all, left out.
    """

    slices: pd.DataFrame
    tumours: pd.DataFrame
    variance: VarianceResult
    share_same_status: float
    correlation: Dict[str, object]
    n_slices_without_fit: int
    tumours_without_fit: List[str] = field(default_factory=list)
    parameters: Dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, object]:
        multi = self.tumours["n_slices"] >= 2
        same = self.slices["same_status"].to_numpy(dtype=bool)
        in_multi = self.slices["patient"].isin(self.tumours.loc[multi, "patient"]).to_numpy()
        return {
            "n_tumours": int(len(self.tumours)),
            "n_slices": int(len(self.slices)),
            "n_slices_without_fit": self.n_slices_without_fit,
            "tumours_without_fit": self.tumours_without_fit,
            "n_tumours_with_one_slice": int((~multi).sum()),
            "variance_components": self.variance.to_dict(),
            "share_of_slices_with_tumour_status": self.share_same_status,
            "n_slices_with_tumour_status": int(same.sum()),
            "share_of_slices_with_tumour_status_multislice_tumours": float(same[in_multi].mean())
            if in_multi.any() else None,
            "biopsy_slice_vs_tumour": self.correlation,
            "parameters": self.parameters,
        }


def slice_heterogeneity(
    slices: pd.DataFrame,
    *,
    hf_cutoff: Optional[float] = None,
    transform: str = "logit",
    settings: VarianceSettings = VarianceSettings(),
) -> SliceHeterogeneity:
    """Heterogeneity of hypoxic fractions between the slices of each tumour.

    Parameters
    ----------
    slices : DataFrame
        One row per tumour slice with columns ``patient``, ``slice`` (1 = most caudal), ``fitted`` (fitted voxels),
        ``hypoxic`` (hypoxic voxels) and ``is_biopsy_slice`` (exactly one True per patient); optional ``k_index``
        and ``hf_cutoff`` (per-patient cutoff, e.g. from the image results).
    hf_cutoff : float, optional
        A slice or tumour is "more hypoxic" when its HF >= hf_cutoff (:func:`rules.at_or_above`). Default: the
        ``hf_cutoff`` column, else :data:`rules.HF_CUTOFF`.
    transform : str
        ``"logit"`` (default: empirical logit of hypoxic/fitted) or ``"none"`` (the HF itself) for the ANOVA.
    settings : VarianceSettings

    Returns
    -------
    SliceHeterogeneity
    """
    from scipy import stats

    table = _check_columns(slices, ("patient", "slice", "fitted", "hypoxic", "is_biopsy_slice"), "slices")
    table = table.copy()
    table["patient"] = table["patient"].astype(str)
    for column in ("fitted", "hypoxic"):
        table[column] = _integer_column(table[column], column)
    if np.any(table["hypoxic"] > table["fitted"]) or np.any(table["hypoxic"] < 0):
        raise InputError("a slice has more hypoxic than fitted voxels, or a negative count", field="hypoxic",
                         expected="0 <= hypoxic <= fitted")
    if hf_cutoff is not None:
        table["hf_cutoff"] = float(hf_cutoff)
    elif "hf_cutoff" not in table.columns:
        table["hf_cutoff"] = HF_CUTOFF
    table["hf_cutoff"] = table["hf_cutoff"].astype(float)
    if "k_index" not in table.columns:
        table["k_index"] = -1
    table["is_biopsy_slice"] = table["is_biopsy_slice"].astype(bool)
    biopsy_count = table.groupby("patient", sort=False)["is_biopsy_slice"].sum()
    if np.any(biopsy_count > 1):
        bad = biopsy_count.index[biopsy_count > 1][0]
        raise InputError(f"patient {bad} has more than one biopsy slice", field="is_biopsy_slice",
                         expected="one biopsy slice per patient")

    # Whole-tumour HF from the counts of all its slices (the same numbers as summary.json, without rounding).
    totals = table.groupby("patient", sort=False)[["fitted", "hypoxic"]].sum()
    without_fit = table["fitted"] == 0
    per_patient_cutoff = table.groupby("patient", sort=False)["hf_cutoff"].first()
    tumours = pd.DataFrame({"patient": totals.index})
    tumours["n_slices"] = table.loc[~without_fit].groupby("patient", sort=False).size().reindex(totals.index) \
        .fillna(0).astype(int).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        tumours["hypoxic_fraction"] = (totals["hypoxic"] / totals["fitted"]).to_numpy()
    tumours["hf_cutoff"] = per_patient_cutoff.to_numpy()
    tumours_without_fit = tumours.loc[tumours["n_slices"] == 0, "patient"].tolist()
    tumours = tumours[tumours["n_slices"] > 0].reset_index(drop=True)
    if tumours.empty:
        raise InputError("no slice has a fitted voxel", field="fitted", expected="slices with fitted voxels")
    tumours["classification"] = hypoxia_classes(tumours["hypoxic_fraction"], tumours["hf_cutoff"])

    used = table.loc[~without_fit & table["patient"].isin(tumours["patient"])].copy()
    used["hypoxic_fraction"] = used["hypoxic"] / used["fitted"]
    used["value"] = _transform_fraction(used["hypoxic"].to_numpy(), used["fitted"].to_numpy(), transform)
    used["classification"] = hypoxia_classes(used["hypoxic_fraction"], used["hf_cutoff"])
    tumour_index = tumours.set_index("patient")
    used["tumour_hypoxic_fraction"] = tumour_index.loc[used["patient"], "hypoxic_fraction"].to_numpy()
    used["tumour_classification"] = tumour_index.loc[used["patient"], "classification"].to_numpy()
    used["same_status"] = used["classification"] == used["tumour_classification"]
    tumours["share_same_status"] = used.groupby("patient", sort=False)["same_status"].mean() \
        .reindex(tumours["patient"]).to_numpy()

    biopsy = used.loc[used["is_biopsy_slice"]].set_index("patient")
    tumours["biopsy_slice"] = biopsy["slice"].reindex(tumours["patient"]).to_numpy()
    tumours["biopsy_slice_hypoxic_fraction"] = biopsy["hypoxic_fraction"].reindex(tumours["patient"]).to_numpy()

    pairs = tumours.dropna(subset=["biopsy_slice_hypoxic_fraction"])
    correlation: Dict[str, object] = {"n_tumours": int(len(pairs))}
    x = pairs["biopsy_slice_hypoxic_fraction"].to_numpy(dtype=float)
    y = pairs["hypoxic_fraction"].to_numpy(dtype=float)
    if len(pairs) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
        pearson = stats.pearsonr(x, y)
        spearman = stats.spearmanr(x, y)
        correlation.update(pearson_r=float(pearson[0]), pearson_p=float(pearson[1]),
                           spearman_rho=float(spearman[0]), spearman_p=float(spearman[1]))
    else:
        correlation["not_computed"] = "needs 3 or more tumours with a biopsy slice and HFs that vary"
    missing_biopsy = int(len(tumours) - len(pairs))
    if missing_biopsy:
        correlation["n_tumours_without_fitted_biopsy_slice"] = missing_biopsy

    variance = analyse_variance(used["value"].to_numpy(), used["patient"].to_numpy(), transform=transform,
                                settings=settings, source="slices")
    columns = ["patient", "slice", "k_index", "fitted", "hypoxic", "hypoxic_fraction", "value", "hf_cutoff",
               "classification", "tumour_hypoxic_fraction", "tumour_classification", "same_status",
               "is_biopsy_slice"]
    tumour_columns = ["patient", "n_slices", "hypoxic_fraction", "hf_cutoff", "classification", "biopsy_slice",
                      "biopsy_slice_hypoxic_fraction", "share_same_status"]
    cutoffs = sorted(set(float(c) for c in tumours["hf_cutoff"]))
    return SliceHeterogeneity(
        slices=used[columns].reset_index(drop=True),
        tumours=tumours[tumour_columns],
        variance=variance,
        share_same_status=float(used["same_status"].mean()),
        correlation=correlation,
        n_slices_without_fit=int(without_fit.sum()),
        tumours_without_fit=tumours_without_fit,
        parameters={"transform": transform, "hf_cutoff": cutoffs[0] if len(cutoffs) == 1 else cutoffs,
                    **settings.as_dict()},
    )


# ------------------------------------------------------------------------------------------------- biopsies


@dataclass
class BiopsyHeterogeneity:
    """Heterogeneity between several biopsies (gene scores) of each tumour.

    Attributes
    ----------
    tumours : DataFrame
        One row per tumour: ``patient``, ``n_biopsies``, ``mean_score``, ``sd_score``, ``min_score``,
        ``max_score``, ``n_more_hypoxic``, ``classification`` (of the mean score), ``calls_agree`` (every biopsy
        has the same call), ``share_agreeing_with_tumour``.
    variance : VarianceResult
    """

    tumours: pd.DataFrame
    variance: VarianceResult
    n_missing: int
    parameters: Dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, object]:
        multi = self.tumours[self.tumours["n_biopsies"] >= 2]
        agreeing = (multi["share_agreeing_with_tumour"] * multi["n_biopsies"]).sum()
        return {
            "n_tumours": int(len(self.tumours)),
            "n_biopsies": int(self.tumours["n_biopsies"].sum()),
            "n_tumours_with_several_biopsies": int(len(multi)),
            "n_biopsies_without_score": self.n_missing,
            "variance_components": self.variance.to_dict(),
            "share_of_tumours_whose_biopsies_agree": float(multi["calls_agree"].mean()) if len(multi) else None,
            "share_of_biopsies_with_tumour_call": float(agreeing / multi["n_biopsies"].sum()) if len(multi) else None,
            "parameters": self.parameters,
        }


def biopsy_heterogeneity(
    table: pd.DataFrame,
    *,
    cutoff: float = GENE_SCORE_CUTOFF,
    settings: VarianceSettings = VarianceSettings(),
    source: Optional[str] = None,
) -> BiopsyHeterogeneity:
    """Heterogeneity of gene scores between biopsies of one tumour, and agreement of their calls.

    Parameters
    ----------
    table : DataFrame
        Columns ``tumour`` and ``value`` (one row per biopsy with a score), e.g. from
        :func:`heterogeneity_io.read_biopsy_scores`; ``attrs['n_missing']`` counts biopsies without a score.
    cutoff : float
        A biopsy, or a tumour by its mean score, is "more hypoxic" when its score >= cutoff (default 0).
    settings : VarianceSettings

    Returns
    -------
    BiopsyHeterogeneity
    """
    table = _check_columns(table, ("tumour", "value"), source or "biopsies")
    values = table["value"].to_numpy(dtype=float)
    tumours = table["tumour"].astype(str).to_numpy()
    high = at_or_above(values, cutoff)
    frame = pd.DataFrame({"patient": tumours, "value": values, "high": high})
    grouped = frame.groupby("patient", sort=False)
    out = pd.DataFrame({
        "n_biopsies": grouped.size(),
        "mean_score": grouped["value"].mean(),
        "sd_score": grouped["value"].std(ddof=1),
        "min_score": grouped["value"].min(),
        "max_score": grouped["value"].max(),
        "n_more_hypoxic": grouped["high"].sum().astype(int),
    })
    out["classification"] = hypoxia_classes(out["mean_score"], cutoff)
    out["calls_agree"] = (out["n_more_hypoxic"] == 0) | (out["n_more_hypoxic"] == out["n_biopsies"])
    tumour_high = (out["classification"] == MORE_HYPOXIC).to_numpy()
    agreeing = np.where(tumour_high, out["n_more_hypoxic"], out["n_biopsies"] - out["n_more_hypoxic"])
    out["share_agreeing_with_tumour"] = agreeing / out["n_biopsies"]
    out.index.name = "patient"
    out = out.reset_index()
    variance = analyse_variance(values, tumours, transform="none", settings=settings, source=source)
    return BiopsyHeterogeneity(
        tumours=out,
        variance=variance,
        n_missing=int(table.attrs.get("n_missing", 0)),
        parameters={"cutoff": float(cutoff), "transform": "none", **settings.as_dict()},
    )


# ------------------------------------------------------------------------------------------ virtual biopsies


@dataclass(frozen=True)
class TumourSlice:
    """One tumour's slice for virtual biopsies.

    Attributes
    ----------
    patient : str
    a_brix : ndarray, shape (rows, columns)
        A_Brix on the slice (NaN outside the tumour and where the fit failed).
    tumour_mask : ndarray of bool, same shape
    spacing : (float, float)
        Voxel size (mm) along rows and columns.
    a_threshold : float
        Hypoxic when A_Brix < a_threshold.
    slice : int
        Slice number (1 = most caudal), for the record.
    k_index : int
        Index of the slice in the volume, for the record.
    """

    patient: str
    a_brix: np.ndarray
    tumour_mask: np.ndarray
    spacing: Tuple[float, float] = (1.0, 1.0)
    a_threshold: float = A_THRESHOLD
    slice: int = -1
    k_index: int = -1


@dataclass
class VirtualBiopsyHeterogeneity:
    """Virtual biopsies of a cohort: per-patch and per-tumour tables, W/T, and clustering of hypoxia.

    Attributes
    ----------
    biopsies : DataFrame
        One row per virtual biopsy: ``patient``, ``biopsy``, ``centre_row``, ``centre_column`` (the patch's centre
        voxel j, i on the slice), ``n_valid``, ``n_hypoxic``, ``hypoxic_fraction`` (NaN if unusable), ``used``.
    tumours : DataFrame
        One row per tumour: ``patient``, ``slice``, ``k_index``, ``a_threshold``, ``n_tumour_voxels``,
        ``n_biopsies``, ``n_used``, ``slice_hypoxic_fraction``, ``mean_hypoxic_fraction``, ``sd_hypoxic_fraction``,
        ``sd_scattered``, ``sd_clustered`` (the two reference curves at the tumour's HF and size), ``sd_gam``,
        ``residual``, ``clustering`` (label) and ``note`` (why a value is missing, '' otherwise).
    variance : VarianceResult
        ``W/T`` across virtual biopsies (groups = tumours).
    clustering : ClusteringFit or None
    clustering_reason : str
        Why the GAM was not fitted, '' when it was.
    """

    biopsies: pd.DataFrame
    tumours: pd.DataFrame
    variance: VarianceResult
    clustering: Optional[ClusteringFit]
    clustering_reason: str
    parameters: Dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, object]:
        has_sd = np.isfinite(self.tumours["sd_hypoxic_fraction"].to_numpy(dtype=float))
        out: Dict[str, object] = {
            "n_tumours": int(len(self.tumours)),
            "n_tumours_with_sd": int(has_sd.sum()),
            "n_virtual_biopsies": int(len(self.biopsies)),
            "n_virtual_biopsies_used": int(self.biopsies["used"].sum()) if len(self.biopsies) else 0,
            "excluded_tumours": {str(p): str(n) for p, n in zip(self.tumours["patient"], self.tumours["note"]) if n},
            "variance_components": self.variance.to_dict(),
        }
        out["clustering"] = self.clustering.to_dict() if self.clustering is not None \
            else {"not_computed": self.clustering_reason}
        out["parameters"] = self.parameters
        return out


def patient_seed(seed: int, patient: str) -> np.random.SeedSequence:
    """A seed for one patient's patches from the cohort seed and the patient's ID.

    Depends on the ID, not on the patient's position in the cohort, so adding or reordering patients does not
    change anyone's virtual biopsies.
    """
    return np.random.SeedSequence([int(seed), zlib.crc32(str(patient).encode("utf-8"))])


def virtual_biopsy_heterogeneity(
    tumour_slices: Iterable[TumourSlice],
    *,
    patch_size: int = PATCH_SIZE,
    min_valid_voxels: int = PATCH_SIZE // 2,
    seed: int = 0,
    transform: str = "logit",
    settings: VarianceSettings = VarianceSettings(),
    min_tumours_gam: int = 10,
    progress: Optional[ProgressCallback] = None,
    n_total: Optional[int] = None,
) -> VirtualBiopsyHeterogeneity:
    """Virtual biopsies of every tumour, their SD per tumour, ``W/T`` over the cohort and clustering labels.

    Parameters
    ----------
    tumour_slices : iterable of TumourSlice
        One slice per tumour (e.g. the biopsy slice).
    patch_size : int
        Voxels per virtual biopsy (:data:`rules.PATCH_SIZE`).
    min_valid_voxels : int
        Fitted voxels a patch needs to have an HF (6).
    seed : int
        Cohort seed; each patient's patches are drawn from :func:`patient_seed`.
    transform : str
        ``"logit"`` (default, empirical logit of hypoxic/fitted voxels of each patch) or ``"none"`` for ``W/T``.
    settings : VarianceSettings
    min_tumours_gam : int
        Tumours with an SD needed to fit the clustering GAM (10).

    Returns
    -------
    VirtualBiopsyHeterogeneity
        A tumour whose slice has fewer than ``patch_size`` tumour voxels has no virtual biopsy and a ``note``; a
        tumour with fewer than 2 usable biopsies has no SD (``note``) and no clustering label.
    """
    if transform not in TRANSFORMS:
        raise InputError(f"unknown transform '{transform}'", field="transform", expected=" or ".join(TRANSFORMS))
    rows: List[Dict[str, object]] = []
    patches: List[pd.DataFrame] = []
    for done, item in enumerate(tumour_slices):
        row: Dict[str, object] = {"patient": str(item.patient), "slice": item.slice, "k_index": item.k_index,
                                  "a_threshold": float(item.a_threshold)}
        mask = np.asarray(item.tumour_mask, dtype=bool)
        row["n_tumour_voxels"] = int(mask.sum())
        try:
            result = virtual_biopsies(
                item.a_brix, mask, a_threshold=item.a_threshold, patch_size=patch_size, spacing=item.spacing,
                min_valid_voxels=min_valid_voxels, seed=patient_seed(seed, item.patient),
            )
        except InputError as error:
            fitted = mask & np.isfinite(np.asarray(item.a_brix, dtype=float))
            n_hypoxic = int(np.sum(fitted & hypoxic_voxels(item.a_brix, item.a_threshold)))
            row.update(n_biopsies=0, n_used=0,
                       slice_hypoxic_fraction=n_hypoxic / fitted.sum() if fitted.sum() else np.nan,
                       mean_hypoxic_fraction=np.nan, sd_hypoxic_fraction=np.nan, note=error.reason)
            rows.append(row)
            report(progress, done + 1, n_total or done + 1)
            continue
        used = result.used
        row.update(
            n_biopsies=result.n_biopsies,
            n_used=int(used.sum()),
            slice_hypoxic_fraction=result.slice_hypoxic_fraction,
            mean_hypoxic_fraction=result.mean_hypoxic_fraction,
            sd_hypoxic_fraction=result.sd_hypoxic_fraction,
            note=result.note,
        )
        rows.append(row)
        centre_rows, centre_columns = np.unravel_index(result.patches[:, 0], result.shape)
        patches.append(pd.DataFrame({
            "patient": str(item.patient),
            "biopsy": np.arange(1, result.n_biopsies + 1),
            "centre_row": centre_rows,
            "centre_column": centre_columns,
            "n_valid": result.n_valid,
            "n_hypoxic": result.n_hypoxic,
            "hypoxic_fraction": result.hypoxic_fraction,
            "used": used,
        }))
        report(progress, done + 1, n_total or done + 1)
    if not rows:
        raise InputError("no tumour slice was given", expected="one slice per tumour")
    tumours = pd.DataFrame(rows)
    columns = ["patient", "biopsy", "centre_row", "centre_column", "n_valid", "n_hypoxic", "hypoxic_fraction", "used"]
    biopsies = pd.concat(patches, ignore_index=True) if patches else pd.DataFrame(columns=columns)
    duplicated = tumours["patient"].duplicated()
    if duplicated.any():
        raise InputError(f"patient {tumours['patient'][duplicated].iloc[0]} appears twice", field="patient",
                         expected="one slice per patient")
    hf = tumours["slice_hypoxic_fraction"].to_numpy(dtype=float)
    tumours["sd_scattered"] = scattered_sd(hf, tumours["n_tumour_voxels"].to_numpy(dtype=float), patch_size)
    tumours["sd_clustered"] = clustered_sd(hf)

    usable = biopsies.loc[biopsies["used"].astype(bool)] if len(biopsies) else biopsies
    if len(usable):
        values = _transform_fraction(usable["n_hypoxic"].to_numpy(), usable["n_valid"].to_numpy(), transform)
        variance = analyse_variance(values, usable["patient"].to_numpy(), transform=transform, settings=settings,
                                    source="virtual biopsies")
    else:
        variance = VarianceResult(None, None, transform, settings, reason="no usable virtual biopsy")

    has_sd = np.isfinite(tumours["sd_hypoxic_fraction"].to_numpy(dtype=float))
    tumours["sd_gam"] = np.nan
    tumours["residual"] = np.nan
    tumours["clustering"] = ""
    clustering, reason = None, ""
    try:
        clustering = fit_clustering(hf[has_sd], tumours.loc[has_sd, "sd_hypoxic_fraction"].to_numpy(dtype=float),
                                    min_tumours=min_tumours_gam)
    except InputError as error:
        reason = error.reason
    if clustering is not None:
        tumours.loc[has_sd, "sd_gam"] = clustering.fitted
        tumours.loc[has_sd, "residual"] = clustering.residual
        tumours.loc[has_sd, "clustering"] = clustering.label
    order = ["patient", "slice", "k_index", "a_threshold", "n_tumour_voxels", "n_biopsies", "n_used",
             "slice_hypoxic_fraction", "mean_hypoxic_fraction", "sd_hypoxic_fraction", "sd_scattered",
             "sd_clustered", "sd_gam", "residual", "clustering", "note"]
    thresholds = sorted(set(float(a) for a in tumours["a_threshold"]))
    return VirtualBiopsyHeterogeneity(
        biopsies=biopsies,
        tumours=tumours[order],
        variance=variance,
        clustering=clustering,
        clustering_reason=reason,
        parameters={
            "patch_size": patch_size,
            "n_biopsies_per_tumour": f"floor(n_tumour_voxels / {patch_size})",
            "patch": f"the {patch_size} tumour voxels nearest a random tumour voxel (in mm)",
            "min_valid_voxels": min_valid_voxels,
            "seed": seed,
            "a_threshold": thresholds[0] if len(thresholds) == 1 else thresholds,
            "transform": transform,
            "min_tumours_gam": min_tumours_gam,
            **settings.as_dict(),
        },
    )


# ------------------------------------------------------------------------------------------------- helpers


def values_heterogeneity(
    table: pd.DataFrame, *, transform: str = "none", settings: VarianceSettings = VarianceSettings(),
    source: Optional[str] = None,
) -> Tuple[VarianceResult, pd.DataFrame]:
    """Variance components of any long-format table (columns ``tumour``, ``value``) and a per-tumour summary.

    ``transform="logit"`` takes the values as fractions in [0, 1] and uses ``log(p / (1 - p))``; fractions of
    exactly 0 or 1 then need counts (use the slice or virtual-biopsy analyses, which have them).
    """
    table = _check_columns(table, ("tumour", "value"), source or "values")
    values = table["value"].to_numpy(dtype=float)
    if transform == "logit":
        if np.any((values <= 0) | (values >= 1)):
            raise InputError("the logit needs fractions strictly between 0 and 1", source=source, field="value",
                             expected="0 < value < 1, or --transform none")
        values = np.log(values / (1 - values))
    elif transform != "none":
        raise InputError(f"unknown transform '{transform}'", field="transform", expected=" or ".join(TRANSFORMS))
    tumours = table["tumour"].astype(str).to_numpy()
    grouped = pd.DataFrame({"patient": tumours, "value": values}).groupby("patient", sort=False)["value"]
    summary = pd.DataFrame({"n_samples": grouped.size(), "mean": grouped.mean(), "sd": grouped.std(ddof=1)})
    summary.index.name = "patient"
    result = analyse_variance(values, tumours, transform=transform, settings=settings, source=source)
    return result, summary.reset_index()


def _check_columns(table: pd.DataFrame, columns: Sequence[str], source: str) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise InputError("expected a table", source=source)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}", source=source, field=missing[0],
                         expected=f"columns {', '.join(columns)}")
    if table.empty:
        raise InputError("the table is empty", source=source, expected="one row per sample")
    return table


def _integer_column(series: pd.Series, name: str) -> pd.Series:
    values = pd.to_numeric(series, errors="coerce")
    if values.isna().any() or np.any(values != np.round(values)):
        raise InputError("counts must be whole numbers", field=name, expected="voxel counts")
    return values.astype(int)
