"""Sentinel-1 VV/VH assets read on their own grid around a pair's target grid, for ``cloudfree fetch``.

:func:`read_sar_around` reads, per polarisation, the window of the asset that covers the target
grid's bounds (plus ``pad`` pixels, so a speckle filter and the reprojection have context) on the
asset's native map grid, with retries. Only calibrated, map-projected backscatter is accepted: an
asset in radar geometry (GCPs, no CRS) or with integer values (uncalibrated GRD amplitude) is refused
with a message naming a collection that fits (Planetary Computer's ``sentinel-1-rtc``). The result is
one :class:`~cloudfree.raster.Raster` ``(2, h, w)`` float32 (VV, VH) in dB or linear units, with its
valid mask; :func:`cloudfree.io.sentinel1.prepare_s1` then puts it onto the target grid.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.warp import transform_bounds
from rasterio.windows import Window, from_bounds

from cloudfree.acquisition.grids import Grid
from cloudfree.acquisition.items import ItemError
from cloudfree.acquisition.remote import RetryPolicy, read_native
from cloudfree.radiometry import Radiometry
from cloudfree.raster import Raster


def read_sar_around(
    assets: Mapping[str, str], grid: Grid, pad: int, retry: RetryPolicy, *, item: Any, pair: str, unit: str
) -> Raster:
    """VV and VH of one Sentinel-1 item over ``grid``'s bounds plus ``pad`` px, on their native grid.

    Args:
        assets: ``{"VV": href, "VH": href}`` (upper-case keys).
        grid: the pair's target grid (only its CRS and bounds are used).
        pad: extra pixels on every side of the window.
        retry: retries of the remote reads.
        item, pair: the item id and pair id, for messages and the Raster's ``source``.
        unit: the assets' unit from the pairs table: ``"db"`` (case-insensitive), else linear power.

    Raises ``ItemError`` for radar-geometry or integer assets and VV/VH on different grids,
    ``ValueError`` when the item does not cover the AOI or holds no valid pixel there.
    """
    planes, meta = [], {}
    for pol in ("VV", "VH"):

        def window_of(src: Any, pol: str = pol) -> tuple[np.ndarray, Affine, Any, float | None]:
            if not src.crs or (src.transform.is_identity and src.gcps[0]):
                raise ItemError(
                    f"Sentinel-1 item {item} asset {pol}: the raster is in radar geometry (GCPs, no map grid); "
                    f"use a terrain-corrected collection such as Planetary Computer's sentinel-1-rtc"
                )
            if np.issubdtype(np.dtype(src.dtypes[0]), np.integer):
                raise ItemError(
                    f"Sentinel-1 item {item} asset {pol}: integer {src.dtypes[0]} values are uncalibrated GRD "
                    f"amplitude; fetch needs calibrated backscatter (RTC gamma0 or sigma0, float)"
                )
            bounds = transform_bounds(grid.crs, src.crs, *grid.bounds, densify_pts=21)
            win = from_bounds(*bounds, transform=src.transform)
            col0, row0 = math.floor(win.col_off) - pad, math.floor(win.row_off) - pad
            col1 = math.ceil(win.col_off + win.width) + pad
            row1 = math.ceil(win.row_off + win.height) + pad
            win = Window(col0, row0, col1 - col0, row1 - row0)
            win = win.intersection(Window(0, 0, src.width, src.height))
            return src.read(1, window=win), src.window_transform(win), src.crs, src.nodata

        try:
            data, transform, crs, nodata = read_native(assets[pol], f"Sentinel-1 item {item} asset {pol}",
                                                       retry, window_of)  # fmt: skip
        except rasterio.errors.WindowError as exc:
            raise ValueError(f"pair {pair}: Sentinel-1 item {item} does not cover the AOI") from exc
        planes.append(data.astype(np.float32))
        meta[pol] = (transform, crs, nodata)
    if meta["VV"][:2] != meta["VH"][:2] or planes[0].shape != planes[1].shape:
        raise ItemError(f"Sentinel-1 item {item}: VV and VH assets are not on the same grid")
    transform, crs, nodata = meta["VV"]
    data = np.stack(planes)
    valid = np.isfinite(data).all(axis=0)
    if nodata is not None and not np.isnan(nodata):
        valid &= (data != nodata).all(axis=0)
    radiometry = Radiometry.SAR_DB if unit.lower() == "db" else Radiometry.SAR_LINEAR
    s1 = Raster(data=data, bands=("VV", "VH"), crs=crs, transform=transform, valid=valid,
                radiometry=radiometry, nodata=nodata, source=f"Sentinel-1 item {item}")  # fmt: skip
    if not valid.any():
        raise ValueError(f"pair {pair}: Sentinel-1 item {item} holds no valid pixel over the AOI")
    return s1
