"""Dataloaders from a config's data section, on the real samples: chip store, single pair, synthetic.

Values are checked against the GeoTIFF readers at the sample's window; band order follows the task.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from rasterio.windows import Window

from cloudfree.cli import main
from cloudfree.io.geotiff import read_raster
from cloudfree.tasks.cyclegan import CycleGANTask
from cloudfree.tasks.pix2pix import Pix2PixTask
from cloudfree.training.config import load_config
from cloudfree.training.datamodule import CloudDataModule, EpochShuffleSampler

REPO = Path(__file__).resolve().parents[2]
SMALL = {"generator": {"ngf": 2}, "discriminator": {"ndf": 2}, "patch_size": 32}


def _file_window(pair_raster, file_raster, row: int, col: int, size: int) -> Window:
    """Window in the file of pixel (row, col) of the aligned pair's grid."""
    x, y = pair_raster.transform * (col, row)
    fc, fr = ~file_raster.transform * (x, y)
    return Window(round(fc), round(fr), size, size)


def test_single_pair_with_sar_values_and_bands(shared_data: Path) -> None:
    """SAR -> optical: the Sen1Floods11 pair; optical in the task's band order, SAR in dB."""
    task = CycleGANTask(in_bands=(), sar_bands="s1", out_bands="nir_swir_re", **SMALL)
    cfg = {
        "type": "single_pair",
        "clear": str(shared_data / "sen1floods11_spain/Spain_7370579_S2Hand.tif"),
        "sar": str(shared_data / "sen1floods11_spain/Spain_7370579_S1Hand.tif"),
        "patch": 32,
        "samples_per_epoch": 6,
        "val_samples": 2,
        "batch_size": 3,
    }
    dm = CloudDataModule.from_config(cfg, task, seed=1)
    assert len(dm.train_set) == 6 and len(dm.val_set) == 2
    sample = dm.train_set[0]
    row, col = sample["meta"]["window"][:2]
    s2 = read_raster(cfg["clear"])
    s1 = read_raster(cfg["sar"])
    win = _file_window(dm.train_set.pair.clear, s2, row, col, 32)
    expected = read_raster(cfg["clear"], window=win, select=("B08", "B11", "B05")).to_reflectance().data
    assert task.data_bands == ("B08", "B11", "B05")
    assert np.allclose(sample["clear"].numpy(), expected, atol=1e-6)
    assert np.allclose(sample["sar"].numpy(), read_raster(cfg["sar"], window=win).data, atol=1e-5)
    assert s1.bands == ("VV", "VH") and sample["sar"].min() < -5  # dB, not linear
    batch = next(iter(dm.train_dataloader()))
    assert task.build_input(batch).shape == (3, 2, 32, 32)
    assert task.build_target(batch).shape == (3, 3, 32, 32)


def test_shipped_single_pair_config_reads_the_slovenia_pair(shared_data: Path, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    cfg = load_config(REPO / "configs/pix2pix_single_pair.yaml", ["data.patch=32", "data.samples_per_epoch=4"])
    task = Pix2PixTask(in_bands=cfg["data"]["bands"], use_mask=True, **SMALL)
    dm = CloudDataModule.from_config(cfg["data"], task, seed=cfg["seed"])
    sample = dm.train_set[0]
    assert sample["cloudy"].shape == (3, 32, 32) and sample["meta"]["bands"] == ("B08", "B04", "B03")
    assert set(torch.unique(sample["mask"]).tolist()) <= {0.0, 1.0}
    assert "valid" in sample  # shear / skew augmentation marks the filled border
    # the overcast date is brighter than the clear one in the visible bands
    pair = dm.train_set.pair
    assert pair.cloudy.data[1].mean() > pair.clear.data[1].mean()


def test_synthetic_and_epochs(shared_data: Path) -> None:
    task = Pix2PixTask(in_bands="rgbn", use_mask=True, **SMALL)
    cfg = {
        "type": "synthetic",
        "scenes": [str(shared_data / "sen1floods11_spain/Spain_7370579_S2Hand.tif")],
        "simulator": {"coverage": [0.3, 0.5]},
        "patch": 32,
        "samples_per_epoch": 4,
        "val_samples": 2,
    }
    dm = CloudDataModule.from_config(cfg, task, seed=5)
    first = dm.train_set[0]
    assert first["mask"].mean() > 0  # real clouds were simulated
    assert torch.equal(dm.train_set[0]["cloudy"], first["cloudy"])  # same (seed, epoch, index) -> same sample
    dm.set_epoch(1)
    assert not torch.equal(dm.train_set[0]["cloudy"], first["cloudy"])  # new draws each epoch
    assert torch.equal(dm.val_set[0]["cloudy"], dm.val_set[0]["cloudy"])
    # shuffle order depends on (seed, epoch) only
    a, b = EpochShuffleSampler(10, 3), EpochShuffleSampler(10, 3)
    a.set_epoch(2), b.set_epoch(2)
    assert list(a) == list(b) and sorted(a) == list(range(10))
    b.set_epoch(3)
    assert list(a) != list(b)


def test_chip_store_from_prepare(shared_data: Path, tmp_path: Path) -> None:
    store = tmp_path / "chips"
    s2 = str(shared_data / "sen1floods11_spain/Spain_7370579_S2Hand.tif")
    s1 = str(shared_data / "sen1floods11_spain/Spain_7370579_S1Hand.tif")
    assert main(["prepare", "--cloudy", s2, "--clear", s2, "--sar", s1, "--out", str(store), "--patch", "32",
                 "--stride", "96", "--bands", "rgbn"]) == 0  # fmt: skip
    task = Pix2PixTask(in_bands=("B04", "B03", "B02"), sar_bands="s1", **SMALL)
    dm = CloudDataModule.from_config({"type": "chips", "store": str(store), "batch_size": 2}, task)
    assert dm.val_set is not None and len(dm.train_set) > len(dm.val_set) > 0
    sample = dm.train_set[0]
    row, col = sample["meta"]["window"][:2]
    expected = read_raster(s2, window=Window(col, row, 32, 32), select=("B04", "B03", "B02")).to_reflectance()
    assert np.allclose(sample["clear"].numpy(), expected.data, atol=1e-6)
    assert task.build_input(next(iter(dm.train_dataloader()))).shape == (2, 5, 32, 32)


def test_missing_sar_or_mask_is_named(shared_data: Path) -> None:
    cfg = {
        "type": "synthetic",
        "scenes": [str(shared_data / "sen1floods11_spain/Spain_7370579_S2Hand.tif")],
        "patch": 32,
        "samples_per_epoch": 2,
    }
    with pytest.raises(ValueError, match="the task uses 'sar'"):
        CloudDataModule.from_config(cfg, Pix2PixTask(in_bands="rgbn", sar_bands="s1", **SMALL))
    with pytest.raises(ValueError, match=r"unknown data\.type 'tiles'"):
        CloudDataModule.from_config({"type": "tiles"}, Pix2PixTask(in_bands="rgbn", **SMALL))
    with pytest.raises(ValueError, match=r"needs data\.scenes"):
        CloudDataModule.from_config({"type": "synthetic"}, Pix2PixTask(in_bands="rgbn", **SMALL))
