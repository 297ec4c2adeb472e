"""Writing results safely: a whole output folder appears at once, or not at all, and never over the user's files.

A command writes into a hidden temporary folder beside the target and renames it into place only when
everything is written, so an error half-way never leaves a half-finished result, and never replaces a good
one from an earlier run. An existing target is replaced only when this tool wrote it (it holds the marker file
:data:`MARKER`) or is empty, or when the user asked for it (``force``), and never when it is, contains or lies
inside one of the run's inputs. Temporary folders left by a run that was killed (SIGKILL, power loss) are removed
by the next run of the same output.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, List, Optional, Union

import numpy as np

from ..errors import InputError

#: The file that marks a folder as written by hypoxia-markers (so that it may be replaced by a new run).
MARKER = ".hypoxia-markers"

PathLike = Union[str, Path]


def _resolved(path: PathLike) -> Path:
    return Path(os.path.abspath(os.path.expanduser(str(path)))).resolve()


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def check_not_an_input(target: PathLike, inputs: Iterable[Optional[PathLike]] = (), *, option: str = "--out") -> None:
    """Refuse an output path that is, contains or lies inside one of ``inputs``.

    Parameters
    ----------
    target : path
        The output file or folder.
    inputs : paths
        The run's input files and folders (None entries are ignored).
    option : str
        How the output was given, for the message.

    Raises
    ------
    InputError
        When writing ``target`` could replace or delete an input.
    """
    out = _resolved(target)
    for given in inputs:
        if given is None or str(given) == "":
            continue
        source = _resolved(given)
        if out == source:
            raise InputError(f"{option} {target} is the input {given}: choose another output path "
                             "(an input is never overwritten)")
        if _is_within(source, out):
            raise InputError(f"{option} {target} contains the input {given}: replacing it would delete the input; "
                             "choose an output folder that does not hold the inputs")
        if source.is_dir() and _is_within(out, source):
            raise InputError(f"{option} {target} lies inside the input folder {given}: choose an output outside it")


def report_inputs(batch_dir: PathLike, out_dir: PathLike) -> List[Path]:
    """What a report reads: every entry of the batch folder except the report folder itself, so that ``--out``
    may be the batch's own ``report/`` (or a new folder inside the batch) but never the batch folder, nor one of
    its parts (``cohort/``, ``patients/`` ...)."""
    batch = Path(batch_dir)
    out = Path(os.path.abspath(out_dir))
    if not batch.is_dir():
        return [batch]
    return [entry for entry in sorted(batch.iterdir())
            if Path(os.path.abspath(entry)).resolve() != out.resolve()]


#: Result folders of version 0.1.0 (before the marker): the result file and a key only that file has.
_RESULT_FILES_0_1 = {"summary.json": "n_tumour_voxels", "results.json": "parameters", "heterogeneity.json": "method",
                     "report.json": "sections", "truth/truth.json": "slice_hypoxic_fractions"}


def written_by_this_tool(folder: Path) -> bool:
    """True when ``folder`` holds the marker file that hypoxia-markers writes into every output folder, or is a
    result folder of version 0.1.0 (written before the marker existed), recognised by its own result file."""
    folder = Path(folder)
    if (folder / MARKER).is_file():
        return True
    for name, key in _RESULT_FILES_0_1.items():
        try:
            content = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(content, dict) and key in content and ("version" in content or name == "truth/truth.json"):
            return True
    return False


def check_output_dir(target: PathLike, inputs: Iterable[Optional[PathLike]] = (), *, force: bool = False,
                     option: str = "--out") -> Path:
    """Check, before any work, that ``target`` may be written as an output folder; return it as an absolute path.

    A missing or empty folder, or one this tool wrote (it holds :data:`MARKER`), may be replaced. A folder holding
    other files is refused unless ``force``; a file, an input, a folder that contains an input or a folder inside
    an input folder are always refused.

    Raises
    ------
    InputError
        With the reason and what to do.
    """
    path = Path(target).absolute()
    check_not_an_input(path, inputs, option=option)
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise InputError(f"{option} {target} is a file, not a folder: give a folder for the results "
                         "(the file is left as it is)")
    if path.is_dir() and any(path.iterdir()) and not written_by_this_tool(path) and not force:
        raise InputError(f"{option} {target} is a folder that holds files hypoxia-markers did not write: give a new "
                         "or empty folder (or --force to replace it, deleting its contents)")
    return path


def check_output_file(target: PathLike, inputs: Iterable[Optional[PathLike]] = (), *, option: str = "--out") -> Path:
    """Check, before any work, that ``target`` may be written as an output file; return it as an absolute path.

    Raises
    ------
    InputError
        When ``target`` is an input, holds an input (a folder) or is an existing folder.
    """
    path = Path(target).absolute()
    check_not_an_input(path, inputs, option=option)
    if path.is_dir():
        raise InputError(f"{option} {target} is a folder: give a file name")
    return path


def _make_parent(target: Path, option: str) -> None:
    # A parent that is a file, or a read-only folder, is the user's to fix: say so instead of a traceback.
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"{option} {target}: cannot create the folder {target.parent} "
                         f"({error.strerror or error}); choose an output in a writable folder") from None
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise InputError(f"{option} {target}: the folder {target.parent} is not writable; "
                         "choose an output in a writable folder")


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # somebody else's process: alive
        return True
    return True


def remove_stale_partials(target: PathLike) -> int:
    """Remove the hidden temporary folders of ``target`` left by runs that were killed; return how many.

    Temporary folders are named ``.NAME.partial-PID-…`` / ``.NAME.old-PID-…``; one is stale when its process
    is gone. Folders of a run still in progress (a live PID) are left alone.
    """
    target = Path(target).absolute()
    if not target.parent.is_dir():
        return 0
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.(partial|old)-(\d+)-")
    removed = 0
    for entry in target.parent.iterdir():
        match = pattern.match(entry.name)
        if match and not _pid_alive(int(match.group(2))):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed += 1
    return removed


@contextmanager
def atomic_output_dir(target: Path, inputs: Iterable[Optional[PathLike]] = (), *, force: bool = False,
                      option: str = "--out") -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``target``, on error it is removed.

    Parameters
    ----------
    target : Path
        The output folder the user asked for. If it exists, it is replaced only after the new results are
        complete, and only when :func:`check_output_dir` allows it (checked again before replacing, in case the
        folder changed meanwhile).
    inputs : paths
        The run's inputs: the target may not be, contain or lie inside any of them.
    force : bool
        Replace a non-empty folder that this tool did not write.
    option : str
        How the output was given, for messages.
    """
    inputs = [i for i in inputs if i is not None]
    target = check_output_dir(target, inputs, force=force, option=option)
    _make_parent(target, option)
    remove_stale_partials(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-{os.getpid()}-", dir=target.parent))
    _usual_permissions(tmp, 0o777)
    try:
        yield tmp
        (tmp / MARKER).write_text("This folder was written by hypoxia-markers; a new run may replace it.\n",
                                  encoding="utf-8")
        check_output_dir(target, inputs, force=force, option=option)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-{os.getpid()}-", dir=target.parent))
        os.rmdir(old)
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)


@contextmanager
def atomic_file(target: Path, inputs: Iterable[Optional[PathLike]] = (), *, option: str = "--out") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target``, on error it is removed.

    The temporary name ends with ``target``'s name, so writers that choose the format by the file's ending
    (SimpleITK, pynrrd, pandas) write the same format. ``target`` may not be one of ``inputs`` or a folder.
    """
    target = check_output_file(target, [i for i in inputs if i is not None], option=option)
    _make_parent(target, option)
    remove_stale_partials(target)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.partial-{os.getpid()}-", suffix=f"-{target.name}",
                                    dir=target.parent)
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
