"""Per-band normalisation of model inputs: computed, saved, reloaded, and applied to pairs.

A :class:`Normalization` is an affine map per band, ``x_norm = (x - offset) / scale``, optionally
clipped to ``clip`` after scaling. Three ways to compute it:

* ``fixed``: reflectance 0..``max_reflectance`` -> -1..1 (the GAN convention with a tanh output);
* ``zscore``: mean / standard deviation of valid pixels;
* ``percentile``: the ``low``/``high`` percentiles of valid pixels mapped to 0..1.

*Paired* normalisation computes one set of statistics over both members of a cloudy/clear pair and
applies it to both, so that the brightness difference a cloud makes is not normalised away.
The statistics are saved as JSON and travel inside released model configs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cloudfree import bands as bandcat
from cloudfree.errors import CloudfreeError


class NormalizationMismatch(CloudfreeError, ValueError):
    """The data's bands or normalisation do not match what a model was trained with."""


@dataclass(frozen=True)
class Normalization:
    """Affine per-band scaling. ``offset`` and ``scale`` have one value per band in ``bands``."""

    bands: tuple[str, ...]
    offset: tuple[float, ...]
    scale: tuple[float, ...]
    method: str = "fixed"
    clip: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not (len(self.bands) == len(self.offset) == len(self.scale)):
            raise ValueError(f"normalisation needs one offset and scale per band, got {self}")
        if any(s == 0 for s in self.scale):
            raise ValueError(f"normalisation scale of zero for bands {self.bands}")

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def fixed(cls, bands: Sequence[str], max_reflectance: float = 1.0) -> Normalization:
        """Reflectance 0..max -> -1..1, clipped (suits tanh generators)."""
        half = max_reflectance / 2.0
        return cls(tuple(bands), (half,) * len(bands), (half,) * len(bands), "fixed", (-1.0, 1.0))

    @classmethod
    def identity(cls, bands: Sequence[str]) -> Normalization:
        return cls(tuple(bands), (0.0,) * len(bands), (1.0,) * len(bands), "identity", None)

    @classmethod
    def from_data(
        cls,
        arrays: Sequence[np.ndarray],
        bands: Sequence[str],
        method: str = "zscore",
        valid: Sequence[np.ndarray] | None = None,
        low: float = 2.0,
        high: float = 98.0,
    ) -> Normalization:
        """Statistics over the valid pixels of one or several ``(bands, h, w)`` arrays.

        Passing both members of a cloudy/clear pair gives *paired* normalisation.
        """
        if not arrays:
            raise ValueError("no data to compute normalisation statistics from")
        n = len(bands)
        samples = []
        for i, arr in enumerate(arrays):
            if arr.shape[0] != n:
                raise NormalizationMismatch(f"array {i} has {arr.shape[0]} bands, expected {n} {list(bands)}")
            flat = arr.reshape(n, -1).astype(np.float64)
            if valid is not None:
                flat = flat[:, valid[i].reshape(-1)]
            samples.append(flat)
        values = np.concatenate(samples, axis=1)
        if values.shape[1] == 0:
            raise ValueError("no valid pixels to compute normalisation statistics from")
        if method == "zscore":
            offset = values.mean(axis=1)
            scale = np.maximum(values.std(axis=1), 1e-6)
            clip = None
        elif method == "percentile":
            lo = np.percentile(values, low, axis=1)
            hi = np.percentile(values, high, axis=1)
            offset, scale, clip = lo, np.maximum(hi - lo, 1e-6), (0.0, 1.0)
        else:
            raise ValueError(f"unknown normalisation method {method!r}; expected zscore or percentile")
        return cls(tuple(bands), tuple(map(float, offset)), tuple(map(float, scale)), method, clip)

    # -- application -----------------------------------------------------------------------------
    def _shaped(self, values: tuple[float, ...], like: Any) -> Any:
        shape = (len(values), 1, 1)
        if hasattr(like, "new_tensor"):  # torch tensor, (N, C, H, W) or (C, H, W)
            return like.new_tensor(values).reshape(shape)
        return np.asarray(values, dtype=np.float32).reshape(shape)

    def apply(self, x: Any) -> Any:
        """Normalise ``(C, H, W)`` or ``(N, C, H, W)`` numpy array or torch tensor."""
        out = (x - self._shaped(self.offset, x)) / self._shaped(self.scale, x)
        if self.clip is not None:
            out = out.clip(*self.clip)
        return out

    def invert(self, x: Any) -> Any:
        """Back from normalised values to the original units."""
        return x * self._shaped(self.scale, x) + self._shaped(self.offset, x)

    def select(self, wanted: Sequence[str]) -> Normalization:
        idx = bandcat.indices_of(self.bands, wanted, "normalisation")
        return Normalization(
            tuple(wanted), tuple(self.offset[i] for i in idx), tuple(self.scale[i] for i in idx), self.method, self.clip
        )

    def check_matches(self, other: Normalization, what: str = "data") -> None:
        """Refuse a mismatch with a message naming both sides."""
        if self.bands != other.bands:
            raise NormalizationMismatch(
                f"{what}: bands differ: model expects {list(self.bands)}, {what} has {list(other.bands)}"
            )
        if self.method != other.method or not (
            np.allclose(self.offset, other.offset, rtol=1e-5) and np.allclose(self.scale, other.scale, rtol=1e-5)
        ):
            raise NormalizationMismatch(
                f"{what}: normalisation differs: model expects {self.to_dict()}, {what} uses {other.to_dict()}"
            )

    # -- persistence -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "bands": list(self.bands),
            "offset": list(self.offset),
            "scale": list(self.scale),
            "method": self.method,
            "clip": list(self.clip) if self.clip is not None else None,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Normalization:
        clip = d.get("clip")
        return cls(
            tuple(bandcat.canonical(b) for b in d["bands"]),
            tuple(float(v) for v in d["offset"]),
            tuple(float(v) for v in d["scale"]),
            str(d.get("method", "fixed")),
            (float(clip[0]), float(clip[1])) if clip is not None else None,
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Normalization:
        return cls.from_dict(json.loads(Path(path).read_text()))
