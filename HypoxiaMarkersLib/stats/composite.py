"""Composite hypoxia score HScomp: the separating line, its search, and how optimistic the search is (SPEC §4.4).

With x the imaging value (hypoxic fraction) and y the gene score, a line through (x0, 0) and (0, y0), x0, y0 > 0,
is x/x0 + y/y0 = 1, and

    HScomp = (x/x0 + y/y0 − 1) / sqrt((1/x0)² + (1/y0)²)

is the signed distance of a patient to the line; HScomp ≥ 0 (on or above/right of the line) is "more hypoxic"
(Fjeldbo et al., EBioMedicine 2020;57:102841).

The search grid (documented in docs/survival.md). Every such line is {p : n·p = d} with a normal n in the open
first quadrant and an offset d > 0 (origin on the "less hypoxic" side). For a fixed normal direction the patients'
projections n·p order them, and the only distinct lines are the cuts between consecutive distinct projections;
so the search takes

- ``n_directions`` normal directions at angles (k + ½)·90°/n_directions, k = 0..n−1, measured after scaling x
  and y by their standard deviations (so the grid treats the two markers alike whatever their units), and
- along each direction, every cut between consecutive distinct projections with d > 0 that leaves at least
  ``min_size`` patients on each side (default: ceil(``min_prop``·N), ``min_prop`` = 0.1),

which is the (x0, y0) grid x0 = d/n_x, y0 = d/n_y. Lines that give the same classes are evaluated once.
The line reported for the best classes is the middle one (median angle) of all grid lines giving those classes,
cut half-way between the two patients on either side. Candidate splits are ranked by the absolute log-rank Z
(``statistic="logrank"``, as ``survdiff``; or maxstat's score statistic with ``statistic="score"``), computed for
all splits at once (:mod:`~HypoxiaMarkersLib.stats.cutoff`).

Beyond the paper: the search is optimistic. :func:`permutation_test` reruns the whole search on outcomes
permuted across patients; :func:`optimism_corrected_hr` estimates the hazard ratio a new cohort would see
(Harrell's bootstrap optimism correction, or a cross-validated HR).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
from scipy import stats

from ..errors import InputError
from ..progress import ProgressCallback, report
from ..rules import HSCOMP_CUTOFF, at_or_above
from .cutoff import STATISTICS, LogRankSplits, RankStandardisation, logrank_scores, score_statistics

#: Which association the line search looks for (see :func:`search_line`).
ALTERNATIVES = ("greater", "two-sided")


def hscomp(x, y, x0: float, y0: float) -> np.ndarray:
    """Composite hypoxia score: signed distance to the line x/x0 + y/y0 = 1 (≥ 0: more hypoxic).

    Parameters
    ----------
    x, y : array-like
        Imaging value (hypoxic fraction) and gene score of each patient.
    x0, y0 : float
        Intercepts of the separating line with the x and y axes (both > 0).
    """
    if not (np.all(np.asarray(x0) > 0) and np.all(np.asarray(y0) > 0) and np.all(np.isfinite(x0))
            and np.all(np.isfinite(y0))):
        raise InputError(f"line intercepts x0={x0!r}, y0={y0!r} are not both positive", field="x0, y0",
                         expected="x0 > 0 and y0 > 0")
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    return (x / x0 + y / y0 - 1.0) / np.hypot(1.0 / x0, 1.0 / y0)


@dataclass
class CandidateLines:
    """All distinct classifications the line grid produces for one cohort's (x, y)."""

    high: np.ndarray          # bool (K, N): one row per distinct split, True = more hypoxic
    x0: np.ndarray            # (K,) representative line of each split
    y0: np.ndarray
    n_grid_lines: int         # lines evaluated before removing duplicates
    n_directions: int
    min_size: int


def candidate_lines(x, y, *, n_directions: int = 90, min_prop: float = 0.1,
                    min_size: Optional[int] = None) -> CandidateLines:
    """Every distinct split of the patients by a separating line of the grid (see the module docstring).

    Parameters
    ----------
    x, y : array-like
        Imaging value and gene score (complete cases).
    n_directions : int
        Number of normal directions (default 90, i.e. every 1° in standardized units).
    min_prop : float
        Minimum proportion of patients on each side (default 0.1); used when ``min_size`` is not given.
    min_size : int, optional
        Minimum number of patients on each side (overrides ``min_prop``).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = x.size
    if min_size is None:
        min_size = max(1, int(np.ceil(min_prop * n)))
    min_size = int(min_size)
    if n_directions < 1:
        raise InputError("the search needs at least one direction", field="n_directions")
    if n < 2 * min_size or min_size < 1:
        raise InputError(f"{n} patients cannot make two groups of at least {min_size}", field="min_size",
                         expected=f"at least {2 * max(min_size, 1)} patients or a smaller minimum group size")
    sx = np.std(x)
    sy = np.std(y)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        which = "imaging" if np.ptp(x) == 0 else "gene score"
        raise InputError(f"the {which} marker has one value only", field=which,
                         expected="markers that vary between patients")
    angles = (np.arange(n_directions) + 0.5) * (np.pi / 2.0) / n_directions
    normal_x = np.cos(angles) / sx
    normal_y = np.sin(angles) / sy
    projection = normal_x[:, None] * x[None, :] + normal_y[:, None] * y[None, :]  # (D, N)
    order = np.argsort(projection, axis=1, kind="stable")
    ranked = np.take_along_axis(projection, order, axis=1)
    # Cut after the m lowest (m = min_size..N−min_size) where the projections differ, offset half-way.
    m = np.arange(min_size, n - min_size + 1)
    lower = ranked[:, m - 1]
    upper = ranked[:, m]
    offset = (lower + upper) / 2.0
    valid = (upper > lower) & (offset > 0)
    direction_index, m_index = np.nonzero(valid)
    if direction_index.size == 0:
        raise InputError("no separating line with positive intercepts leaves enough patients on each side",
                         field="imaging, genes",
                         expected="markers with more hypoxic patients at higher values, or a smaller --min-prop")
    # Membership: rank position ≥ m in that direction's order.
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(n)[None, :].repeat(n_directions, axis=0), axis=1)
    high = rank[direction_index] >= m[m_index][:, None]
    packed = np.packbits(high, axis=1)
    _, first, inverse = np.unique(packed, axis=0, return_index=True, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    # The representative line of each distinct split: the median direction among the grid lines giving it
    # (grid rows are in direction order, so sorting by split then taking the middle one).
    by_split = np.argsort(inverse, kind="stable")
    counts = np.bincount(inverse)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    middle = by_split[starts + counts // 2]
    d = offset[direction_index[middle], m_index[middle]]
    x0 = d / normal_x[direction_index[middle]]
    y0 = d / normal_y[direction_index[middle]]
    del first
    return CandidateLines(high=high[middle], x0=x0, y0=y0, n_grid_lines=int(direction_index.size),
                          n_directions=int(n_directions), min_size=min_size)


def _split_z(time, event, high: np.ndarray, statistic: str) -> np.ndarray:
    if statistic == "logrank":
        return LogRankSplits(time, event).z(high)
    if statistic == "score":
        return score_statistics(logrank_scores(time, event), high)
    raise InputError(f"unknown statistic {statistic!r}", field="statistic", expected=", ".join(STATISTICS))


@dataclass
class LineSearch:
    """The best separating line of a cohort and the statistics of the search."""

    x0: float
    y0: float
    statistic: float          # Z ("greater") or |Z| ("two-sided") of the best split
    z: float                  # signed Z: > 0 when the more hypoxic group has more events than expected
    p_unadjusted: float       # 1 − Φ(Z) or 2(1 − Φ(|Z|)): the p-value as if the line had been fixed beforehand
    high: np.ndarray          # bool (N,): more hypoxic by the best line
    n_candidates: int         # distinct splits evaluated
    n_grid_lines: int
    n_directions: int
    min_size: int
    statistic_name: str = "logrank"
    alternative: str = "greater"
    candidates: Optional[CandidateLines] = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {"x0": self.x0, "y0": self.y0, "statistic": self.statistic, "z": self.z,
                "statistic_name": self.statistic_name, "alternative": self.alternative,
                "p_unadjusted": self.p_unadjusted,
                "n_high": int(self.high.sum()), "n_low": int((~self.high).sum()),
                "n_candidates": self.n_candidates, "n_grid_lines": self.n_grid_lines,
                "n_directions": self.n_directions, "min_size": self.min_size}


def _oriented(z: np.ndarray, alternative: str) -> np.ndarray:
    """What the search maximises: Z (more events than expected above the line) or |Z| (either way)."""
    if alternative == "greater":
        return z
    if alternative == "two-sided":
        return np.abs(z)
    raise InputError(f"unknown alternative {alternative!r}", field="alternative",
                     expected=", ".join(ALTERNATIVES))


def search_line(x, y, time, event, *, n_directions: int = 90, min_prop: float = 0.1,
                min_size: Optional[int] = None, statistic: str = "logrank",
                alternative: str = "greater") -> LineSearch:
    """Search the separating line (x0, y0) whose dichotomised HScomp is most strongly associated with PFS.

    Parameters
    ----------
    x, y : array-like
        Imaging value (hypoxic fraction) and gene score (complete cases).
    time, event : array-like
        PFS time and 0/1 event, censored at the horizon.
    n_directions, min_prop, min_size
        The grid (see :func:`candidate_lines`).
    statistic : {"logrank", "score"}
        How splits are ranked: the classical log-rank Z (default) or maxstat's standardized score statistic.
    alternative : {"greater", "two-sided"}
        "greater" (default): the line whose more hypoxic side (HScomp >= 0) has the most excess of events, the
        direction hypoxia acts in; "two-sided": the strongest association either way (which, in a small cohort,
        can pick a line whose "more hypoxic" side does better).

    Returns
    -------
    LineSearch
    """
    candidates = candidate_lines(x, y, n_directions=n_directions, min_prop=min_prop, min_size=min_size)
    z = _split_z(time, event, candidates.high, statistic)
    if not np.any(np.isfinite(z)):
        raise InputError("the log-rank statistic is undefined for every line (no events?)", field="event",
                         expected="at least one event")
    score = _oriented(z, alternative)
    best = int(np.nanargmax(score))
    value = float(score[best])
    p_unadjusted = stats.norm.sf(value) if alternative == "greater" else 2.0 * stats.norm.sf(value)
    return LineSearch(x0=float(candidates.x0[best]), y0=float(candidates.y0[best]), statistic=value,
                      z=float(z[best]), p_unadjusted=float(p_unadjusted),
                      high=candidates.high[best].copy(), n_candidates=int(candidates.high.shape[0]),
                      n_grid_lines=candidates.n_grid_lines, n_directions=candidates.n_directions,
                      min_size=candidates.min_size, statistic_name=statistic, alternative=alternative,
                      candidates=candidates)


def permutation_maxima(candidates: CandidateLines, time, event, *, permutations: int, seed: Optional[int] = None,
                       statistic: str = "logrank", alternative: str = "greater",
                       progress: Optional[ProgressCallback] = None) -> np.ndarray:
    """Maximum Z (or |Z|, see ``alternative``) over all candidate lines for each permutation of the outcomes.

    The candidate splits depend only on (x, y), so permuting (time, event) pairs and recomputing every split's
    statistic is exactly rerunning the whole search on a cohort where the outcome is unrelated to the markers.
    """
    rng = np.random.default_rng(seed)
    n = candidates.high.shape[1]
    maxima = np.empty(permutations)
    if statistic == "logrank":
        splits = LogRankSplits(time, event)
        high = candidates.high.astype(float)
        # Batches of permutations sized so that one matrix product stays near 64 MB.
        width = splits.outcome.shape[1]
        chunk = int(max(1, min(permutations, 8_000_000 // max(1, high.shape[0] * width))))
        for start in range(0, permutations, chunk):
            size = min(chunk, permutations - start)
            perms = np.argsort(rng.random((size, n)), axis=1)
            maxima[start:start + size] = np.nanmax(_oriented(splits.z_permuted(high, perms), alternative), axis=1)
            report(progress, start + size, permutations)
    elif statistic == "score":
        scores = logrank_scores(time, event)
        standardisation = RankStandardisation(scores)
        m = candidates.high.sum(axis=1).astype(float)[:, None]
        chunk = 256
        for start in range(0, permutations, chunk):
            size = min(chunk, permutations - start)
            shuffled = rng.permuted(np.broadcast_to(scores, (size, n)), axis=1)
            z = standardisation.standardise(candidates.high.astype(float) @ shuffled.T, m)  # (K, size)
            maxima[start:start + size] = np.nanmax(_oriented(z, alternative), axis=0)
            report(progress, start + size, permutations)
    else:
        raise InputError(f"unknown statistic {statistic!r}", field="statistic", expected=", ".join(STATISTICS))
    return maxima


def permutation_test(search: LineSearch, time, event, *, permutations: int = 1000, seed: Optional[int] = None,
                     progress: Optional[ProgressCallback] = None) -> float:
    """Permutation p-value of the whole line search: (1 + #{max Z* ≥ max Z}) / (B + 1), Z oriented as searched."""
    if permutations < 1:
        raise InputError("at least one permutation is needed", source="--permutations")
    maxima = permutation_maxima(search.candidates, time, event, permutations=permutations, seed=seed,
                                statistic=search.statistic_name, alternative=search.alternative,
                                progress=progress)
    exceed = int(np.sum(maxima >= search.statistic * (1.0 - 1e-12)))
    return (1.0 + exceed) / (permutations + 1.0)


# --------------------------------------------------------------------------------------------------------------
# Optimism correction
# --------------------------------------------------------------------------------------------------------------


def cox_log_hr(time, event, covariate, *, max_steps: int = 30) -> float:
    """Log hazard ratio of one covariate in a Cox model (Efron ties), by Newton's method.

    A small fast fitter for the resampling loops (hundreds of fits); it agrees with :func:`survival.cox_fit`
    to machine precision. Returns ±inf when a group has no events (monotone likelihood) and NaN when the
    covariate is constant.
    """
    from .survival import newton_efron

    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=int)
    x = np.asarray(covariate, dtype=float).reshape(-1, 1)
    if np.ptp(x) == 0 or event.sum() == 0:
        return float("nan")
    beta, _, _ = newton_efron(time, event, x, np.zeros(1), max_steps=max_steps, rtol=0.0, atol=1e-10)
    if abs(beta[0]) > 20:  # the likelihood keeps increasing: a group without events
        return float(np.sign(beta[0]) * np.inf)
    return float(beta[0])


@dataclass
class OptimismCorrection:
    """Apparent and optimism-corrected hazard ratio of the composite classes (more vs less hypoxic)."""

    method: str
    apparent_hr: float
    corrected_hr: float
    optimism_log_hr: float
    resamples: int
    resamples_used: int
    seed: Optional[int]
    folds: Optional[int] = None

    def to_dict(self) -> dict:
        return {"method": self.method, "apparent_hr": self.apparent_hr, "corrected_hr": self.corrected_hr,
                "optimism_log_hr": self.optimism_log_hr, "resamples": self.resamples,
                "resamples_used": self.resamples_used, "seed": self.seed, "folds": self.folds}


def optimism_corrected_hr(x, y, time, event, *, method: str = "bootstrap", resamples: int = 200,
                          folds: int = 5, seed: Optional[int] = None, n_directions: int = 90,
                          min_prop: float = 0.1, statistic: str = "logrank", alternative: str = "greater",
                          progress: Optional[ProgressCallback] = None) -> OptimismCorrection:
    """Hazard ratio of the searched composite classes, corrected for the optimism of the search.

    ``method="bootstrap"`` (Harrell, Lee & Mark 1996): in each bootstrap sample rerun the whole search, take
    the log HR of its classes in the sample (apparent) minus the log HR of the same line's classes in the
    original cohort (test), oriented by the sign of the sample's log HR (the search is two-sided); the mean
    difference is the optimism, subtracted from the absolute apparent log HR (the sign is kept). A corrected
    |log HR| can reach or cross 0 when the search finds nothing that replicates.

    ``method="cv"``: ``folds``-fold cross-validation repeated ``resamples`` times; each patient is classified by
    the line searched without them, and the HR of these out-of-fold classes is computed on the whole cohort;
    the reported HR is the geometric mean over repetitions.

    Resamples whose search or Cox fit fails (a group without events, too few patients) are skipped and counted.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=int)
    n = x.size
    search = search_line(x, y, time, event, n_directions=n_directions, min_prop=min_prop, statistic=statistic,
                         alternative=alternative)
    apparent = cox_log_hr(time, event, search.high)
    rng = np.random.default_rng(seed)
    values = []
    if method == "bootstrap":
        for b in range(resamples):
            index = rng.integers(0, n, n)
            try:
                boot = search_line(x[index], y[index], time[index], event[index], n_directions=n_directions,
                                   min_prop=min_prop, statistic=statistic, alternative=alternative)
            except InputError:
                continue
            in_sample = cox_log_hr(time[index], event[index], boot.high)
            on_original = cox_log_hr(time, event, at_or_above(hscomp(x, y, boot.x0, boot.y0), HSCOMP_CUTOFF))
            if np.isfinite(in_sample) and np.isfinite(on_original):
                # The search is two-sided: the optimism is how much the effect found in the sample shrinks on
                # the original cohort, measured in the direction the sample's search found.
                values.append(np.sign(in_sample) * (in_sample - on_original))
            report(progress, b + 1, resamples)
        optimism = float(np.mean(values)) if values else float("nan")
        corrected = np.sign(apparent) * (abs(apparent) - optimism)
    elif method == "cv":
        if not 2 <= folds <= n:
            raise InputError(f"{folds} folds for {n} patients", source="--folds", expected="2 ≤ folds ≤ patients")
        for r in range(resamples):
            fold = rng.permutation(np.arange(n) % folds)
            out_of_fold = np.zeros(n, dtype=bool)
            ok = True
            for k in range(folds):  # loop over folds (a handful), each a vectorised search
                train = fold != k
                try:
                    line = search_line(x[train], y[train], time[train], event[train], n_directions=n_directions,
                                       min_prop=min_prop, statistic=statistic, alternative=alternative)
                except InputError:
                    ok = False
                    break
                out_of_fold[~train] = at_or_above(hscomp(x[~train], y[~train], line.x0, line.y0), HSCOMP_CUTOFF)
            if ok:
                value = cox_log_hr(time, event, out_of_fold)
                if np.isfinite(value):
                    values.append(value)
            report(progress, r + 1, resamples)
        corrected = float(np.mean(values)) if values else float("nan")
        optimism = apparent - corrected
    else:
        raise InputError(f"unknown optimism correction {method!r}", field="method", expected="bootstrap or cv")
    return OptimismCorrection(method=method, apparent_hr=float(np.exp(apparent)), corrected_hr=float(np.exp(corrected)),
                              optimism_log_hr=float(optimism), resamples=int(resamples),
                              resamples_used=len(values), seed=seed, folds=folds if method == "cv" else None)
