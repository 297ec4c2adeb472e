"""Compare two demo folders made by ``hypoxia-markers demo --out DIR``: CSV, JSON and NRRD content.

Run by hand (not a test: the demo takes minutes)::

    python tools/compare_demo.py /tmp/demo-before /tmp/demo-after

Ignored: run timings (JSON keys ``seconds``, ``timings_s``), the report's ``generated`` time, the inputs'
``fingerprint`` (file sizes and modification times, for batch's re-use of results: new files each demo), the output
folder's own path (replaced by ``<OUT>``, in keys too) and the package version string. Everything else must be
equal: CSV and JSON text values exactly, numbers exactly (no tolerance), NRRD voxel arrays and geometry exactly.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

IGNORED_KEYS = {"seconds", "version", "timings_s", "generated", "fingerprint"}


def _clean(value, root: str):
    if isinstance(value, dict):
        return {k.replace(root, "<OUT>"): _clean(v, root) for k, v in value.items() if k not in IGNORED_KEYS}
    if isinstance(value, list):
        return [_clean(v, root) for v in value]
    if isinstance(value, str):
        return value.replace(root, "<OUT>")
    if isinstance(value, float) and value != value:
        return "NaN"  # NaN != NaN: compare it as a token
    return value


def _text(path: Path, root: Path) -> str:
    return path.read_text().replace(str(root), "<OUT>")


def _nrrd_equal(a: Path, b: Path) -> bool:
    ia, ib = sitk.ReadImage(str(a)), sitk.ReadImage(str(b))
    same_grid = (ia.GetSize() == ib.GetSize() and ia.GetSpacing() == ib.GetSpacing()
                 and ia.GetOrigin() == ib.GetOrigin() and ia.GetDirection() == ib.GetDirection()
                 and ia.GetPixelIDValue() == ib.GetPixelIDValue())
    return same_grid and np.array_equal(sitk.GetArrayViewFromImage(ia), sitk.GetArrayViewFromImage(ib),
                                        equal_nan=np.issubdtype(sitk.GetArrayViewFromImage(ia).dtype, np.floating))


def compare(before: Path, after: Path) -> int:
    counts = {"csv": 0, "json": 0, "nrrd": 0}
    differences = []
    names_before = {p.relative_to(before) for p in before.rglob("*") if p.is_file()}
    names_after = {p.relative_to(after) for p in after.rglob("*") if p.is_file()}
    for missing in sorted(names_before ^ names_after):
        differences.append(f"only in one folder: {missing}")
    for rel in sorted(names_before & names_after):
        kind = rel.suffix.lstrip(".")
        if kind not in counts:
            continue
        counts[kind] += 1
        a, b = before / rel, after / rel
        if kind == "csv":
            same = _text(a, before) == _text(b, after)
        elif kind == "json":
            same = _clean(json.loads(a.read_text()), str(before)) == _clean(json.loads(b.read_text()), str(after))
        else:
            same = _nrrd_equal(a, b)
        if not same:
            differences.append(f"differs: {rel}")
    print(f"compared {counts['csv']} CSV, {counts['json']} JSON, {counts['nrrd']} NRRD files")
    for line in differences:
        print(line)
    print("identical" if not differences else f"{len(differences)} difference(s)")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(compare(Path(sys.argv[1]), Path(sys.argv[2])))
