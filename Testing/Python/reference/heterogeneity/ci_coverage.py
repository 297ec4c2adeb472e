"""Coverage of the W/T confidence intervals (bootstrap over tumours vs normal-theory F), by simulation.

Not a test (about a minute); the numbers are quoted in docs/heterogeneity.md. Run:  python ci_coverage.py
Design: k tumours with 2-6 samples each (unbalanced), true W/T = 1/3; 300 data sets per cell, 1000 bootstrap
replicates, 95% intervals. "normal": normal tumour effects and errors. "heavy-tailed": t(4) tumour effects and
centred exponential within-tumour errors, scaled to the same variances.
"""

from __future__ import annotations

import numpy as np

from HypoxiaMarkersLib.heterogeneity.variance import bootstrap_wk_over_t, f_interval_wk_over_t, variance_components


def simulate(rng, sizes, var_between, var_within, kind):
    labels = np.repeat(np.arange(sizes.size), sizes)
    if kind == "normal":
        effects = rng.normal(0, np.sqrt(var_between), sizes.size)
        errors = rng.normal(0, np.sqrt(var_within), labels.size)
    else:
        effects = rng.standard_t(4, sizes.size) * np.sqrt(var_between / 2)  # Var t(4) = 2
        errors = (rng.exponential(1, labels.size) - 1) * np.sqrt(var_within)
    return effects[labels] + errors, labels


def main() -> None:
    var_between, var_within = 2.0, 1.0
    truth = var_within / (var_within + var_between)
    print("distribution   tumours  bootstrap  F")
    for kind in ("normal", "heavy-tailed"):
        for k in (15, 30, 60, 118):
            sizes = np.random.default_rng(2).integers(2, 7, k)
            boot, f = [], []
            for seed in range(300):
                y, labels = simulate(np.random.default_rng(1000 + seed), sizes, var_between, var_within, kind)
                b = bootstrap_wk_over_t(y, labels, ks=[1], n_boot=1000, seed=seed)
                i = f_interval_wk_over_t(variance_components(y, labels), ks=[1])
                boot.append(b.low[0] <= truth <= b.high[0])
                f.append(i.low[0] <= truth <= i.high[0])
            print(f"{kind:14s} {k:7d}  {np.mean(boot):9.3f}  {np.mean(f):.3f}")


if __name__ == "__main__":
    main()
