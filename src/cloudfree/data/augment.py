"""Paired geometric augmentation: one random transform applied identically to every image of a sample.

A training sample (docs/ARCHITECTURE.md) holds several co-registered images (``cloudy``, ``clear``,
``mask``, ``sar``, ``prev_optical``, ``prev_sar``, ``image``, ``labels``); any geometric change must
hit all of them the same way or the pair stops being a pair. :class:`PairedAugment` draws the
parameters once per sample from a ``numpy.random.Generator`` (so datasets can make it deterministic
per index) and applies:

* one of the 8 dihedral transforms (rotation by k x 90 degrees, optionally followed by a flip; for
  non-square patches only the 4 that keep the shape), exact and lossless;
* with probability ``p`` each, a shear (``shear`` = maximum angle in degrees on each axis) and a
  perspective skew (``skew`` = distortion scale 0..1, as torchvision's ``RandomPerspective``), via
  ``torchvision.transforms.v2.functional`` with bilinear interpolation for images and NEAREST for
  ``mask``/``labels``. Areas the warp fills from outside the patch become 0 in images, 255 (ignore)
  in ``labels``, and a ``valid`` key ``(1, H, W)`` (1 = real pixel, 0 = filled or blended with the
  fill) is added to every sample when shear or skew is enabled, so that losses can ignore the
  filled border. (``valid`` is an addition to the sample keys of docs/ARCHITECTURE.md.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torchvision.transforms.v2.functional as tvf
from torchvision.transforms import InterpolationMode

IMAGE_KEYS = ("cloudy", "clear", "sar", "prev_optical", "prev_sar", "image")
NEAREST_KEYS = ("mask", "labels", "valid")
IGNORE_INDEX = 255


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """Dihedral transform ``k`` (0..7) of the last two axes: ``rot90`` ``k % 4`` times, then flip if ``k >= 4``."""
    if not 0 <= k < 8:
        raise ValueError(f"dihedral transform index must be 0..7, got {k}")
    out = torch.rot90(x, k % 4, dims=(-2, -1))
    return torch.flip(out, dims=(-1,)) if k >= 4 else out


def dihedral_inverse(x: torch.Tensor, k: int) -> torch.Tensor:
    """Inverse of :func:`dihedral` (undo the flip, then rotate back); for test-time augmentation too."""
    if not 0 <= k < 8:
        raise ValueError(f"dihedral transform index must be 0..7, got {k}")
    out = torch.flip(x, dims=(-1,)) if k >= 4 else x
    return torch.rot90(out, -(k % 4), dims=(-2, -1))


# Transforms that keep a non-square (H != W) shape: identity, rot180, flip, rot180 + flip.
SHAPE_KEEPING = (0, 2, 4, 6)


class PairedAugment:
    """Random paired augmentation of a sample dict (tensors ``(C, H, W)``; ``labels`` may be ``(H, W)``).

    Args:
        rotations_flips: draw one of the 8 dihedral transforms (uniformly, identity included).
        shear: maximum shear angle in degrees (x and y drawn independently in ``[-shear, shear]``); 0 off.
        skew: perspective distortion scale 0..1 (corner displacement as a fraction of half the size); 0 off.
        p: probability of applying the shear, and independently the skew, to a sample.
        keys: image keys to transform with bilinear interpolation (default: all known image keys);
            ``mask`` and ``labels`` are always transformed with nearest neighbour.
    """

    def __init__(
        self,
        rotations_flips: bool = True,
        shear: float = 0.0,
        skew: float = 0.0,
        p: float = 0.5,
        keys: Sequence[str] = IMAGE_KEYS,
    ) -> None:
        if shear < 0 or shear >= 90:
            raise ValueError(f"shear must be an angle in degrees in [0, 90), got {shear}")
        if not 0 <= skew <= 1:
            raise ValueError(f"skew must be a distortion scale in [0, 1], got {skew}")
        if not 0 <= p <= 1:
            raise ValueError(f"p must be a probability in [0, 1], got {p}")
        self.rotations_flips = rotations_flips
        self.shear = float(shear)
        self.skew = float(skew)
        self.p = float(p)
        self.keys = tuple(keys)

    @property
    def warps(self) -> bool:
        """True when shear or skew can fill pixels (a ``valid`` key is then added to samples)."""
        return self.shear > 0 or self.skew > 0

    def __repr__(self) -> str:
        return (
            f"PairedAugment(rotations_flips={self.rotations_flips}, shear={self.shear}, skew={self.skew}, p={self.p})"
        )

    # -- parameters ----------------------------------------------------------------------------------
    def draw(self, height: int, width: int, rng: np.random.Generator) -> dict[str, Any]:
        """Random parameters for one sample: dihedral index, shear angles, perspective end points."""
        params: dict[str, Any] = {"k": 0, "shear": None, "perspective": None}
        if self.rotations_flips:
            params["k"] = int(rng.integers(8)) if height == width else int(rng.choice(SHAPE_KEEPING))
        if self.shear > 0 and rng.random() < self.p:
            params["shear"] = [float(v) for v in rng.uniform(-self.shear, self.shear, size=2)]
        if self.skew > 0 and rng.random() < self.p:
            half_w, half_h = self.skew * width / 2, self.skew * height / 2
            corners = [[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]]
            signs = [(1, 1), (-1, 1), (-1, -1), (1, -1)]  # move each corner inwards
            end = [
                [round(cx + sx * rng.uniform(0, half_w)), round(cy + sy * rng.uniform(0, half_h))]
                for (cx, cy), (sx, sy) in zip(corners, signs, strict=True)
            ]
            params["perspective"] = (corners, end)
        return params

    # -- application -----------------------------------------------------------------------------------
    def apply(self, sample: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        """Apply drawn parameters to every image key of ``sample`` (other keys pass through)."""
        out = dict(sample)
        for key in (*self.keys, *NEAREST_KEYS):
            if key in out and isinstance(out[key], torch.Tensor):
                out[key] = self._transform(out[key], params, nearest=key in NEAREST_KEYS, fill=0)
        if self.warps:
            shape = self._shape_of(sample)
            if shape is not None:
                # bilinear warp of ones: < 1 wherever an image pixel mixed in fill values
                ones = self._warp(torch.ones((1, *shape), dtype=torch.float32), params, nearest=False, fill=0)
                filled = (ones >= 1.0 - 1e-4).float()
                valid = out["valid"].float() * filled if "valid" in out else filled
                out["valid"] = valid
                if "labels" in out:
                    out["labels"] = torch.where(valid[0] > 0, out["labels"], IGNORE_INDEX).to(out["labels"].dtype)
        return out

    def __call__(self, sample: dict[str, Any], rng: np.random.Generator | None = None) -> dict[str, Any]:
        rng = rng if rng is not None else np.random.default_rng()
        shape = self._shape_of(sample)
        if shape is None:
            return sample
        return self.apply(sample, self.draw(shape[0], shape[1], rng))

    # -- helpers -------------------------------------------------------------------------------------
    def _shape_of(self, sample: dict[str, Any]) -> tuple[int, int] | None:
        for key in (*self.keys, *NEAREST_KEYS):
            value = sample.get(key)
            if isinstance(value, torch.Tensor):
                return (int(value.shape[-2]), int(value.shape[-1]))
        return None

    def _transform(self, x: torch.Tensor, params: dict[str, Any], nearest: bool, fill: float) -> torch.Tensor:
        out = dihedral(x, params["k"])
        return self._warp(out, params, nearest, fill)

    @staticmethod
    def _warp(x: torch.Tensor, params: dict[str, Any], nearest: bool, fill: float) -> torch.Tensor:
        if params["shear"] is None and params["perspective"] is None:
            return x
        squeeze = x.ndim == 2
        out = x[None] if squeeze else x
        mode = InterpolationMode.NEAREST if nearest else InterpolationMode.BILINEAR
        if params["shear"] is not None:
            out = tvf.affine(
                out, angle=0.0, translate=[0, 0], scale=1.0, shear=params["shear"], interpolation=mode, fill=fill
            )
        if params["perspective"] is not None:
            start, end = params["perspective"]
            out = tvf.perspective(out, startpoints=start, endpoints=end, interpolation=mode, fill=fill)
        return out[0] if squeeze else out
