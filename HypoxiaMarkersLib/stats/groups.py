"""Classification groups 1–4 of the two hypoxia markers and how they agree (SPEC §4.1).

Group 1: more hypoxic by both markers; group 2: by the genes only; group 3: less hypoxic by both; group 4: by
imaging only (Fjeldbo et al., EBioMedicine 2020;57:102841). Reported: the 2×2 table, the concordance (share of
patients with the same status), Fisher's exact test with the conditional maximum-likelihood odds ratio (as R's
``fisher.test``), Spearman and Pearson correlations of the continuous values, and a Kruskal–Wallis test across
the groups for every covariate named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, Optional, Sequence

import numpy as np
from scipy import stats

from ..errors import InputError
from ..rules import LESS_HYPOXIC, MORE_HYPOXIC

if TYPE_CHECKING:  # pandas is needed only with covariates: Slicer may not have it yet
    import pandas as pd

GROUP_NAMES = {
    1: f"{MORE_HYPOXIC} by both",
    2: f"{MORE_HYPOXIC} by genes only",
    3: f"{LESS_HYPOXIC} by both",
    4: f"{MORE_HYPOXIC} by imaging only",
}


def classify_groups(imaging_high, genes_high) -> np.ndarray:
    """Group 1–4 of each patient from the two markers' classes (True = more hypoxic).

    Returns an int array: 1 both, 2 genes only, 3 neither, 4 imaging only.
    """
    imaging_high = np.asarray(imaging_high, dtype=bool)
    genes_high = np.asarray(genes_high, dtype=bool)
    if imaging_high.shape != genes_high.shape:
        raise InputError("imaging and gene classes have different lengths", field="imaging, genes")
    return np.select([imaging_high & genes_high, genes_high, imaging_high], [1, 2, 4], default=3)


@dataclass
class GroupsResult:
    """Agreement of the two markers and covariates across groups."""

    counts: Dict[int, int]
    table: np.ndarray                 # rows imaging more/less, columns genes more/less
    concordance: float
    n_concordant: int
    n: int
    fisher_odds_ratio: float
    fisher_ci_low: float
    fisher_ci_high: float
    fisher_p: float
    spearman_rho: Optional[float] = None
    spearman_p: Optional[float] = None
    pearson_r: Optional[float] = None
    pearson_p: Optional[float] = None
    kruskal_wallis: Dict[str, dict] = field(default_factory=dict)
    wilcoxon: Dict[str, dict] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "n": self.n,
            "groups": [{"group": g, "name": GROUP_NAMES[g], "n": self.counts[g]} for g in (1, 2, 3, 4)],
            "table": {
                "rows": "imaging (more hypoxic, less hypoxic)", "columns": "genes (more hypoxic, less hypoxic)",
                "counts": self.table,
            },
            "concordance": self.concordance, "n_concordant": self.n_concordant,
            "n_discordant": self.n - self.n_concordant,
            "fisher": {"odds_ratio": self.fisher_odds_ratio, "ci_low": self.fisher_ci_low,
                       "ci_high": self.fisher_ci_high, "p": self.fisher_p,
                       "odds_ratio_kind": "conditional maximum likelihood (R fisher.test)"},
            "spearman": {"rho": self.spearman_rho, "p": self.spearman_p},
            "pearson": {"r": self.pearson_r, "p": self.pearson_p},
            "kruskal_wallis": self.kruskal_wallis,
            "wilcoxon": self.wilcoxon,
        }


def kruskal_wallis(values, groups) -> dict:
    """Kruskal–Wallis test of one covariate across groups (ties corrected, as R's ``kruskal.test``)."""
    values = np.asarray(values, dtype=float)
    groups = np.asarray(groups)
    keep = np.isfinite(values)
    labels = np.unique(groups[keep])
    samples = [values[keep & (groups == g)] for g in labels]
    out = {"n": int(keep.sum()), "n_missing": int((~keep).sum()),
           "median_per_group": {str(g): float(np.median(s)) for g, s in zip(labels, samples)},
           "n_per_group": {str(g): int(s.size) for g, s in zip(labels, samples)}}
    if len(samples) < 2 or np.unique(values[keep]).size < 2:
        out.update({"h": None, "df": None, "p": None, "note": "fewer than two groups or one value"})
        return out
    h, p = stats.kruskal(*samples)
    out.update({"h": float(h), "df": len(samples) - 1, "p": float(p)})
    return out


def wilcoxon_rank_sum(values, high) -> dict:
    """Wilcoxon rank-sum test of one covariate between the more and the less hypoxic patients.

    As R's ``wilcox.test(x[high], x[!high], exact = FALSE, correct = TRUE)``: W is the Mann–Whitney U of the more
    hypoxic group, p two-sided from the normal approximation with ties and continuity corrections (exact p-values
    are not used because covariates such as tumour volume or cell fraction are usually tied).
    """
    values = np.asarray(values, dtype=float)
    high = np.asarray(high, dtype=bool)
    keep = np.isfinite(values)
    x, y = values[keep & high], values[keep & ~high]
    out = {"n_high": int(x.size), "n_low": int(y.size), "n_missing": int((~keep).sum()),
           "median_high": float(np.median(x)) if x.size else None,
           "median_low": float(np.median(y)) if y.size else None}
    if x.size == 0 or y.size == 0 or np.unique(values[keep]).size < 2:
        out.update({"W": None, "p": None, "note": "one group is empty or every value is the same"})
        return out
    test = stats.mannwhitneyu(x, y, use_continuity=True, alternative="two-sided", method="asymptotic")
    out.update({"W": float(test.statistic), "p": float(test.pvalue)})
    return out


def compare_groups(imaging_high, genes_high, imaging=None, genes=None, *,
                   covariates: Optional[pd.DataFrame] = None, conf_level: float = 0.95) -> GroupsResult:
    """The 2×2 table, concordance, Fisher's test, correlations, Kruskal–Wallis tests across groups 1–4 and
    Wilcoxon tests between more and less hypoxic patients by each marker.

    Parameters
    ----------
    imaging_high, genes_high : bool array-like
        Each marker's class (True = more hypoxic).
    imaging, genes : array-like, optional
        Continuous values, for Spearman and Pearson correlations.
    covariates : DataFrame, optional
        Numeric covariates (one column each), tested across the groups with Kruskal–Wallis and between the more and
        less hypoxic patients of each marker with the Wilcoxon rank-sum test.
    conf_level : float
        Level of the odds ratio's confidence interval.
    """
    imaging_high = np.asarray(imaging_high, dtype=bool)
    genes_high = np.asarray(genes_high, dtype=bool)
    group = classify_groups(imaging_high, genes_high)
    n = int(group.size)
    table = np.array([[np.sum(group == 1), np.sum(group == 4)], [np.sum(group == 2), np.sum(group == 3)]])
    concordant = int(table[0, 0] + table[1, 1])
    fisher = stats.contingency.odds_ratio(table, kind="conditional")
    ci = fisher.confidence_interval(confidence_level=conf_level)
    _, fisher_p = stats.fisher_exact(table, alternative="two-sided")
    result = GroupsResult(
        counts={g: int(np.sum(group == g)) for g in (1, 2, 3, 4)}, table=table,
        concordance=concordant / n if n else float("nan"), n_concordant=concordant, n=n,
        fisher_odds_ratio=float(fisher.statistic), fisher_ci_low=float(ci.low), fisher_ci_high=float(ci.high),
        fisher_p=float(fisher_p),
    )
    if imaging is not None and genes is not None:
        x = np.asarray(imaging, dtype=float)
        y = np.asarray(genes, dtype=float)
        keep = np.isfinite(x) & np.isfinite(y)
        if keep.sum() >= 3 and np.ptp(x[keep]) > 0 and np.ptp(y[keep]) > 0:
            rho, p_rho = stats.spearmanr(x[keep], y[keep])
            r, p_r = stats.pearsonr(x[keep], y[keep])
            result.spearman_rho, result.spearman_p = float(rho), float(p_rho)
            result.pearson_r, result.pearson_p = float(r), float(p_r)
    if covariates is not None:
        for column in covariates.columns:
            import pandas as pd

            values = pd.to_numeric(covariates[column], errors="coerce")
            if (values.isna() & covariates[column].notna()).any():
                raise InputError(f"covariate {column!r} is not numeric; Kruskal–Wallis needs numbers", field=column,
                                 expected="a numeric covariate (tumour volume, tumour cell fraction, ...)")
            numbers = values.to_numpy(dtype=float)
            result.kruskal_wallis[str(column)] = kruskal_wallis(numbers, group)
            result.wilcoxon[str(column)] = {"imaging": wilcoxon_rank_sum(numbers, imaging_high),
                                            "genes": wilcoxon_rank_sum(numbers, genes_high)}
    return result


def group_names(groups: Sequence[int]) -> list:
    """Readable names of groups 1–4."""
    return [GROUP_NAMES[int(g)] for g in groups]
