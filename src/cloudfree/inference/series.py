"""Per-pixel temporal estimates from other dates: acquisition dates, series statistics, the methods.

The building blocks of :func:`cloudfree.inference.temporal.fill_temporal` (see its module for the
methods): :func:`acquisition_date` (``DATETIME`` tag, else a date in the file name),
:func:`series_stats` (one windowed pass: how much of the target's gap each date covers, and the
per-band least-squares radiometric fit ``target = gain * member + offset``), and
:func:`estimate` (the estimate of one tile, with the index of the date each pixel came from).
All values are reflectance 0..1; masks are class codes (:mod:`cloudfree.masks`).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from rasterio.windows import Window

from cloudfree.inference.composite import cloud_of
from cloudfree.inference.sources import Source, as_float
from cloudfree.io.geotiff import open_info

METHODS = ("gapfill", "least-cloudy", "mosaic", "median")
MIN_FIT_PIXELS = 50
SEVERAL = -2  # source index of a pixel combined from several dates (mosaic, median)
_DATE_IN_NAME = re.compile(r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})(?!\d)")


def acquisition_date(path: str | os.PathLike[str]) -> datetime:
    """Acquisition time of a scene: its ``DATETIME`` tag, else a date in its file name."""
    info = open_info(path)
    text = info.tags.get("DATETIME") or info.tags.get("TIFFTAG_DATETIME")
    if text:
        for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
            try:
                return datetime.strptime(text.strip().rstrip("Z").split(".")[0], fmt)
            except ValueError:
                continue
    match = _DATE_IN_NAME.search(Path(path).name)
    if match:
        try:
            return datetime(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            pass
    raise ValueError(f"{path}: acquisition date unknown: no DATETIME tag and no YYYY-MM-DD / YYYYMMDD in the file name")


@dataclass
class SeriesStats:
    """Per-member statistics of the target's grid: cloud cover of the target's gap, radiometric fit."""

    gap_cover: np.ndarray  # (k,) fraction of the target's cloudy pixels that member k cannot fill
    gain: np.ndarray  # (k, C)
    offset: np.ndarray  # (k, C)
    fit_pixels: np.ndarray  # (k,)


def _clear(raster_valid: np.ndarray, codes: np.ndarray | None) -> np.ndarray:
    return raster_valid if codes is None else raster_valid & ~cloud_of(codes) & (codes != 255)


def series_stats(
    target: Source,
    members: Sequence[Source],
    target_mask: Source | None,
    member_masks: Sequence[Source | None],
    rows: int = 256,
) -> SeriesStats:
    """One windowed pass: how much of the target's gap each member covers, and least-squares fits."""
    k, c = len(members), target.channels
    n = np.zeros(k)
    sx, sy, sxx, sxy = (np.zeros((k, c)) for _ in range(4))
    blocked, gap = np.zeros(k), 0
    height, width = target.info.height, target.info.width
    for r0 in range(0, height, rows):
        win = Window(0, r0, width, min(rows, height - r0))
        t = target.read(win)
        t_codes = target_mask.read(win).data[0] if target_mask is not None else None
        t_clear = _clear(t.valid, t_codes)
        t_gap = t.valid & ~t_clear
        gap += int(t_gap.sum())
        y = as_float(t)
        for j, (m, mm) in enumerate(zip(members, member_masks, strict=True)):
            r = m.read(win)
            m_clear = _clear(r.valid, mm.read(win).data[0] if mm is not None else None)
            blocked[j] += int((t_gap & ~m_clear).sum())
            both = t_clear & m_clear
            x = as_float(r)[:, both].astype(np.float64)
            yy = y[:, both].astype(np.float64)
            n[j] += both.sum()
            sx[j] += x.sum(1)
            sy[j] += yy.sum(1)
            sxx[j] += (x * x).sum(1)
            sxy[j] += (x * yy).sum(1)
    gain, offset = np.ones((k, c)), np.zeros((k, c))
    for j in range(k):
        if n[j] >= MIN_FIT_PIXELS:
            var = sxx[j] / n[j] - (sx[j] / n[j]) ** 2
            cov = sxy[j] / n[j] - sx[j] * sy[j] / n[j] ** 2
            ok = var > 1e-12
            gain[j, ok] = cov[ok] / var[ok]
            offset[j] = sy[j] / n[j] - gain[j] * sx[j] / n[j]
    cover = blocked / gap if gap else np.zeros(k)
    return SeriesStats(cover, gain, offset, n)


def first_clear(values: np.ndarray, clear: np.ndarray, ranking: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel, the value of the best-ranked clear member.

    ``values`` ``(k, C, h, w)``, ``clear`` ``(k, h, w)``; returns ``(C, h, w)`` (NaN where no member
    is clear) and the ``(h, w)`` int16 index of the member used (-1 where none is clear).
    """
    out = np.full(values.shape[1:], np.nan, np.float32)
    source = np.full(values.shape[2:], -1, np.int16)
    for j in ranking:
        take = clear[j] & (source < 0)
        out[:, take] = values[j][:, take]
        source[take] = j
    return out, source


def estimate(
    method: str, values: np.ndarray, clear: np.ndarray, ranking: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """The cloud-free estimate ``(C, h, w)`` (NaN where nothing is clear) from ``k`` observations.

    ``values`` ``(k, C, h, w)`` reflectance (already gain/offset adjusted for ``gapfill``), ``clear``
    ``(k, h, w)``; ``ranking`` orders the members for ``gapfill`` / ``least-cloudy``. Also returns
    the ``(h, w)`` int16 source: the member used, ``SEVERAL`` (mosaic / median), -1 where none is clear.
    """
    if method in ("gapfill", "least-cloudy"):
        return first_clear(values, clear, ranking)
    masked = np.where(clear[:, None], values, np.nan)
    source = np.where(clear.any(axis=0), SEVERAL, -1).astype(np.int16)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels: nothing clear, NaN wanted
        if method == "mosaic":
            return np.nanmean(masked, axis=0).astype(np.float32), source
        if method == "median":
            return np.nanmedian(masked, axis=0).astype(np.float32), source
    raise ValueError(f"unknown temporal method {method!r}; expected one of {METHODS}")
