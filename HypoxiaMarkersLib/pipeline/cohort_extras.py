"""The cohort stage's analyses beyond survival (issue 12): why imaging and genes disagree, gene score against
tumour-cell fraction, and the imaging–gene association in training and validation patients.

Optional columns of the cohort table, each found by its name or, when not named, by the first of its usual names
that the table has (the names the ``batch`` command writes):

=====================  ===========================  ==================================================
setting (option)       usual names                  used for
=====================  ===========================  ==================================================
``tumour_volume``      tumour_volume_ml,            tumour volume by group
                       tumor_volume_ml
``biopsy_slice_hf``    biopsy_slice_hf              imaging from the biopsy slice
``n_biopsies``         n_biopsies                   same/different status by the number of biopsies
``cell_fraction``      tumour_cell_fraction,        gene score against tumour-cell fraction
                       tumor_cell_fraction
``validation``         (only when named)            all / training / validation association
=====================  ===========================  ==================================================

An analysis whose column is absent is recorded as ``{"not_computed": reason}``; a named column that is absent is
an error. The validation column may also come from a separate table (``--validation-table``: the patient id
column, named as in the cohort table, and the validation column), e.g. the list of patients the gene signature was
built on; every analysed patient must be in it.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from ..errors import InputError

USUAL_NAMES = {
    "tumour_volume": ("tumour_volume_ml", "tumor_volume_ml"),
    "biopsy_slice_hf": ("biopsy_slice_hf",),
    "n_biopsies": ("n_biopsies",),
    "cell_fraction": ("tumour_cell_fraction", "tumor_cell_fraction"),
    "validation": (),
}
OPTIONS = {"tumour_volume": "--tumour-volume", "biopsy_slice_hf": "--biopsy-slice-hf",
           "n_biopsies": "--n-biopsies", "cell_fraction": "--tumour-cell-fraction",
           "validation": "--validation-column"}
#: Per-patient values behind the figures of these analyses (``disagreement_patients.csv``).
PATIENT_FILE = "disagreement_patients.csv"
TRUE_WORDS = {"1", "1.0", "true", "yes", "y", "validation", "test"}
FALSE_WORDS = {"0", "0.0", "false", "no", "n", "training", "train"}


def find_column(table: pd.DataFrame, setting: str, named: Optional[str], source: str) -> Optional[str]:
    """The column of ``setting``: ``named`` (an error if absent), else the first usual name present, else None."""
    if named:
        if named not in table.columns:
            raise InputError(f"column {named!r} not found", source=source, field=OPTIONS[setting],
                             expected="one of " + ", ".join(map(str, table.columns)))
        return named
    return next((name for name in USUAL_NAMES[setting] if name in table.columns), None)


def numeric_column(table: pd.DataFrame, column: str, source: str, option: str) -> np.ndarray:
    """A column as floats (empty cells NaN); text that is not a number is an error naming its row."""
    values = pd.to_numeric(table[column], errors="coerce")
    bad = values.isna() & table[column].notna() & (table[column].astype(str).str.strip() != "")
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"{table[column].iloc[row]!r} is not a number", source=source,
                         field=f"{column} ({option}), row {row + 2}", expected="a number or an empty cell")
    return values.to_numpy(dtype=float)


def validation_mask(series: pd.Series, column: str, source: str) -> np.ndarray:
    """True for validation patients: 1/true/yes/validation/test; False: 0/false/no/training/train (any case).

    Anything else, an empty cell included, is an error naming the row: a patient of unknown set must not
    silently fall into one of them.
    """
    words = series.astype(str).str.strip().str.lower()
    known = words.isin(TRUE_WORDS | FALSE_WORDS) & series.notna()
    if not known.all():
        row = int(np.flatnonzero(~known.to_numpy())[0])
        raise InputError(f"{series.iloc[row]!r} does not say training or validation", source=source,
                         field=f"{column} (--validation-column), row {row + 2}",
                         expected="1/true/yes/validation for validation patients, 0/false/no/training otherwise")
    return words.isin(TRUE_WORDS).to_numpy(dtype=bool)


def validation_from_table(path: str, id_column: str, column: str, ids: Sequence[str]) -> np.ndarray:
    """The validation mark of each of ``ids`` from a separate table with the id column and ``column``."""
    from ..io.tables import read_table

    table = read_table(path, text=True, required=[id_column, column], rows_required=True, what="validation table")
    keys = table[id_column].astype(str).str.strip()
    repeated = sorted(set(keys[keys.duplicated()]))
    if repeated:
        raise InputError(f"patient(s) {', '.join(repeated[:5])} listed twice", source=path, field=id_column,
                         expected="one row per patient")
    marks = pd.Series(validation_mask(table[column], column, path), index=keys.to_numpy())
    missing = [i for i in ids if i not in marks.index]
    if missing:
        raise InputError(f"patient(s) {', '.join(missing[:5])} of the cohort table not found"
                         + (f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""), source=path,
                         field=id_column, expected="every analysed patient of the cohort table, marked training or "
                                                   "validation")
    return marks.loc[list(ids)].to_numpy(dtype=bool)


def _not_computed(setting: str, option_hint: Sequence[str]) -> dict:
    names = ", ".join(option_hint) if option_hint else "none"
    return {"not_computed": f"the cohort table has no column for it (name one with {OPTIONS[setting]}; "
                            f"looked for: {names})"}


def extra_analyses(table: pd.DataFrame, patients: pd.DataFrame, *, columns: Dict[str, Optional[str]],
                   imaging_cutoff: float, gene_cutoff: float, source: str, conf_level: float = 0.95,
                   validation_table: Optional[str] = None,
                   id_column: str = "patient") -> Tuple[Dict[str, object], pd.DataFrame]:
    """The issue-12 analyses of a cohort table whose rows match ``patients`` (``analyse_cohort``'s).

    Parameters
    ----------
    table : DataFrame
        The cohort table as read.
    patients : DataFrame
        ``CohortResult.patients`` (same rows as ``table``): ``included``, ``imaging``, ``genes``,
        ``imaging_high``, ``genes_high``, ``group``.
    columns : dict
        Setting name (keys of :data:`USUAL_NAMES`) → column named by the user or None (usual names).
    imaging_cutoff, gene_cutoff : float
        The cutoffs the cohort statistics used.
    source : str
        The table's path, for messages.
    validation_table, id_column : str, optional
        A separate table holding ``columns['validation']`` by patient id (the cohort table's ``id_column``).

    Returns
    -------
    results : dict
        ``disagreement``, ``gene_score_vs_tumour_cell_fraction``, ``training_validation`` and ``columns``
        (which column each analysis used).
    per_patient : DataFrame
        One row per included patient: id, group, same_status and the values used (for the figures).
    """
    from ..stats.cell_fraction import gene_score_vs_cell_fraction
    from ..stats.disagreement import (
        agreement_by_biopsies,
        biopsy_slice_imaging,
        inconsistency_by_imaging,
        same_status,
        volume_by_group,
    )
    from ..stats.validation import split_association

    found = {setting: find_column(table, setting, columns.get(setting), source) for setting in USUAL_NAMES
             if setting != "validation" or not validation_table}
    if validation_table:
        if not columns.get("validation"):
            raise InputError("a validation table needs the column that marks the validation patients",
                             source="--validation-table", field="--validation-column",
                             expected="--validation-column COL together with --validation-table FILE")
        found["validation"] = columns["validation"]
    included = patients["included"].to_numpy(dtype=bool)
    rows = table.loc[included].reset_index(drop=True)
    imaging = patients.loc[included, "imaging"].to_numpy(dtype=float)
    genes = patients.loc[included, "genes"].to_numpy(dtype=float)
    imaging_high = patients.loc[included, "imaging_high"].to_numpy(dtype=bool)
    genes_high = patients.loc[included, "genes_high"].to_numpy(dtype=bool)
    group = patients.loc[included, "group"].to_numpy(dtype=int)
    same = same_status(imaging_high, genes_high)
    per_patient = pd.DataFrame({"id": patients.loc[included, "id"].to_numpy(), "group": group,
                                "same_status": same, "imaging": imaging, "genes": genes})

    def values(setting: str) -> Optional[np.ndarray]:
        column = found[setting]
        if column is None:
            return None
        numbers = numeric_column(rows, column, source, OPTIONS[setting])
        per_patient[setting] = numbers
        return numbers

    disagreement: Dict[str, object] = {
        "same_status_rule": "same status = groups 1 and 3; different = groups 2 and 4",
        "inconsistency_by_imaging": inconsistency_by_imaging(imaging_high, genes_high,
                                                             conf_level=conf_level).to_dict(),
    }
    volume = values("tumour_volume")
    disagreement["tumour_volume_by_group"] = (volume_by_group(volume, group).to_dict() if volume is not None
                                              else _not_computed("tumour_volume", USUAL_NAMES["tumour_volume"]))
    slice_hf = values("biopsy_slice_hf")
    disagreement["biopsy_slice_imaging"] = (
        biopsy_slice_imaging(imaging, slice_hf, genes, hf_cutoff=imaging_cutoff, gene_cutoff=gene_cutoff,
                             conf_level=conf_level).to_dict()
        if slice_hf is not None else _not_computed("biopsy_slice_hf", USUAL_NAMES["biopsy_slice_hf"]))
    n_biopsies = values("n_biopsies")
    disagreement["agreement_by_number_of_biopsies"] = (
        agreement_by_biopsies(n_biopsies, same, conf_level=conf_level).to_dict()
        if n_biopsies is not None else _not_computed("n_biopsies", USUAL_NAMES["n_biopsies"]))
    fraction = values("cell_fraction")
    cell = (gene_score_vs_cell_fraction(genes, fraction, column=found["cell_fraction"]).to_dict()
            if fraction is not None else _not_computed("cell_fraction", USUAL_NAMES["cell_fraction"]))
    if found["validation"] is not None:
        if validation_table:
            ids = [str(i).strip() for i in per_patient["id"]]
            validation = validation_from_table(validation_table, id_column, found["validation"], ids)
        else:
            validation = validation_mask(rows[found["validation"]], found["validation"], source)
        per_patient["validation"] = validation
        split = split_association(imaging, genes, imaging_high, genes_high, validation,
                                  column=found["validation"], conf_level=conf_level).to_dict()
        split["table"] = validation_table or source
    else:
        split = {"not_computed": "no validation column named (--validation-column)"}
    results = {"disagreement": disagreement, "gene_score_vs_tumour_cell_fraction": cell,
               "training_validation": split, "columns": found}
    return results, per_patient
