"""Real pairs built from ../shared/data for the data-layer tests (no file is copied into the repo)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rasterio.crs import CRS
from rasterio.warp import Resampling, calculate_default_transform, reproject

from cloudfree.io import read_raster
from cloudfree.raster import Raster

SLOVENIA = "slovenia_timeseries_l1c"
FLOODS = "sen1floods11_spain"


def slovenia(shared: Path, date: str) -> Path:
    return shared / SLOVENIA / f"S2_L1C_{date}.tif"


def slovenia_mask(shared: Path, date: str) -> Path:
    return shared / SLOVENIA / f"CLM_{date}.tif"


def floods(shared: Path, kind: str) -> Path:
    return shared / FLOODS / f"Spain_7370579_{kind}.tif"


def to_utm_copy(raster: Raster, epsg: int = 32630, resolution: float = 10.0) -> Raster:
    """``raster`` (DN) warped to a UTM grid with rasterio directly: a differently gridded copy of real data."""
    dst_crs = CRS.from_epsg(epsg)
    transform, width, height = calculate_default_transform(
        raster.crs, dst_crs, raster.width, raster.height, *raster.bounds, resolution=resolution
    )
    data = np.zeros((raster.count, height, width), dtype=np.float32)
    reproject(
        raster.data.astype(np.float32),
        data,
        src_transform=raster.transform,
        src_crs=raster.crs,
        src_nodata=0,
        dst_transform=transform,
        dst_crs=dst_crs,
        dst_nodata=0,
        resampling=Resampling.bilinear,
    )
    dn = np.rint(data).astype(np.uint16)
    return Raster(
        data=dn,
        bands=raster.bands,
        crs=dst_crs,
        transform=transform,
        valid=(dn != 0).all(axis=0),
        radiometry=raster.radiometry,
        nodata=0,
        source=f"{raster.source} (warped to EPSG:{epsg})",
    )


def floods_s2(shared: Path, select: str | None = None) -> Raster:
    return read_raster(floods(shared, "S2Hand"), select=select)
