"""Scene access for the evaluation commands: open any input lazily, check grids, walk windows.

Every evaluation command (``indices``, ``burn``, ``evaluate``, ``report``) reads its inputs through
the one reader layer (:func:`cloudfree.io.open.open_source`, so GeoTIFF/COG, SAFE, band-file
folders and SEN12MS-CR patches all work) and never holds a whole scene: it walks the grid in
blocks (:func:`block_windows`) or in blocks with a halo of context (:func:`halo_windows`, used by
SSIM, whose 11 px window must see real neighbours so that a windowed score equals a whole-image
one). Side inputs are checked to lie on the first input's grid (CRS, transform and size) with a
one-line message naming both files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from rasterio.windows import Window

from cloudfree.errors import CloudfreeError
from cloudfree.io.geotiff import open_info, read_mask
from cloudfree.io.open import RasterSource, open_source
from cloudfree.radiometry import Radiometry, db_to_linear
from cloudfree.raster import Raster

BLOCK = 512  # pixels per side of a processing window


class EvaluationInputError(CloudfreeError, ValueError):
    """An evaluation input is unusable: wrong grid, missing band, unknown index, bad option."""


def open_imagery(
    path: str | os.PathLike[str], bands: str | Sequence[str] | None = None, dn_offset: float | None = None
) -> RasterSource:
    """A lazy source for ``path`` with the shared ``--bands`` / ``--dn-offset`` options applied."""
    options = {} if dn_offset is None else {"dn_offset": dn_offset}
    return open_source(path, bands, **options)


class MaskSource:
    """A single-band mask file (codes 0-3, 255 nodata, or binary) read by windows as ``(h, w)`` arrays."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        info = open_info(path)
        if info.count != 1:
            raise EvaluationInputError(f"{path}: a mask must have one band, this file has {info.count}")
        self.path, self.height, self.width = str(path), info.height, info.width
        self.crs, self.transform = info.crs, info.transform

    def read(self, window: Window | None = None) -> np.ndarray:
        return read_mask(self.path, window=window)


def grid_of(source: RasterSource) -> str:
    return f"{source.height}x{source.width} px, CRS {source.crs}, transform {tuple(source.transform)[:6]}"


def check_same_grid(first: RasterSource, other: RasterSource | MaskSource, what: str = "input") -> None:
    """Raise :class:`EvaluationInputError` unless ``other`` has ``first``'s size, CRS and transform."""
    same = (first.height, first.width) == (other.height, other.width) and first.crs == other.crs
    same = same and first.transform.almost_equals(other.transform, precision=1e-9 * max(1.0, abs(first.transform.a)))
    if not same:
        raise EvaluationInputError(
            f"{other.path}: the {what} is not on the grid of {first.path} "
            f"({grid_of(other)} vs {grid_of(first)}); reproject it first"
        )


def block_windows(height: int, width: int, block: int = BLOCK) -> Iterator[Window]:
    """Non-overlapping windows of at most ``block x block`` pixels covering the grid, row by row."""
    for row in range(0, height, block):
        for col in range(0, width, block):
            yield Window(col, row, min(block, width - col), min(block, height - row))


@dataclass(frozen=True)
class HaloWindow:
    """A window to read (``read``) and the part of it to score (``core``, also as ``inner`` slices)."""

    read: Window
    core: Window
    inner: tuple[slice, slice]


def _span(start: int, stop: int, size: int, halo: int, min_side: int) -> tuple[int, int]:
    lo, hi = max(0, start - halo), min(size, stop + halo)
    if hi - lo < min_side:  # keep the SSIM window at full size: extend into real context
        lo = max(0, hi - min_side)
        hi = min(size, lo + min_side)
    return lo, hi


def halo_windows(
    height: int, width: int, block: int = BLOCK, halo: int = 5, min_side: int = 11
) -> Iterator[HaloWindow]:
    """Blocks with ``halo`` pixels of context on each side (clipped at the image edge).

    A read window is never smaller than ``min_side`` along an axis unless the image itself is, so
    a per-window SSIM uses the same kernel as the whole image would.
    """
    for core in block_windows(height, width, block):
        r0, c0 = int(core.row_off), int(core.col_off)
        r1, c1 = r0 + int(core.height), c0 + int(core.width)
        lo_r, hi_r = _span(r0, r1, height, halo, min_side)
        lo_c, hi_c = _span(c0, c1, width, halo, min_side)
        read = Window(lo_c, lo_r, hi_c - lo_c, hi_r - lo_r)
        yield HaloWindow(read, core, (slice(r0 - lo_r, r1 - lo_r), slice(c0 - lo_c, c1 - lo_c)))


def physical(raster: Raster) -> np.ndarray:
    """Float32 ``(bands, h, w)`` in physical units: reflectance 0..1 for optical bands (DN converted
    with the raster's offsets), linear power for SAR bands given in dB; NaN where not valid."""
    if raster.radiometry is Radiometry.SAR_DB:
        data = db_to_linear(raster.data.astype(np.float32)).astype(np.float32)
    elif raster.radiometry is Radiometry.SAR_LINEAR:
        data = raster.data.astype(np.float32, copy=True)
    elif raster.radiometry in (Radiometry.DN, Radiometry.REFLECTANCE):
        data = raster.to_reflectance().data.astype(np.float32, copy=True)
    else:
        raise EvaluationInputError(f"{raster.source}: {raster.radiometry.value} data has no physical units")
    data[:, ~raster.valid] = np.nan
    return data
