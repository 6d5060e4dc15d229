"""CycleGAN generator: the ResNet encoder / residual blocks / decoder of Zhu et al. (2017).

Used for Sentinel-1 -> Sentinel-2 translation (VV/VH in, optical bands out) and unpaired
cloudy -> clear translation. Any number of input and output channels; tanh output in -1..1 (the
units of ``Normalization.fixed`` and of the default SAR normalisation). The discriminators are the
PatchGAN of :mod:`cloudfree.models.pix2pix`.
"""

from __future__ import annotations

import torch
from torch import nn

from cloudfree.models.layers import init_weights, norm_layer, uses_bias

PADDING = {"reflect": nn.ReflectionPad2d, "replicate": nn.ReplicationPad2d, "zero": nn.ZeroPad2d}


class ResnetBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection; shape-preserving ``(N, C, H, W)``."""

    def __init__(self, dim: int, norm: str, use_dropout: bool, padding_type: str) -> None:
        super().__init__()
        pad, make_norm, bias = PADDING[padding_type], norm_layer(norm), uses_bias(norm)
        layers: list[nn.Module] = [pad(1), nn.Conv2d(dim, dim, 3, bias=bias), make_norm(dim), nn.ReLU(True)]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += [pad(1), nn.Conv2d(dim, dim, 3, bias=bias), make_norm(dim)]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    """ResNet generator ``(N, in_channels, H, W)`` -> ``(N, out_channels, H, W)`` in -1..1.

    Args:
        in_channels: input channels (e.g. 2 for VV/VH, or optical bands [+ mask]).
        out_channels: output bands.
        ngf: filters of the first convolution (doubled at each of the 2 down-samplings).
        n_blocks: residual blocks at the bottleneck (``None``: 9 for patches >= 256 px, else 6).
        patch_size: training patch size (px), used only to choose ``n_blocks``.
        norm: ``instance`` (reference), ``batch`` or ``none``.
        use_dropout: dropout 0.5 inside the residual blocks.
        padding_type: ``reflect`` (reference), ``replicate`` or ``zero``.

    H and W must be multiples of 4.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        ngf: int = 64,
        n_blocks: int | None = None,
        patch_size: int = 256,
        norm: str = "instance",
        use_dropout: bool = False,
        padding_type: str = "reflect",
    ) -> None:
        super().__init__()
        if padding_type not in PADDING:
            raise ValueError(f"unknown padding {padding_type!r}; expected one of {sorted(PADDING)}")
        if n_blocks is None:
            n_blocks = 9 if patch_size >= 256 else 6
        if n_blocks < 0:
            raise ValueError(f"n_blocks must be >= 0, got {n_blocks}")
        self.in_channels, self.out_channels, self.n_blocks = in_channels, out_channels, n_blocks
        make_norm, bias = norm_layer(norm), uses_bias(norm)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, ngf, 7, bias=bias),
            make_norm(ngf),
            nn.ReLU(True),
        ]
        for i in range(2):  # down-sampling
            mult = 2**i
            layers += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=bias),
                make_norm(ngf * mult * 2),
                nn.ReLU(True),
            ]
        layers += [ResnetBlock(ngf * 4, norm, use_dropout, padding_type) for _ in range(n_blocks)]
        for i in range(2):  # up-sampling
            mult = 2 ** (2 - i)
            layers += [
                nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1, bias=bias),
                make_norm(ngf * mult // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.in_channels:
            raise ValueError(f"ResnetGenerator expects {self.in_channels} input channels, got {x.shape[1]}")
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"ResnetGenerator needs H, W multiples of 4; got {tuple(x.shape[-2:])}")
        return self.model(x)
