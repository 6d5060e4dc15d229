"""TimeSeriesDataset: t0 -> t1 samples from explicit file sequences (real Slovenia / Sen1Floods11 data)
and from a SEN12MS-CR-TS tree generated from real Sen1Floods11 windows with the data set's naming."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine
from rasterio.windows import Window
from torch.utils.data import DataLoader

from cloudfree.bands import BAND_SETS, BandError
from cloudfree.data.augment import PairedAugment, dihedral
from cloudfree.data.pairing import PairingError
from cloudfree.data.synthetic_clouds import CloudSimulator
from cloudfree.data.timeseries import TimeSeriesDataset, load_sequence, series_steps
from cloudfree.io import open_info, read_mask, read_raster, write_raster
from cloudfree.radiometry import Radiometry
from cloudfree.raster import Raster
from cloudfree.training.data_config import build_datasets
from tests.test_data.pair_helpers import floods, slovenia, slovenia_mask

IMAGE_KEYS = ("prev_optical", "prev_sar", "sar", "clear", "cloudy")
RGBN = BAND_SETS["rgbn"]


def _sar_raster(data: np.ndarray, transform: Affine, crs) -> Raster:
    valid = np.ones(data.shape[1:], bool)
    return Raster(data.astype(np.float32), ("VV", "VH"), crs, transform, valid, Radiometry.SAR_DB)


def _file_window(seq_transform: Affine, path: Path, row: int, col: int, size: int) -> Window:
    """The window of ``path`` under sample window (row, col) of an aligned sequence's grid."""
    c, r = ~open_info(path).transform * (seq_transform.c, seq_transform.f)
    return Window(round(c) + col, round(r) + row, size, size)


@pytest.fixture(scope="module")
def slovenia_files(shared_data, tmp_path_factory) -> dict[str, Path]:
    """Real Slovenia optical dates + real mask, and generated Sentinel-1 rasters on two other grids.

    ``sar`` lies on the Slovenia pixel grid shifted by 5 px (larger extent: copied, not resampled);
    ``prev_sar`` is a linear ramp on a 2x coarser grid (bilinear reprojection of a ramp is exact).
    """
    out = tmp_path_factory.mktemp("slovenia_sar")
    info = open_info(slovenia(shared_data, "2015-08-30"))
    rng = np.random.default_rng(0)
    shifted = info.transform * Affine.translation(-5, -5)
    sar = rng.uniform(-25, -5, size=(2, info.height + 10, info.width + 10))
    write_raster(_sar_raster(sar, shifted, info.crs), out / "sar_t1.tif")
    coarse = info.transform * Affine.translation(-3, -3) * Affine.scale(2)
    rows, cols = info.height // 2 + 6, info.width // 2 + 6
    x = np.array([coarse * (c + 0.5, 0.5) for c in range(cols)])[:, 0] - coarse.c
    vv = np.broadcast_to(-15.0 + 0.002 * x, (rows, cols))
    write_raster(_sar_raster(np.stack([vv, vv - 7.0]), coarse, info.crs), out / "sar_t0.tif")
    return {
        "prev_optical": slovenia(shared_data, "2015-07-11"),
        "cloudy": slovenia(shared_data, "2015-07-31"),
        "mask": slovenia_mask(shared_data, "2015-07-31"),
        "clear": slovenia(shared_data, "2015-08-30"),
        "sar": out / "sar_t1.tif",
        "prev_sar": out / "sar_t0.tif",
    }


@pytest.fixture(scope="module")
def slovenia_seq(slovenia_files):
    return load_sequence({k: str(v) for k, v in slovenia_files.items()}, None, 32)


def test_sequence_samples_equal_the_source_files(slovenia_seq, slovenia_files):
    seq, files = slovenia_seq, slovenia_files
    assert seq.bands == BAND_SETS["l1c13"] and seq.dates == ("2015-07-11", "2015-08-30")
    clear_grid = seq.members["clear"]
    assert clear_grid.crs == open_info(files["clear"]).crs and clear_grid.valid.all()
    ds = TimeSeriesDataset([seq], 32, samples_per_epoch=6, seed=2)
    for index in range(len(ds)):
        sample = ds[index]
        assert set(sample) == {*IMAGE_KEYS, "mask", "labels", "meta"}
        assert sample["clear"].shape == (13, 32, 32) and sample["sar"].shape == (2, 32, 32)
        assert sample["mask"].shape == (1, 32, 32) and sample["labels"].dtype == torch.int64
        assert all(sample[k].dtype == torch.float32 for k in IMAGE_KEYS)
        row, col, _, _ = sample["meta"]["window"]
        for role in ("prev_optical", "cloudy", "clear"):
            win = _file_window(clear_grid.transform, files[role], row, col, 32)
            expected = read_raster(files[role], window=win).to_reflectance().data
            np.testing.assert_array_equal(sample[role].numpy(), expected, err_msg=role)
        win = _file_window(clear_grid.transform, files["sar"], row, col, 32)
        np.testing.assert_array_equal(sample["sar"].numpy(), read_raster(files["sar"], window=win).data)
        codes = read_mask(files["mask"], window=_file_window(clear_grid.transform, files["mask"], row, col, 32))
        np.testing.assert_array_equal(sample["labels"].numpy(), codes)
        np.testing.assert_array_equal(sample["mask"][0].numpy(), (codes > 0).astype(np.float32))
        # the 20 m ramp reprojected onto the 10 m clear grid: VV = -15 + 0.002 * (x - x0) at pixel centres
        x = np.array([(clear_grid.transform * (col + c + 0.5, 0.5))[0] for c in range(32)])
        origin = open_info(files["prev_sar"]).transform.c  # the ramp's x0 is the coarse grid's left edge
        vv = -15.0 + 0.002 * (x - origin)
        np.testing.assert_allclose(sample["prev_sar"][0].numpy(), np.broadcast_to(vv, (32, 32)), atol=1e-3)
        np.testing.assert_allclose(sample["prev_sar"][1].numpy(), sample["prev_sar"][0].numpy() - 7.0, atol=1e-4)
        meta = sample["meta"]
        assert meta["dates"] == ("2015-07-11", "2015-08-30") and meta["bands"] == BAND_SETS["l1c13"]
        assert meta["path"] == str(files["clear"]) and meta["prev_path"] == str(files["prev_optical"])
        assert meta["scene"] == "S2_L1C_2015-08-30"


def test_band_selection_determinism_and_epochs(slovenia_seq):
    ds = TimeSeriesDataset([slovenia_seq], 32, samples_per_epoch=8, seed=4, bands="rgbn")
    full = TimeSeriesDataset([slovenia_seq], 32, samples_per_epoch=8, seed=4)
    first = [ds[i]["meta"]["window"] for i in range(8)]
    assert first == [ds[i]["meta"]["window"] for i in range(8)]  # pure function of (seed, epoch, index)
    assert len(set(first)) > 1
    idx = [BAND_SETS["l1c13"].index(b) for b in RGBN]
    np.testing.assert_array_equal(ds[3]["clear"].numpy(), full[3]["clear"].numpy()[idx])
    ds.set_epoch(1)
    assert [ds[i]["meta"]["window"] for i in range(8)] != first
    ds.set_epoch(0)
    assert [ds[i]["meta"]["window"] for i in range(8)] == first
    other_seed = TimeSeriesDataset([slovenia_seq], 32, samples_per_epoch=8, seed=5, bands="rgbn")
    assert [other_seed[i]["meta"]["window"] for i in range(8)] != first
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert batch["prev_optical"].shape == (4, 4, 32, 32) and batch["labels"].shape == (4, 32, 32)


def test_augmentation_is_identical_across_keys(slovenia_seq):
    plain = TimeSeriesDataset([slovenia_seq], 32, samples_per_epoch=8, seed=7, bands="rgbn")
    aug = TimeSeriesDataset([slovenia_seq], 32, samples_per_epoch=8, seed=7, bands="rgbn", augment=PairedAugment())
    used = set()
    for i in range(8):
        p, a = plain[i], aug[i]
        assert p["meta"]["window"] == a["meta"]["window"]
        k = next(k for k in range(8) if torch.equal(dihedral(p["clear"], k), a["clear"]))
        used.add(k)
        for key in (*IMAGE_KEYS, "mask", "labels"):
            assert torch.equal(dihedral(p[key], k), a[key]), key
    assert len(used) > 1


def test_sen1floods11_both_dates_with_synthetic_clouds(shared_data):
    entry = {"prev_optical": floods(shared_data, "S2Hand"), "clear": floods(shared_data, "S2Hand")}
    entry |= {"prev_sar": floods(shared_data, "S1Hand"), "sar": floods(shared_data, "S1Hand")}
    seq = load_sequence(entry, RGBN, 32)
    assert seq.members["clear"].crs.to_epsg() == 4326 and seq.members["clear"].shape == (4, 512, 512)
    simulator = CloudSimulator(coverage=(0.3, 0.5))
    ds = TimeSeriesDataset([seq], 32, samples_per_epoch=4, simulate=simulator, seed=1)
    no_clouds = TimeSeriesDataset([seq], 32, samples_per_epoch=4, seed=1)
    for i in range(4):
        sample = ds[i]
        row, col, _, _ = sample["meta"]["window"]
        win = Window(col, row, 32, 32)
        clear = read_raster(floods(shared_data, "S2Hand"), select=RGBN, window=win).to_reflectance().data
        np.testing.assert_array_equal(sample["clear"].numpy(), clear)
        np.testing.assert_array_equal(sample["prev_optical"].numpy(), clear)
        np.testing.assert_array_equal(
            sample["sar"].numpy(), read_raster(floods(shared_data, "S1Hand"), window=win).data
        )
        cloud = sample["mask"][0].numpy() > 0  # cloud or shadow
        thick_or_thin = np.isin(sample["labels"].numpy(), (1, 2))
        assert 0.2 < thick_or_thin.mean() < 0.6 and (cloud >= thick_or_thin).all()  # coverage 0.3..0.5
        assert sample["meta"]["dates"] == ("", "")
        changed = np.abs(sample["cloudy"].numpy() - clear).max(axis=0) > simulator.epsilon
        assert not (changed & ~cloud).any()  # pixels off the mask are untouched
        assert set(no_clouds[i]) == {"prev_optical", "prev_sar", "sar", "clear", "meta"}
        assert no_clouds[i]["meta"]["window"] == (row, col, 32, 32)


def test_bad_sequences_name_the_problem(shared_data, slovenia_files):
    files = {k: str(v) for k, v in slovenia_files.items()}
    with pytest.raises(ValueError, match=r"missing \['prev_sar'\]"):
        load_sequence({k: v for k, v in files.items() if k != "prev_sar"})
    with pytest.raises(ValueError, match=r"unknown \['cloudy_mask'\]"):
        load_sequence({**files, "cloudy_mask": "x.tif"})
    with pytest.raises(ValueError, match="a mask belongs to the cloudy image"):
        load_sequence({k: v for k, v in files.items() if k != "cloudy"})
    with pytest.raises(BandError, match=r"prev_optical .*sar_t1\.tif holds sar_db data \['VV', 'VH'\]"):
        load_sequence({**files, "prev_optical": files["sar"]})
    with pytest.raises(BandError, match=r"prev_sar .*S2_L1C_2015-07-11\.tif has bands \['B01'.*expected Sentinel-1"):
        load_sequence({**files, "prev_sar": files["prev_optical"]})
    with pytest.raises(BandError, match="unknown band name 'B8X'"):
        load_sequence(files, ("B02", "B8X"))
    far = {**files, "sar": str(floods(shared_data, "S1Hand"))}
    with pytest.raises(PairingError, match=r"footprints do not overlap: .*Spain_7370579_S1Hand\.tif"):
        load_sequence(far)
    with pytest.raises(PairingError, match="less than one patch of 128 px"):
        load_sequence(files, None, 128)
    with pytest.raises(ValueError, match="at least one sequence"):
        TimeSeriesDataset([], 32)


# -- SEN12MS-CR-TS ---------------------------------------------------------------------------------------
DATES = ("2018-01-03", "2018-01-15", "2018-01-27", "2018-03-30", "2018-04-11")


def _write(path: Path, data: np.ndarray, transform: Affine, crs) -> None:
    """A file as SEN12MS-CR-TS ships it: no band descriptions, S2 uint16 DN, S1 float32 dB."""
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {"driver": "GTiff", "count": data.shape[0], "height": data.shape[1], "width": data.shape[2]}
    with rasterio.open(path, "w", dtype=data.dtype, crs=crs, transform=transform, **profile) as dst:
        dst.write(data)


def _ts_path(root: Path, sensor: str, t: int, patch: int = 7) -> Path:
    name = f"{sensor}_ROIs1868_100_ImgNo_{t}_{DATES[t]}_patch_{patch}.tif"
    return root / "ROIs1868" / "100" / sensor.upper() / str(t) / name


@pytest.fixture(scope="module")
def ts_root(shared_data, tmp_path_factory) -> Path:
    """Patch 7: t0 real S2/S1 window, t1 and t3 seasonal changes of it, t2 under thick synthetic clouds
    (s2cloudless must reject it), t4 without S1."""
    root = tmp_path_factory.mktemp("sen12mscrts")
    win = Window(100, 100, 64, 64)
    s2 = read_raster(floods(shared_data, "S2Hand"), window=win)
    s1 = read_raster(floods(shared_data, "S1Hand"), window=win)
    dn = s2.data.astype(np.float32)
    cloudy, _ = CloudSimulator(coverage=0.8, shadows=False)(dn / 10000, s2.bands, np.random.default_rng(0))
    optical = [dn, dn * 0.9, cloudy * 10000, dn * 1.05, dn * 0.95]
    for t, image in enumerate(optical):
        _write(_ts_path(root, "s2", t), np.clip(image, 1, 65535).astype(np.uint16), s2.transform, s2.crs)
        if t < 4:
            _write(_ts_path(root, "s1", t), (s1.data + 0.5 * t).astype(np.float32), s1.transform, s1.crs)
    return root


def test_series_steps_pairs_and_filters(ts_root):
    with pytest.warns(UserWarning, match=r"1 time point\(s\) lack S1 or S2 .*ROIs1868_100_patch_7 S1 t=4"):
        steps = series_steps(ts_root)
    assert [(s.t0, s.t1) for s in steps] == [(0, 1), (1, 2), (2, 3)]
    assert steps[0].dates == ("2018-01-03", "2018-01-15") and steps[0].scene == "ROIs1868_100_patch_7_t0-1"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        clear = series_steps(ts_root, max_cloud=0.2, progress=False)  # s2cloudless drops the cloudy t2
        assert [(s.t0, s.t1) for s in clear] == [(0, 1), (1, 3)]
        assert [(s.t0, s.t1) for s in series_steps(ts_root, max_cloud=0.2, max_gap_days=30, progress=False)] == [(0, 1)]
        with pytest.raises(ValueError, match="no pair of consecutive time points"):
            series_steps(ts_root, max_gap_days=5)
    empty = ts_root.parent / "empty_tree"
    empty.mkdir(exist_ok=True)
    with pytest.raises(ValueError, match="no SEN12MS-CR-TS files"):
        series_steps(empty)


def test_series_samples_read_the_files_by_window(ts_root):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        steps = series_steps(ts_root)
    ds = TimeSeriesDataset(steps, 32, simulate=CloudSimulator(), seed=3, bands="rgbn")
    assert len(ds) == 3  # one crop per time-step pair
    sample = ds[2]  # t2 -> t3
    row, col, _, _ = sample["meta"]["window"]
    win = Window(col, row, 32, 32)
    for role, sensor, t in (("prev_optical", "s2", 2), ("clear", "s2", 3), ("prev_sar", "s1", 2), ("sar", "s1", 3)):
        src = read_raster(_ts_path(ts_root, sensor, t), BAND_SETS["l1c13"] if sensor == "s2" else ("VV", "VH"))
        expected = src.select(RGBN).to_reflectance() if sensor == "s2" else src
        np.testing.assert_array_equal(sample[role].numpy(), expected.window(win).data, err_msg=role)
    assert sample["meta"]["dates"] == ("2018-01-27", "2018-03-30") and sample["meta"]["bands"] == RGBN
    assert sample["meta"]["path"] == str(_ts_path(ts_root, "s2", 3)) and sample["cloudy"].shape == (4, 32, 32)
    assert ds[2]["meta"]["window"] == (row, col, 32, 32)
    # a member on another grid is refused, naming the files
    bad = ts_root.parent / (ts_root.name + "_bad")
    for t in (0, 1):
        for sensor in ("s1", "s2"):
            with rasterio.open(_ts_path(ts_root, sensor, t)) as src:
                moved = Affine.translation(3, 0) if (sensor, t) == ("s1", 1) else Affine.identity()
                _write(_ts_path(bad, sensor, t), src.read(), src.transform * moved, src.crs)
    broken = TimeSeriesDataset(series_steps(bad), 32)
    with pytest.raises(PairingError, match=r"sar .*s1_ROIs1868_100_ImgNo_1_2018-01-15_patch_7\.tif.*not on the grid"):
        broken[0]


def test_datamodule_builds_timeseries_from_root_and_sequences(ts_root, slovenia_files):
    cfg = {"type": "timeseries", "root": str(ts_root), "max_cloud": 0.2, "patch": 32, "val_samples": 3}
    cfg["sequences"] = [{k: str(v) for k, v in slovenia_files.items()}]
    cfg["augment"] = {"rotations_flips": True}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        train, val = build_datasets(cfg, RGBN, seed=0)
    assert isinstance(train, TimeSeriesDataset) and len(train) == 3  # two SEN12MS-CR-TS steps + one sequence
    assert train.augment is not None and val.augment is None and len(val) == 3
    scenes = {train[i]["meta"]["scene"] for i in range(3)}
    assert scenes == {"ROIs1868_100_patch_7_t0-1", "ROIs1868_100_patch_7_t1-3", "S2_L1C_2015-08-30"}
    assert all("cloudy" in train[i] and "mask" in train[i] for i in range(3))
    no_sim = build_datasets({**cfg, "root": None, "simulator": False, "val_samples": 0}, RGBN)
    assert no_sim[1] is None and len(no_sim[0]) == 1000
    with pytest.raises(ValueError, match=r"needs data\.root"):
        build_datasets({"type": "timeseries"}, RGBN)
