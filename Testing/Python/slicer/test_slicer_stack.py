"""The module's imaging path on what 3D Slicer bundles: no pandas, lifelines, matplotlib, statsmodels, openpyxl.

Apply, the summary and the export must work in a fresh Slicer before any package is installed. This runs the
path the module's Logic takes (``HypoxiaMarkersLib.slicer.logic`` / ``session`` → ``imaging`` → ``io``) in a fresh
interpreter and checks what it imported. ``.ci/run`` also runs this file in a bare Slicer-5.8 stack (Python 3.9,
numpy 1.26, scipy 1.13, SimpleITK 2.3 and nothing else; ``HYPOXIA_MARKERS_BARE_STACK=1``), where importing any of
those packages would fail outright. Needs neither slicer-core nor pandas.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

#: Packages Slicer does not bundle, which the imaging analysis must not need.
NOT_BUNDLED = ("pandas", "lifelines", "matplotlib", "statsmodels", "openpyxl")

_IMAGING_PATH = r"""
import json, sys, tempfile, os
from HypoxiaMarkersLib.slicer import logic, mrml, session  # what the module's Logic imports
from HypoxiaMarkersLib.imaging import phantom
from HypoxiaMarkersLib.imaging.analysis import analyse_dce

p = phantom.make_phantom(seed=2, size=(40, 40, 5), tumour_radii_mm=(10.0, 9.0, 9.0), n_frames=20)
result = analyse_dce(p.series, p.tumour_mask)
run = logic.ImagingRun(series=p.series, tumour_mask=p.tumour_mask.astype(bool), result=result)
result = logic.with_hf_cutoff(result, 0.3)
summary = logic.patient_summary(result.hypoxic_fraction, 0.3, session.gene_score_or_problem("-0.42")[0], 0.0,
                                5.4, 127.0, biopsy=result.biopsy_slice.as_dict())
html = logic.summary_html(summary, result)
out = logic.export_results(run, logic.unique_export_folder(tempfile.mkdtemp(), "P1"), summary)
print(json.dumps({
    "imported": sorted(m for m in %(names)r if m in sys.modules),
    "slicer": "slicer" in sys.modules,
    "hf": result.hypoxic_fraction, "truth": p.hypoxic_fraction, "group": summary["group"],
    "files": sorted(os.listdir(out)),
}))
"""


def _run_imaging_path():
    code = _IMAGING_PATH % {"names": NOT_BUNDLED}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_imaging_path_imports_nothing_slicer_does_not_bundle():
    report = _run_imaging_path()
    assert report["imported"] == [], f"the imaging path imported {report['imported']}"
    assert not report["slicer"]  # the MRML bridge imports slicer only when it touches the scene
    assert abs(report["hf"] - report["truth"]) < 0.05  # and it computed the phantom's hypoxic fraction
    assert report["group"] in (3, 4)  # gene score -0.42 < 0: less hypoxic by genes
    assert {"a_brix.nrrd", "slices.csv", "patient_summary.json", "patient_summary.csv"} <= set(report["files"])


# Defined only in the bare Slicer-5.8 stack that .ci/run builds (HYPOXIA_MARKERS_BARE_STACK=1), so that the
# README's test command has nothing to skip.
if os.environ.get("HYPOXIA_MARKERS_BARE_STACK") == "1":

    def test_this_is_the_bare_slicer_stack():
        """Guards the check above: in the bare stack the packages are really absent (importing them would fail)."""
        assert sys.version_info[:2] == (3, 9)
        present = [name for name in NOT_BUNDLED if importlib.util.find_spec(name) is not None]
        assert present == [], f"the bare stack has {present}"
        import numpy
        import scipy
        import SimpleITK

        assert numpy.__version__.startswith("1.26") and scipy.__version__.startswith("1.13")
        assert SimpleITK.Version.MajorVersion() == 2 and SimpleITK.Version.MinorVersion() == 3
