"""Cloud and shadow segmentation network: a segmentation-models-pytorch U-Net for any band count.

:class:`SegmentationUNet` wraps ``segmentation_models_pytorch.Unet`` with random initial weights
(``encoder_weights=None``: nothing is downloaded, and ImageNet weights would not fit 4 or 13
Sentinel-2 bands anyway). Its input is ``(N, in_channels, H, W)`` of any ``H, W``: it is padded to a
multiple of ``2 ** encoder_depth`` (32 for the default depth 5) by reflection and the logits are
cropped back, so scene tiles and odd-sized chips need no care from the caller. Output: class
logits ``(N, classes, H, W)``; which mask code each channel means is the class scheme's business
(:mod:`cloudfree.masks`: 4 classes clear/thick/thin/shadow, 3 with thin and thick
merged, 2 for a binary cloud mask).

Inputs are reflectance normalised by :func:`input_normalization` and :func:`prepare_input`, the
same way in training and at inference: ``reflectance`` maps 0..``max_reflectance`` to -1..1
(clipped); ``rgb8`` is the seed project's 8-bit RGB preprocessing (clip at 4000 DN = 0.4
reflectance, quantise to 256 levels; the network sees ``level / 255`` in 0..1).

Encoders: any smp 0.6 encoder works offline with random weights. ``efficientnet-b2`` is the seed
project's choice (about 10 M parameters); on CPU ``mobilenet_v2`` or ``timm-tf_efficientnet_lite0``
with ``encoder_depth=3`` or 4 train several times faster, and ``resnet18`` is a robust middle ground.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from cloudfree.normalization import Normalization

PREPROCESS = ("reflectance", "rgb8")
RGB8_MAX_REFLECTANCE = 0.4  # 4000 DN
CPU_ENCODERS = ("mobilenet_v2", "timm-tf_efficientnet_lite0", "resnet18", "timm-efficientnet-b0")


def default_decoder_channels(encoder_depth: int) -> tuple[int, ...]:
    """smp's default widths for depth 5, ``(256, 128, 64, 32, 16)``, shortened for shallower encoders."""
    return tuple(16 * 2**i for i in reversed(range(encoder_depth)))


def input_normalization(
    bands: Sequence[str], preprocess: str = "reflectance", max_reflectance: float = 1.0
) -> Normalization:
    """The normalisation stored with a mask model: ``reflectance`` (0..max -> -1..1) or ``rgb8`` (0..0.4 -> 0..1)."""
    if preprocess == "rgb8":
        n = len(bands)
        return Normalization(tuple(bands), (0.0,) * n, (RGB8_MAX_REFLECTANCE,) * n, "rgb8", (0.0, 1.0))
    if preprocess == "reflectance":
        return Normalization.fixed(bands, max_reflectance)
    raise ValueError(f"unknown preprocess {preprocess!r}; expected one of {list(PREPROCESS)}")


def prepare_input(x: torch.Tensor, norm: Normalization, preprocess: str = "reflectance") -> torch.Tensor:
    """Network input from reflectance ``(N, C, H, W)``: NaN -> 0, normalised; ``rgb8`` also quantised to 1/255."""
    y = norm.apply(torch.nan_to_num(x.float(), nan=0.0))
    if preprocess == "rgb8":
        y = torch.round(y * 255.0) / 255.0
    return y


class SegmentationUNet(nn.Module):
    """U-Net for per-pixel class logits; ``(N, in_channels, H, W)`` -> ``(N, classes, H, W)``.

    Args:
        in_channels: input bands (3 for RGB .. 13 for all L1C bands).
        classes: output classes (4 = clear, thick, thin, shadow).
        encoder_name: any segmentation-models-pytorch encoder name.
        encoder_depth: number of encoder stages, 3..5; the input is padded to a multiple of ``2**depth``.
        decoder_channels: decoder widths, one per stage (default :func:`default_decoder_channels`).
    """

    def __init__(
        self,
        in_channels: int,
        classes: int = 4,
        encoder_name: str = "efficientnet-b2",
        encoder_depth: int = 5,
        decoder_channels: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        if in_channels < 1 or classes < 2:
            raise ValueError(f"SegmentationUNet needs in_channels >= 1 and classes >= 2, got {in_channels}, {classes}")
        if not 3 <= encoder_depth <= 5:
            raise ValueError(f"encoder_depth must be 3, 4 or 5, got {encoder_depth}")
        import segmentation_models_pytorch as smp  # here, not at import: it pulls in timm and torchvision

        if encoder_name not in smp.encoders.get_encoder_names() and not encoder_name.startswith("tu-"):
            raise ValueError(f"unknown encoder {encoder_name!r}; CPU-friendly choices: {list(CPU_ENCODERS)}")
        dec = tuple(decoder_channels) if decoder_channels else default_decoder_channels(encoder_depth)
        if len(dec) != encoder_depth:
            raise ValueError(f"decoder_channels {list(dec)} must have one width per encoder stage ({encoder_depth})")
        self.in_channels, self.classes, self.multiple = in_channels, classes, 2**encoder_depth
        self.net = smp.Unet(
            encoder_name=encoder_name,
            encoder_weights=None,
            encoder_depth=encoder_depth,
            decoder_channels=list(dec),
            in_channels=in_channels,
            classes=classes,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected input (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        ph, pw = -h % self.multiple, -w % self.multiple
        if ph or pw:
            mode = "reflect" if ph < h and pw < w else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        return self.net(x)[..., :h, :w]
