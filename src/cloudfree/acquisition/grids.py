"""Raster grids of the acquisition layer: a scene's native grid and the per-pair target grid.

:class:`Grid` is a CRS, an affine transform and a size, serialisable to JSON so that the pairs table
can carry the clear scene's grid to ``cloudfree fetch``. :func:`target_grid` derives the grid every
member of a pair is warped onto: the clear scene's CRS and pixel origin at the requested resolution,
cut to the AOI's bounding box and snapped outward to whole pixels, so that at the native resolution
the output pixels are exactly the scene's own (no resampling of 10 m bands).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from affine import Affine
from rasterio.warp import transform_bounds


@dataclass(frozen=True)
class Grid:
    """A raster grid: CRS (``EPSG:32633`` or WKT), affine transform, height and width in pixels."""

    crs: str
    transform: Affine
    height: int
    width: int

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in CRS units."""
        t = self.transform
        xs = (t.c, t.c + t.a * self.width)
        ys = (t.f, t.f + t.e * self.height)
        return (min(xs), min(ys), max(xs), max(ys))

    def to_json(self) -> str:
        return json.dumps({"crs": self.crs, "transform": list(self.transform)[:6], "shape": [self.height, self.width]})

    @classmethod
    def from_json(cls, text: str) -> Grid:
        obj = json.loads(text)
        return cls(obj["crs"], Affine(*obj["transform"]), int(obj["shape"][0]), int(obj["shape"][1]))


def target_grid(native: Grid, aoi: dict[str, Any] | None, resolution: float, what: str = "pair") -> Grid:
    """``native``'s grid (same CRS and origin) at ``resolution`` m, cut to the AOI's bounding box."""
    t = native.transform
    if t.b != 0 or t.d != 0:
        raise ValueError(f"{what}: the clear scene's grid is rotated; expected a north-up UTM grid")
    if resolution <= 0:
        raise ValueError(f"resolution must be positive, got {resolution}")
    left, bottom, right, top = native.bounds
    if aoi is not None:
        numbers = [float(v) for v in re.findall(r"-?\d+\.?\d*(?:[eE]-?\d+)?", json.dumps(aoi["coordinates"]))]
        xs, ys = numbers[0::2], numbers[1::2]
        a_l, a_b, a_r, a_t = transform_bounds("EPSG:4326", native.crs, min(xs), min(ys), max(xs), max(ys), 21)
        left, bottom, right, top = max(left, a_l), max(bottom, a_b), min(right, a_r), min(top, a_t)
        if left >= right or bottom >= top:
            raise ValueError(f"{what}: the AOI does not overlap the clear scene")
    x0, y0, eps = t.c, t.f, 1e-6
    col0 = math.floor((left - x0) / resolution + eps)
    col1 = math.ceil((right - x0) / resolution - eps)
    row0 = math.floor((y0 - top) / resolution + eps)
    row1 = math.ceil((y0 - bottom) / resolution - eps)
    transform = Affine(resolution, 0.0, x0 + col0 * resolution, 0.0, -resolution, y0 - row0 * resolution)
    return Grid(native.crs, transform, max(row1 - row0, 1), max(col1 - col0, 1))
