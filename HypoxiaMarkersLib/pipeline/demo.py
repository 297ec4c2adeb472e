"""The demo stage: a synthetic cohort with known truth, through the whole pipeline to a report (``demo`` command).

Example::

    from HypoxiaMarkersLib.pipeline.batch import BatchSettings
    from HypoxiaMarkersLib.pipeline.demo import run_demo
    from HypoxiaMarkersLib.pipeline.demo_data import CohortSettings
    demo = run_demo("demo-out", CohortSettings(patients=118, seed=0), BatchSettings(workers=2))
    print(demo.report)

writes the generated inputs to ``demo-out/data`` and what ``batch`` made of them to ``demo-out/results``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Union

from ..errors import InputError
from .batch import BatchSettings, PatientOutcome, run_batch
from .demo_data import CohortSettings, write_cohort

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
        """The report page, if one was written."""
        page = self.results / "report" / "index.html"
        return page if page.is_file() else None


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
    if cohort.patients < MIN_PATIENTS:
        raise InputError("a cohort needs at least 20 patients for the statistics", source="--patients",
                         expected=f"an integer >= {MIN_PATIENTS}")
    out = Path(out)
    data = out / "data"
    if batch.workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=batch.workers) as pool:
            write_cohort(data, cohort, map_function=pool.map, progress=patient_progress)
    else:
        write_cohort(data, cohort, progress=patient_progress)
    if batch.signature is None:
        batch = dataclasses.replace(batch, signature=str(data / "reference_signature.json"))
    results = out / "results"
    record = run_batch(data / "manifest.csv", results, batch, progress=batch_progress, log=log)
    return DemoOutput(data=data, results=results, record=record)
