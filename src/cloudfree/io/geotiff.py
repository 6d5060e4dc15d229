"""Multi-band GeoTIFF reading and writing with band names, radiometry and georeferencing.

Reading is windowed (``window=``) so that large scenes are never loaded whole. Band names come from
the file's band descriptions or are given explicitly; the radiometric convention is stated by the
caller or taken from cloudfree's own tags, else inferred from band names and dtype (integer
Sentinel-2 bands are DN, float ones reflectance, VV/VH are dB). The DN offset is read from the tag
``CLOUDFREE_DN_OFFSET`` / ``RADIO_ADD_OFFSET`` / ``BOA_ADD_OFFSET`` or passed explicitly; never
guessed from a date.

Writing goes to a temporary tiled GTiff and is copied to a Cloud-Optimized GeoTIFF (the COG driver
is create-copy only), then renamed onto the final name.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.shutil import copy as rio_copy
from rasterio.windows import Window

from cloudfree import __version__
from cloudfree import bands as bandcat
from cloudfree.errors import RasterReadError
from cloudfree.io.atomic import atomic_path, temp_sibling
from cloudfree.radiometry import Radiometry
from cloudfree.raster import Raster

OFFSET_TAGS = ("CLOUDFREE_DN_OFFSET", "RADIO_ADD_OFFSET", "BOA_ADD_OFFSET")
RADIOMETRY_TAG = "CLOUDFREE_RADIOMETRY"


@dataclass(frozen=True)
class RasterInfo:
    """What a raster file holds, read without its pixels."""

    path: str
    count: int
    height: int
    width: int
    dtype: str
    crs: CRS | None
    transform: Affine
    nodata: float | None
    descriptions: tuple[str | None, ...]
    tags: dict[str, str]

    @property
    def res(self) -> tuple[float, float]:
        return (abs(self.transform.a), abs(self.transform.e))


def _open(path: str | os.PathLike[str]) -> rasterio.DatasetReader:
    import warnings

    p = str(path)
    if not p.startswith(("/vsi", "http://", "https://", "s3://")) and not Path(p).exists():
        raise RasterReadError(f"{p}: file does not exist")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(p)
    except RasterioIOError as exc:
        raise RasterReadError(f"{p}: not a readable raster ({exc})") from exc


def open_info(path: str | os.PathLike[str]) -> RasterInfo:
    """Metadata of a raster file (shape, dtype, CRS, transform, descriptions, tags) without pixels."""
    with _open(path) as src:
        crs = src.crs if src.crs else None
        return RasterInfo(
            path=str(path),
            count=src.count,
            height=src.height,
            width=src.width,
            dtype=src.dtypes[0],
            crs=crs,
            transform=src.transform,
            nodata=src.nodata,
            descriptions=tuple(src.descriptions),
            tags=dict(src.tags()),
        )


def band_names_of(info: RasterInfo, bands: Sequence[str] | str | None) -> tuple[str, ...]:
    """Canonical band names of a file: from ``bands`` if given, else from its band descriptions."""
    if bands is not None:
        names = bandcat.resolve(bands)
        if len(names) != info.count:
            raise RasterReadError(
                f"{info.path}: has {info.count} bands but {len(names)} band names were given {list(names)}"
            )
        return names
    if any(d is None or not d.strip() for d in info.descriptions):
        raise RasterReadError(
            f"{info.path}: bands carry no descriptions, so their names are unknown; pass the band names "
            f"explicitly (e.g. bands='l1c13' for 13 L1C bands, '--bands l1c13' on the command line)"
        )
    try:
        return tuple(bandcat.canonical(d) for d in info.descriptions)  # type: ignore[arg-type]
    except bandcat.BandError as exc:
        raise RasterReadError(f"{info.path}: band description is not a band name: {exc}") from exc


def infer_radiometry(names: Sequence[str], dtype: str, tags: dict[str, str]) -> Radiometry:
    """Radiometric convention from cloudfree's tag, else band names and dtype."""
    if RADIOMETRY_TAG in tags:
        return Radiometry(tags[RADIOMETRY_TAG])
    if all(bandcat.is_sar(b) for b in names):
        return Radiometry.SAR_DB
    if np.issubdtype(np.dtype(dtype), np.integer):
        return Radiometry.DN
    return Radiometry.REFLECTANCE


def dn_offset_from_tags(tags: dict[str, str], count: int) -> np.ndarray | None:
    """Per-band DN offsets recorded in a file's tags, or None when the file records none."""
    for key in OFFSET_TAGS:
        if key in tags:
            vals = json.loads(tags[key]) if tags[key].strip().startswith("[") else float(tags[key])
            return np.broadcast_to(np.asarray(vals, dtype=np.float32), (count,)).copy()
    return None


def _valid_from(data: np.ndarray, nodata: float | None) -> np.ndarray:
    """Valid where no band is NaN or equal to ``nodata``."""
    invalid = np.zeros(data.shape[1:], dtype=bool)
    if np.issubdtype(data.dtype, np.floating):
        invalid |= np.isnan(data).any(axis=0)
    if nodata is not None and not np.isnan(nodata):
        invalid |= (data == nodata).any(axis=0)
    return ~invalid


def read_raster(
    path: str | os.PathLike[str],
    bands: Sequence[str] | str | None = None,
    *,
    select: Sequence[str] | str | None = None,
    window: Window | None = None,
    radiometry: Radiometry | str | None = None,
    dn_offset: float | Sequence[float] | None = None,
    nodata: float | None = None,
) -> Raster:
    """Read a multi-band GeoTIFF (or any GDAL raster) into a :class:`Raster`.

    Args:
        path: file to read.
        bands: names of the file's bands in file order (any aliases or a band set); default: from
            the band descriptions.
        select: read only these bands (in this order); default all.
        window: read only this pixel window.
        radiometry: convention of the values; default from tags, band names and dtype.
        dn_offset: DN offset(s) to apply when converting to reflectance; default from the file's
            tags, else 0 (products before baseline 04.00).
        nodata: override the file's nodata value.
    """
    info = open_info(path)
    names = band_names_of(info, bands)
    wanted = names if select is None else bandcat.resolve(select)
    idx = bandcat.indices_of(names, wanted, info.path)
    if window is not None:
        win = Window(int(window.col_off), int(window.row_off), int(window.width), int(window.height))
        inside = win.col_off >= 0 and win.row_off >= 0
        inside = inside and win.col_off + win.width <= info.width and win.row_off + win.height <= info.height
        if not inside:
            raise RasterReadError(f"{info.path}: window {win} lies outside the {info.height}x{info.width} raster")
    else:
        win = Window(0, 0, info.width, info.height)
    with _open(path) as src:
        try:
            data = src.read([i + 1 for i in idx], window=win)
        except RasterioIOError as exc:
            raise RasterReadError(f"{info.path}: pixel data could not be read ({exc}); is the file truncated?") from exc
        transform = src.window_transform(win)
    nd = info.nodata if nodata is None else nodata
    valid = _valid_from(data, nd)
    radio = Radiometry(radiometry) if radiometry is not None else infer_radiometry(names, info.dtype, info.tags)
    if dn_offset is not None:
        offset = np.broadcast_to(np.asarray(dn_offset, dtype=np.float32), (len(names),)).copy()
    else:
        offset = dn_offset_from_tags(info.tags, len(names))
        if offset is None:
            offset = np.zeros(len(names), dtype=np.float32)
    return Raster(
        data=data,
        bands=wanted,
        crs=info.crs,
        transform=transform,
        valid=valid,
        radiometry=radio,
        dn_offset=offset[idx],
        nodata=nd,
        source=info.path,
        tags=info.tags,
    )


def read_mask(path: str | os.PathLike[str], window: Window | None = None, like: Raster | None = None) -> np.ndarray:
    """Read a single-band mask/label file as ``(height, width)`` array.

    With ``like``, the mask must have the same shape as that raster (a clear error otherwise).
    """
    info = open_info(path)
    if info.count != 1:
        raise RasterReadError(f"{info.path}: a mask must have exactly one band, this file has {info.count}")
    with _open(path) as src:
        try:
            mask = src.read(1, window=window)
        except RasterioIOError as exc:
            raise RasterReadError(f"{info.path}: mask could not be read ({exc})") from exc
    if like is not None and mask.shape != (like.height, like.width):
        raise RasterReadError(
            f"{info.path}: mask is {mask.shape[0]}x{mask.shape[1]} px but {like.source} is {like.height}x{like.width}"
        )
    return mask


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


def finalize_cog(tmp_gtiff: Path, final: Path, overviews: bool = True, resampling: str | None = None) -> None:
    """Copy a finished tiled GTiff to a COG at a temporary name, then rename onto ``final``.

    Overviews are resampled with ``resampling``; by default AVERAGE, or NEAREST for uint8 and
    label rasters (class codes must not be averaged). GDAL's own COG default (CUBIC) is some 40x
    slower on multi-band uint16 scenes.
    """
    if resampling is None:
        with rasterio.open(tmp_gtiff) as src:
            label = src.dtypes[0] == "uint8" or src.tags().get(RADIOMETRY_TAG) == Radiometry.LABEL.value
        resampling = "NEAREST" if label else "AVERAGE"
    with atomic_path(final) as tmp_cog:
        rio_copy(
            str(tmp_gtiff),
            str(tmp_cog),
            driver="COG",
            compress="DEFLATE",
            overviews="AUTO" if overviews else "NONE",
            RESAMPLING=resampling,
            BIGTIFF="IF_SAFER",
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
    tmp = temp_sibling(final, "part")
    try:
        with rasterio.open(tmp, "w", **profile_for(raster, out_dtype, nodata)) as dst:
            dst.write(data)
            dst.descriptions = tuple(raster.bands)
            dst.update_tags(**standard_tags(raster, tags))
        if cog:
            finalize_cog(tmp, final)
        else:
            with atomic_path(final) as tmp_final:
                os.replace(tmp, tmp_final)
    finally:
        if tmp.exists():
            tmp.unlink()
    return final


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
    final = Path(path)
    tmp = temp_sibling(final, "part")
    try:
        with rasterio.open(tmp, "w", **profile_for(raster, "uint8", nodata)) as dst:
            dst.write(raster.data)
            dst.descriptions = (description,)
            dst.update_tags(
                **{RADIOMETRY_TAG: Radiometry.LABEL.value, "CLOUDFREE_VERSION": __version__},
                **{k: (v if isinstance(v, str) else json.dumps(v)) for k, v in (tags or {}).items()},
            )
        if cog:
            finalize_cog(tmp, final, overviews=False)
        else:
            with atomic_path(final) as tmp_final:
                os.replace(tmp, tmp_final)
    finally:
        if tmp.exists():
            tmp.unlink()
    return final
