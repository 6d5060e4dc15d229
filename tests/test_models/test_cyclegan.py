"""CycleGAN: ResNet generator shapes for 3, 4 and 13 bands (+SAR), block rule, identity-loss rule,
image pool, and a short optimisation on a real Sentinel-1/2 chip that lowers the loss."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from cloudfree.models import registry
from cloudfree.models.cyclegan import ResnetGenerator
from cloudfree.tasks.cyclegan import CycleGANTask, ImagePool
from cloudfree.training.datamodule import CloudDataModule
from tests.test_training.realdata import batch_of, real_samples

SMALL = {"generator": {"ngf": 4, "n_blocks": 1}, "discriminator": {"ndf": 4}, "patch_size": 32}


@pytest.mark.parametrize("out_bands", [("B04", "B03", "B02"), ("B02", "B03", "B04", "B08"), "l1c13"])
def test_sar_to_optical_shapes(out_bands) -> None:
    task = CycleGANTask(in_bands=(), sar_bands=("VV", "VH"), out_bands=out_bands, **SMALL)
    n = len(task.out_bands)
    assert n in (3, 4, 13) and task.in_channels == 2 and task.input_groups == ("sar",)
    x = torch.randn(2, 2, 32, 32)
    fake_b = task.g_ab(x)
    assert fake_b.shape == (2, n, 32, 32) and fake_b.abs().max() <= 1.0
    assert task.g_ba(fake_b).shape == (2, 2, 32, 32)
    assert task.d_a(x).shape == task.d_b(fake_b).shape == (2, 1, 2, 2)
    assert task.lambda_identity == 0.0  # SAR and optical bands differ: no identity loss


@pytest.mark.parametrize("bands", [("B04", "B03", "B02"), ("B02", "B03", "B04", "B08"), "l1c13"])
def test_cloudy_to_clear_shapes_and_identity_loss(bands) -> None:
    task = CycleGANTask(in_bands=bands, sar_bands=(), out_bands=None, **SMALL)
    assert task.in_channels == task.out_channels == len(task.in_bands)
    assert task.lambda_identity == 0.5  # same bands on both sides
    x = torch.randn(1, task.in_channels, 32, 32)
    assert task.g_ab(x).shape == x.shape
    losses = task.generator_losses(x, torch.randn_like(x))
    assert losses["identity"].item() > 0


def test_optical_plus_sar_input_has_no_identity_loss() -> None:
    task = CycleGANTask(in_bands="rgbn", sar_bands="s1", out_bands=None, **SMALL)
    assert task.in_channels == 6 and task.out_channels == 4 and task.lambda_identity == 0.0
    with pytest.raises(ValueError, match="no cloud-mask channel"):
        CycleGANTask(in_bands="rgbn", use_mask=True, **SMALL)


def test_block_count_follows_patch_size() -> None:
    assert ResnetGenerator(2, 3, ngf=2, patch_size=256).n_blocks == 9
    assert ResnetGenerator(2, 3, ngf=2, patch_size=128).n_blocks == 6
    assert ResnetGenerator(2, 3, ngf=2, n_blocks=3).n_blocks == 3
    # the reference 256 px generator (3 -> 3 bands) has 11.38 M parameters
    assert sum(p.numel() for p in ResnetGenerator(3, 3).parameters()) == 11_378_179
    assert registry()["resnetgenerator"] is ResnetGenerator
    with pytest.raises(ValueError, match="multiples of 4"):
        ResnetGenerator(2, 3, ngf=2)(torch.randn(1, 2, 30, 30))


def test_image_pool_keeps_a_history() -> None:
    torch.manual_seed(0)
    pool = ImagePool(3)
    first = torch.arange(3, dtype=torch.float32).reshape(3, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: returned as given
    later = torch.full((20, 1, 1, 1), 100.0)
    out = pool.query(later)
    assert out.shape == later.shape
    assert (out < 100).any() and (out == 100).any()  # some answers come from the history
    assert len(pool.images) == 3
    assert ImagePool(0).query(later) is later


def test_training_steps_on_a_real_sar_optical_chip_lower_the_loss(shared_data) -> None:
    L.seed_everything(0)
    rgb = ("B04", "B03", "B02")
    task = CycleGANTask(in_bands=(), sar_bands=("VV", "VH"), out_bands=rgb, lr=2e-3, pool_size=4,
                        generator={"ngf": 8, "n_blocks": 1}, discriminator={"ndf": 4}, patch_size=32)  # fmt: skip
    data = real_samples(shared_data, rgb, 2)
    batch = batch_of(data)
    real_a = task.build_input(batch)
    assert real_a.shape == (2, 2, 32, 32) and real_a.abs().max() <= 1.0  # dB clip ranges -> -1..1
    with torch.no_grad():
        before = task.generator_losses(*task.domains(batch))["cycle"].item()
    trainer = L.Trainer(max_epochs=8, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0)  # fmt: skip
    trainer.fit(task, datamodule=CloudDataModule(data, None, batch_size=2))
    with torch.no_grad():
        after = task.generator_losses(*task.domains(batch))["cycle"].item()
    assert after < 0.7 * before, (before, after)
