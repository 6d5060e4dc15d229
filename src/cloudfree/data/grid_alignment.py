"""Putting one raster onto another's pixel grid, for pairs and series (:mod:`.pairing`, :mod:`.timeseries`).

* :func:`overlap_window`: the part of the reference grid another raster's footprint covers;
* :func:`subpixel_shift` / :func:`check_registration`: grids that share CRS and pixel size but are
  offset by part of a pixel (misregistration) are reported, or refused above a limit;
* :func:`reproject_onto`: resampling with ``rasterio.warp.reproject`` (whole-pixel offsets are
  copied, not resampled; the valid mask follows with nearest and is eroded by one pixel);
* :func:`valid_bbox`: the bounding window of valid pixels (the common crop).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

import numpy as np
from rasterio.warp import Resampling, reproject, transform_bounds
from rasterio.windows import Window, from_bounds
from scipy import ndimage

from cloudfree.errors import CloudfreeError, DataWarning
from cloudfree.masks import NODATA
from cloudfree.radiometry import Radiometry
from cloudfree.raster import Raster

MASK_NODATA = NODATA
SUBPIXEL_TOLERANCE = 0.05  # px: shifts below this are rounding in the transforms, not misregistration


class PairingError(CloudfreeError, ValueError):
    """The members of a pair cannot be aligned (no overlap, too small, all nodata, bad mask ...)."""


def overlap_window(ref: Raster, other: Raster, min_size: int) -> Window:
    """The window of ``ref``'s grid covered by ``other``'s footprint (error when empty)."""
    if ref.same_grid(other):
        return Window(0, 0, ref.width, ref.height)
    if ref.crs is None or other.crs is None:
        missing = ref.source if ref.crs is None else other.source
        raise PairingError(
            f"cannot align {other.source} with {ref.source}: {missing} has no CRS and the grids differ "
            f"({other.height}x{other.width} vs {ref.height}x{ref.width} px)"
        )
    left, bottom, right, top = transform_bounds(other.crs, ref.crs, *other.bounds, densify_pts=21)
    rl, rb, rr, rt = ref.bounds
    il, ib, ir, it = max(left, rl), max(bottom, rb), min(right, rr), min(top, rt)
    if il >= ir or ib >= it:
        raise PairingError(
            f"footprints do not overlap: {other.source} covers {_fmt(left, bottom, right, top)} and "
            f"{ref.source} covers {_fmt(rl, rb, rr, rt)} (in {ref.crs})"
        )
    win = from_bounds(il, ib, ir, it, transform=ref.transform)
    r0 = max(0, math.floor(win.row_off + 1e-6))
    c0 = max(0, math.floor(win.col_off + 1e-6))
    r1 = min(ref.height, math.ceil(win.row_off + win.height - 1e-6))
    c1 = min(ref.width, math.ceil(win.col_off + win.width - 1e-6))
    if r1 - r0 < min_size or c1 - c0 < min_size:
        raise PairingError(
            f"footprints of {other.source} and {ref.source} overlap by only {max(r1 - r0, 0)}x{max(c1 - c0, 0)} px, "
            f"less than one patch of {min_size} px"
        )
    return Window(c0, r0, c1 - c0, r1 - r0)


def _fmt(*bounds: float) -> str:
    return "(" + ", ".join(f"{b:.10g}" for b in bounds) + ")"


def _pixel_offset(src: Raster, like: Raster) -> tuple[int, int] | None:
    """(row, col) of ``like``'s origin in ``src``'s pixels when both share CRS and pixel grid, else None."""
    if src.crs != like.crs or src.transform.b or src.transform.d or like.transform.b or like.transform.d:
        return None
    a, e = src.transform.a, src.transform.e
    if not (math.isclose(a, like.transform.a, rel_tol=1e-9) and math.isclose(e, like.transform.e, rel_tol=1e-9)):
        return None
    col, row = (like.transform.c - src.transform.c) / a, (like.transform.f - src.transform.f) / e
    if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
        return None
    return round(row), round(col)


def subpixel_shift(src: Raster, like: Raster) -> tuple[float, float] | None:
    """The fractional (row, col) offset of ``src``'s grid origin from ``like``'s, in pixels.

    Defined only when both share CRS and pixel size (north-up): then a non-zero result means the two
    grids are misregistered by part of a pixel, and aligning them resamples one of them. Each part
    lies in -0.5..0.5. None when the grids are not comparable that way (other CRS or resolution).
    """
    if src.crs is None or src.crs != like.crs:
        return None
    if src.transform.b or src.transform.d or like.transform.b or like.transform.d:
        return None
    a, e = src.transform.a, src.transform.e
    if not (math.isclose(a, like.transform.a, rel_tol=1e-9) and math.isclose(e, like.transform.e, rel_tol=1e-9)):
        return None
    col, row = (src.transform.c - like.transform.c) / a, (src.transform.f - like.transform.f) / e
    return row - round(row) + 0.0, col - round(col) + 0.0  # + 0.0: no "-0.00" in messages


def check_registration(member: Raster, ref: Raster, role: str, reference: str, max_shift: float | None) -> None:
    """Warn (or refuse above ``max_shift`` px) when ``member`` is off ``ref``'s grid by part of a pixel."""
    shift = subpixel_shift(member, ref)
    if shift is None or max(abs(shift[0]), abs(shift[1])) <= SUBPIXEL_TOLERANCE:
        return
    text = (
        f"{member.source} ({role}) is shifted by {round(shift[0], 2) + 0.0:+.2f} rows, "
        f"{round(shift[1], 2) + 0.0:+.2f} columns against the pixel grid of {ref.source} ({reference})"
    )
    if max_shift is not None and max(abs(shift[0]), abs(shift[1])) > max_shift:
        raise PairingError(f"{text}: more than the allowed {max_shift} px; check the georeferencing of both files")
    warnings.warn(f"{text}: resampled onto it (bilinear); check the georeferencing", DataWarning, stacklevel=3)


def _shifted(src: Raster, like: Raster, row: int, col: int) -> Raster:
    """``src`` on ``like``'s grid when the grids differ by whole pixels: a copy, no resampling."""
    fill = MASK_NODATA if src.radiometry is Radiometry.LABEL else 0
    data = np.full((src.count, like.height, like.width), fill, dtype=src.data.dtype)
    valid = np.zeros((like.height, like.width), dtype=bool)
    r0, c0 = max(0, -row), max(0, -col)  # first destination pixel inside the source
    r1, c1 = min(like.height, src.height - row), min(like.width, src.width - col)
    if r1 > r0 and c1 > c0:
        data[:, r0:r1, c0:c1] = src.data[:, r0 + row : r1 + row, c0 + col : c1 + col]
        valid[r0:r1, c0:c1] = src.valid[r0 + row : r1 + row, c0 + col : c1 + col]
    return replace(src, data=data, transform=like.transform, valid=valid)


def reproject_onto(src: Raster, like: Raster, resampling: Resampling) -> Raster:
    """``src`` resampled onto ``like``'s grid; its valid mask follows with nearest resampling.

    Grids that differ only by whole pixels (same CRS and pixel size) are copied without resampling.
    Otherwise invalid source pixels are excluded from the interpolation (NaN / 255 source nodata)
    and the reprojected valid mask is eroded by one pixel so edge pixels of the footprint are not
    trusted.
    """
    offset = _pixel_offset(src, like)
    if offset is not None:
        return _shifted(src, like, *offset)
    shape = (src.count, like.height, like.width)
    if src.radiometry is Radiometry.LABEL:
        source = np.where(src.valid, src.data, MASK_NODATA).astype(np.uint8)
        dest = np.full(shape, MASK_NODATA, dtype=np.uint8)
        nodata: float = MASK_NODATA
    else:
        source = src.data.astype(np.float32, copy=True)
        source[:, ~src.valid] = np.nan
        dest = np.full(shape, np.nan, dtype=np.float32)
        nodata = np.nan
    common = {"src_transform": src.transform, "src_crs": src.crs, "dst_transform": like.transform}
    reproject(source, dest, src_nodata=nodata, dst_nodata=nodata, dst_crs=like.crs, resampling=resampling, **common)
    valid_src = src.valid.astype(np.uint8)
    valid = np.zeros((like.height, like.width), dtype=np.uint8)
    reproject(valid_src, valid, dst_nodata=0, dst_crs=like.crs, resampling=Resampling.nearest, **common)
    ok = valid.astype(bool)
    ok &= (dest != MASK_NODATA).all(axis=0) if src.radiometry is Radiometry.LABEL else np.isfinite(dest).all(axis=0)
    ok = ndimage.binary_erosion(ok, iterations=1, border_value=1)
    if src.radiometry is not Radiometry.LABEL:
        dest[:, ~ok] = 0.0
    return replace(src, data=dest, crs=like.crs, transform=like.transform, valid=ok)


def valid_bbox(valid: np.ndarray) -> Window | None:
    rows = np.flatnonzero(valid.any(axis=1))
    cols = np.flatnonzero(valid.any(axis=0))
    if rows.size == 0:
        return None
    return Window(int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))
