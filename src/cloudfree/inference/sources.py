"""Inputs of the streaming engine: raster or mask files read by windows on one common grid.

An input is a file plus which of its bands to use (``InputSpec``). The first input defines the
output grid; a later input on the same grid is read with :func:`cloudfree.io.read_raster` /
:func:`cloudfree.io.read_mask` window by window, one on another grid (e.g. Sentinel-1 in another
CRS) through a ``rasterio.vrt.WarpedVRT`` that reprojects it onto the first input's grid on the
fly, so that it too is read by windows (bilinear for rasters, nearest for masks by default).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from cloudfree import bands as bandcat
from cloudfree.errors import RasterReadError
from cloudfree.io.geotiff import (
    RasterInfo,
    band_names_of,
    dn_offset_from_tags,
    infer_radiometry,
    open_info,
    read_mask,
    read_raster,
)
from cloudfree.radiometry import Radiometry
from cloudfree.raster import Raster

MASK = "mask"


@dataclass(frozen=True)
class InputSpec:
    """One input file of a scene prediction.

    Attributes:
        path: the file.
        select: bands to use, in channel order (names, aliases or a band set); default all.
        bands: names of the file's bands in file order when its band descriptions do not name them.
        kind: ``"raster"`` (optical or SAR bands) or ``"mask"`` (one band of class codes, never
            converted, not counted in validity).
        radiometry: override the convention of the values (default: from tags, names, dtype).
        dn_offset: override the DN offset(s) (default: from the file's tags, else 0).
        resampling: used only when the file is not on the first input's grid.
    """

    path: Path
    select: str | tuple[str, ...] | None = None
    bands: str | tuple[str, ...] | None = None
    kind: str = "raster"
    radiometry: Radiometry | None = None
    dn_offset: float | tuple[float, ...] | None = None
    resampling: Resampling | None = None


InputLike = Union[str, os.PathLike, InputSpec, tuple]  # noqa: UP007 (runtime alias)


def as_specs(src: InputLike | Sequence[InputLike]) -> list[InputSpec]:
    """Normalise ``src`` (a path, an InputSpec, ``(path, band spec)`` or a list of them) to InputSpecs.

    In ``(path, spec)`` the spec selects bands (``"rgbn"``, ``"B04,B03,B02"``, ``["VV", "VH"]``);
    the literal ``"mask"`` marks a mask file.
    """
    items = [src] if isinstance(src, (str, os.PathLike, InputSpec, tuple)) else list(src)
    if not items:
        raise ValueError("predict_scene needs at least one input file")
    out = []
    for item in items:
        if isinstance(item, InputSpec):
            out.append(item)
        elif isinstance(item, tuple):
            path, spec = item
            if isinstance(spec, str) and spec == MASK:
                out.append(InputSpec(Path(path), kind=MASK))
            else:
                sel = spec if spec is None or isinstance(spec, str) else tuple(spec)
                out.append(InputSpec(Path(path), select=sel))
        else:
            out.append(InputSpec(Path(item)))
    if out[0].kind == MASK:
        raise ValueError(f"{out[0].path}: the first input defines the output grid and must be a raster, not a mask")
    return out


class Source:
    """A windowed reader of one input on the output grid (``grid``: the first input's info)."""

    def __init__(self, spec: InputSpec, grid: RasterInfo | None = None) -> None:
        self.spec = spec
        self.info = open_info(spec.path)
        if spec.kind not in ("raster", MASK):
            raise ValueError(f"{spec.path}: input kind must be 'raster' or 'mask', got {spec.kind!r}")
        if spec.kind == MASK:
            if self.info.count != 1:
                raise RasterReadError(f"{spec.path}: a mask input must have one band, this file has {self.info.count}")
            self.bands: tuple[str, ...] = (MASK,)
        else:
            names = self._file_names()
            self.file_bands = names
            self.bands = names if spec.select is None else bandcat.resolve(spec.select)
            bandcat.indices_of(names, self.bands, str(spec.path))
        self.grid = grid or self.info
        self.aligned = grid is None or _same_grid(self.info, grid)
        if not self.aligned and (self.info.crs is None or grid.crs is None):
            raise RasterReadError(
                f"{spec.path}: its grid ({self.info.height}x{self.info.width}, {self.info.transform}) differs from "
                f"{grid.path} and one of them has no CRS, so it cannot be reprojected; give inputs on one grid"
            )

    def _file_names(self) -> tuple[str, ...]:
        spec, info = self.spec, self.info
        if spec.bands is not None:
            return band_names_of(info, spec.bands)
        try:
            return band_names_of(info, None)
        except RasterReadError:
            # No descriptions: a selection naming exactly as many bands as the file holds names them.
            if spec.select is not None and len(bandcat.resolve(spec.select)) == info.count:
                return bandcat.resolve(spec.select)
            raise

    @property
    def channels(self) -> int:
        return len(self.bands)

    def read(self, window: Window) -> Raster:
        """The input's pixels in ``window`` of the output grid, as a Raster in the file's own units."""
        if self.aligned:
            if self.spec.kind == MASK:
                mask = read_mask(self.spec.path, window=window)
                return self._mask_raster(mask, window)
            return read_raster(
                self.spec.path,
                bands=self.file_bands,
                select=self.bands,
                window=window,
                radiometry=self.spec.radiometry,
                dn_offset=self.spec.dn_offset,
            )
        return self._read_warped(window)

    def _mask_raster(self, mask: np.ndarray, window: Window) -> Raster:
        return Raster(
            data=mask[None],
            bands=(MASK,),
            crs=self.grid.crs,
            transform=rasterio.windows.transform(window, self.grid.transform),
            valid=np.ones(mask.shape, bool),
            radiometry=Radiometry.LABEL,
            source=str(self.spec.path),
        )

    def _read_warped(self, window: Window) -> Raster:
        grid, info = self.grid, self.info
        is_mask = self.spec.kind == MASK
        resampling = self.spec.resampling or (Resampling.nearest if is_mask else Resampling.bilinear)
        idx = [1] if is_mask else [self.file_bands.index(b) + 1 for b in self.bands]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with (
                rasterio.open(info.path) as src,
                WarpedVRT(
                    src,
                    crs=grid.crs,
                    transform=grid.transform,
                    width=grid.width,
                    height=grid.height,
                    resampling=resampling,
                ) as vrt,
            ):
                data = vrt.read(idx, window=window)
                footprint = vrt.dataset_mask(window=window) > 0
        if is_mask:
            return self._mask_raster(data[0], window)
        valid = footprint.copy()
        if np.issubdtype(data.dtype, np.floating):
            valid &= np.isfinite(data).all(axis=0)
        radio = self.spec.radiometry or infer_radiometry(self.file_bands, info.dtype, info.tags)
        if self.spec.dn_offset is not None:
            offset = np.broadcast_to(np.asarray(self.spec.dn_offset, np.float32), (len(self.file_bands),))
        else:
            offset = dn_offset_from_tags(info.tags, len(self.file_bands))
            offset = np.zeros(len(self.file_bands), np.float32) if offset is None else offset
        return Raster(
            data=data,
            bands=self.bands,
            crs=grid.crs,
            transform=rasterio.windows.transform(window, grid.transform),
            valid=valid,
            radiometry=Radiometry(radio),
            dn_offset=np.asarray(offset)[[self.file_bands.index(b) for b in self.bands]],
            nodata=info.nodata,
            source=info.path,
            tags=info.tags,
        )


def _same_grid(a: RasterInfo, b: RasterInfo) -> bool:
    if (a.height, a.width) != (b.height, b.width) or a.crs != b.crs:
        return False
    return a.transform.almost_equals(b.transform, precision=1e-6 * max(abs(b.transform.a), abs(b.transform.e)))


def as_float(raster: Raster, to_reflectance: bool = True) -> np.ndarray:
    """Float32 model-input values ``(bands, h, w)``: DN as reflectance 0..1 when ``to_reflectance``, else as is."""
    if to_reflectance and raster.radiometry is Radiometry.DN:
        return raster.to_reflectance().data
    return raster.data.astype(np.float32, copy=False)
