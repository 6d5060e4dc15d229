"""Training of the conditional diffusion model (:class:`~cloudfree.models.diffusion.DiffusionUNet`).

Each step draws a timestep and Gaussian noise per sample, noises the normalised clear image with
diffusers' ``DDPMScheduler.add_noise`` and trains the U-Net, conditioned on the normalised cloudy
image (plus SAR and the cloud mask when configured, channel groups as
:class:`~cloudfree.tasks.base.CloudRemovalTask` assembles them), to predict the noise (or the
velocity). The loss is a mask-weighted MSE: pixels under cloud weigh
``1 + cloud_weight`` against 1 for clear ones, since that is where the model has to invent content.

The noise of step ``k`` comes from a generator seeded by ``(noise_seed, k, batch index, rank)``
rather than from the global RNG, so that a run resumed from a checkpoint draws exactly the noise
the uninterrupted run would have. An exponential moving average (EMA) of the weights, warmed up over the first steps,
is kept when ``ema_decay`` is set; it is what validation samples with and what a release holds.

Validation scores a short deterministic sampler run (``val_steps`` DDIM steps, ``val_samples``
samples). The release records ``kind: "diffusion"`` and, in ``extra``, the scheduler settings and
the default sampler, steps and sample count, so inference rebuilds the sampler from the release.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from diffusers.utils.torch_utils import randn_tensor
from torch import nn
from torch.optim.swa_utils import AveragedModel

from cloudfree.models.diffusion import SAMPLERS, sample, scheduler_settings, training_scheduler
from cloudfree.tasks.base import CloudRemovalTask


class WarmupEMA:
    """``multi_avg_fn`` for :class:`~torch.optim.swa_utils.AveragedModel`: EMA with a warm-up.

    The decay after ``n`` updates is ``min(decay, (1 + n) / (10 + n))``, so early averages follow the
    fast-changing weights instead of staying near the initialisation. (torch's
    ``get_ema_multi_avg_fn`` has a fixed decay only.)
    """

    def __init__(self, decay: float) -> None:
        self.decay = float(decay)

    def __call__(self, ema: list[torch.Tensor], current: list[torch.Tensor], num_averaged: torch.Tensor | int) -> None:
        n = int(num_averaged)
        decay = min(self.decay, (1 + n) / (10 + n))
        for e, c in zip(ema, current, strict=True):
            e.lerp_(c.to(e.dtype), 1.0 - decay)


class DiffusionTask(CloudRemovalTask):
    """Conditional denoising diffusion: cloudy (+SAR, +mask) -> clear, with sampled uncertainty.

    Architecture arguments (``base_channels``, ``channel_mults``, ``num_res_blocks``, ``attention``,
    ``groups``, ``prediction_type``, ``dropout``) go to :class:`DiffusionUNet`, whose input is the
    noisy target (``len(out_bands)`` channels) followed by the condition (:meth:`build_input`).

    Args:
        scheduler: ``DDPMScheduler`` settings (``num_train_timesteps``, ``beta_schedule`` ...);
            ``clip_sample`` defaults to True when the optical normalisation clips to -1..1.
        lr, weight_decay: AdamW settings.
        cloud_weight: extra loss weight of cloudy pixels (weight ``1 + cloud_weight * mask``).
        ema_decay: EMA decay of the weights (e.g. 0.999); ``None`` or 0 disables the EMA.
        val_steps, val_samples, val_sampler: the sampler run that validation scores.
        sampler, sample_steps, n_samples: inference defaults recorded in the release.
        noise_seed: seed of the per-step training noise.
    """

    task_name = "diffusion"
    release_kind = "diffusion"

    def __init__(
        self,
        in_bands: Sequence[str] | str = "rgbn",
        out_bands: Sequence[str] | str | None = None,
        sar_bands: Sequence[str] | str = (),
        use_mask: bool = False,
        max_reflectance: float = 1.0,
        normalization: Mapping[str, Any] | None = None,
        sar_normalization: Mapping[str, Any] | None = None,
        input_order: Sequence[str] | None = None,
        n_preview: int = 4,
        base_channels: int = 64,
        channel_mults: Sequence[int] = (1, 2, 4),
        num_res_blocks: int = 2,
        attention: bool = True,
        groups: int = 8,
        prediction_type: str = "epsilon",
        dropout: float = 0.0,
        scheduler: Mapping[str, Any] | None = None,
        lr: float = 2e-4,
        weight_decay: float = 0.0,
        cloud_weight: float = 2.0,
        ema_decay: float | None = 0.999,
        val_steps: int = 10,
        val_samples: int = 1,
        val_sampler: str = "ddim",
        sampler: str = "ddim",
        sample_steps: int = 20,
        n_samples: int = 4,
        noise_seed: int = 0,
    ) -> None:
        super().__init__(
            in_bands, out_bands, sar_bands, use_mask, max_reflectance, normalization, sar_normalization,
            input_order, n_preview,
        )  # fmt: skip
        for name, value in (("val_sampler", val_sampler), ("sampler", sampler)):
            if value not in SAMPLERS:
                raise ValueError(f"{name} {value!r}; expected one of {SAMPLERS}")
        settings = dict(scheduler or {})
        settings.setdefault("clip_sample", self.norm.clip == (-1.0, 1.0))
        self.scheduler_settings = scheduler_settings(settings, prediction_type)
        self.noise_scheduler = training_scheduler(self.scheduler_settings)
        self.set_predictor(
            "diffusionunet",
            {
                "in_channels": self.out_channels + self.in_channels,
                "out_channels": self.out_channels,
                "base_channels": int(base_channels),
                "channel_mults": [int(m) for m in channel_mults],
                "num_res_blocks": int(num_res_blocks),
                "attention": bool(attention),
                "groups": int(groups),
                "prediction_type": prediction_type,
                "dropout": float(dropout),
            },
            attr="denoiser",
        )
        self.ema: AveragedModel | None = None
        if ema_decay:
            self.ema = AveragedModel(self.denoiser, multi_avg_fn=WarmupEMA(ema_decay), use_buffers=True)
            self.ema.requires_grad_(False)
        self.lr, self.weight_decay, self.cloud_weight = float(lr), float(weight_decay), float(cloud_weight)
        self.val_steps, self.val_samples, self.val_sampler = int(val_steps), int(val_samples), val_sampler
        self.sampler, self.sample_steps, self.n_samples = sampler, int(sample_steps), int(n_samples)
        self.noise_seed = int(noise_seed)

    # -- networks ---------------------------------------------------------------------------------
    def predictor(self) -> nn.Module:
        """The denoiser a release holds: the EMA weights when kept, else the trained ones."""
        return self.ema.module if self.ema is not None else self.denoiser

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Denoiser output ``(N, len(out_bands), H, W)`` for ``x`` = noisy target + condition."""
        return self.predictor()(x, t)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.denoiser.parameters(), lr=self.lr, weight_decay=self.weight_decay)

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.ema is not None:
            self.ema.update_parameters(self.denoiser)

    # -- training ---------------------------------------------------------------------------------
    def _step_generator(self, batch_idx: int) -> torch.Generator:
        """CPU generator of this batch's noise: a function of (seed, step, batch, rank), so resume repeats it."""
        key = ((self.noise_seed * 1_000_003 + self.global_step) * 8191 + batch_idx) * 4099 + self.global_rank
        return torch.Generator().manual_seed(key % (2**63))

    def pixel_weight(self, batch: Mapping[str, Any], like: torch.Tensor) -> torch.Tensor:
        """``(N, 1, H, W)`` loss weight: ``1 + cloud_weight`` under cloud, 1 elsewhere (1 without a mask)."""
        if "mask" not in batch or self.cloud_weight == 0:
            return torch.ones_like(like[:, :1])
        return 1.0 + self.cloud_weight * (batch["mask"] > 0).to(like.dtype)

    def diffusion_loss(self, batch: Mapping[str, Any], generator: torch.Generator | None = None) -> torch.Tensor:
        """Mask-weighted MSE between the network output and the noise (or velocity) it must predict."""
        cond = self.build_input(batch)
        x0 = self.build_target(batch)
        n = x0.shape[0]
        noise = randn_tensor(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        steps = self.noise_scheduler.config.num_train_timesteps
        t = torch.randint(0, steps, (n,), generator=generator).to(x0.device)
        noisy = self.noise_scheduler.add_noise(x0, noise, t)
        if self.noise_scheduler.config.prediction_type == "v_prediction":
            target = self.noise_scheduler.get_velocity(x0, noise, t)
        else:
            target = noise
        pred = self.denoiser(torch.cat([noisy, cond], dim=1), t)
        weight = self.pixel_weight(batch, x0)
        return ((pred - target) ** 2 * weight).mean() / weight.mean()

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> torch.Tensor:
        loss = self.diffusion_loss(batch, self._step_generator(batch_idx))
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["clear"].shape[0])
        return loss

    # -- sampling ---------------------------------------------------------------------------------
    def sample(
        self,
        batch: Mapping[str, Any],
        steps: int | None = None,
        n_samples: int | None = None,
        sampler: str | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-pixel mean and spread ``(N, len(out_bands), H, W)`` in normalised units."""
        return sample(
            self.predictor(),
            self.build_input(batch),
            self.scheduler_settings,
            steps=steps or self.sample_steps,
            n_samples=n_samples or self.n_samples,
            generator=generator,
            scheduler=sampler or self.sampler,
        )

    def predict_normalized(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """Validation estimate: a short deterministic sampler run (fixed seed)."""
        mean, _ = self.sample(
            batch, self.val_steps, self.val_samples, self.val_sampler, torch.Generator().manual_seed(self.noise_seed)
        )
        return mean

    # -- release ----------------------------------------------------------------------------------
    def release_extra(self) -> dict[str, Any]:
        return super().release_extra() | {
            "scheduler": dict(self.scheduler_settings),
            "sampler": self.sampler,
            "steps": self.sample_steps,
            "n_samples": self.n_samples,
        }
