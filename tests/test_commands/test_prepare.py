import csv
import re

import numpy as np
import pytest
from affine import Affine

from cloudfree.cli import main
from cloudfree.data.chips import read_index, read_store_info
from cloudfree.io import read_raster, write_raster
from tests.test_data.pair_helpers import floods, slovenia, slovenia_mask, to_utm_copy


def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_pair(shared, out, *extra):
    return [
        "prepare",
        "--cloudy",
        str(slovenia(shared, "2015-07-31")),
        "--clear",
        str(slovenia(shared, "2015-08-30")),
        "--mask",
        str(slovenia_mask(shared, "2015-07-31")),
        "--out",
        str(out),
        "--patch",
        "32",
        *extra,
    ]


def test_prepare_one_real_pair_with_export(shared_data, tmp_path, capsys):
    out = tmp_path / "chips"
    rc = main(_one_pair(shared_data, out, "--bands", "rgbn", "--export-aligned", str(tmp_path / "p2p")))
    assert rc == 0
    printed = capsys.readouterr().out
    assert "wrote 16 chips" in printed and "S2_L1C_2015-07-31: 16 chips" in printed and "exported 16" in printed
    rows = read_index(out)
    assert len(rows) == 16 and {r["split"] for r in rows} == {"train", "val", "test"}
    assert read_store_info(out)["bands"] == ["B02", "B03", "B04", "B08"]
    assert all(r["cloud_fraction"] == 1.0 for r in rows)  # the 2015-07-31 mask is overcast everywhere
    chip = read_raster(out / rows[0]["clear"])
    assert chip.bands == ("B02", "B03", "B04", "B08") and chip.crs.to_epsg() == 32633
    assert len(list((tmp_path / "p2p").rglob("*.png"))) == 16


def test_prepare_pairs_table_with_relative_paths_and_cloud_filter(shared_data, tmp_path, capsys):
    folder = tmp_path / "pairs"
    folder.mkdir()
    clear = read_raster(slovenia(shared_data, "2015-08-30"), select="rgbn")
    for date in ("2015-07-31", "2015-08-20"):
        write_raster(read_raster(slovenia(shared_data, date), select="rgbn"), folder / f"{date}.tif", cog=False)
    write_raster(clear, folder / "clear.tif", cog=False)
    with (folder / "pairs.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["cloudy", "clear", "mask", "scene"])
        writer.writerow(["2015-07-31.tif", "clear.tif", str(slovenia_mask(shared_data, "2015-07-31")), "jul31"])
        writer.writerow(["2015-08-20.tif", "clear.tif", str(slovenia_mask(shared_data, "2015-08-20")), "aug20"])
    out = tmp_path / "chips"
    assert main(["prepare", "--pairs", str(folder / "pairs.csv"), "--out", str(out), "--patch", "48"]) == 0
    rows = read_index(out)
    assert {r["scene"] for r in rows} == {"jul31", "aug20"} and len(rows) == 2 * 9
    # both masks are fully cloudy: a 5-30 % cloud range keeps nothing, which is an error that writes nothing
    before = _snapshot(out)
    argv = ["prepare", "--pairs", str(folder / "pairs.csv"), "--out", str(out), "--patch", "48"]
    assert main([*argv, "--cloud-range", "0.05", "0.30"]) == 2
    assert "no chip passed the filters" in capsys.readouterr().err
    assert _snapshot(out) == before


def test_prepare_aligns_a_warped_cloudy_image_and_sar(shared_data, tmp_path):
    clear_path = floods(shared_data, "S2Hand")
    warped = to_utm_copy(read_raster(clear_path, select="rgbn"))
    write_raster(warped, tmp_path / "cloudy_utm.tif", cog=False)
    out = tmp_path / "chips"
    argv = ["prepare", "--cloudy", str(tmp_path / "cloudy_utm.tif"), "--clear", str(clear_path)]
    argv += ["--sar", str(floods(shared_data, "S1Hand")), "--out", str(out), "--patch", "64", "--bands", "rgbn"]
    assert main([*argv, "--max-nodata", "0", "--dtype", "uint16"]) == 0
    rows = read_index(out)
    assert len(rows) > 30 and all(r["sar"] and r["crs"] == "EPSG:4326" for r in rows)
    row = rows[0]
    cloudy, clear = read_raster(out / row["cloudy"]), read_raster(out / row["clear"])
    sar = read_raster(out / row["sar"])
    assert cloudy.transform == clear.transform == sar.transform and sar.bands == ("VV", "VH")
    assert cloudy.data.dtype == np.uint16 and np.abs(cloudy.data.astype(float) - clear.data).mean() < 150


@pytest.fixture
def bad_inputs(shared_data, tmp_path):
    base = read_raster(slovenia(shared_data, "2015-08-30"))
    files = {}
    files["rgbn"] = write_raster(base.select("rgbn"), tmp_path / "clear_rgbn.tif", cog=False)
    far = base.with_data(base.data, transform=Affine(10, 0, 100000.0, 0, -10, 5000000.0))
    files["far"] = write_raster(far, tmp_path / "far_away.tif", cog=False)
    empty = base.with_data(np.zeros_like(base.data), valid=np.zeros(base.valid.shape, bool))
    files["empty"] = write_raster(empty, tmp_path / "all_nodata.tif", cog=False)
    files["truncated"] = tmp_path / "truncated.tif"
    files["truncated"].write_bytes(slovenia(shared_data, "2015-08-30").read_bytes()[:3000])
    files["text"] = tmp_path / "notes.tif"
    files["text"].write_text("not a raster")
    return files


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("bands", "unknown band name 'B99'"),
        ("band_sets", r"band sets differ.*2015-07-31\.tif.*clear_rgbn\.tif has \['B02', 'B03', 'B04', 'B08'\]"),
        ("patch", "smaller than one patch of 256 px"),
        ("far", r"do not overlap.*far_away\.tif"),
        ("truncated", r"truncated\.tif"),
        ("text", r"notes\.tif"),
        ("empty", r"all_nodata\.tif: no valid pixel"),
        ("missing", r"missing\.tif.*does not exist"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(case, message, shared_data, bad_inputs, tmp_path, capsys):
    out = tmp_path / "chips"
    cloudy, clear = str(slovenia(shared_data, "2015-07-31")), str(slovenia(shared_data, "2015-08-30"))
    extra = {"bands": ["--bands", "B99"], "patch": ["--patch", "256"]}.get(case, [])
    if case == "band_sets":
        clear = str(bad_inputs["rgbn"])
    elif case in ("far", "empty", "truncated", "text"):
        clear = str(bad_inputs[case])
    elif case == "missing":
        clear = str(tmp_path / "missing.tif")
    argv = ["prepare", "--cloudy", cloudy, "--clear", clear, "--out", str(out), "--patch", "32", *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cloudfree prepare: error:") and len(err.splitlines()) == 1
    assert re.search(message, err), err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_bad_pair_in_a_table_leaves_an_existing_store_unchanged(shared_data, bad_inputs, tmp_path):
    out = tmp_path / "chips"
    assert main(_one_pair(shared_data, out, "--bands", "rgb")) == 0
    before = _snapshot(out)
    table = tmp_path / "pairs.csv"
    cloudy, clear = slovenia(shared_data, "2015-08-20"), slovenia(shared_data, "2015-08-30")
    table.write_text(f"cloudy,clear\n{cloudy},{clear}\n{cloudy.parent / 'S2_L1C_2015-07-11.tif'},{bad_inputs['far']}\n")
    assert main(["prepare", "--pairs", str(table), "--out", str(out), "--patch", "32", "--bands", "rgb"]) == 2
    assert _snapshot(out) == before
    assert main(["prepare", "--pairs", str(table), "--cloudy", str(cloudy), "--out", str(out)]) == 2
