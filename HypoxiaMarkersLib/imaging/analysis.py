"""The imaging biomarker of one tumour: DCE series + tumour mask → Brix maps, hypoxic voxels and fractions.

Steps (SPEC §1): baseline frames and bolus arrival from the tumour's mean curve; relative signal increase
RSI = (S - S0) / S0 per voxel; one bolus arrival time t_lag per tumour (or per voxel, optionally); the Brix fit of
every tumour voxel at once; hypoxic voxels (A_Brix < threshold); hypoxic fraction of the tumour, of each slice and
of the biopsy slice.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

import numpy as np

from .. import __version__, rules
from ..errors import InputError
from ..io.dce import check_signal
from ..progress import ProgressCallback
from ..volume import DceSeries, Geometry
from .brix import (
    FITTED_STATUSES,
    MIN_POINTS,
    STATUS_BOUND_WORSE_THAN_FLAT,
    STATUS_HIT_BOUND,
    STATUS_NAMES,
    STATUS_NO_SIGNAL,
    STATUS_OUTSIDE,
    BrixBounds,
    BrixFit,
    brix_curve,
    fit_brix,
)
from .hypoxia import (
    SliceFraction,
    check_biopsy_slice,
    classify,
    fraction,
    hypoxic_voxels,
    slice_fractions,
)
from .quality import POOR_FIT_R2, FitQuality, bound_counts, excluded_label, poor_fit_maps, quality_warnings
from .timing import (
    HOW_TO_GIVE_BASELINE,
    SECONDS_PER_MINUTE,
    check_injection_duration_bound,
    curve_noise,
    detect_baseline_frames,
)

# Bolus-arrival candidates between the last baseline frame and the first enhanced one.
N_LAG_CANDIDATES = 21
N_LAG_CANDIDATES_PER_VOXEL = 6


@dataclass
class ImagingParameters:
    """Every setting of the imaging analysis; all are written into the results (provenance).

    Attributes
    ----------
    a_threshold : float
        A voxel is hypoxic when A_Brix < a_threshold (default :data:`rules.A_THRESHOLD`).
    hf_cutoff : float
        A tumour (or slice) is "more hypoxic" when its hypoxic fraction >= hf_cutoff (default :data:`rules.HF_CUTOFF`).
    biopsy_slice : int
        Tumour slice standing for the biopsy region, counted from caudal (1 = lowest tumour slice).
    baseline_frames : int or None
        Number of pre-contrast frames; None = detected from the tumour's mean curve.
    injection_duration_s : float
        Injection duration tau in seconds for the Hoffmann variant (0 = fast bolus, the default).
    fit_lag_per_voxel : bool
        Fit the bolus arrival time per voxel instead of one value per tumour.
    signal_floor_fraction : float
        Voxels whose baseline signal is at or below this fraction of the series' 99th-percentile baseline signal
        get no fit (status "no signal": air, background, signal voids).
    arrival_rise_fraction : float
        Bolus arrival: the first frame whose mean relative signal increase exceeds this fraction of its peak.
    min_r2 : float or None
        Leave fitted voxels with R² below this out of the hypoxic fraction (poor fits). None (default) keeps every
        fitted voxel, as the method was published; poor fits are counted either way (below
        :data:`~HypoxiaMarkersLib.imaging.quality.POOR_FIT_R2` = 0.5 when no ``min_r2`` is given). Low R² is
        expected in weakly enhancing (hypoxic) voxels, so excluding them lowers the fraction: see ``imaging.quality``.
    exclude_bound_fits : bool
        Leave voxels whose fit ended on a parameter bound out of the hypoxic fraction (default False).
    a_max, k_el_max, k_diff_min, k_diff_max : float
        Fit bounds: 0 <= A <= a_max, 0 <= k_el <= k_el_max, k_diff_min <= k_ep - k_el <= k_diff_max (1/min).
    max_iterations : int
        Levenberg-Marquardt iterations at most per voxel.
    """

    a_threshold: float = rules.A_THRESHOLD
    hf_cutoff: float = rules.HF_CUTOFF
    biopsy_slice: int = 1
    baseline_frames: Optional[int] = None
    injection_duration_s: float = 0.0
    fit_lag_per_voxel: bool = False
    signal_floor_fraction: float = 0.05
    arrival_rise_fraction: float = 0.1
    min_r2: Optional[float] = None
    exclude_bound_fits: bool = False
    a_max: float = 10.0
    k_el_max: float = 1.0
    k_diff_min: float = 1e-3
    k_diff_max: float = 20.0
    max_iterations: int = 1000

    @property
    def bounds(self) -> BrixBounds:
        return BrixBounds(
            a_min=0.0, a_max=self.a_max, k_el_min=0.0, k_el_max=self.k_el_max,
            k_diff_min=self.k_diff_min, k_diff_max=self.k_diff_max,
        )

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class MeanCurve:
    """The tumour's mean RSI curve and the Brix fit that gave the bolus arrival time."""

    times_s: np.ndarray
    rsi: np.ndarray
    fitted_rsi: np.ndarray
    t_lag_s: float
    a_brix: float
    k_ep: float
    k_el: float


@dataclass
class ImagingResult:
    """Maps (float32 ``[k, j, i]``, NaN outside the tumour and where the fit failed) and the tumour's numbers."""

    a_brix: np.ndarray
    k_ep: np.ndarray
    k_el: np.ndarray
    r_squared: np.ndarray
    rmse: np.ndarray
    fit_status: np.ndarray
    tumour_mask: np.ndarray
    hypoxic_mask: np.ndarray
    geometry: Geometry
    hypoxic_fraction: float
    classification: str
    n_tumour_voxels: int
    n_fitted: int
    n_failed: int
    n_hypoxic: int
    slices: List[SliceFraction]
    baseline_frames: int
    baseline_frames_detected: bool
    mean_curve: MeanCurve
    times_s: np.ndarray
    time_source: str
    parameters: ImagingParameters
    failures: Dict[str, int] = field(default_factory=dict)
    voxel_t_lag_s: Optional[np.ndarray] = None  # per-voxel bolus arrival (s), only with fit_lag_per_voxel
    post_contrast: Optional[np.ndarray] = None  # mean signal after bolus arrival: the anatomy under the maps
    warnings: List[str] = field(default_factory=list)  # what the user must know about these numbers
    fit_quality: Optional[FitQuality] = None  # poor fits counted (at a bound, low R²), HF with and without them
    fit_engine: str = "numpy"  # the Brix fit engine that ran: "numba" (compiled) or "numpy"
    baseline_frames_auto: Optional[int] = None  # detected from the mean curve (None: no clear rise to detect)
    # The DICOM series read (io.dicom.DicomReference: patient, study, frame of reference), None for other
    # inputs: what a DICOM export of the maps refers to.
    dicom_reference: Optional[object] = None

    @property
    def biopsy_slice(self) -> SliceFraction:
        return next(s for s in self.slices if s.is_biopsy_slice)

    def with_biopsy_slice(self, biopsy_slice: int) -> ImagingResult:
        """The same result with another biopsy slice (no refit)."""
        check_biopsy_slice(biopsy_slice, len(self.slices))
        slices = [dataclasses.replace(s, is_biopsy_slice=s.slice == biopsy_slice) for s in self.slices]
        parameters = dataclasses.replace(self.parameters, biopsy_slice=biopsy_slice)
        return dataclasses.replace(self, slices=slices, parameters=parameters)

    def summary(self) -> dict:
        """The tumour's numbers as plain data (what ``summary.json`` holds)."""
        fitted = np.isin(self.fit_status, FITTED_STATUSES)
        a_values = self.a_brix[fitted]
        biopsy = self.biopsy_slice
        return {
            "hypoxic_fraction": self.hypoxic_fraction,
            "classification": self.classification,
            "n_tumour_voxels": self.n_tumour_voxels,
            "n_fitted": self.n_fitted,
            "n_failed": self.n_failed,
            "n_hypoxic": self.n_hypoxic,
            "failures": dict(self.failures),
            "fit_engine": self.fit_engine,  # "numba" (compiled) or "numpy": which Brix fit engine ran
            "fit_quality": self.fit_quality.as_dict() if self.fit_quality is not None else None,
            "warnings": list(self.warnings),
            "biopsy_slice": {
                "slice": biopsy.slice,
                "k_index": biopsy.k_index,
                "hypoxic_fraction": biopsy.hypoxic_fraction,
                "classification": biopsy.classification,
                "voxels": biopsy.voxels,
                "fitted": biopsy.fitted,
            },
            "slices": [{**s.as_dict(), **s.fit_counts()} for s in self.slices],
            "a_brix": {
                "median": float(np.median(a_values)) if a_values.size else float("nan"),
                "mean": float(np.mean(a_values)) if a_values.size else float("nan"),
                "p10": float(np.percentile(a_values, 10)) if a_values.size else float("nan"),
                "p90": float(np.percentile(a_values, 90)) if a_values.size else float("nan"),
            },
            "tumour_volume_ml": self.n_tumour_voxels * float(np.prod(self.geometry.spacing)) / 1000.0,
            "bolus_arrival": {
                "baseline_frames": self.baseline_frames,
                "detected": self.baseline_frames_detected,
                "baseline_frames_detected": self.baseline_frames_auto,
                "t_lag_s": self.mean_curve.t_lag_s,
            },
            "mean_curve": {
                "times_s": self.mean_curve.times_s,
                "rsi": self.mean_curve.rsi,
                "fitted_rsi": self.mean_curve.fitted_rsi,
                "a_brix": self.mean_curve.a_brix,
                "k_ep": self.mean_curve.k_ep,
                "k_el": self.mean_curve.k_el,
            },
            "frame_times_s": self.times_s,
            "time_source": self.time_source,
            "fit_status_codes": {str(code): name for code, name in STATUS_NAMES.items()},
            "parameters": self.parameters.as_dict(),
            "version": __version__,
        }


def analyse_dce(
    series: DceSeries,
    tumour_mask: np.ndarray,
    parameters: Optional[ImagingParameters] = None,
    progress: Optional[ProgressCallback] = None,
) -> ImagingResult:
    """Fit the Brix model in every tumour voxel and compute the hypoxic fractions.

    Parameters
    ----------
    series : DceSeries
        The DCE-MRI series (signal ``[t, k, j, i]``, frame times in seconds).
    tumour_mask : ndarray of bool, shape (k, j, i)
        The tumour on the DCE grid.
    parameters : ImagingParameters, optional
        Settings; defaults as in SPEC §1.
    progress : callable, optional
        ``progress(done, total)`` over voxels; return False to cancel.

    Returns
    -------
    ImagingResult
    """
    p = parameters or ImagingParameters()
    _check_parameters(p)
    mask = np.asarray(tumour_mask, dtype=bool)
    if mask.shape != series.signal.shape[1:]:
        raise InputError(
            f"the tumour mask has shape {mask.shape} but a DCE frame has {series.signal.shape[1:]}",
            source="tumour mask", expected="a mask on the DCE grid (k, j, i)",
        )
    n_tumour = int(mask.sum())
    if n_tumour == 0:
        raise InputError("the tumour mask is empty on the DCE grid", source="tumour mask",
                         expected="at least one tumour voxel inside the DCE series")
    times = np.asarray(series.times_s, dtype=float)
    check_signal(series, mask)
    curves = _TumourCurves(series.signal, mask)  # read chunk by chunk: no float64 copy of every tumour curve

    n_frames = times.size
    detected = p.baseline_frames is None
    # Detected once, from the tumour's mean curve: used when none are given, else recorded and compared.
    mean_signal = curves.mean_signal()
    if detected:
        n_base = auto = detect_baseline_frames(mean_signal, rise_fraction=p.arrival_rise_fraction)
    else:
        n_base, auto = int(p.baseline_frames), _detected_or_none(mean_signal, p.arrival_rise_fraction)
    warnings = [] if detected else _baseline_warnings(n_base, auto)
    if not 1 <= n_base <= n_frames - MIN_POINTS:
        raise InputError(
            f"{n_base} baseline frame(s) leave {n_frames - n_base} frame(s) after bolus arrival in a series of "
            f"{n_frames}",
            source="--baseline-frames" if not detected else series.source,
            field="baseline frames",
            expected=f"at least {MIN_POINTS} frames after arrival and at least 1 before",
        )
    check_injection_duration_bound(p.injection_duration_s, float(times[-1] - times[n_base - 1]))

    floor = p.signal_floor_fraction * _baseline_percentile_99(series.signal, n_base)
    s0 = curves.baseline_signal(n_base)
    has_signal = s0 > max(floor, 0.0)
    if not has_signal.any():
        raise InputError(
            "every tumour voxel has a zero or near-zero baseline signal, so no relative signal increase exists",
            source=series.source, field="baseline signal",
            expected=f"baseline signal above {floor:g} (signal_floor_fraction {p.signal_floor_fraction})",
        )
    rsi, mean_rsi = curves.rsi_after_arrival(has_signal, n_base)  # (n with signal, frames after arrival), float64
    _check_enhancement(mean_rsi, n_base, series.source)

    tau_min = p.injection_duration_s / SECONDS_PER_MINUTE
    mean_curve = _mean_curve_fit(times, mean_rsi, n_base, tau_min, p.bounds)

    post = slice(n_base, n_frames)
    voxel_lags = None
    if p.fit_lag_per_voxel:
        fit, voxel_lags = _fit_with_voxel_lags(rsi, times[post], times[n_base - 1], times[n_base], tau_min,
                                               p, progress)
    else:
        t_min = (times[post] - mean_curve.t_lag_s) / SECONDS_PER_MINUTE
        fit = fit_brix(rsi, t_min, tau_min=tau_min, bounds=p.bounds, max_iterations=p.max_iterations,
                       progress=progress)
    del rsi

    # Per-tumour-voxel arrays, then maps.
    status = np.full(n_tumour, STATUS_NO_SIGNAL, dtype=np.uint8)
    status[has_signal] = fit.status
    values = {}
    for name in ("a", "k_ep", "k_el", "r_squared", "rmse"):
        v = np.full(n_tumour, np.nan)
        v[has_signal] = getattr(fit, name)
        values[name] = v
    # A fit that ended on a bound and explains less than a flat line (R² < 0) is not a fit: counted as failed, not
    # as fitted (issue 16: an injection duration longer than the enhancement put every voxel there, "all fitted").
    worse_than_flat = (status == STATUS_HIT_BOUND) & (values["r_squared"] < 0)
    status[worse_than_flat] = STATUS_BOUND_WORSE_THAN_FLAT
    for name in ("a", "k_ep", "k_el"):  # no parameters where there is no fit (R² and RMSE say why)
        values[name][worse_than_flat] = np.nan
    fit_engine = fit.engine
    del fit  # only the maps from here on: the peak of a large series is reached while they are made

    def to_map(v: np.ndarray, dtype=np.float32, fill=np.nan) -> np.ndarray:
        out = np.full(mask.shape, fill, dtype=dtype)
        out[mask] = v
        return out

    lag_map = None
    if voxel_lags is not None:
        lags = np.full(n_tumour, np.nan)
        lags[has_signal] = voxel_lags
        lag_map = to_map(lags)
    fit_status = to_map(status, np.uint8, STATUS_OUTSIDE)
    fitted = np.isin(fit_status, FITTED_STATUSES)
    a_map = to_map(values["a"])
    # Voxels are classified on the fitted float64 values: float32 would put an A of exactly 1.56 at 1.5599999.
    a_low = to_map(hypoxic_voxels(values["a"], np.ones(n_tumour, dtype=bool), p.a_threshold), bool, False)
    n_fitted = int(fitted.sum())
    if n_fitted == 0:
        raise InputError("no tumour voxel could be fitted", source=series.source, field="Brix fit",
                         expected="enhancing tumour voxels with a usable signal")
    quality, at_bound, low_r2, excluded = _fit_quality(fit_status, to_map(values["r_squared"]), fitted,
                                                       a_low, values,
                                                       status == STATUS_HIT_BOUND, p)
    warnings += quality_warnings(quality)
    hypoxic = a_low & fitted & ~excluded
    n_hypoxic = int(hypoxic.sum())
    hf = fraction(n_hypoxic, n_fitted - quality.n_excluded)
    slices = slice_fractions(mask, fitted, hypoxic, series.geometry, hf_cutoff=p.hf_cutoff,
                             biopsy_slice=p.biopsy_slice, at_bound=at_bound, low_r2=low_r2, excluded=excluded)
    failures = {STATUS_NAMES[code]: int(np.sum(status == code)) for code in np.unique(status)
                if code not in FITTED_STATUSES}
    del fitted, a_low, at_bound, low_r2, excluded  # counted: the peak comes with the last maps, made below
    return ImagingResult(
        a_brix=a_map,
        k_ep=to_map(values.pop("k_ep")),
        k_el=to_map(values.pop("k_el")),
        r_squared=to_map(values.pop("r_squared")),
        rmse=to_map(values.pop("rmse")),
        fit_status=fit_status,
        tumour_mask=mask.astype(np.uint8),
        hypoxic_mask=hypoxic.view(np.uint8),  # the same bytes: no copy
        geometry=series.geometry,
        hypoxic_fraction=hf,
        classification=classify(hf, p.hf_cutoff),
        n_tumour_voxels=n_tumour,
        n_fitted=n_fitted,
        n_failed=n_tumour - n_fitted,
        n_hypoxic=n_hypoxic,
        slices=slices,
        baseline_frames=n_base,
        baseline_frames_detected=detected,
        mean_curve=mean_curve,
        times_s=times,
        time_source=series.time_source,
        parameters=p,
        failures=failures,
        voxel_t_lag_s=lag_map,
        post_contrast=_frame_mean(series.signal[n_base:]),
        warnings=warnings,
        fit_quality=quality,
        fit_engine=fit_engine,
        baseline_frames_auto=auto,
    )


class _TumourCurves:
    """The tumour voxels' signal curves, gathered from the series a chunk of voxels at a time.

    A float64 copy of every tumour curve (and its temporaries) would be several times the tumour's share of the
    series; chunks keep the analysis near the size of the series itself (issue 14). Each chunk is the same
    float64 (n, n_frames) block as before, so per-voxel numbers do not change.
    """

    chunk = 32768

    def __init__(self, signal: np.ndarray, mask: np.ndarray):
        self.signal = signal  # (n_frames, k, j, i), any memory layout: never reshaped (that could copy it)
        self.n_frames = signal.shape[0]
        self.voxels = np.flatnonzero(mask)  # in the order of signal[:, mask]

    def _blocks(self, voxels: np.ndarray):
        shape = self.signal.shape[1:]
        for start in range(0, len(voxels), self.chunk):
            k, j, i = np.unravel_index(voxels[start:start + self.chunk], shape)
            yield start, self.signal[:, k, j, i].T.astype(float)

    def mean_signal(self) -> np.ndarray:
        total = sum(block.sum(axis=0) for _, block in self._blocks(self.voxels))
        return total / len(self.voxels)

    def baseline_signal(self, n_base: int) -> np.ndarray:
        return np.concatenate([block[:, :n_base].mean(axis=1) for _, block in self._blocks(self.voxels)])

    def rsi_after_arrival(self, keep: np.ndarray, n_base: int):
        """RSI after arrival of the voxels ``keep`` (n_keep, n_frames - n_base) and their mean RSI over all frames."""
        voxels = self.voxels[keep]
        rsi = np.empty((len(voxels), self.n_frames - n_base))
        total = 0.0
        for start, block in self._blocks(voxels):
            _, block_rsi = relative_signal_increase(block, n_base)
            rsi[start:start + len(block_rsi)] = block_rsi[:, n_base:]
            total = total + block_rsi.sum(axis=0)
        return rsi, total / len(voxels)


def _baseline_percentile_99(signal: np.ndarray, n_base: int) -> float:
    """The 99th percentile of the series' baseline signal (mean of the baseline frames, float32 as numpy gives it);
    a function so that the volume and its sorted copy are freed before the fit (issue 14: memory)."""
    return float(np.percentile(signal[:n_base].mean(axis=0), 99))


def _frame_mean(frames: np.ndarray) -> np.ndarray:
    """Mean over frames (float64 sums) as float32 (k, j, i), a slice at a time: no float64 copy of a volume."""
    out = np.empty(frames.shape[1:], dtype=np.float32)
    for k in range(frames.shape[1]):
        out[k] = frames[:, k].mean(axis=0, dtype=np.float64)
    return out


def relative_signal_increase(signal: np.ndarray, baseline_frames: int):
    """S0 and RSI = (S - S0) / S0 of signal curves ``(..., n_frames)``; S0 = mean of the baseline frames.

    Returns ``(s0, rsi)``; RSI is NaN where S0 is not positive (no relative increase exists there).
    """
    signal = np.asarray(signal, dtype=float)
    s0 = signal[..., :baseline_frames].mean(axis=-1)
    positive = s0 > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        rsi = np.where(positive[..., None], signal / np.where(positive, s0, 1.0)[..., None] - 1.0, np.nan)
    return s0, rsi


def _fit_quality(fit_status, r2_map, fitted, a_low, values, at_bound_voxels, p: ImagingParameters):
    """Poor fits of the tumour (maps of those at a bound, with low R², excluded) and the fraction with and without."""
    r2_threshold = POOR_FIT_R2 if p.min_r2 is None else float(p.min_r2)
    at_bound, low_r2 = poor_fit_maps(fit_status, r2_map, fitted, r2_threshold)
    excluded = np.zeros_like(fitted)
    if p.min_r2 is not None:
        excluded |= low_r2
    if p.exclude_bound_fits:
        excluded |= at_bound
    hypoxic_all = a_low & fitted
    good = fitted & ~at_bound & ~low_r2
    quality = FitQuality(
        r2_threshold=r2_threshold, n_fitted=int(fitted.sum()), n_at_bound=int(at_bound.sum()),
        n_low_r2=int(low_r2.sum()), n_poor=int((at_bound | low_r2).sum()), n_excluded=int(excluded.sum()),
        excluded=excluded_label(p.min_r2, p.exclude_bound_fits),
        at_bound_by_parameter=bound_counts(values["a"], values["k_ep"], values["k_el"], at_bound_voxels, p.bounds),
        hypoxic_fraction_all_fits=fraction(int(hypoxic_all.sum()), int(fitted.sum())),
        hypoxic_fraction_good_fits=fraction(int((hypoxic_all & good).sum()), int(good.sum())),
    )
    if quality.n_excluded == quality.n_fitted:
        raise InputError(
            f"every one of the {quality.n_fitted} fitted voxels is a poor fit excluded from the hypoxic fraction "
            f"({quality.excluded}), so no fraction exists", source="--min-r2",
            expected="a lower --min-r2, or poor fits kept in the fraction",
        )
    return quality, at_bound, low_r2, excluded


def _check_parameters(p: ImagingParameters) -> None:
    checks = [
        (p.a_threshold > 0, "a_threshold", "--a-threshold", "a positive A_Brix value"),
        (0 <= p.hf_cutoff <= 1, "hf_cutoff", "--hf-cutoff", "a fraction between 0 and 1"),
        (p.injection_duration_s >= 0, "injection_duration_s", "--injection-duration", "seconds >= 0"),
        (0 <= p.signal_floor_fraction < 1, "signal_floor_fraction", "--signal-floor", "a fraction in [0, 1)"),
        (0 < p.k_diff_min < p.k_diff_max, "k_diff_min/k_diff_max", "bounds", "0 < k_diff_min < k_diff_max"),
        (p.a_max > 0 and p.k_el_max > 0, "a_max/k_el_max", "bounds", "positive upper bounds"),
        (p.min_r2 is None or (np.isfinite(p.min_r2) and p.min_r2 <= 1), "min_r2", "--min-r2", "an R² at most 1"),
    ]
    for ok, name, option, expected in checks:
        if not ok:
            raise InputError(f"invalid value of {name}", source=option, expected=expected)
    if p.baseline_frames is not None and int(p.baseline_frames) < 1:
        raise InputError("at least one baseline frame is needed", source="--baseline-frames",
                         expected="an integer >= 1")


def _check_enhancement(mean_rsi: np.ndarray, n_base: int, source: str) -> None:
    """Refuse a tumour whose mean curve does not rise after the bolus (flat curves: nothing to fit).

    The noise is the curve's frame-to-frame noise over all frames (:func:`curve_noise`), not the spread of the
    baseline frames, which a short or miscounted baseline fills with the upslope.
    """
    noise = curve_noise(mean_rsi)
    peak = float(np.max(mean_rsi[n_base:]))
    if not peak > max(5.0 * noise, 0.01):
        raise InputError(
            f"the tumour's mean curve does not enhance after the bolus (peak relative signal increase {peak:.3g}, "
            f"frame-to-frame noise {noise:.3g}, {n_base} baseline frame(s)); {HOW_TO_GIVE_BASELINE}",
            source=source, field="DCE signal", expected="contrast enhancement after the baseline frames",
        )


#: Given baseline frames ending this many frames or more before the detected arrival are warned about (the bolus
#: arrival, and so every A_Brix, moves); any given frame after it is (enhancing frames averaged into S0).
BASELINE_DISAGREEMENT_FRAMES = 2


def _detected_or_none(mean_signal: np.ndarray, rise_fraction: float) -> Optional[int]:
    """The baseline frames detected from the mean curve, or None when it shows no clear rise."""
    try:
        return detect_baseline_frames(mean_signal, rise_fraction=rise_fraction)
    except InputError:
        return None


def _baseline_warnings(n_base: int, detected: Optional[int]) -> List[str]:
    """One warning when baseline frames given by the user disagree with those detected from the mean curve: too many
    (frames where the curve already rises are averaged into S0) or too few by
    :data:`BASELINE_DISAGREEMENT_FRAMES` or more (the arrival is placed before the contrast arrives)."""
    if detected is None:
        return []
    if detected < n_base:
        return [f"--baseline-frames {n_base}: the tumour's mean curve already rises from frame {detected + 1} "
                f"(1-based), so {n_base - detected} enhancing frame(s) are averaged into the baseline signal S0; "
                f"the detected number of baseline frames is {detected}"]
    if detected - n_base >= BASELINE_DISAGREEMENT_FRAMES:
        return [f"--baseline-frames {n_base} disagrees with the {detected} baseline frames detected from the "
                f"tumour's mean curve: the bolus arrival, and so A_Brix and the hypoxic fraction, depend on it; "
                f"check the frames before the contrast arrives (without --baseline-frames the detected value is "
                f"used)"]
    return []


def _lag_candidates(t_last_baseline: float, t_first_enhanced: float, n: int) -> np.ndarray:
    return np.linspace(t_last_baseline, t_first_enhanced, n, endpoint=False)


def _mean_curve_fit(times, mean_rsi, n_base, tau_min, bounds) -> MeanCurve:
    """Bolus arrival t_lag: the lag between the last baseline and first enhanced frame that fits best."""
    post = slice(n_base, times.size)
    lags = _lag_candidates(times[n_base - 1], times[n_base], N_LAG_CANDIDATES)
    best = None
    for lag in lags:
        fit = fit_brix(mean_rsi[None, post], (times[post] - lag) / SECONDS_PER_MINUTE, tau_min=tau_min, bounds=bounds)
        if not np.isfinite(fit.rmse[0]):
            continue
        if best is None or fit.rmse[0] < best[1].rmse[0]:
            best = (lag, fit)
    if best is None:
        raise InputError("the tumour's mean curve could not be fitted with the Brix model", field="mean curve",
                         expected="an enhancing curve with a Brix-like shape")
    lag, fit = best
    fitted = brix_curve((times - lag) / SECONDS_PER_MINUTE, fit.a[0], fit.k_ep[0], fit.k_el[0], tau_min)
    return MeanCurve(times_s=times, rsi=mean_rsi, fitted_rsi=fitted, t_lag_s=float(lag), a_brix=float(fit.a[0]),
                     k_ep=float(fit.k_ep[0]), k_el=float(fit.k_el[0]))


def _fit_with_voxel_lags(rsi, t_post, t_last_baseline, t_first_enhanced, tau_min, p, progress) -> BrixFit:
    """Fit each voxel at several arrival times and keep, per voxel, the one with the smallest error (and its lag)."""
    lags = _lag_candidates(t_last_baseline, t_first_enhanced, N_LAG_CANDIDATES_PER_VOXEL)
    n = rsi.shape[0]
    best = None
    best_lag = np.full(n, lags[0])
    for index, lag in enumerate(lags):
        def scaled(done, total, index=index):
            return None if progress is None else progress(index * n + done, len(lags) * n)

        fit = fit_brix(rsi, (t_post - lag) / SECONDS_PER_MINUTE, tau_min=tau_min, bounds=p.bounds,
                       max_iterations=p.max_iterations, progress=scaled)
        if best is None:
            best = fit
            continue
        better = np.isfinite(fit.rmse) & ~(fit.rmse >= best.rmse)
        for name in ("a", "k_ep", "k_el", "r_squared", "rmse", "status", "iterations", "sse"):
            getattr(best, name)[better] = getattr(fit, name)[better]
        best_lag[better] = lag
    return best, best_lag
