"""Writing results safely: a whole output folder appears at once, or not at all.

A command writes into a hidden temporary folder beside the target and renames it into place only when
everything is written, so an error half-way never leaves a half-finished result, and never replaces a good
one from an earlier run.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np


@contextmanager
def atomic_output_dir(target: Path) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``target``, on error it is removed.

    Parameters
    ----------
    target : Path
        The output folder the user asked for. If it exists, it is replaced only after the new results are
        complete.
    """
    target = Path(target).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    _usual_permissions(tmp, 0o777)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.rmdir(old)
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)


@contextmanager
def atomic_file(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target``, on error it is removed.

    The temporary name ends with ``target``'s name, so writers that choose the format by the file's ending
    (SimpleITK, pynrrd, pandas) write the same format.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=".partial-", suffix=f"-{target.name}", dir=target.parent)
    os.close(handle)
    tmp = Path(name)
    _usual_permissions(tmp, 0o666)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _usual_permissions(path: Path, mode: int) -> None:
    # mkdtemp/mkstemp make private (0700/0600) entries; results are shared like anything else the user makes.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, mode & ~umask)


def to_jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays, paths and non-finite floats into plain JSON values (NaN → null)."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(data: Any, path: Path) -> None:
    """Write ``data`` as indented JSON with NaN/inf written as null (valid JSON for every reader)."""
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(to_jsonable(data), handle, indent=2, allow_nan=False)
        handle.write("\n")
