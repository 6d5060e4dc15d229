"""The target grid of a band-per-file product (:class:`~cloudfree.io.bandfiles.BandStack`).

The band files of one product come at mixed resolutions (10, 20, 60 m for Sentinel-2) but must share
a CRS (:func:`check_same_crs`). The grid every band is read onto (:func:`target_grid`) is the grid of
a reference band when one is named, else the finest band's grid, or that grid's extent at another
resolution (pixel size in CRS units, metres for UTM; the origin stays the top-left corner).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from affine import Affine
from rasterio.windows import Window
from rasterio.windows import bounds as window_bounds

from cloudfree import bands as bandcat
from cloudfree.errors import RasterReadError
from cloudfree.io.metadata import RasterInfo
from cloudfree.io.warp import Grid


def own_grid(info: RasterInfo) -> Grid:
    """The grid of a band's own file (CRS, transform, ``height x width`` px)."""
    return Grid(info.crs, info.transform, info.height, info.width)


def check_same_crs(infos: Mapping[str, RasterInfo], files: Mapping[str, str]) -> None:
    """Refuse band files whose CRS differs from the first band's (``infos``, ``files``: by band, in order)."""
    bands = list(infos)
    first = bands[0]
    for band in bands[1:]:
        if infos[band].crs != infos[first].crs:
            raise RasterReadError(
                f"{files[band]}: CRS {infos[band].crs} differs from {infos[first].crs} "
                f"of {files[first]}; the band files of one product must share a CRS"
            )


def target_grid(
    infos: Mapping[str, RasterInfo], resolution: float | None, reference: str | None, source: str
) -> tuple[int, int, Affine]:
    """``(height, width, transform)`` of the grid the bands of ``infos`` are read onto.

    Args:
        infos: each band's file info, by canonical band name.
        resolution: target pixel size in CRS units; None (or the finest band's own): the finest grid.
        reference: band whose grid is the target (e.g. ``"B8A"``); excludes ``resolution``.
        source: how the product is named in messages.
    """
    bands = tuple(infos)
    if reference is not None:
        if resolution is not None:
            raise ValueError("give either a target resolution or a reference band, not both")
        ref = bandcat.canonical(reference)
        bandcat.indices_of(bands, [ref], source)
        info = infos[ref]
        return info.height, info.width, info.transform
    finest = min(bands, key=lambda b: infos[b].res[0])
    info = infos[finest]
    if resolution is None or math.isclose(resolution, info.res[0]):
        return info.height, info.width, info.transform
    if resolution <= 0:
        raise ValueError(f"target resolution must be positive, got {resolution}")
    left, bottom, right, top = window_bounds(Window(0, 0, info.width, info.height), info.transform)
    width = max(1, round((right - left) / resolution))
    height = max(1, round((top - bottom) / resolution))
    return height, width, Affine(resolution, 0.0, left, 0.0, -resolution, top)
