"""Which tiles of a removal pass need the model: those near a cloud or shadow pixel of the mask.

Compositing (:func:`~cloudfree.inference.composite.composite`) takes the blended model estimate only
where the feathered mask weight is above 0, i.e. at most ``feather`` pixels (Euclidean) from a cloud
or shadow pixel (codes 1, 2, 3); everywhere else the output is the input itself, bit for bit. A
tile's prediction reaches exactly the pixels of its own ``tile x tile`` footprint (blending
includes its overlap zones, where it is mixed with its neighbours). So a tile whose footprint,
grown by ``feather`` pixels on every side (a square, a superset of the Euclidean disc), holds no
cloud or shadow pixel contributes to no pixel that the composite takes from the estimate: its model
run can be skipped and any fill (the input itself) leaves the output unchanged, byte for byte.

Mask nodata (255) is not cloud: the composite keeps the input there too, and the engine writes
nodata wherever the scene itself is nodata, whatever the estimate.

:func:`tiles_needing_model` scans the mask once, strip by strip (one tile row plus the margin at a
time, one uint8 row band in memory), before the pass.
"""

from __future__ import annotations

import os

import numpy as np
from rasterio.windows import Window

from cloudfree.inference.grid import Tile, TileGrid
from cloudfree.io.warp import GridReader
from cloudfree.masks import cloud_of


def tiles_needing_model(mask: str | os.PathLike[str], grid: TileGrid, margin: int) -> set[tuple[int, int]]:
    """Tile origins ``(row, col)`` (image pixels) whose footprint grown by ``margin`` px holds cloud or shadow.

    Args:
        mask: one-band mask of class codes on the scene's grid (``grid.height x grid.width`` px).
        grid: the pass's tile grid (the engine builds the same one from tile size and overlap).
        margin: pixels added on every side of a tile (the composite's feather width), clipped to the image.
    """
    needed: set[tuple[int, int]] = set()
    with GridReader(mask) as reader:
        if (reader.grid.height, reader.grid.width) != (grid.height, grid.width):
            raise ValueError(
                f"{mask}: mask is {reader.grid.height}x{reader.grid.width} px, the scene {grid.height}x{grid.width}"
            )
        for i, r0 in enumerate(grid.row_starts):
            lo, hi = max(0, r0 - margin), min(grid.height, r0 + grid.tile_height + margin)
            codes = reader.read(1, Window(0, lo, grid.width, hi - lo))
            # cloudy columns of the strip, as a running count: any cloud in [a, b) is count[b] > count[a]
            count = np.concatenate([[0], np.cumsum(cloud_of(codes).any(axis=0))])
            for t in grid.tile_row(i):
                a, b = max(0, t.col - margin), min(grid.width, t.col + t.width + margin)
                if count[b] > count[a]:
                    needed.add((t.row, t.col))
    return needed


class SkipClearTiles:
    """``skip``/``fill`` hooks of :func:`~cloudfree.inference.streaming.predict_scene` for a removal pass.

    Args:
        needed: tile origins that need the model (:func:`tiles_needing_model`).
        out_channels: positions of the model's output bands among the stacked input channels
            (reflectance): a skipped tile's estimate is the input itself.
        extra: further output channels (the diffusion spread), filled with 0.
    """

    def __init__(self, needed: set[tuple[int, int]], out_channels: list[int], extra: int = 0) -> None:
        self.needed, self.out_channels, self.extra = needed, out_channels, extra

    def skip(self, x: np.ndarray, valid: np.ndarray, tile: Tile) -> bool:
        """True when no pixel the composite takes from the estimate lies in ``tile``."""
        return (tile.row, tile.col) not in self.needed

    def fill(self, x: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """The input's output bands ``(C_out, S, S)`` float32 (then ``extra`` zero channels)."""
        est = x[self.out_channels].astype(np.float32, copy=False)
        if not self.extra:
            return est
        return np.concatenate([est, np.zeros((self.extra, *est.shape[1:]), np.float32)])
