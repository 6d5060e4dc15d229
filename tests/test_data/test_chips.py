import json

import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.windows import Window
from rasterio.windows import bounds as window_bounds

from cloudfree.bands import BandError
from cloudfree.data.chips import INDEX_COLUMNS, ChipStore, ChipStoreError, build_chips, read_index, read_store_info
from cloudfree.data.pairing import align_pair
from cloudfree.data.pix2pix_export import export_aligned
from cloudfree.io import read_mask, read_raster
from cloudfree.radiometry import Radiometry
from tests.test_data.pair_helpers import slovenia


def _codes(height: int = 101, width: int = 100) -> np.ndarray:
    """A generated mask: thick cloud on the western 40 columns, shadow in a south strip."""
    codes = np.zeros((height, width), np.uint8)
    codes[:, :40] = 1
    codes[85:, 40:60] = 3
    return codes


@pytest.fixture(scope="module")
def pair(shared_data):
    cloudy = read_raster(slovenia(shared_data, "2015-07-31"))
    clear = read_raster(slovenia(shared_data, "2015-08-30"))
    return align_pair(cloudy, clear, mask=_codes(), bands="rgbn")


@pytest.fixture(scope="module")
def pair2(shared_data):
    cloudy = read_raster(slovenia(shared_data, "2015-08-20"))
    clear = read_raster(slovenia(shared_data, "2015-08-30"))
    return align_pair(cloudy, clear, mask=_codes(), bands="rgbn")


def _snapshot(store):
    return {p.relative_to(store).as_posix(): p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file()}


def test_chips_are_georeferenced_filtered_and_indexed(pair, tmp_path):
    store = tmp_path / "store"
    rows = build_chips(pair, store, patch=32, cloud_range=(0.05, 0.6), seed=0)
    assert rows == read_index(store) and rows
    assert tuple(read_store_info(store)["bands"]) == ("B02", "B03", "B04", "B08")
    header = (store / "index.csv").read_text().splitlines()[0].split(",")
    assert tuple(header) == INDEX_COLUMNS
    codes = _codes()
    kept = {(r["row"], r["col"]) for r in rows}
    for row in rows:
        r, c = row["row"], row["col"]
        expected = np.isin(codes[r : r + 32, c : c + 32], (1, 2, 3)).mean()
        assert row["cloud_fraction"] == pytest.approx(expected) and 0.05 <= expected <= 0.6
        assert row["nodata_fraction"] == 0.0 and row["crs"] == "EPSG:32633" and row["sar"] == ""
        win = Window(c, r, 32, 32)
        chip = read_raster(store / row["cloudy"])
        assert chip.bands == pair.bands and chip.crs == pair.crs and chip.radiometry is Radiometry.REFLECTANCE
        assert chip.transform == pair.cloudy.window(win).transform
        np.testing.assert_array_equal(chip.data, pair.cloudy.window(win).data)
        np.testing.assert_array_equal(read_raster(store / row["clear"]).data, pair.clear.window(win).data)
        np.testing.assert_array_equal(read_mask(store / row["mask"]), codes[r : r + 32, c : c + 32])
        assert (row["left"], row["bottom"], row["right"], row["top"]) == pytest.approx(
            window_bounds(win, pair.transform)
        )
        assert row["cloudy"] == f"{row['split']}/S2_L1C_2015-07-31_{r}_{c}_cloudy.tif"
    # exactly the windows of the 4 x 4 covering grid whose cloud fraction is in range were kept
    grid = [(r, c) for r in (0, 32, 64, 69) for c in (0, 32, 64, 68)]
    expected = {(r, c) for r, c in grid if 0.05 <= np.isin(codes[r : r + 32, c : c + 32], (1, 3)).mean() <= 0.6}
    assert kept == expected and (0, 0) not in kept and len(expected) < len(grid)
    assert {r["split"] for r in rows} <= {"train", "val", "test"}
    assert not list(tmp_path.glob(".*")), "no staging folder left behind"


def test_uint16_store_round_trips_dn_exactly(shared_data, pair, tmp_path):
    rows = build_chips(pair, tmp_path / "dn", patch=32, cloud_range=None, dtype="uint16")
    assert len(rows) == 16  # 101 x 100 px covered by 4 x 4 chips of 32 px
    source = read_raster(slovenia(shared_data, "2015-07-31"), select="rgbn")
    for row in rows[:4]:
        chip = read_raster(tmp_path / "dn" / row["cloudy"])
        assert chip.data.dtype == np.uint16 and chip.radiometry is Radiometry.DN
        win = Window(row["col"], row["row"], 32, 32)
        np.testing.assert_array_equal(chip.data, source.window(win).data)
        with rasterio.open(tmp_path / "dn" / row["cloudy"]) as src:
            assert src.descriptions == ("B02", "B03", "B04", "B08") and src.nodata == 0


def test_pairs_accumulate_and_a_scene_is_replaced(pair, pair2, tmp_path):
    store = tmp_path / "store"
    build_chips(pair, store, patch=32, cloud_range=None)
    rows = build_chips(pair2, store, patch=32, cloud_range=None)
    assert {r["scene"] for r in rows} == {"S2_L1C_2015-07-31", "S2_L1C_2015-08-20"} and len(rows) == 32
    rows = build_chips(pair, store, patch=32, stride=16, cloud_range=(0.0, 0.5))
    first = [r for r in rows if r["scene"] == "S2_L1C_2015-07-31"]
    assert len(rows) == 16 + len(first) and all(r["cloud_fraction"] <= 0.5 for r in first)
    on_disk = {p.relative_to(store).as_posix() for p in store.rglob("*.tif")}
    indexed = {r[k] for r in rows for k in ("cloudy", "clear", "mask") if r[k]}
    assert on_disk == indexed, "replaced chips leave no orphan files"


def test_a_failure_leaves_the_store_unchanged(pair, pair2, tmp_path):
    store = tmp_path / "store"
    build_chips(pair, store, patch=32, cloud_range=None)
    before = _snapshot(store)
    with pytest.raises(RuntimeError), ChipStore(store) as chip_store:
        chip_store.add_pair(pair2, 32, cloud_range=None)
        raise RuntimeError("killed half way")
    with pytest.raises(BandError, match="differ from the chip store"):
        build_chips(pair2.select("rgb"), store, patch=32, cloud_range=None)
    with pytest.raises(ChipStoreError, match="32 px chips, cannot add 16"):
        build_chips(pair2, store, patch=16, cloud_range=None)
    with pytest.raises(ValueError, match="needs a cloud mask"):
        build_chips(align_pair(pair2.cloudy, pair2.clear), store, patch=32)
    assert _snapshot(store) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]
    with pytest.raises(RuntimeError), ChipStore(tmp_path / "fresh") as chip_store:
        chip_store.add_pair(pair, 32, cloud_range=None)
        raise RuntimeError("killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]


def test_refuses_a_folder_that_is_not_a_store(pair, tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("mine")
    with pytest.raises(ChipStoreError, match="not a chip store"):
        build_chips(pair, tmp_path / "docs", patch=32, cloud_range=None)
    assert (tmp_path / "docs" / "notes.txt").read_text() == "mine"
    with pytest.raises(ChipStoreError, match="not a chip store"):
        read_index(tmp_path / "docs")


def test_pix2pix_export_is_a_b_with_one_stretch_per_scene(pair, tmp_path):
    store = tmp_path / "store"
    rows = build_chips(pair, store, patch=32, cloud_range=None)
    counts = export_aligned(store, tmp_path / "p2p", bands="rgb", stretch=(2, 98))
    assert sum(counts.values()) == len(rows)
    assert counts == {s: sum(r["split"] == s for r in rows) for s in ("train", "val", "test")}
    info = json.loads((tmp_path / "p2p" / "export.json").read_text())
    low = np.array(info["scenes"]["S2_L1C_2015-07-31"]["low"])
    high = np.array(info["scenes"]["S2_L1C_2015-07-31"]["high"])
    clear_all = pair.clear.select("rgb").data.reshape(3, -1)
    assert np.all(low >= clear_all.min(axis=1)) and np.all(high <= clear_all.max(axis=1))
    row = rows[0]
    png = np.asarray(Image.open(tmp_path / "p2p" / row["split"] / f"S2_L1C_2015-07-31_{row['row']}_{row['col']}.png"))
    assert png.shape == (32, 64, 3) and png.dtype == np.uint8
    win = Window(row["col"], row["row"], 32, 32)
    for half, member in ((png[:, :32], pair.cloudy), (png[:, 32:], pair.clear)):
        data = member.window(win).select("rgb").data
        expected = np.rint(np.clip((data - low[:, None, None]) / (high - low)[:, None, None], 0, 1) * 255)
        np.testing.assert_array_equal(half, expected.transpose(1, 2, 0).astype(np.uint8))
    # the overcast half is brighter under the shared stretch
    assert png[:, :32].mean() > png[:, 32:].mean()
    export_aligned(store, tmp_path / "p2p")  # an earlier export is replaced
    with pytest.raises(ValueError, match="not an earlier pix2pix export"):
        export_aligned(store, tmp_path / "store")
    with pytest.raises(BandError, match="1 or 3 bands"):
        export_aligned(store, tmp_path / "other", bands="rgbn")
