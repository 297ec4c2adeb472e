"""Reading the inputs of the heterogeneity analyses: ``image`` output folders and gene score tables.

An ``image`` output folder (one per patient) holds ``summary.json``, ``slices.csv``, ``a_brix.nrrd`` and
``tumour_mask.nrrd`` (see :mod:`imaging_outputs`). A cohort is a list of such folders, or of folders containing
them (one level down); the patient's ID is the folder's name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Union

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io.results_schema import SUMMARY_JSON
from ..rules import A_THRESHOLD, HF_CUTOFF, at_or_above
from .analysis import TumourSlice
from .variance import long_table_from_frame

SLICE_COLUMNS = ("slice", "k_index", "voxels", "fitted", "hypoxic", "is_biopsy_slice")
SLICE_CHOICES = ("biopsy", "largest")


@dataclass
class ImageResult:
    """One patient's ``image`` results as read from its folder.

    Attributes
    ----------
    patient : str
        The folder's name.
    folder : Path
    summary : dict
        ``summary.json`` (a :class:`~HypoxiaMarkersLib.io.results_schema.ResultDict`: only declared keys can be
        looked up).
    slices : DataFrame
        ``slices.csv`` (one row per tumour slice, slice 1 = most caudal).
    """

    patient: str
    folder: Path
    summary: dict
    slices: pd.DataFrame

    @property
    def hf_cutoff(self) -> float:
        return float(self.summary.get("parameters", {}).get("hf_cutoff", HF_CUTOFF))

    @property
    def a_threshold(self) -> float:
        return float(self.summary.get("parameters", {}).get("a_threshold", A_THRESHOLD))


def find_image_folders(paths: Sequence[Union[str, Path]]) -> List[Path]:
    """The ``image`` output folders among ``paths``: each path is one, or a folder whose subfolders are.

    Raises
    ------
    InputError
        A path that does not exist or holds no image results, or two patients with the same folder name.
    """
    folders: List[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            raise InputError("not a folder", source=str(path), expected="an image output folder or a cohort folder")
        if (path / "summary.json").is_file():
            folders.append(path)
            continue
        inside = sorted(p for p in path.iterdir() if p.is_dir() and (p / "summary.json").is_file())
        if not inside:
            raise InputError("no image results here", source=str(path),
                             expected="summary.json and slices.csv, or subfolders holding them")
        folders.extend(inside)
    names = [f.name for f in folders]
    seen = set()
    for name, folder in zip(names, folders):
        if name in seen:
            raise InputError(f"two image folders are named {name}", source=str(folder),
                             expected="one folder per patient with a unique name")
        seen.add(name)
    return folders


def read_image_result(folder: Union[str, Path]) -> ImageResult:
    """Read ``summary.json`` and ``slices.csv`` of one ``image`` output folder and check they agree."""
    folder = Path(folder)
    summary_path = folder / "summary.json"
    slices_path = folder / "slices.csv"
    for path in (summary_path, slices_path):
        if not path.is_file():
            raise InputError("missing", source=str(path), expected="the output of hypoxia-markers image")
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise InputError(f"not valid JSON ({error})", source=str(summary_path)) from None
    if not isinstance(summary, dict):
        raise InputError("not a JSON object", source=str(summary_path))
    summary = SUMMARY_JSON.load(summary, str(summary_path))  # a required key missing: which, and who wrote it
    try:
        slices = pd.read_csv(slices_path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read the table: {error}", source=str(slices_path)) from None
    missing = [c for c in SLICE_COLUMNS if c not in slices.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}", source=str(slices_path), field=missing[0],
                         expected=f"columns {', '.join(SLICE_COLUMNS)}")
    if slices.empty:
        raise InputError("no tumour slice", source=str(slices_path), expected="one row per tumour slice")
    for column in ("slice", "k_index", "voxels", "fitted", "hypoxic"):
        values = pd.to_numeric(slices[column], errors="coerce")
        if values.isna().any() or np.any(values != np.round(values)) or np.any(values < 0):
            row = int(np.flatnonzero((values.isna() | (values != np.round(values)) | (values < 0)).to_numpy())[0])
            raise InputError(f"'{slices[column].iloc[row]}' is not a count", source=str(slices_path),
                             field=f"{column}, data row {row + 1}", expected="a whole number >= 0")
        slices[column] = values.astype(int)
    slices["is_biopsy_slice"] = _booleans(slices["is_biopsy_slice"], slices_path)
    if np.any(slices["hypoxic"] > slices["fitted"]) or np.any(slices["fitted"] > slices["voxels"]):
        raise InputError("counts do not add up", source=str(slices_path), expected="hypoxic <= fitted <= voxels")
    for key, column in (("n_fitted", "fitted"), ("n_hypoxic", "hypoxic"), ("n_tumour_voxels", "voxels")):
        if key in summary and summary[key] is not None and int(summary[key]) != int(slices[column].sum()):
            raise InputError(
                f"summary.json says {key} = {summary[key]} but slices.csv adds up to {int(slices[column].sum())}",
                source=str(folder), expected="summary.json and slices.csv from the same run",
            )
    inputs = summary.get("inputs")  # a batch records the patient's ID (its folder name may escape characters)
    patient = inputs.get("patient") if isinstance(inputs, dict) and isinstance(inputs.get("patient"), str) else None
    return ImageResult(patient=patient or folder.name, folder=folder, summary=summary, slices=slices)


def cohort_slices(results: Sequence[ImageResult], *, biopsy_slice: Optional[int] = None) -> pd.DataFrame:
    """One table of all patients' slices (input of :func:`heterogeneity.slice_heterogeneity`).

    Parameters
    ----------
    results : sequence of ImageResult
    biopsy_slice : int, optional
        Use this slice number (1 = most caudal) as every patient's biopsy slice instead of the one chosen when
        the images were analysed; a patient with fewer slices then has no biopsy slice.
    """
    tables = []
    for result in results:
        table = result.slices[["slice", "k_index", "voxels", "fitted", "hypoxic", "is_biopsy_slice"]].copy()
        if biopsy_slice is not None:
            table["is_biopsy_slice"] = table["slice"] == int(biopsy_slice)
        table.insert(0, "patient", result.patient)
        table["hf_cutoff"] = result.hf_cutoff
        tables.append(table)
    if not tables:
        raise InputError("no image results", expected="one or more image output folders")
    return pd.concat(tables, ignore_index=True)


def load_tumour_slice(
    result: ImageResult, which: Union[str, int] = "biopsy", *, a_threshold: Optional[float] = None
) -> TumourSlice:
    """The A_Brix map and tumour mask of one slice of a patient, for virtual biopsies.

    Parameters
    ----------
    result : ImageResult
    which : "biopsy", "largest" or int
        The biopsy slice of the image results (default), the slice with most tumour voxels, or a slice number
        (1 = most caudal).
    a_threshold : float, optional
        Hypoxic when A_Brix < a_threshold; default: the patient's own threshold from ``summary.json``
        (:data:`rules.A_THRESHOLD` when it has none).
    """
    from ..io.volumes import find_volume, read_volume

    slices = result.slices
    if which == "biopsy":
        chosen = slices[slices["is_biopsy_slice"]]
        if len(chosen) != 1:
            raise InputError(f"{len(chosen)} biopsy slices", source=str(result.folder / "slices.csv"),
                             field="is_biopsy_slice", expected="exactly one")
    elif which == "largest":
        chosen = slices.loc[[slices["voxels"].idxmax()]]
    else:
        chosen = slices[slices["slice"] == int(which)]
        if chosen.empty:
            raise InputError(f"patient {result.patient} has no slice {which}", source=str(result.folder),
                             expected=f"a slice number from 1 to {int(slices['slice'].max())}")
    row = chosen.iloc[0]
    a_path, mask_path = find_volume(result.folder, "a_brix"), find_volume(result.folder, "tumour_mask")
    for path in (a_path, mask_path):
        if not path.is_file():
            raise InputError("missing", source=str(path), expected="the output of hypoxia-markers image")
    try:
        a_brix, geometry = read_volume(a_path)
        mask, mask_geometry = read_volume(mask_path)
    except RuntimeError as error:
        raise InputError(f"cannot read the volume: {str(error).strip().splitlines()[-1]}",
                         source=str(result.folder)) from None
    if a_brix.ndim != 3 or a_brix.shape != mask.shape or not geometry.same_grid(mask_geometry):
        raise InputError("a_brix.nrrd and tumour_mask.nrrd are not on the same 3D grid", source=str(result.folder))
    k = int(row["k_index"])
    if not 0 <= k < a_brix.shape[0]:
        raise InputError(f"k_index {k} is outside the volume ({a_brix.shape[0]} slices)",
                         source=str(result.folder / "slices.csv"), field="k_index")
    tumour = mask[k] > 0
    if int(tumour.sum()) != int(row["voxels"]):
        raise InputError(
            f"slice {int(row['slice'])} has {int(tumour.sum())} tumour voxels in tumour_mask.nrrd but "
            f"{int(row['voxels'])} in slices.csv", source=str(result.folder),
            expected="the maps and tables of one image run",
        )
    return TumourSlice(
        patient=result.patient,
        a_brix=np.asarray(a_brix[k], dtype=float),
        tumour_mask=tumour,
        spacing=(float(geometry.spacing[1]), float(geometry.spacing[0])),
        a_threshold=result.a_threshold if a_threshold is None else float(a_threshold),
        slice=int(row["slice"]),
        k_index=k,
    )


def read_biopsy_scores(
    path: Union[str, Path],
    *,
    tumour_column: str = "patient",
    value_column: str = "hypoxia_score",
    cutoff: Optional[float] = None,
) -> pd.DataFrame:
    """Per-biopsy gene scores (e.g. the ``genes`` command's per-sample CSV) as columns ``tumour``, ``value``.

    Rows without a score are dropped and counted (``attrs['n_missing']``). When the table has a
    ``classification`` column and ``cutoff`` is given, the calls must be those of ``score >= cutoff``: otherwise
    the cutoff is not the signature's and the agreement of calls would be misleading, so this is an error.
    """
    from ..io.tables import read_table

    path = Path(path)
    raw = read_table(path, text=True, what="table of biopsy scores")
    table = long_table_from_frame(raw, tumour_column, value_column, source=str(path))
    if cutoff is not None and "classification" in raw.columns:
        scored = pd.to_numeric(raw[value_column].str.strip(), errors="coerce")
        keep = scored.notna().to_numpy()
        calls = raw["classification"].astype(str).str.strip().to_numpy()[keep]
        high = at_or_above(scored[keep], cutoff)
        overlap = set(calls[high]) & set(calls[~high])
        if overlap:
            raise InputError(
                f"the classification column does not follow score >= {cutoff:g} (label '{sorted(overlap)[0]}' is "
                "on both sides)", source=str(path), field="classification",
                expected="--gene-cutoff equal to the signature's cutoff",
            )
    return table


def _booleans(series: pd.Series, source: Path) -> pd.Series:
    text = series.astype(str).str.strip().str.lower()
    mapping = {"1": True, "0": False, "true": True, "false": False, "yes": True, "no": False}
    values = text.map(mapping)
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise InputError(f"'{series.iloc[row]}' is not true/false", source=str(source),
                         field=f"is_biopsy_slice, data row {row + 1}", expected="1/0 or true/false")
    return values.astype(bool)
