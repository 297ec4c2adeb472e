"""Benchmark: composite line search + 1000-permutation test on 118 patients, against a per-candidate loop.

The vectorised search computes the log-rank statistic of every candidate split with a few matrix products
(:class:`HypoxiaMarkersLib.stats.cutoff.LogRankSplits`). The baseline is what one would write without it: a loop over
the candidate splits calling ``lifelines.statistics.logrank_test`` for each. The baseline is timed on a sample of
candidates and scaled to all of them (timing it on everything would take minutes); both give the same chi².

    /work/venv/bin/python benchmarks/composite_search.py [--patients 118] [--permutations 1000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def cohort(n: int, seed: int = 7):
    rng = np.random.default_rng(seed)
    x = rng.beta(1.5, 4.0, n)
    y = rng.normal(0.0, 0.6, n)
    more = (x / 0.45 + y / 0.9 - 1.0) >= 0
    event_time = rng.exponential(1.0 / np.where(more, 0.03, 0.006))
    censor = rng.uniform(20.0, 100.0, n)
    return x, y, np.minimum(event_time, censor).round(1), (event_time <= censor).astype(int)


def main() -> None:
    from lifelines.statistics import logrank_test

    from HypoxiaMarkersLib.stats.composite import permutation_test, search_line
    from HypoxiaMarkersLib.stats.cutoff import LogRankSplits

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=118)
    parser.add_argument("--permutations", type=int, default=1000)
    parser.add_argument("--directions", type=int, default=90)
    parser.add_argument("--baseline-sample", type=int, default=300,
                        help="candidate splits timed with lifelines (scaled to all)")
    args = parser.parse_args()
    x, y, t, e = cohort(args.patients)

    start = time.perf_counter()
    found = search_line(x, y, t, e, n_directions=args.directions)
    search_s = time.perf_counter() - start
    start = time.perf_counter()
    p = permutation_test(found, t, e, permutations=args.permutations, seed=0)
    perm_s = time.perf_counter() - start
    total_s = search_s + perm_s
    k = found.n_candidates
    print(f"{args.patients} patients, {int(e.sum())} events; {found.n_grid_lines} grid lines -> {k} distinct splits")
    print(f"vectorised: search {search_s:.3f} s, {args.permutations} permutations {perm_s:.2f} s, "
          f"total {total_s:.2f} s (permutation p = {p:.4f}); x0 = {found.x0:.3f}, y0 = {found.y0:.3f}")

    # Baseline: lifelines per candidate, timed on a sample of candidates.
    rng = np.random.default_rng(0)
    sample = rng.choice(k, size=min(args.baseline_sample, k), replace=False)
    high = found.candidates.high
    start = time.perf_counter()
    chi2 = [logrank_test(t[high[i]], t[~high[i]], e[high[i]], e[~high[i]]).test_statistic for i in sample]
    per_candidate = (time.perf_counter() - start) / sample.size
    z = LogRankSplits(t, e).z(high[sample])
    agreement = float(np.max(np.abs(z ** 2 - np.array(chi2)) / np.array(chi2)))
    start = time.perf_counter()
    LogRankSplits(t, e).z(high)
    vector_per_search = time.perf_counter() - start
    loop_search = per_candidate * k
    loop_total = loop_search * (1 + args.permutations)
    print(f"lifelines loop: {per_candidate * 1e3:.2f} ms per candidate -> {loop_search:.1f} s per search, "
          f"{loop_total / 60:.0f} min for search + {args.permutations} permutations (extrapolated)")
    print(f"max relative difference of chi2 (vectorised vs lifelines) on {sample.size} splits: {agreement:.1e}")
    print(f"ratio, one search's statistics: {loop_search / vector_per_search:.0f}x; "
          f"search + permutations: {loop_total / total_s:.0f}x")
    print(f"acceptance (search + {args.permutations} permutations < 30 s): {'PASS' if total_s < 30 else 'FAIL'}")


if __name__ == "__main__":
    main()
