"""Single GeoTIFF (or any GDAL raster) files, read whole or by window, and written as COGs.

:func:`read_raster` reads one file through :class:`~cloudfree.io.filesource.FileSource` (band names,
radiometry, DN offsets, the radiometric sanity check and non-finite -> nodata all resolved there);
:func:`read_mask` reads a one-band mask or label file. The metadata helpers live in
:mod:`cloudfree.io.metadata` and the writers in :mod:`cloudfree.io.cog`; both are re-exported here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from rasterio.windows import Window

from cloudfree.errors import RasterReadError
from cloudfree.io.cog import finalize_cog, profile_for, standard_tags, write_mask, write_raster
from cloudfree.io.filesource import FileSource
from cloudfree.io.metadata import (
    OFFSET_TAGS,
    RADIOMETRY_TAG,
    RasterInfo,
    band_names_of,
    dn_offset_from_tags,
    infer_radiometry,
    open_info,
)
from cloudfree.io.warp import GridReader
from cloudfree.radiometry import Radiometry
from cloudfree.raster import Raster

__all__ = [
    "OFFSET_TAGS",
    "RADIOMETRY_TAG",
    "RasterInfo",
    "band_names_of",
    "dn_offset_from_tags",
    "finalize_cog",
    "infer_radiometry",
    "open_info",
    "profile_for",
    "read_mask",
    "read_raster",
    "standard_tags",
    "write_mask",
    "write_raster",
]


def read_raster(
    path: str | os.PathLike[str],
    bands: Sequence[str] | str | None = None,
    *,
    select: Sequence[str] | str | None = None,
    window: Window | None = None,
    radiometry: Radiometry | str | None = None,
    dn_offset: float | Sequence[float] | None = None,
    nodata: float | None = None,
) -> Raster:
    """Read a multi-band GeoTIFF (or any GDAL raster) into a :class:`Raster`.

    Args:
        path: file to read.
        bands: names of the file's bands in file order (any aliases or a band set); default: from
            the band descriptions.
        select: read only these bands (in this order); default all.
        window: read only this pixel window.
        radiometry: convention of the values (trusted); default from tags, band names and dtype,
            checked against the values (:class:`~cloudfree.radiometry.RadiometryError`).
        dn_offset: DN offset(s) to apply when converting to reflectance; default from the file's
            tags, else 0 (products before baseline 04.00).
        nodata: override the file's nodata value.
    """
    with FileSource(path, bands, radiometry=radiometry, dn_offset=dn_offset, nodata=nodata) as source:
        return source.read(select=select, window=window)


def read_mask(path: str | os.PathLike[str], window: Window | None = None, like: Raster | None = None) -> np.ndarray:
    """Read a single-band mask/label file as ``(height, width)`` array.

    With ``like``, the mask must have the same shape as that raster (a clear error otherwise).
    """
    with GridReader(path) as reader:
        if reader.count != 1:
            raise RasterReadError(f"{path}: a mask must have exactly one band, this file has {reader.count}")
        win = (
            reader.grid.check_window(window, str(path))
            if window is not None
            else Window(0, 0, reader.grid.width, reader.grid.height)
        )
        mask = reader.read(1, win)
    if like is not None and mask.shape != (like.height, like.width):
        raise RasterReadError(
            f"{path}: mask is {mask.shape[0]}x{mask.shape[1]} px but {like.source} is {like.height}x{like.width}"
        )
    return mask
