"""`prepare` says when a pair is misregistered by part of a pixel or leaves splits empty.

Before (issue 15 item 6): a half-pixel-shifted pair was resampled without a word, and a partial
overlap that yields 6 train / 0 val / 0 test chips gave no warning.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from affine import Affine

from cloudfree.cli import main
from cloudfree.data.pairing import PairingError, align_pair, subpixel_shift
from cloudfree.errors import DataWarning
from cloudfree.io import write_raster
from tests.fixtures import make_raster


def _shifted(raster, dx_px: float, dy_px: float):
    t = raster.transform
    return replace(raster, transform=Affine(t.a, 0, t.c + dx_px * t.a, 0, t.e, t.f + dy_px * t.e))


def test_half_pixel_shift_is_reported_by_prepare(tmp_path: Path) -> None:
    clear = make_raster(64, 64, seed=1)
    cloudy = _shifted(make_raster(64, 64, seed=2), 0.5, 0.0)
    a, b = write_raster(cloudy, tmp_path / "cloudy.tif"), write_raster(clear, tmp_path / "clear.tif")
    argv = ["prepare", "--cloudy", str(a), "--clear", str(b), "--out", str(tmp_path / "chips"), "--patch", "16"]
    with pytest.warns(DataWarning) as record:
        assert main(argv) == 0
    text = " ".join(str(w.message) for w in record)
    assert "cloudy.tif" in text and "+0.50 columns" in text and "clear.tif" in text


def test_subpixel_shift_values_and_refusal() -> None:
    clear = make_raster(32, 32)
    assert subpixel_shift(clear, clear) == (0.0, 0.0)
    assert subpixel_shift(_shifted(clear, 3.0, -2.0), clear) == (0.0, 0.0)  # whole pixels: copied
    row, col = subpixel_shift(_shifted(clear, 0.25, 0.5), clear)
    assert col == pytest.approx(0.25) and abs(row) == pytest.approx(0.5)
    with pytest.warns(DataWarning, match="shifted by"):
        align_pair(_shifted(make_raster(32, 32, seed=3), 0.3, 0), clear)
    with pytest.raises(PairingError, match=r"more than the allowed 0\.2 px"):
        align_pair(_shifted(make_raster(32, 32, seed=3), 0.3, 0), clear, max_shift=0.2)


def test_whole_pixel_shift_gives_no_warning(recwarn) -> None:
    clear = make_raster(32, 32)
    align_pair(_shifted(make_raster(32, 32, seed=3), 2.0, 1.0), clear)
    assert not [w for w in recwarn if issubclass(w.category, DataWarning)]


def test_empty_splits_are_named(tmp_path: Path) -> None:
    clear = make_raster(32, 32, seed=1)  # 4 chips of 16 px: all fall in train
    a = write_raster(make_raster(32, 32, seed=2), tmp_path / "cloudy.tif")
    b = write_raster(clear, tmp_path / "clear.tif")
    argv = ["prepare", "--cloudy", str(a), "--clear", str(b), "--out", str(tmp_path / "chips"), "--patch", "16"]
    with pytest.warns(DataWarning, match=r"split\(s\) are empty") as record:
        assert main(argv) == 0
    text = str(record[-1].message)
    assert str(tmp_path / "chips") in text and ("val" in text or "test" in text)


def test_cli_prints_warnings_on_one_line() -> None:
    from cloudfree.cli import _format_warning

    line = _format_warning(DataWarning("a.tif is shifted\n by 0.5 px"), DataWarning, "x.py", 1)
    assert line == "cloudfree: warning: a.tif is shifted by 0.5 px\n"
