"""Bad input found by fuzzing (issue 15, "Crashes and friction") gives a clear InputError in the library, and a
searched cutoff carries its adjusted p first (item 4)."""

from __future__ import annotations

import gzip
import warnings

import numpy as np
import pandas as pd
import pytest

from HypoxiaMarkersLib.errors import InputError
from HypoxiaMarkersLib.imaging.phantom import make_phantom
from HypoxiaMarkersLib.io.masks import MAX_SHARE_OUTSIDE, resample_mask, share_outside
from HypoxiaMarkersLib.io.tables import read_table
from HypoxiaMarkersLib.stats.cohort import analyse_marker
from HypoxiaMarkersLib.stats.cutoff import fixed_cutoff, optimal_cutoff
from HypoxiaMarkersLib.volume import Geometry

HORIZON_DAYS = 60 * 365.25 / 12


@pytest.fixture(scope="module")
def cesc(shared_data):
    return pd.read_csv(shared_data / "tcga-cesc-clinical" / "cesc_os.csv")


def test_truncated_gzip_table(shared_data, tmp_path):
    whole = gzip.compress((shared_data / "tcga-cesc-clinical" / "cesc_os.csv").read_bytes())
    path = tmp_path / "cohort.csv.gz"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputError, match="damaged or truncated") as error:
        read_table(path)
    assert str(path) in str(error.value)
    path.write_bytes(whole)
    assert len(read_table(path)) == 288  # the complete file reads


def test_min_prop_zero_is_refused(cesc):
    with pytest.raises(InputError, match="--min-prop"):
        optimal_cutoff(cesc.os_days, cesc.os_event, cesc.age, min_prop=0)
    with pytest.raises(InputError, match=r"minimum proportion 0\.0 is outside"):
        analyse_marker(cesc.os_days, cesc.os_event, cesc.age, cutoff="optimal", horizon=HORIZON_DAYS, min_prop=0.0)


@pytest.mark.parametrize("rename", [False, True])
def test_covariate_that_is_the_marker(cesc, rename):
    covariates = cesc[["age", "stage"]].rename(columns={"age": "age_again"} if rename else {})
    with pytest.raises(InputError, match="is the marker 'age' itself") as error:
        analyse_marker(cesc.os_days, cesc.os_event, cesc.age, cutoff=50.0, name="age", horizon=HORIZON_DAYS,
                       covariates=covariates)
    assert error.value.source is None or "--covariates" in str(error.value)
    # a genuine covariate still gives the multivariate model
    fine = analyse_marker(cesc.os_days, cesc.os_event, cesc.age, cutoff=50.0, name="age", horizon=HORIZON_DAYS,
                          covariates=cesc[["stage"]])
    assert fine.cox_multivariate is not None and fine.cox_multivariate.names[0] == "age"


@pytest.mark.parametrize("seed", [-1, 1.5, "7", True])
def test_phantom_seed_must_be_a_non_negative_integer(seed):
    with pytest.raises(InputError, match="--seed"):
        make_phantom(seed=seed, size=(16, 16, 2))


def _grids():
    mask_grid = Geometry(size=(10, 10, 10), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    dce_grid = Geometry(size=(10, 10, 5), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))  # slices k = 0..4
    return mask_grid, dce_grid


def test_mask_mostly_outside_the_dce_series_is_refused_unless_allowed():
    mask_grid, dce_grid = _grids()
    mask = np.zeros(mask_grid.shape, dtype=bool)
    mask[2:7, 3:7, 3:7] = True  # slices 2..6: 5 and 6 (2 of 5 slices, 40 %) lie beyond the DCE series
    assert share_outside(mask, mask_grid, dce_grid) == pytest.approx(0.4)
    with pytest.raises(InputError, match=r"40\.0% of the tumour mask .* lies outside the DCE series") as error:
        resample_mask(mask, mask_grid, dce_grid, source="tumour.nrrd")
    assert "--allow-mask-outside" in str(error.value)
    with pytest.warns(UserWarning, match="40.0%"):
        allowed = resample_mask(mask, mask_grid, dce_grid, max_share_outside=None)
    assert allowed.sum() == 3 * 4 * 4  # the part inside


def test_mask_slightly_outside_warns_only():
    mask_grid, dce_grid = _grids()
    mask = np.zeros(mask_grid.shape, dtype=bool)
    mask[0:5, 0:10, 0:10] = True
    mask[5, 0, 0:5] = True  # 5 voxels of 505 beyond the series: 1 %
    assert share_outside(mask, mask_grid, dce_grid) == pytest.approx(5 / 505) and 5 / 505 < MAX_SHARE_OUTSIDE
    with pytest.warns(UserWarning, match="1.0% of the tumour mask"):
        result = resample_mask(mask, mask_grid, dce_grid)
    assert result.sum() == 500
    inside = mask.copy()
    inside[5] = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resample_mask(inside, mask_grid, dce_grid)  # wholly inside: no warning


def test_searched_cutoff_puts_the_adjusted_p_first(cesc):
    result = analyse_marker(cesc.os_days, cesc.os_event, cesc.age, cutoff="optimal", name="age",
                            horizon=HORIZON_DAYS, permutations=200, seed=0)
    cut = result.cutoff
    assert cut.selected_from_data and cut.p_adjusted == cut.p_permutation
    assert cut.p_headline == cut.p_permutation > 5 * cut.p_unadjusted  # the naive p is much smaller
    assert "adjusted for the cutoff search (permutation)" in cut.p_headline_label
    entry = result.to_dict()["cutoff"]
    assert list(entry).index("p_headline") < list(entry).index("p_unadjusted")
    without = optimal_cutoff(cesc.os_days.clip(upper=HORIZON_DAYS),
                             np.where(cesc.os_days > HORIZON_DAYS, 0, cesc.os_event), cesc.age)
    assert without.p_adjusted == without.p_lausen_schumacher_1994  # no permutations: LS 1994
    fixed = fixed_cutoff(cesc.os_days, cesc.os_event, cesc.age, 50.0)
    assert not fixed.selected_from_data and fixed.p_adjusted is None and fixed.p_headline == fixed.p_unadjusted
