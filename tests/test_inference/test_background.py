"""The scene-wide clear-sky background: block means of clear pixels, and removal of clouds larger than a tile."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from cloudfree.inference.background import SceneBackground, scene_background
from cloudfree.inference.model_pass import ModelPass
from cloudfree.inference.removal import remove
from cloudfree.inference.sources import InputSpec
from cloudfree.io import read_raster, write_mask, write_raster
from cloudfree.radiometry import Radiometry
from tests.fixtures import make_raster
from tests.test_inference.releases import save


def _ramp_scene(size: int = 192):
    """4-band reflectance ramps (left to right, top to bottom) and a thick cloud over the middle."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    data = np.stack([0.05 + 0.3 * xx, 0.1 + 0.2 * yy, 0.08 + 0.1 * (xx + yy), 0.3 - 0.2 * xx]).astype(np.float32)
    scene = replace(make_raster(size, size), data=data)
    codes = np.zeros((size, size), np.uint8)
    codes[32:160, 40:168] = 1  # 128 x 128 px of thick cloud: wider than a 64 px tile
    return scene, codes


def test_background_holds_block_means_of_clear_pixels_and_fills_the_rest(tmp_path):
    scene, codes = _ramp_scene()
    write_raster(scene, tmp_path / "scene.tif", cog=False)
    write_mask(codes, scene, tmp_path / "mask.tif", cog=False)
    bg = scene_background(InputSpec(tmp_path / "scene.tif"), InputSpec(tmp_path / "mask.tif", kind="mask"), block=16)
    assert bg is not None and bg.data.shape == (4, 12, 12) and bg.bands == scene.bands
    block_means = scene.data.reshape(4, 12, 16, 12, 16).mean(axis=(2, 4))
    clear_blocks = codes.reshape(12, 16, 12, 16).max(axis=(1, 3)) == 0
    assert np.allclose(bg.data[:, clear_blocks], block_means[:, clear_blocks], atol=1e-5)
    # blocks under the cloud are filled smoothly from their neighbours: close to the true ramps
    assert np.abs(bg.data - block_means).max() < 0.06


def test_background_tiles_interpolate_between_block_centres():
    yy, xx = np.mgrid[0:4, 0:5].astype(np.float32)
    bg = SceneBackground(np.stack([yy, xx]), ("B02", "B03"), block=8, height=32, width=40)
    tile = bg.tile(4, 12, 16)  # block centres sit at pixel 3.5, 11.5, 19.5 ...
    fine = (np.arange(16, dtype=np.float32) + 0.5) / 8 - 0.5
    assert np.allclose(tile[0, :, 0], np.clip(fine + 0.5, 0, 3))  # rows 4..19
    assert np.allclose(tile[1, 0], np.clip(fine + 1.5, 0, 4))  # cols 12..27
    edge = bg.tile(24, 32, 16)  # reaches past the scene: nearest edge values
    assert edge[0].max() == 3.0 and edge[1].max() == 4.0


def test_nothing_clear_gives_no_background(tmp_path):
    scene, codes = _ramp_scene(64)
    write_raster(scene, tmp_path / "scene.tif", cog=False)
    write_mask(np.ones_like(codes), scene, tmp_path / "mask.tif", cog=False)
    assert scene_background(InputSpec(tmp_path / "scene.tif"), InputSpec(tmp_path / "mask.tif", kind="mask")) is None


@pytest.mark.parametrize("with_background", [True, False])
def test_a_cloud_larger_than_a_tile_is_filled_from_the_scene_not_grey(tmp_path, monkeypatch, with_background):
    """An untrained opacity release outputs its prior: with the scene-wide background the 128 px
    cloud is filled close to the true ramps; with tile-local fills alone the tiles inside it
    would have nothing to fill from (mid-grey)."""
    scene, codes = _ramp_scene()
    write_raster(scene, tmp_path / "scene.tif", cog=False)
    write_mask(codes, scene, tmp_path / "mask.tif", cog=False)
    args = {"in_channels": 5, "out_channels": 4, "ngf": 4, "depth": 2, "mask_encoding": "opacity"}
    release = save(tmp_path / "opacity", "PriorResidualUNet", args, uses_mask=True)
    if not with_background:
        monkeypatch.setattr(ModelPass, "_uses_background", lambda self: False)
    remove(tmp_path / "scene.tif", tmp_path / "out.tif", model=release, mask=tmp_path / "mask.tif", tile=64,
           overlap=16, provenance=None, progress=False, device="cpu")  # fmt: skip
    out = read_raster(tmp_path / "out.tif").data
    err = np.abs(out - scene.data)[:, codes == 1].mean()
    if with_background:
        assert err < 0.02, err
    else:
        assert err > 0.1, err  # the failure the background prevents
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_scene_without_crs_gets_a_background_too(tmp_path):
    """The background is sampled by pixel position, so it needs no CRS."""
    scene, codes = _ramp_scene(64)
    scene = replace(scene, crs=None)
    write_raster(scene, tmp_path / "scene.tif", cog=False)
    write_mask(codes, scene, tmp_path / "mask.tif", cog=False)
    bg = scene_background(InputSpec(tmp_path / "scene.tif"), InputSpec(tmp_path / "mask.tif", kind="mask"))
    assert bg is not None and bg.data.shape == (4, 4, 4)


@pytest.mark.parametrize("offset", [0.0, -1000.0])
def test_dn_scenes_give_the_background_of_their_reflectance(tmp_path, offset):
    """DN are summed as integers (offset added per block); the result equals summing reflectance."""
    dn = make_raster(70, 83, seed=3, radiometry=Radiometry.DN)  # partial blocks at the right and bottom
    dn = replace(dn, data=dn.data + np.uint16(1000), dn_offset=np.full(4, offset, np.float32))
    dn.valid[:5, :7] = False
    dn.data[:, :5, :7] = 0
    codes = np.zeros((70, 83), np.uint8)
    codes[20:50, 30:60] = 1
    write_raster(dn, tmp_path / "dn.tif", cog=False)
    write_raster(dn.to_reflectance(), tmp_path / "refl.tif", cog=False)
    write_mask(codes, dn, tmp_path / "mask.tif", cog=False)
    mask = InputSpec(tmp_path / "mask.tif", kind="mask")
    from_dn = scene_background(InputSpec(tmp_path / "dn.tif"), mask, block=16)
    from_refl = scene_background(InputSpec(tmp_path / "refl.tif"), mask, block=16)
    assert from_dn is not None and from_refl is not None and from_dn.data.shape == (4, 5, 6)
    np.testing.assert_allclose(from_dn.data, from_refl.data, atol=1e-6)


def test_tile_sampling_is_bilinear_between_block_centres():
    data = np.arange(2 * 4 * 5, dtype=np.float32).reshape(2, 4, 5)
    bg = SceneBackground(data, ("B02", "B03"), block=4, height=16, width=20)
    tile = bg.tile(0, 0, 16)
    assert tile.shape == (2, 16, 16) and tile.dtype == np.float32
    # pixel (5.5, 9.5) centre -> coarse (1.125, 1.875): bilinear of data[:, 1:3, 1:3]
    u, v = (5 + 0.5) / 4 - 0.5, (9 + 0.5) / 4 - 0.5
    expected = data[:, 1, 1] * (1 - (u - 1)) * (1 - (v - 1)) + data[:, 1, 2] * (1 - (u - 1)) * (v - 1)
    expected += data[:, 2, 1] * (u - 1) * (1 - (v - 1)) + data[:, 2, 2] * (u - 1) * (v - 1)
    np.testing.assert_allclose(tile[:, 5, 9], expected, rtol=1e-6)
    np.testing.assert_array_equal(tile[:, 0, 0], data[:, 0, 0])  # before the first centre: the edge value
