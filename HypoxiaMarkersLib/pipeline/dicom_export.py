"""The DICOM export of ``image --dicom-out`` and ``batch --dicom-out``: checked before any fit, written atomically
beside the NRRD results (the writer is :mod:`HypoxiaMarkersLib.io.dicom_out`)."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Sequence, Union

from ..errors import InputError
from ..io.dicom_out import DicomIdentity, check_dicom_export

PathLike = Union[str, Path]


@dataclass
class DicomExport:
    """Where and for whom the DICOM results are written.

    Attributes
    ----------
    out : path
        The folder of the Parametric Maps and the Segmentation (replaced only when hypoxia-markers wrote it).
    identity : DicomIdentity, optional
        Patient and study for a DCE series that is not DICOM (``--patient-id`` ...); must be None for a DICOM
        series, whose own patient and study are used.
    """

    out: PathLike
    identity: Optional[DicomIdentity] = None

    def record(self) -> dict:
        """As recorded in ``summary.json`` (``inputs.dicom_out``)."""
        identity = self.identity
        return {"folder": str(self.out), "patient_id": identity.patient_id if identity else None,
                "patient_name": identity.patient_name if identity else None,
                "study_instance_uid": identity.study_instance_uid if identity else None}


def is_dicom_input(dce: Sequence[PathLike]) -> bool:
    """True when the DCE series is a DICOM folder (the only DICOM input the readers take)."""
    return len(dce) == 1 and Path(dce[0]).is_dir()


def check_dicom_export_settings(export: DicomExport, dce: Sequence[PathLike], input_paths: Sequence[PathLike], *,
                                results_out: Optional[PathLike] = None, force: bool = False,
                                identity_options: str = "--patient-id") -> None:
    """Refuse, before any work, a DICOM export that cannot run or would write where it must not.

    Raises
    ------
    InputError
        highdicom missing or Python < 3.10 (naming the extra to install); a non-DICOM series without a patient,
        or a DICOM series with one given; an output folder that is an input, inside one, holds other files (without
        ``force``), or overlaps ``results_out``.
    """
    check_dicom_export()
    if is_dicom_input(dce):
        if export.identity is not None:
            raise InputError("the DCE series is DICOM: the results take its patient and study",
                             source=identity_options,
                             expected="no --patient-id, --patient-name or --study-instance-uid with a DICOM series")
    elif export.identity is None:
        raise InputError("the DCE series is not DICOM, so the DICOM results need a patient", source="--dicom-out",
                         expected=f"{identity_options} (and optionally --patient-name, --study-instance-uid)")
    else:
        export.identity.check()
    check_dicom_folder(export.out, input_paths, results_out=results_out, force=force)


def check_dicom_folder(folder: PathLike, input_paths: Sequence[PathLike], *, results_out: Optional[PathLike] = None,
                       force: bool = False) -> Path:
    """Refuse a ``--dicom-out`` folder that is, holds or lies inside an input, holds files this tool did not write
    (without ``force``), or is, holds or lies inside the results folder ``results_out``; return it (absolute)."""
    from ..io.outputs import check_output_dir

    out = check_output_dir(folder, input_paths, force=force, option="--dicom-out")
    if results_out is not None:
        results = Path(results_out).absolute().resolve()
        resolved = out.resolve()
        if resolved == results or results in resolved.parents or resolved in results.parents:
            raise InputError(f"--dicom-out {folder} overlaps the results folder {results_out}",
                             source="--dicom-out", expected="a folder outside the --out folder (and not holding it)")
    return out


@contextmanager
def dicom_results(result, export: Optional[DicomExport], input_paths: Sequence[PathLike] = (), *,
                  force: bool = False) -> Iterator[Optional[Path]]:
    """Write the DICOM results of ``result`` into a temporary folder that replaces ``export.out`` when the block
    ends without an error (the NRRD results are written inside the block: an error in either writes neither).
    Does nothing when ``export`` is None."""
    if export is None:
        yield None
        return
    from ..io.dicom_out import write_dicom_results
    from ..io.outputs import atomic_output_dir

    with atomic_output_dir(Path(export.out), input_paths, force=force, option="--dicom-out") as tmp:
        write_dicom_results(result, tmp, identity=export.identity)
        yield tmp


__all__ = ["DicomExport", "DicomIdentity", "check_dicom_export_settings", "check_dicom_folder", "dicom_results",
           "is_dicom_input"]
