"""Where the tests find the repository, its test data and the stored reference values."""

from __future__ import annotations

from pathlib import Path

#: The repository's root (this file is Testing/Python/helpers/paths.py).
REPO_ROOT = Path(__file__).resolve().parents[3]
#: The real data that travel with the tests (read through the ``shared_data`` fixture, which copies them).
TEST_DATA = REPO_ROOT / "Testing" / "Data"
#: Values computed by R (and the R scripts that made them).
REFERENCE = REPO_ROOT / "Testing" / "Python" / "reference"
