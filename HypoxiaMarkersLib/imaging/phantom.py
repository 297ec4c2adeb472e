"""Synthetic DCE-MRI phantoms and hypoxia patterns with known truth.

Used by the tests, the benchmark, the demo and Slicer's sample data. Everything is generated from a seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Union

import numpy as np
from scipy import ndimage

from ..errors import InputError
from ..io.outputs import atomic_output_dir, write_json
from ..io.volumes import write_volume
from ..rules import A_THRESHOLD
from ..volume import DceSeries, Geometry
from .brix import brix_curve
from .hypoxia import tumour_slices_caudal_to_cranial
from .timing import SECONDS_PER_MINUTE


def hypoxic_pattern(
    tumour_mask: np.ndarray,
    hypoxic_fraction: float,
    correlation_length: Union[float, Sequence[float]],
    rng: Union[np.random.Generator, int, None] = None,
) -> np.ndarray:
    """Choose hypoxic voxels inside a tumour, scattered at random or clustered in blobs.

    A Gaussian random field smoothed with ``correlation_length`` (voxels; 0 = white noise) is ranked inside the
    tumour and its lowest ``round(hypoxic_fraction * n)`` voxels become hypoxic, so the fraction is exact.

    Parameters
    ----------
    tumour_mask : ndarray of bool, 2D or 3D
    hypoxic_fraction : float in [0, 1]
    correlation_length : float or sequence of float
        Standard deviation (voxels) of the Gaussian smoothing, per axis if a sequence. 0 gives independent voxels
        (randomly scattered hypoxia); a few voxels gives hypoxic regions ("clustering").
    rng : numpy Generator or seed

    Returns
    -------
    ndarray of bool, same shape as ``tumour_mask``: True where hypoxic (always False outside the tumour).
    """
    field = smooth_random_field(tumour_mask.shape, correlation_length, rng)
    return _lowest_fraction(field, tumour_mask, hypoxic_fraction)


def smooth_random_field(
    shape: Sequence[int], correlation_length: Union[float, Sequence[float]], rng=None
) -> np.ndarray:
    """A zero-mean Gaussian random field, smoothed with ``correlation_length`` voxels, scaled to unit SD."""
    rng = np.random.default_rng(rng)
    field = rng.standard_normal(tuple(shape))
    sigma = np.broadcast_to(np.asarray(correlation_length, dtype=float), (len(shape),))
    if np.any(sigma > 0):
        field = ndimage.gaussian_filter(field, sigma=sigma, mode="reflect")
    sd = field.std()
    return field / sd if sd > 0 else field


def _lowest_fraction(field: np.ndarray, mask: np.ndarray, fraction: float) -> np.ndarray:
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"hypoxic_fraction must be in [0, 1], got {fraction}")
    mask = np.asarray(mask, dtype=bool)
    values = field[mask]
    n_hypoxic = int(round(fraction * values.size))
    hypoxic_inside = np.zeros(values.size, dtype=bool)
    hypoxic_inside[np.argsort(values, kind="stable")[:n_hypoxic]] = True
    out = np.zeros(mask.shape, dtype=bool)
    out[mask] = hypoxic_inside
    return out



# ----------------------------------------------------------------------------------------------------------------
# DCE phantom
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class Phantom:
    """A synthetic DCE-MRI examination with known truth.

    Attributes
    ----------
    series : DceSeries
        The DCE series on the DCE grid (signal = S0 (1 + RSI + noise)).
    tumour_mask : ndarray of bool (k, j, i)
        The true tumour on the DCE grid (the ellipsoid sampled at DCE voxel centres).
    a_brix, k_ep, k_el : ndarray of float32 (k, j, i)
        True Brix parameters; defined in the tumour and a 3 mm rim around it (so a mask resampled from T2W has truth
        everywhere), NaN elsewhere.
    hypoxic_mask : ndarray of bool (k, j, i)
        True hypoxic voxels (A_Brix < a_threshold), wherever a_brix is defined.
    t2w, t2w_geometry, t2w_tumour_mask :
        A T2-weighted-like volume on a finer, shifted grid and the tumour delineated on it.
    t_lag_s : float
        True bolus arrival time.
    hypoxic_fraction : float
        True hypoxic fraction of the tumour on the DCE grid.
    slice_hypoxic_fractions : list of float
        True hypoxic fraction of each tumour slice, caudal to cranial.
    settings : dict
        Every setting used to make it (seed included).
    """

    series: DceSeries
    tumour_mask: np.ndarray
    a_brix: np.ndarray
    k_ep: np.ndarray
    k_el: np.ndarray
    hypoxic_mask: np.ndarray
    t2w: np.ndarray
    t2w_geometry: Geometry
    t2w_tumour_mask: np.ndarray
    t_lag_s: float
    hypoxic_fraction: float
    slice_hypoxic_fractions: List[float]
    settings: dict = field(default_factory=dict)

    def truth(self) -> dict:
        """The known truth as plain data (written as truth.json)."""
        inside = self.tumour_mask
        return {
            "hypoxic_fraction": self.hypoxic_fraction,
            "slice_hypoxic_fractions": self.slice_hypoxic_fractions,
            "n_tumour_voxels": int(inside.sum()),
            "t_lag_s": self.t_lag_s,
            "a_brix_median": float(np.median(self.a_brix[inside])),
            "settings": self.settings,
        }


#: A phantom series larger than this (float32 bytes) is refused rather than exhausting the memory.
MAX_SERIES_BYTES = 2 * 1024**3


def _check_settings(*, seed, noise, hypoxic_fraction, clustering_mm, size, spacing, n_frames, frame_interval_s,
                    baseline_frames) -> None:
    """Refuse settings that would write an invalid phantom (NaN noise, zero frame interval) or exhaust memory."""
    def number(value, name, option, expected, ok):
        try:
            value = float(value)
        except (TypeError, ValueError):
            value = float("nan")
        if not (np.isfinite(value) and ok(value)):
            raise InputError(f"{name} {value:g} is not possible", source=option, expected=expected)

    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed {seed!r} is not possible", source="--seed", expected="a whole number >= 0")
    number(noise, "noise", "--noise", "a fraction >= 0 (0.03 = 3 %)", lambda v: v >= 0)
    number(hypoxic_fraction, "hypoxic fraction", "--hypoxic-fraction", "a number in [0, 1]", lambda v: 0 <= v <= 1)
    number(clustering_mm, "correlation length", "--clustering-mm", "mm >= 0", lambda v: v >= 0)
    number(frame_interval_s, "frame interval", "--frame-interval", "seconds > 0", lambda v: v > 0)
    if int(baseline_frames) < 1 or int(n_frames) < int(baseline_frames) + 4:
        raise InputError(f"{n_frames} frames with {baseline_frames} baseline frames: too few frames after the "
                         "baseline", source="--n-frames/--baseline-frames",
                         expected="at least 1 baseline frame and 4 frames after it")
    voxels = int(np.prod([int(s) for s in size]))
    if any(int(s) < 1 for s in size) or any(not np.isfinite(float(s)) or float(s) <= 0 for s in spacing):
        raise InputError(f"grid {tuple(size)} with spacing {tuple(spacing)} mm", source="size/spacing",
                         expected="positive voxel counts and spacings")
    series_bytes = 4 * voxels * int(n_frames)
    if series_bytes > MAX_SERIES_BYTES:
        raise InputError(f"{n_frames} frames of {voxels} voxels make a {series_bytes / 1024**3:.1f} GiB series",
                         source="--n-frames",
                         expected=f"a series under {MAX_SERIES_BYTES / 1024**3:.0f} GiB (fewer frames)")


def make_phantom(
    *,
    seed: int = 0,
    noise: float = 0.03,
    hypoxic_fraction: float = 0.3,
    clustering_mm: float = 4.0,
    clustering_si_mm: Optional[float] = None,
    size: Sequence[int] = (128, 128, 8),
    spacing: Sequence[float] = (0.8, 0.8, 5.0),
    n_frames: int = 40,
    frame_interval_s: float = 10.0,
    baseline_frames: int = 10,
    tumour_radii_mm: Sequence[float] = (22.0, 18.0, 14.0),
    a_threshold: float = A_THRESHOLD,
    a_margin: float = 0.07,
    k_diff_range: Sequence[float] = (1.0, 5.0),
    k_el_range: Sequence[float] = (0.0, 0.12),
    t2w_spacing: Sequence[float] = (0.5, 0.5, 2.5),
    t2w_offset_mm: Sequence[float] = (0.37, -0.21, 0.9),
) -> Phantom:
    """Make a DCE-MRI phantom of a cervical tumour with known Brix parameters.

    The tumour is an ellipsoid in the middle of a body ellipse; its hypoxic voxels (``hypoxic_fraction`` of them,
    spatially clustered with correlation length ``clustering_mm``, 0 = scattered at random) get A_Brix drawn
    uniformly from [0.3, a_threshold (1 - a_margin)], the others from [a_threshold (1 + a_margin), 4.5]. The margin
    keeps the truth away from the threshold so that classification tests measure the fitter, not the threshold.
    Rates: k_el uniform in ``k_el_range``, k_ep - k_el uniform in ``k_diff_range`` (1/min). Noise: Gaussian on the
    relative signal with SD = ``noise`` x the mean peak RSI of the tumour.

    Parameters
    ----------
    seed : int
        Everything random comes from this seed.
    noise : float
        Noise SD as a fraction of the tumour's mean peak relative signal increase (0.03 = 3 %).
    hypoxic_fraction : float
        Target hypoxic fraction of the tumour (the exact fraction on the DCE grid is in ``Phantom.hypoxic_fraction``).
    clustering_mm : float
        Correlation length of the hypoxic regions in mm (0 = randomly scattered voxels).
    clustering_si_mm : float, optional
        Correlation length along the S-I axis (across slices); default: ``clustering_mm``. A longer one makes the
        slices of a tumour more alike.
    size, spacing : sequence
        DCE grid: voxels and mm along (i, j, k).
    n_frames, frame_interval_s, baseline_frames : int, float, int
        Timing: frames are ``frame_interval_s`` apart; the bolus arrives after ``baseline_frames`` frames, at a
        random time between the last baseline frame and the next one.
    tumour_radii_mm : sequence of float
        Semi-axes of the tumour ellipsoid (L-R, A-P, S-I).
    t2w_spacing, t2w_offset_mm : sequence of float
        The T2W grid: finer spacing, and its centre shifted by this offset (mm) from the DCE grid's centre.

    Returns
    -------
    Phantom
    """
    _check_settings(seed=seed, noise=noise, hypoxic_fraction=hypoxic_fraction, clustering_mm=clustering_mm,
                    size=size, spacing=spacing, n_frames=n_frames, frame_interval_s=frame_interval_s,
                    baseline_frames=baseline_frames)
    rng = np.random.default_rng(seed)
    size = tuple(int(s) for s in size)
    spacing = tuple(float(s) for s in spacing)
    geometry = Geometry(size=size, spacing=spacing, origin=(-(size[0] - 1) * spacing[0] / 2,
                                                            -(size[1] - 1) * spacing[1] / 2,
                                                            -(size[2] - 1) * spacing[2] / 2))
    radii = np.asarray(tumour_radii_mm, dtype=float)
    ellipsoid_dce = _ellipsoid_distance(geometry, radii)  # <= 1 inside
    tumour = ellipsoid_dce <= 1.0
    rim = _ellipsoid_distance(geometry, radii + 3.0) <= 1.0

    si_mm = clustering_mm if clustering_si_mm is None else clustering_si_mm
    sigma_vox = [si_mm / spacing[2], clustering_mm / spacing[1], clustering_mm / spacing[0]]
    field_ = smooth_random_field(geometry.shape, sigma_vox if clustering_mm > 0 else 0.0, rng)
    hypoxic_in_tumour = _lowest_fraction(field_, tumour, hypoxic_fraction)
    # The rim gets the class its field value would give with the tumour's field threshold.
    threshold = np.max(field_[hypoxic_in_tumour]) if hypoxic_in_tumour.any() else -np.inf
    hypoxic = rim & (field_ <= threshold)
    hypoxic[tumour] = hypoxic_in_tumour[tumour]

    shape = geometry.shape
    a = np.where(
        hypoxic,
        rng.uniform(0.3, a_threshold * (1 - a_margin), shape),
        rng.uniform(a_threshold * (1 + a_margin), 4.5, shape),
    )
    k_el = rng.uniform(k_el_range[0], k_el_range[1], shape)
    k_ep = k_el + rng.uniform(k_diff_range[0], k_diff_range[1], shape)

    # Body: an ellipse of enhancing normal tissue around the tumour; air outside.
    body = _ellipsoid_distance(geometry, np.array([45.0, 35.0, 1e6])) <= 1.0
    a_full = np.where(rim, a, np.where(body, 1.2, 0.0))
    kep_full = np.where(rim, k_ep, 2.0)
    kel_full = np.where(rim, k_el, 0.05)

    times = np.arange(n_frames) * float(frame_interval_s)
    t_lag = times[baseline_frames - 1] + rng.uniform(0.2, 0.8) * frame_interval_s
    t_min = (times - t_lag) / SECONDS_PER_MINUTE
    tumour_curves = brix_curve(t_min[:, None], a_full[tumour], kep_full[tumour], kel_full[tumour])
    sigma = noise * float(np.mean(np.max(tumour_curves, axis=0)))
    s0 = np.where(body, 1000.0 * (1.0 + 0.1 * smooth_random_field(shape, (0.5, 10, 10), rng)), 0.0)
    # Frame by frame: a 4D float64 intermediate would be many times the size of the series.
    signal = np.empty((n_frames,) + shape, dtype=np.float32)
    for frame, t in enumerate(t_min):
        tissue = s0 * (1.0 + brix_curve(t, a_full, kep_full, kel_full) + sigma * rng.standard_normal(shape))
        air = np.abs(5.0 * rng.standard_normal(shape))
        # Scanners store integer magnitudes: rounding also lets the files compress well.
        signal[frame] = np.round(np.where(body, np.maximum(tissue, 0.0), air))

    t2w_geometry = _shifted_grid(geometry, t2w_spacing, t2w_offset_mm)
    ellipsoid_t2w = _ellipsoid_distance(t2w_geometry, radii)
    t2w_tumour = ellipsoid_t2w <= 1.0
    t2w_body = _ellipsoid_distance(t2w_geometry, np.array([45.0, 35.0, 1e6])) <= 1.0
    t2w = np.where(t2w_tumour, 600.0, np.where(t2w_body, 400.0, 0.0))
    t2w = np.round(t2w + 20.0 * rng.standard_normal(t2w.shape) * (t2w > 0)).astype(np.float32)

    nan = np.float32(np.nan)
    truth_a = np.where(rim, a, nan).astype(np.float32)
    slices = tumour_slices_caudal_to_cranial(tumour, geometry)
    slice_hf = [float(hypoxic[k][tumour[k]].mean()) for k in slices]
    settings = {
        "seed": seed, "noise": noise, "hypoxic_fraction": hypoxic_fraction, "clustering_mm": clustering_mm,
        "clustering_si_mm": si_mm,
        "size": list(size), "spacing": list(spacing), "n_frames": n_frames, "frame_interval_s": frame_interval_s,
        "baseline_frames": baseline_frames, "tumour_radii_mm": list(radii), "a_threshold": a_threshold,
        "a_margin": a_margin, "k_diff_range": list(k_diff_range), "k_el_range": list(k_el_range),
        "t2w_spacing": list(t2w_spacing), "t2w_offset_mm": list(t2w_offset_mm), "noise_sd_rsi": sigma,
    }
    return Phantom(
        series=DceSeries(signal=signal, times_s=times, geometry=geometry, time_source="phantom",
                         source=f"phantom(seed={seed})"),
        tumour_mask=tumour,
        a_brix=truth_a,
        k_ep=np.where(rim, k_ep, nan).astype(np.float32),
        k_el=np.where(rim, k_el, nan).astype(np.float32),
        hypoxic_mask=hypoxic & rim,
        t2w=t2w,
        t2w_geometry=t2w_geometry,
        t2w_tumour_mask=t2w_tumour.astype(np.uint8),
        t_lag_s=float(t_lag),
        hypoxic_fraction=float(hypoxic[tumour].mean()),
        slice_hypoxic_fractions=slice_hf,
        settings=settings,
    )


def _ellipsoid_distance(geometry: Geometry, radii: np.ndarray) -> np.ndarray:
    """Normalised ellipsoid radius sum((x / r)^2) at every voxel centre, the ellipsoid centred at LPS (0, 0, 0)."""
    k, j, i = np.meshgrid(*[np.arange(n) for n in geometry.shape], indexing="ij")
    lps = geometry.index_to_lps(np.stack([i, j, k], axis=-1))
    return np.sum((lps / radii) ** 2, axis=-1)


def _shifted_grid(geometry: Geometry, spacing: Sequence[float], offset_mm: Sequence[float]) -> Geometry:
    """A grid with another spacing covering the same field of view, its centre shifted by ``offset_mm``."""
    extent = np.asarray(geometry.size) * np.asarray(geometry.spacing)
    spacing = np.asarray(spacing, dtype=float)
    size = np.ceil(extent / spacing).astype(int) + 2
    origin = -(size - 1) * spacing / 2.0 + np.asarray(offset_mm, dtype=float)
    return Geometry(size=tuple(int(s) for s in size), spacing=tuple(float(s) for s in spacing),
                    origin=tuple(float(o) for o in origin))


def write_phantom(phantom: Phantom, out_dir: Path, *, force: bool = False) -> Path:
    """Write a phantom as files: the DCE series, T2W, the mask drawn on T2W, and the truth.

    Layout of ``out_dir``: ``dce.seq.nrrd`` (4D, Slicer sequence NRRD with frame times in s), ``t2w.nrrd``,
    ``tumour_mask_t2w.nrrd`` (label map on the T2W grid, 1 = tumour), ``tumour.seg.nrrd`` (the same as a Slicer
    segmentation with one segment "Tumour"), ``times_s.txt``, and ``truth/`` with
    ``a_brix.nrrd``, ``k_ep.nrrd``, ``k_el.nrrd``, ``hypoxic_mask.nrrd``, ``tumour_mask.nrrd`` on the DCE grid and
    ``truth.json``. Written atomically: the folder appears complete or not at all.
    """
    from ..io import write_dce, write_segmentation

    with atomic_output_dir(Path(out_dir), force=force) as tmp:
        write_dce(phantom.series, tmp / "dce.seq.nrrd")
        write_volume(phantom.t2w, phantom.t2w_geometry, tmp / "t2w.nrrd")
        write_volume(phantom.t2w_tumour_mask, phantom.t2w_geometry, tmp / "tumour_mask_t2w.nrrd")
        write_segmentation(tmp / "tumour.seg.nrrd", {"Tumour": phantom.t2w_tumour_mask > 0}, phantom.t2w_geometry)
        np.savetxt(tmp / "times_s.txt", phantom.series.times_s, fmt="%.6f")
        truth = tmp / "truth"
        truth.mkdir()
        g = phantom.series.geometry
        for name in ("a_brix", "k_ep", "k_el"):
            write_volume(getattr(phantom, name), g, truth / f"{name}.nrrd")
        write_volume(phantom.hypoxic_mask.astype(np.uint8), g, truth / "hypoxic_mask.nrrd")
        write_volume(phantom.tumour_mask.astype(np.uint8), g, truth / "tumour_mask.nrrd")
        write_json(phantom.truth(), truth / "truth.json")
    return Path(out_dir)
