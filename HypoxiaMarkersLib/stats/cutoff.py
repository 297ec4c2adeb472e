"""Optimal cutoff of one marker: maximally selected log-rank statistics with honest p-values (SPEC §4.3).

The paper chose its imaging cutoff (HF 0.27) as the value with the strongest association to PFS. A maximum over
many cutoffs is optimistic, so next to the naive p-value this module reports the selection-adjusted p-values of
maximally selected rank statistics (Lausen & Schumacher, Biometrics 1992;48:73–85, and the improved Bonferroni
bound of Worsley 1982 as given by Lausen, Sauerbrei & Schumacher 1994, as used by R's ``maxstat``) and a
permutation p-value.

Conventions follow R's ``maxstat.test(Surv(time, event) ~ marker, smethod = "LogRank")`` (Hothorn & Lausen):

- log-rank scores a_i = δ_i − Σ_{j: t_j ≤ t_i} δ_j / (N − r_j + 1), with r_j the rank of t_j where tied times
  get the largest rank (``exactRankTests::cscores``);
- patients sorted by the marker; a split puts the m lowest values in the "low" group, for every m that ends a run
  of tied values, with floor(N·min_prop) ≤ m ≤ floor(N·max_prop) and m ≥ 1;
- the standardized statistic uses the permutation mean and variance of a linear rank statistic:
  |Σ_{low} a − m/N Σa| / sqrt(m(N−m)/(N²(N−1)) (NΣa² − (Σa)²));
- R's cutpoint estimate is the largest marker value of the low group (low: marker ≤ estimate). This library calls
  a value "high" when marker ≥ cutoff, so the reported ``value`` is the smallest marker value of the high group;
  both are reported.

The same vectorised machinery (:func:`score_statistics`, :func:`logrank_statistics`) computes the statistics of
thousands of candidate splits at once, for the composite-line search and its permutation test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple

import numpy as np
from scipy import stats

from ..errors import InputError
from ..progress import ProgressCallback, report
from ..rules import COMPARISON_DECIMALS, at_or_above

#: Which statistic ranks candidate splits: maxstat's standardized log-rank score statistic, or the classical
#: Mantel–Haenszel log-rank Z (hypergeometric variance, as ``survdiff``).
STATISTICS = ("score", "logrank")


# --------------------------------------------------------------------------------------------------------------
# Statistics of many splits at once
# --------------------------------------------------------------------------------------------------------------


def logrank_scores(time, event) -> np.ndarray:
    """Log-rank scores of each patient, as ``exactRankTests::cscores(Surv(time, event), type = "LogRank")``.

    a_i = δ_i − Σ_{j: t_j ≤ t_i} δ_j / (N − r_j + 1), where tied times share the largest rank r.
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=float)
    n = time.size
    sorted_time = np.sort(time)
    rank = np.searchsorted(sorted_time, time, side="right")  # largest rank among ties (1-based)
    order = np.argsort(time, kind="stable")
    fact = event / (n - rank + 1.0)
    cumulative = np.cumsum(fact[order])
    return event - cumulative[rank - 1]


class RankStandardisation:
    """maxstat's standardisation of a linear rank statistic Σ_group a of a group of m of the N patients.

    Under permutation of the scores a the sum has mean m/N Σa and variance m(N−m)/(N²(N−1)) (NΣa² − (Σa)²)
    (Lausen & Schumacher 1992; ``maxstat``'s ``smethod = "LogRank"``). Every maxstat statistic of this package
    (one split, the optimal cutoff's search and its permutations, the composite search by score statistic and its
    permutations) is standardised here.
    """

    def __init__(self, scores) -> None:
        scores = np.asarray(scores, dtype=float)
        self.n = scores.size
        self.total = scores.sum()
        self.spread = self.n * np.sum(scores * scores) - self.total * self.total

    def standardise(self, observed, m):
        """(observed − m/N Σa) / sqrt(m(N−m)/(N²(N−1)) (NΣa² − (Σa)²)), broadcast; NaN for an empty group."""
        n = self.n
        with np.errstate(divide="ignore", invalid="ignore"):
            return (observed - m / n * self.total) / np.sqrt(m * (n - m) / (n * n * (n - 1.0)) * self.spread)


def score_statistics(scores: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Standardized linear rank statistics of the "high" groups, signed (positive: high has more events).

    Parameters
    ----------
    scores : array (N,)
        Log-rank scores (:func:`logrank_scores`).
    high : bool array (K, N)
        One candidate split per row (True = high group).

    Returns
    -------
    array (K,)
        (Σ_high a − n_high/N Σa) / sqrt(n_high(N−n_high)/(N²(N−1)) (NΣa² − (Σa)²)); NaN for an empty group.
    """
    scores = np.asarray(scores, dtype=float)
    high = np.asarray(high)
    return RankStandardisation(scores).standardise(high.astype(float) @ scores, high.sum(axis=-1).astype(float))


class LogRankSplits:
    """Classical log-rank Z statistics (as ``survdiff``) for many two-group splits of one cohort, vectorised.

    The outcome is prepared once; :meth:`z` then takes a (K, N) membership matrix. The numerator O − E of the
    high group is linear in the membership: Σ_high (δ_i − Λ(t_i)), Λ the Nelson–Aalen hazard summed up to t_i.
    The hypergeometric variance Σ_j c_j p_j (1 − p_j) needs p_j, the high group's share of those at risk at each
    event time τ_j, which is also linear in the membership (membership @ at-risk indicators). So one matrix
    product gives every split's statistic, and a permutation of the outcomes is a permutation of the rows of
    that small (N, J + 1) matrix, never of the large membership matrix.
    """

    def __init__(self, time, event) -> None:
        time = np.asarray(time, dtype=float)
        event = np.asarray(event, dtype=int)
        if not np.any(event == 1):
            # No event, no log-rank statistic (e.g. a bootstrap resample of a small cohort): callers skip it.
            raise InputError("no events: every patient is censored", field="event",
                             expected="at least one event")
        self.n = time.size
        event_times, d = np.unique(time[event == 1], return_counts=True)
        n_risk = np.sum(time[:, None] >= event_times[None, :], axis=0).astype(float)
        self.n_risk = n_risk
        with np.errstate(divide="ignore", invalid="ignore"):
            self.c = np.where(n_risk > 1, d * (n_risk - d) / (n_risk - 1.0), 0.0)
        hazard = np.cumsum(d / n_risk)
        upto = np.searchsorted(event_times, time, side="right") - 1
        scores = event - np.where(upto >= 0, hazard[np.maximum(upto, 0)], 0.0)
        # Column 0: log-rank scores; columns 1..J: at-risk indicators t_i ≥ τ_j.
        self.outcome = np.column_stack([scores, (time[:, None] >= event_times[None, :]).astype(float)])

    def _z_from_products(self, products: np.ndarray) -> np.ndarray:
        # Σ_j c_j p_j (1 − p_j) with p_j = n_high_j / n_j, as two products (no (K, J) temporaries but one).
        at_risk_high = products[..., 1:]
        variance = at_risk_high @ (self.c / self.n_risk) - np.square(at_risk_high) @ (self.c / self.n_risk ** 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            return products[..., 0] / np.sqrt(variance)

    def z(self, high: np.ndarray, permutation: Optional[np.ndarray] = None) -> np.ndarray:
        """Signed log-rank Z of the high group of each split (positive: more events than expected).

        Parameters
        ----------
        high : bool array (K, N)
            Candidate splits, columns in the patients' order.
        permutation : int array (N,), optional
            Give patient i the outcome of patient ``permutation[i]`` (one draw of a permutation test).
        """
        outcome = self.outcome if permutation is None else self.outcome[np.asarray(permutation)]
        return self._z_from_products(np.asarray(high, dtype=float) @ outcome)

    def z_permuted(self, high: np.ndarray, permutations: np.ndarray) -> np.ndarray:
        """Z of every split (columns) for a batch of outcome permutations (rows of ``permutations``): (B, K)."""
        permutations = np.asarray(permutations)
        batch, n = permutations.shape
        width = self.outcome.shape[1]
        stacked = self.outcome[permutations].transpose(1, 0, 2).reshape(n, batch * width)
        products = (np.asarray(high, dtype=float) @ stacked).reshape(-1, batch, width).transpose(1, 0, 2)
        return self._z_from_products(products)


def logrank_statistics(time, event, high: np.ndarray) -> np.ndarray:
    """Signed classical log-rank Z for each row of ``high`` (K, N); Z² is ``survdiff``'s chi²."""
    return LogRankSplits(time, event).z(high)


# --------------------------------------------------------------------------------------------------------------
# Lausen–Schumacher p-values
# --------------------------------------------------------------------------------------------------------------


def p_lausen_schumacher_1992(statistic: float, min_prop: float = 0.1, max_prop: float = 0.9) -> float:
    """Approximate p-value of a maximally selected standardized statistic (Lausen & Schumacher 1992).

    As ``maxstat::pLausen92``: 1 for b < 1, else max(4φ(b)/b + φ(b)(b − 1/b) log(ε₂(1−ε₁)/((1−ε₂)ε₁)), 0);
    we cap it at 1 (R can return more than 1 for small b).
    """
    b = float(statistic)
    if not np.isfinite(b) or b < 1:
        return 1.0
    density = stats.norm.pdf(b)
    p = 4.0 * density / b + density * (b - 1.0 / b) * np.log(
        (max_prop * (1.0 - min_prop)) / ((1.0 - max_prop) * min_prop))
    return float(min(max(p, 0.0), 1.0))


def p_lausen_schumacher_1994(statistic: float, n: int, split_sizes: np.ndarray) -> float:
    """Improved Bonferroni p-value of a maximally selected statistic (Lausen, Sauerbrei & Schumacher 1994).

    As ``maxstat::pLausen94`` with the split sizes m actually searched: 2(1 − Φ(b)) plus
    Σ (1/π) e^{−b²/2} (t − (b²/4 − 1) t³/6) over consecutive sizes, t = sqrt(1 − m₁(N − m₂)/((N − m₁)m₂));
    capped at 1.
    """
    b = float(statistic)
    m = np.asarray(split_sizes, dtype=float)
    if m.size <= 1:
        correction = 0.0
    else:
        m1, m2 = m[:-1], m[1:]
        t = np.sqrt(1.0 - m1 * (n - m2) / ((n - m1) * m2))
        correction = float(np.sum(np.exp(-b * b / 2.0) / np.pi * (t - (b * b / 4.0 - 1.0) * t ** 3 / 6.0)))
    p = 2.0 * stats.norm.sf(b) + correction
    return float(min(p, 1.0))


# --------------------------------------------------------------------------------------------------------------
# The optimal cutoff of one marker
# --------------------------------------------------------------------------------------------------------------


@dataclass
class CutoffResult:
    """A cutoff of one marker: "high" is marker ≥ ``value``.

    For ``method == "maxstat"`` the value was selected from the data and the p-values adjusted for the
    selection are given; for ``method == "fixed"`` they are ``None`` (only ``p_unadjusted`` applies).
    """

    value: float
    method: str
    statistic: float
    p_unadjusted: float
    p_lausen_schumacher_1992: Optional[float] = None
    p_lausen_schumacher_1994: Optional[float] = None
    p_permutation: Optional[float] = None
    maxstat_estimate: Optional[float] = None
    min_prop: Optional[float] = None
    max_prop: Optional[float] = None
    permutations: int = 0
    seed: Optional[int] = None
    n_high: int = 0
    n_low: int = 0
    cuts: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    stats: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    statistic_name: str = "standardized log-rank score statistic (maxstat, smethod='LogRank')"

    @property
    def selected_from_data(self) -> bool:
        """True when the cutoff (or line) was searched in these data, so its naive p is optimistic."""
        return self.method != "fixed"

    @property
    def p_adjusted(self) -> Optional[float]:
        """The p-value adjusted for the search: permutation when run, else Lausen–Schumacher 1994, else 1992;
        None for a fixed cutoff (nothing to adjust) or when no adjustment was computed."""
        for value in (self.p_permutation, self.p_lausen_schumacher_1994, self.p_lausen_schumacher_1992):
            if value is not None and np.isfinite(value):
                return float(value)
        return None

    @property
    def p_adjusted_method(self) -> Optional[str]:
        """Which adjustment :attr:`p_adjusted` is."""
        names = (("permutation", self.p_permutation), ("Lausen-Schumacher 1994", self.p_lausen_schumacher_1994),
                 ("Lausen-Schumacher 1992", self.p_lausen_schumacher_1992))
        return next((name for name, value in names if value is not None and np.isfinite(value)), None)

    @property
    def p_headline(self) -> Optional[float]:
        """The p to show first: adjusted when the cutoff was searched (None if no adjustment exists: then the
        naive p must be shown labelled "unadjusted, cutoff chosen from the data"), else the log-rank p."""
        return self.p_adjusted if self.selected_from_data else float(self.p_unadjusted)

    @property
    def p_headline_label(self) -> str:
        """Words for :attr:`p_headline` (e.g. "p adjusted for the cutoff search (permutation)")."""
        if not self.selected_from_data:
            return "log-rank p"
        if self.p_adjusted is None:
            return "no adjusted p (naive p unadjusted for the cutoff search)"
        return f"p adjusted for the cutoff search ({self.p_adjusted_method})"

    def to_dict(self) -> dict:
        return {
            "value": self.value, "method": self.method, "statistic": self.statistic,
            "statistic_name": self.statistic_name,
            "selected_from_data": self.selected_from_data,
            "p_headline": self.p_headline, "p_headline_label": self.p_headline_label,
            "p_adjusted": self.p_adjusted, "p_adjusted_method": self.p_adjusted_method,
            "p_unadjusted": self.p_unadjusted,
            "p_lausen_schumacher_1992": self.p_lausen_schumacher_1992,
            "p_lausen_schumacher_1994": self.p_lausen_schumacher_1994,
            "p_permutation": self.p_permutation, "permutations": self.permutations, "seed": self.seed,
            "maxstat_estimate": self.maxstat_estimate, "min_prop": self.min_prop, "max_prop": self.max_prop,
            "n_high": self.n_high, "n_low": self.n_low,
            "candidates": {"maxstat_cut": self.cuts, "statistic": self.stats},
        }


def candidate_splits(marker_sorted: np.ndarray, min_prop: float, max_prop: float) -> np.ndarray:
    """Sizes m of the low group that maxstat searches (ends of tie runs inside [floor(N·min), floor(N·max)])."""
    n = marker_sorted.size
    m = np.flatnonzero(np.r_[True, marker_sorted[1:] != marker_sorted[:-1]])  # first index of each value
    if min_prop == 0 and max_prop == 1:
        return m[1:-1] if m.size > 2 else m[1:1]
    m = m[m >= max(1, int(np.floor(n * min_prop)))]
    return m[m <= int(np.floor(n * max_prop))]


def _check_props(min_prop: float, max_prop: Optional[float]) -> Tuple[float, float]:
    if not 0.0 < min_prop < 0.5:
        # 0 would search groups of a single patient, and the Lausen-Schumacher bound is infinite there.
        raise InputError(f"minimum proportion {min_prop} is outside (0, 0.5)", source="--min-prop",
                         expected="a proportion such as 0.1 (the smallest share of patients in a group)")
    max_prop = 1.0 - min_prop if max_prop is None else float(max_prop)
    if not min_prop < max_prop <= 1.0:
        raise InputError(f"maximum proportion {max_prop} is not in ({min_prop}, 1]", source="--max-prop")
    return float(min_prop), max_prop


def optimal_cutoff(time, event, marker, *, min_prop: float = 0.1, max_prop: Optional[float] = None,
                   permutations: int = 0, seed: Optional[int] = None,
                   progress: Optional[ProgressCallback] = None) -> CutoffResult:
    """Maximally selected log-rank statistic over the observed marker values (R's ``maxstat.test``).

    Parameters
    ----------
    time, event, marker : array-like
        Complete cases only (no missing values).
    min_prop, max_prop : float
        The low group holds between floor(N·min_prop) and floor(N·max_prop) patients (maxstat's ``minprop``,
        ``maxprop``); ``max_prop`` defaults to 1 − ``min_prop``.
    permutations : int
        Number of permutations of the outcome for the permutation p-value (0: none).
    seed : int, optional
        Seed of the permutations (numpy ``default_rng``).

    Returns
    -------
    CutoffResult
        ``value`` (high: marker ≥ value), the statistic, R's cutpoint estimate, the naive p-value
        2(1 − Φ(M)), the Lausen–Schumacher 1992 and 1994 p-values and the permutation p-value
        (1 + #{M* ≥ M}) / (B + 1).
    """
    min_prop, max_prop = _check_props(min_prop, max_prop)
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=int)
    marker = np.asarray(marker, dtype=float)
    n = marker.size
    if np.unique(marker).size < 2:
        raise InputError("the marker has only one value: no cutoff can split the patients", field="marker",
                         expected="a marker with at least two distinct values")
    order = np.argsort(marker, kind="stable")
    x = marker[order]
    scores = logrank_scores(time, event)[order]
    # Ties as the high/low rule sees them (rules.at_or_above compares after rounding away float noise).
    m = candidate_splits(np.round(x, COMPARISON_DECIMALS), min_prop, max_prop)
    if m.size < 1:
        raise InputError(
            f"no cutoff leaves between {min_prop:g} and {max_prop:g} of the {n} patients in the low group",
            field="marker", expected="more patients, more distinct marker values or a smaller --min-prop")
    standardisation = RankStandardisation(scores)
    test = np.abs(standardisation.standardise(np.cumsum(scores)[m - 1], m))
    if not np.any(np.isfinite(test)):
        raise InputError("the log-rank statistic is undefined (no events, or every score equal)", field="event",
                         expected="at least one event and one censoring or later time")
    best = int(np.nanargmax(test))  # first maximum, as maxstat
    statistic = float(test[best])
    m_best = int(m[best])
    p_perm = None
    if permutations > 0:
        rng = np.random.default_rng(seed)
        exceed = 0
        chunk = max(1, min(permutations, 2_000_000 // max(n, 1)))
        done = 0
        while done < permutations:
            size = min(chunk, permutations - done)
            shuffled = rng.permuted(np.broadcast_to(scores, (size, n)), axis=1)
            maxima = np.nanmax(np.abs(standardisation.standardise(np.cumsum(shuffled, axis=1)[:, m - 1], m)), axis=1)
            # A relative tolerance keeps permutations that reproduce the observed split from losing a tie.
            exceed += int(np.sum(maxima >= statistic * (1.0 - 1e-12)))
            done += size
            report(progress, done, permutations)
        p_perm = (1.0 + exceed) / (permutations + 1.0)
    return CutoffResult(
        value=float(x[m_best]), method="maxstat", statistic=statistic,
        p_unadjusted=float(2.0 * stats.norm.sf(statistic)),
        p_lausen_schumacher_1992=p_lausen_schumacher_1992(statistic, min_prop, max_prop),
        p_lausen_schumacher_1994=p_lausen_schumacher_1994(statistic, n, m),
        p_permutation=p_perm, maxstat_estimate=float(x[m_best - 1]), min_prop=min_prop, max_prop=max_prop,
        permutations=int(permutations), seed=seed, n_high=n - m_best, n_low=m_best, cuts=x[m - 1], stats=test,
    )


def fixed_cutoff(time, event, marker, value: float) -> CutoffResult:
    """The same statistic at a cutoff chosen beforehand (high: marker ≥ value); no selection to adjust for."""
    time = np.asarray(time, dtype=float)
    marker = np.asarray(marker, dtype=float)
    high = at_or_above(marker, value)
    n_high = int(high.sum())
    if n_high == 0 or n_high == marker.size:
        raise InputError(
            f"cutoff {value:g} puts every patient in one group (marker range {marker.min():g} to {marker.max():g})",
            source="--cutoff", expected="a cutoff inside the marker's range")
    z = float(score_statistics(logrank_scores(time, event), high[None, :])[0])
    return CutoffResult(value=float(value), method="fixed", statistic=abs(z),
                        p_unadjusted=float(2.0 * stats.norm.sf(abs(z))), n_high=n_high,
                        n_low=int(marker.size - n_high))
