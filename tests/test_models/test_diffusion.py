"""Conditional diffusion: denoiser shapes, diffusers-based sampling, training on a real chip, release, resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from cloudfree import bands as bandcat
from cloudfree import cli
from cloudfree.models.diffusion import (
    DiffusionUNet,
    sample,
    sampling_scheduler,
    scheduler_settings,
    training_scheduler,
)
from cloudfree.models.release import load_release, save_release
from cloudfree.tasks import task_class
from cloudfree.tasks.diffusion import DiffusionTask
from cloudfree.training.config import load_config
from cloudfree.training.trainer import task_kwargs
from tests.test_training.realdata import batch_of, real_samples

RGBN = ("B02", "B03", "B04", "B08")
TINY = dict(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, groups=4)


def _real_batch(shared_data, n: int = 2, size: int = 32) -> dict:
    """Real Sen1Floods11 RGBN reflectance + S1 dB chips under a synthetic cloud, with its mask."""
    batch = batch_of(real_samples(shared_data, RGBN, n, size))
    assert batch["clear"].shape == (n, 4, size, size) and batch["sar"].shape == (n, 2, size, size)
    assert 0.0 < float(batch["clear"].mean()) < 0.5  # reflectance, not DN
    return batch


class OracleDenoiser(nn.Module):
    """Knows the clean image (its condition) and returns the exact noise / velocity of ``x_t``.

    Any correct sampler must then return the condition itself, whatever the step count.
    """

    def __init__(self, channels: int, prediction_type: str) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.condition_channels = 2 * channels, channels, channels
        self.prediction_type = prediction_type
        self.alphas_cumprod = training_scheduler().alphas_cumprod

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        xt, x0 = x[:, : self.out_channels], x[:, self.out_channels :]
        a = self.alphas_cumprod[t.long().cpu()].to(x).reshape(-1, 1, 1, 1)
        eps = (xt - a.sqrt() * x0) / (1 - a).sqrt()
        return eps if self.prediction_type == "epsilon" else a.sqrt() * eps - (1 - a).sqrt() * x0


@pytest.mark.parametrize("bands", [3, 4, 13])
@pytest.mark.parametrize("extra", [0, 1 + 2])  # condition: optical only, or optical + mask + 2 SAR channels
def test_forward_shapes(bands, extra):
    model = DiffusionUNet(2 * bands + extra, bands, attention=extra > 0, attention_head_dim=4, **TINY)
    assert model.condition_channels == bands + extra
    x = torch.randn(2, 2 * bands + extra, 16, 16)
    assert model(x, torch.tensor([0, 999])).shape == (2, bands, 16, 16)
    assert model(x[:1, :, :15, :11], 500).shape == (1, bands, 15, 11)  # padded to the U-Net multiple, cropped


def test_model_argument_errors():
    with pytest.raises(ValueError, match=r"in_channels \(4\) = out_channels \(4\) \+ condition"):
        DiffusionUNet(4, 4)
    with pytest.raises(ValueError, match=r"groups=3 must divide every level width, not \[8, 16\]"):
        DiffusionUNet(8, 4, base_channels=8, channel_mults=(1, 2), groups=3)
    with pytest.raises(ValueError, match="prediction_type 'x0'"):
        DiffusionUNet(8, 4, prediction_type="x0")
    with pytest.raises(ValueError, match="expects 8 input channels, got 7"):
        DiffusionUNet(8, 4, attention=False, **TINY)(torch.zeros(1, 7, 16, 16), 0)


@pytest.mark.parametrize("scheduler", ["ddim", "dpm"])
def test_sampler_mean_and_spread(scheduler):
    torch.manual_seed(0)
    model = DiffusionUNet(4 + 4 + 1, 4, attention=False, **TINY).eval()
    cond = torch.randn(2, 5, 8, 8)
    settings = {"clip_sample": False}  # an untrained model would saturate some pixels at +-1 in every sample
    mean, std = sample(model, cond, settings, steps=10, n_samples=3, generator=torch.Generator().manual_seed(1),
                       scheduler=scheduler)  # fmt: skip
    assert mean.shape == std.shape == (2, 4, 8, 8)
    assert torch.isfinite(mean).all() and (std > 0).all()
    again, _ = sample(model, cond, settings, steps=10, n_samples=3, generator=torch.Generator().manual_seed(1),
                      scheduler=scheduler)  # fmt: skip
    assert torch.equal(mean, again)  # seeded: reproducible
    one_mean, one_std = sample(model, cond, settings, steps=10, n_samples=1, scheduler=scheduler)
    assert one_mean.shape == (2, 4, 8, 8) and torch.count_nonzero(one_std) == 0
    with pytest.raises(ValueError, match=r"condition must be \(N, 5, H, W\), got \(2, 4, 8, 8\)"):
        sample(model, cond[:, :4], settings)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("scheduler", ["ddim", "dpm", "ddpm"])
def test_samplers_recover_the_clean_image_from_an_exact_denoiser(scheduler, prediction_type):
    x0 = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    model = OracleDenoiser(3, prediction_type)
    mean, std = sample(model, x0, None, steps=10, n_samples=2, generator=torch.Generator().manual_seed(1),
                       scheduler=scheduler)  # fmt: skip
    assert torch.allclose(mean, x0, atol=1e-5) and float(std.max()) < 1e-5


def test_schedulers_share_the_training_schedule():
    settings = scheduler_settings({"beta_schedule": "scaled_linear", "prediction_type": "epsilon"}, "v_prediction")
    for kind in ("ddim", "dpm", "ddpm"):
        sched = sampling_scheduler(settings, kind)
        assert sched.config.beta_schedule == "scaled_linear" and sched.config.prediction_type == "v_prediction"
        assert sched.config.num_train_timesteps == 1000
    ddim = sampling_scheduler(settings, "ddim")
    ddim.set_timesteps(10)
    assert len(ddim.timesteps) == 10 and int(ddim.timesteps[0]) == 999  # trailing: starts from pure noise
    with pytest.raises(ValueError, match="unknown diffusion scheduler settings \\['betas'\\]"):
        scheduler_settings({"betas": [0.1]})
    with pytest.raises(ValueError, match="unknown sampler 'euler'"):
        sampling_scheduler(settings, "euler")


def test_training_on_real_chip_lowers_the_loss(shared_data):
    torch.manual_seed(0)
    batch = _real_batch(shared_data)
    task = task_class("diffusion")(in_bands="rgbn", sar_bands="s1", use_mask=True, attention=False, ema_decay=None,
                                   cloud_weight=3.0, **TINY)  # fmt: skip
    assert isinstance(task, DiffusionTask)
    assert task.input_groups == ("optical", "sar", "mask") and task.predictor().in_channels == 4 + 4 + 2 + 1
    weight = task.pixel_weight(batch, batch["clear"])
    assert set(weight.unique().tolist()) == {1.0, 4.0}  # 1 + cloud_weight under the cloud
    opt = task.configure_optimizers()
    for group in opt.param_groups:
        group["lr"] = 3e-3

    def fixed_loss() -> float:  # the same timesteps and noise before and after
        with torch.no_grad():
            return float(task.diffusion_loss(batch, torch.Generator().manual_seed(123)))

    before = fixed_loss()
    for step in range(40):
        opt.zero_grad()
        task.diffusion_loss(batch, torch.Generator().manual_seed(step)).backward()
        opt.step()
    after = fixed_loss()
    assert after < 0.6 * before, (before, after)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_release_rebuilds_the_sampler(shared_data, tmp_path, prediction_type):
    batch = _real_batch(shared_data)
    task = DiffusionTask(in_bands="rgbn", use_mask=True, prediction_type=prediction_type, attention=False,
                         sample_steps=4, n_samples=2, **TINY)  # fmt: skip
    cfg = task.release_config("diffusion-test")
    assert cfg.kind == "diffusion" and cfg.architecture == "diffusionunet"
    assert cfg.extra["scheduler"]["prediction_type"] == prediction_type
    assert cfg.extra["scheduler"]["clip_sample"] is True  # fixed -1..1 normalisation
    assert (cfg.extra["sampler"], cfg.extra["steps"], cfg.extra["n_samples"]) == ("ddim", 4, 2)
    save_release(task.predictor(), cfg, tmp_path / "rel")
    model, loaded = load_release(tmp_path / "rel")
    assert loaded == cfg
    # Inference assembles the condition from the release alone (optical normalised, then the mask).
    cond = torch.cat([loaded.norm.select(loaded.in_bands).apply(batch["cloudy"]), batch["mask"]], 1)
    assert torch.equal(cond, task.build_input(batch))
    for kind in ("ddim", "dpm"):
        kw = dict(steps=loaded.extra["steps"], n_samples=loaded.extra["n_samples"], scheduler=kind)
        mean, std = sample(model, cond, loaded, generator=torch.Generator().manual_seed(5), **kw)
        ref_mean, ref_std = sample(task.predictor().eval(), cond, task.scheduler_settings,
                                   generator=torch.Generator().manual_seed(5), **kw)  # fmt: skip
        assert torch.equal(mean, ref_mean) and torch.equal(std, ref_std)
        refl = loaded.norm.select(loaded.out_bands).invert(mean)
        assert refl.shape == (2, 4, 32, 32) and refl.min() >= 0 and refl.max() <= 1  # clipped -1..1 -> 0..1


CONFIGS = Path(__file__).resolve().parents[2] / "configs"
TINY_OVERRIDES = [
    "model.base_channels=8",
    "model.channel_mults=[1,2]",
    "model.num_res_blocks=1",
    "model.attention=false",
    "model.groups=4",
    "model.val_steps=2",
    "model.ema_decay=0.9",
    "data.patch=32",
    "data.samples_per_epoch=4",
    "data.val_samples=2",
    "data.batch_size=2",
    "data.num_workers=0",
    "trainer.accelerator=cpu",
]


@pytest.mark.parametrize("name", ["diffusion_rgbn.yaml", "diffusion_sar_l1c13.yaml"])
def test_configs_build_their_task(name):
    config = load_config(CONFIGS / name)
    assert config["task"] == "diffusion"
    cls = task_class("diffusion")
    task = cls(**task_kwargs(config, cls))
    release = task.release_config("cfg")
    assert release.kind == "diffusion" and release.extra["scheduler"]["num_train_timesteps"] == 1000
    assert release.in_bands == bandcat.resolve(config["model"]["in_bands"])
    if name == "diffusion_sar_l1c13.yaml":
        assert task.input_groups == ("optical", "sar", "mask") and task.predictor().in_channels == 13 + 13 + 2 + 1
        assert release.extra["sampler"] == "dpm" and release.extra["scheduler"]["prediction_type"] == "v_prediction"


def _train(out_dir, scenes, epochs, *extra):
    argv = ["train", "--config", str(CONFIGS / "diffusion_rgbn.yaml"), *TINY_OVERRIDES, f"data.scenes={scenes}"]
    assert cli.main([*argv, f"trainer.max_epochs={epochs}", f"out_dir={out_dir}", *extra]) == 0
    return torch.load(out_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)


def test_cli_train_resume_export_and_sample(shared_data, tmp_path):
    """`cloudfree train` on real scenes, killed after one epoch and resumed = one uninterrupted run."""
    scenes = "[" + str(shared_data / "sen1floods11_spain" / "Spain_7370579_S2Hand.tif") + "]"
    full = _train(tmp_path / "full", scenes, 2)
    _train(tmp_path / "killed", scenes, 1)
    resumed = _train(tmp_path / "killed", scenes, 2, "--resume", "auto")
    assert full["global_step"] == resumed["global_step"] == 4
    best = [v["best_model_score"] for k, v in full["callbacks"].items() if k.startswith("ModelCheckpoint")]
    assert len(best) == 1 and torch.isfinite(best[0])  # validation sampled and scored val/psnr
    for key, value in full["state_dict"].items():
        assert torch.equal(value, resumed["state_dict"][key]), key

    assert cli.main(["export", str(tmp_path / "full" / "checkpoints" / "last.ckpt"), "-o", str(tmp_path / "rel")]) == 0
    model, config = load_release(tmp_path / "rel")
    assert config.kind == "diffusion" and config.uses_mask and config.in_bands == RGBN
    ema = {k.removeprefix("ema.module."): v for k, v in full["state_dict"].items() if k.startswith("ema.module.")}
    assert all(torch.equal(v, ema[k]) for k, v in model.state_dict().items())  # the release holds the EMA weights
    batch = _real_batch(shared_data)
    cond = torch.cat([config.norm.select(config.in_bands).apply(batch["cloudy"]), batch["mask"]], 1)
    mean, std = sample(model, cond, config, steps=3, n_samples=2, generator=torch.Generator().manual_seed(0))
    assert mean.shape == std.shape == (2, 4, 32, 32) and (std > 0).any()
