"""Temporal baselines on the real Slovenia series, plus exact checks on generated series."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
import rasterio
from affine import Affine
from scipy import ndimage

from cloudfree.inference.temporal import METHODS, acquisition_date, fill_temporal
from cloudfree.io import read_raster, write_mask, write_raster
from cloudfree.radiometry import Radiometry
from tests.fixtures import make_raster

OTHERS = ("2015-07-11", "2015-07-31", "2015-08-20", "2015-09-09")


@pytest.fixture(scope="module")
def cloudy_target(tmp_path_factory, shared_data):
    """2015-08-30 (clear) with a simulated thick cloud: the truth is known everywhere."""
    folder = shared_data / "slovenia_timeseries_l1c"
    tmp = tmp_path_factory.mktemp("slovenia")
    clear = read_raster(folder / "S2_L1C_2015-08-30.tif")
    yy, xx = np.mgrid[: clear.height, : clear.width]
    mask = (((yy - 50) ** 2 + (xx - 45) ** 2) < 25**2).astype(np.uint8)
    data = clear.data.astype(np.float32)
    data[:, mask == 1] = 0.3 * data[:, mask == 1] + 0.7 * 6000.0  # bright, flat cloud
    cloudy = clear.with_data(data.astype(np.uint16))
    cloudy.tags = {"DATETIME": "2015-08-30T10:05:47"}
    write_raster(cloudy, tmp / "target.tif", tags=cloudy.tags)
    write_mask(mask, clear, tmp / "target_mask.tif")
    series = [folder / f"S2_L1C_{d}.tif" for d in OTHERS]
    masks = [folder / f"CLM_{d}.tif" for d in OTHERS]
    return tmp, clear, cloudy, mask, series, masks


@pytest.mark.parametrize("method", METHODS)
def test_each_baseline_reconstructs_the_clear_date(cloudy_target, method):
    tmp, clear, cloudy, mask, series, masks = cloudy_target
    out_path = tmp / f"{method}.tif"
    summary = fill_temporal(
        tmp / "target.tif",
        out_path,
        method=method,
        series=series,
        mask=tmp / "target_mask.tif",
        series_masks=masks,
        feather=2,
        progress=False,
    )
    out = read_raster(out_path)
    inside = mask == 1
    err = np.abs(out.data[:, inside].astype(float) - clear.data[:, inside]).mean()
    left_as_is = np.abs(cloudy.data[:, inside].astype(float) - clear.data[:, inside]).mean()
    assert err < 0.1 * left_as_is, (method, err, left_as_is)
    assert err < 200  # DN: within 0.02 reflectance of the truth on average
    far = ndimage.distance_transform_edt(~inside) > 2
    np.testing.assert_array_equal(out.data[:, far], cloudy.data[:, far])
    assert out.crs.to_epsg() == 32633 and out.transform.almost_equals(clear.transform) and out.bands == clear.bands
    # the two overcast dates (s2cloudless: all cloud) cannot fill anything
    assert summary.extra["gap_cover"][1] == 1.0 and summary.extra["gap_cover"][2] == 1.0
    assert summary.extra["unfilled"] == 0
    if method == "least-cloudy":
        assert summary.extra["ranking"][0].endswith("2015-09-09.tif")  # clear and nearer than 07-11
    if method == "gapfill":
        # by time: 09-09 (10 days minus 5 min), then 08-20 (cloudy: skipped per pixel), 07-31, 07-11
        assert [p[-14:-4] for p in summary.extra["ranking"]] == ["2015-09-09", "2015-08-20", "2015-07-31", "2015-07-11"]
        assert summary.extra["fit_pixels"][3] > 5000


def test_gapfill_fits_gain_and_offset_exactly(tmp_path):
    target = make_raster(30, 30, bands=("B04", "B08"), seed=1)
    target.tags = {}
    member = target.with_data(((target.data - 0.01) / 1.2).astype(np.float32))
    write_raster(target, tmp_path / "T_2020-06-10.tif")
    write_raster(member, tmp_path / "M_2020-06-15.tif")
    mask = np.zeros((30, 30), np.uint8)
    mask[10:20, 10:20] = 1
    write_mask(mask, target, tmp_path / "mask.tif")
    s = fill_temporal(
        tmp_path / "T_2020-06-10.tif",
        tmp_path / "out.tif",
        method="gapfill",
        series=[tmp_path / "M_2020-06-15.tif"],
        mask=tmp_path / "mask.tif",
        feather=0,
        progress=False,
    )
    np.testing.assert_allclose(s.extra["gain"][0], [1.2, 1.2], rtol=1e-4)
    np.testing.assert_allclose(s.extra["offset"][0], [0.01, 0.01], atol=1e-5)
    out = read_raster(tmp_path / "out.tif")
    assert out.radiometry is Radiometry.REFLECTANCE
    np.testing.assert_allclose(out.data, target.data, atol=1e-5)


def test_series_member_on_another_grid_is_reprojected(tmp_path):
    target = make_raster(24, 24, bands=("B04",), seed=2)
    write_raster(target, tmp_path / "t_20200101.tif")
    big = np.full((1, 34, 34), 0.25, np.float32)  # 5 px larger on every side, same 10 m pixels
    t = target.transform
    with rasterio.open(
        tmp_path / "m_20200111.tif",
        "w",
        driver="GTiff",
        width=34,
        height=34,
        count=1,
        dtype="float32",
        crs=target.crs,
        transform=t * Affine.translation(-5, -5),
    ) as ds:
        ds.write(big)
        ds.descriptions = ("B04",)
    fill_temporal(
        tmp_path / "t_20200101.tif",
        tmp_path / "out.tif",
        method="mosaic",
        series=[tmp_path / "m_20200111.tif"],
        replace_all=True,
        progress=False,
    )
    out = read_raster(tmp_path / "out.tif")
    np.testing.assert_allclose(out.data, (target.data + 0.25) / 2, atol=1e-6)  # mean of the two clear dates


def test_dates_and_refusals(tmp_path, shared_data):
    folder = shared_data / "slovenia_timeseries_l1c"
    assert acquisition_date(folder / "S2_L1C_2015-07-31.tif") == datetime(2015, 7, 31, 10, 0, 9)
    r = make_raster(8, 8)
    write_raster(r, tmp_path / "S2_20210305.tif")
    assert acquisition_date(tmp_path / "S2_20210305.tif") == datetime(2021, 3, 5)
    write_raster(r, tmp_path / "nodate.tif")
    with pytest.raises(ValueError, match="acquisition date unknown"):
        fill_temporal(
            tmp_path / "nodate.tif",
            tmp_path / "o.tif",
            method="gapfill",
            series=[tmp_path / "S2_20210305.tif"],
            replace_all=True,
            progress=False,
        )
    with pytest.raises(ValueError, match="needs the target's cloud mask"):
        fill_temporal(tmp_path / "S2_20210305.tif", tmp_path / "o.tif", method="median", series=[tmp_path / "x"])
    with pytest.raises(ValueError, match="one per member"):
        fill_temporal(
            tmp_path / "S2_20210305.tif",
            tmp_path / "o.tif",
            method="median",
            series=["a", "b"],
            replace_all=True,
            series_masks=["m"],
        )
    with pytest.raises(ValueError, match="unknown temporal method"):
        fill_temporal(tmp_path / "S2_20210305.tif", tmp_path / "o.tif", method="best", series=["a"])
    assert not (tmp_path / "o.tif").exists()
