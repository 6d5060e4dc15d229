"""`cloudfree fetch` over real HTTP: windowed reads, grids, offsets, Sentinel-1, resume, failures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds

from cloudfree.acquisition.fetch import FetchOptions, fetch_pairs
from cloudfree.acquisition.pairs import PAIR_COLUMNS, PairRules, mine_pairs
from cloudfree.acquisition.remote import RetryPolicy
from cloudfree.acquisition.tables import read_table, write_table
from cloudfree.cli import main
from cloudfree.io import read_raster
from cloudfree.radiometry import Radiometry, clip_sar_db
from tests.test_acquisition.archive import S2_TRANSFORM

BBOX = [14.553, 45.867, 14.560, 45.872]
FIRST = "33TVL_20150731_20150711"  # cloudy 07-31 (baseline 04.00), clear 07-11 (raster:bands), S1 07-30
SECOND = "33TVL_20150820_20150830"  # cloudy 08-20 (boa_offset_applied), clear 08-30 (baseline 02.01)
FAST = ["--retries", "2", "--retry-delay", "0.01", "--quiet"]


@pytest.fixture
def pairs_csv(stac, tmp_path) -> Path:
    _, archive = stac
    rows = mine_pairs(archive.s2_items, archive.s1_items, PairRules(cloudy_range=(5, 100), one_per_cloudy=True)).rows
    assert [r["pair_id"] for r in rows] == [FIRST, SECOND]
    return write_table(rows, tmp_path / "pairs.csv", PAIR_COLUMNS)


def _asset_path(archive, item_date: str, band: str) -> str:
    item = next(x for x in archive.s2_items if item_date in x["id"])
    common = {"B02": "blue", "B03": "green", "B04": "red", "B08": "nir", "B11": "swir16"}[band]
    return "/data/" + item["assets"][common]["href"].rsplit("/", 1)[1]


def _fetch(pairs: Path, out: Path, *extra: str) -> int:
    return main(["fetch", str(pairs), "-o", str(out), *FAST, *extra])


def _offsets(raster) -> tuple[int, int]:
    """(row, col) of the raster's first pixel in the source scene's 10 m grid."""
    col = (raster.transform.c - S2_TRANSFORM.c) / 10.0
    row = (S2_TRANSFORM.f - raster.transform.f) / 10.0
    assert col == int(col) and row == int(row)  # on the scene's own grid
    return int(row), int(col)


def test_fetch_writes_georeferenced_pairs_with_offsets(stac, pairs_csv, tmp_path):
    server, archive = stac
    out = tmp_path / "out"
    assert _fetch(pairs_csv, out, "--bbox", *map(str, BBOX), "--limit", "1") == 0
    index = read_table(out / "pairs.csv")
    assert list(index[0])[:4] == ["cloudy", "clear", "sar", "scene"]
    assert (index[0]["scene"], index[0]["sar_id"]) == (FIRST, "S1A_IW_GRDH_1SDV_20150730T165432_rtc")
    for role in ("cloudy", "clear", "sar"):
        assert (out / index[0][role]).exists()  # paths relative to pairs.csv
    clear = read_raster(out / FIRST / "clear.tif")
    cloudy = read_raster(out / FIRST / "cloudy.tif")
    sar = read_raster(out / FIRST / "sar.tif")
    assert clear.bands == cloudy.bands == ("B02", "B03", "B04", "B08") and sar.bands == ("VV", "VH")
    assert clear.crs.to_epsg() == 32633 and clear.res == (10.0, 10.0)
    assert clear.same_grid(cloudy) and clear.same_grid(sar)
    # the grid covers the AOI, snapped outward to the scene's pixels (less than a pixel of margin)
    aoi = transform_bounds("EPSG:4326", "EPSG:32633", *BBOX, densify_pts=21)
    left, bottom, right, top = clear.bounds
    assert left <= aoi[0] < left + 10 and bottom <= aoi[1] < bottom + 10
    assert right - 10 < aoi[2] <= right and top - 10 < aoi[3] <= top
    # DN offsets read from the items: raster:bands (clear) and processing baseline 04.00 (cloudy)
    assert clear.radiometry is Radiometry.DN and list(clear.dn_offset) == [-1000.0] * 4
    assert list(cloudy.dn_offset) == [-1000.0] * 4
    assert clear.tags["CLOUDFREE_DN_OFFSET_SOURCE"] == "raster:bands"
    assert cloudy.tags["CLOUDFREE_DN_OFFSET_SOURCE"] == "processing baseline 04.00"
    assert clear.tags["CLOUDFREE_ITEM_ID"] == "S2A_33TVL_20150711_0_L1C"
    # reflectance equals the source scene's pixels exactly
    r0, c0 = _offsets(clear)
    for raster, date in ((clear, "2015-07-11"), (cloudy, "2015-07-31")):
        source = read_raster(archive.source[date], select="rgbn")
        expected = source.to_reflectance().data[:, r0 : r0 + raster.height, c0 : c0 + raster.width]
        np.testing.assert_array_equal(raster.to_reflectance().data, expected)
    # Sentinel-1: linear power warped bilinearly onto the grid, then dB and SEN12MS-CR clipping
    assert sar.radiometry is Radiometry.SAR_DB and sar.valid.all()
    with rasterio.open(archive.files["/data/S1A_IW_GRDH_1SDV_20150730T165432_rtc_vv.tif"]) as src:
        linear, s1_transform = src.read(1), src.transform
    warped = np.zeros((sar.height, sar.width), np.float32)
    reproject(linear, warped, src_transform=s1_transform, src_crs="EPSG:4326", src_nodata=-32768,
              dst_transform=sar.transform, dst_crs="EPSG:32633", resampling=Resampling.bilinear)  # fmt: skip
    expected_vv = clip_sar_db(10 * np.log10(warped)[None], ("VV",))[0]
    np.testing.assert_allclose(sar.data[0], expected_vv, atol=1e-3)
    assert sar.data[1].min() >= -32.5 and sar.data[1].max() <= 0.0
    # only the AOI's tiles travelled: each band file was read in part (32 px tiles, 100 px scene)
    blue = _asset_path(archive, "20150711", "B02")
    served = [status for method, path, status in server.log if path == blue and method == "GET"]
    assert served and set(served) == {206}


def test_fetch_whole_scene_with_a_20m_band_from_parquet(stac, tmp_path, capsys):
    _, archive = stac
    rows = mine_pairs(archive.s2_items, rules=PairRules(cloudy_range=(60, 100), one_per_cloudy=True)).rows
    assert [r["pair_id"] for r in rows] == [SECOND]  # offsets 0: boa_offset_applied, baseline 02.01
    table = write_table(rows, tmp_path / "second.parquet", PAIR_COLUMNS)
    out = tmp_path / "out"
    assert _fetch(table, out, "--bands", "B02,B11", "--no-sar") == 0
    clear = read_raster(out / SECOND / "clear.tif")
    cloudy = read_raster(out / SECOND / "cloudy.tif")
    assert not (out / SECOND / "sar.tif").exists()
    assert clear.shape == (2, 101, 100) and clear.transform == S2_TRANSFORM and clear.same_grid(cloudy)
    assert list(clear.dn_offset) == [0.0, 0.0] and list(cloudy.dn_offset) == [0.0, 0.0]
    assert cloudy.tags["CLOUDFREE_DN_OFFSET_SOURCE"] == "earthsearch:boa_offset_applied"
    source = read_raster(archive.source["2015-08-30"], select=["B02", "B11"]).to_reflectance().data
    got = clear.to_reflectance().data
    np.testing.assert_array_equal(got[0], source[0])  # 10 m band: exact
    # B11 was published at 20 m and is resampled back to 10 m: close to the 10 m source, not equal
    assert np.abs(got[1] - source[1]).mean() < 0.01
    assert np.corrcoef(got[1].ravel(), source[1].ravel())[0, 1] > 0.9
    # strip by strip and band by band gives the same file as one strip read by four threads
    options = FetchOptions(bands=("B02", "B11"), sar=False, strip_rows=16, workers=1, retry=RetryPolicy(2, 0.01, 1))
    fetch_pairs(rows, tmp_path / "strips", options, progress=False)
    np.testing.assert_array_equal(read_raster(tmp_path / "strips" / SECOND / "clear.tif").data, clear.data)
    capsys.readouterr()
    assert _fetch(table, out, "--bands", "B02,B11", "--no-sar") == 0
    assert "0 file(s) written, 2 already complete" in capsys.readouterr().err
    assert _fetch(table, out, "--bands", "rgb", "--no-sar") == 0  # other bands: the files are replaced
    assert "2 file(s) written, 0 already complete" in capsys.readouterr().err
    assert read_raster(out / SECOND / "clear.tif").bands == ("B04", "B03", "B02")


def test_resume_after_interruption_fetches_only_what_is_missing(stac, pairs_csv, tmp_path, capsys):
    server, archive = stac
    out = tmp_path / "out"
    cloudy_blue = _asset_path(archive, "20150731", "B04")
    server.faults[cloudy_blue] = ["404*"]  # the run stops after the clear member was written
    assert _fetch(pairs_csv, out, "--bbox", *map(str, BBOX)) == 2
    err = capsys.readouterr().err
    assert "item S2A_33TVL_20150731_0_L1C asset B04" in err and "HTTP 404" in err and cloudy_blue in err
    assert (out / FIRST / "clear.tif").exists() and not (out / FIRST / "cloudy.tif").exists()
    assert [p.name for p in (out / FIRST).iterdir()] == ["clear.tif"]  # no temporary or partial file
    assert read_table(out / "pairs.csv") == []
    clear_before = read_raster(out / FIRST / "clear.tif").data.copy()
    (out / FIRST / ".cloudy.tif.part-deadbeef.tif").write_bytes(b"half a file from a killed run")
    server.reset()
    assert _fetch(pairs_csv, out, "--bbox", *map(str, BBOX)) == 0
    assert "4 file(s) written, 1 already complete" in capsys.readouterr().err
    assert not (out / FIRST / ".cloudy.tif.part-deadbeef.tif").exists()
    fetched = {path for method, path, _ in server.log if method == "GET"}
    assert not any("20150711" in path for path in fetched)  # the finished clear member was not read again
    assert any("20150731" in path for path in fetched)
    np.testing.assert_array_equal(read_raster(out / FIRST / "clear.tif").data, clear_before)
    # delete one output: only that one comes back
    cloudy = read_raster(out / FIRST / "cloudy.tif").data.copy()
    (out / FIRST / "cloudy.tif").unlink()
    server.reset()
    assert _fetch(pairs_csv, out, "--bbox", *map(str, BBOX)) == 0
    assert "1 file(s) written, 4 already complete" in capsys.readouterr().err
    assert {p.split("_B")[0] for m, p, _ in server.log if m == "GET"} == {"/data/S2A_33TVL_20150731_0_L1C"}
    np.testing.assert_array_equal(read_raster(out / FIRST / "cloudy.tif").data, cloudy)
    assert [r["scene"] for r in read_table(out / "pairs.csv")] == [FIRST, SECOND]


def test_transient_errors_are_retried(stac, pairs_csv, tmp_path):
    server, archive = stac
    flaky_503 = _asset_path(archive, "20150711", "B03")
    flaky_drop = _asset_path(archive, "20150731", "B08")
    server.faults[flaky_503] = ["503", "503"]  # GDAL's own retries absorb these
    server.faults[flaky_drop] = ["drop"]  # GDAL gives up on a cut transfer; cloudfree re-opens and retries
    out = tmp_path / "out"
    assert _fetch(pairs_csv, out, "--bbox", *map(str, BBOX), "--limit", "1", "--no-sar") == 0
    assert [s for _, p, s in server.log if p == flaky_503][:2] == [503, 503]
    assert 206 in [s for _, p, s in server.log if p == flaky_503]
    assert len([1 for m, p, _ in server.log if p == flaky_drop and m == "GET"]) >= 2
    source = read_raster(archive.source["2015-07-31"], select="rgbn").to_reflectance().data
    cloudy = read_raster(out / FIRST / "cloudy.tif")
    r0, c0 = _offsets(cloudy)
    np.testing.assert_array_equal(
        cloudy.to_reflectance().data, source[:, r0 : r0 + cloudy.height, c0 : c0 + cloudy.width]
    )


def test_dropped_connections_and_auth_fail_clearly(stac, pairs_csv, tmp_path, capsys):
    server, archive = stac
    dropping = _asset_path(archive, "20150711", "B02")
    server.faults[dropping] = ["drop*"]
    assert _fetch(pairs_csv, tmp_path / "a", "--bbox", *map(str, BBOX)) == 2
    err = capsys.readouterr().err
    assert "item S2A_33TVL_20150711_0_L1C asset B02: failed after 2 attempts" in err
    assert "connection failed or dropped" in err
    pair_dir = tmp_path / "a" / FIRST
    assert not pair_dir.exists() or not any(pair_dir.iterdir())  # nothing, not even a temporary file
    server.reset()
    server.faults[dropping] = ["401*"]
    assert _fetch(pairs_csv, tmp_path / "b", "--bbox", *map(str, BBOX)) == 2
    err = capsys.readouterr().err
    assert "item S2A_33TVL_20150711_0_L1C asset B02: access denied (HTTP 401)" in err


def test_keep_going_and_missing_band(stac, pairs_csv, tmp_path, capsys):
    server, archive = stac
    server.faults[_asset_path(archive, "20150711", "B02")] = ["404*"]
    out = tmp_path / "out"
    assert _fetch(pairs_csv, out, "--bbox", *map(str, BBOX), "--keep-going") == 1
    err = capsys.readouterr().err
    assert f"failed {FIRST}: item S2A_33TVL_20150711_0_L1C asset B02: asset not found (HTTP 404)" in err
    assert [r["scene"] for r in read_table(out / "pairs.csv")] == [SECOND]
    rows = read_table(pairs_csv)
    assets = json.loads(rows[1]["clear_assets"])
    del assets["B08"]
    rows[1]["clear_assets"] = json.dumps(assets)
    write_table(rows[1:], tmp_path / "broken.csv")
    server.reset()
    assert _fetch(tmp_path / "broken.csv", tmp_path / "out2", "--no-sar") == 2
    assert "item S2A_33TVL_20150830_0_L1C (clear of pair 33TVL_20150820_20150830) has no asset for band(s) ['B08']" in (
        capsys.readouterr().err
    )
    far = ["--bbox", "0.1", "0.1", "0.2", "0.2"]
    assert _fetch(pairs_csv, tmp_path / "out3", *far) == 2
    assert "AOI does not overlap the clear scene" in capsys.readouterr().err
