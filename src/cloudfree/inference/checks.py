"""Checks made before any model loads: side inputs on the right grid, outputs that harm nothing.

Every side input of a removal run is checked against the scene (the *target*) it serves:

* **masks must lie on the grid of the raster they describe** (CRS, affine transform and shape; a
  pixel-size match is not enough: every Sentinel-2 tile is 10980 x 10980, so another tile's or
  another date's mask would pass a shape check). A mask on another grid is refused with one line
  naming both grids (:func:`check_same_grid`); masks are never resampled silently.
* **other dates and Sentinel-1** (``--series``, ``--prev``, ``--sar``, ``--prev-sar``) are
  *reprojected on purpose* onto the target's grid by the engine; here they must have a CRS (both
  sides) and overlap the target's footprint (:func:`check_reprojectable`), so a file 50 km away is
  refused rather than read as an all-nodata layer.

Outputs (:func:`check_output`): an existing output is replaced only with ``overwrite``, and an
output that *is* one of the inputs is refused even then.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import rasterio
from rasterio.warp import transform_bounds
from rasterio.windows import from_bounds

from cloudfree.errors import DataWarning, GridMismatchError, OutputExistsError
from cloudfree.io.geotiff import RasterInfo, open_info
from cloudfree.masks import NODATA, NOT_CLEAR_CODES, MaskCodeError, unexpected_codes


def grid_text(info: RasterInfo) -> str:
    """One-line description of a grid: ``HxW px, CRS, origin (x, y), pixel (dx, dy)``."""
    t = info.transform
    crs = info.crs.to_string() if info.crs is not None else "no CRS"
    return f"{info.height}x{info.width} px, {crs}, origin ({t.c:.6g}, {t.f:.6g}), pixel ({t.a:.6g}, {t.e:.6g})"


def same_grid(a: RasterInfo, b: RasterInfo) -> bool:
    """True when ``a`` and ``b`` share shape, CRS and transform (to 1e-6 of a pixel)."""
    if (a.height, a.width) != (b.height, b.width) or a.crs != b.crs:
        return False
    return a.transform.almost_equals(b.transform, precision=1e-6 * max(abs(b.transform.a), abs(b.transform.e)))


def check_same_grid(
    path: str | os.PathLike[str], reference: RasterInfo, what: str, *, bands: int | None = 1
) -> RasterInfo:
    """Refuse ``path`` unless it lies exactly on ``reference``'s grid (and has ``bands`` bands).

    ``what`` names the input in the message (``"--mask"``). Returns the file's info.
    """
    info = open_info(path)
    if bands is not None and info.count != bands:
        raise GridMismatchError(f"{what} {path}: has {info.count} bands, expected {bands}")
    if not same_grid(info, reference):
        raise GridMismatchError(
            f"{what} {path} is on another grid ({grid_text(info)}) than {reference.path} ({grid_text(reference)}); "
            f"masks are not resampled: give the mask made for this scene"
        )
    return info


def check_reprojectable(path: str | os.PathLike[str], reference: RasterInfo, what: str) -> RasterInfo:
    """Accept ``path`` on ``reference``'s grid, or on another one it can be reprojected from.

    Another grid needs a CRS on both sides and a footprint that overlaps the reference's.
    Returns the file's info.
    """
    info = open_info(path)
    if same_grid(info, reference):
        return info
    if info.crs is None or reference.crs is None:
        raise GridMismatchError(
            f"{what} {path} ({grid_text(info)}) is not on the grid of {reference.path} ({grid_text(reference)}) "
            f"and one of them has no CRS, so it cannot be reprojected"
        )
    left, bottom, right, top = _bounds(info)
    left, bottom, right, top = transform_bounds(info.crs, reference.crs, left, bottom, right, top)
    win = from_bounds(left, bottom, right, top, reference.transform)
    rows = (max(win.row_off, 0), min(win.row_off + win.height, reference.height))
    cols = (max(win.col_off, 0), min(win.col_off + win.width, reference.width))
    if rows[1] - rows[0] < 0.5 or cols[1] - cols[0] < 0.5:
        raise GridMismatchError(
            f"{what} {path} ({grid_text(info)}) does not overlap {reference.path} ({grid_text(reference)})"
        )
    return info


def _bounds(info: RasterInfo) -> tuple[float, float, float, float]:
    t = info.transform
    xs = (t.c, t.c + t.a * info.width)
    ys = (t.f, t.f + t.e * info.height)
    return min(xs), min(ys), max(xs), max(ys)


def check_output(
    output: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str] | None], *, overwrite: bool
) -> None:
    """Refuse an ``output`` that is one of ``inputs`` (always) or already exists (unless ``overwrite``)."""
    out = Path(output)
    for item in inputs:
        if item is None:
            continue
        src = Path(item)
        if _same_file(out, src):
            raise OutputExistsError(
                f"output {out} is the input {src}; write to another file (even --overwrite never replaces an input)"
            )
    if out.exists() and not overwrite:
        raise OutputExistsError(f"output {out} already exists; pass --overwrite to replace it")
    if out.is_dir():
        raise OutputExistsError(f"output {out} is a folder; give a file name (or end it with / for a batch)")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def check_mask_file(mask: str | os.PathLike[str], flag: str, rows: int = 1024) -> None:
    """Refuse a mask file holding values that are not mask codes (0 clear, 1 thick, 2 thin, 3 shadow,
    255 nodata; a 0/1 cloud mask is a subset), read by strips: a 0/100 or a fractional mask would
    otherwise replace nothing (``remove``) or score no pixel as cloudy (``evaluate``) and exit 0. A
    mask with nodata (255) but no cloud or shadow pixel gets a warning: a 0/255 cloud mask reads
    exactly so."""
    found: set[float | int] = set()
    with rasterio.open(mask) as ds:
        for top in range(0, ds.height, rows):
            window = rasterio.windows.Window(0, top, ds.width, min(rows, ds.height - top))
            found.update(np.unique(ds.read(1, window=window)).tolist())
            bad = unexpected_codes(np.asarray(sorted(found, key=float)))
            if bad:
                shown = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in bad[:6])
                raise MaskCodeError(
                    f"{flag} {mask}: holds values that are not mask codes ({shown}); expected 0 clear, 1 thick "
                    "cloud, 2 thin cloud, 3 shadow, 255 nodata (a 0/1 cloud mask works as it is; write a 0/255 "
                    "one as 0/1)"
                )
    if NODATA in found and not found & set(NOT_CLEAR_CODES):
        warnings.warn(
            f"{flag} {mask}: only clear (0) and nodata (255) pixels, no cloud or shadow; if 255 marks cloud "
            "in this file (a 0/255 mask), write it as 0/1",
            DataWarning,
            stacklevel=2,
        )


def clear_ground(mask: str | os.PathLike[str], rows: int = 1024) -> tuple[float, int]:
    """``(cover, clear)`` of a mask file: the fraction of its valid pixels that are cloud or shadow
    (codes 1, 2, 3; 255 is nodata) and the exact number of clear pixels (code 0), read by strips of
    ``rows`` rows at full resolution (a decimated read could miss the few clear pixels of a scene)."""
    clear = covered = 0
    with rasterio.open(mask) as ds:
        for top in range(0, ds.height, rows):
            codes = ds.read(1, window=rasterio.windows.Window(0, top, ds.width, min(rows, ds.height - top)))
            clear += int(np.count_nonzero(codes == 0))
            covered += int(np.count_nonzero((codes >= 1) & (codes <= 3)))
    return (covered / (covered + clear) if covered + clear else 0.0), clear


def warn_without_clear_ground(
    mask: str | os.PathLike[str], scene_name: str, *, single_date: bool = True, limit: float = 0.99
) -> int:
    """Warn (``DataWarning``, one line) when a single-date model has little or no clear ground to fill
    from; returns the number of clear pixels (:func:`clear_ground`).

    No clear pixel at all: the model's cloud and shadow pixels are written as nodata (the removal
    pass does so, :class:`~cloudfree.inference.model_pass.ModelPass`): nothing on this date tells what
    is under the cloud, and a constant would pass for reflectance. Cloud and shadow over more than
    ``limit`` of the valid pixels: the fill rests on the few clear pixels left. A model that also
    reads Sentinel-1 or an earlier date (``single_date=False``) has its ground from them: no warning.
    """
    cover, clear = clear_ground(mask)
    if not single_date:
        return clear
    if clear == 0 and cover > 0:
        warn_no_ground(scene_name, "no clear pixel in the mask (all cloud or shadow)")
    elif cover > limit:
        warnings.warn(
            f"{scene_name}: {cover:.2%} of the scene is cloud or shadow, so the single-date model fills it from "
            "the few clear pixels left and its output there is a rough guess; give other dates (--series) or "
            "Sentinel-1 (--sar)",
            DataWarning,
            stacklevel=2,
        )
    return clear


def warn_no_ground(scene_name: str, why: str) -> None:
    """The one-line ``DataWarning`` of a single-date pass with no clear ground: its fill is nodata."""
    warnings.warn(
        f"{scene_name}: {why}, so a single-date model has no ground to fill from: the cloud and shadow "
        "pixels are written as nodata (provenance 255); give other dates (--series) or Sentinel-1 (--sar)",
        DataWarning,
        stacklevel=3,
    )
