"""SAR-optical fusion networks: DSen2-CR (Sentinel-1 + cloudy Sentinel-2) and a multi-temporal model.

:class:`DSen2CR` follows Meraner et al. (2020), "Cloud removal in Sentinel-2 imagery using a deep
residual neural network and SAR-optical data fusion": the cloudy optical image and the co-registered
SAR image are concatenated, a 3x3 convolution lifts them to ``feature_size`` channels, ``num_layers``
residual blocks (conv-ReLU-conv, output scaled by ``scale`` before the addition) refine them, a 3x3
convolution returns to the optical bands and a long skip adds the cloudy optical input, so that the
network only learns the correction. Its input channel order is ``["optical", "sar"]``.

:class:`MultiTemporalFusion` rebuilds the optical image at ``t1`` from the (clear) optical image at
``t0`` and the SAR images at ``t0`` and ``t1``: the SAR pair (and its difference, which marks what
changed) and the earlier optical image are encoded separately, fused, processed at half resolution
for context, decoded, and added to the ``t0`` optical image. Input order
``["prev_optical", "prev_sar", "sar"]``.

Both take one tensor ``(N, C_in, H, W)`` (normalised, per docs/ARCHITECTURE.md) and return
``(N, out_channels, H, W)`` in the optical normalisation's units.
"""

from __future__ import annotations

import torch
from torch import nn


class ResidualBlock(nn.Module):
    """conv3x3-ReLU-conv3x3, scaled by ``scale`` and added to the input (EDSR / DSen2-CR block)."""

    def __init__(self, channels: int, scale: float = 0.1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1),
        )
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.scale * self.body(x)


class DSen2CR(nn.Module):
    """DSen2-CR residual network: ``(N, optical + sar, H, W)`` -> ``(N, out_channels, H, W)``.

    Args:
        optical_channels: cloudy Sentinel-2 bands at the front of the input.
        sar_channels: Sentinel-1 bands (VV, VH) after them; 0 gives the optical-only variant.
        out_channels: predicted bands; must equal ``optical_channels`` (the long skip adds the input).
        feature_size: width of the residual trunk (256 in the paper).
        num_layers: residual blocks (16 in the paper).
        scale: residual scaling of each block (0.1 in the paper).
    """

    def __init__(
        self,
        optical_channels: int,
        sar_channels: int = 2,
        out_channels: int | None = None,
        feature_size: int = 256,
        num_layers: int = 16,
        scale: float = 0.1,
    ) -> None:
        super().__init__()
        out_channels = optical_channels if out_channels is None else out_channels
        if out_channels != optical_channels:
            raise ValueError(
                f"DSen2CR adds its optical input to the output, so out_channels ({out_channels}) must equal "
                f"optical_channels ({optical_channels})"
            )
        self.optical_channels = optical_channels
        self.sar_channels = sar_channels
        self.in_channels = optical_channels + sar_channels
        self.out_channels = out_channels
        self.head = nn.Sequential(nn.Conv2d(self.in_channels, feature_size, 3, padding=1), nn.ReLU(inplace=True))
        self.body = nn.Sequential(*(ResidualBlock(feature_size, scale) for _ in range(num_layers)))
        self.tail = nn.Conv2d(feature_size, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"DSen2CR expects {self.in_channels} channels (optical {self.optical_channels} + SAR "
                f"{self.sar_channels}), got {x.shape[1]}"
            )
        optical = x[:, : self.optical_channels]
        return optical + self.tail(self.body(self.head(x)))


def _conv(in_ch: int, out_ch: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1), nn.ReLU(inplace=True))


class MultiTemporalFusion(nn.Module):
    """Optical ``t1`` from optical ``t0`` + SAR ``t0`` and ``t1``.

    Input ``(N, optical + 2 * sar, H, W)`` in the order prev_optical, prev_sar, sar; output
    ``(N, out_channels, H, W)`` = prev_optical + learned change.

    Args:
        optical_channels: Sentinel-2 bands of the earlier image (and of the output).
        sar_channels: Sentinel-1 bands per date (2: VV, VH).
        out_channels: predicted bands; must equal ``optical_channels`` (residual on ``t0``).
        features: width of each encoder and of the decoder.
        num_blocks: residual blocks at half resolution (context for the change).
        scale: residual scaling of the blocks.
    """

    def __init__(
        self,
        optical_channels: int,
        sar_channels: int = 2,
        out_channels: int | None = None,
        features: int = 64,
        num_blocks: int = 4,
        scale: float = 0.1,
    ) -> None:
        super().__init__()
        out_channels = optical_channels if out_channels is None else out_channels
        if out_channels != optical_channels:
            raise ValueError(
                f"MultiTemporalFusion adds the t0 optical image to its output, so out_channels ({out_channels}) "
                f"must equal optical_channels ({optical_channels})"
            )
        self.optical_channels = optical_channels
        self.sar_channels = sar_channels
        self.in_channels = optical_channels + 2 * sar_channels
        self.out_channels = out_channels
        self.optical_encoder = nn.Sequential(_conv(optical_channels, features), ResidualBlock(features, scale))
        # SAR at t0, at t1 and their difference (the change signal).
        self.sar_encoder = nn.Sequential(_conv(3 * sar_channels, features), ResidualBlock(features, scale))
        self.fuse = nn.Sequential(nn.Conv2d(2 * features, features, 1), nn.ReLU(inplace=True))
        self.down = _conv(features, 2 * features, stride=2)
        self.context = nn.Sequential(*(ResidualBlock(2 * features, scale) for _ in range(num_blocks)))
        self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), _conv(2 * features, features))
        self.decoder = nn.Sequential(_conv(2 * features, features), ResidualBlock(features, scale))
        self.out = nn.Conv2d(features, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"MultiTemporalFusion expects {self.in_channels} channels (prev_optical {self.optical_channels}, "
                f"prev_sar {self.sar_channels}, sar {self.sar_channels}), got {x.shape[1]}"
            )
        c, s = self.optical_channels, self.sar_channels
        prev_optical, prev_sar, sar = x[:, :c], x[:, c : c + s], x[:, c + s :]
        h, w = x.shape[-2:]
        fused = self.fuse(
            torch.cat(
                [self.optical_encoder(prev_optical), self.sar_encoder(torch.cat([prev_sar, sar, sar - prev_sar], 1))],
                dim=1,
            )
        )
        low = self.context(self.down(fused))  # ceil(h/2) x ceil(w/2)
        up = self.up(low)[..., :h, :w]  # odd sizes: crop the upsampled map back
        return prev_optical + self.out(self.decoder(torch.cat([fused, up], dim=1)))
