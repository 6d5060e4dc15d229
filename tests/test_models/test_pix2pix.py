"""Pix2Pix: U-Net generator and PatchGAN shapes for 3, 4 and 13 bands (+mask, +SAR), depth rule,
bad input, and a short optimisation on a real Sentinel-2 chip that lowers the loss."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from cloudfree.models import build_model, registry
from cloudfree.models.pix2pix import PatchGANDiscriminator, UNetGenerator
from cloudfree.tasks.pix2pix import Pix2PixTask, masked_l1
from cloudfree.training.datamodule import CloudDataModule
from tests.test_training.realdata import batch_of, real_samples

BAND_SETS = {"rgb": ("B04", "B03", "B02"), "rgbn": ("B02", "B03", "B04", "B08"), "l1c13": "l1c13"}


@pytest.mark.parametrize("bands", ["rgb", "rgbn", "l1c13"])
@pytest.mark.parametrize(("use_mask", "sar"), [(False, ()), (True, ()), (True, ("VV", "VH"))])
def test_task_channels_and_forward_shapes(bands: str, use_mask: bool, sar: tuple[str, ...]) -> None:
    task = Pix2PixTask(in_bands=BAND_SETS[bands], sar_bands=sar, use_mask=use_mask, patch_size=32,
                       generator={"ngf": 4}, discriminator={"ndf": 4})  # fmt: skip
    n_opt = len(task.in_bands)
    assert n_opt == {"rgb": 3, "rgbn": 4, "l1c13": 13}[bands]
    assert task.in_channels == n_opt + len(sar) + int(use_mask)
    x = torch.randn(2, task.in_channels, 32, 32)
    y = task.generator(x)
    assert y.shape == (2, n_opt, 32, 32)
    assert y.abs().max() <= 1.0  # tanh output, the units of Normalization.fixed
    logits = task.discriminator(torch.cat([x, y], 1))
    assert logits.shape == (2, 1, 2, 2)


def test_unet_depth_adapts_to_patch_size() -> None:
    assert UNetGenerator(3, 3, ngf=2, patch_size=256).num_downs == 8  # classic pix2pix: 1x1 bottleneck
    assert UNetGenerator(3, 3, ngf=2, patch_size=512).num_downs == 8  # capped
    assert UNetGenerator(3, 3, ngf=2, patch_size=64).num_downs == 6
    assert UNetGenerator(3, 3, ngf=2, patch_size=512, max_downs=9).num_downs == 9
    g = UNetGenerator(13, 13, ngf=2, patch_size=256)
    assert g(torch.randn(1, 13, 256, 256)).shape == (1, 13, 256, 256)
    # the classic 256 px RGB generator has the reference implementation's 54.4 M parameters
    assert sum(p.numel() for p in UNetGenerator(3, 3, ngf=64, patch_size=256).parameters()) == 54_413_955


def test_patchgan_is_70px_receptive_field() -> None:
    d = PatchGANDiscriminator(6, ndf=4, n_layers=3)
    assert d(torch.randn(1, 6, 256, 256)).shape == (1, 1, 30, 30)  # the pix2pix 30x30 patch map
    x = torch.zeros(1, 6, 256, 256, requires_grad=True)
    d.eval()(x)[0, 0, 15, 15].backward()
    rows = torch.nonzero(x.grad.abs().sum(dim=(0, 1, 3)) > 0)
    assert int(rows.max() - rows.min() + 1) == 70


def test_bad_input_is_refused_with_a_reason() -> None:
    g = UNetGenerator(4, 4, ngf=2, patch_size=32)
    with pytest.raises(ValueError, match="expects 4 input channels, got 5"):
        g(torch.randn(1, 5, 32, 32))
    with pytest.raises(ValueError, match="multiples of 32"):
        g(torch.randn(1, 4, 48, 48))
    with pytest.raises(ValueError, match="needs >= 32 px"):
        PatchGANDiscriminator(8, ndf=2)(torch.randn(1, 8, 16, 16))
    with pytest.raises(ValueError, match="unknown normalisation layer"):
        UNetGenerator(3, 3, norm="group")
    with pytest.raises(ValueError, match="lr_policy"):
        Pix2PixTask(in_bands="rgb", lr_policy="cosine")


def test_registry_builds_the_named_classes() -> None:
    models = registry()
    assert models["unetgenerator"] is UNetGenerator and models["patchgandiscriminator"] is PatchGANDiscriminator
    g = build_model("UNetGenerator", {"in_channels": 4, "out_channels": 4, "ngf": 2, "patch_size": 32})
    assert isinstance(g, UNetGenerator) and g.num_downs == 5


def test_masked_l1_ignores_filled_pixels() -> None:
    pred, target = torch.zeros(1, 2, 4, 4), torch.ones(1, 2, 4, 4)
    target[..., :2] = 5.0
    valid = torch.zeros(1, 1, 4, 4)
    valid[..., 2:] = 1
    assert masked_l1(pred, target, valid).item() == pytest.approx(1.0)
    assert masked_l1(pred, target, None).item() == pytest.approx(3.0)


def test_training_steps_on_a_real_chip_lower_the_loss(shared_data) -> None:
    L.seed_everything(0)
    bands = ("B02", "B03", "B04", "B08")
    task = Pix2PixTask(in_bands=bands, use_mask=True, patch_size=32, lr=2e-3,
                       generator={"ngf": 8, "norm": "instance", "use_dropout": False},
                       discriminator={"ndf": 8, "norm": "instance"})  # fmt: skip
    data = real_samples(shared_data, bands, 4)
    batch = batch_of(data)
    # the cloudy input really differs from the target (the loss has something to learn)
    assert (batch["cloudy"] - batch["clear"]).abs().max() > 0.2
    with torch.no_grad():
        before = task.losses(batch)["l1"].item()
    trainer = L.Trainer(max_epochs=15, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0)  # fmt: skip
    trainer.fit(task, datamodule=CloudDataModule(data, None, batch_size=4))
    with torch.no_grad():
        after = task.losses(batch)["l1"].item()
    assert after < 0.7 * before, (before, after)


def _synthetic_samples(n: int, nan_at: int | None = None) -> list[dict[str, torch.Tensor]]:
    """``n`` 16x16 rgbn samples with a square cloud; sample ``nan_at`` has a NaN target."""
    gen = torch.Generator().manual_seed(0)
    out = []
    for i in range(n):
        clear = 0.1 + 0.2 * torch.rand(4, 16, 16, generator=gen)
        mask = torch.zeros(1, 16, 16)
        mask[:, 4:12, 4:12] = 1.0
        cloudy = torch.where(mask > 0, torch.full_like(clear, 0.7), clear)
        if i == nan_at:
            clear = clear.clone()
            clear[0, 5, 5] = float("nan")
        out.append({"cloudy": cloudy, "clear": clear, "mask": mask})
    return out


def test_l1_only_training_skips_non_finite_steps_and_clips_gradients(monkeypatch) -> None:
    from tests.test_training.realdata import SampleList

    L.seed_everything(0)
    task = Pix2PixTask(in_bands="rgbn", use_mask=True, patch_size=16, lr=1e-3, lambda_gan=0.0, loss_region="mask",
                       architecture="PriorResidualUNet", generator={"ngf": 4, "depth": 2}, grad_clip=1e-3)  # fmt: skip
    assert task.discriminator is None
    norms: list[float] = []
    original = task.clip_gradients

    def recording_clip(opt, gradient_clip_val=None, gradient_clip_algorithm=None):
        original(opt, gradient_clip_val=gradient_clip_val, gradient_clip_algorithm=gradient_clip_algorithm)
        grads = [p.grad.flatten() for p in task.generator.parameters() if p.grad is not None]
        norms.append(float(torch.cat(grads).norm()))

    monkeypatch.setattr(task, "clip_gradients", recording_clip)
    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0)  # fmt: skip
    # batch size 1, four batches: the second one's loss is NaN
    trainer.fit(task, datamodule=CloudDataModule(SampleList(_synthetic_samples(4, nan_at=1)), None, batch_size=1))
    assert task.skipped_steps == 1
    assert all(torch.isfinite(p).all() for p in task.generator.parameters())
    assert len(norms) == 3 and max(norms) <= 1e-3 * 1.001, norms


def test_grad_clip_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="grad_clip"):
        Pix2PixTask(in_bands="rgbn", use_mask=True, patch_size=16, lambda_gan=0.0, grad_clip=-1.0)
