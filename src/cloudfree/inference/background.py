"""A scene-wide clear-sky background for the removal models' prior, so that no tile is filled blind.

The default removal models (``PriorResidualUNet``, ``mask_encoding="opacity"``) fill thick cloud
from a push-pull prior computed inside each tile. A tile that lies wholly under a cloud larger
than a tile (2.5 km at 10 m with 256 px tiles: common for stratiform sheets and cumulus clusters
on full scenes) has no clear pixel to fill from, and neighbouring tiles that see different clear
pixels extrapolate differently, which shows as steps at the tile period. The network therefore
also gives the raw input under thick cloud a tiny weight in its prior (``BACKGROUND_WEIGHT``): any
clear pixel of the tile outweighs it, but where a tile has (almost) none, the prior follows those
values. This module supplies them: :func:`write_background` reads the scene once by strips,
averages the clear pixels of every ``block`` x ``block`` block (reflectance; the mask's code 0 and
valid data only), fills the blocks without clear pixels by the same push-pull over the whole
scene at that coarse resolution, and writes the result as a small float32 reflectance GeoTIFF on a
grid ``block`` times coarser (same CRS and origin). The engine reads it as one more input,
reprojected (bilinear) onto the scene grid, and :class:`~cloudfree.inference.runner.ModelRunner`
puts it in place of the input under thick cloud.

Memory: one strip of ``block`` rows of the scene plus the coarse arrays (a 10980 px scene at
``block=16`` is 687 x 687 per band). No library offers a masked block mean over a streamed
multi-format input, hence the few lines of numpy here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from affine import Affine
from rasterio.windows import Window

from cloudfree.inference.sources import InputSpec, Source, as_float
from cloudfree.io import write_raster
from cloudfree.masks import CLEAR
from cloudfree.models.prior_unet import push_pull_fill
from cloudfree.radiometry import Radiometry
from cloudfree.raster import Raster

BLOCK = 16  # px of the scene per background pixel (160 m at 10 m)
STRIP_BLOCKS = 16  # block rows read at a time


def write_background(optical: InputSpec, mask: InputSpec, path: Path, block: int = BLOCK) -> Path | None:
    """Write the clear-sky background of ``optical`` under ``mask`` to ``path``; None when nothing is clear
    or the scene has no CRS (then each tile's prior rests on its own clear pixels alone).

    ``optical``: the scene's model bands (reflectance after DN conversion); ``mask``: class codes on
    the same grid (any other grid is put onto it by the engine's reader). Output: ``(bands, ceil(H /
    block), ceil(W / block))`` float32 reflectance, band names of ``optical``.
    """
    src = Source(optical)
    if src.grid.crs is None:  # the engine can put a coarser grid onto the scene's only through a CRS
        src.close()
        return None
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
    grid = src.grid
    raster = Raster(
        data=filled.astype(np.float32),
        bands=bands,
        crs=grid.crs,
        transform=grid.transform * Affine.scale(block),
        radiometry=Radiometry.REFLECTANCE,
        valid=np.ones(filled.shape[1:], bool),
        source=str(path),
    )
    write_raster(raster, path, cog=False, tags={"CLOUDFREE_LAYER": f"clear-sky background, {block} px blocks"})
    return path


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
        x = np.pad(np.where(clear, refl, 0.0), ((0, 0), (0, pad_r), (0, pad_c)))
        r0, nr = top // block, (rows + pad_r) // block
        weights[r0 : r0 + nr] += w.reshape(nr, block, bw, block).sum(axis=(1, 3))
        sums[:, r0 : r0 + nr] += x.reshape(x.shape[0], nr, block, bw, block).sum(axis=(2, 4))
    assert sums is not None
    return sums, weights, bands
