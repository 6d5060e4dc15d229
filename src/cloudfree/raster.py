"""The one in-memory raster type that travels through cloudfree.

A :class:`Raster` holds pixel data ``(bands, height, width)`` together with the canonical band
names, the georeferencing (CRS and affine transform; the CRS may be ``None`` for rasters without
one), a boolean valid-data mask ``(height, width)`` and the radiometric convention of the values.
Functions take and return a Raster rather than bare arrays with an implied band order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window
from rasterio.windows import bounds as window_bounds
from rasterio.windows import transform as window_transform

from cloudfree import bands as bandcat
from cloudfree.radiometry import Radiometry, dn_to_reflectance, reflectance_to_dn


def valid_of(data: np.ndarray, nodata: float | None) -> np.ndarray:
    """``(h, w)`` bool of ``(bands, h, w)`` data: False where any band is non-finite or equals ``nodata``.

    Non-finite values (NaN, +-inf) are nodata everywhere in cloudfree, whatever the file declares.
    """
    invalid = np.zeros(data.shape[1:], dtype=bool)
    if np.issubdtype(data.dtype, np.floating):
        invalid |= ~np.isfinite(data).all(axis=0)
    if nodata is not None and not np.isnan(nodata):
        invalid |= (data == nodata).any(axis=0)
    return ~invalid


@dataclass
class Raster:
    """Pixel data with band names, georeferencing, valid mask and radiometric convention.

    Attributes:
        data: ``(bands, height, width)`` array; float32 reflectance 0..1, integer DN, SAR dB, ...
        bands: canonical band names, one per ``data`` band (``("B02", "B03", ...)``).
        crs: coordinate reference system, or ``None`` for an ungeoreferenced raster.
        transform: affine pixel -> CRS transform of the top-left corner of pixel (0, 0).
        valid: ``(height, width)`` bool, True where every band holds real data.
        radiometry: what the values mean (see :class:`~cloudfree.radiometry.Radiometry`).
        dn_offset: per-band DN offset for ``Radiometry.DN`` data (-1000 from baseline 04.00), shape
            ``(bands,)``; reflectance = (DN + offset) / 10000.
        nodata: nodata value of the source file (informational; ``valid`` is authoritative).
        source: where the raster came from (a path, for error messages).
        tags: free-form metadata (acquisition time, product id, processing baseline ...).
    """

    data: np.ndarray
    bands: tuple[str, ...]
    crs: CRS | None
    transform: Affine
    valid: np.ndarray
    radiometry: Radiometry
    dn_offset: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    nodata: float | None = None
    source: str = "<memory>"
    tags: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.data.ndim != 3:
            raise ValueError(f"{self.source}: raster data must be (bands, height, width), got {self.data.shape}")
        self.bands = tuple(self.bands)
        if len(self.bands) != self.data.shape[0]:
            raise ValueError(
                f"{self.source}: {self.data.shape[0]} data bands but {len(self.bands)} band names {self.bands}"
            )
        if self.valid.shape != self.data.shape[1:]:
            raise ValueError(f"{self.source}: valid mask {self.valid.shape} does not match data {self.data.shape}")
        self.valid = self.valid.astype(bool, copy=False)
        self.radiometry = Radiometry(self.radiometry)
        offset = np.asarray(self.dn_offset, dtype=np.float32).reshape(-1)
        if offset.size == 0:
            offset = np.zeros(len(self.bands), dtype=np.float32)
        elif offset.size == 1:
            offset = np.full(len(self.bands), float(offset[0]), dtype=np.float32)
        elif offset.size != len(self.bands):
            raise ValueError(f"{self.source}: {offset.size} DN offsets for {len(self.bands)} bands")
        self.dn_offset = offset

    # -- shape and geometry -------------------------------------------------------------------
    @property
    def count(self) -> int:
        return self.data.shape[0]

    @property
    def height(self) -> int:
        return self.data.shape[1]

    @property
    def width(self) -> int:
        return self.data.shape[2]

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.data.shape)  # type: ignore[return-value]

    @property
    def res(self) -> tuple[float, float]:
        """Pixel size (x, y) in CRS units, positive."""
        return (abs(self.transform.a), abs(self.transform.e))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in CRS units."""
        return window_bounds(Window(0, 0, self.width, self.height), self.transform)

    @property
    def valid_fraction(self) -> float:
        return float(self.valid.mean()) if self.valid.size else 0.0

    # -- derived rasters -----------------------------------------------------------------------
    def with_data(self, data: np.ndarray, bands: Sequence[str] | None = None, **changes: Any) -> Raster:
        """A copy with new pixel data (same grid); band names/radiometry may change too."""
        names = tuple(bands) if bands is not None else self.bands
        if bands is not None and "dn_offset" not in changes and names != self.bands:
            keep = {b: o for b, o in zip(self.bands, self.dn_offset, strict=True)}
            changes["dn_offset"] = np.array([keep.get(b, 0.0) for b in names], dtype=np.float32)
        return replace(self, data=data, bands=names, **changes)

    def select(self, wanted: str | Sequence[str]) -> Raster:
        """The raster restricted to (and reordered as) ``wanted`` bands (names, aliases or a set)."""
        names = bandcat.resolve(wanted) if isinstance(wanted, str) else tuple(bandcat.canonical(b) for b in wanted)
        idx = bandcat.indices_of(self.bands, names, self.source)
        return replace(self, data=self.data[idx], bands=names, dn_offset=self.dn_offset[idx])

    def window(self, win: Window) -> Raster:
        """The pixels of one window (must lie inside the raster), with its own transform."""
        r0, c0 = int(win.row_off), int(win.col_off)
        r1, c1 = r0 + int(win.height), c0 + int(win.width)
        if r0 < 0 or c0 < 0 or r1 > self.height or c1 > self.width:
            raise ValueError(f"{self.source}: window {win} outside raster of {self.height}x{self.width}")
        return replace(
            self,
            data=self.data[:, r0:r1, c0:c1],
            valid=self.valid[r0:r1, c0:c1],
            transform=window_transform(win, self.transform),
        )

    def to_reflectance(self) -> Raster:
        """Float32 reflectance (0..1 nominal); DN converted with the raster's own offsets."""
        if self.radiometry is Radiometry.REFLECTANCE:
            return self if self.data.dtype == np.float32 else self.with_data(self.data.astype(np.float32))
        if self.radiometry is not Radiometry.DN:
            raise ValueError(f"{self.source}: cannot convert {self.radiometry.value} data to reflectance")
        refl = dn_to_reflectance(self.data, self.dn_offset)
        refl[:, ~self.valid] = 0.0
        return replace(self, data=refl, radiometry=Radiometry.REFLECTANCE, nodata=None)

    def to_dn(self, offset: float | np.ndarray | None = None, dtype: type = np.uint16) -> Raster:
        """Integer DN (nodata 0) from reflectance; ``offset`` defaults to the raster's own."""
        if self.radiometry is Radiometry.DN:
            return self
        if self.radiometry is not Radiometry.REFLECTANCE:
            raise ValueError(f"{self.source}: cannot convert {self.radiometry.value} data to DN")
        off = self.dn_offset if offset is None else np.broadcast_to(np.asarray(offset, np.float32), (self.count,))
        dn = reflectance_to_dn(self.data, off, dtype=dtype, nodata=0)
        dn[:, ~self.valid] = 0
        return replace(self, data=dn, radiometry=Radiometry.DN, dn_offset=np.array(off, np.float32), nodata=0)

    def same_grid(self, other: Raster, tol: float = 1e-6) -> bool:
        """True when both rasters share CRS, shape and transform (within ``tol`` of a pixel)."""
        if self.crs != other.crs or self.height != other.height or self.width != other.width:
            return False
        return self.transform.almost_equals(other.transform, precision=tol * max(self.res))

    def describe(self) -> str:
        crs = self.crs.to_string() if self.crs else "none"
        return (
            f"{self.source}: {self.count} bands {list(self.bands)}, {self.height}x{self.width} px, "
            f"res {self.res[0]:.6g}x{self.res[1]:.6g}, CRS {crs}, {self.data.dtype}, {self.radiometry.value}"
        )
