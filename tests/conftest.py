"""Shared fixtures: the real Sentinel-1/2 samples in ../shared/data and small generated rasters."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cloudfree.raster import Raster
from tests.fixtures import make_raster

# One thread per test process: `make test` runs two pytest workers on two cores, and tiny models
# train many times slower when torch threads oversubscribe the cores.
torch.set_num_threads(1)

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
