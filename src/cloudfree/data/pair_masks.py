"""Cloud masks of training pairs as label Rasters: uint8 class codes on a raster's grid.

* :func:`mask_raster`: a ``(height, width)`` code array as a one-band label
  :class:`~cloudfree.raster.Raster` on another raster's grid (CRS, transform), valid where the code
  is not 255.
* :func:`mask_from_file`: a single-band cloud-mask GeoTIFF as such a Raster on its own grid.

Codes (docs/ARCHITECTURE.md, "Mask class codes"): 0 clear, 1 thick cloud, 2 thin cloud, 3 shadow,
255 nodata; binary 0/1 masks are accepted (1 counts as cloud), a file's nodata value outside 0..3 is
mapped to 255, and any other code is refused naming the file (:func:`cloudfree.masks.check_codes`).
"""

from __future__ import annotations

import math
import os

import numpy as np

from cloudfree.data.grid_alignment import MASK_NODATA, PairingError
from cloudfree.masks import check_codes
from cloudfree.radiometry import Radiometry
from cloudfree.raster import Raster


def mask_raster(mask: np.ndarray, like: Raster, source: str = "<mask>", nodata: float | None = None) -> Raster:
    """A ``(height, width)`` cloud mask as a uint8 label Raster on ``like``'s grid.

    Codes must be 0 clear, 1 thick cloud, 2 thin cloud, 3 shadow or 255 nodata (binary 0/1 masks
    are accepted: 1 counts as cloud). A file nodata value outside 0..3 is mapped to 255. Other codes
    raise :class:`~cloudfree.masks.MaskCodeError` naming ``source``.
    """
    arr = np.asarray(mask)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.shape != (like.height, like.width):
        raise PairingError(f"{source}: mask is {arr.shape} px but {like.source} is {like.height}x{like.width}")
    codes = arr.astype(np.int64)
    if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)) and nodata not in (0, 1, 2, 3):
        codes = np.where(codes == nodata, MASK_NODATA, codes)
    codes = check_codes(codes, source)
    return Raster(
        data=codes[None],
        bands=("mask",),
        crs=like.crs,
        transform=like.transform,
        valid=codes != MASK_NODATA,
        radiometry=Radiometry.LABEL,
        nodata=MASK_NODATA,
        source=source,
    )


def mask_from_file(path: str | os.PathLike[str]) -> Raster:
    """Read a single-band cloud-mask GeoTIFF (class codes) as a label Raster on its own grid."""
    from cloudfree.io import open_info, read_mask

    info = open_info(path)
    arr = read_mask(path)
    like = Raster(
        data=np.zeros((1, info.height, info.width), np.uint8),
        bands=("mask",),
        crs=info.crs,
        transform=info.transform,
        valid=np.ones((info.height, info.width), bool),
        radiometry=Radiometry.LABEL,
        source=str(path),
    )
    return mask_raster(arr, like, source=str(path), nodata=info.nodata)
