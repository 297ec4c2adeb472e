"""How the report prints numbers: hazard ratios, intervals, p-values, fractions, counts ('–' when missing)."""

from __future__ import annotations

from typing import Any

from .batch_folder import is_finite_number as _finite

DASH = "–"


def fmt_hr(value: Any) -> str:
    """A hazard ratio (or any ratio shown with it): 2 decimals; '–' when missing."""
    return f"{float(value):.2f}" if _finite(value) else DASH


def fmt_ci(low: Any, high: Any) -> str:
    """A confidence interval of a ratio: 'low–high', 2 decimals each."""
    return f"{fmt_hr(low)}{DASH}{fmt_hr(high)}" if _finite(low) and _finite(high) else DASH


def fmt_p(value: Any) -> str:
    """A p-value: 3 significant digits; '–' when missing."""
    if not _finite(value):
        return DASH
    value = float(value)
    return "< 1e-300" if value == 0 else f"{value:.3g}"


def fmt_num(value: Any, digits: int = 3) -> str:
    """Any other statistic: ``digits`` significant digits."""
    return f"{float(value):.{digits}g}" if _finite(value) else DASH


def fmt_frac(value: Any) -> str:
    """A fraction or share (HF, W/T, survival): 2 decimals."""
    return f"{float(value):.2f}" if _finite(value) else DASH


def fmt_int(value: Any) -> str:
    return str(int(value)) if _finite(value) else DASH
