"""Whole-raster writers: a :class:`~cloudfree.raster.Raster` or a mask to a Cloud-Optimized GeoTIFF.

Writing goes to a temporary tiled GTiff and is copied to a COG (the COG driver is create-copy
only) at a temporary name, then renamed onto the final name. Band descriptions are the band names;
tags record radiometry, DN offsets and the cloudfree version. Scene-sized outputs are written by
windows with :class:`cloudfree.io.writer.WindowedCOGWriter`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.shutil import copy as rio_copy

from cloudfree import __version__
from cloudfree.io.atomic import atomic_path, temp_sibling
from cloudfree.io.metadata import RADIOMETRY_TAG
from cloudfree.radiometry import Radiometry
from cloudfree.raster import Raster


def profile_for(raster: Raster, dtype: str, nodata: float | None, count: int | None = None) -> dict[str, Any]:
    """A tiled, compressed GTiff profile for ``raster``'s grid."""
    blocksize = 256 if min(raster.height, raster.width) >= 256 else 16 * max(1, min(raster.height, raster.width) // 16)
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": raster.width,
        "height": raster.height,
        "count": raster.count if count is None else count,
        "dtype": dtype,
        "crs": raster.crs,
        "transform": raster.transform,
        "nodata": nodata,
        "compress": "deflate",
    }
    if blocksize >= 16:
        profile.update(tiled=True, blockxsize=blocksize, blockysize=blocksize)
    return profile


def standard_tags(raster: Raster, extra: dict[str, Any] | None = None) -> dict[str, str]:
    """Tags cloudfree writes on every output: radiometry, DN offsets, version, plus ``extra``."""
    tags = {
        RADIOMETRY_TAG: raster.radiometry.value,
        "CLOUDFREE_VERSION": __version__,
    }
    if raster.radiometry is Radiometry.DN:
        tags["CLOUDFREE_DN_OFFSET"] = json.dumps([float(x) for x in raster.dn_offset])
    for key, value in (extra or {}).items():
        tags[key] = value if isinstance(value, str) else json.dumps(value)
    return tags


COPY_CACHE_MIN_BYTES = 256 * 2**20
COPY_CACHE_BLOCK_ROWS = 4


def cog_copy_cache(src_path: str | os.PathLike[str]) -> dict[str, int]:
    """GDAL block cache for a COG copy of ``src_path``: ``{"GDAL_CACHEMAX": bytes}``, or ``{}``.

    GDAL's default cache is 5 % of the machine's RAM (1.2 GiB on 24 GB), and a COG copy with
    overviews fills all of it: a 10980 x 10980 x 13 uint16 scene, tiled 256 px like the engine's
    temporary, peaked at 1666 MiB with the default and at 526 / 362 MiB with 256 / 128 MiB, in the
    same time (82, 86, 85 s). The COG driver works on groups of tiles, but not every layout is so
    frugal: the same scene tiled 512 px ran over 3.5x slower at 256 MiB (1.7 rows of its blocks)
    and at full speed from 384 MiB. Hence ``max(256 MiB, 4 block rows of every band)``: 292 MiB
    for that scene's uint16 temporary, 600 MiB for its 512 px version. A ``GDAL_CACHEMAX``
    in the environment is the user's choice and wins (``{}``).
    """
    if "GDAL_CACHEMAX" in os.environ:
        return {}
    with rasterio.open(src_path) as src:
        block_h = src.block_shapes[0][0]
        row_bytes = block_h * src.width * src.count * np.dtype(src.dtypes[0]).itemsize
    return {"GDAL_CACHEMAX": max(COPY_CACHE_MIN_BYTES, COPY_CACHE_BLOCK_ROWS * row_bytes)}


def finalize_cog(tmp_gtiff: Path, final: Path, overviews: bool = True, resampling: str | None = None) -> None:
    """Copy a finished tiled GTiff to a COG at a temporary name, then rename onto ``final``.

    Overviews are resampled with ``resampling``; by default AVERAGE, or NEAREST for uint8 and
    label rasters (class codes must not be averaged). Blocks are compressed on ``GDAL_NUM_THREADS``
    threads (default all CPUs). GDAL's own COG default (CUBIC) is some 40x
    slower on multi-band uint16 scenes. GDAL's block cache is bounded during the copy
    (:func:`cog_copy_cache`) and restored after it.
    """
    if resampling is None:
        with rasterio.open(tmp_gtiff) as src:
            label = src.dtypes[0] == "uint8" or src.tags().get(RADIOMETRY_TAG) == Radiometry.LABEL.value
        resampling = "NEAREST" if label else "AVERAGE"
    with atomic_path(final) as tmp_cog, rasterio.Env(**cog_copy_cache(tmp_gtiff)):
        rio_copy(
            str(tmp_gtiff),
            str(tmp_cog),
            driver="COG",
            compress="DEFLATE",
            overviews="AUTO" if overviews else "NONE",
            RESAMPLING=resampling,
            BIGTIFF="IF_SAFER",
            NUM_THREADS=os.environ.get("GDAL_NUM_THREADS", "ALL_CPUS"),  # compression and overviews in parallel
        )


def write_raster(
    raster: Raster,
    path: str | os.PathLike[str],
    *,
    dtype: str | None = None,
    cog: bool = True,
    tags: dict[str, Any] | None = None,
) -> Path:
    """Write ``raster`` to ``path`` atomically, as a COG by default.

    Band descriptions are the canonical band names; invalid pixels get the nodata value (0 for
    integers, NaN for floats); cloudfree tags record radiometry, DN offsets and version.
    """
    final = Path(path)
    out_dtype = dtype or str(raster.data.dtype)
    nodata: float | None = float("nan") if np.issubdtype(np.dtype(out_dtype), np.floating) else 0
    if raster.radiometry is Radiometry.LABEL:
        nodata = raster.nodata
    data = raster.data.astype(out_dtype, copy=True)
    if nodata is not None:
        data[:, ~raster.valid] = nodata
    final.parent.mkdir(parents=True, exist_ok=True)
    profile = profile_for(raster, out_dtype, nodata)
    return _write_file(final, profile, data, tuple(raster.bands), standard_tags(raster, tags), cog=cog)


def write_mask(
    mask: np.ndarray,
    like: Raster,
    path: str | os.PathLike[str],
    *,
    description: str = "mask",
    nodata: int | None = 255,
    tags: dict[str, Any] | None = None,
    cog: bool = True,
) -> Path:
    """Write a ``(height, width)`` uint8 mask on ``like``'s grid (atomic, COG by default)."""
    if mask.shape != (like.height, like.width):
        raise ValueError(f"mask {mask.shape} does not match raster {like.height}x{like.width}")
    raster = Raster(
        data=mask[None].astype(np.uint8),
        bands=(description,),
        crs=like.crs,
        transform=like.transform,
        valid=np.ones(mask.shape, bool),
        radiometry=Radiometry.LABEL,
        nodata=nodata,
    )
    file_tags = {
        RADIOMETRY_TAG: Radiometry.LABEL.value,
        "CLOUDFREE_VERSION": __version__,
        **{k: (v if isinstance(v, str) else json.dumps(v)) for k, v in (tags or {}).items()},
    }
    profile = profile_for(raster, "uint8", nodata)
    return _write_file(Path(path), profile, raster.data, (description,), file_tags, cog=cog, overviews=False)


def _write_file(
    final: Path,
    profile: dict[str, Any],
    data: np.ndarray,
    descriptions: tuple[str, ...],
    tags: dict[str, Any],
    *,
    cog: bool,
    overviews: bool = True,
) -> Path:
    """Write ``data`` ``(bands, height, width)`` to a temporary sibling of ``final``, then make it the
    COG ``final`` (or rename it there when ``cog`` is false); nothing is left half-written."""
    tmp = temp_sibling(final, "part")
    try:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(data)
            dst.descriptions = descriptions
            dst.update_tags(**tags)
        if cog:
            finalize_cog(tmp, final, overviews=overviews)
        else:
            with atomic_path(final) as tmp_final:
                os.replace(tmp, tmp_final)
    finally:
        if tmp.exists():
            tmp.unlink()
    return final
