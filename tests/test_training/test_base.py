"""CloudRemovalTask: input channel groups and order, units, validation metrics, release config."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from cloudfree.models.release import ReleaseConfig
from cloudfree.normalization import Normalization
from cloudfree.tasks.base import CloudRemovalTask, LinearDecay, sar_db_normalization
from cloudfree.tasks.pix2pix import Pix2PixTask
from cloudfree.training.datamodule import CloudDataModule
from tests.test_training.realdata import batch_of, real_samples

RGBN = ("B02", "B03", "B04", "B08")


def test_build_input_groups_follow_the_release_contract(shared_data) -> None:
    batch = batch_of(real_samples(shared_data, RGBN, 2))
    task = CloudRemovalTask(in_bands="rgbn", sar_bands="s1", use_mask=True)
    assert task.input_groups == ("optical", "sar", "mask") and task.in_channels == 7
    x = task.build_input(batch)
    assert x.shape == (2, 7, 32, 32)
    # optical: reflectance 0..1 -> -1..1 (Normalization.fixed), exactly
    assert torch.allclose(x[:, :4], (batch["cloudy"] * 2 - 1).clamp(-1, 1), atol=1e-6)
    # SAR: VV -25..0 dB and VH -32.5..0 dB -> -1..1
    vv = batch["sar"][:, 0].clamp(-25, 0)
    assert torch.allclose(x[:, 4], (vv + 12.5) / 12.5, atol=1e-6)
    vh = batch["sar"][:, 1].clamp(-32.5, 0)
    assert torch.allclose(x[:, 5], (vh + 16.25) / 16.25, atol=1e-6)
    assert torch.equal(x[:, 6:], batch["mask"])
    # another order, as a release may state it in extra["input_order"]
    other = CloudRemovalTask(in_bands="rgbn", sar_bands="s1", use_mask=True, input_order=["mask", "optical", "sar"])
    assert torch.equal(other.build_input(batch), torch.cat([x[:, 6:], x[:, :4], x[:, 4:6]], 1))
    # only the groups a model uses
    assert CloudRemovalTask(in_bands="rgbn").build_input(batch).shape[1] == 4


def test_target_units_and_band_selection(shared_data) -> None:
    batch = batch_of(real_samples(shared_data, RGBN, 2))
    task = CloudRemovalTask(in_bands="rgbn", out_bands="rgb")
    assert task.data_bands == RGBN and task.out_bands == ("B04", "B03", "B02")
    target = task.build_target(batch)
    assert torch.allclose(target, batch["clear"][:, [2, 1, 0]] * 2 - 1, atol=1e-6)
    assert torch.allclose(task.to_reflectance(target), batch["clear"][:, [2, 1, 0]], atol=1e-6)
    zs = Normalization.from_data([batch["clear"][0].numpy()], RGBN, "zscore")
    task_z = CloudRemovalTask(in_bands="rgbn", normalization=zs.to_dict())
    assert torch.allclose(task_z.to_reflectance(task_z.build_target(batch)), batch["clear"], atol=1e-5)


def test_missing_inputs_and_bad_bands_are_named(shared_data) -> None:
    batch = batch_of(real_samples(shared_data, RGBN, 1))
    del batch["sar"]
    with pytest.raises(ValueError, match="no 'sar'"):
        CloudRemovalTask(in_bands="rgbn", sar_bands="s1").build_input(batch)
    with pytest.raises(ValueError, match="expected data_bands"):
        CloudRemovalTask(in_bands="rgb").build_input(batch)
    with pytest.raises(ValueError, match="use sar_bands"):
        CloudRemovalTask(in_bands=["B02", "VV"])
    with pytest.raises(ValueError, match="no input"):
        CloudRemovalTask(in_bands=(), out_bands="rgb")
    with pytest.raises(ValueError, match="unknown input groups"):
        CloudRemovalTask(in_bands="rgb", input_order=["optical", "radar"])


def test_validation_logs_psnr_and_ssim_on_reflectance(shared_data, tmp_path) -> None:
    L.seed_everything(0)
    data = real_samples(shared_data, RGBN, 2)
    task = Pix2PixTask(in_bands=RGBN, patch_size=32, generator={"ngf": 4}, discriminator={"ndf": 4})
    trainer = L.Trainer(logger=L.pytorch.loggers.TensorBoardLogger(str(tmp_path)), enable_progress_bar=False,
                        enable_checkpointing=False, enable_model_summary=False)  # fmt: skip
    (metrics,) = trainer.validate(task, datamodule=CloudDataModule(data, data, batch_size=2))
    assert set(metrics) >= {"val/psnr", "val/ssim", "val/l1"}
    # check PSNR against a hand computation on the same clipped reflectance
    batch = batch_of(data)
    task.eval()
    with torch.no_grad():
        pred = task.to_reflectance(task(task.build_input(batch))).clamp(0, 1)
    mse = ((pred - batch["clear"].clamp(0, 1)) ** 2).mean(dim=(1, 2, 3))
    assert metrics["val/psnr"] == pytest.approx(float((10 * torch.log10(1 / mse)).mean()), rel=1e-4)
    assert -1 <= metrics["val/ssim"] <= 1
    # the input / prediction / target grid went to TensorBoard
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (events,) = tmp_path.rglob("events.out.tfevents.*")
    acc = EventAccumulator(str(events))
    acc.Reload()
    assert "val/input_prediction_target" in acc.Tags()["images"]
    image = acc.Images("val/input_prediction_target")[0]
    assert (image.height, image.width) == (2 * 32 + 3 * 2, 3 * 32 + 4 * 2)  # 2 samples x 3 panels


def test_release_config_and_schedule() -> None:
    task = Pix2PixTask(in_bands="rgbn", sar_bands="s1", use_mask=True, patch_size=32, generator={"ngf": 4})
    cfg = task.release_config("p2p-test")
    assert isinstance(cfg, ReleaseConfig)
    assert cfg.architecture == "UNetGenerator" and cfg.kind == "removal"
    assert cfg.arguments == {"patch_size": 32, "ngf": 4, "in_channels": 7, "out_channels": 4}
    assert cfg.in_bands == RGBN and cfg.out_bands == RGBN and cfg.sar_bands == ("VV", "VH") and cfg.uses_mask
    assert cfg.norm == Normalization.fixed(RGBN) and cfg.sar_norm == sar_db_normalization(("VV", "VH"))
    assert cfg.extra["input_order"] == ["optical", "sar", "mask"] and cfg.extra["task"] == "pix2pix"
    assert task.predictor() is task.generator
    decay = LinearDecay(3, 3)
    assert [decay(e) for e in range(9)] == [1.0, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0, 0.0]  # never negative
