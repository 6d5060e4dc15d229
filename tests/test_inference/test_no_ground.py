"""A single-date model with no clear pixel to fill from writes nodata, never an invented constant."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cloudfree.cli import main
from cloudfree.errors import DataWarning
from cloudfree.inference.checks import clear_ground
from cloudfree.io import read_mask, read_raster, write_mask, write_raster
from cloudfree.radiometry import Radiometry
from tests.fixtures import make_raster
from tests.test_inference.releases import unet_release

BANDS = ("B02", "B03", "B04", "B08")


def _scene(tmp_path: Path, codes: np.ndarray) -> tuple[Path, Path]:
    r = make_raster(*codes.shape, BANDS, radiometry=Radiometry.DN, seed=3)
    r.data[:] += 100
    scene = write_raster(r, tmp_path / "scene.tif")
    write_mask(codes, r, tmp_path / "mask.tif")
    return scene, tmp_path / "mask.tif"


def _remove(scene: Path, mask: Path, out: Path, *extra: str) -> int:
    args = ["remove", str(scene), "-o", str(out), "--mask", str(mask), "--device", "cpu", "--no-progress", *extra]
    return main(args)


def test_clear_ground_counts_every_clear_pixel_at_full_resolution(tmp_path):
    codes = np.ones((300, 2100), np.uint8)
    codes[:, :10] = 255  # nodata does not count either way
    codes[299, 2099] = 0  # one clear pixel, which a decimated read would miss
    _, mask = _scene(tmp_path, codes)
    cover, clear = clear_ground(mask)
    assert clear == 1 and cover == pytest.approx(1 - 1 / (300 * 2090))


@pytest.mark.parametrize("codes_value", [1, 3])  # thick cloud everywhere, or shadow everywhere
def test_no_clear_pixel_gives_nodata_and_provenance_255_with_one_warning(tmp_path, codes_value):
    codes = np.full((64, 64), codes_value, np.uint8)
    scene, mask = _scene(tmp_path, codes)
    out = tmp_path / "out.tif"
    with pytest.warns(DataWarning, match="no clear pixel in the mask") as caught:
        assert _remove(scene, mask, out) == 0
    assert len([w for w in caught if issubclass(w.category, DataWarning)]) == 1
    result = read_raster(out)
    assert result.data.dtype == np.uint16 and not result.valid.any() and (result.data == 0).all()
    assert (read_mask(tmp_path / "out_provenance.tif") == 255).all()


def test_no_clear_pixel_gives_nodata_for_a_model_without_the_scene_background_too(tmp_path):
    scene, mask = _scene(tmp_path, np.ones((40, 48), np.uint8))
    rel = unet_release(tmp_path / "u")  # a binary-mask release: no scene-wide background
    out = tmp_path / "out.tif"
    with pytest.warns(DataWarning, match="no clear pixel"):
        assert _remove(scene, mask, out, "--model", str(rel), "--tile", "32", "--overlap", "8") == 0
    assert not read_raster(out).valid.any()


def test_a_few_clear_pixels_still_fill_the_scene_and_warn_that_it_is_rough(tmp_path):
    codes = np.ones((64, 64), np.uint8)
    codes[30:32, 30:32] = 0  # 4 clear pixels of 4096: 99.9 % cover
    scene, mask = _scene(tmp_path, codes)
    out = tmp_path / "out.tif"
    with pytest.warns(DataWarning, match=r"99\.90% of the scene is cloud or shadow"):
        assert _remove(scene, mask, out) == 0
    result, src = read_raster(out), read_raster(scene)
    assert result.valid.all()
    np.testing.assert_array_equal(result.data[:, 30:32, 30:32], src.data[:, 30:32, 30:32])  # clear kept
    assert (read_mask(tmp_path / "out_provenance.tif")[codes == 1] == 1).all()
    # the fill comes from those clear pixels: close to their level, not a mid-range constant
    clear_level = src.to_reflectance().data[:, 30:32, 30:32].mean(axis=(1, 2))
    filled_level = result.to_reflectance().data[:, codes == 1].mean(axis=1)
    assert np.abs(filled_level - clear_level).max() < 0.05


def test_clear_pixels_only_where_the_scene_is_nodata_give_nodata_too(tmp_path):
    r = make_raster(64, 64, BANDS, radiometry=Radiometry.DN, seed=4)
    r.data[:] += 100
    r.valid[:, :16] = False  # a nodata strip, which a mask made over a larger extent calls clear
    r.data[:, :, :16] = 0
    scene = write_raster(r, tmp_path / "scene.tif")
    codes = np.ones((64, 64), np.uint8)
    codes[:, :16] = 0
    write_mask(codes, r, tmp_path / "mask.tif")
    out = tmp_path / "out.tif"
    with pytest.warns(DataWarning, match="no clear pixel where the scene has data"):
        assert _remove(scene, tmp_path / "mask.tif", out) == 0
    assert not read_raster(out).valid.any()
    assert (read_mask(tmp_path / "out_provenance.tif") == 255).all()
