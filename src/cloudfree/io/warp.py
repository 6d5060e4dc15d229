"""The one reprojection path: an open dataset read by windows of a target grid.

Every reader of :mod:`cloudfree.io` reads pixels through :class:`GridReader`: the dataset is opened
once (when the source is opened) and kept open until the source is closed. When the dataset lies on
the target grid its windows are read directly; otherwise a ``rasterio.vrt.WarpedVRT`` onto the
target grid is built ONCE and every window is read from it (GDAL's warper then reads only the
source blocks under that window). Band-per-file products (one reader per band), SAFE products,
single files and side inputs of the engine (SAR, masks, previous dates) all go through here.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from cloudfree.errors import RasterReadError

RESAMPLING = {
    "nearest": Resampling.nearest,
    "bilinear": Resampling.bilinear,
    "cubic": Resampling.cubic,
    "average": Resampling.average,
}


@dataclass(frozen=True)
class Grid:
    """A pixel grid: CRS (or None), affine transform of pixel (0, 0)'s corner, size in pixels."""

    crs: CRS | None
    transform: Affine
    height: int
    width: int

    @classmethod
    def of(cls, obj: object) -> Grid:
        """The grid of anything with ``crs``, ``transform``, ``height`` and ``width`` (a source, a Raster)."""
        return cls(obj.crs, obj.transform, int(obj.height), int(obj.width))  # type: ignore[attr-defined]

    def same_as(self, other: Grid, tol: float = 1e-6) -> bool:
        """Same CRS, size and transform (within ``tol`` of a pixel)."""
        if (self.height, self.width) != (other.height, other.width) or self.crs != other.crs:
            return False
        scale = max(abs(other.transform.a), abs(other.transform.e))
        return self.transform.almost_equals(other.transform, precision=tol * scale)

    def describe(self) -> str:
        crs = self.crs.to_string() if self.crs else "no CRS"
        t = self.transform
        return f"{self.height}x{self.width} px, {crs}, origin ({t.c:.6g}, {t.f:.6g}), pixel {t.a:.6g}x{-t.e:.6g}"

    def check_window(self, window: Window | None, source: str) -> Window:
        """``window`` as integers (default: the whole grid); refuses a window outside the grid."""
        win = Window(0, 0, self.width, self.height) if window is None else window
        win = Window(int(win.col_off), int(win.row_off), int(win.width), int(win.height))
        inside = win.col_off >= 0 and win.row_off >= 0 and win.width > 0 and win.height > 0
        if not inside or win.col_off + win.width > self.width or win.row_off + win.height > self.height:
            raise RasterReadError(f"{source}: window {win} lies outside the {self.height}x{self.width} grid")
        return win


def open_dataset(path: str | os.PathLike[str]) -> rasterio.DatasetReader:
    """``rasterio.open`` with a one-line :class:`RasterReadError` for a missing or unreadable file."""
    p = str(path)
    if not p.startswith(("/vsi", "http://", "https://", "s3://")) and not os.path.exists(p):
        raise RasterReadError(f"{p}: file does not exist")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(p)
    except RasterioIOError as exc:
        raise RasterReadError(f"{p}: not a readable raster ({exc})") from exc


class GridReader:
    """One dataset, opened once, read by windows of ``grid`` (its own grid by default).

    Args:
        path: the file (GDAL paths such as ``/vsizip/...`` work).
        grid: target grid; default the dataset's own.
        resampling: ``"bilinear"`` (reflectance, dB), ``"nearest"`` (masks, labels), ``"average"``, ``"cubic"``.
        src_nodata, nodata: nodata of the source and of the warped output (default: the file's own).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        grid: Grid | None = None,
        *,
        resampling: str = "bilinear",
        src_nodata: float | None = None,
        nodata: float | None = None,
    ) -> None:
        if resampling not in RESAMPLING:
            raise ValueError(f"unknown resampling {resampling!r}; expected one of {sorted(RESAMPLING)}")
        self.path = str(path)
        self.dataset = open_dataset(path)
        own = Grid(self.dataset.crs or None, self.dataset.transform, self.dataset.height, self.dataset.width)
        self.grid = grid or own
        self.aligned = self.grid.same_as(own)
        self._vrt: WarpedVRT | None = None
        if not self.aligned:
            if own.crs is None or self.grid.crs is None:
                self.close()
                raise RasterReadError(
                    f"{self.path}: its grid ({own.describe()}) differs from the target grid ({self.grid.describe()}) "
                    f"and one of them has no CRS, so it cannot be reprojected; give inputs on one grid"
                )
            src_nd = self.dataset.nodata if src_nodata is None else src_nodata
            self._vrt = WarpedVRT(
                self.dataset,
                crs=self.grid.crs,
                transform=self.grid.transform,
                width=self.grid.width,
                height=self.grid.height,
                resampling=RESAMPLING[resampling],
                src_nodata=src_nd,
                nodata=src_nd if nodata is None else nodata,
                add_alpha=src_nd is None,  # without a nodata value, an alpha band marks the footprint
            )

    @property
    def count(self) -> int:
        return self.dataset.count

    def read(self, indexes: Sequence[int] | int, window: Window) -> np.ndarray:
        """Pixels of 1-based band ``indexes`` in ``window`` of the target grid, in the file's dtype."""
        reader = self._vrt if self._vrt is not None else self.dataset
        try:
            return reader.read(indexes if isinstance(indexes, int) else list(indexes), window=window)
        except RasterioIOError as exc:
            raise RasterReadError(f"{self.path}: pixel data could not be read ({exc}); is the file truncated?") from exc

    def footprint(self, window: Window) -> np.ndarray | None:
        """``(h, w)`` bool, False outside the source's footprint when warped; None when aligned."""
        if self._vrt is None:
            return None
        return self._vrt.dataset_mask(window=window) > 0

    def close(self) -> None:
        if self._vrt is not None:
            self._vrt.close()
            self._vrt = None
        self.dataset.close()

    def __enter__(self) -> GridReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
