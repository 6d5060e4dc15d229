"""Conditional diffusion for cloud removal: the denoising U-Net and the sampler that uses it.

Following the diffusers split of model vs scheduler, :class:`DiffusionUNet` is only the denoiser
``eps_theta(x_t, t | condition)``: it sees the noisy clear image ``x_t`` concatenated with the
condition (cloudy optical image, optionally SAR and the cloud mask, all normalised, in the channel
order of ``config.extra["input_order"]``) and predicts the noise (``epsilon``) or the velocity
(``v_prediction``). Its body is diffusers' ``UNet2DModel`` (sinusoidal timestep embedding + MLP,
ResNet blocks with GroupNorm/SiLU and timestep injection, down/up paths with skips, optional
self-attention at the lowest resolution): a well-kept implementation rather than a new one.

The noise schedule is never written here either: training adds noise with ``DDPMScheduler`` and
:func:`sample` rebuilds ``DDIMScheduler``, ``DPMSolverMultistepScheduler`` (tens of steps) or the
ancestral ``DDPMScheduler`` from the same settings, which a release records in
``config.extra["scheduler"]`` so that inference needs nothing but the release.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, UNet2DModel
from diffusers.utils.torch_utils import randn_tensor
from torch import nn

PREDICTION_TYPES = ("epsilon", "v_prediction")
SAMPLERS = ("ddim", "dpm", "ddpm")
#: DDPMScheduler settings used when a config gives none (the DDPM paper's linear schedule).
DEFAULT_SCHEDULER: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_schedule": "linear",
    "beta_start": 1e-4,
    "beta_end": 0.02,
    "prediction_type": "epsilon",
    "clip_sample": False,
    "clip_sample_range": 1.0,
}


class DiffusionUNet(nn.Module):
    """Denoising U-Net conditioned by channel concatenation.

    Args:
        in_channels: noisy target channels ``C`` + condition channels (optical ``C``, SAR, mask).
        out_channels: ``C``, the bands of the clear image being generated.
        base_channels: feature width of the first level.
        channel_mults: width multiplier per level; ``len(channel_mults) - 1`` halvings of the size.
        num_res_blocks: ResNet blocks per level.
        attention: self-attention at the lowest resolution (and in the middle block).
        groups: GroupNorm groups (must divide every level's width).
        attention_head_dim: channels per attention head.
        prediction_type: what the network predicts, ``epsilon`` (noise) or ``v_prediction``.
        dropout: dropout inside the ResNet blocks.

    ``forward(x, t)`` takes ``x`` ``(N, in_channels, H, W)`` (noisy target first, then condition)
    and timesteps ``t`` ``(N,)`` or a scalar in ``0..num_train_timesteps-1``; returns
    ``(N, out_channels, H, W)``. Any ``H, W`` works: inputs are reflect-padded to a multiple of the
    U-Net's total downsampling and the output is cropped back.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        base_channels: int = 64,
        channel_mults: Sequence[int] = (1, 2, 4),
        num_res_blocks: int = 2,
        attention: bool = True,
        groups: int = 8,
        attention_head_dim: int = 8,
        prediction_type: str = "epsilon",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if in_channels <= out_channels:
            raise ValueError(
                f"DiffusionUNet needs in_channels ({in_channels}) = out_channels ({out_channels}) + condition channels"
            )
        if prediction_type not in PREDICTION_TYPES:
            raise ValueError(f"prediction_type {prediction_type!r}; expected one of {PREDICTION_TYPES}")
        widths = tuple(int(base_channels * m) for m in channel_mults)
        if not widths:
            raise ValueError("channel_mults must name at least one level")
        bad = [w for w in widths if w % groups]
        if bad:
            raise ValueError(f"GroupNorm groups={groups} must divide every level width, not {bad} (of {widths})")
        if attention and widths[-1] % attention_head_dim:
            raise ValueError(f"attention_head_dim={attention_head_dim} must divide the lowest width {widths[-1]}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.condition_channels = in_channels - out_channels
        self.prediction_type = prediction_type
        self.multiple = 2 ** (len(widths) - 1)
        last = len(widths) - 1
        down = tuple("AttnDownBlock2D" if attention and i == last else "DownBlock2D" for i in range(len(widths)))
        up = tuple("AttnUpBlock2D" if attention and i == 0 else "UpBlock2D" for i in range(len(widths)))
        self.unet = UNet2DModel(
            in_channels=in_channels,
            out_channels=out_channels,
            block_out_channels=widths,
            down_block_types=down,
            up_block_types=up,
            layers_per_block=num_res_blocks,
            norm_num_groups=groups,
            attention_head_dim=attention_head_dim,
            add_attention=attention,
            dropout=dropout,
        )

    def forward(self, x: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        if x.shape[1] != self.in_channels:
            raise ValueError(f"DiffusionUNet expects {self.in_channels} input channels, got {x.shape[1]}")
        h, w = x.shape[-2:]
        ph, pw = (-h) % self.multiple, (-w) % self.multiple
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect" if min(h, w) > max(ph, pw) else "replicate")
        if not torch.is_tensor(t):
            t = torch.tensor([t], device=x.device)
        t = t.to(x.device).reshape(-1).expand(x.shape[0]) if t.numel() == 1 else t.to(x.device)
        out = self.unet(x, t).sample
        return out[..., :h, :w]


# -- schedulers ---------------------------------------------------------------------------------
def scheduler_settings(config: Any = None, prediction_type: str | None = None) -> dict[str, Any]:
    """DDPMScheduler keyword arguments from a release config, a plain mapping or ``None`` (defaults).

    A :class:`~cloudfree.models.release.ReleaseConfig` keeps them in ``extra["scheduler"]``.
    ``prediction_type`` (the model's) overrides the stored one.
    """
    stored: Mapping[str, Any] | None
    if config is None:
        stored = {}
    elif hasattr(config, "extra"):
        stored = config.extra.get("scheduler")
        if stored is None:
            raise ValueError(f"release {getattr(config, 'name', '?')!r} records no diffusion scheduler in extra")
    elif isinstance(config, Mapping):
        stored = config.get("scheduler", config)
    else:
        raise TypeError(f"expected a ReleaseConfig or a mapping of scheduler settings, got {type(config).__name__}")
    unknown = set(stored) - set(DEFAULT_SCHEDULER)
    if unknown:
        raise ValueError(f"unknown diffusion scheduler settings {sorted(unknown)}; known: {sorted(DEFAULT_SCHEDULER)}")
    settings = {**DEFAULT_SCHEDULER, **stored}
    if prediction_type is not None:
        settings["prediction_type"] = prediction_type
    return settings


def training_scheduler(settings: Mapping[str, Any] | None = None) -> DDPMScheduler:
    """The ``DDPMScheduler`` that adds noise during training (``add_noise``, ``get_velocity``)."""
    return DDPMScheduler(**scheduler_settings(settings))


def sampling_scheduler(settings: Mapping[str, Any], kind: str = "ddim"):
    """A sampler built from the training schedule: ``ddim`` (eta 0), ``dpm`` (DPM-Solver++ 2M), ``ddpm``.

    DDIM and DPM-Solver use ``trailing`` timestep spacing, so that a few-step run starts from the
    last (pure-noise) training timestep.
    """
    base = DDPMScheduler(**scheduler_settings(settings)).config
    if kind == "ddim":
        return DDIMScheduler.from_config(base, timestep_spacing="trailing")
    if kind == "dpm":
        return DPMSolverMultistepScheduler.from_config(base, timestep_spacing="trailing", algorithm_type="dpmsolver++")
    if kind == "ddpm":
        return DDPMScheduler.from_config(base)
    raise ValueError(f"unknown sampler {kind!r}; expected one of {SAMPLERS}")


@torch.no_grad()
def sample(
    model: DiffusionUNet,
    condition: torch.Tensor,
    config: Any = None,
    steps: int = 20,
    n_samples: int = 4,
    generator: torch.Generator | None = None,
    scheduler: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n_samples`` clear images per condition; return their per-pixel mean and spread.

    Args:
        model: the denoiser (its ``prediction_type`` decides how outputs are read).
        condition: ``(N, model.condition_channels, H, W)``, normalised like the training inputs.
        config: the release config (``extra["scheduler"]``), a mapping of DDPMScheduler settings, or
            ``None`` for :data:`DEFAULT_SCHEDULER`.
        steps: denoising steps (network evaluations) per sample.
        n_samples: samples per input; more give a better mean and a meaningful spread.
        generator: makes the initial noise (and DDPM's step noise) reproducible.
        scheduler: ``ddim``, ``dpm`` or ``ddpm``; default: the release's ``extra["sampler"]``, else ``ddim``.

    Returns:
        ``(mean, std)``, each ``(N, model.out_channels, H, W)`` in the normalised units of the
        target (each sample clamped to ``+-clip_sample_range`` when ``clip_sample`` is set);
        ``std`` (the uncertainty) is the unbiased standard deviation over samples, zero when
        ``n_samples == 1``.
    """
    if condition.ndim != 4 or condition.shape[1] != model.condition_channels:
        raise ValueError(
            f"diffusion condition must be (N, {model.condition_channels}, H, W), got {tuple(condition.shape)}"
        )
    if steps < 1 or n_samples < 1:
        raise ValueError(f"steps ({steps}) and n_samples ({n_samples}) must be at least 1")
    settings = scheduler_settings(config, model.prediction_type)
    if scheduler is None:
        scheduler = config.extra.get("sampler", "ddim") if hasattr(config, "extra") else "ddim"
    sched = sampling_scheduler(settings, scheduler)
    sched.set_timesteps(steps, device=condition.device)
    n, _, h, w = condition.shape
    cond = condition.repeat(n_samples, 1, 1, 1)
    x = randn_tensor(
        (n_samples * n, model.out_channels, h, w), generator=generator, device=condition.device, dtype=condition.dtype
    )
    x = x * sched.init_noise_sigma
    step_kwargs = {"generator": generator} if scheduler in ("ddpm", "ddim") else {}
    for t in sched.timesteps:
        model_in = sched.scale_model_input(x, t)
        out = model(torch.cat([model_in, cond], dim=1), t.expand(x.shape[0]))
        x = sched.step(out, t, x, **step_kwargs).prev_sample
    if settings["clip_sample"]:  # DPM-Solver has no clip_sample of its own: the data range applies to all
        x = x.clamp(-settings["clip_sample_range"], settings["clip_sample_range"])
    x = x.reshape(n_samples, n, model.out_channels, h, w)
    mean = x.mean(dim=0)
    std = x.std(dim=0) if n_samples > 1 else torch.zeros_like(mean)
    return mean, std
