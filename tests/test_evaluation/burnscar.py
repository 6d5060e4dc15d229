"""A simulated burn scar with known extent: NIR (B08, B8A) down and SWIR (B11, B12) up inside a disc."""

from __future__ import annotations

import numpy as np

from cloudfree.radiometry import Radiometry
from cloudfree.raster import Raster
from tests.fixtures import make_raster

BANDS = ("B02", "B03", "B04", "B08", "B8A", "B11", "B12")
VEGETATION = {"B02": 0.03, "B03": 0.06, "B04": 0.04, "B08": 0.32, "B8A": 0.33, "B11": 0.17, "B12": 0.08}


def disc(height: int, width: int, radius: float, centre: tuple[float, float] | None = None) -> np.ndarray:
    """Boolean ``(h, w)`` disc: the scar's known extent."""
    cy, cx = centre if centre is not None else ((height - 1) / 2, (width - 1) / 2)
    yy, xx = np.mgrid[:height, :width]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2


def vegetated_scene(height: int = 64, width: int = 80, seed: int = 0) -> Raster:
    """A clear vegetated DN scene (NBR about 0.6) with a little texture."""
    rng = np.random.default_rng(seed)
    base = make_raster(height, width, BANDS, radiometry=Radiometry.DN, seed=seed)
    data = np.stack([np.full((height, width), VEGETATION[b]) for b in BANDS])
    data = data * rng.uniform(0.95, 1.05, size=(1, height, width))
    return base.with_data(np.round(data * 10000).astype(np.uint16))


def burn(scene: Raster, scar: np.ndarray, nir_factor: float = 0.35, swir_factor: float = 2.4) -> Raster:
    """``scene`` with NIR multiplied by ``nir_factor`` and SWIR by ``swir_factor`` where ``scar``."""
    data = scene.data.astype(np.float64).copy()
    for i, band in enumerate(scene.bands):
        if band in ("B08", "B8A"):
            data[i, scar] *= nir_factor
        elif band in ("B11", "B12"):
            data[i, scar] *= swir_factor
    return scene.with_data(np.clip(np.round(data), 1, 10000).astype(scene.data.dtype))


def expected_dnbr(pre: Raster, post: Raster, nir: str = "B08") -> np.ndarray:
    """dNBR by hand from the DN (offset 0): NBR is scale-free, so DN give the same ratio."""

    def nbr(r: Raster) -> np.ndarray:
        n = r.data[r.bands.index(nir)].astype(np.float64)
        s = r.data[r.bands.index("B12")].astype(np.float64)
        return (n - s) / (n + s)

    return nbr(pre) - nbr(post)
