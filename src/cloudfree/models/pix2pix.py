"""Pix2Pix networks: a U-Net generator with skip connections and the 70x70 PatchGAN discriminator.

After Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks" (2017) and
their reference code. The generator takes any number of input channels (optical bands, an optional
cloud-mask channel, optional Sentinel-1 VV/VH) and returns ``out_channels`` in -1..1 (tanh), the
units of ``Normalization.fixed``. Its depth adapts to the patch size: ``num_downs = log2(patch)``
capped at ``max_downs`` (256 px -> the classic 8 levels, whose bottleneck is 1x1).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from cloudfree.models.layers import init_weights, norm_layer, uses_bias


class _SkipBlock(nn.Module):
    """One U-Net level: down-conv, the inner submodule, up-conv, and the skip concatenation."""

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        input_nc: int,
        submodule: nn.Module | None,
        outermost: bool,
        innermost: bool,
        norm: str,
        use_dropout: bool,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        make_norm, bias = norm_layer(norm), uses_bias(norm)
        down_conv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=bias)
        down_relu, up_relu = nn.LeakyReLU(0.2, True), nn.ReLU(True)
        if outermost:
            up_conv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            layers = [down_conv, submodule, up_relu, up_conv, nn.Tanh()]
        elif innermost:
            up_conv = nn.ConvTranspose2d(inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias)
            layers = [down_relu, down_conv, up_relu, up_conv, make_norm(outer_nc)]
        else:
            up_conv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias)
            layers = [down_relu, down_conv, make_norm(inner_nc), submodule, up_relu, up_conv, make_norm(outer_nc)]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UNetGenerator(nn.Module):
    """U-Net generator ``(N, in_channels, H, W)`` -> ``(N, out_channels, H, W)`` in -1..1.

    Args:
        in_channels: input channels (optical bands [+ SAR] [+ mask]).
        out_channels: output bands.
        ngf: filters of the outermost level; level ``i`` has ``ngf * min(2**i, 8)``.
        patch_size: training patch size (px); sets the depth when ``num_downs`` is not given.
        num_downs: number of down-sampling levels (``None``: ``min(log2(patch_size), max_downs)``).
        max_downs: cap on the automatic depth (8: the classic 256 px generator).
        norm: ``batch`` (reference), ``instance`` or ``none``.
        use_dropout: dropout 0.5 in the 8*ngf levels between the 4th and the innermost (as pix2pix).

    H and W must be multiples of ``2**num_downs``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        ngf: int = 64,
        patch_size: int = 256,
        num_downs: int | None = None,
        max_downs: int = 8,
        norm: str = "batch",
        use_dropout: bool = True,
    ) -> None:
        super().__init__()
        if num_downs is None:
            num_downs = min(int(math.log2(patch_size)), max_downs)
        if num_downs < 2:
            raise ValueError(f"UNetGenerator needs at least 2 down levels, got {num_downs} (patch {patch_size})")
        self.in_channels, self.out_channels, self.num_downs = in_channels, out_channels, num_downs

        def width(level: int) -> int:
            return ngf * min(2**level, 8)

        block: nn.Module | None = None
        for level in range(num_downs - 1, 0, -1):  # innermost first
            block = _SkipBlock(
                outer_nc=width(level - 1),
                inner_nc=width(level),
                input_nc=width(level - 1),
                submodule=block,
                outermost=False,
                innermost=block is None,
                norm=norm,
                use_dropout=use_dropout and 4 <= level < num_downs - 1,
            )
        self.model = _SkipBlock(out_channels, ngf, in_channels, block, True, False, norm, False)
        init_weights(self)

    @property
    def multiple(self) -> int:
        """H and W must be multiples of this."""
        return 2**self.num_downs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.in_channels:
            raise ValueError(f"UNetGenerator expects {self.in_channels} input channels, got {x.shape[1]}")
        if x.shape[-1] % self.multiple or x.shape[-2] % self.multiple:
            raise ValueError(
                f"UNetGenerator with {self.num_downs} levels needs H, W multiples of {self.multiple}; "
                f"got {tuple(x.shape[-2:])}"
            )
        return self.model(x)


class PatchGANDiscriminator(nn.Module):
    """PatchGAN discriminator: ``(N, in_channels, H, W)`` -> logits ``(N, 1, h, w)``, one per patch.

    With ``n_layers=3`` each logit sees a 70x70 px receptive field (the pix2pix discriminator).
    For a conditional GAN, ``in_channels`` is input channels + output channels (they are
    concatenated). Needs H, W >= ``2**(n_layers + 2)`` (32 px for ``n_layers=3``).
    """

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 3, norm: str = "batch") -> None:
        super().__init__()
        self.in_channels, self.n_layers = in_channels, n_layers
        make_norm, bias = norm_layer(norm), uses_bias(norm)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, stride, 1, bias=bias),
                make_norm(ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, 1, 1))
        self.model = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.in_channels:
            raise ValueError(f"PatchGANDiscriminator expects {self.in_channels} channels, got {x.shape[1]}")
        minimum = 2 ** (self.n_layers + 2)
        if min(x.shape[-2:]) < minimum:
            raise ValueError(f"PatchGANDiscriminator with {self.n_layers} layers needs >= {minimum} px")
        return self.model(x)
