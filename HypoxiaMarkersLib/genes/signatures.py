"""Gene signatures as data: which genes, their weights and aliases, how they are scored, and stored references.

A signature file (JSON, or YAML when the name ends in ``.yaml``/``.yml``) holds everything the scoring needs, so
another signature plugs in without code changes::

    {
      "name": "hypoxia6",
      "method": "centred_mean",            # or "zscore_mean"
      "cutoff": 0.0,                        # score >= cutoff -> classes["at_or_above_cutoff"]
      "probe_selection": "highest_mean",    # or "average"
      "classes": {"at_or_above_cutoff": "more hypoxic", "below_cutoff": "less hypoxic"},
      "genes": [
        {"symbol": "ERO1A", "weight": 1.0, "aliases": ["ERO1L"],
         "reference": 7.91, "reference_probes": ["ILMN_1710756"]},
        ...
      ],
      "reference_cohort": {"source": "...", "n_samples": 150}
    }

``reference`` (and, for ``zscore_mean``, ``reference_scale``) are the per-gene values a new sample is centred on.
They are absent in the shipped default (the cohort being scored supplies its own medians) and are written by
``genes.scoring.signature_with_reference`` so one patient can be scored against a reference cohort.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from .. import rules
from ..errors import InputError
from ..io.outputs import atomic_file, to_jsonable
from ..rules import GENE_SCORE_CUTOFF, LESS_HYPOXIC, MORE_HYPOXIC

#: Scoring methods a signature may name.
#: ``centred_mean``: weighted mean of (log2 expression - reference) (SPEC §2, the 6-gene hypoxia score).
#: ``zscore_mean``: weighted mean of (log2 expression - reference) / reference_scale.
METHODS = ("centred_mean", "zscore_mean")

#: How one value per gene is taken when several probes (rows) measure it.
PROBE_SELECTIONS = ("highest_mean", "average")

DEFAULT_SIGNATURE_PATH = Path(__file__).resolve().parent / "data" / "hypoxia6.json"

DEFAULT_CLASSES = {"at_or_above_cutoff": MORE_HYPOXIC, "below_cutoff": LESS_HYPOXIC}


@dataclass(frozen=True)
class SignatureGene:
    """One gene of a signature.

    Attributes
    ----------
    symbol : str
        Current HGNC symbol; output columns are named after it.
    weight : float
        Its weight in the weighted mean (+1 for a gene up-regulated in the high-score class).
    aliases : tuple of str
        Other names the gene has in expression files (older symbols, array annotations), e.g. ERO1L for ERO1A.
    reference : float or None
        Stored reference value (log2) to centre on; None when the cohort being scored supplies it.
    reference_scale : float or None
        Stored scale (log2 units) for ``zscore_mean``; None otherwise.
    reference_probes : tuple of str
        The row labels (probes) the stored reference was computed from; a new sample uses the same ones.
    """

    symbol: str
    weight: float = 1.0
    aliases: Tuple[str, ...] = ()
    reference: Optional[float] = None
    reference_scale: Optional[float] = None
    reference_probes: Tuple[str, ...] = ()

    @property
    def names(self) -> Tuple[str, ...]:
        """The symbol followed by its aliases: every name tried when matching expression rows."""
        return (self.symbol,) + tuple(self.aliases)


@dataclass(frozen=True)
class Signature:
    """A gene signature and the rule that turns its genes' expression into a score and a class.

    Attributes
    ----------
    name : str
        Short name, e.g. ``hypoxia6``.
    genes : tuple of SignatureGene
    method : str
        One of :data:`METHODS`.
    cutoff : float
        Score >= cutoff gives ``classes["at_or_above_cutoff"]``.
    probe_selection : str
        One of :data:`PROBE_SELECTIONS`.
    classes : dict
        Labels for ``at_or_above_cutoff`` and ``below_cutoff``.
    description, citation : str
        Free text written into every result.
    reference_cohort : dict
        Where stored reference values came from (source file, number of samples, version); empty if none.
    source : str
        The file it was read from (``"<default>"`` for the shipped signature).
    """

    name: str
    genes: Tuple[SignatureGene, ...]
    method: str = "centred_mean"
    cutoff: float = GENE_SCORE_CUTOFF
    probe_selection: str = "highest_mean"
    classes: Dict[str, str] = field(default_factory=lambda: dict(DEFAULT_CLASSES))
    description: str = ""
    citation: str = ""
    reference_cohort: Dict[str, Any] = field(default_factory=dict)
    source: str = ""

    @property
    def symbols(self) -> List[str]:
        """The genes' current symbols, in signature order."""
        return [gene.symbol for gene in self.genes]

    @property
    def has_reference(self) -> bool:
        """True when every gene has a stored reference value (and scale, for ``zscore_mean``)."""
        return all(self._gene_has_reference(gene) for gene in self.genes)

    def _gene_has_reference(self, gene: SignatureGene) -> bool:
        if gene.reference is None:
            return False
        return self.method != "zscore_mean" or gene.reference_scale is not None

    def gene(self, name: str) -> SignatureGene:
        """The gene whose symbol or alias is ``name`` (case-insensitive)."""
        wanted = name.strip().upper()
        for gene in self.genes:
            if wanted in (n.upper() for n in gene.names):
                return gene
        raise KeyError(name)

    def classify(self, score: float) -> str:
        """The class label of one score ("" when the score is NaN)."""
        if score is None or not math.isfinite(score):
            return ""
        at_or_above = bool(rules.at_or_above(score, self.cutoff))
        return self.classes["at_or_above_cutoff"] if at_or_above else self.classes["below_cutoff"]

    def to_dict(self) -> Dict[str, Any]:
        """The signature as plain data, in the file layout (``source`` left out)."""
        genes = []
        for gene in self.genes:
            entry: Dict[str, Any] = {"symbol": gene.symbol, "weight": gene.weight, "aliases": list(gene.aliases)}
            if gene.reference is not None:
                entry["reference"] = gene.reference
            if gene.reference_scale is not None:
                entry["reference_scale"] = gene.reference_scale
            if gene.reference_probes:
                entry["reference_probes"] = list(gene.reference_probes)
            genes.append(entry)
        data: Dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "citation": self.citation,
            "method": self.method,
            "cutoff": self.cutoff,
            "probe_selection": self.probe_selection,
            "classes": dict(self.classes),
            "genes": genes,
        }
        if self.reference_cohort:
            data["reference_cohort"] = dict(self.reference_cohort)
        return data

    def without_reference(self) -> Signature:
        """The same signature with every stored reference value removed."""
        genes = tuple(replace(g, reference=None, reference_scale=None, reference_probes=()) for g in self.genes)
        return replace(self, genes=genes, reference_cohort={})


def _number(value: Any, *, source: str, field_name: str, allow_none: bool = False) -> Optional[float]:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise InputError(
            f"{value!r} is not a finite number", source=source, field=field_name, expected="a finite number"
        )
    return float(value)


def _text(value: Any, *, source: str, field_name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{value!r} is not a name", source=source, field=field_name, expected="non-empty text")
    return value.strip()


def signature_from_dict(data: Mapping[str, Any], *, source: str = "<dict>") -> Signature:
    """Build and validate a :class:`Signature` from plain data (the file layout).

    Parameters
    ----------
    data : mapping
        The parsed signature file.
    source : str
        Named in error messages.

    Raises
    ------
    InputError
        A missing or malformed field, an unknown method, a name used by two genes, or reference values for some
        genes but not others.
    """
    if not isinstance(data, Mapping):
        raise InputError("the file does not hold a mapping", source=source, expected="a JSON object / YAML mapping")
    known = {
        "name", "description", "citation", "method", "cutoff", "probe_selection", "classes", "genes",
        "reference_cohort",
    }
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(
            f"unknown field(s) {', '.join(unknown)}", source=source, field=unknown[0],
            expected="only " + ", ".join(sorted(known)),
        )
    name = _text(data.get("name"), source=source, field_name="name")
    method = data.get("method", "centred_mean")
    if method not in METHODS:
        raise InputError(f"unknown scoring method {method!r}", source=source, field="method",
                         expected=" or ".join(METHODS))
    selection = data.get("probe_selection", "highest_mean")
    if selection not in PROBE_SELECTIONS:
        raise InputError(f"unknown probe selection {selection!r}", source=source, field="probe_selection",
                         expected=" or ".join(PROBE_SELECTIONS))
    cutoff = _number(data.get("cutoff", GENE_SCORE_CUTOFF), source=source, field_name="cutoff")
    classes = data.get("classes", DEFAULT_CLASSES)
    if (
        not isinstance(classes, Mapping)
        or set(classes) != set(DEFAULT_CLASSES)
        or not all(isinstance(v, str) and v.strip() for v in classes.values())
        or classes["at_or_above_cutoff"] == classes["below_cutoff"]
    ):
        raise InputError("classes must name the two classes", source=source, field="classes",
                         expected='{"at_or_above_cutoff": "...", "below_cutoff": "..."} with two different labels')
    raw_genes = data.get("genes")
    if not isinstance(raw_genes, list) or not raw_genes:
        raise InputError("no genes", source=source, field="genes", expected="a non-empty list of genes")

    genes = []
    owner: Dict[str, str] = {}
    for i, raw in enumerate(raw_genes):
        where = f"genes[{i}]"
        if isinstance(raw, str):
            raw = {"symbol": raw}
        if not isinstance(raw, Mapping):
            raise InputError("a gene must be a mapping", source=source, field=where,
                             expected='{"symbol": ..., "weight": ..., "aliases": [...]}')
        extra = sorted(set(raw) - {"symbol", "weight", "aliases", "reference", "reference_scale", "reference_probes"})
        if extra:
            raise InputError(f"unknown field(s) {', '.join(extra)}", source=source, field=f"{where}.{extra[0]}",
                             expected="symbol, weight, aliases, reference, reference_scale, reference_probes")
        symbol = _text(raw.get("symbol"), source=source, field_name=f"{where}.symbol")
        weight = _number(raw.get("weight", 1.0), source=source, field_name=f"{where}.weight")
        if weight == 0:
            raise InputError("a weight of 0 leaves the gene out", source=source, field=f"{where}.weight",
                             expected="a non-zero weight (remove the gene instead)")
        aliases = raw.get("aliases", [])
        if not isinstance(aliases, list):
            raise InputError("aliases must be a list", source=source, field=f"{where}.aliases",
                             expected="a list of gene symbols")
        aliases = tuple(_text(a, source=source, field_name=f"{where}.aliases") for a in aliases)
        # Matching is case-insensitive, so a name may belong to one gene only, or a row would count twice.
        names = {symbol.upper(): "symbol"}
        names.update({a.upper(): "aliases" for a in aliases if a.upper() != symbol.upper()})
        for key, part in names.items():
            if key in owner:
                raise InputError(f"the name {key} is used by both {owner[key]} and {symbol}", source=source,
                                 field=f"{where}.{part}", expected="each gene once, each symbol or alias for one gene")
        owner.update({key: symbol for key in names})
        reference = _number(raw.get("reference"), source=source, field_name=f"{where}.reference", allow_none=True)
        scale = _number(raw.get("reference_scale"), source=source, field_name=f"{where}.reference_scale",
                        allow_none=True)
        if scale is not None and scale <= 0:
            raise InputError(f"reference_scale {scale} is not positive", source=source,
                             field=f"{where}.reference_scale", expected="a positive number")
        probes = raw.get("reference_probes", [])
        if not isinstance(probes, list):
            raise InputError("reference_probes must be a list", source=source, field=f"{where}.reference_probes",
                             expected="a list of row labels")
        probes = tuple(_text(str(p), source=source, field_name=f"{where}.reference_probes") for p in probes)
        genes.append(SignatureGene(symbol, weight, aliases, reference, scale, probes))

    with_reference = [g.reference is not None for g in genes]
    if any(with_reference) and not all(with_reference):
        lacking = [g.symbol for g, has in zip(genes, with_reference) if not has]
        raise InputError(f"reference values are stored for some genes but not for {', '.join(lacking)}",
                         source=source, field="genes[].reference", expected="a reference for every gene or none")
    if method == "zscore_mean" and all(with_reference) and any(g.reference_scale is None for g in genes):
        lacking = [g.symbol for g in genes if g.reference_scale is None]
        raise InputError(f"method zscore_mean needs reference_scale for {', '.join(lacking)}", source=source,
                         field="genes[].reference_scale", expected="a reference_scale next to every reference")
    cohort = data.get("reference_cohort", {}) or {}
    if not isinstance(cohort, Mapping):
        raise InputError("reference_cohort must be a mapping", source=source, field="reference_cohort",
                         expected="a mapping (source, n_samples, ...)")
    return Signature(
        name=name,
        genes=tuple(genes),
        method=method,
        cutoff=cutoff,
        probe_selection=selection,
        classes={k: classes[k].strip() for k in DEFAULT_CLASSES},
        description=str(data.get("description", "") or ""),
        citation=str(data.get("citation", "") or ""),
        reference_cohort=dict(cohort),
        source=source,
    )


def _is_yaml(path: Path) -> bool:
    return path.suffix.lower() in (".yaml", ".yml")


def load_signature(path: Union[str, Path, None] = None) -> Signature:
    """Read a signature file (JSON, or YAML for ``.yaml``/``.yml``); without a path, the shipped 6-gene one.

    Parameters
    ----------
    path : str or Path, optional
        The signature file. Default: ``genes/data/hypoxia6.json`` inside the package (SPEC §2: DDIT3, ERO1A,
        KCTD11, P4HA2, STC2, UPK1A, all weight +1, centred on the cohort's medians, cutoff 0).

    Returns
    -------
    Signature
    """
    source = "<default hypoxia6>" if path is None else str(path)
    path = DEFAULT_SIGNATURE_PATH if path is None else Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("file not found", source=source, expected="a signature file (JSON or YAML)") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read the file ({error})", source=source,
                         expected="a UTF-8 signature file (JSON or YAML)") from None
    if _is_yaml(path):
        import yaml  # only needed for YAML signatures

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise InputError(f"not valid YAML ({error})", source=source, expected="a YAML mapping") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise InputError(f"not valid JSON ({error.msg})", source=source, field=f"line {error.lineno}",
                             expected="a JSON object") from None
    return signature_from_dict(data, source=source)


def save_signature(signature: Signature, path: Union[str, Path]) -> Path:
    """Write a signature file (JSON, or YAML for ``.yaml``/``.yml``) atomically; returns the path.

    Parameters
    ----------
    signature : Signature
        Usually one with stored references, from :func:`HypoxiaMarkersLib.genes.scoring.signature_with_reference`.
    path : str or Path
        Target file; replaced only once the new content is completely written.
    """
    path = Path(path).absolute()
    data = to_jsonable(signature.to_dict())
    if _is_yaml(path):
        import yaml

        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    else:
        text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    write_text_atomic(path, text)
    return path


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it into place (all or nothing)."""
    with atomic_file(Path(path)) as tmp:
        tmp.write_text(text, encoding="utf-8")
