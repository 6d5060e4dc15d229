"""Pair mining on a constructed archive with known answers, and `cloudfree mine-pairs` on the real one."""

from __future__ import annotations

import json

import pytest

from cloudfree.acquisition.pairs import PAIR_COLUMNS, PairRules, mine_pairs, split_items
from cloudfree.acquisition.tables import read_table
from cloudfree.cli import main

TILE_A = [14.0, 45.0, 15.4, 46.0]
TILE_B = [15.2, 45.0, 16.6, 46.0]


def _poly(box: list[float]) -> dict:
    w, s, e, n = box
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def s2(item_id: str, when: str, cloud: float | None, tile: str | None = "33TVL", box=TILE_A) -> dict:
    props = {"datetime": when, "s2:processing_baseline": "04.00"}
    if cloud is not None:
        props["eo:cloud_cover"] = cloud
    if tile:
        props["s2:mgrs_tile"] = tile
    assets = {
        name: {"href": f"https://example.com/{item_id}/{name}.tif", "type": "image/tiff", "roles": ["data"],
               "proj:shape": [10980, 10980], "proj:transform": [10, 0, 399960, 0, -10, 5100000]}
        for name in ("blue", "red")
    }  # fmt: skip
    props["proj:epsg"] = 32633
    return {
        "type": "Feature",
        "id": item_id,
        "bbox": box,
        "geometry": _poly(box),
        "properties": props,
        "assets": assets,
    }


def s1(item_id: str, when: str, box: list[float]) -> dict:
    props = {"datetime": when, "sar:polarizations": ["VV", "VH"], "sat:orbit_state": "ascending"}
    assets = {p: {"href": f"https://example.com/{item_id}/{p}.tif", "roles": ["data"]} for p in ("vv", "vh")}
    return {
        "type": "Feature",
        "id": item_id,
        "bbox": box,
        "geometry": _poly(box),
        "properties": props,
        "assets": assets,
    }


ARCHIVE = [
    # tile A: cloudy X on 06-11 has two clear neighbours 10 days before and after with equal cloud cover
    s2("X_cloudy_0611", "2022-06-11T10:00:00Z", 20.0),
    s2("A_clear_0601", "2022-06-01T10:00:00Z", 0.5),
    s2("A_clear_0621", "2022-06-21T10:00:00Z", 0.5),
    s2("A_clear_0720", "2022-07-20T10:00:00Z", 0.0),  # 39 days from X: too far for X
    s2("A_hazy_0612", "2022-06-12T10:00:00Z", 1.5),  # neither clear (> 1 %) nor cloudy (< 5 %)
    # W: exactly at the cloudy range's upper end (inclusive)
    s2("W_cloudy_0625", "2022-06-25T10:00:00Z", 50.0),
    # Y: two clear scenes 5 days away on either side; the less cloudy one wins
    s2("Y_cloudy_0810", "2022-08-10T10:00:00Z", 30.0),
    s2("A_clear_0805", "2022-08-05T10:00:00Z", 0.9),
    s2("A_clear_0815", "2022-08-15T10:00:00Z", 0.1),
    s2("Z_cloudy_0930", "2022-09-30T10:00:00Z", 60.0),  # too cloudy to be a pair member
    # tile B: a clear scene on the same day as X, which must not pair with X
    s2("B_clear_0611", "2022-06-11T10:00:00Z", 0.0, "33TWL", TILE_B),
    s2("Q_cloudy_0615", "2022-06-15T10:00:00Z", 10.0, "33TWL", TILE_B),
    s2("S2B_33TWL_20220620_1_L2A", "2022-06-20T10:00:00Z", 0.2, "33TWL", TILE_B),  # same time and cloud:
    s2("S2B_33TWL_20220620_0_L2A", "2022-06-20T10:00:00Z", 0.2, "33TWL", TILE_B),  # the id decides
    # unusable items
    s2("no_tile", "2022-06-11T10:00:00Z", 20.0, tile=None),
    s2("S2B_33TVL_20220611_0_L2A", "2022-06-11T11:00:00Z", None),
]
S1_ITEMS = [
    s1("s1_a_0610", "2022-06-10T17:00:00Z", [13.5, 45.5, 14.5, 47.0]),  # 0.71 days before X, overlapping
    s1("s1_b_0611", "2022-06-11T18:00:00Z", [20.0, 40.0, 21.0, 41.0]),  # nearer, but elsewhere
    s1("s1_c_0612", "2022-06-12T05:00:00Z", [14.2, 44.5, 15.0, 45.5]),  # 0.79 days after X, overlapping
]


def _pairs(rows: list[dict]) -> list[tuple[str, str, int]]:
    return [(r["cloudy_id"], r["clear_id"], r["rank"]) for r in rows]


def test_known_pairs_nearest_first_with_documented_ties():
    result = mine_pairs(ARCHIVE, S1_ITEMS)
    assert _pairs(result.rows) == [
        # X: equal gap (10 d) and cloud cover -> the earlier date first; 07-20 is 39 days away
        ("X_cloudy_0611", "A_clear_0601", 0),
        ("X_cloudy_0611", "A_clear_0621", 1),
        # W (50 %, inclusive): 4, 24 and 25 days
        ("W_cloudy_0625", "A_clear_0621", 0),
        ("W_cloudy_0625", "A_clear_0601", 1),
        ("W_cloudy_0625", "A_clear_0720", 2),
        # Y: equal gap (5 d) -> the less cloudy first; 07-20 is 21 days away
        ("Y_cloudy_0810", "A_clear_0815", 0),
        ("Y_cloudy_0810", "A_clear_0805", 1),
        ("Y_cloudy_0810", "A_clear_0720", 2),
        # Q in tile B: 4 days, then two identical scenes 5 days away ordered by id
        ("Q_cloudy_0615", "B_clear_0611", 0),
        ("Q_cloudy_0615", "S2B_33TWL_20220620_0_L2A", 1),
        ("Q_cloudy_0615", "S2B_33TWL_20220620_1_L2A", 2),
    ]
    assert sorted(result.skipped) == [
        "S2B_33TVL_20220611_0_L2A: no eo:cloud_cover",
        "no_tile: no MGRS tile in its properties or id",
    ]
    by_id = {(r["cloudy_id"], r["clear_id"]): r for r in result.rows}
    first = by_id[("X_cloudy_0611", "A_clear_0601")]
    assert first["pair_id"] == "33TVL_20220611_20220601" and first["tile"] == "33TVL"
    assert first["gap_days"] == -10.0 and first["cloudy_cloud_cover"] == 20.0 and first["clear_cloud_cover"] == 0.5
    assert json.loads(first["clear_assets"]) == {
        "B02": "https://example.com/A_clear_0601/blue.tif",
        "B04": "https://example.com/A_clear_0601/red.tif",
    }
    assert json.loads(first["cloudy_dn_offset"]) == {"B02": -1000.0, "B04": -1000.0}
    assert first["cloudy_offset_source"] == "processing baseline 04.00"
    assert json.loads(first["clear_grid"])["crs"] == "EPSG:32633"
    # two pairs of Q fall on the same dates: the ids stay unique
    q_ids = [r["pair_id"] for r in result.rows if r["cloudy_id"] == "Q_cloudy_0615"]
    assert q_ids == ["33TWL_20220615_20220611", "33TWL_20220615_20220620", "33TWL_20220615_20220620_2"]
    assert list(result.rows[0]) == list(PAIR_COLUMNS)


def test_sentinel1_nearest_in_time_among_intersecting_footprints():
    rows = {(r["cloudy_id"], r["clear_id"]): r for r in mine_pairs(ARCHIVE, S1_ITEMS).rows}
    x = rows[("X_cloudy_0611", "A_clear_0601")]
    assert x["cloudy_s1_id"] == "s1_a_0610"  # s1_b is nearer in time but elsewhere
    assert x["cloudy_s1_gap_days"] == pytest.approx(-17 / 24, abs=1e-4)
    assert json.loads(x["cloudy_s1_assets"]) == {
        "VH": "https://example.com/s1_a_0610/vh.tif",
        "VV": "https://example.com/s1_a_0610/vv.tif",
    }
    assert x["cloudy_s1_orbit_state"] == "ascending" and x["cloudy_s1_unit"] == "linear"
    assert x["clear_s1_id"] is None  # nothing within 3 days of 06-01
    assert rows[("Q_cloudy_0615", "B_clear_0611")]["cloudy_s1_id"] is None  # no footprint over tile B
    wider = mine_pairs(ARCHIVE, S1_ITEMS, PairRules(max_s1_days=12)).rows
    assert {(r["clear_id"], r["clear_s1_id"]) for r in wider if r["cloudy_id"] == "X_cloudy_0611"} == {
        ("A_clear_0601", "s1_a_0610"),
        ("A_clear_0621", "s1_c_0612"),
    }


def test_rules_one_per_cloudy_and_windows():
    best = mine_pairs(ARCHIVE, rules=PairRules(one_per_cloudy=True)).rows
    assert _pairs(best) == [
        ("X_cloudy_0611", "A_clear_0601", 0),
        ("W_cloudy_0625", "A_clear_0621", 0),
        ("Y_cloudy_0810", "A_clear_0815", 0),
        ("Q_cloudy_0615", "B_clear_0611", 0),
    ]
    narrow = mine_pairs(ARCHIVE, rules=PairRules(max_days=4.5, cloudy_range=(15, 45))).rows
    assert _pairs(narrow) == []  # X, Y within range but no clear within 4.5 days; W, Q outside 15..45
    strict = mine_pairs(ARCHIVE, rules=PairRules(max_clear_cloud=0.3, max_days=10)).rows
    assert ("Y_cloudy_0810", "A_clear_0805", 1) not in _pairs(strict)
    with pytest.raises(ValueError, match="below the cloudy range"):
        PairRules(max_clear_cloud=5, cloudy_range=(5, 50))
    with pytest.raises(ValueError, match="not an interval"):
        PairRules(cloudy_range=(50, 5))


def test_duplicates_and_mixed_inputs_are_split():
    optical, sar = split_items(ARCHIVE + ARCHIVE[:3] + S1_ITEMS)
    assert len(optical) == len(ARCHIVE) and [x["id"] for x in sar] == [x["id"] for x in S1_ITEMS]
    assert _pairs(mine_pairs(ARCHIVE + ARCHIVE).rows) == _pairs(mine_pairs(ARCHIVE).rows)


def test_cli_mine_pairs_on_the_served_archive(stac, tmp_path, capsys):
    _, archive = stac
    s2_file, s1_file = tmp_path / "s2.json", tmp_path / "s1.json"
    s2_file.write_text(json.dumps({"type": "FeatureCollection", "features": archive.s2_items}))
    s1_file.write_text(json.dumps({"type": "FeatureCollection", "features": archive.s1_items}))
    out = tmp_path / "pairs.csv"
    args = ["mine-pairs", str(s2_file), "--s1-items", str(s1_file), "-o", str(out), "--cloudy-range", "5", "100"]
    assert main(args) == 0
    assert "3 pair(s) from 2 cloudy scene(s)" in capsys.readouterr().err
    rows = read_table(out)
    assert [(r["pair_id"], r["rank"]) for r in rows] == [
        ("33TVL_20150731_20150711", "0"),
        ("33TVL_20150820_20150830", "0"),
        ("33TVL_20150820_20150909", "1"),
    ]
    first = rows[0]
    assert first["cloudy_s1_id"] == "S1A_IW_GRDH_1SDV_20150730T165432_rtc"  # not the Spain scene of 07-31
    assert first["clear_s1_id"] == "S1A_IW_GRDH_1SDV_20150712T050211_rtc"
    assert (
        first["clear_offset_source"] == "raster:bands" and first["cloudy_offset_source"] == "processing baseline 04.00"
    )
    assert json.loads(first["clear_dn_offset"])["B02"] == -1000.0
    assert json.loads(rows[1]["cloudy_dn_offset"])["B02"] == 0.0  # earthsearch:boa_offset_applied
    # default rules: 08-20 (71 %) is too cloudy; 07-31 10:00:09 pairs with 07-11 (20 days) but not with
    # 08-30 10:05:47, which is 30 days and 6 minutes away
    parquet = tmp_path / "pairs.parquet"
    assert main(["mine-pairs", str(s2_file), "-o", str(parquet)]) == 0
    assert [(r["cloudy_id"], r["clear_id"]) for r in read_table(parquet)] == [
        ("S2A_33TVL_20150731_0_L1C", "S2A_33TVL_20150711_0_L1C"),
    ]
    assert main(["mine-pairs", str(s2_file), "-o", str(parquet), "--max-days", "30.01"]) == 0
    assert len(read_table(parquet)) == 2
    assert main(["mine-pairs", str(s2_file), "-o", str(tmp_path / "pairs.txt")]) == 2
    assert "must end in .csv or .parquet" in capsys.readouterr().err
