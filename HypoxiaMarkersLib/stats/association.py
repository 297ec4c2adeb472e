"""Two-group tests and correlations with R's default conventions, and an honest 'not estimable' instead of a number.

Every test here returns a small dataclass whose ``p`` is None and whose ``note`` says why when the data cannot
answer the question (an empty group, every patient in one class, one distinct value). The conventions are R's:

- :func:`fisher_test`: R ``fisher.test`` on a 2×2 table: two-sided p (tables as or less probable than the one
  observed), conditional maximum-likelihood odds ratio with its exact confidence interval.
- :func:`rank_sum_test`: R ``wilcox.test(x, y)`` with its defaults: the exact p-value when both groups have fewer
  than 50 values and no value is tied, otherwise the normal approximation with the tie-corrected variance and a
  continuity correction. ``W`` is the Mann–Whitney U of ``x`` (R's statistic).
- :func:`kruskal_test`: R ``kruskal.test`` (chi-square approximation, ties corrected).
- :func:`trend_test`: R ``prop.trend.test`` (Cochran–Armitage chi-square test for a trend in proportions, 1 df,
  no continuity correction).
- :func:`correlation`: Pearson (R ``cor.test``, t distribution) with the least-squares line, or Spearman (p from
  the t approximation, as scipy; R's ``cor.test(method = "spearman")`` gives an exact p for small n without ties).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np
from scipy import stats

#: R's wilcox.test computes the exact p-value only below this many values in each group (and without ties).
EXACT_LIMIT = 50


def _finite(values) -> np.ndarray:
    values = np.asarray(values, dtype=float).ravel()
    return values[np.isfinite(values)]


@dataclass
class FisherTest:
    """Fisher's exact test of a 2×2 table (rows and columns as the caller names them)."""

    table: List[List[int]]
    rows: List[str]
    columns: List[str]
    odds_ratio: Optional[float] = None
    ci_low: Optional[float] = None
    ci_high: Optional[float] = None
    p: Optional[float] = None
    conf_level: float = 0.95
    note: str = ""

    def to_dict(self) -> dict:
        out = {"test": "Fisher's exact test, two-sided (R fisher.test)", "rows": self.rows,
               "columns": self.columns, "table": self.table, "odds_ratio": self.odds_ratio,
               "odds_ratio_kind": "conditional maximum likelihood (R fisher.test)", "ci_low": self.ci_low,
               "ci_high": self.ci_high, "conf_level": self.conf_level, "p": self.p}
        if self.note:
            out["not_estimable"] = self.note
        return out


def fisher_test(table, *, rows: Sequence[str], columns: Sequence[str], conf_level: float = 0.95) -> FisherTest:
    """Fisher's exact test of the 2×2 count table ``table`` (R ``fisher.test``).

    Parameters
    ----------
    table : 2×2 array-like of counts
    rows, columns : two names each
        What the rows and columns count (written into the result).
    conf_level : float
        Level of the odds ratio's confidence interval.

    Returns
    -------
    FisherTest
        Not estimable (p None, ``note``) when a row or a column is empty: then every patient falls into one class
        of that margin and the table says nothing about the association.
    """
    counts = np.asarray(table, dtype=int).reshape(2, 2)
    result = FisherTest(table=counts.tolist(), rows=list(rows), columns=list(columns), conf_level=conf_level)
    empty = [f"row '{rows[i]}'" for i in range(2) if counts[i].sum() == 0]
    empty += [f"column '{columns[j]}'" for j in range(2) if counts[:, j].sum() == 0]
    if empty:
        result.note = f"not estimable: {' and '.join(empty)} of the 2x2 table has no patient"
        return result
    estimate = stats.contingency.odds_ratio(counts, kind="conditional")
    interval = estimate.confidence_interval(confidence_level=conf_level)
    result.odds_ratio = float(estimate.statistic)
    result.ci_low, result.ci_high = float(interval.low), float(interval.high)
    result.p = float(stats.fisher_exact(counts, alternative="two-sided")[1])
    return result


@dataclass
class RankSumTest:
    """Wilcoxon rank-sum (Mann–Whitney) test of ``x`` against ``y``."""

    x_name: str
    y_name: str
    n_x: int
    n_y: int
    median_x: Optional[float] = None
    median_y: Optional[float] = None
    W: Optional[float] = None
    p: Optional[float] = None
    method: str = ""
    note: str = ""

    def to_dict(self) -> dict:
        out = {"test": "Wilcoxon rank-sum test, two-sided (R wilcox.test defaults)", "x": self.x_name,
               "y": self.y_name, "n_x": self.n_x, "n_y": self.n_y, "median_x": self.median_x,
               "median_y": self.median_y, "W": self.W, "W_is": "Mann-Whitney U of x (R's W)", "p": self.p,
               "method": self.method}
        if self.note:
            out["not_estimable"] = self.note
        return out


def rank_sum_test(x, y, *, x_name: str = "x", y_name: str = "y") -> RankSumTest:
    """Wilcoxon rank-sum test with R ``wilcox.test(x, y)``'s defaults (see the module docstring).

    Missing values (NaN) are left out. Not estimable when a group is empty or every value is the same.
    """
    x, y = _finite(x), _finite(y)
    result = RankSumTest(x_name=x_name, y_name=y_name, n_x=int(x.size), n_y=int(y.size),
                         median_x=float(np.median(x)) if x.size else None,
                         median_y=float(np.median(y)) if y.size else None)
    if x.size == 0 or y.size == 0:
        empty = " and ".join(name for name, v in ((x_name, x), (y_name, y)) if v.size == 0)
        result.note = f"not estimable: no value in {empty}"
        return result
    both = np.concatenate([x, y])
    if np.unique(both).size < 2:
        result.note = "not estimable: every value is the same"
        return result
    ties = np.unique(both).size < both.size
    if x.size < EXACT_LIMIT and y.size < EXACT_LIMIT and not ties:
        test = stats.mannwhitneyu(x, y, alternative="two-sided", method="exact")
        result.method = "exact p (fewer than 50 values per group, no ties)"
    else:
        test = stats.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic", use_continuity=True)
        reason = "ties" if ties else "50 or more values in a group"
        result.method = f"normal approximation with continuity correction ({reason})"
    result.W, result.p = float(test.statistic), float(min(test.pvalue, 1.0))
    return result


@dataclass
class KruskalTest:
    """Kruskal–Wallis test across groups."""

    groups: List[str]
    n: List[int]
    medians: List[Optional[float]]
    H: Optional[float] = None
    df: Optional[int] = None
    p: Optional[float] = None
    note: str = ""

    def to_dict(self) -> dict:
        out = {"test": "Kruskal-Wallis rank-sum test (R kruskal.test)", "groups": self.groups, "n": self.n,
               "medians": self.medians, "H": self.H, "df": self.df, "p": self.p}
        if self.note:
            out["not_estimable"] = self.note
        return out


def kruskal_test(samples: Dict[str, Sequence[float]]) -> KruskalTest:
    """Kruskal–Wallis test across the named samples (R ``kruskal.test``); empty samples are left out and said."""
    clean = {name: _finite(values) for name, values in samples.items()}
    result = KruskalTest(groups=list(clean), n=[int(v.size) for v in clean.values()],
                         medians=[float(np.median(v)) if v.size else None for v in clean.values()])
    used = [v for v in clean.values() if v.size]
    empty = [name for name, v in clean.items() if not v.size]
    if len(used) < 2:
        result.note = "not estimable: fewer than two groups have a value" + (
            f" ({', '.join(empty)} empty)" if empty else "")
        return result
    if np.unique(np.concatenate(used)).size < 2:
        result.note = "not estimable: every value is the same"
        return result
    h, p = stats.kruskal(*used)
    result.H, result.df, result.p = float(h), len(used) - 1, float(p)
    if empty:
        result.note = f"groups without a value left out: {', '.join(empty)}"
    return result


@dataclass
class TrendTest:
    """Chi-square test for a trend in proportions over ordered levels (Cochran–Armitage)."""

    levels: List[float]
    successes: List[int]
    totals: List[int]
    chi2: Optional[float] = None
    p: Optional[float] = None
    note: str = ""

    def to_dict(self) -> dict:
        out = {"test": "chi-square test for trend in proportions, 1 df (R prop.trend.test, scores = levels)",
               "levels": self.levels, "successes": self.successes, "totals": self.totals, "chi2": self.chi2,
               "df": 1 if self.chi2 is not None else None, "p": self.p}
        if self.note:
            out["not_estimable"] = self.note
        return out


def trend_test(successes: Sequence[int], totals: Sequence[int], scores: Sequence[float]) -> TrendTest:
    """Cochran–Armitage test for a trend of the proportions ``successes/totals`` over ``scores``.

    As R ``prop.trend.test(successes, totals, score = scores)``: the weighted regression of the proportions on the
    scores (weights ``totals / (p̄ (1 − p̄))``); its regression sum of squares is chi-square with 1 df.
    Levels without patients are left out. Not estimable with fewer than two levels or a pooled proportion of 0 or 1.
    """
    x = np.asarray(successes, dtype=float)
    n = np.asarray(totals, dtype=float)
    s = np.asarray(scores, dtype=float)
    result = TrendTest(levels=[float(v) for v in s], successes=[int(v) for v in x], totals=[int(v) for v in n])
    keep = n > 0
    x, n, s = x[keep], n[keep], s[keep]
    if keep.sum() < 2:
        result.note = "not estimable: fewer than two levels have patients"
        return result
    pooled = x.sum() / n.sum()
    if pooled in (0.0, 1.0):
        result.note = "not estimable: every patient is in the same class"
        return result
    weights = n / (pooled * (1 - pooled))
    centred = s - np.sum(weights * s) / weights.sum()
    chi2 = float(np.sum(weights * centred * (x / n - pooled)) ** 2 / np.sum(weights * centred ** 2))
    result.chi2, result.p = chi2, float(stats.chi2.sf(chi2, 1))
    return result


@dataclass
class Correlation:
    """A correlation of ``y`` with ``x`` (Pearson also with the least-squares line y = intercept + slope·x)."""

    method: str
    x_name: str
    y_name: str
    n: int
    coefficient: Optional[float] = None
    p: Optional[float] = None
    slope: Optional[float] = None
    intercept: Optional[float] = None
    note: str = ""

    def to_dict(self) -> dict:
        name = "r" if self.method == "pearson" else "rho"
        out = {"method": self.method, "x": self.x_name, "y": self.y_name, "n": self.n, name: self.coefficient,
               "p": self.p}
        if self.method == "pearson":
            out.update({"slope": self.slope, "intercept": self.intercept})
        if self.note:
            out["not_estimable"] = self.note
        return out


def correlation(x, y, *, method: str, x_name: str = "x", y_name: str = "y") -> Correlation:
    """Pearson or Spearman correlation of the pairs where both values are finite.

    Not estimable with fewer than 3 pairs or when one variable has a single value.
    """
    if method not in ("pearson", "spearman"):
        raise ValueError(f"method {method!r}: expected 'pearson' or 'spearman'")
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    result = Correlation(method=method, x_name=x_name, y_name=y_name, n=int(x.size))
    if x.size < 3:
        result.note = f"not estimable: {x.size} patients with both values (3 needed)"
        return result
    constant = [name for name, v in ((x_name, x), (y_name, y)) if np.ptp(v) == 0]
    if constant:
        result.note = f"not estimable: every patient has the same {' and '.join(constant)}"
        return result
    if method == "pearson":
        coefficient, p = stats.pearsonr(x, y)
        slope, intercept = np.polyfit(x, y, 1)
        result.slope, result.intercept = float(slope), float(intercept)
    else:
        coefficient, p = stats.spearmanr(x, y)
    result.coefficient, result.p = float(coefficient), float(p)
    return result


def holm(p_values: Sequence[Optional[float]]) -> List[Optional[float]]:
    """Holm-adjusted p-values (R ``p.adjust(p, "holm")``) of the p-values that are not None."""
    index = [i for i, p in enumerate(p_values) if p is not None]
    ordered = sorted(index, key=lambda i: p_values[i])
    adjusted: List[Optional[float]] = [None] * len(p_values)
    running = 0.0
    m = len(ordered)
    for rank, i in enumerate(ordered):
        running = max(running, min(1.0, (m - rank) * float(p_values[i])))
        adjusted[i] = running
    return adjusted


@dataclass
class Share:
    """How many of ``n`` patients have a property."""

    count: int
    n: int
    share: Optional[float] = field(init=False)

    def __post_init__(self) -> None:
        self.share = self.count / self.n if self.n else None

    def to_dict(self) -> dict:
        return {"count": self.count, "n": self.n, "share": self.share}
