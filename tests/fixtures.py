"""Small generated rasters for edge cases (real data comes from ../shared/data via conftest)."""

from __future__ import annotations

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS

from cloudfree.radiometry import Radiometry
from cloudfree.raster import Raster


def make_raster(
    height: int = 40,
    width: int = 50,
    bands: tuple[str, ...] = ("B02", "B03", "B04", "B08"),
    *,
    seed: int = 0,
    crs: str | None = "EPSG:32633",
    radiometry: Radiometry = Radiometry.REFLECTANCE,
) -> Raster:
    """A small random reflectance (or DN) raster on a UTM grid at 10 m."""
    rng = np.random.default_rng(seed)
    data = rng.uniform(0.02, 0.4, size=(len(bands), height, width)).astype(np.float32)
    if radiometry is Radiometry.DN:
        data = (data * 10000).astype(np.uint16)
    return Raster(
        data=data,
        bands=bands,
        crs=CRS.from_string(crs) if crs else None,
        transform=Affine(10.0, 0, 500000.0, 0, -10.0, 5100000.0),
        valid=np.ones((height, width), bool),
        radiometry=radiometry,
    )


def write_geotiff(path, data: np.ndarray, descriptions=None, tags=None, nodata=None, crs="EPSG:32633"):
    """Write ``data`` ``(bands, h, w)`` as a GeoTIFF on a 10 m UTM grid; returns ``path``."""
    profile = {
        "driver": "GTiff",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": str(data.dtype),
        "crs": crs,
        "transform": Affine(10, 0, 500000, 0, -10, 5100000),
        "nodata": nodata,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        if descriptions:
            dst.descriptions = descriptions
        if tags:
            dst.update_tags(**tags)
    return path
