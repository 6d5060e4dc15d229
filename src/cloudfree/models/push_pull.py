"""Classical gap filling in torch: push-pull (``push_pull_fill``) and a fill over a background (``background_prior``).

The removal models' prior (:mod:`cloudfree.models.prior_unet`), the engine's prior under thick
cloud (:mod:`cloudfree.inference.runner`), the scene-wide background
(:mod:`cloudfree.inference.background`) and the bench's "push-pull prior" baseline all fill with
these. Push-pull (Gortler et al. 1996, "pull-push") is a multi-scale normalised convolution: O(pixels),
no parameters, any hole and tile size. Written here in a few tensor operations because no library
offers a masked pyramid fill on batched torch tensors (scikit-image's inpainting is per image, on
the CPU, and orders of magnitude slower).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def push_pull_fill(x: torch.Tensor, known: torch.Tensor, eps: float = 1e-6, levels: int | None = None) -> torch.Tensor:
    """Fill unknown pixels of ``x`` ``(N, C, H, W)`` from the known ones (``known`` ``(N, 1, H, W)`` in 0..1).

    Pull: down a 2x pyramid, ``x' = sum(w x) / sum(w)``, ``w' = min(1, sum(w))`` over 2x2 blocks.
    Push: back up, ``x = w x + (1 - w) * bilinear_up(x')``. Known pixels (``w = 1``) are returned
    unchanged; a tile with no known pixel at all comes back as zeros (mid-range in -1..1 units).
    ``levels`` stops the pyramid after that many 2x reductions and takes zero where its top level
    knows nothing: known values then reach only about ``2**levels`` px into a gap and fade to zero
    beyond (for spreading corrections that must stay local).
    """
    xs, ws, sizes = [], [], []
    cur_w = known.clamp(0.0, 1.0)
    cur_x = torch.where(cur_w > 0, x, torch.zeros_like(x))
    while True:
        xs.append(cur_x)
        ws.append(cur_w)
        h, w = cur_x.shape[-2:]
        sizes.append((h, w))
        if (h <= 1 and w <= 1) or (levels is not None and len(xs) > levels):
            xs[-1] = cur_w * cur_x  # unknown at the top: zero
            break
        pad = (0, w % 2, 0, h % 2)
        weighted = cur_x * cur_w
        if any(pad):  # odd sizes only: padding copies the level
            weighted, cur_w = F.pad(weighted, pad), F.pad(cur_w, pad)
        sx, sw = _sum2x2(weighted), _sum2x2(cur_w)
        cur_x = sx / sw.clamp_min(eps)
        cur_w = sw.clamp(max=1.0)
    out = xs[-1]
    for level in range(len(xs) - 2, -1, -1):
        h, w = sizes[level]
        up = F.interpolate(out, scale_factor=2.0, mode="bilinear", align_corners=False)[..., :h, :w]
        if up.shape[-2:] != (h, w):  # 1-pixel-wide levels
            up = F.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)
        out = ws[level] * xs[level] + (1.0 - ws[level]) * up
    return out


def _sum2x2(x: torch.Tensor) -> torch.Tensor:
    """Sums over 2x2 blocks of ``(N, C, H, W)`` (H, W even): strided adds, several times faster on CPU than
    ``avg_pool2d(x, 2) * 4`` (equal up to float rounding)."""
    return (x[..., ::2, ::2] + x[..., ::2, 1::2]) + (x[..., 1::2, ::2] + x[..., 1::2, 1::2])


def background_prior(x: torch.Tensor, clear: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """Prior over a background ``B`` ``(N, C, H, W)``: ``B + push_pull_fill(x - B, clear)``.

    The clear pixels' departure from the background is spread into the gaps, so the prior follows
    the clear pixels near them and the background far from them; clear pixels are returned
    unchanged, a tile with no clear pixel returns ``B``, and ``B`` equal to the truth returns it.
    """
    return background + push_pull_fill(x - background, clear)
