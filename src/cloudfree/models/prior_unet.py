"""Cloud removal as a learned residual over a classical fill: ``PriorResidualUNet``.

Input ``(N, bands + 1, H, W)``: the optical bands, normalised (``Normalization.fixed``: reflectance
0..1 -> -1..1), then ONE mask channel (1 = cloud, thin cloud or shadow: the pixel is not clear; 0 =
clear), exactly the release contract of docs/ARCHITECTURE.md ("Released model inputs", input order
``optical, mask``). Output ``(N, out_bands, H, W)`` in the same normalised units, clamped to -1..1.

Why this design (issue 11, item 1):

* **A classical prior, computed in torch.** :func:`~cloudfree.models.push_pull.push_pull_fill` is a
  multi-scale normalised convolution ("pull-push", Gortler et al. 1996): the clear pixels are averaged down a pyramid
  with their weights, and every unknown pixel takes the bilinear up-sampling of the coarsest level
  that knows it. It is smooth, has no parameters, runs in O(pixels), works for any hole size and
  tile size, and is about as good as harmonic / biharmonic inpainting on large holes while being
  orders of magnitude faster than ``skimage.restoration.inpaint_biharmonic`` per tile.
* **The network learns the residual over that prior**, inside the mask only:
  ``out = prior + mask * (unet + per_pixel)``, with the last layers initialised to zero, so an untrained
  model already *is* the classical fill, and training can only add what the prior lacks (texture,
  edges continued from the surroundings, the ground under thin cloud and shadow). Clear pixels
  pass through unchanged.
* **It knows which pixels are unknown, and which show the ground.** The network sees the
  prior-filled image (cloud values never enter it), the mask channel, and the raw input where the
  ground still shows. With ``mask_encoding="opacity"`` (the default models) the mask channel is 1
  for thick cloud (code 1), 0.5 for thin cloud (2) and shadow (3), 0 for clear
  (:func:`cloudfree.masks.mask_channel`): under thin cloud and shadow the ground shows, attenuated,
  and the network restores it from that signal instead of inventing it; under thick cloud the raw
  input is replaced by the prior before the network sees it, so a real cloud, whose brightness and
  texture the training simulator cannot match, is filled from its surroundings and never "seen
  through" (a model that read real thick cloud as haze left it pale beige). Real masks
  (ukis-csmask, s2cloudless) label every cloud thick, so on real scenes only shadows and SCL's
  cirrus are read through. ``mask_encoding="binary"`` (0/1 channel, releases made before) gives
  the network the raw input under every masked pixel.
* **The prior under thick cloud comes with the input.** With ``opacity`` the caller puts the prior
  under thick cloud (training: the sample's own relaxed push-pull fill; the removal pipeline:
  :func:`~cloudfree.models.push_pull.background_prior` over the scene-wide clear-sky background of
  :mod:`cloudfree.inference.background`, so clouds larger than a tile are filled consistently
  across tiles); the network keeps it as its base and fills thin cloud and shadow from clear and
  thick pixels alike.
* **Only where the ground shows** (``thick_residual=False``, the default models since their third
  round): under thick cloud the output is the prior; a residual there can only continue texture
  from the edge, and on training-side windows it lowered SSIM (invented texture, shifted level).
* **What the thin rim shows reaches into the thick core** (``thick_refill_levels``, the default
  releases since their fourth): clouds have soft edges, and the ground the model restores under
  the thin rim is nearer the core than the clear pixels the prior comes from. Its correction
  (output - prior) is spread into the thick pixels by a push-pull limited to a few levels (about
  16 px for 4): local, no weights, +0.4-0.5 dB in cloud pixels on training-side windows. It acts
  in eval mode only (inside the training loop it lowered PSNR on the Slovenia windows).
* **Gain times detail under thin cloud and shadow** (``detail_gain=True``): the ground there is
  ``(signal - offset) / transmittance``, so its detail is the signal's local detail
  (:func:`local_detail`) times a gain that follows the cloud's optical depth. A ReLU network forms
  such products poorly; the model adds ``gain(features) * detail`` explicitly, with the gain read
  from the U-Net's features (zero-initialised, so a model without it is the starting point).
* **A classical shadow estimate, gated** (``ratio_box``, the default releases since their fifth):
  in a shadow the ground is the signal divided by a factor that changes slowly across the shadow,
  so ``signal * mean(prior) / mean(signal)`` over the shadow pixels of a ``ratio_box`` box
  restores its level and keeps its texture (the classical mean-matching shadow compensation). It
  is wrong under thin cloud (an added haze, not a factor), and the mask channel codes both 0.5;
  the see-through pixels whose blue band (``ratio_band``) is darker than the prior are taken as
  shadow (a shadow only darkens; haze brightens the blue over any ground but snow: on the
  training-side windows 80-100 % of the shadow pixels and under 1 % of the thin-cloud ones, snow
  aside). There a per-pixel, per-band gate read from the U-Net's features and the box's log ratio
  blends it in: ``out += shadow * gate * (estimate - out)``, zero-initialised and fine-tuned alone
  (the rest frozen): shadow-pixel PSNR +0.5 to +1.9 dB on every training-side window (box means
  over haze and shadow mixed made it worse than either).
* **Bands that see no ground take the fill** (``fill_bands``: default-l1c13's cirrus band B10):
  water vapour absorbs the ground's light at 1375 nm, so the fill from clear pixels is the clear-sky
  value; a residual trained on a band that weighs nothing in the loss drove it to 0 under shadows.
* **No checkerboards by construction.** Down-sampling is average pooling, up-sampling is bilinear
  resize followed by 3x3 convolutions (Odena et al. 2016, "Deconvolution and checkerboard
  artifacts"): no transposed convolution, so no kernel-overlap pattern at periods 2/4/8/16 px.
* **No normalisation layers**, so a pixel's output does not depend on the statistics of the tile it
  happens to fall in (tiles of any size, seamless streaming).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from cloudfree.masks import MASK_ENCODINGS
from cloudfree.models.masked_stats import local_detail, shadow_estimate
from cloudfree.models.prior_unet_blocks import UpBlock, conv_block
from cloudfree.models.push_pull import _sum2x2, push_pull_fill, spread_into_gaps


class PriorResidualUNet(nn.Module):
    """Residual U-Net over :func:`~cloudfree.models.push_pull.push_pull_fill` (see the module docstring).

    Args:
        in_channels: optical bands + 1 (the mask channel, last).
        out_channels: output bands; they are the first ``out_channels`` optical input bands unless
            ``prior_channels`` says which input channels carry them.
        ngf: filters at full resolution; level ``i`` has ``ngf * 2**i`` (capped at ``8 * ngf``).
        depth: number of 2x down-sampling levels (H and W must be multiples of ``2**depth``).
        mask_channel: index of the mask channel in the input (default: the last one).
        prior_channels: input channel index of each output band.
        mask_encoding: ``binary`` or ``opacity`` (:data:`cloudfree.masks.MASK_ENCODINGS`, see above).
        thick_residual: with ``opacity``, whether the learned residual is added under thick cloud too
            (True, releases made before) or only where the ground shows, under thin cloud and shadow
            (False: thick cloud keeps the prior).
        detail_gain: with ``opacity``, add a learned per-pixel gain times the local detail of the
            attenuated signal under thin cloud and shadow (see :func:`local_detail`); False: releases
            made before.
        thick_refill_levels: with ``opacity`` and ``thick_residual=False``, carry what the model
            restored under thin cloud and shadow into the thick cloud next to it: the correction
            (output - prior) of the see-through and clear pixels (zero on clear ones) is spread into
            the thick pixels by :func:`push_pull_fill` with this many levels (reach about
            ``2**levels`` px, zero beyond); 0: off (releases made before). No weights; applied in
            eval mode only (training optimises the network without it, as the releases were).
        ratio_box: with ``opacity``, the box (px, odd) of the gated shadow estimate
            ``signal * mean(prior) / mean(signal)`` (see the module docstring); 0: off (releases
            made before).
        ratio_band: index among the output bands of the blue band, which tells shadow (darker than
            the prior) from haze (brighter).
        fill_bands: indices among the output bands whose output is the classical fill in every
            masked pixel (no residual, no refill, no shadow estimate): bands that see no ground, such
            as the cirrus band B10; empty: none (releases made before). No weights of its own.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        ngf: int = 16,
        depth: int = 4,
        mask_channel: int = -1,
        prior_channels: Sequence[int] | None = None,
        mask_encoding: str = "binary",
        thick_residual: bool = True,
        detail_gain: bool = False,
        thick_refill_levels: int = 0,
        ratio_box: int = 0,
        ratio_band: int = 0,
        fill_bands: Sequence[int] = (),
    ) -> None:
        super().__init__()
        if in_channels < 2:
            raise ValueError(f"PriorResidualUNet needs optical bands and a mask channel, got {in_channels} channels")
        if depth < 1:
            raise ValueError(f"PriorResidualUNet needs depth >= 1, got {depth}")
        if mask_encoding not in MASK_ENCODINGS:
            raise ValueError(f"unknown mask_encoding {mask_encoding!r}; expected one of {list(MASK_ENCODINGS)}")
        self.mask_encoding = mask_encoding
        # Under thick cloud there is no signal: a residual there can only continue texture from the
        # edges. Measured on training-side windows it lowered SSIM more often than it raised it (the
        # small network invents texture and shifts the level over dark ground), so the default
        # releases keep the prior there and learn only where the ground shows.
        self.thick_residual = bool(thick_residual)
        # the thick prior is filled from clear pixels only; the ground restored under the thin rim
        # around a thick core is nearer and says more about it (measured on training-side windows)
        self.thick_refill_levels = int(thick_refill_levels) if mask_encoding == "opacity" and not thick_residual else 0
        if thick_refill_levels < 0:
            raise ValueError(f"thick_refill_levels must be >= 0, got {thick_refill_levels}")
        self.in_channels, self.out_channels, self.depth = int(in_channels), int(out_channels), int(depth)
        self.mask_channel = int(mask_channel) % self.in_channels
        self.optical = [i for i in range(self.in_channels) if i != self.mask_channel]
        self.prior_channels = list(prior_channels) if prior_channels is not None else self.optical[:out_channels]
        if len(self.prior_channels) != out_channels or not set(self.prior_channels) <= set(self.optical):
            raise ValueError(f"prior_channels {self.prior_channels} must name {out_channels} optical input channels")
        n_opt = len(self.optical)

        def width(level: int) -> int:
            return ngf * min(2**level, 8)

        self.stem = nn.Sequential(conv_block(2 * n_opt + 1, width(0)), conv_block(width(0), width(0)))
        self.down = nn.ModuleList(
            nn.Sequential(conv_block(width(i - 1), width(i)), conv_block(width(i), width(i)))
            for i in range(1, depth + 1)
        )
        self.up = nn.ModuleList(UpBlock(width(i + 1), width(i), width(i)) for i in range(depth - 1, -1, -1))
        for m in self.modules():  # variance-preserving init, so the deep features reach the head at full scale
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, a=0.2, nonlinearity="leaky_relu")
                nn.init.zeros_(m.bias)
        self.head = nn.Conv2d(width(0), out_channels, 1)
        # a per-pixel branch (1x1 convolutions over filled, raw and mask): the ground under thin
        # cloud and shadow is mostly a per-pixel function of the attenuated signal and the prior,
        # which this branch learns in a few hundred steps, long before the U-Net's context does
        self.pixel = nn.Sequential(
            nn.Conv2d(2 * n_opt + 1, 4 * ngf, 1), nn.LeakyReLU(0.2, True), nn.Conv2d(4 * ngf, out_channels, 1)
        )
        # the ground under thin cloud and shadow is ``(signal - offset) / transmittance``: its detail is
        # the signal's detail times a gain ``1 / t`` that varies smoothly with the cloud. A ReLU network
        # forms such products poorly, so the product is explicit: a gain field read from the U-Net's
        # features (context: how thick the cloud is around the pixel) times the local detail.
        self.detail_gain = bool(detail_gain) and mask_encoding == "opacity"
        self.gain = nn.Conv2d(width(0), out_channels, 1) if self.detail_gain else None
        if ratio_box < 0 or (ratio_box and ratio_box % 2 == 0):
            raise ValueError(f"ratio_box must be 0 or an odd number of pixels, got {ratio_box}")
        self.ratio_box = int(ratio_box) if mask_encoding == "opacity" else 0
        if not 0 <= ratio_band < out_channels:
            raise ValueError(f"ratio_band must index one of the {out_channels} output bands, got {ratio_band}")
        self.ratio_band = int(ratio_band)
        self.fill_bands = sorted({int(b) for b in fill_bands})
        if any(not 0 <= b < out_channels for b in self.fill_bands):
            raise ValueError(f"fill_bands {list(fill_bands)} must index the {out_channels} output bands")
        # the gate sees the features and the box's log ratio per band (> 0 darker than around: shadow)
        self.ratio_gate = nn.Conv2d(width(0) + out_channels, out_channels, 1) if self.ratio_box else None
        for last in (self.head, self.pixel[-1], self.gain, self.ratio_gate):
            if last is not None:
                nn.init.zeros_(last.weight)
                nn.init.zeros_(last.bias)

    def _outputs_of(self, optical: torch.Tensor) -> torch.Tensor:
        """The output bands' channels of an optical ``(N, bands, H, W)`` tensor (a view when they lead)."""
        index = [self.optical.index(c) for c in self.prior_channels]
        if index == list(range(len(index))):
            return optical[:, : len(index)]
        return optical[:, index]

    @property
    def multiple(self) -> int:
        """H and W must be multiples of this."""
        return 2**self.depth

    def prior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(filled optical (N, bands, H, W), visible optical, mask channel, not clear (N, 1, H, W))``.

        ``visible`` is the raw input (under thick cloud the caller's prior with ``opacity``);
        ``not clear`` is 1 where the pixel is filled.
        """
        optical = x[:, self.optical]
        channel = x[:, self.mask_channel : self.mask_channel + 1]
        if self.mask_encoding == "opacity":  # the input under thick cloud is already the prior there
            mask = (channel > 0.25).to(x.dtype)
            see_through = mask * (channel <= 0.75).to(x.dtype)
            filled, visible = push_pull_fill(optical, 1.0 - see_through), optical
        else:
            mask = (channel > 0.5).to(x.dtype)
            channel, filled, visible = mask, push_pull_fill(optical, 1.0 - mask), optical
        return filled, visible, channel, mask

    def _shadow_correction(
        self, out: torch.Tensor, seen: torch.Tensor, base: torch.Tensor, see_through: torch.Tensor, y: torch.Tensor
    ) -> torch.Tensor | None:
        """``shadow * gate * (estimate - out)`` ``(N, out_bands, H, W)``: the gated shadow estimate's change.

        None when no see-through pixel is darker than the prior (no shadow).

        Computed per sample on the rows and columns that hold its shadow pixels only (exact: box sums
        count shadow pixels only and the gate is per pixel): most tiles' shadows are small, and one
        sample at a time keeps the temporaries of the full-tile case small.
        """
        b = self.ratio_band
        shadow = see_through * (seen[:, b : b + 1] < base[:, b : b + 1]).to(out.dtype)  # darker: shadow
        if not bool(shadow.any()):
            return None
        change = torch.zeros_like(out)
        for i in range(out.shape[0]):
            rows = torch.nonzero(shadow[i, 0].amax(dim=1)).flatten()
            if rows.numel() == 0:
                continue
            cols = torch.nonzero(shadow[i, 0].amax(dim=0)).flatten()
            crop = (
                slice(i, i + 1),
                slice(None),
                slice(int(rows[0]), int(rows[-1]) + 1),
                slice(int(cols[0]), int(cols[-1]) + 1),
            )
            estimate, log_ratio = shadow_estimate(seen[crop], base[crop], shadow[crop], self.ratio_box)
            gate = self.ratio_gate(torch.cat([y[crop], log_ratio], 1))
            change[crop] = shadow[crop] * gate * (estimate - out[crop])
        return change

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.in_channels:
            raise ValueError(f"PriorResidualUNet expects {self.in_channels} input channels, got {x.shape[1]}")
        if x.shape[-1] % self.multiple or x.shape[-2] % self.multiple:
            raise ValueError(
                f"PriorResidualUNet with depth {self.depth} needs H, W multiples of {self.multiple}; "
                f"got {tuple(x.shape[-2:])}"
            )
        filled, visible, channel, mask = self.prior(x)
        stacked = torch.cat([filled, visible, channel], 1)
        feats = [self.stem(stacked)]
        for block in self.down:
            feats.append(block(_sum2x2(feats[-1]) * 0.25))
        y = feats[-1]
        for block, skip in zip(self.up, reversed(feats[:-1]), strict=True):
            y = block(y, skip)
        base = self._outputs_of(filled)
        see_through = mask * (channel <= 0.75).to(x.dtype)  # thin cloud and shadow
        thick = mask - see_through
        if not self.thick_residual and self.mask_encoding == "opacity":
            mask = see_through
        out = base + mask * (self.head(y) + self.pixel(stacked))
        if self.gain is not None:
            out = out + see_through * self.gain(y) * local_detail(self._outputs_of(visible), see_through)
        if self.ratio_gate is not None and bool(see_through.any()):
            change = self._shadow_correction(out, self._outputs_of(visible), base, see_through, y)
            out = out if change is None else out + change
        # at inference only (eval mode): trained inside the loop, it lowered PSNR on held-in Slovenia windows
        refill = self.thick_refill_levels and not self.training
        if refill and bool(thick.any()) and bool(see_through.any()):  # else nothing to carry
            out = torch.addcmul(out, thick, spread_into_gaps(out - base, 1.0 - thick, self.thick_refill_levels))
        if self.fill_bands:  # bands that see no ground: the fill (on clear pixels ``base`` is the input)
            index = torch.tensor(self.fill_bands, device=out.device)
            out = out.index_copy(1, index, base.index_select(1, index))
        return out.clamp(-1.0, 1.0)
