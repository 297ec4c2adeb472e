"""Shared fixtures for the pytest suite (tier 1: the library; tier 2: real MRML from slicer-core)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The project's real data folder (../shared/data beside the checkout)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder not found at {SHARED_DATA}")
    return SHARED_DATA


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


#: Fixtures that run whole cohorts through batch, demo or the report (and the 1321-frame QIBA DICOM series): every
#: test using one is marked ``slow``, so that ``pytest -m "not slow"`` gives a quick answer (CI runs everything).
SLOW_FIXTURES = {"demo0", "demo1", "cohort", "uninterrupted", "batch_dir", "report_dir", "small_cohort", "qiba"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
