"""The section of a synthetic cohort's report (the demo) that compares what the pipeline recovered with the truth:
whole-tumour hypoxic fraction (recovered against true, identity line, errors) and groups 1–4 (true against
recovered).

Only a batch whose ``batch.json`` says ``parameters.synthetic: true`` gets it (:attr:`BatchFolder.synthetic`); the
truth is the table named by ``parameters.truth_table`` (the demo's ``data/truth.csv``: ``patient``,
``hypoxic_fraction``, ``gene_score``, ``group``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import numpy as np
import pandas as pd

from .context import Context
from .figure_files import new_figure, save_figure
from .formats import DASH

if TYPE_CHECKING:
    from .page import Page


def _error(value: float, sign: bool = False) -> str:
    """An error of HF with three decimals (errors are small: two would round most of them to 0.01 or 0.02)."""
    return (f"{value:+.3f}" if sign else f"{value:.3f}") if np.isfinite(value) else DASH


@dataclass
class TruthComparison:
    """Recovered against true values of a synthetic cohort.

    Attributes
    ----------
    fractions : DataFrame
        ``patient``, ``true_hf``, ``recovered_hf`` of every patient in both tables.
    mean_abs_error, max_abs_error, bias, rmse : float
        Of recovered − true HF (NaN without patients).
    groups : DataFrame
        Counts of true group (rows 1–4) against recovered group (columns 1–4).
    n_same_group, n_grouped : int
        Patients whose recovered group is their true group, and patients with both groups.
    """

    fractions: pd.DataFrame
    mean_abs_error: float
    max_abs_error: float
    bias: float
    rmse: float
    groups: pd.DataFrame
    n_same_group: int
    n_grouped: int


def compare_with_truth(truth: pd.DataFrame, cohort_table: Optional[pd.DataFrame],
                       cohort_patients: Optional[pd.DataFrame]) -> TruthComparison:
    """Match the truth table with the recovered whole-tumour HF (``cohort_table.csv``) and groups
    (``cohort/patients.csv``) by patient."""
    truth = truth.assign(patient=truth["patient"].astype(str))
    fractions = pd.DataFrame(columns=["patient", "true_hf", "recovered_hf"])
    if cohort_table is not None and {"patient", "hypoxic_fraction"} <= set(cohort_table.columns):
        recovered = cohort_table[["patient", "hypoxic_fraction"]].astype({"patient": str})
        fractions = truth[["patient", "hypoxic_fraction"]].rename(columns={"hypoxic_fraction": "true_hf"}).merge(
            recovered.rename(columns={"hypoxic_fraction": "recovered_hf"}), on="patient")
        fractions = fractions.apply(lambda c: pd.to_numeric(c, errors="coerce") if c.name != "patient" else c)
        fractions = fractions.dropna().reset_index(drop=True)
    error = (fractions["recovered_hf"] - fractions["true_hf"]).to_numpy(dtype=float)
    if error.size:
        mae, worst, bias, rmse = (float(np.mean(np.abs(error))), float(np.max(np.abs(error))),
                                  float(np.mean(error)), float(np.sqrt(np.mean(error ** 2))))
    else:
        mae = worst = bias = rmse = float("nan")
    groups = pd.DataFrame(0, index=pd.Index([1, 2, 3, 4], name="true group"),
                          columns=pd.Index([1, 2, 3, 4], name="recovered group"))
    same = grouped = 0
    if cohort_patients is not None and {"id", "group"} <= set(cohort_patients.columns) and "group" in truth:
        pairs = truth[["patient", "group"]].merge(
            cohort_patients[["id", "group"]].astype({"id": str}).rename(columns={"id": "patient"}), on="patient",
            suffixes=("_true", "_recovered"))
        pairs = pairs[["group_true", "group_recovered"]].apply(pd.to_numeric, errors="coerce").dropna().astype(int)
        for (t, r), count in pairs.value_counts().items():
            if t in groups.index and r in groups.columns:
                groups.loc[t, r] = int(count)
        grouped = int(groups.to_numpy().sum())
        same = int(np.trace(groups.to_numpy()))
    return TruthComparison(fractions=fractions, mean_abs_error=mae, max_abs_error=worst, bias=bias, rmse=rmse,
                           groups=groups, n_same_group=same, n_grouped=grouped)


def plot_recovered_against_true(comparison: TruthComparison, path: Path) -> Path:
    """Recovered against true whole-tumour HF per patient, with the identity line and the error numbers."""
    f = comparison.fractions
    figure = new_figure((5.2, 5.0))
    ax = figure.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], color="0.5", linewidth=1, label="identity (recovered = true)")
    ax.scatter(f["true_hf"], f["recovered_hf"], s=20, color="#2471a3", label=f"patients (n = {len(f)})", zorder=3)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_aspect("equal")
    ax.set_xlabel("True hypoxic fraction of the phantom (0–1)")
    ax.set_ylabel("Recovered hypoxic fraction (0–1)")
    ax.text(0.98, 0.03, f"mean |error| = {_error(comparison.mean_abs_error)}\nmax |error| = "
                        f"{_error(comparison.max_abs_error)}\nbias = {_error(comparison.bias, True)}",
            transform=ax.transAxes, ha="right", va="bottom", fontsize=9)
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    return save_figure(figure, path)


def section_truth(page: Page, ctx: Context) -> None:
    """'Synthetic data: recovered against true values' (only for a batch that says its data are synthetic)."""
    batch = ctx.batch
    if not batch.synthetic:
        return
    page.start("truth", "Synthetic data: recovered against true values")
    page.text("The data of this report are synthetic (batch.json: synthetic = true, as the demo writes it): "
              "phantom DCE-MRI series, expression and outcomes drawn from a model with known truth. No number here "
              "describes patients.")
    path = batch.truth_table
    if path is None or not path.is_file():
        page.missing(f"the truth table ({path or 'batch.json names none'}) was not found: recovered values cannot "
                     "be compared with the truth")
        return
    truth = pd.read_csv(path)
    comparison = compare_with_truth(truth, batch.cohort_table, batch.cohort_patients)
    rows = [["truth table", str(path)], ["patients compared (HF)", str(len(comparison.fractions))],
            ["mean absolute error of HF", _error(comparison.mean_abs_error)],
            ["largest absolute error of HF", _error(comparison.max_abs_error)],
            ["bias of HF (recovered − true, mean)", _error(comparison.bias, True)],
            ["root mean square error of HF", _error(comparison.rmse)],
            ["patients in their true group", f"{comparison.n_same_group} of {comparison.n_grouped}"]]
    page.table(["", ""], rows, table_id="table-truth",
               caption="Recovered whole-tumour hypoxic fraction (cohort_table.csv) against the phantom's true one "
                       "(truth.csv, over the phantom's own tumour, while the pipeline analyses the mask drawn on "
                       "T2W), and recovered against true groups 1–4.")
    if len(comparison.fractions):
        caption = (f"Recovered against true whole-tumour hypoxic fraction of n = {len(comparison.fractions)} "
                   f"synthetic patients; grey: identity. Mean absolute error {_error(comparison.mean_abs_error)}, "
                   f"largest {_error(comparison.max_abs_error)}, bias {_error(comparison.bias, True)}."
                   + ctx.seed_text)
        page.figure("truth_hypoxic_fraction", "Synthetic data: recovered against true hypoxic fraction", caption,
                    lambda out: plot_recovered_against_true(comparison, out))
    if comparison.n_grouped:
        g = comparison.groups
        page.table(["true group \\ recovered group"] + [str(c) for c in g.columns],
                   [[str(t)] + [str(int(v)) for v in g.loc[t]] for t in g.index], table_id="table-truth-groups",
                   caption=f"Groups 1–4 (1: more hypoxic by both, 2: by genes only, 3: less hypoxic by both, 4: by "
                           f"imaging only): true (truth.csv, from the true HF and score) against recovered "
                           f"(cohort/patients.csv). {comparison.n_same_group} of {comparison.n_grouped} patients "
                           f"({comparison.n_same_group / comparison.n_grouped:.0%}) are in their true group.")
