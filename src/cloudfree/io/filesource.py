"""One GDAL raster file as a windowed source: a GeoTIFF/COG, a data-set patch, or a mask/label layer.

A :class:`FileSource` opens its file ONCE (a :class:`~cloudfree.io.warp.GridReader`), resolves the
band names, radiometry, DN offsets and nodata once, checks that the values can be the declared
radiometric kind (:func:`cloudfree.radiometry.check_values` on a small sample, unless the caller
stated the radiometry), and then reads windows of its grid, or of another grid after
:meth:`FileSource.on_grid` (one ``WarpedVRT``, built once). Non-finite values are nodata.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.windows import Window
from rasterio.windows import transform as window_transform

from cloudfree import bands as bandcat
from cloudfree.errors import RasterReadError
from cloudfree.io.metadata import (
    RADIOMETRY_TAG,
    RasterInfo,
    band_names_of,
    dn_offset_from_tags,
    infer_radiometry,
    info_of,
)
from cloudfree.io.warp import Grid, GridReader
from cloudfree.radiometry import Radiometry, check_values
from cloudfree.raster import Raster, valid_of

SAMPLE_SIDE = 32  # pixels per side of each of the 3 x 3 sample windows of the radiometric check


def sample_values(reader: GridReader, nodata: float | None) -> np.ndarray:
    """``(bands, n)`` valid finite values from a few small windows (or an overview) of the file."""
    ds = reader.dataset
    if ds.overviews(1):
        shape = (ds.count, min(ds.height, 256), min(ds.width, 256))
        data = ds.read(out_shape=shape)
        return data[:, valid_of(data, nodata)]
    parts = []
    for fy in (0.25, 0.5, 0.75):
        for fx in (0.25, 0.5, 0.75):
            h, w = min(SAMPLE_SIDE, ds.height), min(SAMPLE_SIDE, ds.width)
            win = Window(int((ds.width - w) * fx), int((ds.height - h) * fy), w, h)
            data = reader.read(range(1, ds.count + 1), win)
            parts.append(data[:, valid_of(data, nodata)])
    return np.concatenate(parts, axis=1)


def window_raster(source: Any, data: np.ndarray, bands: tuple[str, ...], idx: list[int], win: Window,
                  valid: np.ndarray) -> Raster:  # fmt: skip
    """The :class:`Raster` of a window a source read: ``data`` ``(bands, h, w)`` of its bands ``idx``,
    with the source's CRS, radiometry, per-band DN offsets, nodata, path and tags."""
    return Raster(
        data=data,
        bands=bands,
        crs=source.crs,
        transform=window_transform(win, source.transform),
        valid=valid,
        radiometry=source.radiometry,
        dn_offset=source.dn_offset[idx],
        nodata=source.nodata,
        source=source.path,
        tags=dict(source.tags),
    )


class FileSource:
    """One raster file read by windows of its grid (or a target grid).

    Args:
        path: the file.
        bands: names of the file's bands in file order (needed when it has no band descriptions).
        layout: name reported by ``cloudfree info`` (``"geotiff"``, ``"sen12mscr"``, ``"layer"`` ...).
        radiometry: what the values are; when given it is trusted (no sanity check). Default: the
            ``CLOUDFREE_RADIOMETRY`` tag, else band names and dtype, then checked on a sample.
        dn_offset: DN offset(s); default from the file's tags, else 0.
        nodata: nodata value; default the file's own.
        default_bands: band names used when ``bands`` is None and the file has no descriptions
            (data-set conventions such as SEN12MS-CR's 13 L1C bands).
        tags: extra tags carried by every raster read.
        label: read the single band as a ``Radiometry.LABEL`` layer (mask, labels, probability).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        bands: Sequence[str] | str | None = None,
        *,
        layout: str = "geotiff",
        radiometry: Radiometry | str | None = None,
        dn_offset: float | Sequence[float] | None = None,
        nodata: float | None = None,
        default_bands: Sequence[str] | str | None = None,
        tags: Mapping[str, Any] | None = None,
        label: bool = False,
    ) -> None:
        self.path = str(path)
        self.layout = layout
        self._reader = GridReader(path)
        self.info: RasterInfo = info_of(self._reader.dataset, path)
        self.crs, self.transform, self.dtype = self.info.crs, self.info.transform, self.info.dtype
        self.height, self.width = self.info.height, self.info.width
        self.nodata = self.info.nodata if nodata is None else nodata
        self.tags: dict[str, Any] = {**self.info.tags, **(tags or {})}
        self.explicit_radiometry = radiometry is not None
        self._resampling = "nearest" if label else "bilinear"
        if label:
            if self.info.count != 1:
                raise RasterReadError(f"{self.path}: a mask or label layer has one band, not {self.info.count}")
            self.bands: tuple[str, ...] = ((self.info.descriptions[0] or "").strip() or Path(self.path).stem,)
            self.radiometry = Radiometry.LABEL
            self.dn_offset = np.zeros(1, np.float32)
            return
        described = all(d and d.strip() for d in self.info.descriptions)
        if bands is None and not described and default_bands is not None:
            bands = default_bands
        self.bands = band_names_of(self.info, bands)
        inferred = infer_radiometry(self.bands, self.dtype, self.tags)
        self.radiometry = Radiometry(radiometry) if radiometry is not None else inferred
        offset = dn_offset_from_tags(self.tags, len(self.bands)) if dn_offset is None else dn_offset
        offset = np.asarray(0.0 if offset is None else offset, np.float32)
        if offset.size not in (1, len(self.bands)):
            raise RasterReadError(f"{self.path}: {offset.size} DN offsets given for {len(self.bands)} bands")
        self.dn_offset = np.broadcast_to(offset, (len(self.bands),)).copy()
        if not self.explicit_radiometry and self.radiometry in (Radiometry.DN, Radiometry.REFLECTANCE):
            floating = np.issubdtype(np.dtype(self.dtype), np.floating)
            # cloudfree's own float reflectance outputs (chips, results) need no look at the values
            own = self.tags.get(RADIOMETRY_TAG) == Radiometry.REFLECTANCE.value
            sample = sample_values(self._reader, self.nodata) if floating and not own else None
            check_values(self.radiometry, self.dtype, sample, source=self.path, bands=self.bands)

    # -- grid ----------------------------------------------------------------------------------
    @property
    def grid(self) -> Grid:
        return Grid(self.crs, self.transform, self.height, self.width)

    def on_grid(self, grid: Grid, resampling: str | None = None) -> FileSource:
        """This file read onto ``grid`` (the same source when already on it; else one WarpedVRT)."""
        if grid.same_as(self.grid):
            return self
        other = copy.copy(self)
        nodata = self.nodata if self.nodata is not None and not np.isnan(self.nodata) else None
        other._reader = GridReader(self.path, grid, resampling=resampling or self._resampling, src_nodata=nodata)
        other.crs, other.transform, other.height, other.width = grid.crs, grid.transform, grid.height, grid.width
        return other

    # -- reading -------------------------------------------------------------------------------
    def read(self, select: str | Sequence[str] | None = None, window: Window | None = None) -> Raster:
        """Pixels of ``select`` bands (default all) within ``window`` of the grid (default all of it)."""
        if self.radiometry is Radiometry.LABEL and select is not None:
            wanted = (select,) if isinstance(select, str) else tuple(select)
            if wanted != self.bands:
                raise RasterReadError(f"{self.path}: a single-layer file holds only {self.bands[0]!r}")
            idx = [0]
        else:
            wanted = self.bands if select is None else bandcat.resolve(select)
            idx = bandcat.indices_of(self.bands, wanted, self.path)
        win = self.grid.check_window(window, self.path)
        data = self._reader.read([i + 1 for i in idx], win)
        valid = valid_of(data, self.nodata)
        footprint = self._reader.footprint(win)
        if footprint is not None:
            valid &= footprint
        return window_raster(self, data, wanted, list(idx), win, valid)

    def close(self) -> None:
        """Close the file (the source cannot read afterwards)."""
        self._reader.close()

    def __enter__(self) -> FileSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_spectral_name(text: str | None) -> bool:
    if not text or not text.strip():
        return False
    try:
        bandcat.canonical(text)
    except bandcat.BandError:
        return False
    return True


# Data-set conventions for layers whose files do not declare their nodata value.
LAYER_NODATA = ((re.compile(r"_LabelHand\.tiff?$", re.IGNORECASE), -1.0),)  # Sen1Floods11 hand labels


def open_layer(path: str | os.PathLike[str], nodata: float | None = None) -> FileSource:
    """A one-band mask, label or probability file as a ``Radiometry.LABEL`` source (codes never converted)."""
    if nodata is None:
        nodata = next((value for pattern, value in LAYER_NODATA if pattern.search(Path(path).name)), None)
    return FileSource(path, layout="layer", nodata=nodata, label=True)


class GeoTiffReader:
    """Registry entry (the fallback): any GDAL raster file. A single band that is not a spectral band
    (a mask, labels, a probability map) is read as a ``Radiometry.LABEL`` layer named by its description."""

    name = "geotiff"
    options = frozenset({"radiometry", "dn_offset", "nodata"})

    @staticmethod
    def matches(path: Path) -> bool:
        return True

    @staticmethod
    def open(path: Path, bands: str | Sequence[str] | None, **options: Any) -> FileSource:
        source = FileSource(path, bands, **options) if bands is not None else None
        if source is not None:
            return source
        with GridReader(path) as reader:
            single, description = reader.count == 1, reader.dataset.descriptions[0]
            declared = reader.dataset.nodata
        if single and not _is_spectral_name(description) and options.get("radiometry") is None:
            nodata = options.get("nodata")
            if nodata is None and declared is None:
                return open_layer(path)
            return FileSource(path, layout="layer", nodata=nodata, label=True)
        return FileSource(path, **options)
