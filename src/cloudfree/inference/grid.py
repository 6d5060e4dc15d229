"""The tile grid of a scene: overlapping square tiles, padding for images smaller than a tile.

Tiles of ``tile x tile`` pixels start every ``tile - overlap`` pixels along each axis; the last
tile of a row or column is snapped to the image edge (it ends exactly at the border, so it may
overlap its neighbour by more than ``overlap``). Every tile therefore lies fully inside the image
and no tile needs padding, except along an axis shorter than one tile: there the single tile is
the whole axis, reflect-padded to ``tile`` pixels before the model runs and cropped back after.

Tiles come in *tile rows* (all tiles sharing a row start). The streaming engine processes one tile
row at a time; :meth:`TileGrid.rows_final_after` tells which image rows no later tile row can
touch, i.e. which rows are finished and may be written.

Hand-written rather than taken from a library because the engine needs this exact, strip-ordered
schedule (torchgeo's samplers yield georeferenced boxes for training, not a write schedule).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from rasterio.windows import Window


def axis_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles along one axis of ``size`` pixels (the last one snapped to the end).

    ``axis_starts(150, 64, 16)`` -> ``[0, 48, 86]``; an axis shorter than a tile has one start, 0.
    """
    if size <= 0:
        raise ValueError(f"cannot tile an axis of {size} pixels")
    if size <= tile:
        return [0]
    stride = tile - overlap
    return [*range(0, size - tile, stride), size - tile]


@dataclass(frozen=True)
class Tile:
    """One tile: its top-left corner in image pixels and the part of it that lies in the image."""

    row: int
    col: int
    height: int  # image pixels covered (== tile, or the image size along an axis shorter than a tile)
    width: int
    top: bool  # tile touches the image's top edge (no neighbour above)
    bottom: bool
    left: bool
    right: bool

    @property
    def window(self) -> Window:
        return Window(self.col, self.row, self.width, self.height)


@dataclass(frozen=True)
class TileGrid:
    """Overlapping tiles covering a ``height x width`` image.

    Args:
        height, width: image size in pixels.
        tile: tile side in pixels (the model input size).
        overlap: pixels shared by neighbouring tiles (``0 <= overlap < tile``).
    """

    height: int
    width: int
    tile: int = 256
    overlap: int = 32
    row_starts: tuple[int, ...] = field(init=False)
    col_starts: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        if self.tile < 1:
            raise ValueError(f"tile size must be positive, got {self.tile}")
        if not 0 <= self.overlap < self.tile:
            raise ValueError(f"overlap must be in 0..{self.tile - 1} for tile {self.tile}, got {self.overlap}")
        if self.height < 1 or self.width < 1:
            raise ValueError(f"cannot tile an empty {self.height}x{self.width} image")
        object.__setattr__(self, "row_starts", tuple(axis_starts(self.height, self.tile, self.overlap)))
        object.__setattr__(self, "col_starts", tuple(axis_starts(self.width, self.tile, self.overlap)))

    @property
    def tile_height(self) -> int:
        """Image rows a tile covers (``tile``, or the image height when that is smaller)."""
        return min(self.tile, self.height)

    @property
    def tile_width(self) -> int:
        return min(self.tile, self.width)

    @property
    def pad(self) -> tuple[int, int]:
        """Rows and columns of reflect padding that bring a tile up to ``tile x tile``."""
        return self.tile - self.tile_height, self.tile - self.tile_width

    @property
    def n_tiles(self) -> int:
        return len(self.row_starts) * len(self.col_starts)

    def tile_row(self, i: int) -> list[Tile]:
        """The tiles of tile row ``i``, left to right."""
        row = self.row_starts[i]
        last_r, last_c = len(self.row_starts) - 1, len(self.col_starts) - 1
        return [
            Tile(row, col, self.tile_height, self.tile_width, i == 0, i == last_r, j == 0, j == last_c)
            for j, col in enumerate(self.col_starts)
        ]

    def __iter__(self) -> Iterator[Tile]:
        for i in range(len(self.row_starts)):
            yield from self.tile_row(i)

    def rows_final_after(self, i: int) -> int:
        """Image rows ``[0, n)`` are complete once tile rows ``0..i`` are done; returns ``n``."""
        return self.row_starts[i + 1] if i + 1 < len(self.row_starts) else self.height

    def strip_window(self, i: int) -> Window:
        """The full-width window of image rows covered by tile row ``i``."""
        return Window(0, self.row_starts[i], self.width, self.tile_height)


def pad_to_tile(data: np.ndarray, tile: int) -> np.ndarray:
    """Reflect-pad the last two axes of ``data`` (``(..., h, w)``) at the bottom/right up to ``tile``.

    Axes already ``>= tile`` are left alone; a one-pixel axis is repeated (reflection needs two).
    """
    pad_h, pad_w = max(0, tile - data.shape[-2]), max(0, tile - data.shape[-1])
    if pad_h == 0 and pad_w == 0:
        return data
    widths = [(0, 0)] * (data.ndim - 2) + [(0, pad_h), (0, pad_w)]
    if min(data.shape[-2:]) < 2:
        return np.pad(data, widths, mode="edge")
    return np.pad(data, widths, mode="reflect")
