"""Shared fixtures: the real Sentinel-1/2 samples in ../shared/data and small generated rasters.

Two tiers. The core tier runs on a fresh clone; the real-data tier is every test that asks for the
``shared_data`` fixture (directly or through another fixture). Those tests are marked ``realdata``
at collection (``pytest -m "not realdata"`` runs the core tier alone) and are skipped with one line
when ``../shared/data`` is absent; the terminal summary then says so once.
"""

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
SKIP_REASON = "real-data tier: ../shared/data not found"
_SKIP_LINE = next(
    i for i, line in enumerate(Path(__file__).read_text().splitlines()) if line.startswith("def shared_data()")
)


def shared_data_present() -> bool:
    """Whether the real samples folder (with its README) sits beside the repository."""
    return (SHARED_DATA / "README.md").exists()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that needs the real samples (its fixture closure holds ``shared_data``)."""
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.realdata)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Real-data skips are reported at the fixture, so ``-ra`` folds them into one summary line."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and isinstance(report.longrepr, tuple) and report.longrepr[2].endswith(SKIP_REASON):
        report.longrepr = (__file__, _SKIP_LINE, report.longrepr[2])


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if shared_data_present():
        return
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if SKIP_REASON in str(r.longrepr)]
    terminalreporter.write_line(f"{SKIP_REASON} at {SHARED_DATA}: {len(skipped)} real-data tests skipped")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real samples folder; the test is skipped (one line) when it is absent."""
    if not shared_data_present():
        pytest.skip(SKIP_REASON)
    return SHARED_DATA


@pytest.fixture
def small_raster() -> Raster:
    return make_raster()
