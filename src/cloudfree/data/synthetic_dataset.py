"""Training pairs made on the fly: random crops of clear scenes plus simulated clouds.

Samples follow the contract of :mod:`cloudfree.data.dataset` (the shared helpers live there):
``cloudy``, ``clear`` reflectance, ``mask`` (1 cloud or shadow), ``labels`` (class codes) and ``meta``.
Randomness comes from ``numpy.random.default_rng([seed, epoch, index])``, as for the other datasets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from cloudfree import bands as bandcat
from cloudfree.data import dataset as base
from cloudfree.data.pairing import scene_id
from cloudfree.raster import Raster

# the cloud simulator hook: simulate(clear (C, H, W) reflectance, bands, rng) -> (cloudy, mask codes (H, W))
SimulateHook = Callable[[np.ndarray, tuple[str, ...], np.random.Generator], tuple[np.ndarray, np.ndarray]]


class SyntheticCloudDataset(base.SeededDataset):
    """Pairs made on the fly from clear scenes: a random crop of a clear raster plus simulated clouds.

    Args:
        clear_rasters: clear Sentinel-2 rasters (DN or reflectance, any grids), each at least ``patch`` px.
        patch: crop size in pixels.
        samples_per_epoch: length of the dataset.
        simulate: the cloud simulator hook ``simulate(clear, bands, rng) -> (cloudy, mask)`` with
            ``clear`` ``(C, H, W)`` float32 reflectance, ``bands`` the canonical names, ``rng`` a
            ``numpy.random.Generator``; it returns ``cloudy`` ``(C, H, W)`` reflectance and ``mask``
            ``(H, W)`` uint8 class codes (0 clear, 1 thick, 2 thin, 3 shadow).
        augment: paired augmentation applied after simulation.
        seed: base seed (see module docstring).
        bands: optical bands to use (default: the first raster's; all rasters must have them).
        max_nodata: maximum fraction of invalid pixels in a crop.
        scene_exponent: a scene is drawn with probability proportional to its number of allowed crop
            positions to this power: 1 (default) is uniform over all positions, so a large scene
            dominates; 0 draws every scene equally often; in between evens them out (temperature
            sampling as in multilingual training, Conneau et al. 2020, XLM-R: 0.3), so that a small
            scene of a kind the large ones lack (dark forest among arid and tropical scenes) is seen.
    """

    def __init__(
        self,
        clear_rasters: Sequence[Raster],
        patch: int,
        samples_per_epoch: int,
        simulate: SimulateHook,
        augment: base.Augment | None = None,
        seed: int = 0,
        bands: str | Sequence[str] | None = None,
        max_nodata: float = 0.0,
        scene_exponent: float = 1.0,
    ) -> None:
        if not clear_rasters:
            raise ValueError("SyntheticCloudDataset needs at least one clear raster")
        if not callable(simulate):
            raise TypeError(f"simulate must be a callable (clear, bands, rng) -> (cloudy, mask), got {simulate!r}")
        wanted = bandcat.resolve(bands) if bands is not None else clear_rasters[0].bands
        self.rasters = [r.select(wanted).to_reflectance() for r in clear_rasters]
        self.bands = tuple(wanted)
        self.patch = int(patch)
        self.samples_per_epoch = int(samples_per_epoch)
        self.simulate = simulate
        self.augment, self.seed, self.epoch = augment, int(seed), 0
        self.samplers = [base.CropSampler(r.valid, self.patch, max_nodata, r.source) for r in self.rasters]
        if not 0.0 <= scene_exponent <= 1.0:
            raise ValueError(f"scene_exponent must be within 0..1, got {scene_exponent}")
        counts = np.array([s.count for s in self.samplers], dtype=np.float64) ** float(scene_exponent)
        self.weights = counts / counts.sum()  # then uniform over a scene's allowed crop positions

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = self._rng(index)
        which = int(rng.choice(len(self.rasters), p=self.weights))
        raster = self.rasters[which]
        row, col = self.samplers[which].draw(rng)
        rows, cols = slice(row, row + self.patch), slice(col, col + self.patch)
        clear = base.zero_invalid(raster.data[:, rows, cols], raster.valid[rows, cols])
        cloudy, codes = self.simulate(clear.copy(), self.bands, rng)
        cloudy, codes = np.asarray(cloudy), np.asarray(codes)
        if cloudy.shape != clear.shape or codes.shape != clear.shape[1:]:
            raise ValueError(
                f"cloud simulator {self.simulate!r} returned cloudy {cloudy.shape} and mask {codes.shape}; "
                f"expected {clear.shape} and {clear.shape[1:]}"
            )
        sample: dict[str, Any] = {
            "cloudy": base.as_tensor(cloudy),
            "clear": base.as_tensor(clear),
            **base.mask_targets(codes, raster.valid[rows, cols]),
            "meta": {
                "scene": scene_id(raster.source),
                "window": (row, col, self.patch, self.patch),
                "path": raster.source,
                "bands": self.bands,
            },
        }
        return self._finish(sample, rng)
