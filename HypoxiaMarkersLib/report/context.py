"""What every section of the report shares: the batch folder read once, its thresholds and cutoffs, and small
readers of batch.json and boolean columns."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from ..rules import HF_CUTOFF
from .batch_folder import BatchFolder
from .batch_folder import is_finite_number as _finite
from .formats import fmt_num

MARKERS = ("imaging", "genes", "both", "composite")
MARKER_TITLES = {"imaging": "Imaging (hypoxic fraction)", "genes": "Genes (6-gene hypoxia score)",
                 "both": "Both rule (group 1 vs 2-4)", "composite": "Composite score HScomp"}


@dataclass
class Context:
    """Values shared by the sections (read once from the batch)."""

    batch: BatchFolder
    a_thresholds: List[float]
    hf_cutoffs: List[float]
    seed_text: str
    out_dir: Path

    @property
    def a_threshold(self) -> Optional[float]:
        return self.a_thresholds[0] if self.a_thresholds else None

    @property
    def hf_cutoff(self) -> float:
        return self.hf_cutoffs[0] if self.hf_cutoffs else HF_CUTOFF

    def a_text(self) -> str:
        if not self.a_thresholds:
            return ""
        return "A_Brix threshold " + ", ".join(f"{a:g}" for a in self.a_thresholds)


def make_context(batch: BatchFolder, out_dir: Path) -> Context:
    a_values = sorted({float(img.a_threshold) for img in batch.images.values()})
    hf_values = sorted({float(img.hf_cutoff) for img in batch.images.values()})
    cohort_cutoff = (((batch.cohort or {}).get("imaging") or {}).get("cutoff") or {}).get("value")
    if not hf_values and _finite(cohort_cutoff):
        hf_values = [float(cohort_cutoff)]  # no image results: the cutoff the cohort statistics used
    seed = batch.seed
    return Context(batch=batch, a_thresholds=a_values, hf_cutoffs=hf_values,
                    seed_text=f" Batch seed {seed}." if seed is not None else "", out_dir=out_dir)


def flatten(data: Any, prefix: str = "") -> List[Tuple[str, str]]:
    rows: List[Tuple[str, str]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            rows.extend(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(data, list) and len(data) > 12:
        rows.append((prefix, f"[{len(data)} values]"))
    elif isinstance(data, float):
        rows.append((prefix, fmt_num(data, 4)))
    else:
        rows.append((prefix, json.dumps(data) if isinstance(data, (list, bool)) or data is None else str(data)))
    return rows


def batch_dict(batch: BatchFolder, *keys: str) -> Dict[str, Any]:
    """The first of ``keys`` in batch.json that holds a dict (e.g. 'counts', 'timings_s'), else {}."""
    if isinstance(batch.batch, dict):
        for key in keys:
            if isinstance(batch.batch.get(key), dict):
                return batch.batch[key]
    return {}


def stage_note(batch: BatchFolder, stage: str) -> str:
    """What batch.json says about a stage (' The batch run says: cohort failed: …'), or ''."""
    status = batch_dict(batch, "stages").get(stage)
    return f" batch.json says the {stage} stage: {status}." if status else ""


def bool_column(series: pd.Series) -> np.ndarray:
    mapping = {"true": True, "false": False, "1": True, "0": False, "1.0": True, "0.0": False}
    return series.astype(str).str.strip().str.lower().map(mapping).fillna(False).to_numpy(dtype=bool)
