"""Building blocks shared by the GAN models: normalisation layers by name, weight init, GAN losses.

These follow the pix2pix / CycleGAN reference implementation (Isola et al. 2017, Zhu et al. 2017):
weights drawn from N(0, 0.02), batch or instance normalisation (instance without learned affine or
running statistics), and the adversarial objective as BCE-with-logits ("vanilla") or least squares
("lsgan"). The loss is written here because it is four lines around torch's own loss functions and
no maintained library ships it for arbitrary discriminator output shapes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import nn

NORMS = ("batch", "instance", "none")


def norm_layer(name: str) -> Callable[[int], nn.Module]:
    """Factory ``channels -> nn.Module`` for ``batch``, ``instance`` or ``none`` normalisation."""
    if name == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if name == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    if name == "none":
        return lambda channels: nn.Identity()
    raise ValueError(f"unknown normalisation layer {name!r}; expected one of {list(NORMS)}")


def uses_bias(name: str) -> bool:
    """Convolutions before batch norm need no bias (the norm's shift replaces it)."""
    return name != "batch"


def init_weights(module: nn.Module, gain: float = 0.02) -> nn.Module:
    """The reference initialisation: conv weights N(0, gain), norm weights N(1, gain), biases 0."""

    def init(m: nn.Module) -> None:
        name = type(m).__name__
        if hasattr(m, "weight") and m.weight is not None and ("Conv" in name or "Linear" in name):
            nn.init.normal_(m.weight, 0.0, gain)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif "BatchNorm2d" in name:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)

    module.apply(init)
    return module


class GANLoss(nn.Module):
    """Adversarial loss on discriminator logits of any shape (PatchGAN maps).

    ``mode="vanilla"``: binary cross-entropy with logits; ``mode="lsgan"``: mean squared error to
    1 (real) or 0 (fake).
    """

    def __init__(self, mode: str = "vanilla") -> None:
        super().__init__()
        if mode not in ("vanilla", "lsgan"):
            raise ValueError(f"unknown GAN loss {mode!r}; expected 'vanilla' or 'lsgan'")
        self.mode = mode
        self.loss = nn.BCEWithLogitsLoss() if mode == "vanilla" else nn.MSELoss()

    def forward(self, logits: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        target = torch.ones_like(logits) if target_is_real else torch.zeros_like(logits)
        return self.loss(logits, target)
