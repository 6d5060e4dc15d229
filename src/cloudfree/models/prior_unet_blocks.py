"""Convolution blocks of :class:`~cloudfree.models.prior_unet.PriorResidualUNet`'s encoder and decoder.

* :func:`conv_block`: a 3x3 convolution (replicate padding, so tile borders see no zeros) and a
  LeakyReLU(0.2); ``(N, cin, H, W) -> (N, cout, H, W)``.
* :class:`UpBlock`: bilinear x2 up-sampling (resize to the skip's ``H, W``), then 3x3 convolutions over
  the up-sampled map and the skip; ``(N, cin, H/2, W/2), (N, cskip, H, W) -> (N, cout, H, W)``.

Up-sampling is a resize followed by convolutions, never a transposed convolution (Odena et al. 2016,
"Deconvolution and checkerboard artifacts"), so no kernel-overlap pattern at periods 2/4/8/16 px; and
there is no normalisation layer, so a pixel's output does not depend on the tile it falls in.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_block(cin: int, cout: int) -> nn.Sequential:
    """3x3 convolution ``cin -> cout`` channels (replicate padding, same H, W), then LeakyReLU(0.2)."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, padding_mode="replicate"), nn.LeakyReLU(0.2, True))


class UpBlock(nn.Module):
    """Bilinear x2 up-sampling, then 3x3 convolutions over the up-sampled map and the skip."""

    def __init__(self, cin: int, cskip: int, cout: int) -> None:
        super().__init__()
        self.reduce = conv_block(cin, cout)
        self.fuse = nn.Sequential(conv_block(cout + cskip, cout), conv_block(cout, cout))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """``x`` ``(N, cin, h, w)`` resized to ``skip``'s ``(N, cskip, H, W)`` grid -> ``(N, cout, H, W)``."""
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.fuse(torch.cat([self.reduce(x), skip], 1))
