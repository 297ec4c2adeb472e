"""Clustering of hypoxia: the SD of virtual-biopsy hypoxic fractions against the slice's HF, over tumours.

The SD of virtual biopsies depends on the slice's hypoxic fraction (0 at HF 0 and 1, largest near 0.5), so it
cannot be compared between tumours as it is. Over a cohort, a generalized additive model ``SD ~ s(HF)`` gives the
SD expected at each HF; a tumour above the curve (positive residual) has its hypoxic voxels gathered in larger
regions than usual ("more clustering"), one below it has them more scattered ("less clustering") (SPEC §3.2).
Two reference curves bracket the data: randomly scattered voxels (the hypergeometric SD) and one compact hypoxic
region (``sqrt(HF (1 - HF))``).

The GAM is fitted with statsmodels (``statsmodels.gam.GLMGam``: Gaussian, identity link, cubic B-spline basis
with a penalty on the integrated squared second derivative). Why statsmodels and not pygam: statsmodels is
already a dependency of HypoxiaMarkersLib and installs in Slicer 5.8 (Python 3.9, numpy 1.26, scipy 1.13);
pygam 0.12 requires Python >= 3.10 (and scipy < 1.17), so it cannot be installed there, and older pygam releases
would be one more pinned dependency. The smoothing weight is chosen by generalized cross-validation,
``GCV = n RSS / (n - edf)^2`` as in R's mgcv, over a fixed log-spaced grid (evaluated in closed form, see
``_select_penalty_weight``), then fitted by statsmodels at the chosen weight; statsmodels' own
``select_penweight`` is marked experimental, optimises with random restarts (basinhopping) and fails on a model
that has not been fitted yet, so a deterministic grid is used. The curve agrees with R's
``mgcv::gam(sd ~ s(hf), method = "GCV.Cp")`` on the test phantoms (Testing/Python/reference/heterogeneity).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, Optional, Sequence

import numpy as np

from ..errors import InputError
from ..rules import PATCH_SIZE
from .virtual_biopsy import clustered_sd, scattered_sd

if TYPE_CHECKING:
    import pandas as pd

MORE = "more clustering"
LESS = "less clustering"
DEFAULT_BASIS_SIZE = 10
DEFAULT_MIN_TUMOURS = 10
PENALTY_GRID = np.logspace(-8, 8, 161)


@dataclass(frozen=True)
class ClusteringFit:
    """The GAM ``SD ~ s(HF)`` over tumours, with residuals and clustering labels.

    Attributes
    ----------
    hypoxic_fraction, sd : ndarray, shape (n_tumours,)
        Slice HF and SD of virtual-biopsy HFs of each tumour, as fitted.
    fitted : ndarray
        The GAM's SD at each tumour's HF.
    residual : ndarray
        ``sd - fitted``: positive = more clustering than tumours of the same HF.
    label : ndarray of str
        ``"more clustering"`` (residual > 0) or ``"less clustering"``.
    penalty_weight : float
        The smoothing weight chosen by GCV.
    edf : float
        Effective degrees of freedom of the curve (intercept included).
    gcv : float
        ``n RSS / (n - edf)^2`` at the chosen weight.
    basis_size : int
        B-spline basis functions (cubic).
    """

    hypoxic_fraction: np.ndarray
    sd: np.ndarray
    fitted: np.ndarray
    residual: np.ndarray
    label: np.ndarray
    penalty_weight: float
    edf: float
    gcv: float
    basis_size: int
    _result: Any = field(default=None, repr=False, compare=False)

    @property
    def n_tumours(self) -> int:
        return int(self.sd.size)

    @property
    def hf_range(self):
        """The HF range the curve was fitted on (predictions outside it are not made)."""
        return float(self.hypoxic_fraction.min()), float(self.hypoxic_fraction.max())

    def curve(self, hypoxic_fraction: np.ndarray) -> np.ndarray:
        """The fitted SD at ``hypoxic_fraction``; NaN outside :attr:`hf_range` (a spline is not extrapolated)."""
        hf = np.asarray(hypoxic_fraction, dtype=float)
        out = np.full(hf.shape, np.nan)
        low, high = self.hf_range
        inside = (hf >= low) & (hf <= high)
        if inside.any():
            x = hf[inside].reshape(-1, 1)
            out[inside] = self._result.predict(exog=np.ones((x.shape[0], 1)), exog_smooth=x)
        return out

    def to_dict(self) -> Dict[str, object]:
        return {
            "model": "GAM sd ~ s(hypoxic_fraction): statsmodels GLMGam, Gaussian, cubic B-splines, GCV",
            "n_tumours": self.n_tumours,
            "n_more_clustering": int(np.sum(self.label == MORE)),
            "n_less_clustering": int(np.sum(self.label == LESS)),
            "basis_size": self.basis_size,
            "penalty_weight": self.penalty_weight,
            "edf": self.edf,
            "gcv": self.gcv,
            "hf_range": list(self.hf_range),
            "residual_sd": float(np.std(self.residual, ddof=1)) if self.residual.size > 1 else None,
        }


def fit_clustering(
    hypoxic_fraction: Sequence[float],
    sd: Sequence[float],
    *,
    basis_size: int = DEFAULT_BASIS_SIZE,
    min_tumours: int = DEFAULT_MIN_TUMOURS,
    penalty_grid: Optional[Sequence[float]] = None,
) -> ClusteringFit:
    """Fit ``SD ~ s(HF)`` over tumours and label each tumour's clustering of hypoxia.

    Parameters
    ----------
    hypoxic_fraction : array of float
        HF of each tumour's slice (the slice the virtual biopsies were drawn on).
    sd : array of float
        SD of the virtual-biopsy HFs of each tumour.
    basis_size : int
        Cubic B-spline basis functions (default 10, as mgcv's default ``s()``); reduced to ``n_tumours - 2`` for
        small cohorts. The penalty, not the basis size, sets the smoothness.
    min_tumours : int
        Fewer tumours than this is an error (default 10): a smooth curve over a handful of points says little.
    penalty_grid : sequence of float, optional
        Candidate smoothing weights (default 161 values from 1e-8 to 1e8, log-spaced).

    Returns
    -------
    ClusteringFit
    """
    from statsmodels.gam.api import BSplines, GLMGam

    hf = np.asarray(hypoxic_fraction, dtype=float)
    y = np.asarray(sd, dtype=float)
    if hf.ndim != 1 or hf.shape != y.shape:
        raise InputError("one slice HF and one SD per tumour are needed", expected="two arrays of equal length")
    bad = ~(np.isfinite(hf) & np.isfinite(y))
    if bad.any():
        raise InputError(
            f"{int(bad.sum())} tumour(s) have no HF or no SD", expected="finite values (leave such tumours out)"
        )
    if np.any((hf < 0) | (hf > 1)) or np.any(y < 0):
        raise InputError("HF must lie in [0, 1] and SD must be >= 0", expected="fractions and SDs")
    if hf.size < max(min_tumours, 4):
        raise InputError(
            f"{hf.size} tumours: too few to fit SD ~ s(HF)",
            field="tumours",
            expected=f">= {max(min_tumours, 4)} tumours with 2 or more virtual biopsies",
        )
    n_distinct = np.unique(hf).size
    if n_distinct < 4:
        raise InputError(
            f"the tumours have only {n_distinct} distinct slice HF value(s): SD ~ s(HF) cannot be fitted",
            expected="tumours with varied hypoxic fractions",
        )
    if np.all(y == y[0]):
        raise InputError("every tumour has the same SD: there is nothing to model or label", expected="SDs that vary")
    size = int(min(basis_size, n_distinct - 1, hf.size - 2))
    size = max(size, 4)  # a cubic B-spline basis has at least degree + 1 functions
    smoother = BSplines(hf.reshape(-1, 1), df=[size], degree=[3], constraints="center")
    intercept = np.ones((hf.size, 1))
    grid = PENALTY_GRID if penalty_grid is None else np.asarray(penalty_grid, dtype=float)
    model = GLMGam(y, exog=intercept, smoother=smoother, alpha=[float(grid[0])])
    weight, _, _ = _select_penalty_weight(model, y, grid)
    with warnings.catch_warnings():
        # Very small weights leave a near-singular basis; statsmodels warns but the fit is fine.
        warnings.simplefilter("ignore")
        result = GLMGam(y, exog=intercept, smoother=smoother, alpha=[weight]).fit()
    fitted = np.asarray(result.fittedvalues, dtype=float)
    residual = y - fitted
    edf = float(result.hat_matrix_trace)
    gcv = hf.size * float(np.sum(residual**2)) / (hf.size - edf) ** 2
    return ClusteringFit(
        hypoxic_fraction=hf,
        sd=y,
        fitted=fitted,
        residual=residual,
        label=np.where(residual > 0, MORE, LESS),
        penalty_weight=weight,
        edf=edf,
        gcv=float(gcv),
        basis_size=size,
        _result=result,
    )


def _select_penalty_weight(model, y: np.ndarray, grid: np.ndarray):
    """The weight of ``grid`` with the smallest GCV, with its edf and GCV.

    For a Gaussian GAM with identity link, statsmodels' fit at weight ``w`` is the penalised least-squares
    solution ``beta = (X'X + 2 S(w))^-1 X'y`` with ``S(w)`` its penalty matrix (``penalized_wls`` doubles it), and
    edf = trace of the hat matrix = ``trace((X'X + 2 S(w))^-1 X'X)``. Evaluating that for every weight costs a
    small p x p solve instead of a full statsmodels fit (which takes SVDs of n x p matrices), so a fine grid is
    cheap for thousands of tumours; the final fit is statsmodels' own at the chosen weight.
    """
    x = np.asarray(model.exog, dtype=float)
    gram = x.T @ x
    xty = x.T @ y
    n = y.size
    best = (np.inf, float(grid[0]), float("nan"))
    for weight in grid:
        system = gram + 2.0 * model.penal.penalty_matrix(alpha=[float(weight)])
        try:
            solved = np.linalg.solve(system, np.column_stack([xty, gram]))
        except np.linalg.LinAlgError:
            solved = np.linalg.lstsq(system, np.column_stack([xty, gram]), rcond=None)[0]
        beta, hat = solved[:, 0], solved[:, 1:]
        edf = float(np.trace(hat))
        rss = float(np.sum((y - x @ beta) ** 2))
        gcv = n * rss / (n - edf) ** 2 if edf < n else np.inf
        if gcv < best[0]:
            best = (gcv, float(weight), edf)
    gcv, weight, edf = best
    return weight, edf, gcv


def reference_curves(
    hypoxic_fraction: Optional[Sequence[float]] = None,
    *,
    n_voxels: float = 1000,
    patch_size: int = PATCH_SIZE,
    fit: Optional[ClusteringFit] = None,
) -> pd.DataFrame:
    """The curves to draw behind a plot of SD against HF.

    Parameters
    ----------
    hypoxic_fraction : array of float, optional
        Where to evaluate (default 201 points from 0 to 1).
    n_voxels : float
        Tumour voxels on the slice for the hypergeometric curve (use the cohort's median; the curve barely
        depends on it above a few hundred voxels).
    patch_size : int
        Voxels per virtual biopsy (:data:`rules.PATCH_SIZE`).
    fit : ClusteringFit, optional
        Adds the fitted GAM curve (NaN outside the fitted HF range).

    Returns
    -------
    DataFrame with columns ``hypoxic_fraction``, ``sd_scattered`` (randomly scattered hypoxic voxels),
    ``sd_clustered`` (one compact hypoxic region) and, with ``fit``, ``sd_gam``.
    """
    import pandas as pd

    hf = np.linspace(0.0, 1.0, 201) if hypoxic_fraction is None else np.asarray(hypoxic_fraction, dtype=float)
    table = pd.DataFrame(
        {
            "hypoxic_fraction": hf,
            "sd_scattered": scattered_sd(hf, n_voxels, patch_size),
            "sd_clustered": clustered_sd(hf),
        }
    )
    if fit is not None:
        table["sd_gam"] = fit.curve(hf)
    return table
