"""What a raster file states about itself: shape, grid, band names, radiometry and DN offsets.

The one place where the band names of a file (descriptions or ``bands=``), its radiometric
convention (cloudfree's tag, else band names and dtype: integer Sentinel-2 bands are DN, float ones
reflectance, VV/VH dB) and its DN offsets (tags ``CLOUDFREE_DN_OFFSET`` / ``RADIO_ADD_OFFSET`` /
``BOA_ADD_OFFSET``, never guessed from a date) are resolved for single files; the product readers
(:mod:`.safe`, :mod:`.bandfiles`) resolve theirs from product metadata and file names.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from affine import Affine
from rasterio.crs import CRS

from cloudfree import bands as bandcat
from cloudfree.errors import RasterReadError
from cloudfree.io.warp import open_dataset
from cloudfree.radiometry import Radiometry

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


def info_of(dataset: Any, path: str | os.PathLike[str]) -> RasterInfo:
    """:class:`RasterInfo` of an open rasterio dataset."""
    src = dataset
    return RasterInfo(
        path=str(path),
        count=src.count,
        height=src.height,
        width=src.width,
        dtype=src.dtypes[0],
        crs=src.crs if src.crs else None,
        transform=src.transform,
        nodata=src.nodata,
        descriptions=tuple(src.descriptions),
        tags=dict(src.tags()),
    )


def open_info(path: str | os.PathLike[str]) -> RasterInfo:
    """Metadata of a raster file (shape, dtype, CRS, transform, descriptions, tags) without pixels."""
    with open_dataset(path) as src:
        return info_of(src, path)


_HINTS = {  # band count -> the layouts such a file most often has
    13: "l1c13",
    12: "l2a12",
    4: "rgbn",
    3: "rgb",
}


def _bands_hint(count: int) -> str:
    """How to name ``count`` bands: a band-set name that has that many, else a comma list."""
    spec = _HINTS.get(count)
    example = (
        f"'--bands {spec}' ({','.join(bandcat.resolve(spec))}) on the command line, bands='{spec}' in Python"
        if spec
        else "'--bands B04,B03,B02,...' on the command line, bands=... in Python"
    )
    return f"e.g. {example}; 'cloudfree info --help' lists the band-set names"


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
            f"{info.path}: its {info.count} band(s) carry no descriptions, so their names are unknown; pass "
            f"the band names in file order, {_bands_hint(info.count)}"
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
