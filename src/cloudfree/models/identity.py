"""A model that returns its optical input unchanged: the no-change baseline and a pipeline check."""

from __future__ import annotations

import torch
from torch import nn


class IdentityModel(nn.Module):
    """Returns the first ``out_channels`` input channels; ``(N, C_in, H, W)`` -> ``(N, out_channels, H, W)``."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        if out_channels > in_channels:
            raise ValueError(f"identity model cannot make {out_channels} channels from {in_channels}")
        self.in_channels = in_channels
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, : self.out_channels]
