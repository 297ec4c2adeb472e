"""The expression data model: :class:`ExpressionData`, :class:`ProbeMap`, the linear-scale check and the
constants the readers share (orientations, missing-value tokens, probe-ID patterns, column names)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union

import numpy as np
import pandas as pd

ORIENTATIONS = ("genes-by-samples", "samples-by-genes")

#: Cell texts read as a missing value (case-insensitive): GEO writes ``null``, R ``NA``, Excel ``#N/A``.
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "#n/a"})

#: Row-label patterns of common array probe IDs (Illumina, Affymetrix, Agilent), used to detect orientation.
PROBE_ID_PATTERNS = (
    re.compile(r"^ILMN_\d+$", re.IGNORECASE),
    re.compile(r"^\d+(_[a-z]+)*_at$", re.IGNORECASE),
    re.compile(r"^A_\d+_P\d+$", re.IGNORECASE),
)

#: Column names (compared lower-case without spaces, dots, dashes or underscores) tried, in order, for a probe
#: map's probe-ID column and gene-symbol column, and for a gene-symbol annotation column in an expression table.
PROBE_COLUMN_NAMES = ("id", "idref", "probeid", "probe", "probename", "probesetid", "probeset")
SYMBOL_COLUMN_NAMES = ("symbol", "genesymbol", "genesymbols", "hgncsymbol", "ilmngene", "gene")

#: Scale check: log2 expression never reaches this value (2**50 is ~1e15-fold); a 99th percentile above it
#: means linear intensities or counts.
LOG2_CEILING = 50.0
#: Scale check for positive data below the ceiling: linear values span many doublings with a long right tail.
LINEAR_MIN_RATIO = 64.0
LINEAR_MIN_SKEW = 2.0

_EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")


@dataclass(frozen=True)
class ScaleCheck:
    """Whether expression values look linear rather than log2, and the numbers the call rests on.

    Attributes
    ----------
    looks_linear : bool
    reason : str
        One sentence giving the rule that decided.
    minimum, maximum, median, q99, skewness : float
        Of all finite values.
    n_values : int
    """

    looks_linear: bool
    reason: str
    minimum: float
    maximum: float
    median: float
    q99: float
    skewness: float
    n_values: int

    def to_dict(self) -> Dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ProbeMap:
    """Probe ID → gene symbol, from a platform annotation table.

    Attributes
    ----------
    symbols : pandas.Series
        Indexed by probe ID (str); values are gene symbols (several separated by ``///`` are allowed, as in GEO).
    source : str
    probe_column, symbol_column : str
        The columns used.
    """

    symbols: pd.Series
    source: str
    probe_column: str
    symbol_column: str


@dataclass
class ExpressionData:
    """Log2 expression as a genes × samples table, with what is known about rows and samples.

    Attributes
    ----------
    values : pandas.DataFrame
        float64, rows = features (probe IDs or gene symbols; made unique by appending `` [2]``, `` [3]`` to
        repeated labels), columns = sample IDs (unique), NaN = missing.
    symbols : pandas.Series
        Gene symbol(s) of each row, indexed like ``values`` ("" when unknown).
    sample_annotations : pandas.DataFrame
        One row per sample (indexed like ``values.columns``): GEO titles and characteristics, or the text columns
        of a samples × genes table.
    source : str
        The file read.
    orientation : str
        The file's layout, one of :data:`ORIENTATIONS`.
    orientation_reason : str
        Given by the user, or how it was detected.
    gene_source : str
        Where the gene symbols came from (row labels, a probe map, an annotation column).
    log2_transformed : bool
        True when the reader applied log2 (``log2=True``).
    log2_offset : float
    scale : ScaleCheck or None
        The scale check of the values as read (None if skipped).
    metadata : dict
        File-level facts (GEO ``!Series_`` fields, the Excel sheet).
    warnings : list of str
    """

    values: pd.DataFrame
    symbols: pd.Series
    sample_annotations: pd.DataFrame
    source: str
    orientation: str = "genes-by-samples"
    orientation_reason: str = ""
    gene_source: str = "row labels"
    log2_transformed: bool = False
    log2_offset: float = 0.0
    scale: Optional[ScaleCheck] = None
    metadata: Dict[str, Any] = field(default_factory=dict)
    warnings: List[str] = field(default_factory=list)

    @property
    def samples(self) -> List[str]:
        """Sample IDs, in file order."""
        return [str(s) for s in self.values.columns]


# --------------------------------------------------------------------------------------------------------------
# Scale check


def check_scale(values: Union[np.ndarray, pd.DataFrame]) -> ScaleCheck:
    """Decide whether expression values look linear (intensities, counts, fold changes) instead of log2.

    Rules, in order (documented in docs/genes.md):

    1. 99th percentile above :data:`LOG2_CEILING` (50): linear. No log2 expression comes near 50.
    2. All values positive, ``max / min`` above :data:`LINEAR_MIN_RATIO` (64, six doublings) and skewness above
       :data:`LINEAR_MIN_SKEW` (2): linear. Linear data spread over orders of magnitude with a long right tail;
       log2 data (e.g. 5–15 on arrays) are bounded and near-symmetric.
    3. Otherwise log2 (negative values, as in centred or ΔCt-based log2 data, are never linear).

    Parameters
    ----------
    values : array or DataFrame
        Any shape; NaNs are ignored.
    """
    data = np.asarray(values, dtype=float).ravel()
    data = data[np.isfinite(data)]
    if data.size == 0:
        return ScaleCheck(False, "no values", np.nan, np.nan, np.nan, np.nan, np.nan, 0)
    minimum, maximum = float(data.min()), float(data.max())
    median, q99 = (float(v) for v in np.percentile(data, [50, 99]))
    sd = data.std()
    skewness = float(np.mean((data - data.mean()) ** 3) / sd**3) if sd > 0 else 0.0
    if q99 > LOG2_CEILING:
        linear, reason = True, f"99th percentile {q99:.4g} is above {LOG2_CEILING:g}, beyond any log2 expression"
    elif minimum > 0 and maximum / minimum > LINEAR_MIN_RATIO and skewness > LINEAR_MIN_SKEW:
        linear, reason = True, (
            f"all values are positive, spanning {maximum / minimum:.3g}-fold (> {LINEAR_MIN_RATIO:g}) with "
            f"skewness {skewness:.3g} (> {LINEAR_MIN_SKEW:g}), as linear values do"
        )
    else:
        linear, reason = False, (
            f"values from {minimum:.4g} to {maximum:.4g} (99th percentile {q99:.4g}, skewness {skewness:.3g}) "
            "fit a log2 scale"
        )
    return ScaleCheck(linear, reason, minimum, maximum, median, q99, skewness, int(data.size))

