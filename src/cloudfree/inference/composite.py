"""Compositing: replace only cloud and shadow pixels, feather the edge, keep clear pixels exactly.

A cloud-free estimate (from a model or a temporal baseline, reflectance 0..1) replaces the input
only where the mask says cloud or shadow (codes 1, 2, 3; a binary mask's 1). Around the mask the
estimate is blended in over ``feather`` pixels with a linear distance ramp, so that no hard edge
shows; beyond the ramp the output is the input itself. For integer DN output the clear pixels are
*copied* from the input DN (same offset), so they are bit-identical, not re-quantised.

Output conventions live here too (:func:`output_tags`, :func:`output_offset`), so that model
removal and temporal baselines write the same kind of file.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from rasterio.windows import Window
from scipy import ndimage

from cloudfree import __version__
from cloudfree.io.geotiff import RADIOMETRY_TAG, RasterInfo, read_mask
from cloudfree.masks import NODATA
from cloudfree.masks import cloud_of as cloud_of  # re-exported: it lives in the core now
from cloudfree.radiometry import Radiometry, reflectance_to_dn
from cloudfree.raster import Raster

OUTPUT_DTYPES = ("uint16", "float32")
#: input tags worth carrying to the output (acquisition time, product id)
KEPT_TAGS = ("DATETIME", "PRODUCT", "PRODUCT_ID", "SPACECRAFT", "PROCESSING_BASELINE")


def feather_weights(cloud: np.ndarray, feather: int) -> np.ndarray:
    """Float32 ``(h, w)`` weight of the estimate: 1 on cloud, ``1 - d / (feather + 1)`` at distance
    ``d`` (pixels, Euclidean) outside it, 0 beyond ``feather`` pixels. ``feather=0``: the mask itself."""
    cloud = np.asarray(cloud, bool)
    if feather <= 0 or not cloud.any():
        return cloud.astype(np.float32)
    dist = ndimage.distance_transform_edt(~cloud)
    weight = np.clip(1.0 - dist / (feather + 1.0), 0.0, 1.0)
    weight[dist > feather] = 0.0
    return weight.astype(np.float32)


def read_mask_window(path: str, window: Window, margin: int, height: int) -> tuple[np.ndarray, slice]:
    """Mask codes of ``window`` (full width) extended by ``margin`` rows above and below (clipped to
    the image), and the slice of rows that is ``window`` itself: feathering needs the context."""
    r0 = max(0, int(window.row_off) - margin)
    r1 = min(height, int(window.row_off + window.height) + margin)
    codes = read_mask(path, window=Window(window.col_off, r0, window.width, r1 - r0))
    start = int(window.row_off) - r0
    return codes, slice(start, start + int(window.height))


def composite(
    original: Raster, estimate: np.ndarray, weight: np.ndarray | None, dtype: str, offset: np.ndarray | None = None
) -> np.ndarray:
    """Blend ``estimate`` into ``original`` with ``weight``; return the output window in ``dtype``.

    Args:
        original: the input window (DN or reflectance), bands = the estimate's bands.
        estimate: ``(bands, h, w)`` float32 reflectance.
        weight: ``(h, w)`` in 0..1 (1 = estimate, 0 = input exactly); ``None`` = estimate everywhere.
        dtype: ``uint16`` (DN with ``offset``, valid pixels kept >= 1) or ``float32`` reflectance.
        offset: DN offset per band for integer output (default: the input's own).
    """
    if estimate.shape != original.data.shape:
        raise ValueError(f"estimate {estimate.shape} does not match input window {original.data.shape}")
    integer = np.issubdtype(np.dtype(dtype), np.integer)
    off = original.dn_offset if offset is None else np.asarray(offset, np.float32)
    if weight is None:
        out = estimate.astype(np.float32, copy=False)
        return reflectance_to_dn(out, off, dtype=np.dtype(dtype).type) if integer else out
    refl = original.to_reflectance().data
    w = weight.astype(np.float32)[None]
    blend = w * estimate + (1.0 - w) * refl
    replaced = weight > 0
    if not integer:
        return np.where(replaced[None], blend, refl).astype(np.float32)
    new = reflectance_to_dn(blend, off, dtype=np.dtype(dtype).type)
    if original.radiometry is Radiometry.DN and np.array_equal(off, original.dn_offset):
        kept = original.data.astype(dtype)  # bit-identical clear pixels
    else:
        kept = reflectance_to_dn(refl, off, dtype=np.dtype(dtype).type)
    return np.where(replaced[None], new, kept)


def output_offset(info_radiometry: Radiometry, dn_offset: np.ndarray, dtype: str) -> np.ndarray | None:
    """DN offset of an integer output: the input's own when it is DN, else 0; None for float output."""
    if not np.issubdtype(np.dtype(dtype), np.integer):
        return None
    if info_radiometry is Radiometry.DN:
        return np.asarray(dn_offset, np.float32)
    return np.zeros(len(dn_offset), np.float32)


def default_dtype(radiometry: Radiometry) -> str:
    """uint16 DN for DN inputs, float32 reflectance otherwise."""
    return "uint16" if radiometry is Radiometry.DN else "float32"


def output_tags(
    info: RasterInfo,
    dtype: str,
    offset: np.ndarray | None,
    *,
    method: str,
    model: str | None = None,
    model_version: str | None = None,
    replaced: str = "cloud and shadow pixels",
    extra: dict[str, Any] | None = None,
) -> dict[str, str]:
    """Tags of a cloud-free output: radiometry, DN offsets, method/model name and version, source."""
    tags = {k: info.tags[k] for k in KEPT_TAGS if k in info.tags}
    integer = np.issubdtype(np.dtype(dtype), np.integer)
    tags[RADIOMETRY_TAG] = Radiometry.DN.value if integer else Radiometry.REFLECTANCE.value
    tags["CLOUDFREE_RADIOMETRY_NOTE"] = (
        "reflectance = (DN + CLOUDFREE_DN_OFFSET) / 10000" if integer else "top-of-atmosphere/surface reflectance 0..1"
    )
    if integer and offset is not None:
        tags["CLOUDFREE_DN_OFFSET"] = json.dumps([float(x) for x in offset])
    tags["CLOUDFREE_METHOD"] = method
    if model is not None:
        tags["CLOUDFREE_MODEL"] = model
    if model_version is not None:
        tags["CLOUDFREE_MODEL_VERSION"] = model_version
    tags["CLOUDFREE_REPLACED"] = replaced
    tags["CLOUDFREE_SOURCE"] = info.path
    tags["CLOUDFREE_VERSION"] = __version__
    for key, value in (extra or {}).items():
        tags[key] = value if isinstance(value, str) else json.dumps(value)
    return tags


def mask_output(codes: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The mask written with ``--write-mask``: ``(1, h, w)`` uint8 codes, 255 where the input is nodata."""
    out = np.asarray(codes, dtype=np.uint8).copy()
    out[~valid] = NODATA
    return out[None]
