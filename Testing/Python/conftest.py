"""Shared fixtures for the pytest suite (tier 1: the library; tier 2: real MRML from slicer-core)."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest

from helpers.paths import TEST_DATA


def _unpack(archive: Path, into: Path) -> None:
    """Unpack a ``.tar.xz`` of the test data into ``into`` (refusing links and paths outside it)."""
    with tarfile.open(archive, "r:xz") as tar:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.9.17 / 3.12: the safe extraction filter
            tar.extractall(into, filter="data")
        else:
            for member in tar.getmembers():
                if not member.isfile() or Path(member.name).is_absolute() or ".." in Path(member.name).parts:
                    raise RuntimeError(f"unexpected entry {member.name!r} in {archive}")
            tar.extractall(into)


@pytest.fixture(scope="session")
def shared_data(tmp_path_factory) -> Path:
    """The project's real test data (``Testing/Data``, carried with the repository), copied into a temporary
    folder with every ``.tar.xz`` unpacked in place, so no test can change the committed files."""
    if not TEST_DATA.is_dir():
        raise RuntimeError(f"test data folder missing: {TEST_DATA} (it is part of the repository)")
    root = tmp_path_factory.mktemp("data")
    for folder in sorted(p for p in TEST_DATA.iterdir() if p.is_dir()):
        shutil.copytree(folder, root / folder.name, ignore=shutil.ignore_patterns("*.tar.xz"))
        for archive in sorted(folder.glob("*.tar.xz")):
            _unpack(archive, root / folder.name)
    return root


@pytest.fixture(scope="session")
def invivo_tissue(shared_data):
    """The real in-vivo DCE slice (times from times_s.txt) and its tissue mask on the DCE grid."""
    import numpy as np

    from HypoxiaMarkersLib.io import read_dce, read_tumour_mask

    folder = shared_data / "invivo-dce-slice"
    series = read_dce(folder / "dce.nrrd", times=np.loadtxt(folder / "times_s.txt"))
    return series, read_tumour_mask(folder / "mask_tissue.nrrd", series.geometry)


@pytest.fixture
def scene():
    """A fresh MRML scene (real MRML from the slicer-core wheel) installed as ``slicer.mrmlScene``, as the
    application provides it, with the segmentation converter rules registered."""
    slicer = pytest.importorskip("slicer")
    from HypoxiaMarkersLib.slicer import mrml

    scene = slicer.vtkMRMLScene()
    previous = getattr(slicer, "mrmlScene", None)
    slicer.mrmlScene = scene
    mrml.register_segmentation_converters()
    yield scene
    scene.Clear(1)
    slicer.mrmlScene = previous


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory):
    """The demo command's stage on a small cohort (40 patients, small phantoms, seed 4), through the whole pipeline
    to the report: shared by the tests of the demo's issue-12 results and of its synthetic-data marking."""
    from HypoxiaMarkersLib.pipeline.batch import BatchSettings
    from HypoxiaMarkersLib.pipeline.demo import run_demo
    from HypoxiaMarkersLib.pipeline.demo_data import CohortSettings

    out = tmp_path_factory.mktemp("small_demo")
    return run_demo(out, CohortSettings(patients=40, seed=4, phantom_size=(40, 40, 5),
                                        tumour_radii_mm=(12.0, 10.0, 9.0)),
                    BatchSettings(permutations=50, seed=4), log=lambda _: None)


#: Fixtures that run whole cohorts through batch, demo or the report (and the 1321-frame QIBA DICOM series): every
#: test using one is marked ``slow``, so that ``pytest -m "not slow"`` gives a quick answer (CI runs everything).
SLOW_FIXTURES = {"demo0", "demo1", "cohort", "uninterrupted", "batch_dir", "report_dir", "small_cohort", "small_demo",
                 "qiba"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
