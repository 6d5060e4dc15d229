"""Cloudy/clear (+ Sentinel-1, + cloud mask) pairs: validation, alignment onto one grid, common crop.

:func:`align_pair` turns the members of one training pair into an :class:`AlignedPair`: rasters on
ONE pixel grid (the reference member's), cropped to the region where every member holds data,
optical members in reflectance 0..1, SAR in dB, the mask as class codes (0 clear, 1 thick cloud,
2 thin cloud, 3 shadow, 255 nodata; docs/ARCHITECTURE.md).

Steps, each with an error naming the files involved when it cannot be done:

1. band check: cloudy and clear hold the same canonical bands (order taken from the reference);
2. DN -> reflectance with each raster's own offsets (``Raster.to_reflectance``), linear SAR -> dB;
3. overlap: the footprints are intersected in the reference CRS; no overlap -> :class:`PairingError`;
4. reprojection of the non-reference members onto the reference grid cropped to the overlap, with
   ``rasterio.warp.reproject`` (bilinear for reflectance and dB, nearest for masks and for the
   valid-data masks); a reprojected member's valid mask is eroded by one pixel, so that pixels whose
   bilinear kernel reached outside the source's data are not used. Members on the same pixel grid
   with a different extent (a whole-pixel shift) are copied, not resampled;
5. crop to the bounding box of the pixels valid in all members; pixels invalid in any member are
   marked invalid in the pair (``AlignedPair.valid``) so that chips containing them can be dropped.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import Resampling, reproject, transform_bounds
from rasterio.windows import Window, from_bounds
from scipy import ndimage

from cloudfree import bands as bandcat
from cloudfree.errors import CloudfreeError, DataWarning
from cloudfree.masks import NODATA, check_codes
from cloudfree.normalization import Normalization
from cloudfree.radiometry import Radiometry
from cloudfree.raster import Raster

MASK_NODATA = NODATA
SAR_BANDS = ("VV", "VH")
SUBPIXEL_TOLERANCE = 0.05  # px: shifts below this are rounding in the transforms, not misregistration


class PairingError(CloudfreeError, ValueError):
    """The members of a pair cannot be aligned (no overlap, too small, all nodata, bad mask ...)."""


@dataclass
class AlignedPair:
    """The members of one training pair on one pixel grid.

    Attributes:
        cloudy: cloudy optical, float32 reflectance ``(bands, height, width)``.
        clear: clear optical target, float32 reflectance, same bands and grid as ``cloudy``.
        sar: Sentinel-1 ``(2, height, width)`` VV, VH in dB, or None.
        mask: cloud mask ``(1, height, width)`` uint8 class codes (255 nodata), or None.
        scene: identifier of the pair (used in chip names and the chip index).
    """

    cloudy: Raster
    clear: Raster
    sar: Raster | None = None
    mask: Raster | None = None
    scene: str = "pair"

    def __post_init__(self) -> None:
        bandcat.require_same(self.clear.bands, self.cloudy.bands, f"{self.cloudy.source} vs {self.clear.source}")
        for member in self.members().values():
            if not member.same_grid(self.clear):
                raise PairingError(f"{member.source} is not on the grid of {self.clear.source}; use align_pair()")

    def members(self) -> dict[str, Raster]:
        """The present members by role: ``cloudy``, ``clear`` and, when given, ``sar`` and ``mask``."""
        out = {"cloudy": self.cloudy, "clear": self.clear}
        if self.sar is not None:
            out["sar"] = self.sar
        if self.mask is not None:
            out["mask"] = self.mask
        return out

    @property
    def bands(self) -> tuple[str, ...]:
        return self.clear.bands

    @property
    def height(self) -> int:
        return self.clear.height

    @property
    def width(self) -> int:
        return self.clear.width

    @property
    def crs(self) -> CRS | None:
        return self.clear.crs

    @property
    def transform(self) -> Affine:
        return self.clear.transform

    @property
    def valid(self) -> np.ndarray:
        """``(height, width)`` bool: True where every member holds data (mask code != 255 included)."""
        valid = np.ones((self.height, self.width), dtype=bool)
        for member in self.members().values():
            valid &= member.valid
        return valid

    @property
    def sources(self) -> str:
        return " + ".join(f"{role} {m.source}" for role, m in self.members().items())

    def window(self, win: Window) -> AlignedPair:
        """The pair restricted to one pixel window (each member with its own window transform)."""
        parts = {role: m.window(win) for role, m in self.members().items()}
        return AlignedPair(scene=self.scene, **parts)

    def select(self, wanted: str | tuple[str, ...]) -> AlignedPair:
        """The pair with only (and in the order of) the ``wanted`` optical bands."""
        return replace(self, cloudy=self.cloudy.select(wanted), clear=self.clear.select(wanted))


def scene_id(path_or_name: str | os.PathLike[str]) -> str:
    """A file-name-safe scene identifier from a path's stem (``S2_L1C_2015-07-31``)."""
    stem = Path(str(path_or_name)).stem if str(path_or_name) not in ("", "<memory>") else "pair"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "pair"


def mask_raster(mask: np.ndarray, like: Raster, source: str = "<mask>", nodata: float | None = None) -> Raster:
    """A ``(height, width)`` cloud mask as a uint8 label Raster on ``like``'s grid.

    Codes must be 0 clear, 1 thick cloud, 2 thin cloud, 3 shadow or 255 nodata (binary 0/1 masks
    are accepted: 1 counts as cloud). A file nodata value outside 0..3 is mapped to 255. Other codes
    raise :class:`~cloudfree.masks.MaskCodeError` naming ``source``.
    """
    arr = np.asarray(mask)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.shape != (like.height, like.width):
        raise PairingError(f"{source}: mask is {arr.shape} px but {like.source} is {like.height}x{like.width}")
    codes = arr.astype(np.int64)
    if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)) and nodata not in (0, 1, 2, 3):
        codes = np.where(codes == nodata, MASK_NODATA, codes)
    codes = check_codes(codes, source)
    return Raster(
        data=codes[None],
        bands=("mask",),
        crs=like.crs,
        transform=like.transform,
        valid=codes != MASK_NODATA,
        radiometry=Radiometry.LABEL,
        nodata=MASK_NODATA,
        source=source,
    )


def mask_from_file(path: str | os.PathLike[str]) -> Raster:
    """Read a single-band cloud-mask GeoTIFF (class codes) as a label Raster on its own grid."""
    from cloudfree.io import open_info, read_mask

    info = open_info(path)
    arr = read_mask(path)
    like = Raster(
        data=np.zeros((1, info.height, info.width), np.uint8),
        bands=("mask",),
        crs=info.crs,
        transform=info.transform,
        valid=np.ones((info.height, info.width), bool),
        radiometry=Radiometry.LABEL,
        source=str(path),
    )
    return mask_raster(arr, like, source=str(path), nodata=info.nodata)


# -- preparation of each member ---------------------------------------------------------------------
def _optical(raster: Raster, bands: tuple[str, ...] | None) -> Raster:
    if not raster.valid.any():
        raise PairingError(f"{raster.source}: no valid pixel, the scene is all nodata")
    if bands is not None:
        raster = raster.select(bands)
    if raster.radiometry not in (Radiometry.DN, Radiometry.REFLECTANCE):
        raise PairingError(
            f"{raster.source}: optical member holds {raster.radiometry.value} data; "
            "expected Sentinel-2 DN or reflectance"
        )
    return raster.to_reflectance()


def _sar(raster: Raster) -> Raster:
    if not raster.valid.any():
        raise PairingError(f"{raster.source}: no valid pixel, the scene is all nodata")
    raster = raster.select(SAR_BANDS)
    if raster.radiometry is Radiometry.SAR_LINEAR:
        data = np.full(raster.data.shape, np.nan, dtype=np.float32)
        positive = raster.valid & (raster.data > 0).all(axis=0)
        data[:, positive] = 10.0 * np.log10(raster.data[:, positive].astype(np.float32))
        raster = raster.with_data(data, valid=positive, radiometry=Radiometry.SAR_DB)
    elif raster.radiometry is not Radiometry.SAR_DB:
        raise PairingError(f"{raster.source}: SAR member holds {raster.radiometry.value} data; expected VV, VH in dB")
    return raster.with_data(raster.data.astype(np.float32, copy=False))


def _mask(mask: np.ndarray | Raster, cloudy: Raster) -> Raster:
    if isinstance(mask, Raster):
        if mask.count != 1:
            raise PairingError(f"{mask.source}: a mask must have one band, it has {mask.count}")
        # an ungeoreferenced mask of the cloudy image's size takes the cloudy grid
        ungeoreferenced = mask.crs is None and cloudy.crs is not None and mask.shape[1:] == cloudy.shape[1:]
        like = cloudy if ungeoreferenced else mask
        out = mask_raster(mask.data[0], like, source=mask.source, nodata=mask.nodata)
        out.valid &= mask.valid
    else:
        out = mask_raster(mask, cloudy, source=f"mask of {cloudy.source}")
    if not out.valid.any():
        raise PairingError(f"{out.source}: mask has no valid pixel (all 255/nodata)")
    return out


def _check_bands(cloudy: Raster, clear: Raster, reference: str) -> tuple[Raster, Raster]:
    if set(cloudy.bands) != set(clear.bands):
        raise bandcat.BandError(
            f"band sets differ between pair members: cloudy {cloudy.source} has {list(cloudy.bands)} but clear "
            f"{clear.source} has {list(clear.bands)}; select common bands (bands=..., --bands)"
        )
    order = clear.bands if reference == "clear" else cloudy.bands
    return cloudy.select(order), clear.select(order)


# -- geometry -----------------------------------------------------------------------------------------
def _overlap_window(ref: Raster, other: Raster, min_size: int) -> Window:
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


def _check_registration(member: Raster, ref: Raster, role: str, reference: str, max_shift: float | None) -> None:
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


def _bbox(valid: np.ndarray) -> Window | None:
    rows = np.flatnonzero(valid.any(axis=1))
    cols = np.flatnonzero(valid.any(axis=0))
    if rows.size == 0:
        return None
    return Window(int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))


def align_pair(
    cloudy: Raster,
    clear: Raster,
    sar: Raster | None = None,
    mask: np.ndarray | Raster | None = None,
    reference: str = "clear",
    *,
    bands: str | tuple[str, ...] | None = None,
    min_size: int = 1,
    scene: str | None = None,
    max_shift: float | None = None,
) -> AlignedPair:
    """Validate, align, convert and crop the members of one pair onto the reference's grid.

    Args:
        cloudy: cloudy Sentinel-2 raster, DN or reflectance ``(bands, h, w)``.
        clear: clear Sentinel-2 raster of the same area, same band set.
        sar: optional Sentinel-1 raster with VV and VH (dB or linear).
        mask: optional cloud mask of the cloudy image: a ``(h, w)`` array on ``cloudy``'s grid or a
            label Raster on its own grid; codes 0/1/2/3/255.
        reference: ``"clear"`` or ``"cloudy"``: whose grid (and band order) the pair takes.
        bands: keep only these optical bands (names, aliases or a band-set name such as ``rgbn``).
        min_size: the common valid area must be at least this many pixels on each side (the patch).
        scene: identifier of the pair; default from the cloudy file's name.
        max_shift: members on the reference's CRS and pixel size but off its grid by part of a
            pixel (sub-pixel misregistration) are resampled with a :class:`DataWarning` giving the
            shift; with ``max_shift`` (pixels) a larger shift is refused instead.

    Raises:
        BandError: unknown band names, or band sets that differ between cloudy and clear.
        PairingError: all-nodata member, footprints that do not overlap or overlap by less than
            ``min_size``, a mask with codes other than 0..3/255, a member without CRS off the grid.
    """
    if reference not in ("clear", "cloudy"):
        raise ValueError(f"reference must be 'clear' or 'cloudy', not {reference!r}")
    wanted = bandcat.resolve(bands) if bands is not None else None
    cloudy_r, clear_r = _optical(cloudy, wanted), _optical(clear, wanted)
    cloudy_r, clear_r = _check_bands(cloudy_r, clear_r, reference)
    members: dict[str, Raster] = {"cloudy": cloudy_r, "clear": clear_r}
    if sar is not None:
        members["sar"] = _sar(sar)
    if mask is not None:
        members["mask"] = _mask(mask, cloudy_r)
    ref = members[reference]

    win = Window(0, 0, ref.width, ref.height)
    for role, member in members.items():
        if role != reference:
            w = _overlap_window(ref.window(win), member, min_size)
            win = Window(win.col_off + w.col_off, win.row_off + w.row_off, w.width, w.height)
    grid = ref.window(win)
    aligned: dict[str, Raster] = {}
    for role, member in members.items():
        if member.same_grid(ref):
            aligned[role] = member.window(win)
        else:
            _check_registration(member, ref, role, reference, max_shift)
            method = Resampling.nearest if member.radiometry is Radiometry.LABEL else Resampling.bilinear
            aligned[role] = reproject_onto(member, grid, method)

    valid = np.ones((grid.height, grid.width), dtype=bool)
    for member in aligned.values():
        valid &= member.valid
    box = _bbox(valid)
    names = " and ".join(m.source for m in members.values())
    if box is None:
        raise PairingError(f"no pixel is valid in all of {names}: the valid areas do not overlap")
    if box.height < min_size or box.width < min_size:
        raise PairingError(
            f"the area valid in all of {names} is {box.height}x{box.width} px, smaller than one patch of {min_size} px"
        )
    keep = valid[box.row_off : box.row_off + box.height, box.col_off : box.col_off + box.width]
    final = {}
    for role, member in aligned.items():
        part = member.window(box)
        data = part.data.copy()
        data[:, ~keep] = MASK_NODATA if part.radiometry is Radiometry.LABEL else 0
        final[role] = replace(part, data=data, valid=keep.copy())
    return AlignedPair(scene=scene or scene_id(cloudy.source), **final)


def paired_normalization(
    pair: AlignedPair, method: str = "zscore", low: float = 2.0, high: float = 98.0
) -> Normalization:
    """One normalisation computed over both cloudy and clear valid pixels (``Normalization.from_data``)."""
    valid = pair.valid
    return Normalization.from_data(
        [pair.cloudy.data, pair.clear.data], pair.bands, method=method, valid=[valid, valid], low=low, high=high
    )
