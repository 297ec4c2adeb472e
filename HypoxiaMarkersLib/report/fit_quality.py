"""The report's per-patient fit quality: poor fits counted, the hypoxic fraction with and without them, the share
of the tumour mask outside the DCE series, and every warning of the image analysis (``summary.json``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List

from ..rules import THRESHOLDS_SOURCE
from .formats import DASH, fmt_frac, fmt_int

if TYPE_CHECKING:
    from .page import Page


def fit_quality_row(patient: str, summary: Dict[str, Any]) -> List[str]:
    """One row of the fit-quality table from a patient's ``summary.json`` ('–' where an older result lacks it)."""
    q = summary.get("fit_quality") or {}
    share = q.get("share_poor")
    outside = (summary.get("inputs") or {}).get("mask_share_outside_dce")
    return [patient, fmt_int(q.get("n_fitted")), fmt_int(q.get("n_at_bound")),
            f"{fmt_int(q.get('n_low_r2'))}" + (f" (R² < {q['r2_threshold']:g})" if q.get("r2_threshold") else ""),
            DASH if share is None else f"{100 * float(share):.0f} %",
            fmt_frac(q.get("hypoxic_fraction_all_fits")), fmt_frac(q.get("hypoxic_fraction_good_fits")),
            str(q.get("excluded", DASH)), DASH if outside is None else f"{100 * float(outside):.1f} %",
            " | ".join(str(w) for w in summary.get("warnings") or []) or "none"]


def fit_quality_table(page: Page, images: Dict[str, Any]) -> None:
    """The fit-quality table of every patient with image results (table id ``table-fit-quality``)."""
    rows = [fit_quality_row(patient, image.summary or {}) for patient, image in images.items()]
    if not rows:
        return
    page.table(["patient", "fitted", "at a bound", "low R²", "poor fits", "HF over every fit", "HF over good fits",
                "left out of the HF", "mask outside the DCE", "warnings"], rows, table_id="table-fit-quality",
               caption="Fit quality per tumour: voxels whose Brix fit ended on a parameter bound or has a low R² "
                       "(they overlap; poor = either). By default every fit counts in the hypoxic fraction, as "
                       "published; the fraction over the good fits shows how much it depends on the poor ones. Low "
                       f"R² is expected in weakly enhancing, hypoxic voxels. {THRESHOLDS_SOURCE}.")
