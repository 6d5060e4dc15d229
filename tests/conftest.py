"""Shared fixtures: the real Sentinel-1/2 samples in ../shared/data and small generated rasters."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudfree.raster import Raster
from tests.fixtures import make_raster

SHARED_DATA = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real samples folder; its absence is an error, not a skip (CI has it)."""
    if not (SHARED_DATA / "README.md").exists():
        raise RuntimeError(f"real sample data not found at {SHARED_DATA}; the tests read ../shared/data")
    return SHARED_DATA


@pytest.fixture
def small_raster() -> Raster:
    return make_raster()
