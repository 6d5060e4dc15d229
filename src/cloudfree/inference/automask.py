"""``--mask auto``: the one place where removal asks the mask pipeline for a scene's cloud mask.

Removal calls :func:`auto_mask` for the target scene and, with ``--series`` and no
``--series-masks``, for every other date. It runs :func:`cloudfree.inference.mask_scene.mask_scene`
with ``method="auto"`` (ukis-csmask at about 30 m whenever the input has B02, B03, B04, B08,
s2cloudless for other Level-1C input, the SCL band when the product carries one), whose summary says
which method it chose and why; that text travels into the output's tags.

For removal the mask is grown by ``dilate_m`` metres (default 40 m, :data:`REMOVAL_DILATE_M`): the
masks' own resolution is coarser than the scene's (ukis-csmask runs at about 30 m, s2cloudless at
60 m) and real cloud edges fade out in thin haze that they leave clear, which removal would keep
as pale rims around every filled cloud. Growing cloud and shadow masks before removal is common
practice (Fmask dilates by 3 pixels, s2cloudless by its ``dilation_size``); the grown ring is marked
thick cloud (:func:`cloudfree.masking.guards.dilate`), so it is filled from its surroundings.

Then clear patches enclosed by cloud and smaller than ``holes_ha`` hectares (default 4 ha,
:data:`REMOVAL_HOLES_HA`; at least :data:`MIN_HOLE_PX` pixels, for coarse grids) become cloud
(:func:`cloudfree.masking.guards.fill_holes`): masks leave such gaps in the bright cores of real
clouds, and removal fills a cloud from its clear pixels, so those few bright pixels would spread
into a white blob (seen on the real Madagascar scene).

Both are sizes on the ground, converted with the grid's pixel size. A file with no CRS (some users'
files have no georeferencing) has no pixel size: its transform is usually the identity, which would
read as 1 m pixels and grow the mask by 40 px (a real 512 px tile then came out 99.8 % cloud). Such
a grid is taken as Sentinel-2's 10 m bands (:data:`ASSUMED_PIXEL_M`), and the summary says so.
"""

from __future__ import annotations

import math
from pathlib import Path

from affine import Affine
from rasterio.crs import CRS

from cloudfree.errors import CloudfreeError

REMOVAL_DILATE_M = 40.0
REMOVAL_HOLES_HA = 4.0
MIN_HOLE_PX = 64
METRES_PER_DEGREE = 111_320.0  # along a meridian; enough to size a dilation on a lat/lon grid
ASSUMED_PIXEL_M = 10.0  # a grid with no CRS: Sentinel-2's 10 m bands (B02, B03, B04, B08)


def pixel_metres(transform: Affine, crs: CRS | None) -> tuple[float, float]:
    """``(x, y)`` pixel size in metres; :data:`ASSUMED_PIXEL_M` both ways when the grid has no CRS.

    On a lat/lon grid degrees are taken along a meridian (east-west shrinks with latitude, so sizes
    in pixels come out a little large there); a projected CRS in feet is converted by its units.
    """
    if crs is None:
        return ASSUMED_PIXEL_M, ASSUMED_PIXEL_M
    sx, sy = abs(transform.a), abs(transform.e)
    if crs.is_geographic:
        return sx * METRES_PER_DEGREE, sy * METRES_PER_DEGREE
    try:
        factor = float(crs.linear_units_factor[1])
    except Exception:  # a CRS without linear units: metres
        factor = 1.0
    return sx * factor, sy * factor


def dilation_px(transform: Affine, crs: CRS | None, metres: float) -> int:
    """``metres`` as whole pixels of a grid (``transform``, ``crs``), rounded up, at least 1; 0 for 0 m."""
    if metres <= 0:
        return 0
    sx, sy = pixel_metres(transform, crs)
    size = sy or sx
    return max(1, math.ceil(metres / size - 1e-9)) if size > 0 else 0


def hole_px(transform: Affine, crs: CRS | None, hectares: float) -> int:
    """``hectares`` as a pixel count of a grid, at least :data:`MIN_HOLE_PX`; 0 for 0 ha."""
    if hectares <= 0:
        return 0
    sx, sy = pixel_metres(transform, crs)
    area = sx * sy
    return max(MIN_HOLE_PX, math.ceil(hectares * 10_000 / area)) if area > 0 else MIN_HOLE_PX


def auto_mask(
    input_path: str | Path,
    out: str | Path,
    device: str | None = None,
    progress: bool = True,
    *,
    bands: str | None = None,
    dn_offset: float | None = None,
    dilate_m: float = 0.0,
    holes_ha: float = 0.0,
) -> tuple[Path | None, str]:
    """Mask ``input_path`` into ``out`` (uint8 codes on its grid); returns ``(mask file, how)``.

    ``dilate_m`` grows cloud and shadow by that many metres (whole pixels, rounded up); then clear
    patches enclosed by cloud of up to ``holes_ha`` hectares become cloud.

    ``how`` names the method and why it was chosen. ``(None, reason)`` when no mask method
    applies to the scene (the caller then refuses, or falls back where the method allows).
    """
    from cloudfree.inference.mask_scene import mask_scene
    from cloudfree.inference.sources import input_info

    px = holes = 0
    assumed = ""
    if dilate_m > 0 or holes_ha > 0:
        info = input_info(input_path, bands, dn_offset=dn_offset)
        px = dilation_px(info.transform, info.crs, dilate_m)
        holes = hole_px(info.transform, info.crs, holes_ha)
        if info.crs is None:
            assumed = f"; the file has no CRS, so {ASSUMED_PIXEL_M:g} m pixels are assumed"
    try:
        summary = mask_scene(
            input_path, out, method="auto", bands=bands, dn_offset=dn_offset, device=device,
            progress=progress, overwrite=True, dilate=px, fill_holes=holes,
        )  # fmt: skip
    except (CloudfreeError, ValueError) as exc:  # no method for these bands / this product
        return None, f"no mask method applies ({exc})"
    grown = f", grown by {px} px ({dilate_m:g} m)" if px else ""
    grown += f", enclosed clear patches up to {holes} px ({holes_ha:g} ha) set to cloud" if holes else ""
    return Path(out), f"{summary.method} ({summary.reason}){grown}{assumed if grown else ''}"
