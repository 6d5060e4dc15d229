"""SEN12MS-CR-TS time points as training steps ``t0 -> t1``, read by window on demand.

:func:`series_steps` finds, in every SEN12MS-CR-TS patch under a folder
(:func:`cloudfree.io.sen12mscr.find_time_series`), the consecutive time points that both have
Sentinel-1 and Sentinel-2 (optionally only nearly cloud-free Sentinel-2, by s2cloudless, and at
most ``max_gap_days`` apart), as :class:`SeriesStep` objects that
:class:`~cloudfree.data.timeseries.TimeSeriesDataset` reads crop by crop (the data set is too large
to hold in memory).
"""

from __future__ import annotations

import itertools
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rasterio.windows import Window
from tqdm import tqdm

from cloudfree.data.pairing import PairingError
from cloudfree.io.geotiff import open_info
from cloudfree.io.sen12mscr import find_time_series, read_patch
from cloudfree.raster import Raster

OPTICAL = ("prev_optical", "clear", "cloudy")


@dataclass
class SeriesStep:
    """Time points ``t0 -> t1`` of one SEN12MS-CR-TS patch, read by window on demand.

    ``files`` maps ``prev_optical``, ``prev_sar`` (t0) and ``sar``, ``clear`` (t1) to the data
    set's files; they must share one grid (checked on first use).
    """

    name: str
    t0: int
    t1: int
    files: dict[str, Path]
    dates: tuple[str, str]
    _shape: tuple[int, int] | None = field(default=None, repr=False, compare=False)

    @property
    def scene(self) -> str:
        return f"{self.name}_t{self.t0}-{self.t1}"

    @property
    def source(self) -> str:
        return " + ".join(f"{role} {path}" for role, path in self.files.items())

    def shape(self) -> tuple[int, int]:
        """``(height, width)`` of the common grid; :class:`PairingError` when the files disagree."""
        if self._shape is None:
            infos = {role: open_info(path) for role, path in self.files.items()}
            ref = infos["clear"]
            for role, info in infos.items():
                same = (info.height, info.width, info.crs) == (ref.height, ref.width, ref.crs)
                if not same or not info.transform.almost_equals(ref.transform, precision=1e-6 * max(ref.res)):
                    raise PairingError(
                        f"{self.scene}: {role} {info.path} ({info.height}x{info.width} px, {info.crs}, "
                        f"{tuple(info.transform)[:6]}) is not on the grid of clear {ref.path} "
                        f"({ref.height}x{ref.width} px, {ref.crs}, {tuple(ref.transform)[:6]})"
                    )
            self._shape = (ref.height, ref.width)
        return self._shape

    def read(self, window: Window, bands: Sequence[str]) -> dict[str, Raster]:
        """The members within ``window``: optical as reflectance (``bands``), SAR as VV, VH dB."""
        self.shape()
        out = {}
        for role, path in self.files.items():
            if role in OPTICAL:
                out[role] = read_patch(path, tuple(bands), window=window).to_reflectance()
            else:
                out[role] = read_patch(path, ("VV", "VH"), window=window)
        return out


def s2cloudless_fraction(path: str | os.PathLike[str]) -> float:
    """Cloud fraction (0..1 of valid pixels) of one SEN12MS-CR(-TS) S2 file by s2cloudless (default settings)."""
    from cloudfree.masking.s2cloudless_adapter import S2Cloudless
    from cloudfree.masks import cloud_fraction

    _, mask = S2Cloudless()(read_patch(path))
    return cloud_fraction(mask.data[0])


def series_steps(
    root: str | os.PathLike[str],
    *,
    max_gap_days: float | None = None,
    max_cloud: float | None = None,
    cloud_fraction: Callable[[Path], float] = s2cloudless_fraction,
    progress: bool = True,
) -> list[SeriesStep]:
    """Consecutive usable time points ``t0 -> t1`` of every SEN12MS-CR-TS patch under ``root``.

    A time point is usable when it has both S1 and S2 and, with ``max_cloud``, its S2 cloud
    fraction (``cloud_fraction(path)``, s2cloudless by default: one pass over every S2 file) is at
    most ``max_cloud``. Pairs whose S2 dates lie more than ``max_gap_days`` apart are dropped.
    Time points lacking a sensor are reported in a warning, not skipped silently.
    """
    series = find_time_series(root)
    if not series:
        raise ValueError(f"{root}: no SEN12MS-CR-TS files (s2_<ROI>_<scene>_ImgNo_<t>_<date>_patch_<n>.tif)")
    incomplete = [f"{s.name} {m}" for s in series for m in s.missing()]
    if incomplete:
        shown = ", ".join(incomplete[:5]) + (" ..." if len(incomplete) > 5 else "")
        warnings.warn(f"{root}: {len(incomplete)} time point(s) lack S1 or S2 and are not used: {shown}", stacklevel=2)
    usable = {s.name: [t for t in s.times if t in s.s1 and t in s.s2] for s in series}
    if max_cloud is not None:
        files = [(s.name, t) for s in series for t in usable[s.name]]
        by_name = {s.name: s for s in series}
        fractions = {
            key: cloud_fraction(by_name[key[0]].s2[key[1]].path)
            for key in tqdm(files, desc="cloud fraction", unit="image", file=sys.stderr, disable=not progress)
        }
        usable = {name: [t for t in times if fractions[(name, t)] <= max_cloud] for name, times in usable.items()}
    steps = []
    for s in series:
        times = usable[s.name]
        for t0, t1 in itertools.pairwise(times):
            d0, d1 = s.s2[t0].date, s.s2[t1].date
            if max_gap_days is not None and (d1 - d0).days > max_gap_days:
                continue
            files = {"prev_optical": s.s2[t0].path, "prev_sar": s.s1[t0].path}
            files |= {"sar": s.s1[t1].path, "clear": s.s2[t1].path}
            steps.append(SeriesStep(s.name, t0, t1, files, (d0.isoformat(), d1.isoformat())))
    if not steps:
        raise ValueError(
            f"{root}: no pair of consecutive time points with S1 and S2 (max_cloud={max_cloud}, "
            f"max_gap_days={max_gap_days}) among {len(series)} series"
        )
    return steps
