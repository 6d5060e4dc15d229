"""DSen2-CR and the multi-temporal SAR-optical model: shapes, CARL, training on a real S1/S2 chip, release."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch

from cloudfree.models.fusion import DSen2CR, MultiTemporalFusion
from cloudfree.models.release import load_release, save_release
from cloudfree.tasks import task_class
from cloudfree.tasks.fusion import DSen2CRTask, MultiTemporalTask, cloud_adaptive_loss
from cloudfree.training.config import load_config
from cloudfree.training.trainer import task_kwargs
from tests.test_training.realdata import batch_of, real_samples

RGBN = ("B02", "B03", "B04", "B08")


def _real_batch(shared_data, n: int = 2, size: int = 32) -> dict:
    """Real Sen1Floods11 S2 (reflectance) + S1 (dB) chips with a synthetic cloud and its mask.

    ``prev_optical`` is the same S2 chip with a simple seasonal change (per-band gains), so the
    multi-temporal model has a real t1 target to rebuild from a t0 image and the SAR pair.
    """
    batch = batch_of(real_samples(shared_data, RGBN, n, size))
    assert batch["clear"].shape == (n, 4, size, size) and batch["sar"].shape == (n, 2, size, size)
    gains = torch.linspace(0.8, 1.1, 4).reshape(1, 4, 1, 1)
    batch["prev_optical"] = batch["clear"] * gains
    batch["prev_sar"] = batch["sar"] - 1.0
    return batch


@pytest.mark.parametrize("bands", [3, 4, 13])
def test_forward_shapes(bands):
    x = torch.randn(2, bands + 2, 24, 24)
    dsen = DSen2CR(bands, 2, bands, feature_size=8, num_layers=2)
    assert dsen(x).shape == (2, bands, 24, 24)
    assert DSen2CR(bands, 0, feature_size=8, num_layers=1)(x[:, :bands]).shape == (2, bands, 24, 24)
    mt = MultiTemporalFusion(bands, 2, bands, features=8, num_blocks=1)
    assert mt(torch.randn(2, bands + 4, 24, 24)).shape == (2, bands, 24, 24)
    assert mt(torch.randn(1, bands + 4, 25, 23)).shape == (1, bands, 25, 23)  # odd sizes


def test_long_skip_passes_the_optical_input():
    model = DSen2CR(4, 2, 4, feature_size=8, num_layers=2)
    torch.nn.init.zeros_(model.tail.weight)
    torch.nn.init.zeros_(model.tail.bias)
    x = torch.randn(1, 6, 16, 16)
    assert torch.equal(model(x), x[:, :4])  # zero residual -> output is the cloudy optical input
    mt = MultiTemporalFusion(4, 2, features=8, num_blocks=1)
    torch.nn.init.zeros_(mt.out.weight)
    torch.nn.init.zeros_(mt.out.bias)
    y = torch.randn(1, 8, 16, 16)
    assert torch.equal(mt(y), y[:, :4])  # residual on the t0 optical image


def test_model_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"out_channels \(3\) must equal optical_channels \(4\)"):
        DSen2CR(4, 2, 3)
    with pytest.raises(ValueError, match=r"expects 6 channels \(optical 4 \+ SAR 2\), got 5"):
        DSen2CR(4, 2, feature_size=8, num_layers=1)(torch.zeros(1, 5, 8, 8))
    with pytest.raises(ValueError, match="prev_optical 4, prev_sar 2, sar 2"):
        MultiTemporalFusion(4, 2, features=8, num_blocks=1)(torch.zeros(1, 6, 8, 8))


def test_carl_definition():
    g = torch.Generator().manual_seed(0)
    cloudy, target = torch.rand(2, 4, 8, 8, generator=g), torch.rand(2, 4, 8, 8, generator=g)
    mask = (torch.rand(2, 1, 8, 8, generator=g) > 0.5).float()
    pred = mask * target + (1 - mask) * cloudy  # target under cloud, input elsewhere
    # The cloud-adaptive term vanishes; what is left is lambda * mean|P - T| (clear-area differences only).
    expected = torch.abs(pred - target).mean()
    assert torch.allclose(cloud_adaptive_loss(pred, cloudy, target, mask, 1.0), expected)
    assert cloud_adaptive_loss(pred, cloudy, target, mask, 0.0) == 0
    # With synthetic clouds the clear areas of input and target agree: the whole loss is zero.
    cloudy_synth = mask * cloudy + (1 - mask) * target
    assert cloud_adaptive_loss(target, cloudy_synth, target, mask) == 0
    # Hand-computed values on one pixel of each kind: |P-T| under cloud, |P-I| in the clear, + |P-T|.
    p, i, t = torch.tensor([[[[0.5, 0.5]]]]), torch.tensor([[[[0.1, 0.2]]]]), torch.tensor([[[[0.4, 0.9]]]])
    m = torch.tensor([[[[1.0, 0.0]]]])
    assert torch.isclose(cloud_adaptive_loss(p, i, t, m), torch.tensor((0.1 + 0.3) / 2 + (0.1 + 0.4) / 2))


def _loss_after(task, batch, steps=25):
    opt = torch.optim.Adam(task.predictor().parameters(), lr=1e-3)
    with torch.no_grad():
        before = float(task.loss(batch))
    for _ in range(steps):
        opt.zero_grad()
        task.loss(batch).backward()
        opt.step()
    with torch.no_grad():
        return before, float(task.loss(batch))


def test_dsen2cr_learns_on_real_chip_and_round_trips(shared_data, tmp_path):
    torch.manual_seed(0)
    batch = _real_batch(shared_data)
    task = DSen2CRTask(in_bands="rgbn", feature_size=16, num_layers=2)
    assert task.input_groups == ("optical", "sar") and task.in_channels == 6
    before, after = _loss_after(task, batch)
    assert after < 0.7 * before, (before, after)

    cfg = task.release_config("dsen2cr-test")
    assert cfg.architecture == "dsen2cr" and cfg.extra["input_order"] == ["optical", "sar"]
    assert cfg.sar_bands == ("VV", "VH") and cfg.in_bands == RGBN and cfg.out_bands == RGBN
    save_release(task.predictor(), cfg, tmp_path / "rel")
    model, loaded = load_release(tmp_path / "rel")
    assert loaded == cfg
    # Scene inference assembles the input from the release alone: it must equal the task's.
    x = torch.cat([loaded.norm.select(loaded.in_bands).apply(batch["cloudy"]), loaded.sar_norm.apply(batch["sar"])], 1)
    x = torch.nan_to_num(x)
    assert torch.allclose(x, task.build_input(batch))
    task.eval()
    with torch.no_grad():
        assert torch.equal(model(x), task(x))


def test_multitemporal_learns_on_real_chip_and_round_trips(shared_data, tmp_path):
    torch.manual_seed(0)
    batch = _real_batch(shared_data)
    task = task_class("multitemporal")(in_bands="rgbn", features=16, num_blocks=1)
    assert isinstance(task, MultiTemporalTask)
    assert task.input_groups == ("prev_optical", "prev_sar", "sar") and task.in_channels == 8
    before, after = _loss_after(task, batch)
    assert after < 0.7 * before, (before, after)
    cfg = task.release_config("mt-test")
    assert cfg.extra["input_order"] == ["prev_optical", "prev_sar", "sar"]
    save_release(task.predictor(), cfg, tmp_path / "rel")
    model, _ = load_release(tmp_path / "rel")
    x = task.build_input(batch)
    task.eval()
    with torch.no_grad():
        assert torch.equal(model(x), task(x))


def test_task_configuration_errors():
    with pytest.raises(ValueError, match="takes no cloud-mask channel"):
        DSen2CRTask(in_bands="rgbn", use_mask=True)
    with pytest.raises(ValueError, match=r"out_bands \['B04', 'B03', 'B02'\] must equal in_bands"):
        DSen2CRTask(in_bands="rgbn", out_bands="rgb", feature_size=8, num_layers=1)
    with pytest.raises(ValueError, match="needs sar_bands"):
        MultiTemporalTask(in_bands="rgbn", sar_bands=())
    task = DSen2CRTask(in_bands="rgbn", feature_size=8, num_layers=1)
    batch = {"cloudy": torch.rand(1, 4, 8, 8), "clear": torch.rand(1, 4, 8, 8), "sar": -torch.rand(1, 2, 8, 8)}
    with pytest.raises(ValueError, match="needs the batch key 'mask'"):
        task.loss(batch)


CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize(
    ("name", "groups", "channels"),
    [
        ("dsen2cr_sen12mscr.yaml", ("optical", "sar"), 13 + 2),
        ("multitemporal_s1s2.yaml", ("prev_optical", "prev_sar", "sar"), 13 + 2 + 2),
    ],
)
def test_configs_build_their_task(name, groups, channels):
    config = load_config(CONFIGS / name)
    cls = task_class(config["task"])
    task = cls(**task_kwargs(config, cls))
    assert task.input_groups == groups and task.predictor().in_channels == channels
    release = task.release_config("cfg")
    assert release.extra["input_order"] == list(groups) and release.sar_bands == ("VV", "VH")


def _fit(task, loader, max_epochs, ckpt=None):
    trainer = L.Trainer(
        max_epochs=max_epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        deterministic=True,
    )
    trainer.fit(task, loader, loader, ckpt_path=ckpt, weights_only=True if ckpt else None)
    return trainer


def test_killed_and_resumed_training_matches(shared_data, tmp_path):
    """Lightning-level resume on real chips (the fusion configs read chip stores that `cloudfree prepare` makes;
    test_diffusion.py runs the `cloudfree train --resume auto` path end to end)."""
    batch = _real_batch(shared_data)
    samples = [{k: v[i] for k, v in batch.items()} for i in range(2)]
    loader = torch.utils.data.DataLoader(samples, batch_size=1, shuffle=False)

    def fresh():
        torch.manual_seed(1)
        return DSen2CRTask(in_bands="rgbn", feature_size=8, num_layers=2, lr=1e-3)

    full = fresh()
    _fit(full, loader, 2)
    first = fresh()
    _fit(first, loader, 1).save_checkpoint(tmp_path / "killed.ckpt")
    resumed = fresh()
    _fit(resumed, loader, 2, ckpt=tmp_path / "killed.ckpt")
    assert not torch.equal(first.predictor().tail.weight, full.predictor().tail.weight)  # epoch 2 did train
    for (name, a), b in zip(full.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
