"""Variance components of a random-effects one-way ANOVA: how much of the spread lies within tumours.

Several samples per tumour (image slices, biopsies, virtual biopsies) give values ``y_ij`` for tumour ``i``,
sample ``j``. The method of moments for unbalanced groups (Searle, Casella & McCulloch, *Variance Components*,
1992, §3.5; SPEC §3.1) splits the variance into a within-tumour part ``W`` and a between-tumour part ``B``:

    MSW = sum_i sum_j (y_ij - mean_i)^2 / (N - k)
    MSB = sum_i n_i (mean_i - mean)^2 / (k - 1)
    n0  = (N - sum_i n_i^2 / N) / (k - 1)
    W = MSW,  B = max((MSB - MSW) / n0, 0),  T = W + B

``W/T`` is the share of the variance that lies within tumours: the larger it is, the less one sample says about
its tumour. Averaging ``k`` samples per tumour divides ``W`` by ``k``: ``Wk/T = (W/k) / (W/k + B)``.

Hypoxic fractions are bounded and pile up at 0 and 1, so they are compared on the logit scale; the empirical logit
``log((h + 0.5) / (n - h + 0.5))`` (Cox 1970) stays finite for ``h = 0`` and ``h = n``.

Reference: Fjeldbo CS et al., EBioMedicine 2020;57:102841 (W/T of slices, biopsies and virtual biopsies).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, Optional, Sequence, Union

import numpy as np

from ..errors import InputError

if TYPE_CHECKING:  # pandas only for reading tables: the ANOVA itself runs on numpy alone (e.g. inside Slicer)
    import pandas as pd

DEFAULT_KS = (1, 2, 3, 4)


@dataclass(frozen=True)
class VarianceComponents:
    """Method-of-moments variance components of a one-way random-effects ANOVA.

    Attributes
    ----------
    within : float
        ``W`` = MSW, the variance between samples of one tumour.
    between : float
        ``B`` = max((MSB - MSW) / n0, 0), the variance between tumour means (truncated at 0).
    msw, msb : float
        Mean squares within and between tumours.
    n0 : float
        The effective number of samples per tumour for unbalanced groups.
    n_tumours, n_samples : int
        ``k`` and ``N``.
    n_single_sample_tumours : int
        Tumours with one sample: they carry no within-tumour information but count in ``MSB`` and ``n0``.
    between_truncated : bool
        True when MSB < MSW, so the between-tumour estimate was negative and set to 0.
    """

    within: float
    between: float
    msw: float
    msb: float
    n0: float
    n_tumours: int
    n_samples: int
    n_single_sample_tumours: int
    between_truncated: bool

    @property
    def total(self) -> float:
        """``T = W + B``."""
        return self.within + self.between

    @property
    def w_over_t(self) -> float:
        """Intratumour share of the variance for one sample per tumour, ``W/T``."""
        return self.within / self.total

    def wk_over_t(self, k: Union[int, Sequence[int], np.ndarray]) -> Union[float, np.ndarray]:
        """Intratumour share when the tumour's value is the mean of ``k`` samples, ``(W/k) / (W/k + B)``."""
        return wk_over_t(self.within, self.between, k)

    def to_dict(self, ks: Sequence[int] = DEFAULT_KS) -> Dict[str, object]:
        """Plain values for JSON; ``wk_over_t`` is keyed by ``k``."""
        return {
            "W": self.within,
            "B": self.between,
            "T": self.total,
            "W_over_T": self.w_over_t,
            "Wk_over_T": {str(int(k)): float(self.wk_over_t(int(k))) for k in ks},
            "MSW": self.msw,
            "MSB": self.msb,
            "n0": self.n0,
            "n_tumours": self.n_tumours,
            "n_samples": self.n_samples,
            "n_single_sample_tumours": self.n_single_sample_tumours,
            "between_truncated_at_zero": self.between_truncated,
        }


@dataclass(frozen=True)
class Interval:
    """Confidence intervals for ``Wk/T`` (``k = 1`` is ``W/T``).

    Attributes
    ----------
    method : str
        ``"bootstrap"`` (percentile bootstrap over tumours) or ``"f"`` (normal-theory F interval).
    ks : ndarray of int
        The numbers of samples per tumour the intervals are for.
    low, high : ndarray of float
        Interval bounds, one per ``k``.
    level : float
        Confidence level, e.g. 0.95.
    n_boot, n_used : int or None
        Bootstrap replicates drawn, and those with a defined ratio (a replicate whose resampled tumours all have
        one sample, or whose values are all equal, has none and is left out). None for the F interval.
    seed : int or None
        Seed of the bootstrap.
    """

    method: str
    ks: np.ndarray
    low: np.ndarray
    high: np.ndarray
    level: float
    n_boot: Optional[int] = None
    n_used: Optional[int] = None
    seed: Optional[int] = None

    def to_dict(self) -> Dict[str, object]:
        out: Dict[str, object] = {"method": self.method, "description": CI_METHODS[self.method], "level": self.level}
        if self.method == "bootstrap":
            out.update(n_boot=self.n_boot, n_used=self.n_used, seed=self.seed)
        out["Wk_over_T"] = {str(int(k)): [float(lo), float(hi)] for k, lo, hi in zip(self.ks, self.low, self.high)}
        return out


CI_METHODS = {
    "bootstrap": "percentile bootstrap, resampling whole tumours",
    "f": "normal-theory F interval of the intraclass correlation (exact for balanced groups; n0 for unbalanced)",
}


def wk_over_t(within: float, between: float, k: Union[int, Sequence[int], np.ndarray]) -> Union[float, np.ndarray]:
    """Intratumour share of variance for the mean of ``k`` samples per tumour: ``(W/k) / (W/k + B)``.

    Parameters
    ----------
    within, between : float
        ``W`` and ``B`` (W + B > 0).
    k : int or array of int
        Samples averaged per tumour, each ≥ 1.

    Returns
    -------
    float, or ndarray when ``k`` is an array.
    """
    k_arr = np.asarray(k, dtype=float)
    if np.any(k_arr < 1):
        raise InputError("the number of samples per tumour must be at least 1", field="k", expected="k >= 1")
    if not within + between > 0:
        raise InputError("W + B is 0: there is no variation to split", expected="values that are not all equal")
    share = (within / k_arr) / (within / k_arr + between)
    return float(share) if share.ndim == 0 else share


def empirical_logit(hypoxic: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Empirical logit of a fraction ``h/n``: ``log((h + 0.5) / (n - h + 0.5))``, finite at 0 and 1.

    Equal to ``logit((h + 0.5) / (n + 1))`` (SPEC §3.1).

    Parameters
    ----------
    hypoxic : array of int
        Counts ``h`` (hypoxic voxels), 0 ≤ h ≤ n.
    n : array of int
        Totals ``n`` (fitted voxels), n ≥ 1.
    """
    h = np.asarray(hypoxic, dtype=float)
    n = np.asarray(n, dtype=float)
    if np.any(~np.isfinite(h)) or np.any(~np.isfinite(n)):
        raise InputError("hypoxic and total counts must be finite numbers", expected="counts 0 <= h <= n, n >= 1")
    if np.any(n < 1) or np.any(h < 0) or np.any(h > n):
        raise InputError("counts out of range", expected="0 <= hypoxic <= n and n >= 1")
    return np.log((h + 0.5) / (n - h + 0.5))


def _group_codes(tumours, n_values: int, source: Optional[str]) -> np.ndarray:
    tumours = np.asarray(tumours)
    if tumours.ndim != 1 or tumours.size != n_values:
        raise InputError(
            f"{tumours.size} tumour labels for {n_values} values", source=source, expected="one label per value"
        )
    if tumours.dtype.kind == "f":
        missing = np.isnan(tumours)
    elif tumours.dtype.kind == "O":
        missing = np.array([t is None or (isinstance(t, float) and t != t) for t in tumours], dtype=bool)
    else:
        missing = np.zeros(tumours.size, dtype=bool)
    if missing.any():
        raise InputError("a tumour label is missing", source=source, expected="a tumour label on every row")
    # Labels are compared as text, so 7 and "7" are one tumour (a CSV column and a Python list agree).
    return np.unique(tumours.astype(str), return_inverse=True)[1].ravel()


def _sufficient_statistics(values: np.ndarray, codes: np.ndarray):
    """Per tumour: n_i, sum of values, sum of squared deviations from the tumour mean (two-pass, exact)."""
    k = int(codes.max()) + 1
    n_i = np.bincount(codes, minlength=k).astype(float)
    sums = np.bincount(codes, weights=values, minlength=k)
    means = sums / n_i
    ss_within = np.bincount(codes, weights=(values - means[codes]) ** 2, minlength=k)
    return n_i, sums, ss_within


def _bootstrap_components(counts: np.ndarray, n_i: np.ndarray, sums: np.ndarray, ss_within: np.ndarray):
    """MSW, MSB and n0 of many bootstrap replicates at once.

    ``counts[b, i]`` is how often tumour ``i`` was drawn in replicate ``b``; every statistic of the ANOVA is a
    weighted sum of per-tumour sums, so all replicates are one matrix product each. ``sums`` must come from values
    centred on their overall mean (keeps ``sum n_i mean_i^2 - N mean^2`` free of cancellation).
    """
    k = counts.sum(axis=1)
    big_n = counts @ n_i
    means = sums / n_i
    centre = (counts @ sums) / big_n
    ssb = np.maximum(counts @ (n_i * means**2) - big_n * centre**2, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        msw = (counts @ ss_within) / (big_n - k)
        msb = ssb / (k - 1)
        n0 = (big_n - (counts @ n_i**2) / big_n) / (k - 1)
    return msw, msb, n0


def variance_components(
    values: Union[np.ndarray, Sequence[float]], tumours: Union[np.ndarray, Sequence], *, source: Optional[str] = None
) -> VarianceComponents:
    """Random-effects one-way ANOVA by the method of moments, for any number of samples per tumour (SPEC §3.1).

    Parameters
    ----------
    values : array of float, shape (N,)
        One value per sample (e.g. the empirical logit of a slice's hypoxic fraction, or a biopsy's gene score).
    tumours : array, shape (N,)
        The tumour (patient) each value belongs to; any hashable labels.
    source : str, optional
        Named in error messages (the file or option the values came from).

    Returns
    -------
    VarianceComponents

    Raises
    ------
    InputError
        Non-finite values, fewer than 2 tumours, no tumour with 2 or more samples (``W`` undefined), or no
        variation at all (all values equal: ``W/T`` undefined).
    """
    y = np.asarray(values, dtype=float)
    if y.ndim != 1:
        raise InputError("values must be one-dimensional", source=source)
    bad = ~np.isfinite(y)
    if bad.any():
        raise InputError(
            f"{int(bad.sum())} value(s) are missing or not finite (first at position {int(np.argmax(bad))})",
            source=source,
            expected="a finite number for every sample",
        )
    codes = _group_codes(tumours, y.size, source)
    n_i, sums, ss_within = _sufficient_statistics(y, codes)
    k = n_i.size
    if k < 2:
        raise InputError(
            f"{k} tumour(s): the between-tumour variance needs at least 2", source=source, expected=">= 2 tumours"
        )
    if not np.any(n_i >= 2):
        raise InputError(
            "every tumour has a single sample: the within-tumour variance is undefined",
            source=source,
            expected="at least one tumour with 2 or more samples",
        )
    if np.all(y == y[0]):
        raise InputError(
            "all values are equal: there is no variation to split, so W/T is undefined",
            source=source,
            expected="values that vary",
        )
    big_n = float(n_i.sum())
    means = sums / n_i
    centre = sums.sum() / big_n
    msw = float(ss_within.sum() / (big_n - k))
    msb = float(np.sum(n_i * (means - centre) ** 2) / (k - 1))
    n0 = float((big_n - np.sum(n_i**2) / big_n) / (k - 1))
    between_raw = (msb - msw) / n0
    return VarianceComponents(
        within=msw,
        between=max(between_raw, 0.0),
        msw=msw,
        msb=msb,
        n0=n0,
        n_tumours=int(k),
        n_samples=int(big_n),
        n_single_sample_tumours=int(np.sum(n_i == 1)),
        between_truncated=bool(between_raw < 0),
    )


def bootstrap_wk_over_t(
    values: Union[np.ndarray, Sequence[float]],
    tumours: Union[np.ndarray, Sequence],
    *,
    ks: Sequence[int] = DEFAULT_KS,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: Optional[int] = 0,
    source: Optional[str] = None,
) -> Interval:
    """Percentile bootstrap confidence intervals of ``Wk/T``, resampling tumours with replacement.

    Whole tumours are resampled (a cluster bootstrap) because samples of one tumour are not independent; a tumour
    drawn twice counts as two tumours. All replicates are computed in one step from per-tumour sums.

    Parameters
    ----------
    values, tumours :
        As for :func:`variance_components`.
    ks : sequence of int
        Samples per tumour to give intervals for (1 = ``W/T``).
    n_boot : int
        Bootstrap replicates (default 2000).
    level : float
        Confidence level (default 0.95).
    seed : int or None
        Seed of the resampling (default 0, reproducible).

    Returns
    -------
    Interval
    """
    if n_boot < 10:
        raise InputError("too few bootstrap replicates", field="n_boot", expected=">= 10")
    if not 0.0 < level < 1.0:
        raise InputError("confidence level out of range", field="level", expected="0 < level < 1")
    variance_components(values, tumours, source=source)  # same checks and messages as the point estimate
    y = np.asarray(values, dtype=float)
    codes = _group_codes(tumours, y.size, source)
    n_i, sums, ss_within = _sufficient_statistics(y - y.mean(), codes)
    k = n_i.size
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(k, np.full(k, 1.0 / k), size=n_boot).astype(float)
    msw, msb, n0 = _bootstrap_components(counts, n_i, sums, ss_within)
    within = msw
    between = np.maximum((msb - msw) / n0, 0.0)
    ks_arr = np.asarray(ks, dtype=int)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = (within[:, None] / ks_arr) / (within[:, None] / ks_arr + between[:, None])
    ok = np.all(np.isfinite(ratios), axis=1)
    if ok.sum() < 10:
        raise InputError(
            "too few bootstrap replicates with a defined W/T (too few tumours with 2 or more samples)",
            source=source,
            expected="several tumours with 2 or more samples",
        )
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(ratios[ok], [tail, 1.0 - tail], axis=0)
    return Interval("bootstrap", ks_arr, low, high, float(level), n_boot=int(n_boot), n_used=int(ok.sum()), seed=seed)


def f_interval_wk_over_t(
    components: VarianceComponents, *, ks: Sequence[int] = DEFAULT_KS, level: float = 0.95
) -> Interval:
    """Normal-theory confidence intervals of ``Wk/T`` from the F distribution of ``MSB/MSW``.

    With normal tumour effects and normal within-tumour errors, ``(MSB/MSW) / (1 + n B/W)`` follows
    ``F(k - 1, N - k)`` for balanced groups of ``n``; inverting it bounds the intraclass correlation
    ``rho = B/T`` (Searle, Casella & McCulloch 1992, §3.5d), and ``Wk/T = ((1 - rho)/k) / ((1 - rho)/k + rho)``
    is monotone in ``rho``. Unbalanced groups use ``n0`` for ``n`` (an approximation). The interval is exact for
    normal data but not robust: with heavy-tailed tumour effects its coverage falls well below its level (see
    docs/heterogeneity.md), where the bootstrap over tumours holds up better in large cohorts.

    Parameters
    ----------
    components : VarianceComponents
    ks : sequence of int
    level : float

    Returns
    -------
    Interval
    """
    from scipy.stats import f as f_distribution

    if not 0.0 < level < 1.0:
        raise InputError("confidence level out of range", field="level", expected="0 < level < 1")
    if components.msw == 0.0:
        raise InputError(
            "no variation within tumours (MSW = 0): the F interval is undefined", expected="values that vary"
        )
    tail = (1.0 - level) / 2.0
    df_between = components.n_tumours - 1
    df_within = components.n_samples - components.n_tumours
    f_upper, f_lower = f_distribution.ppf([1.0 - tail, tail], df_between, df_within)
    ratio = components.msb / components.msw
    n0 = components.n0
    rho_low = (ratio / f_upper - 1.0) / (ratio / f_upper + n0 - 1.0)
    rho_high = (ratio / f_lower - 1.0) / (ratio / f_lower + n0 - 1.0)
    rho_low, rho_high = np.clip([rho_low, rho_high], 0.0, 1.0)
    ks_arr = np.asarray(ks, dtype=int)

    def share(rho):
        return ((1.0 - rho) / ks_arr) / ((1.0 - rho) / ks_arr + rho)

    # Larger rho (more between-tumour variance) means a smaller within-tumour share.
    return Interval("f", ks_arr, share(rho_high), share(rho_low), float(level))


def confidence_interval(
    values: Union[np.ndarray, Sequence[float]],
    tumours: Union[np.ndarray, Sequence],
    *,
    method: str = "bootstrap",
    ks: Sequence[int] = DEFAULT_KS,
    level: float = 0.95,
    n_boot: int = 2000,
    seed: Optional[int] = 0,
    source: Optional[str] = None,
) -> Interval:
    """Confidence intervals of ``Wk/T`` by ``method`` = ``"bootstrap"`` (default) or ``"f"``.

    See :func:`bootstrap_wk_over_t` and :func:`f_interval_wk_over_t`.
    """
    if method == "bootstrap":
        return bootstrap_wk_over_t(values, tumours, ks=ks, n_boot=n_boot, level=level, seed=seed, source=source)
    if method == "f":
        return f_interval_wk_over_t(variance_components(values, tumours, source=source), ks=ks, level=level)
    raise InputError(f"unknown confidence-interval method '{method}'", field="ci_method", expected="bootstrap or f")


def long_table_from_frame(
    table: pd.DataFrame, tumour_column: str, value_column: str, *, source: Optional[str] = None
) -> pd.DataFrame:
    """Check and clean the tumour and value columns of ``table``: columns ``tumour`` (str) and ``value`` (float).

    Rows with an empty value are dropped (the number dropped is in ``DataFrame.attrs['n_missing']``); a value
    that is not a number is an error naming its row. Files are read by
    :func:`HypoxiaMarkersLib.pipeline.heterogeneity.read_long_table`.
    """
    import pandas as pd

    for column in (tumour_column, value_column):
        if column not in table.columns:
            raise InputError(
                f"no column '{column}'",
                source=source,
                field=column,
                expected=f"one of the columns {', '.join(map(str, table.columns))}",
            )
    tumour = table[tumour_column].astype(str).str.strip()
    raw = table[value_column]
    text = raw.astype(str).str.strip()
    missing = raw.isna() | text.isin(["", "NA", "NaN", "nan", "N/A", "null", "None"])
    value = pd.to_numeric(text.where(~missing), errors="coerce")
    not_number = value.isna() & ~missing
    if not_number.any():
        row = int(np.flatnonzero(not_number.to_numpy())[0])
        raise InputError(
            f"'{text.iloc[row]}' is not a number", source=source, field=f"{value_column}, data row {row + 1}"
        )
    if not np.all(np.isfinite(value[~missing])):
        raise InputError("infinite value", source=source, field=value_column, expected="finite numbers")
    if (tumour[~missing] == "").any():
        row = int(np.flatnonzero(((tumour == "") & ~missing).to_numpy())[0])
        raise InputError("empty tumour label", source=source, field=f"{tumour_column}, data row {row + 1}")
    out = pd.DataFrame({"tumour": tumour[~missing].to_numpy(), "value": value[~missing].to_numpy(dtype=float)})
    out.attrs["n_missing"] = int(missing.sum())
    return out
