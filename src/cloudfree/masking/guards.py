"""Post-processing every mask method shares: snow and dark-water guards, the SCL mapping, dilation.

All functions take and return uint8 mask codes ``(h, w)`` (0 clear, 1 thick, 2 thin, 3 shadow,
255 nodata) and, for the spectral guards, reflectance bands ``(h, w)`` float 0..1.

* **Snow is not cloud.** Snow and ice are bright in the visible like cloud but dark in the short-
  wave infrared (B11), where water and liquid-water clouds are bright: the normalised difference
  snow index NDSI = (B03 - B11) / (B03 + B11) is high on snow. A pixel a method calls cloud (or
  shadow) is set clear where NDSI > 0.4 and green > 0.1 (the Sen2Cor / Fmask snow test; Fmask
  additionally asks NIR > 0.11) and B11 < 0.15, i.e. only where the method was fooled by a surface
  that the spectral test recognises as snow. Needs B03 and B11 (a 4-band input gets no guard).
* **Dark water is not shadow.** Open water is dark in the NIR like a shadow; a pixel called shadow
  is set clear where NDWI = (B03 - B08) / (B03 + B08) > 0.2 and B08 < 0.05 (McFeeters' water index
  with Fmask's dark-NIR water test), unless it lies within ``shadow_context`` px of cloud (a shadow
  next to its cloud is kept, also on water).
* **SCL** (Sen2Cor scene classification, L2A): 8, 9 (cloud medium / high probability) -> thick
  cloud; 10 (thin cirrus) -> thin cloud; 3 (cloud shadow) -> shadow; 0 (no data) -> 255; the rest,
  including 11 (snow) and 6 (water), clear.
* **Dilation** by ``px`` pixels (a disk): clear pixels within ``px`` of cloud become cloud, then clear
  pixels within ``px`` of shadow become shadow; nodata is never written over. Post-processing that
  looks ``px`` pixels away needs a halo of ``px`` pixels in windowed processing.
* **Small holes** (:func:`fill_holes`): a clear patch of at most ``max_px`` pixels enclosed by
  cloud and shadow is a mask miss far more often than a clearing (masks at 30-60 m leave gaps in
  the bright cores of real clouds); it becomes cloud (shadow when no cloud touches it). Removal
  fills a masked cloud from its clear pixels, so a few bright "clear" cloud pixels inside it would
  spread into a white blob. Patches touching the array's edge or nodata are kept (they may go on
  beyond it): windowed processing needs a halo wider than the largest hole.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from cloudfree.masks import CLEAR, NODATA, SHADOW, THICK, THIN

SNOW_NDSI, SNOW_GREEN, SNOW_SWIR_MAX = 0.4, 0.1, 0.15
WATER_NDWI, WATER_NIR_MAX = 0.2, 0.05
SCL_TO_CODES: dict[int, int] = {
    0: NODATA,
    1: CLEAR,  # saturated / defective
    2: CLEAR,  # dark area pixels
    3: SHADOW,
    4: CLEAR,
    5: CLEAR,
    6: CLEAR,
    7: CLEAR,  # unclassified
    8: THICK,
    9: THICK,
    10: THIN,
    11: CLEAR,  # snow / ice
}


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float32), b.astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a + b > 1e-6, (a - b) / (a + b), 0.0)


def snow(green: np.ndarray, swir16: np.ndarray) -> np.ndarray:
    """Bool ``(h, w)``: the spectral snow/ice test (NDSI > 0.4, green > 0.1, B11 < 0.15)."""
    return (_ratio(green, swir16) > SNOW_NDSI) & (green > SNOW_GREEN) & (swir16 < SNOW_SWIR_MAX)


def dark_water(green: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """Bool ``(h, w)``: open water (NDWI > 0.2 and B08 < 0.05)."""
    return (_ratio(green, nir) > WATER_NDWI) & (nir < WATER_NIR_MAX)


def snow_guard(codes: np.ndarray, green: np.ndarray, swir16: np.ndarray) -> np.ndarray:
    """Copy of ``codes`` with cloud and shadow set clear where the snow test holds."""
    out = codes.copy()
    fooled = np.isin(out, (THICK, THIN, SHADOW)) & snow(green, swir16)
    out[fooled] = CLEAR
    return out


def water_guard(codes: np.ndarray, green: np.ndarray, nir: np.ndarray, shadow_context: int = 0) -> np.ndarray:
    """Copy of ``codes`` with shadow set clear on dark water away (> ``shadow_context`` px) from cloud."""
    out = codes.copy()
    fooled = (out == SHADOW) & dark_water(green, nir)
    if shadow_context > 0 and fooled.any():
        near_cloud = ndimage.binary_dilation(np.isin(out, (THICK, THIN)), _disk(shadow_context))
        fooled &= ~near_cloud
    out[fooled] = CLEAR
    return out


def scl_to_codes(scl: np.ndarray) -> np.ndarray:
    """uint8 mask codes of a Sen2Cor SCL band (values 0..11; anything else -> 255)."""
    lut = np.full(256, NODATA, np.uint8)
    for k, v in SCL_TO_CODES.items():
        lut[k] = v
    arr = np.asarray(scl)
    inside = (arr >= 0) & (arr <= 255)
    out = np.full(arr.shape, NODATA, np.uint8)
    out[inside] = lut[arr[inside].astype(np.int64)]
    return out


def _disk(px: int) -> np.ndarray:
    y, x = np.ogrid[-px : px + 1, -px : px + 1]
    return (x * x + y * y) <= px * px


def dilate(codes: np.ndarray, px: int) -> np.ndarray:
    """Copy of ``codes`` with cloud, then shadow, grown by a disk of radius ``px`` over clear pixels."""
    if px <= 0:
        return codes.copy()
    out = codes.copy()
    disk = _disk(int(px))
    for cls in ((THICK, THIN), (SHADOW,)):
        src = np.isin(codes, cls)
        if not src.any():
            continue
        grown = ndimage.binary_dilation(src, disk) & (out == CLEAR)
        if len(cls) == 2:  # grown cloud: the nearest cloud code would be ideal; thick is the safe choice
            out[grown] = THICK
        else:
            out[grown] = SHADOW
    return out


def hole_halo(max_px: int) -> int:
    """Halo (px) that :func:`fill_holes` needs in windowed processing: a hole of ``max_px`` pixels
    with its enclosing ring fits inside it unless the hole is much longer than wide."""
    return 2 * int(np.ceil(np.sqrt(max(max_px, 0)))) + 2 if max_px > 0 else 0


def fill_holes(codes: np.ndarray, max_px: int) -> np.ndarray:
    """Copy of ``codes`` with enclosed clear patches of at most ``max_px`` pixels set to cloud (or shadow).

    Clear patches are 8-connected; a patch touching the array edge or a nodata pixel is never
    filled. A filled patch becomes thick cloud where any cloud pixel touches it, else shadow.
    """
    out = codes.copy()
    if max_px <= 0:
        return out
    eight = np.ones((3, 3), bool)
    labels, n = ndimage.label(codes == CLEAR, structure=eight)
    if n == 0:
        return out
    small = np.bincount(labels.ravel(), minlength=n + 1) <= max_px
    small[0] = False
    small[np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))] = False
    if not small.any():
        return out
    near_nodata = ndimage.binary_dilation(codes == NODATA, eight)
    small[np.unique(labels[near_nodata])] = False
    small[0] = False
    near_cloud = ndimage.binary_dilation(np.isin(codes, (THICK, THIN)), eight)
    cloudy = np.zeros(n + 1, bool)
    cloudy[np.unique(labels[near_cloud])] = True
    hole = small[labels]
    out[hole & cloudy[labels]] = THICK
    out[hole & ~cloudy[labels]] = SHADOW
    return out
