"""No numpy RuntimeWarning reaches the user on degenerate inputs (issue 15 item 4).

Inputs with all-NaN pixels, a band of zeros, an empty
cloud class in the mask, ``inf`` pixels. Each command runs in a fresh interpreter with Python's
default warning filters, as on a user's terminal.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from cloudfree.io import write_mask, write_raster
from tests.fixtures import make_raster

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("degenerate")
    r = make_raster(64, 64)
    nan, inf, zero = r.data.copy(), r.data.copy(), r.data.copy()
    nan[:] = np.nan
    inf[:, :10] = np.inf
    zero[0] = 0.0
    mask = np.zeros((64, 64), np.uint8)
    return {
        "good": write_raster(r, d / "good.tif"),
        "nan": write_raster(replace(r, data=nan), d / "nan.tif"),
        "inf": write_raster(replace(r, data=inf), d / "inf.tif"),
        "zeroband": write_raster(replace(r, data=zero), d / "zeroband.tif"),
        "clear_mask": write_mask(mask, r, d / "clear_mask.tif"),
    }


CASES = {
    "info-nan": lambda p, o: ["info", str(p["nan"])],
    "info-inf": lambda p, o: ["info", str(p["inf"])],
    "evaluate-zeroband": lambda p, o: ["evaluate", str(p["zeroband"]), str(p["good"]), "--out", str(o), "--no-figures"],
    "evaluate-empty-cloud-class": lambda p, o: [
        "evaluate",
        str(p["good"]),
        str(p["zeroband"]),
        "--mask",
        str(p["clear_mask"]),
        "--out",
        str(o),
        "--no-figures",
    ],
    "simulate-zeroband": lambda p, o: ["simulate-clouds", str(p["zeroband"]), "-o", str(o / "s.tif")],
    "evaluate-inf": lambda p, o: ["evaluate", str(p["inf"]), str(p["good"]), "--out", str(o), "--no-figures"],
    "simulate-inf": lambda p, o: ["simulate-clouds", str(p["inf"]), "-o", str(o / "s.tif")],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_no_runtime_warning(case: str, inputs: dict[str, Path], tmp_path: Path) -> None:
    # a fresh interpreter with Python's default warning filters: what a user's terminal shows
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    argv = [sys.executable, "-m", "cloudfree.cli", *CASES[case](inputs, tmp_path / "out")]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode in (0, 2), done.stderr[-2000:]
    assert "RuntimeWarning" not in done.stderr and "encountered in" not in done.stderr, done.stderr[-2000:]
