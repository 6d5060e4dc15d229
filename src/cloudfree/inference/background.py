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
(:func:`~cloudfree.models.push_pull.background_prior`), from the tile positions the engine passes.

Memory while reading: one strip of ``block * STRIP_BLOCKS`` rows of the scene. No library offers a
masked block mean over a streamed multi-format input, hence the few lines of numpy here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import rasterio
import torch
from rasterio.windows import Window

from cloudfree.inference.sources import InputSpec, Source, as_float
from cloudfree.inference.streaming import CACHE_BYTES
from cloudfree.io.memory import limit_heap_arenas
from cloudfree.masks import CLEAR
from cloudfree.models.push_pull import push_pull_fill
from cloudfree.radiometry import QUANTIFICATION, Radiometry

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
        Separable: the few coarse rows the tile touches are interpolated along columns first, then
        along rows (the same products and sums per pixel as interpolating the four corners).
        """
        (r0, r1, fr), (c0, c1, fc) = (
            _axis(row, size, self.block, self.data.shape[1]),
            _axis(col, size, self.block, self.data.shape[2]),
        )
        lo, hi = int(r0[0]), int(r1[-1]) + 1
        coarse = self.data[:, lo:hi]  # (bands, coarse rows touched, coarse width)
        across = coarse[:, :, c0] * (1 - fc) + coarse[:, :, c1] * fc  # (bands, coarse rows, size)
        top, bottom = across[:, r0 - lo], across[:, r1 - lo]
        return (top * (1 - fr)[:, None] + bottom * fr[:, None]).astype(np.float32)


def _axis(start: int, size: int, block: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower / upper coarse index and weight of the upper one for fine pixels ``start .. start + size``."""
    u = np.clip((np.arange(start, start + size) + 0.5) / block - 0.5, 0.0, n - 1.0)
    lo = np.floor(u).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    return lo, hi, (u - lo).astype(np.float32)


def scene_background(optical: InputSpec, mask: InputSpec, block: int = BLOCK) -> SceneBackground | None:
    """The clear-sky background of ``optical`` under ``mask`` (class codes); None when nothing is clear.

    Read with the engine's GDAL block cache (GDAL's default, 5 % of RAM, would fill with the whole
    scene) and GDAL's multi-threaded block decoding (``GDAL_NUM_THREADS``, default all CPUs: nothing
    else runs during this pass).
    """
    threads = os.environ.get("GDAL_NUM_THREADS", "ALL_CPUS")
    limit_heap_arenas()  # before GDAL's decoding threads allocate (cloudfree.io.memory)
    with rasterio.Env(GDAL_CACHEMAX=CACHE_BYTES, GDAL_NUM_THREADS=threads):
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
    """Per block: sum of clear reflectance ``(bands, bh, bw)`` and count of clear pixels ``(bh, bw)``.

    DN inputs are summed as integers and converted once per block (reflectance is linear in DN, so
    the block mean is ``(mean DN + offset) / 10000``); partial blocks at the right and bottom edges
    are summed by ``np.add.reduceat`` without padding.
    """
    height, width = src.grid.height, src.grid.width
    bh, bw = -(-height // block), -(-width // block)
    sums: np.ndarray | None = None
    weights = np.zeros((bh, bw), np.float64)
    bands: tuple[str, ...] = ()
    step = block * STRIP_BLOCKS
    col_starts = np.arange(0, width, block)
    offset: np.ndarray | None = None
    for top in range(0, height, step):
        rows = min(step, height - top)
        window = Window(0, top, width, rows)
        raster = src.read(window)
        clear = raster.valid & (codes.read(window).data[0] == CLEAR)
        if raster.radiometry is Radiometry.DN and np.issubdtype(raster.data.dtype, np.integer):
            values, dtype = np.where(clear, raster.data, 0), np.int64  # DN; the offset is added per block below
            offset = np.asarray(raster.dn_offset, np.float64)
        else:
            refl = as_float(raster, True)
            clear &= np.isfinite(refl).all(axis=0)
            values, dtype = np.where(clear, refl, np.float32(0.0)), np.float64
        if sums is None:
            bands = raster.bands
            sums = np.zeros((values.shape[0], bh, bw), np.float64)
        r0, row_starts = top // block, np.arange(0, rows, block)
        n = np.add.reduceat(np.add.reduceat(clear, col_starts, axis=1, dtype=np.int64), row_starts, axis=0)
        part = np.add.reduceat(np.add.reduceat(values, col_starts, axis=2, dtype=dtype), row_starts, axis=1)
        weights[r0 : r0 + len(row_starts)] += n
        sums[:, r0 : r0 + len(row_starts)] += part
    assert sums is not None
    if offset is not None:  # sum of reflectance = (sum of DN + n * offset) / 10000
        sums = (sums + weights[None] * offset[:, None, None]) / QUANTIFICATION
    return sums, weights, bands
