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

Masks given as arrays or files become label Rasters in :mod:`cloudfree.data.pair_masks`
(:func:`mask_raster`, :func:`mask_from_file`; re-exported here).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import Resampling
from rasterio.windows import Window

from cloudfree import bands as bandcat
from cloudfree.data.grid_alignment import (  # noqa: F401 (PairingError, MASK_NODATA: re-exported)
    MASK_NODATA,
    SUBPIXEL_TOLERANCE,
    PairingError,
    check_registration,
    overlap_window,
    reproject_onto,
    subpixel_shift,
    valid_bbox,
)
from cloudfree.data.pair_masks import mask_from_file, mask_raster  # noqa: F401 (mask_from_file: re-exported)
from cloudfree.normalization import Normalization
from cloudfree.radiometry import Radiometry
from cloudfree.raster import Raster

SAR_BANDS = ("VV", "VH")


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
            w = overlap_window(ref.window(win), member, min_size)
            win = Window(win.col_off + w.col_off, win.row_off + w.row_off, w.width, w.height)
    grid = ref.window(win)
    aligned: dict[str, Raster] = {}
    for role, member in members.items():
        if member.same_grid(ref):
            aligned[role] = member.window(win)
        else:
            check_registration(member, ref, role, reference, max_shift)
            method = Resampling.nearest if member.radiometry is Radiometry.LABEL else Resampling.bilinear
            aligned[role] = reproject_onto(member, grid, method)

    valid = np.ones((grid.height, grid.width), dtype=bool)
    for member in aligned.values():
        valid &= member.valid
    box = valid_bbox(valid)
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
