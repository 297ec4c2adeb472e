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


def fmt_hr_reason(cox: Any) -> str:
    """A hazard ratio from the results JSON, or the reason it is not estimable (never a number that is not an
    estimate: the JSON has null for it and ``not_estimable_reason``)."""
    cox = cox or {}
    if cox.get("estimable") is False:
        return str(cox.get("not_estimable_reason") or "not estimable")
    return fmt_hr(cox.get("hr"))


def hr_text(entry: Any) -> str:
    """'HR 2.10 (1.20–3.70)' of a marker's dichotomised Cox model, or why it is not estimable; for a searched line
    with an optimism correction the corrected HR first and the apparent one labelled as such."""
    entry = entry or {}
    cox = entry.get("cox_dichotomous") or {}
    if cox.get("estimable") is False:
        return f"HR {fmt_hr_reason(cox)}"
    text = f"HR {fmt_hr(cox.get('hr'))} ({fmt_ci(cox.get('ci_low'), cox.get('ci_high'))})"
    corrected = (entry.get("optimism") or {}).get("corrected_hr")
    if _finite(corrected):
        return f"optimism-corrected HR {fmt_hr(corrected)}; apparent {text} (optimistic: the line was searched)"
    return text


def p_text(entry: Any) -> str:
    """The headline p of a marker from the results JSON: adjusted for the search first when the cutoff (or line)
    was chosen from the data, then the naive log-rank p labelled as unadjusted; else the log-rank p."""
    entry = entry or {}
    cutoff = entry.get("cutoff") or {}
    naive = fmt_p((entry.get("logrank") or {}).get("p"))
    searched = entry.get("cutoffs_searched")  # the both-rule when its imaging/gene cutoffs were searched
    if searched and not cutoff.get("selected_from_data"):
        return f"no adjusted p; log-rank p (unadjusted for the search of the {' and '.join(searched)} cutoff) = {naive}"
    if not cutoff.get("selected_from_data"):
        return f"log-rank p = {naive}"
    if not _finite(cutoff.get("p_headline")):
        return f"no adjusted p; log-rank p (unadjusted for the cutoff search) = {naive}"
    return (f"{cutoff.get('p_headline_label')} = {fmt_p(cutoff.get('p_headline'))}; "
            f"log-rank p (unadjusted for the cutoff search) = {naive}")


def figure_annotation(entry: Any) -> str:
    """:func:`hr_text` and :func:`p_text` one statement per line, for the corner of a Kaplan-Meier figure."""
    return f"{hr_text(entry)}; {p_text(entry)}".replace("; ", "\n")
