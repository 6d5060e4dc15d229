"""Sentinel-1 preparation on the real Sen1Floods11 chip: dB, invalid fill, Lee filter, reprojection."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds

from cloudfree.bands import BandError
from cloudfree.io import read_raster
from cloudfree.io.sentinel1 import lee_filter, prepare_s1, read_s1
from cloudfree.radiometry import Radiometry, clip_sar_db, db_to_linear
from tests.fixtures import make_raster

S1 = "sen1floods11_spain/Spain_7370579_S1Hand.tif"


@pytest.fixture
def s1_db(shared_data):
    raster = read_raster(shared_data / S1)
    assert raster.bands == ("VV", "VH") and raster.radiometry is Radiometry.SAR_DB
    return raster


def _linear(raster):
    return raster.with_data(db_to_linear(raster.data), radiometry=Radiometry.SAR_LINEAR, nodata=None)


def test_db_input_on_its_own_grid_is_clipped_db(s1_db):
    out = prepare_s1(s1_db)
    assert out.bands == ("VV", "VH") and out.radiometry is Radiometry.SAR_DB and out.data.dtype == np.float32
    assert out.crs == s1_db.crs and out.transform == s1_db.transform and out.valid.all()
    np.testing.assert_allclose(out.data, clip_sar_db(s1_db.data), atol=1e-4)
    assert out.data[0].min() >= -25 and out.data[1].min() >= -32.5 and out.data.max() <= 0
    unclipped = prepare_s1(_linear(s1_db), clip=False)
    np.testing.assert_allclose(unclipped.data, s1_db.data, atol=1e-4)  # linear -> dB round trip


def test_invalid_power_is_filled_inside_the_footprint_only(s1_db):
    linear = _linear(s1_db)
    data = linear.data.copy()
    data[:, 100:104, 200:204] = 0.0  # border noise / masked pixels inside the footprint
    data[:, :, :50] = np.nan  # outside the footprint
    raster = linear.with_data(data, valid=np.isfinite(data).all(axis=0))
    out = prepare_s1(raster, clip=False)
    assert not out.valid[:, :50].any() and np.isnan(out.data[:, :, :50]).all()
    assert out.valid[:, 50:].all() and np.isfinite(out.data[:, :, 50:]).all()
    # the filled block takes values of its nearest valid neighbours
    neighbours = s1_db.data[:, 99:105, 199:205]
    block = out.data[:, 100:104, 200:204]
    assert block.min() >= neighbours.min() - 1e-3 and block.max() <= neighbours.max() + 1e-3


def test_lee_filter_smooths_speckle_and_keeps_edges():
    rng = np.random.default_rng(0)
    looks = 4.4
    truth = np.where(np.arange(64)[None, :] < 32, 0.02, 0.2) * np.ones((64, 1))
    speckled = truth * rng.gamma(looks, 1 / looks, size=truth.shape)
    filtered = lee_filter(speckled, size=7, looks=looks)
    dark, bright = (slice(8, 56), slice(2, 26)), (slice(8, 56), slice(38, 62))
    for region, level in ((dark, 0.02), (bright, 0.2)):
        assert filtered[region].std() < 0.5 * speckled[region].std()
        assert filtered[region].mean() == pytest.approx(level, rel=0.05)
    assert filtered[:, 30].mean() < 0.06 and filtered[:, 33].mean() > 0.15  # the edge stays sharp
    with pytest.raises(ValueError, match="odd number"):
        lee_filter(speckled, size=4)


def test_lee_filter_on_real_backscatter_keeps_the_mean(s1_db):
    raw = prepare_s1(_linear(s1_db), clip=False)
    smooth = prepare_s1(_linear(s1_db), clip=False, speckle_window=5)
    raw_power, smooth_power = db_to_linear(raw.data), db_to_linear(smooth.data)
    # mean power kept (within 5 %: strong point targets weigh on the local statistics), speckle reduced
    np.testing.assert_allclose(smooth_power.mean(axis=(1, 2)), raw_power.mean(axis=(1, 2)), rtol=0.05)
    assert np.diff(smooth.data, axis=2).std() < 0.6 * np.diff(raw.data, axis=2).std()


def test_reprojection_onto_a_sentinel2_utm_grid(s1_db):
    utm = CRS.from_epsg(32630)
    left, _, _, top = transform_bounds(s1_db.crs, utm, *s1_db.bounds)
    transform = Affine(10.0, 0.0, round(left) + 500, 0.0, -10.0, round(top) - 500)
    like = make_raster(300, 250, crs="EPSG:32630").with_data(np.zeros((4, 300, 250), np.float32), transform=transform)
    out = prepare_s1(_linear(s1_db), like, clip=False)
    assert out.crs == utm and out.transform == like.transform and out.shape == (2, 300, 250)
    assert out.valid.all()
    # bilinear in linear power, then dB: the same as warping the power with rasterio directly
    expected = np.zeros((2, 300, 250), np.float32)
    for i in range(2):
        reproject(db_to_linear(s1_db.data[i]), expected[i], src_transform=s1_db.transform, src_crs=s1_db.crs,
                  dst_transform=transform, dst_crs=utm, resampling=Resampling.bilinear)  # fmt: skip
    np.testing.assert_allclose(out.data, 10 * np.log10(expected), atol=1e-3)
    # averaging power, not dB: never darker than warping the dB values (Jensen), as documented
    in_db = np.zeros((2, 300, 250), np.float32)
    for i in range(2):
        reproject(s1_db.data[i], in_db[i], src_transform=s1_db.transform, src_crs=s1_db.crs,
                  dst_transform=transform, dst_crs=utm, resampling=Resampling.bilinear)  # fmt: skip
    assert (out.data >= in_db - 1e-3).all() and out.data.mean() > in_db.mean()
    # the grid can be given without a raster, and pixels beyond the chip are invalid
    wide = prepare_s1(s1_db, crs=utm, transform=Affine(10, 0, left - 1000, 0, -10, top - 1000), shape=(50, 200))
    assert not wide.valid[:, :99].any() and np.isnan(wide.data[:, :, :99]).all()
    assert wide.valid[:, 110:].all()


def test_bad_inputs_are_named(s1_db):
    with pytest.raises(BandError, match="lacks band"):
        prepare_s1(s1_db.select(["VV"]))
    with pytest.raises(ValueError, match="linear power or dB, not reflectance"):
        prepare_s1(make_raster(bands=("B02", "B03", "B04", "B08")).with_data(
            np.ones((2, 40, 50), np.float32), bands=("VV", "VH")))  # fmt: skip
    with pytest.raises(ValueError, match="give all of crs, transform and shape"):
        prepare_s1(s1_db, crs="EPSG:32630")
    nothing = s1_db.with_data(s1_db.data, valid=np.zeros(s1_db.valid.shape, bool))
    with pytest.raises(ValueError, match="no valid pixel"):
        prepare_s1(nothing)


def test_read_s1_from_one_or_two_files(s1_db, shared_data, stac):
    _, archive = stac
    both = read_s1(shared_data / S1, radiometry="sar_db")
    assert both.bands == ("VV", "VH") and both.radiometry is Radiometry.SAR_DB
    np.testing.assert_array_equal(both.data, s1_db.data)
    # the RTC-style single-band linear-power assets of the test archive (nodata -32768)
    vv, vh = (archive.files[f"/data/S1A_IW_GRDH_1SDV_20150730T165432_rtc_{p}.tif"] for p in ("vv", "vh"))
    pair = read_s1([vv, vh])
    assert pair.bands == ("VV", "VH") and pair.radiometry is Radiometry.SAR_LINEAR and pair.valid.all()
    np.testing.assert_allclose(prepare_s1(pair, clip=False).data, s1_db.data, atol=1e-4)
    with pytest.raises(ValueError, match="not reflectance"):
        read_s1(vv, radiometry="reflectance")
    with pytest.raises(ValueError, match="two files"):
        read_s1([vv, vh, vv])
