"""Write gam_phantoms.csv: SD of virtual biopsies against slice HF for 80 phantom tumour slices.

Input of gam_mgcv.R (R's mgcv fit that the statsmodels GAM of heterogeneity.clustering is compared with).
Elliptic tumour slices of 12-30 voxel radii, HF uniform in [0.02, 0.95], hypoxia correlation length 0-4 voxels
(HypoxiaMarkersLib.imaging.phantom.hypoxic_pattern), A_Brix 1.0 in hypoxic voxels and 2.5 elsewhere, 12-voxel virtual
biopsies. Run from this folder:  python make_gam_phantoms.py
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from HypoxiaMarkersLib.heterogeneity.virtual_biopsy import virtual_biopsies
from HypoxiaMarkersLib.imaging.phantom import hypoxic_pattern


def main() -> None:
    rng = np.random.default_rng(20200528)
    rows = []
    for tumour in range(80):
        radii = rng.uniform(12, 30, 2)
        size = int(2 * radii.max() + 6)
        j, i = np.mgrid[:size, :size] - size / 2
        mask = (j / radii[0]) ** 2 + (i / radii[1]) ** 2 <= 1
        correlation = float(rng.integers(0, 5))
        hypoxic = hypoxic_pattern(mask, rng.uniform(0.02, 0.95), correlation, rng)
        a_brix = np.where(hypoxic, 1.0, 2.5)
        biopsies = virtual_biopsies(a_brix, mask, seed=tumour)
        rows.append(
            {
                "tumour": f"T{tumour:02d}",
                "correlation_length": correlation,
                "n_tumour_voxels": biopsies.n_tumour_voxels,
                "hf": biopsies.slice_hypoxic_fraction,
                "sd": biopsies.sd_hypoxic_fraction,
            }
        )
    pd.DataFrame(rows).to_csv("gam_phantoms.csv", index=False, float_format="%.17g")


if __name__ == "__main__":
    main()
