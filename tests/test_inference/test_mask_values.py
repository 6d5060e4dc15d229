"""A mask file whose values are not mask codes is refused before any work (it would replace nothing)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from cloudfree.cli import main
from cloudfree.errors import DataWarning
from cloudfree.io import write_raster
from cloudfree.masks import MaskCodeError, check_codes, unexpected_codes
from cloudfree.radiometry import Radiometry
from tests.fixtures import make_raster


def _scene_and_mask(tmp_path: Path, values: np.ndarray, dtype: str = "uint8") -> tuple[Path, Path]:
    r = make_raster(48, 48, ("B02", "B03", "B04", "B08"), radiometry=Radiometry.DN, seed=2)
    scene = write_raster(r, tmp_path / "scene.tif")
    mask = tmp_path / "mask.tif"
    profile = dict(driver="GTiff", width=48, height=48, count=1, dtype=dtype, crs=r.crs, transform=r.transform)
    with rasterio.open(mask, "w", **profile) as dst:
        dst.write(values.astype(dtype)[None])
    return scene, mask


def _cloud(value: float) -> np.ndarray:
    m = np.zeros((48, 48), np.float64)
    m[10:30, 10:30] = value
    return m


@pytest.mark.parametrize(
    ("values", "dtype", "shown"),
    [(_cloud(100), "uint8", "(100)"), (_cloud(0.7), "float32", "(0.7)"), (_cloud(np.nan), "float32", "(nan)")],
)
def test_values_that_are_not_codes_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, values, dtype, shown):
    scene, mask = _scene_and_mask(tmp_path, values, dtype)
    out = tmp_path / "out.tif"
    assert main(["remove", str(scene), "-o", str(out), "--mask", str(mask), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--mask" in err[0] and str(mask) in err[0] and shown in err[0]
    assert "expected 0 clear, 1 thick cloud" in err[0]
    assert not out.exists() and not (tmp_path / "out_provenance.tif").exists()


def test_a_float_0_1_mask_is_accepted_and_removes_the_cloud(tmp_path):
    scene, mask = _scene_and_mask(tmp_path, _cloud(1.0), "float32")
    out = tmp_path / "out.tif"
    assert main(["remove", str(scene), "-o", str(out), "--mask", str(mask), "--no-progress"]) == 0
    with rasterio.open(tmp_path / "out_provenance.tif") as ds:
        prov = ds.read(1)
    assert (prov[10:30, 10:30] == 1).all()


def test_a_0_255_mask_warns_that_it_holds_no_cloud(tmp_path):
    scene, mask = _scene_and_mask(tmp_path, _cloud(255))
    with pytest.warns(DataWarning, match=r"only clear \(0\) and nodata \(255\).*write it as 0/1"):
        assert main(["remove", str(scene), "-o", str(tmp_path / "out.tif"), "--mask", str(mask), "--no-progress"]) == 0


def test_series_masks_are_checked_too(tmp_path, capsys):
    scene, mask = _scene_and_mask(tmp_path, _cloud(1))
    other = make_raster(48, 48, ("B02", "B03", "B04", "B08"), radiometry=Radiometry.DN, seed=5)
    series = write_raster(other, tmp_path / "other.tif")
    (tmp_path / "b").mkdir()
    _, bad = _scene_and_mask(tmp_path / "b", _cloud(7))
    args = ["remove", str(scene), "-o", str(tmp_path / "out.tif"), "--mask", str(mask), "--series", str(series),
            "--series-masks", str(bad), "--method", "gapfill", "--no-progress"]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--series-masks" in err and "not mask codes (7)" in err and not (tmp_path / "out.tif").exists()


def test_check_codes_refuses_fractions_a_cast_to_int_would_hide():
    assert unexpected_codes(np.array([0.0, 1.0, 2.0, 3.0, 255.0])) == []
    assert unexpected_codes(np.array([0.0, 0.5, 4.0])) == [0.5, 4]
    with pytest.raises(MaskCodeError, match=r"0\.5"):
        check_codes(np.array([[0.0, 0.5]]))
    assert check_codes(np.array([[0, 1], [3, 255]])).dtype == np.uint8


def test_evaluate_refuses_such_a_mask_too(tmp_path, capsys):
    scene, mask = _scene_and_mask(tmp_path, _cloud(100))
    out = tmp_path / "ev"
    assert main(["evaluate", str(scene), str(scene), "--mask", str(mask), "--no-figures", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not mask codes (100)" in err[0] and not out.exists()


def test_report_refuses_such_a_mask_too(tmp_path, capsys):
    scene, mask = _scene_and_mask(tmp_path, _cloud(0.5), "float32")
    out = tmp_path / "report.html"
    assert main(["report", "--before", str(scene), "--after", str(scene), "--mask", str(mask), "-o", str(out)]) == 2
    assert "not mask codes (0.5)" in capsys.readouterr().err and not out.exists()
