"""Sentinel-1 GRD/RTC preparation: linear power -> speckle filter -> reprojection -> dB, clipped.

:func:`read_s1` reads VV/VH from one two-band file or two single-band files; :func:`prepare_s1`
takes a :class:`~cloudfree.raster.Raster` with bands ``VV`` and ``VH`` (either order, extra bands
dropped) holding backscatter as linear power (``Radiometry.SAR_LINEAR``: calibrated GRD sigma0 or
RTC gamma0, e.g. Planetary Computer ``sentinel-1-rtc``) or already in dB (``Radiometry.SAR_DB``, as
Sen1Floods11 / SEN12MS ship it). Output is a Raster ``(2, height, width)`` float32, bands
``("VV", "VH")``, ``Radiometry.SAR_DB``, clipped to the SEN12MS-CR ranges (VV -25..0, VH -32.5..0 dB),
NaN and ``valid == False`` outside the Sentinel-1 footprint.

Order of operations, and why:

1. invalid values *inside* the footprint (zero, negative, NaN power: border noise, masked pixels) are
   filled from their nearest valid neighbour (:func:`cloudfree.radiometry.fill_invalid_linear`), so
   that no ``-inf`` dB reaches a network; pixels outside the footprint stay invalid;
2. the optional Lee filter runs on the native grid in linear power, where speckle is multiplicative
   with unit mean and its statistics (equivalent number of looks) hold;
3. reprojection onto the Sentinel-2 grid is bilinear **in linear power**: averaging intensities
   preserves the mean backscatter, whereas averaging dB values (a log) biases the result low;
4. conversion to dB and clipping.

The Lee filter is written here with ``scipy.ndimage.uniform_filter`` because no well-kept Python
library offers it (SNAP/pyroSAR are heavy Java toolchains; findpeaks and similar are small,
lightly maintained packages). It is the classic local-statistics Lee filter for multiplicative noise.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import reproject
from scipy import ndimage

from cloudfree import bands as bandcat
from cloudfree.errors import RasterReadError
from cloudfree.io.geotiff import read_raster
from cloudfree.io.metadata import open_info
from cloudfree.radiometry import Radiometry, clip_sar_db, db_to_linear, fill_invalid_linear, linear_to_db
from cloudfree.raster import Raster

S1_BANDS = ("VV", "VH")
DEFAULT_LOOKS = 4.4  # equivalent number of looks of IW GRD high resolution products (ESA product spec)


def read_s1(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    radiometry: Radiometry | str = Radiometry.SAR_LINEAR,
) -> Raster:
    """Read Sentinel-1 VV and VH into one Raster ``(2, height, width)`` float32.

    ``paths`` is one file with both bands (named by its band descriptions, else taken as VV, VH) or
    two single-band files in the order VV, VH (as Planetary Computer and Earth Search publish them).
    ``radiometry`` states the values: ``sar_linear`` (power, the default) or ``sar_db``.
    """
    radio = Radiometry(radiometry)
    if radio not in (Radiometry.SAR_LINEAR, Radiometry.SAR_DB):
        raise ValueError(f"Sentinel-1 values must be sar_linear or sar_db, not {radio.value}")
    files = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    if len(files) == 1:
        info = open_info(files[0])
        named = all(d and d.strip() for d in info.descriptions)
        raster = read_raster(files[0], None if named else ("VV", "VH"), radiometry=radio)
        return raster.with_data(raster.data.astype(np.float32))
    if len(files) != 2:
        raise ValueError(f"give one VV+VH file or two files (VV, VH), got {len(files)}")
    vv = read_raster(files[0], ("VV",), radiometry=radio)
    vh = read_raster(files[1], ("VH",), radiometry=radio)
    if not vv.same_grid(vh):
        raise RasterReadError(f"{files[0]} and {files[1]}: VV and VH are not on the same grid")
    return vv.with_data(
        np.concatenate([vv.data, vh.data]).astype(np.float32), bands=S1_BANDS, valid=vv.valid & vh.valid
    )


def lee_filter(linear: np.ndarray, size: int = 5, looks: float = DEFAULT_LOOKS) -> np.ndarray:
    """Lee speckle filter of one ``(height, width)`` linear-power band (no NaN; fill them first).

    ``out = mean + w * (x - mean)`` with ``w = clip(1 - Cu^2 / Ci^2, 0, 1)``: ``Ci`` is the local
    coefficient of variation in a ``size`` x ``size`` window and ``Cu = 1 / sqrt(looks)`` the speckle's.
    Homogeneous areas (``Ci`` ~ ``Cu``) get the local mean, edges and point targets keep their value.
    """
    if size < 3 or size % 2 == 0:
        raise ValueError(f"Lee filter window must be an odd number >= 3, got {size}")
    if looks <= 0:
        raise ValueError(f"equivalent number of looks must be positive, got {looks}")
    img = np.asarray(linear, dtype=np.float64)
    mean = ndimage.uniform_filter(img, size=size, mode="reflect")
    mean_sq = ndimage.uniform_filter(img * img, size=size, mode="reflect")
    var = np.maximum(mean_sq - mean * mean, 0.0)
    cu2 = 1.0 / looks
    with np.errstate(divide="ignore", invalid="ignore"):
        ci2 = np.where(mean > 0, var / (mean * mean), 0.0)
        weight = np.where(ci2 > 0, np.clip(1.0 - cu2 / ci2, 0.0, 1.0), 0.0)
    return (mean + weight * (img - mean)).astype(np.float32)


def _linear_vv_vh(raster: Raster) -> tuple[np.ndarray, np.ndarray]:
    """``(2, h, w)`` linear power of VV, VH with NaN outside the footprint, and the footprint mask."""
    names = tuple(bandcat.canonical(b) for b in raster.bands)
    idx = bandcat.indices_of(names, S1_BANDS, raster.source)
    data = raster.data[idx].astype(np.float32)
    if raster.radiometry is Radiometry.SAR_DB:
        data = db_to_linear(data)
    elif raster.radiometry is not Radiometry.SAR_LINEAR:
        raise ValueError(f"{raster.source}: Sentinel-1 input must be linear power or dB, not {raster.radiometry.value}")
    footprint = raster.valid.copy()
    if raster.nodata is not None and not np.isnan(raster.nodata):
        footprint &= ~(raster.data[idx] == raster.nodata).all(axis=0)
    footprint &= ~np.isnan(raster.data[idx]).all(axis=0)
    if not footprint.any():
        raise ValueError(f"{raster.source}: the Sentinel-1 raster holds no valid pixel")
    data[:, ~footprint] = np.nan
    return data, footprint


def prepare_s1(
    raster: Raster,
    like: Raster | None = None,
    *,
    crs: CRS | str | None = None,
    transform: Affine | None = None,
    shape: tuple[int, int] | None = None,
    speckle_window: int | None = None,
    looks: float = DEFAULT_LOOKS,
    clip: bool = True,
) -> Raster:
    """Sentinel-1 VV/VH (linear or dB) -> dB on a target grid (see the module docstring).

    Args:
        raster: Sentinel-1 raster with bands VV and VH, ``SAR_LINEAR`` or ``SAR_DB``.
        like: a (Sentinel-2) raster whose grid to reproject onto; or give ``crs``, ``transform`` and
            ``shape`` ``(height, width)``; or neither to stay on the input grid.
        speckle_window: odd Lee filter window in pixels (native grid); None for no filtering.
        looks: equivalent number of looks for the Lee filter.
        clip: clip to the SEN12MS-CR dB ranges.

    Returns:
        ``(2, height, width)`` float32 Raster, bands ``("VV", "VH")``, radiometry ``sar_db``, NaN where invalid.
    """
    linear, footprint = _linear_vv_vh(raster)
    filled = fill_invalid_linear(np.where(np.isnan(linear), 0.0, linear))
    if speckle_window:
        filled = np.stack([lee_filter(band, speckle_window, looks) for band in filled])
    filled[:, ~footprint] = np.nan
    if like is not None:
        crs, transform, shape = like.crs, like.transform, (like.height, like.width)
    if transform is not None and shape is not None and crs is not None:
        if raster.crs is None:
            raise ValueError(f"{raster.source}: Sentinel-1 raster has no CRS, so it cannot be reprojected")
        out = np.full((2, *shape), np.nan, dtype=np.float32)
        for i in range(2):
            reproject(
                filled[i],
                out[i],
                src_transform=raster.transform,
                src_crs=raster.crs,
                src_nodata=np.nan,
                dst_transform=transform,
                dst_crs=CRS.from_user_input(crs),
                dst_nodata=np.nan,
                resampling=Resampling.bilinear,
            )
        out_crs, out_transform = CRS.from_user_input(crs), transform
    elif transform is None and shape is None and crs is None:
        out, out_crs, out_transform = filled, raster.crs, raster.transform
    else:
        raise ValueError("give all of crs, transform and shape (or like=) to reproject Sentinel-1")
    valid = np.isfinite(out).all(axis=0) & (out > 0).all(axis=0)
    db = linear_to_db(np.where(valid, out, 1.0), fill_invalid=False)
    if clip:
        db = clip_sar_db(db, S1_BANDS)
    db[:, ~valid] = np.nan
    return Raster(
        data=db.astype(np.float32),
        bands=S1_BANDS,
        crs=out_crs,
        transform=out_transform,
        valid=valid,
        radiometry=Radiometry.SAR_DB,
        nodata=float("nan"),
        source=raster.source,
        tags=dict(raster.tags),
    )
