"""The demo stage: a synthetic cohort with known truth, through the whole pipeline to a report (``demo`` command).

Example::

    from HypoxiaMarkersLib.pipeline.batch import BatchSettings
    from HypoxiaMarkersLib.pipeline.demo import run_demo
    from HypoxiaMarkersLib.pipeline.demo_data import CohortSettings
    demo = run_demo("demo-out", CohortSettings(patients=118, seed=0), BatchSettings(workers=2))
    print(demo.report)

writes the generated inputs to ``demo-out/data`` and what ``batch`` made of them to ``demo-out/results``.

A second run into the same folder reuses the data only when they were generated with the same settings (seed,
patients, ...: ``data/truth.json``) by the same version; otherwise the whole data folder is generated anew (and
replaces the old one only once complete), and the batch then refits every patient, whose inputs changed.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Union

from .. import __version__
from ..errors import InputError
from ..io.outputs import MARKER, atomic_output_dir, check_output_dir, remove_stale_partials, written_by_this_tool
from .batch import BatchSettings, PatientOutcome, check_settings, mark_as_written, run_batch
from .demo_data import MANIFEST_COVARIATES, SPLIT_COLUMN, SPLIT_FILE, CohortSettings, write_cohort

PathLike = Union[str, Path]
MIN_PATIENTS = 20


@dataclass
class DemoOutput:
    """Where the demo wrote its data and results, and what the batch recorded."""

    data: Path
    results: Path
    record: dict  # the content of results/batch.json

    @property
    def report(self) -> Optional[Path]:
        """The report page, if this run wrote one."""
        page = self.results / "report" / "index.html"
        done = str(self.record.get("stages", {}).get("report", "")).startswith("done")
        return page if done and page.is_file() else None


def run_demo(
    out: PathLike,
    cohort: CohortSettings,
    batch: BatchSettings,
    *,
    patient_progress: Optional[Callable[[int, int], None]] = None,
    batch_progress: Optional[Callable[[int, int, PatientOutcome], None]] = None,
    log: Callable[[str], None] = print,
) -> DemoOutput:
    """Write a synthetic cohort into ``out/data`` and run the batch on it into ``out/results``.

    Parameters
    ----------
    out : path
        Output folder.
    cohort : CohortSettings
        The synthetic cohort (number of patients, seed, planted hazard ratio, phantom size).
    batch : BatchSettings
        Settings of the batch; without a signature, the cohort's reference signature is used. With
        ``batch.workers > 1`` the phantoms are written in parallel too.
    patient_progress : callable, optional
        ``patient_progress(done, total)`` as each synthetic patient is written.
    batch_progress, log : callable, optional
        Passed to :func:`HypoxiaMarkersLib.pipeline.batch.run_batch`.

    Returns
    -------
    DemoOutput
    """
    check_cohort_settings(cohort)
    check_settings(batch, MANIFEST_COVARIATES)
    out = Path(out).absolute()
    earlier = _is_demo_folder(out)
    out = check_output_dir(out, [batch.signature], force=batch.force or earlier)
    out.mkdir(parents=True, exist_ok=True)
    mark_as_written(out)
    data = out / "data"
    remove_stale_partials(data)  # a regeneration that was killed
    if not same_data(data, cohort):
        # Other settings (or an incomplete folder): the whole data folder is generated anew, so that phantoms,
        # expression, outcomes and truth always come from one draw.
        with atomic_output_dir(data, force=_is_demo_data(data), option="--out (data)") as tmp:
            if batch.workers > 1:
                from concurrent.futures import ProcessPoolExecutor

                with ProcessPoolExecutor(max_workers=batch.workers) as pool:
                    write_cohort(tmp, cohort, map_function=pool.map, progress=patient_progress)
            else:
                write_cohort(tmp, cohort, progress=patient_progress)
    if batch.signature is None:
        batch = dataclasses.replace(batch, signature=str(data / "reference_signature.json"))
    if batch.validation_column is None and batch.validation_table is None:
        # The demo's training/validation split, so that the report shows that analysis too.
        batch = dataclasses.replace(batch, validation_column=SPLIT_COLUMN, validation_table=str(data / SPLIT_FILE))
    results = out / "results"
    # Said explicitly in batch.json, so that the report calls the data synthetic and compares with the truth; the
    # truth table relative to the results (the report resolves it from there), so a moved demo folder keeps it.
    batch = dataclasses.replace(batch, synthetic=True, truth_table="../data/truth.csv")
    record = run_batch(data / "manifest.csv", results, batch, progress=batch_progress, log=log)
    return DemoOutput(data=data, results=results, record=record)


def check_cohort_settings(cohort: CohortSettings) -> None:
    """Refuse a synthetic cohort that cannot be made or analysed, before anything is generated."""
    if not isinstance(cohort.patients, int) or cohort.patients < MIN_PATIENTS:
        raise InputError("a cohort needs at least 20 patients for the statistics", source="--patients",
                         expected=f"an integer >= {MIN_PATIENTS}")
    if not (isinstance(cohort.hr_both, (int, float)) and math.isfinite(cohort.hr_both) and cohort.hr_both > 0):
        raise InputError(f"{cohort.hr_both!r} is not a hazard ratio", source="--hr-both",
                         expected="a finite number > 0")
    if not isinstance(cohort.seed, int) or cohort.seed < 0:
        raise InputError(f"{cohort.seed!r} is not a seed", source="--seed", expected="an integer >= 0")


def same_data(data: Path, cohort: CohortSettings) -> bool:
    """True when ``data`` is a complete synthetic cohort generated with exactly ``cohort``'s settings by this
    version (its ``truth.json``)."""
    if not (data / MARKER).is_file() or not (data / "manifest.csv").is_file() or not (data / SPLIT_FILE).is_file():
        return False  # incomplete, or made before the training/validation split file
    try:
        truth = json.loads((data / "truth.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    wanted = json.loads(json.dumps(dataclasses.asdict(cohort)))
    return isinstance(truth, dict) and truth.get("settings") == wanted and truth.get("version") == __version__


def _is_demo_data(data: Path) -> bool:
    try:
        truth = json.loads((data / "truth.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(truth, dict) and "settings" in truth and "hazard_model" in truth


def _is_demo_folder(out: Path) -> bool:
    # A demo folder of version 0.1.0 (before the marker): its data and results recognised by their own files.
    return written_by_this_tool(out) or (out.is_dir() and _is_demo_data(out / "data"))
