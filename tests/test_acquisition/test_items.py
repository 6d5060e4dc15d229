"""STAC item helpers: tiles, baselines, band assets and DN offsets as the big catalogues publish them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from affine import Affine

from cloudfree.acquisition import items as it
from cloudfree.acquisition.grids import target_grid
from cloudfree.io import read_raster

COG = "image/tiff; application=geotiff; profile=cloud-optimized"


def _item(props: dict, assets: dict | None = None, item_id: str = "x") -> dict:
    return {"type": "Feature", "id": item_id, "properties": {"datetime": "2022-03-01T10:00:00Z", **props},
            "assets": assets or {}, "bbox": [14.0, 45.0, 15.0, 46.0]}  # fmt: skip


def test_mgrs_tile_from_each_convention():
    assert it.mgrs_tile(_item({"s2:mgrs_tile": "33TVL"})) == "33TVL"
    assert it.mgrs_tile(_item({"s2:mgrs_tile": "T33TVL"})) == "33TVL"
    assert it.mgrs_tile(_item({"grid:code": "MGRS-33TVL"})) == "33TVL"
    assert it.mgrs_tile(_item({"mgrs:utm_zone": 9, "mgrs:latitude_band": "U", "mgrs:grid_square": "XA"})) == "09UXA"
    assert it.mgrs_tile(_item({}, item_id="S2B_MSIL2A_20220126T100239_N0400_R122_T33TVL_20220126T121005")) == "33TVL"
    assert it.mgrs_tile(_item({}, item_id="S2B_33TVL_20220126_0_L2A")) == "33TVL"
    assert it.mgrs_tile(_item({}, item_id="S2A_9UXA_20220126_0_L2A")) == "09UXA"
    assert it.mgrs_tile(_item({}, item_id="something-else")) is None


def test_processing_baseline_from_properties_or_product_name():
    assert it.processing_baseline(_item({"s2:processing_baseline": "05.09"})) == "05.09"
    assert it.processing_baseline(_item({"processing:version": "05.11"})) == "05.11"
    name = "S2A_MSIL2A_20220301T100000_N0400_R122_T33TVL_20220301T120000.SAFE"
    assert it.processing_baseline(_item({"s2:product_uri": name})) == "04.00"
    assert it.processing_baseline(_item({})) is None


def test_band_assets_of_earth_search_planetary_computer_and_cdse():
    earth_search = {
        "blue": {"href": "b.tif", "type": COG, "roles": ["data"]},
        "blue-jp2": {"href": "b.jp2", "type": "image/jp2", "roles": ["data"]},
        "nir08": {"href": "n8.tif", "type": COG, "roles": ["data"]},
        "wvp": {"href": "wvp.tif", "type": COG, "roles": ["data"]},  # water vapour product, not B09
        "scl": {"href": "scl.tif", "type": COG, "roles": ["data"]},
        "thumbnail": {"href": "t.jpg", "type": "image/jpeg", "roles": ["thumbnail"]},
    }
    assert it.optical_band_assets(_item({}, earth_search)) == {"B02": "blue", "B8A": "nir08"}
    planetary = {"B02": {"href": "B02.tif", "type": COG, "roles": ["data"]}, "B8A": {"href": "8a", "type": COG}}
    assert it.optical_band_assets(_item({}, planetary)) == {"B02": "B02", "B8A": "B8A"}
    cdse = {
        "B02_20m": {"href": "b20.jp2", "type": "image/jp2", "roles": ["data"]},
        "B02_10m": {"href": "b10.jp2", "type": "image/jp2", "roles": ["data"]},
        "B11_20m": {"href": "b11.jp2", "type": "image/jp2", "roles": ["data"]},
    }
    assert it.optical_band_assets(_item({}, cdse)) == {"B02": "B02_10m", "B11": "B11_20m"}
    s1 = {"vv": {"href": "vv.tif", "type": COG, "roles": ["data"]}, "vh": {"href": "vh.tif", "type": COG}}
    assert it.sar_band_assets(_item({"sar:polarizations": ["VV", "VH"]}, s1)) == {"VV": "vv", "VH": "vh"}


def test_band_hrefs_names_item_and_missing_band():
    item = _item({}, {"blue": {"href": "b.tif", "type": COG}}, item_id="S2B_33TVL_20220126_0_L2A")
    assert it.band_hrefs(item, ["B02"]) == {"B02": "b.tif"}
    with pytest.raises(it.ItemError, match=r"S2B_33TVL_20220126_0_L2A.*\['B04'\]"):
        it.band_hrefs(item, ["B02", "B04"])


def test_dn_offset_sources_in_order_of_precedence():
    with_rb = {"red": {"href": "r.tif", "type": COG, "raster:bands": [{"scale": 0.0001, "offset": -0.1}]}}
    bare = {"red": {"href": "r.tif", "type": COG}}
    # raster:bands wins over the baseline
    assert it.dn_offsets(_item({"s2:processing_baseline": "02.01"}, with_rb), ["B04"]) == (
        {"B04": -1000.0},
        "raster:bands",
    )
    # without raster:bands the baseline decides: >= 04.00 -> -1000, older -> 0
    assert it.dn_offsets(_item({"s2:processing_baseline": "05.09"}, bare), ["B04"])[0] == {"B04": -1000.0}
    assert it.dn_offsets(_item({"s2:processing_baseline": "03.01"}, bare), ["B04"])[0] == {"B04": 0.0}
    # Earth Search's harmonised scenes: the offset is already removed whatever raster:bands claims
    applied = _item({"earthsearch:boa_offset_applied": True, "s2:processing_baseline": "04.00"}, with_rb)
    assert it.dn_offsets(applied, ["B04"]) == ({"B04": 0.0}, "earthsearch:boa_offset_applied")
    # nothing known: 0, and the source says so (never guessed from the date, which is after 2022 here)
    assert it.dn_offsets(_item({}, bare), ["B04"]) == ({"B04": 0.0}, "unknown")
    odd = {"red": {"href": "r.tif", "type": COG, "raster:bands": [{"scale": 0.001, "offset": 0}]}}
    with pytest.raises(it.ItemError, match=r"scale 0\.001"):
        it.dn_offsets(_item({}, odd, item_id="odd"), ["B04"])


def test_native_grid_and_json_round_trip():
    assets = {"blue": {"href": "b.tif", "type": COG, "proj:shape": [10980, 10980],
                       "proj:transform": [10, 0, 399960, 0, -10, 5100000]}}  # fmt: skip
    grid = it.native_grid(_item({"proj:epsg": 32633}, assets), "blue")
    assert grid == it.Grid("EPSG:32633", Affine(10, 0, 399960, 0, -10, 5100000), 10980, 10980)
    assert grid.bounds == (399960, 4990200, 509760, 5100000)
    assert it.Grid.from_json(grid.to_json()) == grid
    assert it.native_grid(_item({}, assets), "blue") is None  # no CRS published


def test_acquired_is_utc_and_sar_detection():
    assert it.acquired(_item({"datetime": "2022-03-01T10:00:00+01:00"})) == datetime(2022, 3, 1, 9, tzinfo=UTC)
    assert it.is_sar(_item({"sar:polarizations": ["VV"]}))
    assert it.is_sar({"id": "S1A_IW_GRDH_1SDV_x", "properties": {}})
    assert not it.is_sar(_item({"platform": "sentinel-2b"}))


def test_load_items_formats_and_errors(tmp_path):
    a, b = _item({}, item_id="a"), _item({}, item_id="b")
    (tmp_path / "fc.json").write_text(json.dumps({"type": "FeatureCollection", "features": [a, b]}))
    (tmp_path / "one.json").write_text(json.dumps(a))
    (tmp_path / "lines.json").write_text(json.dumps(a) + "\n" + json.dumps(b) + "\n")
    (tmp_path / "bad.json").write_text('{"type": "FeatureCollection", "features": [{"no": "id"}]}')
    assert [x["id"] for x in it.load_items(tmp_path / "fc.json")] == ["a", "b"]
    assert [x["id"] for x in it.load_items(tmp_path / "one.json")] == ["a"]
    assert [x["id"] for x in it.load_items(tmp_path / "lines.json")] == ["a", "b"]
    with pytest.raises(it.ItemError, match=r"bad\.json"):
        it.load_items(tmp_path / "bad.json")
    with pytest.raises(FileNotFoundError, match=r"missing\.json"):
        it.load_items(tmp_path / "missing.json")


def test_archive_items_describe_the_real_scenes(stac):
    """The served items' grids and offsets agree with the COG files behind them."""
    server, archive = stac
    item = archive.s2_items[0]
    row = it.summarize(item)
    assert (row["tile"], row["cloud_cover"], row["processing_baseline"]) == ("33TVL", 0.4, "02.01")
    assert json.loads(row["assets"])["blue"].startswith(server.url)
    grid = it.native_grid(item, "blue")
    local = archive.files["/data/" + item["assets"]["blue"]["href"].rsplit("/", 1)[1]]
    raster = read_raster(local)
    assert raster.bands == ("B02",) and raster.crs.to_epsg() == 32633
    assert raster.transform == grid.transform and (raster.height, raster.width) == (grid.height, grid.width)


def test_target_grid_snaps_the_aoi_to_the_scene_grid():
    native = it.Grid("EPSG:32633", Affine(10, 0, 399960, 0, -10, 5100000), 10980, 10980)
    aoi = {"type": "Polygon", "coordinates": [[[14.553, 45.867], [14.56, 45.867], [14.56, 45.872], [14.553, 45.867]]]}
    for res in (10, 20, 60):
        grid = target_grid(native, aoi, res)
        t = grid.transform
        assert (t.a, t.e) == (res, -res) and grid.crs == "EPSG:32633"
        assert (t.c - 399960) % res == 0 and (5100000 - t.f) % res == 0  # on the scene's pixel lattice
        left, bottom, right, top = grid.bounds
        assert right - left < 1000 + 2 * res and top - bottom < 700 + 2 * res
    whole = target_grid(native, None, 20)
    assert (whole.height, whole.width) == (5490, 5490) and whole.bounds == native.bounds
    with pytest.raises(ValueError, match="does not overlap"):
        target_grid(native, {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}, 10)
    rotated = it.Grid("EPSG:32633", Affine(10, 1, 399960, 1, -10, 5100000), 10, 10)
    with pytest.raises(ValueError, match="rotated"):
        target_grid(rotated, None, 10)
