"""STAC search through pystac-client against the local STAC API: filters, paging, presets, CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cloudfree.acquisition import stac
from cloudfree.acquisition.tables import read_table
from cloudfree.cli import main

AROUND = [14.54, 45.86, 14.57, 45.88]  # the Slovenia scene


def _ids(items: list[dict]) -> list[str]:
    return [it["id"] for it in items]


def test_search_filters_cloud_dates_area_and_pages(stac_archive):
    server, _ = stac_archive
    server.reset()
    catalog = stac.resolve_catalog(server.url)
    area = stac.bbox_geometry(AROUND)
    found = stac.search(catalog, intersects=area, start="2015-07-01", end="2015-08-31",
                        collections=["sentinel-2-l1c"], max_cloud=50, page_size=2)  # fmt: skip
    # 08-20 (71 %) is too cloudy, 09-09 after the end date; the end date is inclusive (08-30 10:05)
    assert _ids(found) == ["S2A_33TVL_20150711_0_L1C", "S2A_33TVL_20150731_0_L1C", "S2A_33TVL_20150830_0_L1C"]
    posts = [b for b in server.search_bodies if b["method"] == "POST"]
    assert len(posts) == 2 and posts[1]["token"] == 2  # two pages of two, the second from the next link
    assert posts[0]["query"] == {"eo:cloud_cover": {"lte": 50}}
    assert posts[0]["intersects"] == area and posts[0]["collections"] == ["sentinel-2-l1c"]
    everything = stac.search(catalog, intersects=area, start="2015-01-01", end="2015-12-31",
                             collections=["sentinel-2-l1c"], page_size=1)  # fmt: skip
    assert len(everything) == 5
    limited = stac.search(catalog, intersects=area, start="2015-01-01", end="2015-12-31",
                          collections=["sentinel-2-l1c"], limit=3, page_size=2)  # fmt: skip
    assert _ids(limited) == _ids(everything)[:3]
    far_away = stac.bbox_geometry([0.0, 0.0, 1.0, 1.0])
    assert stac.search(catalog, intersects=far_away, start="2015-01-01", end="2015-12-31",
                       collections=["sentinel-2-l1c"]) == []  # fmt: skip


def test_search_sentinel1_gets_no_cloud_filter(stac_archive):
    server, _ = stac_archive
    server.reset()
    catalog = stac.resolve_catalog(server.url)
    found = stac.search(catalog, intersects=stac.bbox_geometry(AROUND), start="2015-07-01", end="2015-07-31",
                        collections=["s1"], max_cloud=10)  # fmt: skip
    assert server.search_bodies[0]["collections"] == ["sentinel-1-grd"]  # s1 -> the catalogue's S1 collection
    assert found == []
    found = stac.search(catalog, intersects=stac.bbox_geometry(AROUND), start="2015-07-01", end="2015-07-31",
                        collections=["sentinel-1-rtc"], max_cloud=10)  # fmt: skip
    assert _ids(found) == ["S1A_IW_GRDH_1SDV_20150712T050211_rtc", "S1A_IW_GRDH_1SDV_20150730T165432_rtc"]
    assert "query" not in server.search_bodies[-1]


def test_presets_and_planetary_computer_signing_is_wired(stac_archive):
    server, _ = stac_archive
    es = stac.resolve_catalog("earth-search")
    assert es.url == "https://earth-search.aws.element84.com/v1" and stac.modifier_for(es) is None
    assert stac.resolve_collections(es, ["s2", "s1"]) == ["sentinel-2-l2a", "sentinel-1-grd"]
    assert "sentinel-2-c1-l2a" in es.optical
    pc = stac.resolve_catalog("planetary-computer")
    assert pc.url == "https://planetarycomputer.microsoft.com/api/stac/v1"
    assert stac.resolve_collections(pc, ["s1"]) == ["sentinel-1-rtc"]
    assert stac.modifier_for(pc) is sys.modules["planetary_computer"].sign_inplace
    assert stac.resolve_catalog("cdse").url == "https://stac.dataspace.copernicus.eu/v1"
    with pytest.raises(ValueError, match="unknown catalog 'nowhere'"):
        stac.resolve_catalog("nowhere")
    # the signing modifier runs on every page: hrefs outside Azure blob storage stay as they are
    signed = stac.Catalog("local-pc", server.url, ("sentinel-2-l1c",), ("sentinel-1-rtc",), "planetary-computer")
    client = stac.open_client(signed)
    assert client.modifier is sys.modules["planetary_computer"].sign_inplace
    items = stac.search(signed, intersects=stac.bbox_geometry(AROUND), start="2015-07-11", end="2015-07-11")
    assert _ids(items) == ["S2A_33TVL_20150711_0_L1C"]
    assert items[0]["assets"]["blue"]["href"].startswith(server.url + "/data/")


def test_unreachable_catalog_is_a_clear_error():
    with pytest.raises(stac.CatalogError, match=r"127\.0\.0\.1:9"):
        stac.open_client(stac.resolve_catalog("http://127.0.0.1:9/"), timeout=2)


def test_load_aoi_variants(tmp_path):
    poly = {"type": "Polygon", "coordinates": [[[14.5, 45.8], [14.6, 45.8], [14.6, 45.9], [14.5, 45.8]]]}
    other = {"type": "Polygon", "coordinates": [[[15.5, 45.8], [15.6, 45.8], [15.6, 45.9], [15.5, 45.8]]]}
    (tmp_path / "geom.json").write_text(json.dumps(poly))
    (tmp_path / "feature.geojson").write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": poly}))
    fc = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": g} for g in (poly, other)]}
    (tmp_path / "fc.geojson").write_text(json.dumps(fc))
    assert stac.load_aoi(tmp_path / "geom.json") == poly
    assert stac.load_aoi(tmp_path / "feature.geojson") == poly
    multi = stac.load_aoi(tmp_path / "fc.geojson")
    assert multi["type"] == "MultiPolygon" and multi["coordinates"] == [poly["coordinates"], other["coordinates"]]
    utm = {
        "type": "Polygon",
        "coordinates": [[[465180, 5079250], [466180, 5079250], [466180, 5080260], [465180, 5079250]]],
    }
    (tmp_path / "utm.json").write_text(json.dumps(utm))
    with pytest.raises(ValueError, match="not longitude/latitude"):
        stac.load_aoi(tmp_path / "utm.json")
    named = {"type": "Feature", "geometry": utm, "crs": {"type": "name", "properties": {"name": "EPSG:32633"}}}
    (tmp_path / "named.json").write_text(json.dumps(named))
    lon, lat = stac.load_aoi(tmp_path / "named.json")["coordinates"][0][0]
    assert lon == pytest.approx(14.5513, abs=1e-3) and lat == pytest.approx(45.866, abs=1e-3)
    (tmp_path / "point.json").write_text(json.dumps({"type": "Point", "coordinates": [14.5, 45.8]}))
    with pytest.raises(ValueError, match="Polygon or MultiPolygon"):
        stac.load_aoi(tmp_path / "point.json")
    with pytest.raises(ValueError, match="empty"):
        stac.bbox_geometry([15, 45, 14, 46])


def test_cli_search_table_and_files(stac_archive, tmp_path, capsys):
    server, _ = stac_archive
    server.reset()
    base = ["search", "--bbox", *map(str, AROUND), "--start", "2015-07-01", "--end", "2015-09-30",
            "--catalog", server.url, "--collection", "sentinel-2-l1c", "--max-cloud", "1"]  # fmt: skip
    assert main(base) == 0
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert lines[0].split()[:4] == ["id", "datetime", "tile", "cloud%"]
    assert [line.split()[0] for line in lines[1:]] == [
        "S2A_33TVL_20150711_0_L1C", "S2A_33TVL_20150830_0_L1C", "S2A_33TVL_20150909_0_L1C",
    ]  # fmt: skip
    assert "33TVL" in lines[1] and "0.40" in lines[1] and "02.01" in lines[1]
    assert "3 item(s)" in err
    assert main([*base, "-o", str(tmp_path / "items.json")]) == 0
    saved = json.loads((tmp_path / "items.json").read_text())
    assert saved["type"] == "FeatureCollection" and len(saved["features"]) == 3
    assert saved["features"][0]["assets"]["blue"]["raster:bands"][0]["offset"] == -0.1
    for name in ("items.csv", "items.parquet"):
        assert main([*base, "-o", str(tmp_path / name)]) == 0
        rows = read_table(tmp_path / name)
        assert [r["id"] for r in rows] == [f["id"] for f in saved["features"]]
        assert json.loads(rows[0]["assets"])["red"].endswith("_B04.tif")
    capsys.readouterr()
    assert main([*base[:-2], "--start", "2015-10-01"]) == 2
    assert "is after --end" in capsys.readouterr().err
    assert (
        main(["search", "--aoi", str(tmp_path / "none.geojson"), "--start", "2015-07-01", "--end", "2015-07-02"]) == 2
    )
    assert "none.geojson: AOI file does not exist" in capsys.readouterr().err


def test_stac_packages_are_optional(monkeypatch, capsys):
    """Without the [stac] extra the commands stop with one line naming it, and the core never imports it."""
    code = (
        "import sys, cloudfree.commands.fetch, cloudfree.commands.mine_pairs, cloudfree.commands.search, "
        "cloudfree.acquisition.pairs; "
        "print(sorted(m for m in ('pystac_client', 'pystac', 'planetary_computer', 'pyarrow', 'shapely') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    monkeypatch.setitem(sys.modules, "pystac_client", None)
    assert main(["search", "--bbox", *map(str, AROUND), "--start", "2015-07-01", "--end", "2015-07-02"]) == 2
    assert "pip install cloudfree[stac]" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["search", "mine-pairs", "fetch"])
def test_help_explains_the_command(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "Example" in text and len(text.splitlines()) > 20


def test_the_test_api_answers_get_searches_and_collections(stac_archive):
    """The local API speaks GET search with paging and the collection endpoints, as real ones do."""
    server, _ = stac_archive
    server.reset()
    client = stac.open_client(stac.resolve_catalog(server.url))
    assert sorted(c.id for c in client.get_collections()) == ["sentinel-1-rtc", "sentinel-2-l1c"]
    assert client.get_collection("sentinel-2-l1c").id == "sentinel-2-l1c"
    found = client.search(method="GET", collections=["sentinel-2-l1c"], bbox=AROUND, datetime="2015-07-01/2015-08-31",
                          query={"eo:cloud_cover": {"lt": 1}}, limit=1)  # fmt: skip
    assert [it["id"] for it in found.items_as_dicts()] == ["S2A_33TVL_20150711_0_L1C", "S2A_33TVL_20150830_0_L1C"]
    gets = [b for b in server.search_bodies if b["method"] == "GET"]
    assert len(gets) == 2 and gets[1]["token"] == "1"  # two pages of one item, the second from the next link
