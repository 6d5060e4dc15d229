import numpy as np
import pytest
from affine import Affine
from rasterio.windows import Window

from cloudfree.bands import BandError
from cloudfree.data.pairing import AlignedPair, PairingError, align_pair, mask_from_file, paired_normalization
from cloudfree.io import read_mask, read_raster
from cloudfree.masks import MaskCodeError
from cloudfree.normalization import Normalization
from cloudfree.radiometry import Radiometry
from tests.fixtures import make_raster
from tests.test_data.pair_helpers import floods, floods_s2, slovenia, slovenia_mask, to_utm_copy


def test_real_slovenia_pair_is_reflectance_on_the_clear_grid(shared_data):
    cloudy = read_raster(slovenia(shared_data, "2015-07-31"))
    clear = read_raster(slovenia(shared_data, "2015-08-30"))
    mask = mask_from_file(slovenia_mask(shared_data, "2015-07-31"))
    pair = align_pair(cloudy, clear, mask=mask)
    assert isinstance(pair, AlignedPair) and pair.scene == "S2_L1C_2015-07-31"
    assert pair.bands == clear.bands and pair.bands[8] == "B8A" and len(pair.bands) == 13
    assert pair.crs.to_epsg() == 32633 and pair.transform == clear.transform
    assert (pair.height, pair.width) == (101, 100) and pair.valid.all()
    assert pair.cloudy.radiometry is Radiometry.REFLECTANCE and pair.cloudy.data.dtype == np.float32
    np.testing.assert_allclose(pair.cloudy.data, cloudy.data / 10000.0, rtol=1e-6)
    np.testing.assert_allclose(pair.clear.data, clear.data / 10000.0, rtol=1e-6)
    np.testing.assert_array_equal(pair.mask.data[0], read_mask(slovenia_mask(shared_data, "2015-07-31")))
    # the overcast date is much brighter in the visible bands than the clear one
    assert pair.cloudy.data[1].mean() > 1.5 * pair.clear.data[1].mean()


def test_band_order_follows_the_reference_and_names_travel(shared_data):
    cloudy = read_raster(slovenia(shared_data, "2015-07-31"), select="B08,B04,B03,B02")
    clear = read_raster(slovenia(shared_data, "2015-08-30"), select="rgbn")
    pair = align_pair(cloudy, clear)
    assert pair.bands == ("B02", "B03", "B04", "B08")
    np.testing.assert_allclose(pair.cloudy.select(["B08"]).data, cloudy.select(["B08"]).data / 10000.0, rtol=1e-6)
    cloudy_ref = align_pair(cloudy, clear, reference="cloudy")
    assert cloudy_ref.bands == ("B08", "B04", "B03", "B02")
    assert align_pair(cloudy, clear, bands="rgb").bands == ("B04", "B03", "B02")


def test_warped_cloudy_and_sar_are_aligned_onto_the_clear_grid(shared_data):
    clear = floods_s2(shared_data, "rgbn")
    cloudy = to_utm_copy(clear)  # real data on a UTM grid: different CRS, pixel size and extent
    sar = read_raster(floods(shared_data, "S1Hand"))
    pair = align_pair(cloudy, clear, sar=sar)
    assert pair.crs == clear.crs and pair.sar.crs == clear.crs
    assert pair.sar.transform == pair.transform == pair.cloudy.transform
    # cropped to the common valid area, which lies inside the clear footprint
    left, bottom, right, top = pair.clear.bounds
    cl, cb, cr, ct = clear.bounds
    assert cl <= left < right <= cr and cb <= bottom < top <= ct
    assert pair.valid.mean() > 0.9 and pair.height > 400 and pair.width > 400
    a, b = pair.cloudy.data[:, pair.valid], pair.clear.data[:, pair.valid]
    assert np.abs(a - b).mean() < 0.01  # two resamplings of the same scene
    assert all(np.corrcoef(a[i], b[i])[0, 1] > 0.95 for i in range(4))
    # S1 shares the clear S2's file grid: it is cropped, not resampled
    row = round((pair.transform.f - clear.transform.f) / clear.transform.e)
    col = round((pair.transform.c - clear.transform.c) / clear.transform.a)
    original = sar.data[:, row : row + pair.height, col : col + pair.width]
    np.testing.assert_array_equal(pair.sar.data[:, pair.valid], original[:, pair.valid])
    assert pair.sar.radiometry is Radiometry.SAR_DB and pair.sar.bands == ("VV", "VH")
    vv, vh = np.median(pair.sar.data[:, pair.valid], axis=1)
    assert -25 < vv < 0 and -32.5 < vh < vv  # typical backscatter in dB, VH below VV


def test_whole_pixel_shift_is_cropped_without_resampling(shared_data):
    clear = floods_s2(shared_data, "rgbn")
    shifted = clear.window(Window(100, 50, 300, 200))
    pair = align_pair(shifted, clear)
    assert (pair.height, pair.width) == (200, 300) and pair.transform == shifted.transform
    np.testing.assert_array_equal(pair.cloudy.data, pair.clear.data)


def test_mask_is_reprojected_with_nearest_and_keeps_codes(shared_data):
    clear = floods_s2(shared_data, "rgb")
    cloudy = to_utm_copy(clear)
    codes = np.zeros((cloudy.height, cloudy.width), np.uint8)
    codes[:, : cloudy.width // 3] = 1
    codes[:10] = 3
    pair = align_pair(cloudy, clear, mask=codes)
    values = set(np.unique(pair.mask.data).tolist())
    assert values <= {0, 1, 3, 255} and {0, 1, 3} <= values
    assert pair.mask.transform == pair.transform
    # the cloudy third of the UTM image maps to the west part of the clear grid
    west, east = pair.mask.data[0, :, :50], pair.mask.data[0, :, -50:]
    assert (west[pair.valid[:, :50]] != 0).mean() > 0.9 and (east[pair.valid[:, -50:]] == 1).mean() < 0.05


def test_band_sets_that_differ_name_both_files(shared_data):
    cloudy = read_raster(slovenia(shared_data, "2015-07-31"))
    clear = read_raster(slovenia(shared_data, "2015-08-30"), select="rgbn")
    with pytest.raises(BandError, match=r"2015-07-31\.tif.*B01.*2015-08-30\.tif has \['B02'"):
        align_pair(cloudy, clear)
    with pytest.raises(BandError, match="unknown band name 'B99'"):
        align_pair(cloudy, clear, bands="B99")


def test_footprints_that_do_not_overlap_or_barely_overlap(shared_data):
    clear = read_raster(slovenia(shared_data, "2015-08-30"))
    far = make_raster(50, 50, bands=clear.bands, crs="EPSG:32633")  # 500 km west of Slovenia
    with pytest.raises(PairingError, match=r"do not overlap.*<memory>.*2015-08-30\.tif"):
        align_pair(far, clear)
    t = clear.transform
    corner = make_raster(50, 50, bands=clear.bands, crs="EPSG:32633")
    corner.transform = Affine(t.a, 0, t.c + 90 * t.a, 0, t.e, t.f + 90 * t.e)  # overlaps 10 x 11 px
    with pytest.raises(PairingError, match="less than one patch of 32 px"):
        align_pair(corner, clear, min_size=32)
    small = align_pair(corner, clear, min_size=8)
    assert (small.height, small.width) == (11, 10)


def test_all_nodata_member_and_bad_mask_are_named(shared_data):
    clear = read_raster(slovenia(shared_data, "2015-08-30"))
    empty = clear.with_data(np.zeros_like(clear.data), valid=np.zeros(clear.valid.shape, bool), source="empty.tif")
    with pytest.raises(PairingError, match=r"empty\.tif: no valid pixel"):
        align_pair(empty, clear)
    bad = np.full((clear.height, clear.width), 7, np.uint8)
    with pytest.raises(MaskCodeError, match="unexpected mask codes \\[7\\]"):
        align_pair(clear, clear, mask=bad)
    with pytest.raises(PairingError, match="all 255"):
        align_pair(clear, clear, mask=np.full((clear.height, clear.width), 255, np.uint8))


def test_invalid_pixels_are_excluded_and_cropped():
    clear = make_raster(40, 50)
    cloudy = make_raster(40, 50, seed=1)
    cloudy.valid[:, :5] = False  # a nodata stripe on the west edge
    cloudy.valid[20, 30] = False  # and one hole
    pair = align_pair(cloudy, clear)
    assert (pair.height, pair.width) == (40, 45) and pair.transform.c == clear.transform.c + 5 * 10
    assert not pair.valid[20, 25] and pair.valid.sum() == 40 * 45 - 1
    assert pair.cloudy.data[:, 20, 25].tolist() == [0.0] * 4


def test_linear_sar_becomes_db():
    clear = make_raster(20, 20)
    linear = np.full((2, 20, 20), 0.01, np.float32)
    sar = make_raster(20, 20, bands=("VV", "VH")).with_data(linear, radiometry=Radiometry.SAR_LINEAR)
    pair = align_pair(clear, clear, sar=sar)
    np.testing.assert_allclose(pair.sar.data, -20.0, atol=1e-5)


def test_paired_normalization_uses_both_members(shared_data):
    pair = align_pair(
        read_raster(slovenia(shared_data, "2015-07-31")), read_raster(slovenia(shared_data, "2015-08-30"))
    )
    norm = paired_normalization(pair, "zscore")
    both = np.concatenate([pair.cloudy.data.reshape(13, -1), pair.clear.data.reshape(13, -1)], axis=1)
    np.testing.assert_allclose(norm.offset, both.mean(axis=1), rtol=1e-5)
    assert norm.bands == pair.bands
    assert isinstance(paired_normalization(pair, "percentile"), Normalization)
