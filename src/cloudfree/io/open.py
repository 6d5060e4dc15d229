"""One entry point for every input layout: :func:`open_raster` / :func:`open_source`.

Commands accept whatever a user has and hand the path here; the layout is recognised from the path:

==================================================  =====================================================
path                                                reader
==================================================  =====================================================
``*.SAFE`` folder, its ``.zip``, ``MTD_MSIL*.xml``  :mod:`cloudfree.io.safe` (L1C/L2A, offsets from metadata)
folder of ``<prefix>_B02.tif`` ... / ``_VV.tif``    :mod:`cloudfree.io.bandfiles` (bands on one grid)
``ROIs1868_summer_s2_cloudy_19_p30.tif`` (and TS)   :mod:`cloudfree.io.sen12mscr` (data-set band names)
single-band ``<prefix>_B8A.tif``                    :mod:`cloudfree.io.bandfiles` (name from the file)
any other GeoTIFF / GDAL raster                     :func:`cloudfree.io.geotiff.read_raster`
==================================================  =====================================================

A single-band file whose band is not a spectral band (a mask, labels, a probability map) is read as
a ``Radiometry.LABEL`` layer named by its description (in Sen1Floods11 ``*_LabelHand.tif``, -1 is
nodata). :func:`open_source` returns a lazy source (metadata now, pixels by window later) for
streaming and ``cloudfree info``; :func:`open_raster` reads it at once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window
from rasterio.windows import transform as window_transform

from cloudfree import bands as bandcat
from cloudfree.errors import RasterReadError
from cloudfree.io import sen12mscr
from cloudfree.io.bandfiles import BandStack, has_band_files, parse_band_filename
from cloudfree.io.geotiff import (
    RasterInfo,
    band_names_of,
    dn_offset_from_tags,
    infer_radiometry,
    open_info,
    read_mask,
    read_raster,
)
from cloudfree.io.safe import MTD_FILES, open_safe
from cloudfree.radiometry import Radiometry
from cloudfree.raster import Raster

SUPPORTED = (
    "a GeoTIFF or other GDAL raster file, a Sentinel-2 .SAFE folder or its .zip, a folder of band files "
    "(<prefix>_B02.tif ...), or a SEN12MS-CR / SEN12MS-CR-TS patch file"
)
STACK_OPTIONS = {"resolution", "reference", "resampling", "nodata", "dn_offset"}
SAFE_OPTIONS = {"resolution", "reference", "resampling", "granule"}
FILE_OPTIONS = {"radiometry", "dn_offset", "nodata"}
# Data-set conventions for layers whose files do not declare their nodata value.
LAYER_NODATA = ((re.compile(r"_LabelHand\.tiff?$", re.IGNORECASE), -1.0),)  # Sen1Floods11 hand labels


class RasterSource(Protocol):
    """What every reader offers: the grid and band metadata now, pixels by window on demand."""

    path: str
    layout: str
    bands: tuple[str, ...]
    height: int
    width: int
    crs: CRS | None
    transform: Affine
    dtype: str
    radiometry: Radiometry
    dn_offset: np.ndarray
    nodata: float | None
    tags: dict[str, Any]

    def read(self, select: str | Sequence[str] | None = None, window: Window | None = None) -> Raster: ...


class FileSource:
    """One GDAL raster file: a GeoTIFF, a SEN12MS-CR patch, or a single-band mask/label layer.

    ``layout`` is ``"geotiff"`` (band names from ``bands`` or the descriptions, via
    :func:`~cloudfree.io.geotiff.read_raster`), ``"sen12mscr"`` (band names of the data set) or
    ``"layer"`` (one non-spectral band read as ``Radiometry.LABEL``, named by its description).
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
    ) -> None:
        self.path = str(path)
        self.layout = layout
        self.info: RasterInfo = open_info(path)
        self._bands_arg = bands
        self._options: dict[str, Any] = {"radiometry": radiometry, "dn_offset": dn_offset, "nodata": nodata}
        self.height, self.width = self.info.height, self.info.width
        self.crs, self.transform, self.dtype = self.info.crs, self.info.transform, self.info.dtype
        self.nodata = self.info.nodata if nodata is None else nodata
        self.tags: dict[str, Any] = dict(self.info.tags)
        if layout == "layer":
            self.bands = ((self.info.descriptions[0] or "").strip() or Path(self.path).stem,)
            self.radiometry = Radiometry.LABEL
            self.dn_offset = np.zeros(1, np.float32)
        elif layout == "sen12mscr":
            probe = sen12mscr.read_patch(path, window=Window(0, 0, 1, 1), bands=bands)
            self.bands, self.radiometry, self.tags = probe.bands, probe.radiometry, probe.tags
            self.nodata, self.dn_offset = probe.nodata, probe.dn_offset
        else:
            self.bands = band_names_of(self.info, bands)
            inferred = infer_radiometry(self.bands, self.dtype, self.tags)
            self.radiometry = Radiometry(radiometry) if radiometry else inferred
            offset = dn_offset_from_tags(self.tags, len(self.bands)) if dn_offset is None else dn_offset
            offset = np.asarray(0.0 if offset is None else offset, np.float32)
            self.dn_offset = np.broadcast_to(offset, (len(self.bands),)).copy()

    def read(self, select: str | Sequence[str] | None = None, window: Window | None = None) -> Raster:
        """Pixels of ``select`` bands (default all) within ``window`` (default the whole raster)."""
        if self.layout == "sen12mscr":
            return sen12mscr.read_patch(self.path, select, window=window, bands=self._bands_arg)
        if self.layout == "layer":
            return self._read_layer(select, window)
        return read_raster(self.path, self._bands_arg, select=select, window=window, **self._options)

    def _read_layer(self, select: str | Sequence[str] | None, window: Window | None) -> Raster:
        if select is not None and tuple([select] if isinstance(select, str) else select) != self.bands:
            raise RasterReadError(f"{self.path}: a single-layer file holds only {self.bands[0]!r}")
        win = window or Window(0, 0, self.width, self.height)
        data = read_mask(self.path, window=win)
        valid = np.ones(data.shape, bool)
        if np.issubdtype(data.dtype, np.floating):
            valid &= np.isfinite(data)
        if self.nodata is not None and not np.isnan(self.nodata):
            valid &= data != self.nodata
        return Raster(
            data=data[None],
            bands=self.bands,
            crs=self.crs,
            transform=window_transform(win, self.transform),
            valid=valid,
            radiometry=Radiometry.LABEL,
            nodata=self.nodata,
            source=self.path,
            tags=dict(self.tags),
        )


def _is_spectral_name(text: str | None) -> bool:
    if not text or not text.strip():
        return False
    try:
        bandcat.canonical(text)
    except bandcat.BandError:
        return False
    return True


def _check_options(options: dict[str, Any], allowed: set[str], layout: str, path: Path) -> None:
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(f"{path}: option(s) {unknown} do not apply to a {layout} (allowed: {sorted(allowed)})")


def detect_layout(path: str | os.PathLike[str]) -> str:
    """``"safe"``, ``"bandfiles"``, ``"sen12mscr"``, ``"bandfile"`` (one named band file) or ``"geotiff"``.

    Raises :class:`RasterReadError` for a missing path or a folder that is no known layout.
    """
    p = Path(path)
    if str(path).startswith("/vsi"):
        return "geotiff"
    if not p.exists():
        raise RasterReadError(f"{p}: does not exist")
    if p.is_dir():
        if p.suffix.upper() == ".SAFE" or any((p / name).is_file() for name in MTD_FILES):
            return "safe"
        if has_band_files(p):
            return "bandfiles"
        raise RasterReadError(f"{p}: folder is not a raster product; supported inputs: {SUPPORTED}")
    if p.suffix.lower() == ".zip" or p.name in MTD_FILES:
        return "safe"
    if sen12mscr.parse_name(p) is not None or sen12mscr.parse_ts_name(p) is not None:
        return "sen12mscr"
    if parse_band_filename(p.name) is not None:
        return "bandfile"
    return "geotiff"


def open_source(path: str | os.PathLike[str], bands: Sequence[str] | str | None = None, **options: Any) -> RasterSource:
    """A lazy :class:`RasterSource` for any supported layout (see the module docstring).

    ``bands``: for single files, the names of the file's bands in file order (needed when a
    multi-band file has no band descriptions); for band-file folders and SAFE products, whose band
    names come from the file names, the bands to keep (in this order). ``options``:
    ``resolution``, ``reference``, ``resampling`` (band files, SAFE), ``granule`` (SAFE),
    ``nodata``, ``dn_offset`` (band files, raster files), ``radiometry`` (raster files).
    """
    p = Path(path)
    layout = detect_layout(p)
    if layout == "safe":
        _check_options(options, SAFE_OPTIONS, "SAFE product", p)
        return open_safe(p, bands, **options)
    if layout == "bandfiles":
        _check_options(options, STACK_OPTIONS, "band-file folder", p)
        return BandStack(p, bands, **options)
    if layout == "sen12mscr":
        _check_options(options, set(), "SEN12MS-CR patch", p)
        return FileSource(p, bands, layout="sen12mscr")
    info = open_info(p)
    named = parse_band_filename(p.name)
    if layout == "bandfile" and named is not None and info.count == 1 and bands is None:
        _check_options(options, STACK_OPTIONS, "band file", p)
        return BandStack({named[1]: p}, source=str(p), **options)
    _check_options(options, FILE_OPTIONS, "raster file", p)
    if bands is None and info.count == 1 and not _is_spectral_name(info.descriptions[0]):
        nodata = options.get("nodata")
        if nodata is None and info.nodata is None:
            nodata = next((value for pattern, value in LAYER_NODATA if pattern.search(p.name)), None)
        return FileSource(p, layout="layer", nodata=nodata)
    return FileSource(p, bands, **options)


def open_raster(
    path: str | os.PathLike[str],
    bands: Sequence[str] | str | None = None,
    *,
    select: Sequence[str] | str | None = None,
    window: Window | None = None,
    **options: Any,
) -> Raster:
    """Read any supported input into a :class:`Raster` ``(bands, height, width)``.

    ``select`` keeps (and orders) bands, ``window`` reads a pixel window of the (target) grid; see
    :func:`open_source` for ``bands`` and the layout options.
    """
    return open_source(path, bands, **options).read(select=select, window=window)
