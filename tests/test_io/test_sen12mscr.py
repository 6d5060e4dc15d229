"""SEN12MS-CR / SEN12MS-CR-TS naming, layouts and triplets: the real sample patch and generated trees."""

import os
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from rasterio.windows import Window

from cloudfree.bands import BAND_SETS
from cloudfree.errors import RasterReadError
from cloudfree.io.sen12mscr import (
    PatchKey,
    describe_triplets,
    find_time_series,
    find_triplets,
    parse_name,
    parse_ts_name,
    read_patch,
    read_triplet,
)
from cloudfree.radiometry import Radiometry

SAMPLE = "sen12mscr_sample"
CLOUDY = "ROIs1868_summer_s2_cloudy_19_p30.tif"
S1 = "ROIs1868_summer_s1_19_p30.tif"


def test_parse_names():
    cloudy = parse_name(CLOUDY)
    assert cloudy.key == PatchKey("ROIs1868", "summer", 19, 30) and cloudy.kind == "s2_cloudy"
    assert parse_name("ROIs1158_spring_s2_1_p5.tif").kind == "s2"
    assert parse_name(S1).kind == "s1" and parse_name(S1).key.name == "ROIs1868_summer_19_p30"
    assert parse_name("S2_L1C_cloudy.tif") is None
    ts = parse_ts_name("s2_ROIs1868_100_ImgNo_5_2018-03-12_patch_17.tif")
    assert (ts.sensor, ts.roi, ts.scene, ts.time, ts.patch) == ("s2", "ROIs1868", 100, 5, 17)
    assert ts.date == date(2018, 3, 12)
    with pytest.raises(RasterReadError, match="invalid acquisition date"):
        parse_ts_name("s1_ROIs1868_100_ImgNo_5_2018-13-40_patch_17.tif")


def test_real_sample_reads_with_dataset_band_names(shared_data):
    s2 = read_patch(shared_data / SAMPLE / CLOUDY)
    assert s2.bands == BAND_SETS["l1c13"] and s2.shape == (13, 256, 256)
    assert s2.data.dtype == np.uint16 and s2.radiometry is Radiometry.DN and (s2.dn_offset == 0).all()
    assert s2.crs.to_epsg() == 32631 and s2.res == (10.0, 10.0) and s2.valid.all()
    assert s2.tags["SEN12MSCR_KIND"] == "s2_cloudy" and s2.tags["SEN12MSCR_PATCH"] == "30"
    s1 = read_patch(shared_data / SAMPLE / S1, window=Window(0, 0, 64, 32))
    assert s1.bands == ("VV", "VH") and s1.radiometry is Radiometry.SAR_DB and s1.shape == (2, 32, 64)
    assert s1.transform == s2.window(Window(0, 0, 64, 32)).transform
    assert (s1.data[1] < s1.data[0]).mean() > 0.9  # VH is weaker than VV


def test_sample_triplet_reports_missing_clear_target(shared_data):
    triplets = find_triplets(shared_data / SAMPLE)
    assert len(triplets) == 1
    trip = triplets[0]
    assert trip.missing == ("s2",) and not trip.complete
    assert describe_triplets(triplets) == [
        "0 complete triplet(s), 1 incomplete",
        "ROIs1868_summer_19_p30: missing s2 (clear Sentinel-2 target)",
    ]
    members = read_triplet(trip, "rgbn")
    assert members["s2"] is None
    assert members["s2_cloudy"].bands == BAND_SETS["rgbn"] and members["s1"].bands == ("VV", "VH")


def _link(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(src, dest)


def test_nested_dataset_layout(shared_data, tmp_path):
    """``ROIs1868_summer_s2_cloudy/s2_cloudy_19/...`` as the data set ships, built from the real files."""
    cloudy, s1 = shared_data / SAMPLE / CLOUDY, shared_data / SAMPLE / S1
    _link(cloudy, tmp_path / "ROIs1868_summer_s2_cloudy" / "s2_cloudy_19" / CLOUDY)
    _link(cloudy, tmp_path / "ROIs1868_summer_s2" / "s2_19" / "ROIs1868_summer_s2_19_p30.tif")
    _link(s1, tmp_path / "ROIs1868_summer_s1" / "s1_19" / S1)
    _link(s1, tmp_path / "ROIs1868_summer_s1" / "s1_19" / "ROIs1868_summer_s1_19_p31.tif")
    triplets = find_triplets(tmp_path)
    assert [t.key.patch for t in triplets] == [30, 31]
    assert triplets[0].complete and triplets[1].missing == ("s2", "s2_cloudy")
    assert read_patch(triplets[0].s2).tags["SEN12MSCR_KIND"] == "s2"
    _link(cloudy, tmp_path / "flat" / CLOUDY)
    with pytest.raises(RasterReadError, match="s2_cloudy of patch ROIs1868_summer_19_p30 found twice"):
        find_triplets(tmp_path)


def test_time_series_layout(shared_data, tmp_path):
    cloudy, s1 = shared_data / SAMPLE / CLOUDY, shared_data / SAMPLE / S1
    for t, day in ((0, "2018-01-03"), (1, "2018-01-15")):
        _link(cloudy, tmp_path / "ROIs1868" / "100" / "S2" / str(t) / f"s2_ROIs1868_100_ImgNo_{t}_{day}_patch_7.tif")
    _link(s1, tmp_path / "ROIs1868" / "100" / "S1" / "0" / "s1_ROIs1868_100_ImgNo_0_2018-01-02_patch_7.tif")
    series = find_time_series(tmp_path)
    assert len(series) == 1 and series[0].name == "ROIs1868_100_patch_7"
    assert series[0].times == [0, 1] and series[0].missing() == ["S1 t=1"]
    raster = read_patch(series[0].s2[1].path, "rgb")
    assert raster.bands == ("B04", "B03", "B02") and raster.tags["DATETIME"] == "2018-01-15"
    assert read_patch(series[0].s1[0].path).radiometry is Radiometry.SAR_DB
    wrong = tmp_path / "ROIs1868" / "100" / "S2" / "3" / "s2_ROIs1868_100_ImgNo_4_2018-02-01_patch_7.tif"
    _link(cloudy, wrong)
    with pytest.raises(RasterReadError, match="time point 4 but it lies in S2/3"):
        find_time_series(tmp_path)


def test_bad_inputs(tmp_path):
    with pytest.raises(RasterReadError, match="not a SEN12MS-CR file name"):
        read_patch(tmp_path / "scene.tif")
    truncated = tmp_path / "ROIs1868_summer_s2_cloudy_19_p30.tif"
    truncated.write_bytes(b"II*\x00garbage")
    with pytest.raises(RasterReadError, match=r"ROIs1868_summer_s2_cloudy_19_p30\.tif"):
        read_patch(truncated)
    with pytest.raises(RasterReadError, match="not a folder"):
        find_triplets(tmp_path / "missing")
