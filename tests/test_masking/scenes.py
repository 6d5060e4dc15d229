"""Generated scenes for the mask tests: textured vegetation with a bright cloud square, 30 m or 10 m grids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from scipy import ndimage

from cloudfree.io.geotiff import write_raster
from cloudfree.radiometry import Radiometry
from cloudfree.raster import Raster

SIX = ("B02", "B03", "B04", "B08", "B11", "B12")
VEGETATION = (0.04, 0.07, 0.05, 0.30, 0.18, 0.09)  # reflectance per band of SIX
CLOUD = (0.75, 0.74, 0.75, 0.78, 0.45, 0.30)


def cloud_square_scene(
    size: int = 256, square: tuple[int, int, int, int] = (60, 200, 70, 190), res: float = 30.0, repeat: int = 1
) -> tuple[Raster, np.ndarray]:
    """Six-band reflectance at ``res`` m with a cloud square ``(r0, r1, c0, c1)`` (pixels of the ``res`` grid).

    ``repeat > 1`` returns the same scene on a ``res / repeat`` m grid, every pixel repeated
    ``repeat x repeat`` times (the square's mask too): the finer grid's block means are exactly the
    coarse scene. Returns the raster and the square's bool mask on the raster's grid.
    """
    rng = np.random.default_rng(0)
    tex = ndimage.gaussian_filter(rng.normal(size=(size, size)), 4)
    tex = (tex / tex.std()).astype(np.float32)
    truth = np.zeros((size, size), bool)
    r0, r1, c0, c1 = square
    truth[r0:r1, c0:c1] = True
    veg = np.asarray(VEGETATION, np.float32)[:, None, None] * (1 + 0.1 * tex)
    cloud = np.asarray(CLOUD, np.float32)[:, None, None] * (1 + 0.08 * tex)
    data = np.where(truth[None], cloud, veg).astype(np.float32)
    if repeat > 1:
        data = np.repeat(np.repeat(data, repeat, axis=1), repeat, axis=2)
        truth = np.repeat(np.repeat(truth, repeat, axis=0), repeat, axis=1)
    step = res / repeat
    raster = Raster(
        data=data,
        bands=SIX,
        crs=CRS.from_epsg(32633),
        transform=Affine(step, 0, 500000.0, 0, -step, 5100000.0),
        valid=np.ones(truth.shape, bool),
        radiometry=Radiometry.REFLECTANCE,
        tags={"PRODUCT_ID": "S2A_MSIL1C_TEST"},
    )
    return raster, truth


def write_scene(raster: Raster, path: Path) -> Path:
    return write_raster(raster, path)
