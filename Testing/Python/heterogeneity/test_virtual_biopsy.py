"""Virtual biopsies (SPEC §3.2) and the clustering GAM: reference curves, phantoms with known clustering, R's mgcv."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from HypoxiaMarkersLib.errors import InputError
from HypoxiaMarkersLib.heterogeneity.clustering import LESS, MORE, fit_clustering, reference_curves
from HypoxiaMarkersLib.heterogeneity.virtual_biopsy import (
    clustered_sd,
    draw_patches,
    scattered_sd,
    virtual_biopsies,
    virtual_biopsies_of_pattern,
)
from HypoxiaMarkersLib.imaging.phantom import hypoxic_pattern

from helpers import paths

REFERENCE = paths.REFERENCE / "heterogeneity"


def ellipse(radius_rows: float, radius_columns: float = None) -> np.ndarray:
    radius_columns = radius_rows if radius_columns is None else radius_columns
    size = int(2 * max(radius_rows, radius_columns) + 6)
    j, i = np.mgrid[:size, :size] - size / 2
    return (j / radius_rows) ** 2 + (i / radius_columns) ** 2 <= 1


def crescent() -> np.ndarray:
    """An irregular tumour: a crescent with two holes and a detached island of 5 voxels."""
    mask = ellipse(25) & ~np.roll(ellipse(25), 14, axis=1)
    mask[20:24, 10:13] = False
    mask[33:36, 14:16] = False
    mask[2:3, 50:55] = True
    return mask


def test_patches_are_m_distinct_compact_tumour_voxels():
    mask = crescent()
    n = int(mask.sum())
    patches = draw_patches(mask, seed=1)
    assert patches.shape == (n // 12, 12)
    # Never outside the tumour, and twelve different voxels each.
    assert mask.ravel()[patches].all()
    assert all(np.unique(row).size == 12 for row in patches)
    # Compact: away from the border a patch is the disc of the 12 voxels nearest its centre voxel (radius <= 2).
    big = ellipse(40)
    patches = draw_patches(big, seed=2)
    rows, columns = np.unravel_index(patches, big.shape)
    radius = np.hypot(rows - rows[:, :1], columns - columns[:, :1])
    centre = (big.shape[0] / 2, big.shape[1] / 2)
    interior = np.hypot(rows[:, 0] - centre[0], columns[:, 0] - centre[1]) < 40 - 4
    assert interior.sum() > 300
    assert radius[interior].max() <= 2.0
    # The nearest 12 are the centre, its 4 + 4 neighbours at 1 and sqrt(2), and 3 of the 4 at distance 2.
    assert np.all(np.sort(radius[interior], axis=1)[:, 9:] == 2.0)
    # Ties are broken at random: all four voxels at distance 2 get left out, about equally often.
    left_out = []
    for r, c in zip(rows[interior], columns[interior]):
        ring = {(r[0] + 2, c[0]), (r[0] - 2, c[0]), (r[0], c[0] + 2), (r[0], c[0] - 2)}
        left_out.append(list(ring - set(zip(r, c))))
    assert all(len(v) == 1 for v in left_out)
    offsets = [(v[0][0] - r[0], v[0][1] - c[0]) for v, r, c in zip(left_out, rows[interior], columns[interior])]
    assert len(set(offsets)) == 4
    assert min(pd.Series(offsets).value_counts()) > 0.15 * interior.sum()


def test_physical_spacing_makes_patches_round_in_millimetres():
    mask = ellipse(30, 60)
    rows, columns = np.unravel_index(draw_patches(mask, spacing=(2.0, 1.0), seed=3), mask.shape)
    # Rows are 2 mm apart and columns 1 mm: a round patch spans more columns than rows.
    assert np.ptp(columns, axis=1).mean() > 1.5 * np.ptp(rows, axis=1).mean()


def test_same_seed_same_patches_other_seed_other_patches():
    mask = crescent()
    assert np.array_equal(draw_patches(mask, seed=11), draw_patches(mask, seed=11))
    assert not np.array_equal(draw_patches(mask, seed=11), draw_patches(mask, seed=12))
    a = np.where(hypoxic_pattern(mask, 0.3, 2.0, 0), 1.0, 2.5)
    first, second = virtual_biopsies(a, mask, seed=5), virtual_biopsies(a, mask, seed=5)
    assert np.array_equal(first.patches, second.patches)
    assert first.sd_hypoxic_fraction == second.sd_hypoxic_fraction


def test_patch_fraction_counts_hypoxic_among_fitted_voxels():
    mask = ellipse(15)
    rng = np.random.default_rng(4)
    a = rng.uniform(0.5, 3.0, mask.shape)
    a[rng.random(mask.shape) < 0.2] = np.nan  # failed fits
    result = virtual_biopsies(a, mask, a_threshold=1.56, seed=0)
    for patch, h, n in zip(result.patches, result.n_hypoxic, result.n_valid):
        values = a.ravel()[patch]
        assert n == np.isfinite(values).sum()
        assert h == np.sum(values[np.isfinite(values)] < 1.56)
    fitted = mask & np.isfinite(a)
    assert result.slice_hypoxic_fraction == pytest.approx(np.sum(fitted & (a < 1.56)) / fitted.sum())
    used = result.n_valid >= 6
    assert np.array_equal(result.used, used)
    assert np.isnan(result.hypoxic_fraction[~used]).all()
    assert result.sd_hypoxic_fraction == pytest.approx(np.std(result.n_hypoxic[used] / result.n_valid[used], ddof=1))


@pytest.mark.parametrize("hypoxic_fraction", [0.1, 0.3, 0.5])
def test_randomly_scattered_hypoxia_follows_the_hypergeometric_curve(hypoxic_fraction):
    mask = ellipse(35)  # 3853 voxels, 321 biopsies per slice
    ratios = []
    for seed in range(12):
        hypoxic = hypoxic_pattern(mask, hypoxic_fraction, 0.0, seed)
        result = virtual_biopsies_of_pattern(hypoxic, mask, mask, seed=seed)
        expected = scattered_sd(result.slice_hypoxic_fraction, result.n_tumour_voxels)
        ratios.append(result.sd_hypoxic_fraction**2 / expected**2)
    # Each variance ratio has a sampling error of about 8%; their mean over 12 slices about 2.5%.
    assert np.mean(ratios) == pytest.approx(1.0, abs=0.08)
    # And far from the clustered curve.
    assert np.sqrt(np.mean(ratios)) * scattered_sd(hypoxic_fraction, mask.sum()) < 0.4 * clustered_sd(hypoxic_fraction)


def test_one_hypoxic_blob_approaches_the_clustered_curve():
    shortfall = []
    for radius in (15, 30, 60):
        mask = ellipse(radius)
        j, i = np.mgrid[: mask.shape[0], : mask.shape[1]] - mask.shape[0] / 2
        blob = mask & ((j - 0.2 * radius) ** 2 + (i + 0.3 * radius) ** 2 <= 0.3 * radius**2)  # HF about 0.3
        sds = [virtual_biopsies_of_pattern(blob, mask, mask, seed=s).sd_hypoxic_fraction for s in range(4)]
        hf = blob.sum() / mask.sum()
        shortfall.append(1 - np.mean(sds) / clustered_sd(hf))
    # Only patches across the blob's border fall short of 0 or 1; their share shrinks as the tumour grows.
    assert shortfall[0] > shortfall[1] > shortfall[2] >= 0
    assert shortfall[2] < 0.03


def test_small_slices_give_clear_results_or_errors():
    tiny = np.zeros((6, 6), bool)
    tiny[1:4, 1:4] = True  # 9 voxels
    with pytest.raises(InputError, match="fewer than one 12-voxel virtual biopsy"):
        virtual_biopsies(np.ones((6, 6)), tiny)
    one = np.zeros((8, 8), bool)
    one[1:5, 1:6] = True  # 20 voxels: one biopsy
    result = virtual_biopsies(np.ones((8, 8)), one)
    assert result.n_biopsies == 1 and np.isnan(result.sd_hypoxic_fraction)
    assert "the SD needs 2 or more" in result.note
    failed = virtual_biopsies(np.full(ellipse(10).shape, np.nan), ellipse(10))
    assert not failed.used.any() and np.isnan(failed.sd_hypoxic_fraction) and "fitted voxels" in failed.note
    with pytest.raises(InputError, match="2D slice"):
        virtual_biopsies(np.ones((2, 8, 8)), np.ones((2, 8, 8), bool))
    with pytest.raises(InputError, match="differ in shape"):
        virtual_biopsies(np.ones((8, 9)), one)
    full = virtual_biopsies(np.ones(ellipse(10).shape), ellipse(10))
    assert full.note == "" and full.sd_hypoxic_fraction == 0.0  # all-equal values: SD 0, not NaN


def _phantom_cohort(seed: int, n_tumours: int = 60):
    """Tumour slices of varied size and HF; half with scattered hypoxia, half clustered (correlation 3.5)."""
    rng = np.random.default_rng(seed)
    hf, sd, clustered = [], [], []
    for tumour in range(n_tumours):
        mask = ellipse(*rng.uniform(12, 30, 2))
        is_clustered = tumour % 2 == 1
        hypoxic = hypoxic_pattern(mask, rng.uniform(0.05, 0.6), 3.5 if is_clustered else 0.0, rng)
        a_brix = np.where(hypoxic, 1.0, 2.5)
        a_brix[~mask] = np.nan
        result = virtual_biopsies(a_brix, mask, seed=tumour)
        hf.append(result.slice_hypoxic_fraction)
        sd.append(result.sd_hypoxic_fraction)
        clustered.append(is_clustered)
    return np.array(hf), np.array(sd), np.array(clustered)


@pytest.mark.parametrize("seed", [1, 2])
def test_clustering_labels_separate_clustered_from_scattered_phantoms(seed):
    hf, sd, clustered = _phantom_cohort(seed)
    fit = fit_clustering(hf, sd)
    agreement = np.mean((fit.label == MORE) == clustered)
    assert agreement >= 0.9
    assert np.all(fit.residual == sd - fit.fitted)
    # The curve lies between the two reference curves.
    curves = reference_curves(np.linspace(hf.min(), hf.max(), 30), n_voxels=1500, fit=fit)
    assert np.all(curves.sd_scattered < curves.sd_gam) and np.all(curves.sd_gam < curves.sd_clustered)


def test_gam_agrees_with_r_mgcv():
    # 80 phantom tumours with correlation lengths 0-4 (make_gam_phantoms.py) fitted by R's mgcv (gam_mgcv.R).
    data = pd.read_csv(REFERENCE / "gam_phantoms.csv")
    mgcv = pd.read_csv(REFERENCE / "gam_mgcv_fitted.csv")
    mgcv_curve = pd.read_csv(REFERENCE / "gam_mgcv_curve.csv")
    fit = fit_clustering(data["hf"], data["sd"])
    # Different bases (B-splines vs thin-plate) and the same GCV criterion: curves agree to a small fraction of
    # the residual SD (0.09), and every tumour gets the same label.
    assert np.abs(fit.fitted - mgcv["fitted"]).max() < 0.01
    assert np.abs(fit.curve(mgcv_curve["hf"]) - mgcv_curve["sd"]).max() < 0.01
    assert np.array_equal(fit.label == MORE, mgcv["residual"] > 0)
    # mgcv: edf 3.77 (summed over intercept and smooth), GCV 0.008858.
    assert fit.edf == pytest.approx(3.77, abs=0.5)
    assert fit.gcv == pytest.approx(0.008858, rel=0.02)


def test_reference_curves_and_curve_range():
    curves = reference_curves(n_voxels=1000)
    assert curves.hypoxic_fraction.iloc[0] == 0 and curves.hypoxic_fraction.iloc[-1] == 1
    assert curves.sd_scattered.iloc[[0, -1]].tolist() == [0, 0]
    mid = curves.loc[curves.hypoxic_fraction == 0.5]
    assert mid.sd_clustered.item() == 0.5
    assert mid.sd_scattered.item() == pytest.approx(np.sqrt(0.25 / 12 * 988 / 999))
    hf, sd, _ = _phantom_cohort(3, 20)
    fit = fit_clustering(hf, sd)
    outside = fit.curve(np.array([hf.min() - 0.01, hf.max() + 0.01]))
    assert np.isnan(outside).all()


def test_clustering_bad_input_is_a_clear_error():
    hf = np.linspace(0.1, 0.5, 12)
    with pytest.raises(InputError, match="too few"):
        fit_clustering(hf[:5], hf[:5])
    with pytest.raises(InputError, match="same SD"):
        fit_clustering(hf, np.full(12, 0.2))
    with pytest.raises(InputError, match="no HF or no SD"):
        fit_clustering(hf, np.r_[np.nan, hf[1:]])
    with pytest.raises(InputError, match="distinct slice HF"):
        fit_clustering(np.repeat([0.1, 0.3], 6), hf)
    assert set(fit_clustering(hf, hf * (1 - hf) + 0.01 * np.sin(40 * hf)).label) <= {MORE, LESS}


def test_penalty_selection_in_closed_form_matches_statsmodels_fits():
    from statsmodels.gam.api import BSplines, GLMGam

    from HypoxiaMarkersLib.heterogeneity.clustering import _select_penalty_weight

    data = pd.read_csv(REFERENCE / "gam_phantoms.csv")
    x, y = data["hf"].to_numpy(), data["sd"].to_numpy()
    smoother = BSplines(x.reshape(-1, 1), df=[10], degree=[3], constraints="center")
    gcvs = []
    for weight in (1e-5, 1e-3, 1e-1, 10.0):
        model = GLMGam(y, exog=np.ones((x.size, 1)), smoother=smoother, alpha=[weight])
        _, edf, gcv = _select_penalty_weight(model, y, np.array([weight]))
        result = model.fit()
        assert edf == pytest.approx(result.hat_matrix_trace, rel=1e-9)
        assert gcv == pytest.approx(x.size * np.sum(result.resid_response**2) / (x.size - edf) ** 2, rel=1e-9)
        gcvs.append(gcv)
    fit = fit_clustering(x, y)
    assert fit.gcv <= min(gcvs) + 1e-12
