"""Segmentation U-Net and task: shapes, preprocessing, overfitting real chips, release, `cloudfree mask`."""

from __future__ import annotations

import json

import lightning as L
import numpy as np
import pytest
import rasterio
import torch
from rasterio.windows import Window
from torch.utils.data import DataLoader
from torchmetrics.functional.classification import multiclass_jaccard_index

from cloudfree import cli
from cloudfree.data.synthetic_clouds import CloudSimulator
from cloudfree.io import read_raster, write_raster
from cloudfree.masking.predict import MaskModel
from cloudfree.masking.segmentation import SegmentationUNet, input_normalization, prepare_input
from cloudfree.models import build_model
from cloudfree.models.identity import IdentityModel
from cloudfree.models.release import ReleaseConfig, load_release, save_release
from cloudfree.normalization import Normalization
from cloudfree.tasks import task_class
from cloudfree.tasks.segmentation import SegmentationTask
from cloudfree.training.config import DEFAULTS, deep_merge
from cloudfree.training.datamodule import CloudDataModule
from cloudfree.training.export import export_release
from cloudfree.training.trainer import build_run

TINY = {"encoder_name": "tu-mobilenetv3_small_050", "encoder_depth": 3, "decoder_channels": [32, 16, 8]}
S1F = "sen1floods11_spain/Spain_7370579_S2Hand.tif"


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models gain nothing from intra-op threads, and on a shared CPU they spin against each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def chips(shared_data):
    """Four 64 x 64 px rgbn chips of a real clear scene with synthetic clouds: image + class codes."""
    clear = read_raster(shared_data / S1F, select="rgbn").to_reflectance()
    sim = CloudSimulator(coverage=(0.3, 0.5), thin_fraction=0.3, feature_px=24.0)
    items = []
    for i in range(4):
        cloudy, codes = sim(clear.data[:, 64 * i : 64 * i + 64, 128:192], clear.bands, np.random.default_rng(i))
        items.append({"image": torch.from_numpy(cloudy), "labels": torch.from_numpy(codes.astype(np.int64))})
    return items


@pytest.fixture(scope="module")
def release_dir(tmp_path_factory):
    """A tiny untrained rgbn mask release (4 classes)."""
    torch.manual_seed(0)
    task = SegmentationTask("rgbn", **TINY)
    return save_release(task.predictor(), task.release_config("tiny-mask"), tmp_path_factory.mktemp("rel") / "tiny")


def test_forward_shapes_any_band_count_and_size():
    for bands in (3, 4, 13):
        model = build_model("segmentationunet", {"in_channels": bands, "classes": 4, **TINY}).eval()
        assert isinstance(model, SegmentationUNet)
        with torch.no_grad():
            assert model(torch.rand(2, bands, 45, 37)).shape == (2, 4, 45, 37)
            assert model(torch.rand(1, bands, 32, 32)).shape == (1, 4, 32, 32)
    with pytest.raises(ValueError, match=r"expected input \(N, 13, H, W\)"):
        SegmentationUNet(13, 4, **TINY)(torch.rand(1, 4, 32, 32))


def test_bad_model_arguments():
    with pytest.raises(ValueError, match="unknown encoder 'nope'"):
        SegmentationUNet(4, 4, encoder_name="nope")
    with pytest.raises(ValueError, match="one width per encoder stage"):
        SegmentationUNet(4, 4, encoder_name="mobilenet_v2", encoder_depth=3, decoder_channels=[16, 8])


def test_rgb8_preprocessing_clips_at_4000_dn_and_quantises():
    norm = input_normalization(("B04", "B03", "B02"), "rgb8")
    x = torch.tensor([0.0, 0.2, 0.4, 0.9, 0.1001]).reshape(1, 1, 1, 5).repeat(1, 3, 1, 1)
    y = prepare_input(x, norm, "rgb8")[0, 0, 0]
    np.testing.assert_allclose(y.numpy(), np.array([0, 128, 255, 255, 64]) / 255.0, atol=1e-6)
    refl = prepare_input(x, input_normalization(("B04", "B03", "B02")), "reflectance")[0, 0, 0]
    np.testing.assert_allclose(refl.numpy(), [-1.0, -0.6, -0.2, 0.8, -0.7998], atol=1e-5)


def test_task_overfits_real_chips(chips):
    L.seed_everything(0)
    task = SegmentationTask("rgbn", lr=1e-2, lr_policy="constant", **TINY)
    batch = {k: torch.stack([c[k] for c in chips]) for k in chips[0]}
    assert set(np.unique(batch["labels"].numpy())) == {0, 1, 2, 3}

    def score() -> tuple[float, float]:
        task.eval()
        with torch.no_grad():
            logits, target = task(task.build_input(batch)), task.build_target(batch)
            iou = multiclass_jaccard_index(logits.argmax(1), target, 4, ignore_index=255)
            result = float(task.loss(logits, target)), float(iou)
        task.train()
        return result

    loss0, iou0 = score()
    trainer = L.Trainer(
        max_steps=30,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        limit_val_batches=0,
    )
    trainer.fit(task, DataLoader(chips, batch_size=4))
    loss1, iou1 = score()
    assert loss1 < 0.75 * loss0, (loss0, loss1)
    assert iou1 > iou0 + 0.15, (iou0, iou1)


def test_task_batches_and_merged_schemes(chips):
    task = SegmentationTask("rgbn", classes="cloud_shadow", **TINY)
    batch = {
        "cloudy": torch.stack([c["image"] for c in chips[:2]]),
        "labels": torch.stack([c["labels"] for c in chips[:2]]),
    }
    target = task.build_target(batch)
    codes = batch["labels"].numpy()
    np.testing.assert_array_equal(target.numpy(), np.choose(codes, [0, 1, 1, 2]))  # thin -> cloud, shadow -> 2
    batch["valid"] = torch.zeros(2, 1, 64, 64)
    assert (task.build_target(batch) == 255).all()
    with pytest.raises(ValueError, match="needs per-pixel class codes"):
        task.build_target({"cloudy": batch["cloudy"], "mask": torch.zeros(2, 1, 64, 64)})
    cfg = task.release_config("m")
    assert (
        cfg.kind == "mask" and cfg.extra["class_codes"] == [0, 1, 3] and cfg.out_bands == ("clear", "cloud", "shadow")
    )
    assert task_class("segmentation") is SegmentationTask


def test_train_from_config_export_reload_and_mask_scene(chips, shared_data, tmp_path, capsys):
    config = deep_merge(
        DEFAULTS,
        {
            "task": "segmentation",
            "model": {"in_bands": "rgbn", **TINY},
            "optim": {"lr": 1e-3},
            "trainer": {
                "max_steps": 2,
                "enable_progress_bar": False,
                "enable_model_summary": False,
                "accelerator": "cpu",
            },
            "callbacks": {
                "checkpoint": {"monitor": "val/loss", "mode": "min"},
                "early_stopping": {"monitor": "val/loss", "mode": "min", "patience": 5},
                "reduce_lr_on_plateau": {"monitor": "val/loss", "mode": "min", "patience": 2},
            },
            "out_dir": str(tmp_path / "run"),
        },
    )
    run = build_run(config, CloudDataModule(chips, chips[:2], batch_size=2))
    run.trainer.fit(run.task, datamodule=run.datamodule)
    assert "val/iou_thick_cloud" in run.trainer.callback_metrics and "val/miou" in run.trainer.callback_metrics
    out, release = export_release(tmp_path / "run/checkpoints/last.ckpt", tmp_path / "release", "test-mask")
    assert release.kind == "mask" and release.in_bands == ("B02", "B03", "B04", "B08")
    assert json.loads((out / "config.json").read_text())["extra"]["class_codes"] == [0, 1, 2, 3]
    model, cfg = load_release(out)
    x = prepare_input(chips[0]["image"][None], cfg.norm, cfg.extra["preprocess"])
    run.task.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), run.task(x))

    src = write_raster(read_raster(shared_data / S1F, window=Window(100, 50, 200, 150)), tmp_path / "scene.tif")
    dst = tmp_path / "mask.tif"
    argv = [
        "mask",
        str(src),
        "-o",
        str(dst),
        "--model",
        str(out),
        "--tile",
        "96",
        "--overlap",
        "16",
        "--quiet",
        "--no-guards",
    ]
    assert cli.main([*argv, "--batch-size", "3", "--device", "cpu"]) == 0
    assert "cloud fraction" in capsys.readouterr().out
    with rasterio.open(src) as a, rasterio.open(dst) as m:
        assert m.crs == a.crs and m.transform == a.transform and (m.width, m.height) == (a.width, a.height)
        assert m.dtypes[0] == "uint8" and m.nodata == 255 and m.count == 1
        assert m.tags()["CLOUDFREE_MODEL"] == "test-mask"
        written = m.read(1)
    assert set(np.unique(written)) <= {0, 1, 2, 3}
    in_memory = MaskModel.load(out).predict_raster(read_raster(src), tile=96, overlap=16)
    # The in-memory path runs full-width row bands, the scene path overlapping 96 px tiles: a model
    # trained for 2 steps is near chance, so tiling flips some argmaxes (the trained default's
    # tile-size invariance is checked in tests/test_demo.py).
    assert (in_memory == written).mean() > 0.6


def test_mask_cli_nodata_and_bad_input(release_dir, shared_data, tmp_path, capsys, monkeypatch):
    raster = read_raster(shared_data / "slovenia_timeseries_l1c/S2_L1C_2015-07-11.tif")
    raster.valid[:20] = False
    src = write_raster(raster, tmp_path / "nodata.tif")
    dst = tmp_path / "m.tif"
    assert cli.main(["mask", str(src), "-o", str(dst), "--model", str(release_dir), "--tile", "64", "--quiet"]) == 0
    written = rasterio.open(dst).read(1)
    assert (written[:20] == 255).all() and set(np.unique(written[20:])) <= {0, 1, 2, 3}
    capsys.readouterr()

    bad = tmp_path / "bad.tif"
    # an installation without the packaged default-mask asks for --model
    monkeypatch.setattr("cloudfree.models.release.WEIGHTS_DIR", tmp_path / "no-weights")
    assert cli.main(["mask", str(src), "-o", str(bad), "--method", "unet", "--quiet"]) == 2
    assert "pass --model" in capsys.readouterr().err
    monkeypatch.undo()
    b05 = SegmentationTask(("B02", "B03", "B04", "B05"), **TINY)
    b05_dir = save_release(b05.predictor(), b05.release_config("b05"), tmp_path / "b05")
    six = shared_data / "cloud_labels_6band/S2_6band_reflectance.tif"
    assert cli.main(["mask", str(six), "-o", str(bad), "--model", str(b05_dir), "--quiet"]) == 2
    assert "lacks ['B05']" in capsys.readouterr().err
    removal = ReleaseConfig(
        "id",
        "removal",
        "identitymodel",
        {"in_channels": 4, "out_channels": 4},
        ("B02", "B03", "B04", "B08"),
        ("B02", "B03", "B04", "B08"),
        Normalization.fixed(["B02", "B03", "B04", "B08"]).to_dict(),
    )
    removal_dir = save_release(IdentityModel(4, 4), removal, tmp_path / "removal")
    assert cli.main(["mask", str(src), "-o", str(bad), "--model", str(removal_dir), "--quiet"]) == 2
    assert "not a mask model" in capsys.readouterr().err
    assert not bad.exists()
    window = read_raster(src, window=Window(0, 30, 64, 64))
    mask = MaskModel.load(release_dir).predict_raster(window)
    assert mask.shape == (64, 64) and set(np.unique(mask)) <= {0, 1, 2, 3}
