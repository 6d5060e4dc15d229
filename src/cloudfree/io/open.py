"""One entry point for every input layout: :func:`open_source` (lazy) and :func:`open_raster` (read now).

The layout is recognised from the path by the closed registry :data:`cloudfree.io.registry.READERS`:

==================================================  =====================================================
path                                                reader
==================================================  =====================================================
``*.SAFE`` folder, its ``.zip``, ``MTD_MSIL*.xml``  ``safe``: :mod:`cloudfree.io.safe` (L1C/L2A, offsets from metadata)
folder of ``<prefix>_B02.tif`` ... / ``_VV.tif``    ``bandfiles``: :mod:`cloudfree.io.bandfiles` (bands on one grid)
pair folder of ``cloudfree fetch``                  ``stac-pair``: :mod:`cloudfree.io.stacfolder` (its cloudy.tif)
``ROIs1868_summer_s2_cloudy_19_p30.tif`` (and TS)   ``sen12mscr``: :mod:`cloudfree.io.sen12mscr` (data-set band names)
single-band ``<prefix>_B8A.tif``                    ``bandfile``: band named from the file name
any other GeoTIFF / GDAL raster                     ``geotiff``: :mod:`cloudfree.io.filesource`
==================================================  =====================================================

A single-band file whose band is not a spectral band (a mask, labels, a probability map) is read as
a ``Radiometry.LABEL`` layer named by its description (:func:`open_layer`). Every source opens its
files once; ``source.on_grid(grid)`` reads it onto another grid (the one reprojection path,
:mod:`cloudfree.io.warp`); ``source.close()`` (or ``with``) releases the files.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from cloudfree.io.filesource import FileSource, open_layer
from cloudfree.io.registry import READERS, SUPPORTED, detect, is_product, open_with
from cloudfree.io.warp import Grid
from cloudfree.radiometry import Radiometry
from cloudfree.raster import Raster

__all__ = [
    "READERS",
    "SUPPORTED",
    "FileSource",
    "Grid",
    "RasterSource",
    "detect_layout",
    "is_product",
    "open_layer",
    "open_raster",
    "open_source",
]


class RasterSource(Protocol):
    """What every reader offers: the grid and band metadata now, pixels by window on demand."""

    path: str
    layout: str
    bands: tuple[str, ...]
    height: int
    width: int
    crs: CRS | None
    transform: Affine
    dtype: str
    radiometry: Radiometry
    dn_offset: np.ndarray
    nodata: float | None
    tags: dict[str, Any]

    @property
    def grid(self) -> Grid: ...

    def on_grid(self, grid: Grid, resampling: str | None = None) -> RasterSource: ...

    def read(self, select: str | Sequence[str] | None = None, window: Window | None = None) -> Raster: ...

    def close(self) -> None: ...


def detect_layout(path: str | os.PathLike[str]) -> str:
    """The registry name of ``path``'s layout (``"safe"``, ``"bandfiles"``, ``"sen12mscr"`` ...).

    Raises :class:`~cloudfree.errors.RasterReadError` for a missing path or a folder of no known layout.
    """
    return detect(path)


def open_source(path: str | os.PathLike[str], bands: Sequence[str] | str | None = None, **options: Any) -> RasterSource:
    """A lazy :class:`RasterSource` for any supported layout (see the module docstring).

    ``bands``: for single files, the names of the file's bands in file order (needed when a
    multi-band file has no band descriptions); for band-file folders and SAFE products, whose band
    names come from the file names, the bands to keep (in this order). ``options``: ``dn_offset``,
    ``radiometry`` (every reader; an explicit radiometry is trusted, an inferred one is checked
    against the values), ``nodata``, ``resolution``, ``reference``, ``resampling`` (band files, SAFE),
    ``granule`` (SAFE), ``member`` (fetched pair folders), ``reader`` (force a registry entry).
    Options set to None mean "from the product".
    """
    return open_with(path, bands, **options)


def open_raster(
    path: str | os.PathLike[str],
    bands: Sequence[str] | str | None = None,
    *,
    select: Sequence[str] | str | None = None,
    window: Window | None = None,
    **options: Any,
) -> Raster:
    """Read any supported input into a :class:`Raster` ``(bands, height, width)``.

    ``select`` keeps (and orders) bands, ``window`` reads a pixel window of the (target) grid; see
    :func:`open_source` for ``bands`` and the layout options.
    """
    source = open_source(path, bands, **options)
    try:
        return source.read(select=select, window=window)
    finally:
        source.close()
