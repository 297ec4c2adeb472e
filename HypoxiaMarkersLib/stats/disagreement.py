"""Does intratumour heterogeneity explain why imaging and genes disagree? (Fjeldbo et al. 2020, Fig. 2C text,
Fig. 3A, 3D–F, 4H, Supp. S4).

The paper's answer is no: discordant classification (groups 2 + 4) is about as common among imaging-more as among
imaging-less hypoxic tumours (31 % vs 22 %), tumour volume does not differ between the groups, imaging from the
biopsy slice (where the biopsies come from) agrees with the genes no better than the whole tumour, and neither the
number of biopsies nor the clustering of hypoxia goes with the disagreement. Each analysis is a pure function of
arrays returning a dataclass; tests follow R's conventions (:mod:`.association`).

"Same status": imaging and genes give the same class (groups 1 and 3); "different": groups 2 and 4.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np

from .association import (
    Correlation,
    FisherTest,
    KruskalTest,
    RankSumTest,
    Share,
    TrendTest,
    correlation,
    fisher_test,
    holm,
    kruskal_test,
    rank_sum_test,
    trend_test,
)

SAME, DIFFERENT = "same status", "different status"


def same_status(imaging_high, genes_high) -> np.ndarray:
    """True where imaging and genes classify the tumour alike (groups 1 and 3)."""
    return np.asarray(imaging_high, dtype=bool) == np.asarray(genes_high, dtype=bool)


@dataclass
class InconsistencyByImaging:
    """Discordant classification (groups 2 + 4) among imaging-more and imaging-less hypoxic tumours."""

    more: Share  # discordant among the tumours imaging calls more hypoxic (group 4 of groups 1 + 4)
    less: Share  # discordant among the tumours imaging calls less hypoxic (group 2 of groups 2 + 3)
    fisher: FisherTest

    def to_dict(self) -> dict:
        return {"discordant_among_imaging_more_hypoxic": self.more.to_dict(),
                "discordant_among_imaging_less_hypoxic": self.less.to_dict(), "fisher": self.fisher.to_dict()}


def inconsistency_by_imaging(imaging_high, genes_high, *, conf_level: float = 0.95) -> InconsistencyByImaging:
    """Share of tumours whose gene class differs from the imaging class, by imaging class, and Fisher's test."""
    imaging_high = np.asarray(imaging_high, dtype=bool)
    different = ~same_status(imaging_high, genes_high)
    more = Share(int(np.sum(different & imaging_high)), int(imaging_high.sum()))
    less = Share(int(np.sum(different & ~imaging_high)), int((~imaging_high).sum()))
    table = [[more.count, more.n - more.count], [less.count, less.n - less.count]]
    fisher = fisher_test(table, rows=["imaging more hypoxic", "imaging less hypoxic"], columns=[DIFFERENT, SAME],
                         conf_level=conf_level)
    return InconsistencyByImaging(more=more, less=less, fisher=fisher)


@dataclass
class VolumeByGroup:
    """Tumour volume across groups 1–4."""

    values: Dict[int, List[float]]
    group1_vs_others: RankSumTest
    groups_2_to_4: KruskalTest
    pairwise_2_to_4: List[dict]

    def to_dict(self) -> dict:
        return {
            "n": {str(g): len(v) for g, v in self.values.items()},
            "median": {str(g): (float(np.median(v)) if v else None) for g, v in self.values.items()},
            "wilcoxon_group_1_vs_others": self.group1_vs_others.to_dict(),
            "kruskal_wallis_groups_2_to_4": self.groups_2_to_4.to_dict(),
            "wilcoxon_pairwise_groups_2_to_4": self.pairwise_2_to_4,
            "pairwise_adjustment": "Holm (R p.adjust(method = 'holm')) over the three pairs",
        }


def volume_by_group(volume, group) -> VolumeByGroup:
    """Tumour volume by group: Wilcoxon rank-sum of group 1 against groups 2–4 (the paper's test), and among
    groups 2–4 a Kruskal–Wallis test plus the three pairwise Wilcoxon tests (Holm-adjusted)."""
    volume = np.asarray(volume, dtype=float)
    group = np.asarray(group)
    finite = np.isfinite(volume)
    values = {g: [float(v) for v in volume[finite & (group == g)]] for g in (1, 2, 3, 4)}
    others = np.concatenate([np.asarray(values[g], dtype=float) for g in (2, 3, 4)])
    first = rank_sum_test(values[1], others, x_name="group 1", y_name="groups 2-4")
    kruskal = kruskal_test({f"group {g}": values[g] for g in (2, 3, 4)})
    pairs = [(2, 3), (2, 4), (3, 4)]
    tests = [rank_sum_test(values[a], values[b], x_name=f"group {a}", y_name=f"group {b}") for a, b in pairs]
    adjusted = holm([t.p for t in tests])
    pairwise = [{**t.to_dict(), "p_holm": q} for t, q in zip(tests, adjusted)]
    return VolumeByGroup(values=values, group1_vs_others=first, groups_2_to_4=kruskal, pairwise_2_to_4=pairwise)


@dataclass
class BiopsySliceImaging:
    """Imaging from the biopsy slice instead of the whole tumour."""

    slice_vs_tumour: Correlation          # Pearson, with the regression line
    slice_vs_genes: Correlation           # Spearman
    tumour_vs_genes: Correlation          # Spearman, for comparison
    same_whole_tumour: Share
    same_biopsy_slice: Share
    fisher: FisherTest
    hf_cutoff: float
    gene_cutoff: float

    def to_dict(self) -> dict:
        return {
            "biopsy_slice_hf_vs_tumour_hf": self.slice_vs_tumour.to_dict(),
            "biopsy_slice_hf_vs_gene_score": self.slice_vs_genes.to_dict(),
            "tumour_hf_vs_gene_score": self.tumour_vs_genes.to_dict(),
            "same_status_whole_tumour": self.same_whole_tumour.to_dict(),
            "same_status_biopsy_slice": self.same_biopsy_slice.to_dict(),
            "fisher": self.fisher.to_dict(),
            "hf_cutoff": self.hf_cutoff, "gene_cutoff": self.gene_cutoff,
            "note": "the two shares come from the same patients; Fisher's test (as in the paper) treats them as "
                    "independent samples",
        }


def biopsy_slice_imaging(tumour_hf, slice_hf, gene_score, *, hf_cutoff: float, gene_cutoff: float,
                         conf_level: float = 0.95) -> BiopsySliceImaging:
    """Biopsy-slice HF against whole-tumour HF (Pearson) and against the gene score (Spearman), and the share of
    patients with the same status by imaging and genes when imaging uses the whole tumour or the biopsy slice
    (Fisher's test), over the patients who have all three values."""
    tumour_hf, slice_hf, gene_score = (np.asarray(v, dtype=float) for v in (tumour_hf, slice_hf, gene_score))
    keep = np.isfinite(tumour_hf) & np.isfinite(slice_hf) & np.isfinite(gene_score)
    t, s, g = tumour_hf[keep], slice_hf[keep], gene_score[keep]
    genes_high = g >= gene_cutoff
    whole = Share(int(same_status(t >= hf_cutoff, genes_high).sum()), int(keep.sum()))
    biopsy = Share(int(same_status(s >= hf_cutoff, genes_high).sum()), int(keep.sum()))
    table = [[whole.count, whole.n - whole.count], [biopsy.count, biopsy.n - biopsy.count]]
    return BiopsySliceImaging(
        slice_vs_tumour=correlation(t, s, method="pearson", x_name="whole-tumour HF", y_name="biopsy-slice HF"),
        slice_vs_genes=correlation(s, g, method="spearman", x_name="biopsy-slice HF", y_name="gene score"),
        tumour_vs_genes=correlation(t, g, method="spearman", x_name="whole-tumour HF", y_name="gene score"),
        same_whole_tumour=whole, same_biopsy_slice=biopsy,
        fisher=fisher_test(table, rows=["imaging of the whole tumour", "imaging of the biopsy slice"],
                           columns=[SAME, DIFFERENT], conf_level=conf_level),
        hf_cutoff=float(hf_cutoff), gene_cutoff=float(gene_cutoff))


@dataclass
class AgreementByBiopsies:
    """Same/different classification by the number of biopsies behind the gene score."""

    levels: List[int]
    same: List[int]
    totals: List[int]
    trend: TrendTest
    one_vs_several: FisherTest
    n_missing: int

    def to_dict(self) -> dict:
        return {
            "per_number_of_biopsies": [{"n_biopsies": k, "n": n, "same_status": s,
                                        "share_same_status": s / n if n else None}
                                       for k, s, n in zip(self.levels, self.same, self.totals)],
            "trend": self.trend.to_dict(), "fisher_one_vs_several": self.one_vs_several.to_dict(),
            "n_missing": self.n_missing,
        }


def agreement_by_biopsies(n_biopsies, same, *, levels: Sequence[int] = (1, 2, 3, 4),
                          conf_level: float = 0.95) -> AgreementByBiopsies:
    """Share of patients with the same status per number of biopsies (levels; more than the last level counts as
    the last), the chi-square test for trend over the numbers (R ``prop.trend.test``) and Fisher's test of one
    against several biopsies."""
    counts = np.asarray(n_biopsies, dtype=float)
    same = np.asarray(same, dtype=bool)
    keep = np.isfinite(counts) & (counts >= 1)
    k = np.minimum(counts[keep], max(levels)).astype(int)
    s = same[keep]
    levels = [int(v) for v in levels]
    same_counts = [int(np.sum(s & (k == level))) for level in levels]
    totals = [int(np.sum(k == level)) for level in levels]
    one = k == levels[0]
    table = [[int(np.sum(s & one)), int(np.sum(~s & one))], [int(np.sum(s & ~one)), int(np.sum(~s & ~one))]]
    return AgreementByBiopsies(
        levels=levels, same=same_counts, totals=totals, trend=trend_test(same_counts, totals, levels),
        one_vs_several=fisher_test(table, rows=["one biopsy", "several biopsies"], columns=[SAME, DIFFERENT],
                                   conf_level=conf_level),
        n_missing=int((~keep).sum()))


@dataclass
class AgreementByClustering:
    """Same/different classification in tumours with more and less clustering of hypoxia."""

    more: Share  # same status among the tumours with more clustering
    less: Share
    fisher: FisherTest
    n_without_label: int

    def to_dict(self) -> dict:
        return {"same_status_more_clustering": self.more.to_dict(),
                "same_status_less_clustering": self.less.to_dict(), "fisher": self.fisher.to_dict(),
                "n_without_clustering_label": self.n_without_label}


def agreement_by_clustering(more_clustering: Sequence[Optional[bool]], same, *,
                            conf_level: float = 0.95) -> AgreementByClustering:
    """Fisher's test of more against less clustering of hypoxia by same/different status (Fig. 4H).

    ``more_clustering`` is True (more), False (less) or None (no label: too few virtual biopsies, no GAM).
    """
    labels = list(more_clustering)
    same = np.asarray(same, dtype=bool)
    has = np.array([v is not None for v in labels], dtype=bool)
    more = np.array([bool(v) if v is not None else False for v in labels], dtype=bool)
    less = has & ~more
    more_share = Share(int(np.sum(same & more)), int(more.sum()))
    less_share = Share(int(np.sum(same & less)), int(less.sum()))
    table = [[more_share.count, more_share.n - more_share.count], [less_share.count, less_share.n - less_share.count]]
    return AgreementByClustering(
        more=more_share, less=less_share,
        fisher=fisher_test(table, rows=["more clustering", "less clustering"], columns=[SAME, DIFFERENT],
                           conf_level=conf_level),
        n_without_label=int((~has).sum()))
