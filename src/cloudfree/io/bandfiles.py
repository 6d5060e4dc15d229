"""Band-per-file products: one single-band raster per band, at mixed 10/20/60 m, read onto one grid.

BigEarthNet patches, unpacked SAFE granules and many archive exports store each band in its own
file named ``<prefix>_B02.tif`` (``<prefix>_B02_10m.jp2`` in L2A granules, ``<prefix>_VV.tif`` for
Sentinel-1). :class:`BandStack` gathers such files, names the bands from the file names, puts them
in ESA order (or the requested order) and resolves them onto ONE target grid: by default the grid of
the finest band present, or a requested resolution, or the grid of a reference band.

Resampling is rasterio's: one :class:`~cloudfree.io.warp.GridReader` per band, opened once and
kept open, reads bands already on the target grid directly and the others through a ``WarpedVRT``
built once (bilinear by default for reflectance, ``nearest``/``average``/``cubic`` on request).
Reads are windowed on the target grid: GDAL's warper reads only the source blocks a window needs.
:meth:`BandStack.on_grid` puts the whole product onto another grid (a side input of the engine).
What is hand-written here is only what rasterio does not know: the file naming, the band order and
the choice of the target grid (:mod:`.bandfile_grid`).
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

from cloudfree import bands as bandcat
from cloudfree.errors import RasterReadError
from cloudfree.io.bandfile_grid import check_same_crs, own_grid, target_grid
from cloudfree.io.bandnames import (
    CANONICAL_ORDER,
    find_band_files,
    has_band_files,
    parse_band_filename,
)
from cloudfree.io.filesource import GeoTiffReader, window_raster
from cloudfree.io.metadata import RasterInfo, infer_radiometry, info_of
from cloudfree.io.warp import RESAMPLING, Grid, GridReader
from cloudfree.radiometry import Radiometry, check_values, offset_for_baseline
from cloudfree.raster import Raster, valid_of

# ESA product names state the processing baseline: S2B_MSIL2A_20220105T101319_N0400_R022_T33UUP_...
PRODUCT_BASELINE_RE = re.compile(r"S2[A-D]_MSIL(?:1C|2A)_\d{8}T\d{6}_N(\d{4})_")


class BandStack:
    """Single-band files resolved onto one grid; a lazy source that reads windows of that grid.

    Args:
        files: a folder of band files, or ``{band name: path}`` (paths may be GDAL ``/vsizip/`` paths).
        bands: keep only these bands, in this order (names, aliases or a band set); default all, ESA order.
        resolution: target pixel size in CRS units (metres for UTM); default: the finest band's.
        reference: band whose grid is the target grid (e.g. ``"B8A"``); excludes ``resolution``.
        resampling: ``"bilinear"`` (default, for reflectance and dB), ``"nearest"``, ``"average"``, ``"cubic"``.
        nodata: value marking missing pixels in every file; default: the files' own, else 0 for
            integer Sentinel-2 DN (ESA's NODATA) and NaN for floats.
        dn_offset: one offset for all bands, one per band in band order, or ``{band: offset}``; default:
            from the processing baseline in an ESA product name in the paths (``_N0400_`` -> -1000),
            else 0 (BigEarthNet and other pre-04.00 exports).
        radiometry: convention of the values; default from band names and dtype (DN, reflectance, dB).
        tags: metadata carried by every raster read (product id, processing baseline ...).
        layout: name of the layout, reported by ``cloudfree info``.
        source: how the product is named in messages (default: the folder of the files).
    """

    def __init__(
        self,
        files: str | os.PathLike[str] | Mapping[str, str | os.PathLike[str]],
        bands: str | Sequence[str] | None = None,
        *,
        resolution: float | None = None,
        reference: str | None = None,
        resampling: str = "bilinear",
        nodata: float | None = None,
        dn_offset: float | Sequence[float] | Mapping[str, float] | None = None,
        radiometry: Radiometry | str | None = None,
        tags: Mapping[str, Any] | None = None,
        layout: str = "bandfiles",
        source: str | None = None,
    ) -> None:
        if isinstance(files, (str, os.PathLike)):
            self.path = str(files)
            files = find_band_files(files)
        else:
            self.path = str(Path(str(next(iter(files.values())))).parent) if files else "<no files>"
        self.path = source or self.path
        if not files:
            raise RasterReadError(f"{self.path}: no band files given")
        if resampling not in RESAMPLING:
            raise ValueError(f"unknown resampling {resampling!r}; expected one of {sorted(RESAMPLING)}")
        self.layout = layout
        self.resampling = resampling
        named = {bandcat.canonical(b): str(p) for b, p in files.items()}
        self.bands: tuple[str, ...] = tuple(b for b in CANONICAL_ORDER if b in named)
        if bands is not None:
            self.bands = bandcat.resolve(bands)
            bandcat.indices_of(tuple(named), self.bands, self.path)
        self.files: dict[str, str] = {b: named[b] for b in self.bands}
        self._readers: dict[str, GridReader] = {}
        self._foreign = False  # True once put onto another product's grid (footprint then matters)
        self.infos: dict[str, RasterInfo] = {b: self._info(b) for b in self.bands}
        sensors = {bandcat.band(b).sensor for b in self.bands}
        if len(sensors) > 1:
            raise RasterReadError(f"{self.path}: mixes Sentinel-1 and Sentinel-2 band files {list(self.bands)}")
        check_same_crs(self.infos, self.files)
        self.crs = self.infos[self.bands[0]].crs
        self.height, self.width, self.transform = target_grid(self.infos, resolution, reference, self.path)
        self.dtype = str(np.result_type(*[np.dtype(i.dtype) for i in self.infos.values()]))
        self.radiometry = Radiometry(radiometry) if radiometry else infer_radiometry(self.bands, self.dtype, {})
        if radiometry is None and self.radiometry is Radiometry.DN:
            check_values(self.radiometry, self.dtype, None, source=self.path, bands=self.bands)
        self.nodata = self._nodata(nodata)
        self.tags: dict[str, Any] = {"CLOUDFREE_LAYOUT": layout, "RESAMPLING": resampling}
        self.dn_offset = self._offsets(dn_offset)
        self.tags.update(tags or {})

    # -- construction helpers ------------------------------------------------------------------
    def _info(self, band: str) -> RasterInfo:
        reader = GridReader(self.files[band])
        self._readers[band] = reader
        info = info_of(reader.dataset, self.files[band])
        if info.count != 1:
            raise RasterReadError(f"{info.path}: a band file must hold one band, this one has {info.count}")
        return info

    @property
    def native_resolution(self) -> dict[str, float]:
        """Pixel size (CRS units) of each band's own file."""
        return {b: self.infos[b].res[0] for b in self.bands}

    def _nodata(self, nodata: float | None) -> float | None:
        if nodata is not None:
            return nodata
        declared = {i.nodata for i in self.infos.values() if i.nodata is not None}
        if len(declared) == 1:
            return declared.pop()
        if np.issubdtype(np.dtype(self.dtype), np.floating):
            return float("nan")
        return 0 if self.radiometry is Radiometry.DN else None

    def _offsets(self, dn_offset: float | Sequence[float] | Mapping[str, float] | None) -> np.ndarray:
        """Per-band offsets from ``dn_offset``, else from an ESA product name (``_N0400_``), else 0.

        Records the product name and the processing baseline it states in the tags.
        """
        first = Path(self.files[self.bands[0]])
        parsed = parse_band_filename(first.name)
        if parsed is not None and parsed[0]:
            self.tags["PRODUCT_ID"] = parsed[0]
        named = PRODUCT_BASELINE_RE.search(str(first.resolve()))
        if dn_offset is None and named is not None and self.radiometry is Radiometry.DN:
            self.tags["PROCESSING_BASELINE"] = f"{named.group(1)[:2]}.{named.group(1)[2:]}"
            dn_offset = offset_for_baseline(named.group(1))
        if dn_offset is None:
            return np.zeros(len(self.bands), np.float32)
        if isinstance(dn_offset, Mapping):
            given = {bandcat.canonical(b): float(v) for b, v in dn_offset.items()}
            missing = [b for b in self.bands if b not in given]
            if missing:
                raise RasterReadError(f"{self.path}: no DN offset known for band(s) {missing}")
            return np.array([given[b] for b in self.bands], np.float32)
        return np.broadcast_to(np.asarray(dn_offset, np.float32), (len(self.bands),)).copy()

    # -- reading -------------------------------------------------------------------------------
    @property
    def grid(self) -> Grid:
        return Grid(self.crs, self.transform, self.height, self.width)

    def on_grid(self, grid: Grid, resampling: str | None = None) -> BandStack:
        """The product read onto ``grid`` (the same source when already on it)."""
        if grid.same_as(self.grid):
            return self
        other = copy.copy(self)
        other.crs, other.transform, other.height, other.width = grid.crs, grid.transform, grid.height, grid.width
        other.resampling = resampling or self.resampling
        other._readers = {}
        other._foreign = True
        return other

    def _reader(self, band: str) -> GridReader:
        """The band's reader onto the target grid, opened once and kept open."""
        reader = self._readers.get(band)
        if reader is not None and reader.grid.same_as(self.grid):
            return reader
        if reader is not None:
            reader.close()
        info = self.infos[band]
        if self.crs is None and not own_grid(info).same_as(self.grid):
            raise RasterReadError(
                f"{info.path}: band files without a CRS must all lie on one grid; this band is "
                f"{info.height}x{info.width} px, the target grid {self.height}x{self.width} px"
            )
        src_nodata = info.nodata if info.nodata is not None else self.nodata
        if src_nodata is not None and np.isnan(src_nodata):
            src_nodata = None
        reader = GridReader(self.files[band], self.grid, resampling=self.resampling, src_nodata=src_nodata)
        self._readers[band] = reader
        return reader

    def close(self) -> None:
        """Close every band file (the source cannot read afterwards)."""
        for reader in self._readers.values():
            reader.close()
        self._readers = {}

    def __enter__(self) -> BandStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, select: str | Sequence[str] | None = None, window: Window | None = None) -> Raster:
        """Read ``select`` bands (default all, in ESA order) within ``window`` of the target grid.

        Returns a :class:`Raster` ``(bands, height, width)`` in the files' dtype (DN stays integer),
        on the target grid (CRS of the files, transform of the window).
        """
        wanted = self.bands if select is None else bandcat.resolve(select)
        idx = bandcat.indices_of(self.bands, wanted, self.path)
        win = self.grid.check_window(window, self.path)
        data = np.empty((len(wanted), int(win.height), int(win.width)), dtype=self.dtype)
        footprint = np.ones(data.shape[1:], bool)
        for i, band in enumerate(wanted):
            reader = self._reader(band)
            data[i] = reader.read(1, win)
            inside = reader.footprint(win) if self._foreign else None
            if inside is not None:
                footprint &= inside
        return window_raster(self, data, wanted, list(idx), win, valid_of(data, self.nodata) & footprint)


def read_band_files(
    files: str | os.PathLike[str] | Mapping[str, str | os.PathLike[str]],
    select: str | Sequence[str] | None = None,
    *,
    window: Window | None = None,
    **options: Any,
) -> Raster:
    """Read a band-per-file product onto one grid; ``options`` are those of :class:`BandStack`."""
    return BandStack(files, **options).read(select=select, window=window)


class BandFolderReader:
    """Registry entry: a folder of one product's band files (BigEarthNet, unpacked granules)."""

    name = "bandfiles"
    options = frozenset({"resolution", "reference", "resampling", "nodata", "dn_offset", "radiometry"})

    @staticmethod
    def matches(path: Path) -> bool:
        return path.is_dir() and has_band_files(path)

    @staticmethod
    def open(path: Path, bands: str | Sequence[str] | None, **options: Any) -> BandStack:
        return BandStack(path, bands, **options)


class BandFileReader:
    """Registry entry: one single-band file named like a band (``<prefix>_B8A.tif``), band from the name."""

    name = "bandfile"
    options = BandFolderReader.options

    @staticmethod
    def matches(path: Path) -> bool:
        return path.is_file() and parse_band_filename(path.name) is not None

    @staticmethod
    def open(path: Path, bands: str | Sequence[str] | None, **options: Any) -> Any:
        named = parse_band_filename(path.name)
        with GridReader(path) as reader:
            single = reader.count == 1
        if bands is not None or not single or named is None:
            return GeoTiffReader.open(path, bands, **options)  # only looks like a band file: read it as a file
        return BandStack({named[1]: path}, source=str(path), **options)
