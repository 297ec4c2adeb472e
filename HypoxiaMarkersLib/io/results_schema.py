"""One declaration of the keys of every result file, shared by the writers and the readers.

The result files (``summary.json`` of ``image``, ``scores.json`` of ``genes``, ``results.json`` of ``cohort``,
``heterogeneity.json`` and ``batch.json``) are read back by the report, the heterogeneity stage and a resumed batch.
Before this module each reader looked keys up by string (``cohort.get("line") or {}``), so a key renamed in a writer
silently became "missing" or '–' in the report. Now:

- **writers** write through :func:`write_result`, which first checks the data against the file's declaration: a
  key declared :func:`required` or :func:`always` that the writer did not write is a :class:`ResultSchemaError`
  (a bug, found by the first test that writes the file), never a file with a key missing;
- **readers** load through :meth:`ResultFile.read`: a missing :func:`required` key, or a required value, object or
  list of the wrong kind, is an :class:`~HypoxiaMarkersLib.errors.InputError` naming the file, the key and the
  version that wrote the file (a report on a results folder of an older version says what it lacks);
- the loaded data is a :class:`ResultDict`: a ``dict`` whose ``get``, ``[]`` and ``in`` raise
  :class:`ResultSchemaError` for a key the file does not declare, so a reader cannot look up a key no writer
  promises (a typo, or the old name of a renamed key);
- a test runs the demo and checks that every declared key is written somewhere (``in_demo=False`` marks the few
  written only under other settings), so renaming a key that is written only sometimes fails too.

Which keys are declared: every top-level key of each file, and below it every key someone reads. Objects are
*open*: keys that are not declared (details kept for people, or added by a newer version) are written and read
without complaint; they are carried along unchecked, and no reader may look them up until they are declared.
Declaring a key is one line: ``"name": always(NUMBER),``.

Why declarations and not one dataclass per file: the writers keep building the dicts they built before (the files'
key order and number formatting stay byte for byte, and a branch adding a key changes one writer line and, if a
reader shows it, one declaration line). The ``survival`` command's ``results.json`` is not declared: nothing reads it.

Presence, the first word of a line:

- :func:`required`: always written, and a reader cannot do without it (missing → InputError);
- :func:`always`: always written by this version; an older file may lack it (readers show '–');
- :func:`optional`: written only under some settings or outcomes;
- :func:`legacy`: written by older versions only; read for their results folders.

Kinds: ``NUMBER``, ``INTEGER``, ``TEXT``, ``FLAG``, ``LIST``, ``OBJECT``, ``ANY``. JSON ``null`` is accepted for
every kind: it is how a result writes 'not available' (NaN, no value). The bytes of a file do not depend on this
module: :func:`write_result` checks the data and then writes it with :func:`~.outputs.write_json` unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

from ..errors import InputError

REQUIRED, ALWAYS, OPTIONAL, LEGACY = "required", "always", "optional", "legacy"
NUMBER, INTEGER, TEXT, FLAG, LIST, OBJECT, ANY = "number", "integer", "text", "flag", "list", "object", "any"


class ResultSchemaError(RuntimeError):
    """A writer or a reader of the library disagrees with the declaration of a result file (a bug, not bad input):
    a declared key was not written, or a reader looked up a key that is not declared."""


@dataclass(frozen=True)
class Key:
    """One declared key: whether it must be there (``presence``), what kind of value it holds, and what is inside.

    Attributes
    ----------
    presence : str
        ``required``, ``always``, ``optional`` or ``legacy`` (see the module's documentation).
    kind : str
        ``number``, ``integer``, ``text``, ``flag``, ``list``, ``object`` or ``any``.
    keys : mapping
        The declared keys of an object.
    each : Key, optional
        The schema of every item of a list, or of every value of an object whose keys are data (patient IDs, stage
        names, covariates).
    in_demo : bool
        False for an optional key the demo's settings never write (the demo's coverage test skips it).
    """

    presence: str
    kind: str = ANY
    keys: Mapping[str, Key] = field(default_factory=dict)
    each: Optional[Key] = None
    in_demo: bool = True


def _key(presence: str, kind: Any, keys: Optional[Mapping[str, Key]], each: Optional[Key], in_demo: bool) -> Key:
    if isinstance(kind, dict):  # required({...}): an object with these keys
        kind, keys = OBJECT, kind
    if keys and kind == ANY:
        kind = OBJECT
    return Key(presence, kind, dict(keys or {}), each, in_demo)


def required(kind: Any = ANY, keys: Optional[Mapping[str, Key]] = None, *, each: Optional[Key] = None) -> Key:
    """A key every version writes and readers need (missing → InputError). ``required({...})`` is an object."""
    return _key(REQUIRED, kind, keys, each, True)


def always(kind: Any = ANY, keys: Optional[Mapping[str, Key]] = None, *, each: Optional[Key] = None) -> Key:
    """A key this version always writes; a file of an older version may lack it."""
    return _key(ALWAYS, kind, keys, each, True)


def optional(kind: Any = ANY, keys: Optional[Mapping[str, Key]] = None, *, each: Optional[Key] = None,
             in_demo: bool = True) -> Key:
    """A key written only under some settings or outcomes (``in_demo=False``: never with the demo's settings)."""
    return _key(OPTIONAL, kind, keys, each, in_demo)


def legacy(kind: Any = ANY, keys: Optional[Mapping[str, Key]] = None, *, each: Optional[Key] = None) -> Key:
    """A key only older versions wrote, still read from their results folders."""
    return _key(LEGACY, kind, keys, each, False)


def _is_kind(value: Any, kind: str) -> bool:
    if value is None or kind == ANY:
        return True
    if kind == NUMBER:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == INTEGER:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == TEXT:
        return isinstance(value, str)
    if kind == FLAG:
        return isinstance(value, bool)
    if kind == LIST:
        return isinstance(value, list)
    return isinstance(value, dict)


def _problems(value: Any, spec: Key, where: str, *, writing: bool) -> Iterator[Tuple[str, str]]:
    """(key path, what is wrong) for every disagreement of ``value`` with ``spec`` (the value is present).

    Writing checks every declared key's kind. Reading is lenient where the readers are (a count written as 12.0 by
    some version is still a count): it checks the kind of required values and that objects and lists are what they
    are declared to be, the shapes a reader walks through.
    """
    kind = spec.kind
    if not writing and kind == INTEGER:
        kind = NUMBER
    checked = writing or spec.presence == REQUIRED or kind in (OBJECT, LIST)
    if checked and not _is_kind(value, kind):
        yield where, f"holds {type(value).__name__} {value!r:.40}, not a {spec.kind}"
        return
    if isinstance(value, dict):
        needed = (REQUIRED, ALWAYS) if writing else (REQUIRED,)
        for name, child in spec.keys.items():
            path = f"{where}.{name}" if where else name
            if name not in value:
                if child.presence in needed:
                    yield path, "missing"
            else:
                yield from _problems(value[name], child, path, writing=writing)
        if spec.each is not None:
            for name, item in value.items():
                if name not in spec.keys:
                    yield from _problems(item, spec.each, f"{where}.{name}" if where else str(name), writing=writing)
    elif isinstance(value, list) and spec.each is not None:
        for i, item in enumerate(value):
            yield from _problems(item, spec.each, f"{where}[{i}]", writing=writing)


class ResultDict(dict):
    """A loaded result object: a plain ``dict`` (JSON, iteration and copies work as usual) whose ``get``, ``[]``
    and ``in`` accept only declared keys, so that a reader cannot look up a key no writer promises."""

    def __init__(self, data: Mapping[str, Any], spec: Key, where: str) -> None:
        super().__init__()
        self._spec = spec
        self._where = where
        for name, value in data.items():
            child = spec.keys.get(name, spec.each)
            dict.__setitem__(self, name, _wrap(value, child, f"{where}.{name}"))

    def _declared(self, name: Any) -> None:
        if name not in self._spec.keys and self._spec.each is None:
            raise ResultSchemaError(
                f"{self._where}: the key '{name}' is not declared in HypoxiaMarkersLib/io/results_schema.py; "
                f"declared here: {', '.join(self._spec.keys) or 'none'}. Declare it there (one line) if a writer "
                "writes it, or correct the name the reader looks up")

    def get(self, name: Any, default: Any = None) -> Any:
        self._declared(name)
        return super().get(name, default)

    def __getitem__(self, name: Any) -> Any:
        self._declared(name)
        return super().__getitem__(name)

    def __contains__(self, name: Any) -> bool:
        self._declared(name)
        return super().__contains__(name)

    def __reduce__(self):  # pickled (e.g. sent to a worker) as the plain dict it holds
        return dict, (dict(self),)


def _wrap(value: Any, spec: Optional[Key], where: str) -> Any:
    if spec is None or spec.kind == ANY:
        return value
    if isinstance(value, dict) and (spec.keys or spec.each is not None):
        return ResultDict(value, spec, where)
    if isinstance(value, list) and spec.each is not None:
        return [_wrap(item, spec.each, f"{where}[{i}]") for i, item in enumerate(value)]
    return value


@dataclass(frozen=True)
class ResultFile:
    """The declaration of one result file.

    Attributes
    ----------
    name : str
        The file's name (``summary.json``).
    writer : str
        What writes it, for messages (``hypoxia-markers image``).
    keys : mapping
        Its top-level keys (:class:`Key`).
    """

    name: str
    writer: str
    keys: Mapping[str, Key]

    @property
    def root(self) -> Key:
        return Key(REQUIRED, OBJECT, self.keys)

    def problems(self, data: Any, *, writing: bool) -> List[Tuple[str, str]]:
        """Every (key, what is wrong) of ``data`` (JSON values) against this declaration."""
        if not isinstance(data, dict):
            return [("", "is not a JSON object")]
        return list(_problems(data, self.root, "", writing=writing))

    def check_written(self, data: Any) -> None:
        """Raise :class:`ResultSchemaError` when a writer's ``data`` lacks a declared key or holds a wrong kind."""
        from .outputs import to_jsonable

        found = self.problems(to_jsonable(data), writing=True)
        if found:
            raise ResultSchemaError(
                f"{self.name} as written by {self.writer} disagrees with its declaration in "
                f"HypoxiaMarkersLib/io/results_schema.py: " + "; ".join(f"'{k}' {what}" for k, what in found))

    def load(self, data: Any, source: str) -> ResultDict:
        """Check JSON ``data`` read from ``source`` and return it as a :class:`ResultDict`.

        Raises
        ------
        InputError
            A required key is missing or a value is of the wrong kind; the message names ``source``, the key and
            the version that wrote the file.
        """
        found = self.problems(data, writing=False)
        if found:
            key, what = found[0]
            version = data.get("version") if isinstance(data, dict) else None
            by = f"written by HypoxiaMarkersLib {version}" if version else "written by an unknown version"
            more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
            raise InputError(f"{what}{more}; the file was {by}, this report/reader is HypoxiaMarkersLib "
                             f"{_library_version()}", source=source, field=key or None,
                             expected=f"the {self.name} of {self.writer} (run it again with this version)")
        return self.wrap(data)

    def wrap(self, data: Mapping[str, Any]) -> ResultDict:
        """``data`` as a :class:`ResultDict` without checking it: look-ups are checked, presence is not (for a reader
        that accepts partial files and says itself what it lacks)."""
        return ResultDict(data, self.root, self.name)

    def read(self, path: Path) -> ResultDict:
        """Read, check and return the file at ``path`` (InputError: unreadable, not an object, or a key missing)."""
        import json

        path = Path(path)
        if not path.is_file():
            raise InputError("not found", source=str(path), expected=f"the {self.name} of {self.writer}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError, OSError) as error:
            raise InputError(f"could not be read ({error})", source=str(path)) from None
        if not isinstance(data, dict):
            raise InputError("is not a JSON object", source=str(path), expected=f"the {self.name} of {self.writer}")
        return self.load(data, str(path))

    def declared_paths(self) -> Dict[str, Key]:
        """Every declared key as a dotted path (``[]`` for list items, ``*`` for data keys) → its :class:`Key`."""
        found: Dict[str, Key] = {}

        def walk(spec: Key, prefix: str) -> None:
            for name, child in spec.keys.items():
                path = f"{prefix}.{name}" if prefix else name
                found[path] = child
                walk(child, path)
            if spec.each is not None:
                path = f"{prefix}[]" if spec.kind == LIST else f"{prefix}.*"
                found[path] = spec.each
                walk(spec.each, path)

        walk(self.root, "")
        return found


def _library_version() -> str:
    from .. import __version__

    return __version__


def write_result(result_file: ResultFile, data: Any, path: Path) -> None:
    """Check ``data`` against ``result_file``'s declaration, then write it with :func:`~.outputs.write_json`
    (the bytes are exactly those of ``write_json``)."""
    from .outputs import write_json

    result_file.check_written(data)
    write_json(data, path)


# --- The declarations -------------------------------------------------------------------------------------------

#: The fit-quality counts of a tumour (``summary.json`` ``fit_quality``), shown per patient in the report.
_FIT_QUALITY = {
    "r2_threshold": always(NUMBER),
    "n_fitted": always(INTEGER),
    "n_at_bound": always(INTEGER),
    "n_low_r2": always(INTEGER),
    "n_poor": always(INTEGER),
    "n_excluded": always(INTEGER),
    "excluded": always(TEXT),
    "at_bound_by_parameter": always(OBJECT, each=always(INTEGER)),
    "hypoxic_fraction_all_fits": always(NUMBER),
    "hypoxic_fraction_good_fits": always(NUMBER),
    "share_poor": always(NUMBER),
}

SUMMARY_JSON = ResultFile("summary.json", "hypoxia-markers image", {
    "hypoxic_fraction": required(NUMBER),
    "classification": required(TEXT),
    "n_tumour_voxels": required(INTEGER),
    "n_fitted": required(INTEGER),
    "n_failed": required(INTEGER),
    "n_hypoxic": required(INTEGER),
    "failures": always(OBJECT),
    "fit_engine": always(TEXT),
    "fit_quality": always(_FIT_QUALITY),
    "warnings": always(LIST),
    "biopsy_slice": required({
        "slice": required(INTEGER),
        "k_index": required(INTEGER),
        "hypoxic_fraction": always(NUMBER),
        "classification": always(TEXT),
        "voxels": always(INTEGER),
        "fitted": always(INTEGER),
    }),
    "slices": always(LIST),
    "a_brix": always(OBJECT),
    "tumour_volume_ml": always(NUMBER),
    "bolus_arrival": always(OBJECT),
    "mean_curve": always(OBJECT),
    "frame_times_s": always(LIST),
    "time_source": always(TEXT),
    "fit_status_codes": always(OBJECT),
    "parameters": required({
        "a_threshold": required(NUMBER),
        "hf_cutoff": required(NUMBER),
        "biopsy_slice": always(INTEGER),
    }),
    "version": always(TEXT),
    "thresholds_source": always(TEXT),
    "inputs": optional({  # written by the command and the batch, not by a Python user's own write without inputs
        "patient": optional(TEXT),
        "mask_share_outside_dce": optional(NUMBER),
        "fingerprint": optional(OBJECT),
    }),
})

GENE_SCORES_JSON = ResultFile("scores.json", "hypoxia-markers genes", {
    "command": always(TEXT),
    "version": always(TEXT),
    "citation": always(TEXT),
    "parameters": required({
        "cutoff": required(NUMBER),
    }),
    "metadata": always(OBJECT),
    "signature": always(OBJECT),
    "scale_check": always(OBJECT),
    "n_samples": always(INTEGER),
    "classes": always(OBJECT, each=always(INTEGER)),
    "reference_source": always(TEXT),
    "n_reference_samples": always(INTEGER),
    "genes": always(OBJECT),
    "missing_genes": always(OBJECT),
    "n_patients": always(INTEGER),
    "n_patients_calls_disagree": always(INTEGER),
    "warnings": always(LIST),
    "outputs": always(OBJECT),
})

#: A Cox model's estimate as the report shows it (``cox_dichotomous``, ``cox_continuous``, multivariate terms).
_COX = {
    "hr": always(NUMBER),
    "ci_low": always(NUMBER),
    "ci_high": always(NUMBER),
    "p": always(NUMBER),
    "estimable": always(FLAG),
    "not_estimable_reason": always(TEXT),
}
_PH_TEST = {"terms": always(LIST, each=always(OBJECT, {"term": always(TEXT), "p": always(NUMBER)}))}
_SURVIVAL_AT = {"survival": always(NUMBER), "ci_low": always(NUMBER), "ci_high": always(NUMBER)}
_HIGH_LOW = {"high": always(INTEGER), "low": always(INTEGER)}

_OPTIMISM = {"method": always(TEXT), "corrected_hr": always(NUMBER), "resamples_used": always(INTEGER),
             "seed": always(INTEGER)}

#: One marker of the cohort statistics (``imaging``, ``genes``, ``both``, ``composite``).
_MARKER = {
    "marker": always(TEXT),
    "n": always(INTEGER),
    "events": always(INTEGER),
    "n_excluded": always(INTEGER),
    "horizon": always(NUMBER),
    "cox_continuous": always({**_COX, "ph_test": always(_PH_TEST)}),
    "cutoff": always({
        "value": always(NUMBER),
        "method": always(TEXT),
        "statistic": always(NUMBER),
        "selected_from_data": always(FLAG),
        "p_headline": always(NUMBER),
        "p_headline_label": always(TEXT),
        "p_unadjusted": always(NUMBER),
        "p_lausen_schumacher_1992": always(NUMBER),
        "p_lausen_schumacher_1994": always(NUMBER),
        "p_permutation": always(NUMBER),
        "permutations": always(INTEGER),
        "seed": always(INTEGER),
        "n_high": always(INTEGER),
        "n_low": always(INTEGER),
        # every candidate cut and its standardized statistic (the report's cutoff curve; empty for a fixed cutoff)
        "candidates": always({"maxstat_cut": always(LIST), "statistic": always(LIST)}),
    }),
    "cox_dichotomous": always({**_COX, "ph_test": always(_PH_TEST)}),
    "logrank": always({"p": always(NUMBER)}),
    "survival_at_horizon": always({"high": always(_SURVIVAL_AT), "low": always(_SURVIVAL_AT)}),
    "n_per_group": always(_HIGH_LOW),
    "events_per_group": always(_HIGH_LOW),
    "km": always(OBJECT),
    # with clinical covariates only
    "cox_multivariate": optional({"coefficients": always(LIST, each=always({"name": always(TEXT), **_COX}))}),
    "warnings": always(LIST),
    # Written for one marker only, but looked up on every marker by the report's shared formatting:
    "optimism": optional(_OPTIMISM, in_demo=False),  # the composite's optimism-corrected HR
    "cutoffs_searched": optional(ANY, in_demo=False),  # the both-rule's p on searched cutoffs (issue 15)
}
_BOTH = {**_MARKER, "rule": always(TEXT)}
_COMPOSITE = {**_MARKER, "optimism": optional(_OPTIMISM), "line": always(OBJECT)}

COHORT_RESULTS_JSON = ResultFile("results.json", "hypoxia-markers cohort", {
    "version": always(TEXT),
    "parameters": required({
        "covariates": always(LIST),
        "categorical": always(LIST),
        "horizon_months": always(NUMBER),
        "time_unit": always(TEXT),
        "horizon_in_time_unit": always(NUMBER),
        "min_prop": always(NUMBER),
        "statistic": always(TEXT),
        "conf_level": always(NUMBER),
        "seed": always(INTEGER),
    }),
    "warnings": always(LIST),
    "n": required(INTEGER),
    "excluded": always({"n": always(INTEGER), "ids": always(LIST)}),
    "imaging": required(_MARKER),
    "genes": required(_MARKER),
    "both": required(_BOTH),
    "composite": required(_COMPOSITE),
    "line": always({
        "x0": always(NUMBER),
        "y0": always(NUMBER),
        "n_directions": always(INTEGER),
        "p_permutation": always(NUMBER),
        "optimism": optional(_OPTIMISM),
    }),
    "groups": always({
        "n": always(INTEGER),
        "groups": always(LIST, each=always({"group": always(INTEGER), "name": always(TEXT), "n": always(INTEGER)})),
        "table": always({"counts": always(LIST)}),
        "concordance": always(NUMBER),
        "n_concordant": always(INTEGER),
        "n_discordant": always(INTEGER),
        "fisher": always({"odds_ratio": always(NUMBER), "ci_low": always(NUMBER), "ci_high": always(NUMBER),
                          "p": always(NUMBER)}),
        "spearman": always({"rho": always(NUMBER), "p": always(NUMBER)}),
        "pearson": always({"r": always(NUMBER), "p": always(NUMBER)}),
        # covariate → the test across groups 1-4 (group → median)
        "kruskal_wallis": always(OBJECT, each=always({"h": always(NUMBER), "p": always(NUMBER),
                                                      "median_per_group": always(OBJECT, each=always(NUMBER))})),
        # covariate → marker → more vs less hypoxic
        "wilcoxon": always(OBJECT, each=always(OBJECT, each=always({
            "W": always(NUMBER), "p": always(NUMBER), "median_high": always(NUMBER),
            "median_low": always(NUMBER)}))),
        "logrank_groups_1_to_4": always({"chi2": always(NUMBER), "df": always(INTEGER), "p": always(NUMBER)}),
        "survival_at_horizon": always(OBJECT, each=always(_SURVIVAL_AT)),  # group number → PFS at the horizon
    }),
    # Why imaging and genes disagree (pipeline/cohort_extras.py; each analysis holds its numbers, or
    # ``not_computed`` / ``not_estimable`` saying why; their contents are read by report/disagreement_section.py)
    "disagreement": always({
        "inconsistency_by_imaging": optional(OBJECT),
        "tumour_volume_by_group": optional(OBJECT),
        "biopsy_slice_imaging": optional(OBJECT),
        "agreement_by_number_of_biopsies": optional(OBJECT),
        "not_computed": optional(TEXT, in_demo=False),  # why none of them could be computed
    }),
    "gene_score_vs_tumour_cell_fraction": always(OBJECT),
    "training_validation": always(OBJECT),
    "figures": always(OBJECT),
})

#: Variance components of one kind of sample (``heterogeneity.json`` ``slices``, ``biopsies``, ...): the
#: components when they could be computed, else ``not_computed`` saying why.
_VARIANCE = {
    "transform": always(TEXT),
    "W": optional(NUMBER),
    "B": optional(NUMBER),
    "T": optional(NUMBER),
    "Wk_over_T": optional(OBJECT, each=always(NUMBER)),  # k → (W/k) / (W/k + B)
    "n_tumours": optional(INTEGER),
    "n_samples": optional(INTEGER),
    "confidence_interval": optional({
        "description": always(TEXT),
        "level": always(NUMBER),
        "Wk_over_T": always(OBJECT, each=always(LIST)),
    }),
    "not_computed": optional(TEXT, in_demo=False),  # why W/T could not be computed
}
_HET_PARAMETERS = {"transform": always(TEXT)}

HETEROGENEITY_JSON = ResultFile("heterogeneity.json", "hypoxia-markers heterogeneity", {
    "version": always(TEXT),
    "method": always(TEXT),
    "slices": optional({
        "n_slices": always(INTEGER),
        "variance_components": always(_VARIANCE),
        "share_of_slices_with_tumour_status": always(NUMBER),
        "n_slices_with_tumour_status": always(INTEGER),
        "biopsy_slice_vs_tumour": always({"pearson_r": optional(NUMBER), "pearson_p": optional(NUMBER)}),
        "parameters": always(_HET_PARAMETERS),
    }),
    # Fig. 4H: more or less clustering of hypoxia against same/different status, or ``not_computed`` saying why
    "clustering_vs_agreement": always(OBJECT),
    "virtual_biopsies": optional({
        "n_virtual_biopsies": always(INTEGER),
        "n_virtual_biopsies_used": always(INTEGER),
        "variance_components": always(_VARIANCE),
        "clustering": always({
            "n_tumours": optional(INTEGER),
            "n_more_clustering": optional(INTEGER),
            "n_less_clustering": optional(INTEGER),
            "basis_size": optional(INTEGER),
            "edf": optional(NUMBER),
            "not_computed": optional(TEXT, in_demo=False),  # why the GAM was not fitted
        }),
        "parameters": always({
            **_HET_PARAMETERS,
            "patch_size": always(INTEGER),
            "n_biopsies_per_tumour": always(ANY),
            "seed": always(INTEGER),
            "a_threshold": always(NUMBER),
        }),
        "reference_curves_n_voxels": always(NUMBER),
    }),
    "biopsies": optional({
        "variance_components": always(_VARIANCE),
        "share_of_tumours_whose_biopsies_agree": always(NUMBER),
        "parameters": always(_HET_PARAMETERS),
    }),
    # any other long table of values (--values)
    "values": optional({"variance_components": always(_VARIANCE), "parameters": optional(_HET_PARAMETERS)},
                       in_demo=False),
    "parameters": always(OBJECT),
    "inputs": always(OBJECT),
    "warnings": always(LIST),
    "figures": optional(LIST),
    "files": always(LIST),
})

BATCH_JSON = ResultFile("batch.json", "hypoxia-markers batch", {
    "command": always(TEXT),
    "version": always(TEXT),
    "manifest": always(TEXT),
    "parameters": always({
        "seed": always(INTEGER),
        "synthetic": always(FLAG),  # the demo's synthetic cohort: the report says so in its title
        "truth_table": always(TEXT),  # the synthetic cohort's truth (null for real data)
        "cohort": legacy({"seed": legacy(INTEGER)}),  # older batches kept the cohort's options apart
    }),
    "counts": always(OBJECT, each=always(ANY)),  # what was counted → how many
    "stages": always(OBJECT, each=always(TEXT)),  # stage → done / failed: why / not requested
    "failed_stages": always(LIST),
    "refit": always(OBJECT),
    "timings_s": always(OBJECT, each=always(NUMBER)),  # stage → seconds
    "timings": legacy(OBJECT, each=legacy(NUMBER)),  # the name of timings_s in older batches
    "seed": legacy(INTEGER),  # older batches recorded the seed at the top level
    "patients": always(LIST, each=always({"patient": always(TEXT), "status": always(TEXT)})),
})

#: Every declared result file, by the name a batch folder holds it under.
RESULT_FILES = {"patients/*/summary.json": SUMMARY_JSON, "genes/scores.json": GENE_SCORES_JSON,
                "cohort/results.json": COHORT_RESULTS_JSON, "heterogeneity/heterogeneity.json": HETEROGENEITY_JSON,
                "batch.json": BATCH_JSON}
