"""The ukis-csmask adapter: 30 m round trip without shift, codes, nodata, dilation, the scene pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from cloudfree.inference.mask_scene import OutputExistsError, _windowed, mask_scene
from cloudfree.masking import guards
from cloudfree.masking.csmask import CsmaskModel, block_mean, csmask_probabilities, expand, resample_factor
from cloudfree.masks import NODATA
from tests.test_masking.scenes import cloud_square_scene, write_scene


def test_resample_factor_brings_pixels_to_about_30_m():
    assert [resample_factor(r) for r in (10, 20, 30, 60, None)] == [3, 2, 1, 1, 1]


def test_block_mean_and_expand_are_aligned_inverses():
    x = np.arange(36, dtype=np.float32).reshape(1, 1, 6, 6)
    valid = np.ones((1, 6, 6), bool)
    small = block_mean(x, valid, 3)
    assert small.shape == (1, 1, 2, 2)
    assert small[0, 0, 0, 0] == pytest.approx(x[0, 0, :3, :3].mean())
    back = expand(small, 3)
    assert back.shape == x.shape
    assert np.all(back[0, 0, :3, :3] == small[0, 0, 0, 0]) and np.all(back[0, 0, 3:, 3:] == small[0, 0, 1, 1])
    valid[0, 0, 0] = False  # invalid pixels do not enter the means
    assert block_mean(x, valid, 3)[0, 0, 0, 0] == pytest.approx(np.delete(x[0, 0, :3, :3].ravel(), 0).mean())


def test_probabilities_shape_and_sum_on_generated_tile():
    raster, _ = cloud_square_scene()
    p = csmask_probabilities(raster.data[None], raster.valid[None], CsmaskModel(6, "L1C"), 1)
    assert p.shape == (1, 3, 256, 256)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-4)


def test_bright_square_stays_in_place_after_the_30_m_round_trip(tmp_path):
    """A 10 m scene is run at 30 m (factor 3) and brought back: same mask as the 30 m scene, no shift."""
    fine, truth = cloud_square_scene(repeat=3)  # 768 x 768 at 10 m, each 30 m pixel repeated 3 x 3
    coarse, _ = cloud_square_scene()
    s = mask_scene(write_scene(fine, tmp_path / "fine.tif"), tmp_path / "fine_mask.tif", progress=False)
    mask_scene(write_scene(coarse, tmp_path / "coarse.tif"), tmp_path / "coarse_mask.tif", progress=False)
    assert s.method == "csmask-4+6band-L1C" and "6- and 4-band" in s.reason
    with rasterio.open(tmp_path / "fine_mask.tif") as ds, rasterio.open(tmp_path / "coarse_mask.tif") as dc:
        mask, mask30 = ds.read(1), dc.read(1)
        assert ds.crs == fine.crs and ds.transform == fine.transform
        assert ds.tags()["CLOUDFREE_MASK_METHOD"] == "csmask-4+6band-L1C"
        assert ds.tags()["CLOUDFREE_CSMASK_FACTOR"].startswith("3 (10.0 m -> 30.0 m)")
        assert dc.tags()["CLOUDFREE_CSMASK_FACTOR"].startswith("1 ")
    assert set(np.unique(mask)) <= {0, 1, 3}
    np.testing.assert_array_equal(mask, expand(mask30, 3))  # the 30 m mask, pixel for pixel
    cloud = mask == 1
    assert cloud[truth].mean() > 0.95
    rows, cols = np.nonzero(cloud & truth)
    tr, tc = np.nonzero(truth)
    assert abs(rows.mean() - tr.mean()) < 1.5 and abs(cols.mean() - tc.mean()) < 1.5  # no shift


def test_nodata_stays_255_and_existing_output_is_refused(tmp_path):
    raster, _ = cloud_square_scene()
    raster.valid[:, :40] = False
    src = write_scene(raster, tmp_path / "scene.tif")
    out = tmp_path / "mask.tif"
    mask_scene(src, out, progress=False)
    with rasterio.open(out) as ds:
        mask = ds.read(1)
        assert ds.nodata == NODATA
    assert np.all(mask[:, :40] == NODATA) and not np.any(mask[:, 40:] == NODATA)
    with pytest.raises(OutputExistsError, match="--overwrite"):
        mask_scene(src, out, progress=False)
    mask_scene(src, out, progress=False, overwrite=True)


def test_dilation_grows_cloud_then_shadow_and_keeps_nodata():
    codes = np.zeros((20, 20), np.uint8)
    codes[5, 5] = 1
    codes[15, 15] = 3
    codes[0, :] = NODATA
    out = guards.dilate(codes, 2)
    assert out[5, 7] == 1 and out[5, 8] == 0 and out[7, 5] == 1
    assert out[15, 13] == 3 and out[15, 12] == 0
    assert np.all(out[0] == NODATA)
    assert np.array_equal(guards.dilate(codes, 0), codes)


def test_windowed_dilation_equals_whole_scene_dilation(tmp_path):
    from cloudfree.inference.mask_scene import SceneMaskSummary
    from cloudfree.io.geotiff import write_mask

    rng = np.random.default_rng(1)
    codes = rng.choice(np.array([0, 0, 0, 0, 0, 0, 1, 3, 255], np.uint8), size=(150, 170))
    raster, _ = cloud_square_scene(size=170)
    raw = tmp_path / "raw.tif"
    write_mask(codes, _like(raster, 150, 170), raw)
    summary = SceneMaskSummary(tmp_path / "d.tif", "test", 150, 170, 0.0)
    _windowed(raw, tmp_path / "d.tif", 0, 3, lambda a: guards.dilate(a, 3), summary, False, window=64)
    with rasterio.open(tmp_path / "d.tif") as ds:
        assert np.array_equal(ds.read(1), guards.dilate(codes, 3))


def _like(raster, h, w):
    from cloudfree.raster import Raster

    valid = np.ones((h, w), bool)
    return Raster(raster.data[:, :h, :w], raster.bands, raster.crs, raster.transform, valid, raster.radiometry)


def test_mask_scene_dilate_option(tmp_path):
    raster, _ = cloud_square_scene()
    src = write_scene(raster, tmp_path / "scene.tif")
    plain = mask_scene(src, tmp_path / "a.tif", progress=False)
    grown = mask_scene(src, tmp_path / "b.tif", progress=False, dilate=4)
    assert grown.cloud_fraction > plain.cloud_fraction
    with rasterio.open(tmp_path / "b.tif") as ds:
        assert ds.tags()["CLOUDFREE_MASK_DILATE_PX"] == "4"
    assert not list(tmp_path.glob(".*raw*"))  # the first pass's file is removed


def test_snow_guard_clears_snow_only_where_the_spectral_test_holds():
    codes = np.array([[1, 1, 3, 0]], np.uint8)
    green = np.array([[0.8, 0.6, 0.7, 0.8]], np.float32)
    swir = np.array([[0.05, 0.45, 0.06, 0.05]], np.float32)  # snow, cloud (bright SWIR), snow, snow
    assert guards.snow_guard(codes, green, swir).tolist() == [[0, 1, 0, 0]]


def test_water_guard_clears_shadow_on_dark_water_only():
    codes = np.array([[3, 3, 1]], np.uint8)
    green = np.array([[0.06, 0.04, 0.06]], np.float32)
    nir = np.array([[0.02, 0.10, 0.02]], np.float32)  # water, shadowed vegetation, water under cloud
    assert guards.water_guard(codes, green, nir).tolist() == [[0, 3, 1]]


def test_scl_mapping():
    scl = np.array([[0, 3, 4, 6, 8, 9, 10, 11]], np.uint8)
    assert guards.scl_to_codes(scl).tolist() == [[255, 3, 0, 0, 1, 1, 2, 0]]


def test_scl_band_method(tmp_path):
    """A file whose last band is described SCL: --method scl maps Sen2Cor's classes to mask codes."""
    raster, _ = cloud_square_scene(size=64)
    scl = np.full((1, 64, 64), 4, np.float32)
    scl[0, :8] = 9  # cloud high probability
    scl[0, 8:16] = 3  # shadow
    scl[0, 16:24] = 11  # snow: clear
    scl[0, 24:26] = 0  # no data
    path = tmp_path / "l2a_scl.tif"
    with rasterio.open(
        path, "w", driver="GTiff", height=64, width=64, count=5, dtype="float32", crs=raster.crs,
        transform=raster.transform,
    ) as ds:  # fmt: skip
        ds.write(np.concatenate([raster.data[:4], scl]))
        ds.descriptions = ("B02", "B03", "B04", "B08", "SCL")
    for method in ("scl", "auto"):
        s = mask_scene(path, tmp_path / f"{method}.tif", method=method, progress=False)
        assert s.method == "scl"
        with rasterio.open(tmp_path / f"{method}.tif") as ds:
            mask = ds.read(1)
            assert ds.tags()["CLOUDFREE_MASK_METHOD"] == "scl"
        assert np.all(mask[:8] == 1) and np.all(mask[8:16] == 3) and np.all(mask[16:24] == 0)
        assert np.all(mask[24:26] == NODATA) and np.all(mask[26:] == 0)


def test_fill_holes_closes_small_enclosed_clear_patches_only():
    codes = np.zeros((40, 40), np.uint8)
    codes[2:18, 2:18] = 1  # a cloud with
    codes[6:8, 6:8] = 0  # a 4 px hole -> cloud
    codes[10:16, 10:16] = 0  # a 36 px hole: larger than max_px -> kept
    codes[22:30, 2:10] = 3  # a shadow with a 1 px hole -> shadow
    codes[25, 5] = 0
    codes[22:30, 20:28] = 1  # a cloud whose hole touches nodata -> kept
    codes[25, 23] = 0
    codes[25, 24] = NODATA
    codes[32:40, 30:40] = 1  # a cloud at the array edge: its gap open to the edge -> kept
    codes[36:40, 34:36] = 0
    codes[2:10, 30:38] = 1  # a hole diagonally connected to the open clear area -> kept
    codes[9, 37] = 0
    codes[8, 36] = 0
    out = guards.fill_holes(codes, 10)
    assert np.all(out[6:8, 6:8] == 1) and out[25, 5] == 3
    assert np.all(out[10:16, 10:16] == 0) and out[25, 23] == 0 and np.all(out[36:40, 34:36] == 0)
    assert out[8, 36] == 0 and out[25, 24] == NODATA
    changed = out != codes
    assert changed.sum() == 5  # the 4 px cloud hole and the 1 px shadow hole, nothing else
    assert np.array_equal(guards.fill_holes(codes, 0), codes)


def test_windowed_hole_filling_equals_whole_scene(tmp_path):
    from cloudfree.inference.mask_scene import SceneMaskSummary
    from cloudfree.io.geotiff import write_mask

    rng = np.random.default_rng(2)
    codes = np.zeros((150, 170), np.uint8)
    for _ in range(12):  # square clouds with small gaps, some across window edges
        r, c, s = rng.integers(0, 130), rng.integers(0, 150), rng.integers(10, 30)
        codes[r : r + s, c : c + s] = 1
    gaps = rng.random(codes.shape) < 0.03
    codes[gaps & (codes == 1)] = 0
    raster, _ = cloud_square_scene(size=170)
    raw = tmp_path / "raw.tif"
    write_mask(codes, _like(raster, 150, 170), raw)
    summary = SceneMaskSummary(tmp_path / "h.tif", "test", 150, 170, 0.0)
    fn = lambda a: guards.fill_holes(a, 9)  # noqa: E731
    _windowed(raw, tmp_path / "h.tif", 0, guards.hole_halo(9), fn, summary, False, window=64)
    whole = fn(codes)
    assert (whole != codes).sum() > 20  # holes were filled
    with rasterio.open(tmp_path / "h.tif") as ds:
        assert np.array_equal(ds.read(1), whole)


def test_mask_scene_fill_holes_option_is_tagged(tmp_path):
    raster, _ = cloud_square_scene()
    src = write_scene(raster, tmp_path / "scene.tif")
    mask_scene(src, tmp_path / "b.tif", progress=False, fill_holes=16)
    with rasterio.open(tmp_path / "b.tif") as ds:
        assert ds.tags()["CLOUDFREE_MASK_FILL_HOLES_PX"] == "16"
    assert not list(tmp_path.glob(".*raw*"))
    with pytest.raises(Exception, match="--fill-holes"):
        mask_scene(src, tmp_path / "c.tif", progress=False, fill_holes=-1)
