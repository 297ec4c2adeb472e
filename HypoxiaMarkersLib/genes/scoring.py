"""The gene biomarker: a signature score (default: the 6-gene hypoxia score) per sample, per patient, per new patient.

Method (SPEC §2; Fjeldbo et al., EBioMedicine 2020;57:102841): for each signature gene take one log2 value per
sample (the probe with the highest mean expression when several measure the gene), centre it on the gene's
reference value (default: the gene's median over the cohort being scored), and average the centred values with
the signature's weights (all +1 for the hypoxia signature):

    score(sample) = sum_g w_g * (x_g,sample - reference_g) / sum_g |w_g|

score >= cutoff (0) -> "more hypoxic", else "less hypoxic". Reference values can be stored in a signature file
(:func:`signature_with_reference`, :func:`~HypoxiaMarkersLib.genes.signatures.save_signature`) so that a single new
patient is scored against a reference cohort (:func:`score_single_sample`).

Reading files is in :mod:`.expression` (one module per format in :mod:`.formats`), signatures in
:mod:`.signatures`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd

from .. import __version__
from ..errors import InputError
from ..rules import at_or_above

# read_expression, read_patient_map, read_probe_map, ORIENTATIONS and save_signature are also imported from here
# by cli/commands/genes.py and slicer/logic.py (re-exports the lead can drop once those import them directly).
from .expression import expression_from_frame, read_expression  # noqa: F401
from .formats.annotations import read_patient_map, read_probe_map  # noqa: F401
from .formats.model import ORIENTATIONS, PROBE_ID_PATTERNS, ExpressionData  # noqa: F401
from .signatures import PROBE_SELECTIONS, Signature, load_signature, save_signature  # noqa: F401

#: Below this many samples, per-gene medians of the cohort are a shaky reference: a warning says so.
MIN_REFERENCE_SAMPLES = 10

REFERENCE_MODES = ("auto", "stored", "cohort")


@dataclass
class GeneScores:
    """Signature scores of a set of samples and everything needed to reproduce them.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per sample (index ``sample``), columns: ``hypoxia_score``, ``classification`` ("" when not
        scored), ``n_genes`` (genes averaged), then per signature gene ``centred_<GENE>`` (the centred value, for
        ``zscore_mean`` also divided by the scale), ``expression_<GENE>`` (the log2 value used) and
        ``reference_<GENE>``.
    reference : dict
        Gene → reference value used (log2).
    reference_scale : dict
        Gene → scale used (``zscore_mean`` only; empty otherwise).
    reference_source : str
        "cohort" (medians of the samples scored), "stored" (the signature file) or "given".
    n_reference_samples : int or None
        Samples behind a cohort reference.
    probes : dict
        Gene → row labels (probes) whose values were used.
    matched_names : dict
        Gene → the names under which it was found in the data (e.g. ``["ERO1L"]``).
    n_candidate_rows : dict
        Gene → how many rows matched it.
    missing_genes : dict
        Gene → names tried, for signature genes not found in the data.
    warnings : list of str
    signature : Signature
        The signature used (with any cutoff / probe-selection override applied).
    expression_source : str
    parameters : dict
        Every option used, defaults included.
    """

    table: pd.DataFrame
    reference: Dict[str, float]
    reference_scale: Dict[str, float]
    reference_source: str
    n_reference_samples: Optional[int]
    probes: Dict[str, List[str]]
    matched_names: Dict[str, List[str]]
    n_candidate_rows: Dict[str, int]
    missing_genes: Dict[str, List[str]]
    warnings: List[str]
    signature: Signature
    expression_source: str
    parameters: Dict[str, Any] = field(default_factory=dict)

    @property
    def genes_used(self) -> List[str]:
        return [g for g in self.signature.symbols if g in self.reference]

    def summary(self) -> Dict[str, Any]:
        """Counts per class and the gene-level facts, as plain data for a results JSON."""
        counts = self.table["classification"].replace("", "not scored").value_counts()
        return {
            "n_samples": int(len(self.table)),
            "classes": {str(k): int(v) for k, v in counts.items()},
            "reference_source": self.reference_source,
            "n_reference_samples": self.n_reference_samples,
            "genes": {
                gene: {
                    "reference": self.reference.get(gene),
                    "reference_scale": self.reference_scale.get(gene),
                    "probes": self.probes.get(gene, []),
                    "matched_names": self.matched_names.get(gene, []),
                    "n_candidate_rows": self.n_candidate_rows.get(gene, 0),
                    "weight": self.signature.gene(gene).weight,
                }
                for gene in self.genes_used
            },
            "missing_genes": self.missing_genes,
        }


@dataclass
class SingleSampleScore:
    """The score of one sample (e.g. one patient in Slicer) against stored reference values.

    Attributes
    ----------
    sample : str
    hypoxia_score : float
    classification : str
    n_genes : int
    centred, expression, reference : dict
        Gene → centred value, log2 value used, reference value.
    warnings : list of str
    scores : GeneScores
        The full result.
    """

    sample: str
    hypoxia_score: float
    classification: str
    n_genes: int
    centred: Dict[str, float]
    expression: Dict[str, float]
    reference: Dict[str, float]
    warnings: List[str]
    scores: GeneScores


def match_signature_rows(expression: ExpressionData, signature: Signature) -> Dict[str, pd.DataFrame]:
    """Rows of ``expression`` that measure each signature gene, by symbol or alias (case-insensitive).

    A row annotated with several symbols (``A /// B``, GEO style) is a candidate for each.

    Returns
    -------
    dict
        Gene symbol → DataFrame with columns ``row`` (row label) and ``name`` (the name that matched), in row
        order; genes without rows are absent.
    """
    symbols = expression.symbols.reindex(expression.values.index).fillna("").astype(str)
    names = symbols.str.split("///").explode().str.strip()
    lookup = {name.upper(): gene.symbol for gene in signature.genes for name in gene.names}
    gene_of = names.str.upper().map(lookup)
    hits = pd.DataFrame({"row": names.index, "name": names.to_numpy(), "gene": gene_of.to_numpy()}).dropna()
    hits = hits.drop_duplicates(["row", "gene"])
    return {gene: rows[["row", "name"]].reset_index(drop=True) for gene, rows in hits.groupby("gene", sort=False)}


def _resolve_reference_mode(reference: Union[None, str, Mapping[str, float]], signature: Signature) -> str:
    if reference is None or (isinstance(reference, str) and reference == "auto"):
        return "stored" if signature.has_reference else "cohort"
    if isinstance(reference, str):
        if reference not in REFERENCE_MODES:
            raise InputError(f"unknown reference {reference!r}", source="--reference",
                             expected=" or ".join(REFERENCE_MODES))
        if reference == "stored" and not signature.has_reference:
            raise InputError("the signature has no stored reference values", source=signature.source or "signature",
                             field="genes[].reference",
                             expected="a signature file written with --save-reference (or --reference cohort)")
        return reference
    return "given"


def _given_values(values: Optional[Mapping[str, float]], signature: Signature, what: str) -> Dict[str, float]:
    out: Dict[str, float] = {}
    for name, value in (values or {}).items():
        try:
            gene = signature.gene(str(name))
        except KeyError:
            raise InputError(f"{name!r} is not a gene of signature {signature.name}", source=what, field=str(name),
                             expected=", ".join(signature.symbols)) from None
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or not math.isfinite(
            float(value)
        ):
            raise InputError(f"{value!r} is not a finite number", source=what, field=str(name),
                             expected="a finite number")
        out[gene.symbol] = float(value)
    return out


def score_samples(
    expression: ExpressionData,
    signature: Optional[Signature] = None,
    *,
    reference: Union[None, str, Mapping[str, float]] = None,
    reference_scale: Optional[Mapping[str, float]] = None,
    allow_missing: bool = False,
    probe_selection: Optional[str] = None,
    cutoff: Optional[float] = None,
) -> GeneScores:
    """Score every sample of ``expression`` with ``signature`` (SPEC §2).

    Parameters
    ----------
    expression : ExpressionData
        Log2 values (from :func:`read_expression` or :func:`expression_from_frame`).
    signature : Signature, optional
        Default: the shipped 6-gene hypoxia signature.
    reference : None, "auto", "stored", "cohort" or mapping
        Values each gene is centred on. ``None``/``"auto"``: the signature's stored values when it has them, else
        the cohort's; ``"cohort"``: the per-gene median over the samples scored (needs >= 2 samples);
        ``"stored"``: the signature's; a mapping gene → value: those values.
    reference_scale : mapping, optional
        Gene → scale, with a mapping ``reference`` for method ``zscore_mean`` (default: the cohort's SD).
    allow_missing : bool
        Score on the genes present when some are missing from the data (or NaN in a sample), with a warning.
        Default: a missing gene is an error that lists the names tried, a NaN leaves the sample unscored.
    probe_selection : {"highest_mean", "average"}, optional
        Overrides the signature's rule for genes measured by several rows. With stored references the stored
        probes are used when present.
    cutoff : float, optional
        Overrides the signature's cutoff.

    Returns
    -------
    GeneScores
    """
    signature = _with_overrides(signature if signature is not None else load_signature(), cutoff, probe_selection)
    mode = _resolve_reference_mode(reference, signature)
    warnings: List[str] = list(expression.warnings)
    samples = list(expression.values.columns)

    rows = match_signature_rows(expression, signature)
    missing = _check_missing_genes(expression, signature, rows, allow_missing, warnings)
    genes = [g for g in signature.genes if g.symbol in rows]
    gene_values, probes = _gene_values(expression, signature, genes, rows, mode, warnings)
    symbols = [g.symbol for g in genes]
    ref, scale, n_reference = _references(gene_values, genes, signature, mode, reference, reference_scale,
                                          expression.source, samples, warnings)
    centred = (gene_values - ref[:, None]) / scale[:, None]
    score, n_genes = _weighted_scores(centred, np.array([g.weight for g in genes]), allow_missing)
    _warn_missing_values(~np.isfinite(centred), samples, symbols, allow_missing, warnings)

    table = pd.DataFrame({"hypoxia_score": score, "classification": classify_scores(score, signature),
                          "n_genes": n_genes}, index=pd.Index(samples, name="sample"))
    index_of = {s: k for k, s in enumerate(symbols)}
    for prefix, data in (("centred_", centred), ("expression_", gene_values), ("reference_", ref)):
        for gene in signature.symbols:
            # Every signature gene has its columns, NaN when missing, so the layout does not depend on the data.
            table[prefix + gene] = data[index_of[gene]] if gene in index_of else np.nan
    parameters = {
        "signature": signature.name,
        "signature_source": signature.source,
        "method": signature.method,
        "cutoff": signature.cutoff,
        "probe_selection": signature.probe_selection,
        "reference": mode,
        "allow_missing": bool(allow_missing),
        "weights": {g.symbol: g.weight for g in signature.genes},
    }
    zscore = signature.method == "zscore_mean"
    return GeneScores(
        table=table,
        reference=dict(zip(symbols, ref.tolist())),
        reference_scale=dict(zip(symbols, scale.tolist())) if zscore else {},
        reference_source=mode,
        n_reference_samples=n_reference,
        probes=probes,
        matched_names={g: sorted(set(rows[g]["name"])) for g in symbols},
        n_candidate_rows={g: int(len(rows[g])) for g in symbols},
        missing_genes=missing,
        warnings=warnings,
        signature=signature,
        expression_source=expression.source,
        parameters=parameters,
    )


def classify_scores(score: np.ndarray, signature: Signature) -> np.ndarray:
    """The signature's class label of each score (:func:`rules.at_or_above` its cutoff); "" where NaN."""
    high, low = signature.classes["at_or_above_cutoff"], signature.classes["below_cutoff"]
    score = np.asarray(score, dtype=float)
    return np.where(np.isnan(score), "", np.where(at_or_above(score, signature.cutoff), high, low))


def _with_overrides(signature: Signature, cutoff: Optional[float], probe_selection: Optional[str]) -> Signature:
    """The signature with the caller's cutoff and probe selection, checked."""
    if cutoff is not None:
        if not math.isfinite(float(cutoff)):
            raise InputError(f"cutoff {cutoff} is not finite", source="--cutoff", expected="a finite number")
        signature = replace(signature, cutoff=float(cutoff))
    if probe_selection is not None:
        if probe_selection not in PROBE_SELECTIONS:
            raise InputError(f"unknown probe selection {probe_selection!r}", source="--probe-selection",
                             expected=" or ".join(PROBE_SELECTIONS))
        signature = replace(signature, probe_selection=probe_selection)
    return signature


def _check_missing_genes(expression: ExpressionData, signature: Signature, rows, allow_missing: bool,
                         warnings: List[str]) -> Dict[str, List[str]]:
    """Signature genes absent from the data (symbol -> names tried): an error unless ``allow_missing``."""
    missing = {g.symbol: list(g.names) for g in signature.genes if g.symbol not in rows}
    if not missing:
        return missing
    tried = "; ".join(f"{gene} (tried {', '.join(names)})" for gene, names in missing.items())
    if not allow_missing or len(missing) == len(signature.genes):
        hint = ""
        labels = [str(x) for x in expression.values.index[:3]]
        if expression.gene_source == "row labels" and any(
            any(p.match(x) for p in PROBE_ID_PATTERNS) for x in labels
        ):
            hint = f"; the row labels look like probe IDs (e.g. {labels[0]}): give a probe map (--probe-map)"
        raise InputError(
            f"signature gene(s) missing: {tried}{hint}", source=expression.source,
            field=f"gene labels ({expression.gene_source})",
            expected=f"all {len(signature.genes)} genes of signature {signature.name} "
                     "(--allow-missing scores on the genes present)",
        )
    warnings.append(f"scored on {len(signature.genes) - len(missing)} of {len(signature.genes)} genes; "
                    f"missing from the data: {tried}")
    return missing


def _gene_values(expression: ExpressionData, signature: Signature, genes, rows, mode: str,
                 warnings: List[str]):
    """One row of values per gene, (genes, samples): the stored probe(s) when scoring against stored references,
    else the signature's probe-selection rule; and the probes used per gene."""
    values = expression.values
    matrix = values.to_numpy(dtype=float)
    position = {label: i for i, label in enumerate(values.index)}
    gene_values = np.empty((len(genes), values.shape[1]))
    probes: Dict[str, List[str]] = {}
    for k, gene in enumerate(genes):
        candidates = list(rows[gene.symbol]["row"])
        stored = [p for p in gene.reference_probes] if mode == "stored" else []
        if stored and all(p in candidates for p in stored):
            chosen = stored
        elif stored and not _gene_level_row(candidates, gene):
            # The stored value is the median of exactly these probes: another probe's values are on another
            # scale, so the gene is missing (a NaN row: unscored, or scored on the other genes with allow_missing).
            warnings.append(f"{gene.symbol}: stored reference probe(s) {', '.join(stored)} not in the data "
                            f"(other rows: {', '.join(candidates)}); the gene counts as missing, no other probe is "
                            "substituted")
            chosen = []
        elif len(candidates) == 1:
            chosen = candidates
        else:
            block = matrix[[position[c] for c in candidates]]
            if signature.probe_selection == "highest_mean":
                with _quiet_nan_warnings():
                    means = np.nanmean(block, axis=1)
                # Rows without any value (possible for in-memory tables) never win; all empty -> the first.
                chosen = [candidates[int(np.nanargmax(means)) if np.isfinite(means).any() else 0]]
            else:
                chosen = candidates
        block = matrix[[position[c] for c in chosen]] if chosen else np.full((1, values.shape[1]), np.nan)
        with np.errstate(invalid="ignore"), _quiet_nan_warnings():
            gene_values[k] = block[0] if len(block) == 1 else np.nanmean(block, axis=0)
        probes[gene.symbol] = chosen
    return gene_values, probes


def _gene_level_row(candidates: List[str], gene) -> bool:
    """True for gene-level data: one row, labelled with the gene's symbol or an alias (not a probe ID)."""
    return len(candidates) == 1 and str(candidates[0]).upper() in {n.upper() for n in gene.names}


def _references(gene_values: np.ndarray, genes, signature: Signature, mode: str, reference, reference_scale,
                source: Optional[str], samples: List[str], warnings: List[str]):
    """Reference value and scale of each gene (scale 1 unless ``zscore_mean``) and the reference cohort's size."""
    symbols = [g.symbol for g in genes]
    n_samples = len(samples)
    zscore = signature.method == "zscore_mean"
    unit = np.ones(len(genes))
    if mode == "cohort":
        if n_samples < 2:
            raise InputError(
                f"a single sample ({samples[0]}) cannot be centred on itself", source=source,
                field="samples", expected="several samples, or a signature with stored reference values "
                                          "(--signature FILE written with --save-reference)",
            )
        if n_samples < MIN_REFERENCE_SAMPLES:
            warnings.append(f"the reference (per-gene medians) comes from only {n_samples} samples; scores of small "
                            "cohorts are unstable: consider a stored reference")
        with _quiet_nan_warnings():
            ref = np.nanmedian(gene_values, axis=1)
            scale = np.nanstd(gene_values, axis=1, ddof=1) if zscore else unit
        if zscore and not np.all(np.isfinite(scale) & (scale > 0)):
            bad = [s for s, v in zip(symbols, scale) if not (np.isfinite(v) and v > 0)]
            raise InputError(f"no spread to scale on for {', '.join(bad)}", source=source,
                             field="samples", expected="at least two different values per gene for zscore_mean")
        return ref, scale, n_samples
    if mode == "stored":
        ref = np.array([g.reference for g in genes], dtype=float)
        scale = np.array([g.reference_scale for g in genes], dtype=float) if zscore else unit
        return ref, scale, None
    given = _given_values(reference, signature, "reference")  # type: ignore[arg-type]
    lacking = [s for s in symbols if s not in given]
    if lacking:
        raise InputError(f"no reference value for {', '.join(lacking)}", source="reference",
                         expected="a value for every signature gene present in the data")
    ref = np.array([given[s] for s in symbols])
    if not zscore:
        return ref, unit, None
    given_scale = _given_values(reference_scale, signature, "reference_scale")
    with _quiet_nan_warnings():
        cohort_scale = np.nanstd(gene_values, axis=1, ddof=1)
    scale = np.array([given_scale.get(s, c) for s, c in zip(symbols, cohort_scale)])
    if not np.all(np.isfinite(scale) & (scale > 0)):
        raise InputError("no usable scale for zscore_mean", source="reference_scale",
                         expected="a positive scale for every gene (or several samples)")
    return ref, scale, None


def _weighted_scores(centred: np.ndarray, weights: np.ndarray, allow_missing: bool):
    """Weighted mean of the centred values per sample (NaN when no gene counts) and the genes it used."""
    available = np.isfinite(centred)
    if allow_missing:
        used = available
    else:
        used = np.broadcast_to(available.all(axis=0), available.shape)
    numerator = np.where(used, weights[:, None] * np.where(available, centred, 0.0), 0.0).sum(axis=0)
    denominator = np.where(used, np.abs(weights)[:, None], 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(denominator > 0, numerator / denominator, np.nan)
    return score, np.where(np.isfinite(score), used.sum(axis=0), 0)


def _warn_missing_values(gaps: np.ndarray, samples: List[str], symbols: List[str], allow_missing: bool,
                         warnings: List[str]) -> None:
    """A warning naming (up to 10) samples with missing values in signature genes."""
    if not gaps.any():
        return
    listed = []
    for j in np.flatnonzero(gaps.any(axis=0))[:10]:
        listed.append(f"{samples[j]} ({', '.join(s for s, g in zip(symbols, gaps[:, j]) if g)})")
    more = int(gaps.any(axis=0).sum()) - len(listed)
    what = "scored on the other genes" if allow_missing else "not scored (use --allow-missing to score on the rest)"
    warnings.append(f"missing values in signature genes, samples {what}: {'; '.join(listed)}"
                    + (f"; and {more} more" if more > 0 else ""))


class _quiet_nan_warnings:
    """Silence numpy's "mean of empty slice" warnings: NaN results are handled explicitly."""

    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)
        return self

    def __exit__(self, *exc):
        return self._catch.__exit__(*exc)


def score_patients(scores: GeneScores, sample_to_patient: Union[Mapping[str, str], pd.Series]) -> pd.DataFrame:
    """Per-patient (per-tumour) scores from several biopsies: the mean of the biopsy scores (SPEC §2).

    Parameters
    ----------
    scores : GeneScores
        Per-sample (per-biopsy) scores.
    sample_to_patient : mapping or Series
        Sample ID → patient ID; every scored sample must be in it.

    Returns
    -------
    pandas.DataFrame
        One row per patient, in order of first appearance, columns ``patient``, ``hypoxia_score`` (mean of the
        scored biopsies), ``classification`` (of that mean, at the signature's cutoff), ``n_biopsies`` (scored),
        ``n_biopsies_not_scored``, ``n_more_hypoxic`` (biopsies in the at-or-above-cutoff class),
        ``biopsy_calls_agree`` (True when every scored biopsy has the same class; a single biopsy agrees with
        itself; False when none is scored), ``biopsy_score_min``, ``biopsy_score_max``, ``biopsies``
        (sample IDs joined by ";").
    """
    mapping = pd.Series(sample_to_patient, dtype=object) if not isinstance(sample_to_patient, pd.Series) \
        else sample_to_patient.astype(object)
    mapping.index = mapping.index.astype(str)
    table = scores.table
    patients = mapping.reindex(table.index.astype(str))
    lacking = list(patients.index[patients.isna() | (patients.astype(str).str.strip() == "")])
    if lacking:
        raise InputError(f"{len(lacking)} sample(s) have no patient: {', '.join(lacking[:10])}"
                         + (" ..." if len(lacking) > 10 else ""), source="patient map", field="samples",
                         expected="a patient ID for every sample scored")
    signature = scores.signature
    high = signature.classes["at_or_above_cutoff"]
    frame = pd.DataFrame({
        "patient": patients.astype(str).str.strip().to_numpy(),
        "sample": table.index.astype(str),
        "score": table["hypoxia_score"].to_numpy(dtype=float),
        "call": table["classification"].to_numpy(),
    })
    frame["scored"] = np.isfinite(frame["score"])
    frame["high"] = frame["scored"] & (frame["call"] == high)
    grouped = frame.groupby("patient", sort=False)
    out = pd.DataFrame({
        "hypoxia_score": grouped["score"].mean(),  # skips NaN: unscored biopsies do not count
        "n_biopsies": grouped["scored"].sum().astype(int),
        "n_biopsies_not_scored": (~frame["scored"]).groupby(frame["patient"], sort=False).sum().astype(int),
        "n_more_hypoxic": grouped["high"].sum().astype(int),
        "biopsy_score_min": grouped["score"].min(),
        "biopsy_score_max": grouped["score"].max(),
        "biopsies": grouped["sample"].agg(";".join),
    })
    out["biopsy_calls_agree"] = (out["n_biopsies"] > 0) & (
        (out["n_more_hypoxic"] == 0) | (out["n_more_hypoxic"] == out["n_biopsies"])
    )
    score = out["hypoxia_score"].to_numpy(dtype=float)
    out["classification"] = classify_scores(score, signature)
    out.index.name = "patient"
    out = out.reset_index()
    return out[["patient", "hypoxia_score", "classification", "n_biopsies", "n_biopsies_not_scored",
                "n_more_hypoxic", "biopsy_calls_agree", "biopsy_score_min", "biopsy_score_max", "biopsies"]]


def patients_from_annotations(expression: ExpressionData, column: str) -> pd.Series:
    """Sample → patient from a column of the sample annotations (e.g. a GEO characteristic ``patient: P01``).

    The column name is matched exactly, else case-insensitively.
    """
    annotations = expression.sample_annotations
    columns = [str(c) for c in annotations.columns]
    name = column if column in columns else next((c for c in columns if c.lower() == column.lower()), None)
    if name is None:
        raise InputError(f"no sample annotation named {column!r}", source=expression.source, field="--patient-column",
                         expected="one of the sample annotations: " + (", ".join(repr(c) for c in columns)
                                                                        if columns else "(none in this file)")
                         + ", or a separate --patient-map file")
    series = annotations[name].astype(str).str.strip()
    empty = list(series.index[series == ""])
    if empty:
        raise InputError(f"no patient ID for sample(s) {', '.join(map(str, empty[:10]))}", source=expression.source,
                         field=f"annotation {name!r}", expected="a patient ID for every sample")
    return series


def signature_with_reference(signature: Signature, scores: GeneScores) -> Signature:
    """The signature with the reference values (and probes) that ``scores`` used, ready to be saved.

    A sample scored later against the returned signature (``reference="stored"``, the default when references are
    present) is centred on exactly these values, with the same probes, so a cohort member scored alone gets the
    same score as in the cohort run.

    Raises
    ------
    InputError
        When some signature genes were not scored (missing from the data): a stored reference must cover every gene.
    """
    lacking = [g.symbol for g in signature.genes if g.symbol not in scores.reference]
    if lacking:
        raise InputError(f"cannot store a reference without {', '.join(lacking)} (missing from the data)",
                         source="--save-reference", expected="every signature gene in the reference cohort")
    genes = tuple(
        replace(
            gene,
            reference=float(scores.reference[gene.symbol]),
            reference_scale=float(scores.reference_scale[gene.symbol]) if scores.reference_scale else None,
            reference_probes=tuple(str(p) for p in scores.probes.get(gene.symbol, [])),
        )
        for gene in signature.genes
    )
    cohort = {
        "source": scores.expression_source,
        "reference": scores.reference_source,
        "n_samples": scores.n_reference_samples if scores.n_reference_samples is not None else len(scores.table),
        "probe_selection": scores.signature.probe_selection,
        "version": __version__,
    }
    return replace(signature, genes=genes, reference_cohort=cohort)


def score_single_sample(
    values: Mapping[str, float],
    signature: Optional[Signature] = None,
    *,
    sample: str = "sample",
    reference: Union[None, str, Mapping[str, float]] = None,
    allow_missing: bool = False,
    log2: bool = False,
    check: bool = True,
) -> SingleSampleScore:
    """Score one sample given as {gene symbol or alias: log2 value} against stored (or given) reference values.

    This is the path for one new patient (e.g. in Slicer): the sample cannot be centred on itself, so the
    signature must hold reference values (:func:`signature_with_reference`) or ``reference`` must give them.

    Parameters
    ----------
    values : mapping
        Gene → log2 expression (a probe ID → value works too when the signature stores that probe). Keys that
        are not signature genes are ignored. NaN/None is a missing value.
    signature : Signature, optional
        Default: the shipped signature (which has no stored references, so ``reference`` is then needed).
    sample : str
        The sample's name in the result.
    reference : None, "stored" or mapping
        As in :func:`score_samples`; "cohort" is impossible for one sample.
    allow_missing, log2, check
        As in :func:`score_samples` and :func:`read_expression`.
    """
    signature = signature if signature is not None else load_signature()
    if reference is None and not signature.has_reference:
        raise InputError("one sample cannot be centred on itself and the signature has no stored reference",
                         source=signature.source or "signature", field="genes[].reference",
                         expected="a signature saved with --save-reference, or reference values")
    labels, numbers = [], []
    for key, value in values.items():
        if value is None:
            value = float("nan")
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
            raise InputError(f"{value!r} is not a number", source="values", field=str(key),
                             expected="a log2 expression value")
        if math.isinf(float(value)):
            raise InputError(f"{value!r} is not finite", source="values", field=str(key),
                             expected="a finite log2 expression value")
        labels.append(str(key).strip())
        numbers.append(float(value))
    frame = pd.DataFrame({sample: numbers}, index=labels)
    expression = expression_from_frame(frame, source="values", log2=log2, check=check)
    scores = score_samples(expression, signature, reference=reference if reference is not None else "stored",
                           allow_missing=allow_missing)
    row = scores.table.iloc[0]
    genes = signature.symbols
    return SingleSampleScore(
        sample=sample,
        hypoxia_score=float(row["hypoxia_score"]),
        classification=str(row["classification"]),
        n_genes=int(row["n_genes"]),
        centred={g: float(row[f"centred_{g}"]) for g in genes},
        expression={g: float(row[f"expression_{g}"]) for g in genes},
        reference={g: float(row[f"reference_{g}"]) for g in genes},
        warnings=list(scores.warnings),
        scores=scores,
    )


def output_columns(signature: Signature, *, grouped: bool = False) -> List[str]:
    """The column order of the per-sample CSV written by ``hypoxia-markers genes``."""
    columns = ["sample"] + (["patient"] if grouped else []) + ["hypoxia_score", "classification", "n_genes"]
    for prefix in ("centred_", "expression_", "reference_"):
        columns += [prefix + g for g in signature.symbols]
    return columns


def sample_table(scores: GeneScores, *, sample_to_patient: Optional[pd.Series] = None,
                 extra_annotations: Sequence[str] = (), annotations: Optional[pd.DataFrame] = None) -> pd.DataFrame:
    """The per-sample table as written to CSV: ``sample`` [, ``patient``], scores, then requested annotations."""
    table = scores.table.reset_index()
    if sample_to_patient is not None:
        patients = pd.Series(sample_to_patient).reindex(table["sample"].astype(str))
        table.insert(1, "patient", patients.to_numpy())
    if annotations is not None:
        for name in extra_annotations:
            if name in annotations.columns and name not in table.columns:
                table[name] = annotations[name].reindex(table["sample"]).to_numpy()
    return table
