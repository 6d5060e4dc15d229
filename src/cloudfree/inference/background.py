"""A scene-wide clear-sky background for the removal models' prior, so that no tile is filled blind.

The default removal models (``PriorResidualUNet``, ``mask_encoding="opacity"``) take the prior
under thick cloud with their input. Computed inside one tile, that prior has nothing to fill from
when the tile lies wholly under a cloud larger than itself (2.5 km at 10 m with 256 px tiles:
common for stratiform sheets and cumulus clusters on full scenes), and neighbouring tiles that see
different clear pixels extrapolate differently, which shows as steps at the tile period.

:func:`scene_background` reads the scene once by strips and averages its clear pixels (mask code
0, valid, finite; reflectance) over every ``block`` x ``block`` block, then fills the blocks with
no clear pixel by push-pull over the whole scene at that coarse resolution: a
:class:`SceneBackground` of ``ceil(H / block) x ceil(W / block)`` pixels per band, held in memory
(24 MB for a 13-band 10980 px scene at ``block=16``). :meth:`SceneBackground.tile` samples it
bilinearly (pixel centres, as GDAL would resample) over any tile of the scene's grid, and
:class:`~cloudfree.inference.runner.ModelRunner` builds the prior under thick cloud over it
(:func:`~cloudfree.models.prior_unet.background_prior`), from the tile positions the engine passes.

Memory while reading: one strip of ``block * STRIP_BLOCKS`` rows of the scene. No library offers a
masked block mean over a streamed multi-format input, hence the few lines of numpy here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from rasterio.windows import Window

from cloudfree.inference.sources import InputSpec, Source, as_float
from cloudfree.masks import CLEAR
from cloudfree.models.prior_unet import push_pull_fill

BLOCK = 16  # px of the scene per background pixel (160 m at 10 m)
STRIP_BLOCKS = 16  # block rows read at a time


@dataclass(frozen=True)
class SceneBackground:
    """A coarse clear-sky background: ``data`` ``(bands, ceil(H / block), ceil(W / block))`` reflectance."""

    data: np.ndarray
    bands: tuple[str, ...]
    block: int
    height: int
    width: int

    def tile(self, row: int, col: int, size: int) -> np.ndarray:
        """``(bands, size, size)`` float32 over scene pixels ``[row, row + size) x [col, col + size)``.

        Bilinear between block centres; outside the scene (padded tiles) the nearest edge value.
        """
        rows, cols = _axis(row, size, self.block, self.data.shape[1]), _axis(col, size, self.block, self.data.shape[2])
        (r0, r1, fr), (c0, c1, fc) = rows, cols
        top = self.data[:, r0][:, :, c0] * (1 - fc) + self.data[:, r0][:, :, c1] * fc
        bottom = self.data[:, r1][:, :, c0] * (1 - fc) + self.data[:, r1][:, :, c1] * fc
        return (top * (1 - fr)[:, None] + bottom * fr[:, None]).astype(np.float32)


def _axis(start: int, size: int, block: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower / upper coarse index and weight of the upper one for fine pixels ``start .. start + size``."""
    u = np.clip((np.arange(start, start + size) + 0.5) / block - 0.5, 0.0, n - 1.0)
    lo = np.floor(u).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    return lo, hi, (u - lo).astype(np.float32)


def scene_background(optical: InputSpec, mask: InputSpec, block: int = BLOCK) -> SceneBackground | None:
    """The clear-sky background of ``optical`` under ``mask`` (class codes); None when nothing is clear."""
    src = Source(optical)
    try:
        codes = Source(mask, grid=src.grid)
        try:
            sums, weights, bands = _block_sums(src, codes, block)
        finally:
            codes.close()
    finally:
        src.close()
    if not (weights > 0).any():
        return None
    coarse = np.where(weights > 0, sums / np.maximum(weights, 1e-12), 0.0).astype(np.float32)
    known = np.clip(weights / float(block * block), 0.0, 1.0).astype(np.float32)
    with torch.no_grad():
        filled = push_pull_fill(torch.from_numpy(coarse)[None], torch.from_numpy(known)[None, None])[0].numpy()
    return SceneBackground(filled.astype(np.float32), bands, block, src.grid.height, src.grid.width)


def _block_sums(src: Source, codes: Source, block: int) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Per block: sum of clear reflectance ``(bands, bh, bw)`` and count of clear pixels ``(bh, bw)``."""
    height, width = src.grid.height, src.grid.width
    bh, bw = -(-height // block), -(-width // block)
    sums: np.ndarray | None = None
    weights = np.zeros((bh, bw), np.float64)
    bands: tuple[str, ...] = ()
    step = block * STRIP_BLOCKS
    for top in range(0, height, step):
        rows = min(step, height - top)
        window = Window(0, top, width, rows)
        raster = src.read(window)
        refl = as_float(raster, True)
        clear = raster.valid & (codes.read(window).data[0] == CLEAR) & np.isfinite(refl).all(axis=0)
        if sums is None:
            bands = raster.bands
            sums = np.zeros((refl.shape[0], bh, bw), np.float64)
        pad_r, pad_c = (-rows) % block, (-width) % block
        w = np.pad(clear.astype(np.float64), ((0, pad_r), (0, pad_c)))
        x = np.pad(np.where(clear, refl, np.float32(0.0)), ((0, 0), (0, pad_r), (0, pad_c)))
        r0, nr = top // block, (rows + pad_r) // block
        weights[r0 : r0 + nr] += w.reshape(nr, block, bw, block).sum(axis=(1, 3))
        sums[:, r0 : r0 + nr] += x.reshape(x.shape[0], nr, block, bw, block).sum(axis=(2, 4), dtype=np.float64)
    assert sums is not None
    return sums, weights, bands
