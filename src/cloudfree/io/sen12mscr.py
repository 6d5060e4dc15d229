"""SEN12MS-CR and SEN12MS-CR-TS: file naming, folder layouts, patch triplets and time series.

SEN12MS-CR ships each 256 x 256 patch as three GeoTIFFs named
``<ROI>_<season>_<kind>_<scene>_p<patch>.tif`` with kind ``s1`` (Sentinel-1 VV, VH in dB, float32),
``s2`` (clear Sentinel-2 L1C, 13 bands uint16 DN) and ``s2_cloudy`` (the cloudy acquisition), in
folders ``<ROI>_<season>_<kind>/<kind>_<scene>/``; copies of the data set also come flat (all files
in one folder). The files carry no band descriptions: the band names are fixed by the data set
(``l1c13`` for S2, ``VV, VH`` for S1), and the DN predate processing baseline 04.00 (offset 0).

SEN12MS-CR-TS stores time series as ``<ROI>/<scene>/<S1|S2>/<t>/<s1|s2>_<ROI>_<scene>_ImgNo_<t>_<date>_patch_<n>.tif``
with 30 time points ``t`` per patch.

File names are parsed in :mod:`cloudfree.io.sen12mscr_names` (:func:`parse_name`,
:func:`parse_ts_name`; re-exported here). :func:`find_triplets` and :func:`find_time_series` index a
root folder (any of the layouts); incomplete triplets are kept with their missing members reported
(:attr:`Triplet.missing`), never skipped silently. :func:`open_patch` opens one file of either data
set as a windowed source with the data set's conventions (band names, radiometry, nodata, tags);
:func:`read_patch` reads it at once.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rasterio.windows import Window

from cloudfree.errors import RasterReadError
from cloudfree.io.filesource import FileSource
from cloudfree.io.sen12mscr_names import (  # noqa: F401 (the file-name API, re-exported)
    CR_NAME_RE,
    KIND_MEANING,
    KINDS,
    TS_NAME_RE,
    PatchFile,
    PatchKey,
    TSFile,
    parse_name,
    parse_ts_name,
)
from cloudfree.radiometry import Radiometry
from cloudfree.raster import Raster

S2_BANDS = "l1c13"
S1_BANDS = ("VV", "VH")


@dataclass
class Triplet:
    """The three files of one patch; a member absent from the root is ``None``."""

    key: PatchKey
    s1: Path | None = None
    s2: Path | None = None
    s2_cloudy: Path | None = None

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(kind for kind in KINDS if getattr(self, kind) is None)

    @property
    def complete(self) -> bool:
        return not self.missing

    def describe(self) -> str:
        if self.complete:
            return f"{self.key.name}: complete (s1, s2, s2_cloudy)"
        absent = ", ".join(f"{kind} ({KIND_MEANING[kind]})" for kind in self.missing)
        return f"{self.key.name}: missing {absent}"


def _tifs(root: Path) -> list[Path]:
    if not root.is_dir():
        raise RasterReadError(f"{root}: not a folder")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in (".tif", ".tiff") and p.is_file())


def find_triplets(root: str | os.PathLike[str]) -> list[Triplet]:
    """Index every SEN12MS-CR file under ``root`` (nested or flat layout) into per-patch triplets.

    Incomplete triplets are returned too (see :attr:`Triplet.missing`); a member found twice is an
    error naming both files. Sorted by ROI, season, scene and patch.
    """
    triplets: dict[PatchKey, Triplet] = {}
    for path in _tifs(Path(root)):
        parsed = parse_name(path)
        if parsed is None:
            continue
        trip = triplets.setdefault(parsed.key, Triplet(parsed.key))
        if getattr(trip, parsed.kind) is not None:
            raise RasterReadError(
                f"{root}: {parsed.kind} of patch {parsed.key.name} found twice: {getattr(trip, parsed.kind)} and {path}"
            )
        setattr(trip, parsed.kind, path)
    return [triplets[k] for k in sorted(triplets)]


def describe_triplets(triplets: Sequence[Triplet]) -> list[str]:
    """One line per incomplete triplet plus a count of complete ones (for logs and ``cloudfree info``)."""
    complete = sum(t.complete for t in triplets)
    lines = [f"{complete} complete triplet(s), {len(triplets) - complete} incomplete"]
    lines += [t.describe() for t in triplets if not t.complete]
    return lines


@dataclass
class TimeSeries:
    """All time points of one SEN12MS-CR-TS patch: ``{time index: file}`` per sensor."""

    roi: str
    scene: int
    patch: int
    s1: dict[int, TSFile] = field(default_factory=dict)
    s2: dict[int, TSFile] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.roi}_{self.scene}_patch_{self.patch}"

    @property
    def times(self) -> list[int]:
        return sorted(set(self.s1) | set(self.s2))

    def missing(self) -> list[str]:
        """``"S1 t=4"`` for each time point present for one sensor but not the other."""
        out = [f"S1 t={t}" for t in self.times if t not in self.s1]
        return out + [f"S2 t={t}" for t in self.times if t not in self.s2]


def find_time_series(root: str | os.PathLike[str]) -> list[TimeSeries]:
    """Index every SEN12MS-CR-TS file under ``root`` into per-patch time series (sorted)."""
    series: dict[tuple[str, int, int], TimeSeries] = {}
    for path in _tifs(Path(root)):
        ts = parse_ts_name(path)
        if ts is None:
            continue
        item = series.setdefault((ts.roi, ts.scene, ts.patch), TimeSeries(ts.roi, ts.scene, ts.patch))
        slot = item.s1 if ts.sensor == "s1" else item.s2
        if ts.time in slot:
            raise RasterReadError(f"{root}: {ts.sensor} time point {ts.time} of {item.name} found twice")
        slot[ts.time] = ts
    return [series[k] for k in sorted(series)]


def conventions(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The data set's conventions for one file: ``default_bands``, ``radiometry``, ``nodata``, ``tags``.

    S2 files: 13 bands ``B01..B12`` (ESA order, with ``B8A``), DN uint16, 0 = nodata, offset 0.
    S1 files: ``VV, VH`` in dB (float32), NaN = nodata. Tags record the patch identity (and the
    acquisition date for the time-series variant). None when the name is not a SEN12MS-CR(-TS) one.
    """
    p = Path(path)
    cr = parse_name(p)
    if cr is not None:
        sensor = "s1" if cr.kind == "s1" else "s2"
        tags = {
            "SEN12MSCR_ROI": cr.key.roi,
            "SEN12MSCR_SEASON": cr.key.season,
            "SEN12MSCR_SCENE": str(cr.key.scene),
            "SEN12MSCR_PATCH": str(cr.key.patch),
            "SEN12MSCR_KIND": cr.kind,
        }
    else:
        ts = parse_ts_name(p)
        if ts is None:
            return None
        sensor = ts.sensor
        tags = {
            "SEN12MSCR_ROI": ts.roi,
            "SEN12MSCR_SCENE": str(ts.scene),
            "SEN12MSCR_PATCH": str(ts.patch),
            "SEN12MSCR_TIME": str(ts.time),
            "DATETIME": ts.date.isoformat(),
        }
    if sensor == "s1":
        return {"default_bands": S1_BANDS, "radiometry": Radiometry.SAR_DB, "nodata": None, "tags": tags}
    return {"default_bands": S2_BANDS, "radiometry": Radiometry.DN, "nodata": 0, "tags": tags}


def open_patch(
    path: str | os.PathLike[str],
    bands: str | Sequence[str] | None = None,
    *,
    dn_offset: float | Sequence[float] | None = None,
    radiometry: Radiometry | str | None = None,
) -> FileSource:
    """A windowed source over one SEN12MS-CR(-TS) file with the data set's conventions.

    ``bands`` overrides the data-set band names (file order); ``dn_offset`` and ``radiometry``
    override theirs (the data set predates baseline 04.00: offset 0).
    """
    conv = conventions(path)
    if conv is None:
        raise RasterReadError(
            f"{path}: not a SEN12MS-CR file name (expected e.g. ROIs1868_summer_s2_cloudy_19_p30.tif or "
            f"s2_ROIs1868_100_ImgNo_5_2018-03-12_patch_17.tif)"
        )
    return FileSource(
        path,
        bands,
        layout="sen12mscr",
        radiometry=radiometry or conv["radiometry"],
        dn_offset=dn_offset,
        nodata=conv["nodata"],
        default_bands=conv["default_bands"],
        tags=conv["tags"],
    )


def read_patch(
    path: str | os.PathLike[str],
    select: str | Sequence[str] | None = None,
    *,
    window: Window | None = None,
    bands: str | Sequence[str] | None = None,
) -> Raster:
    """Read one SEN12MS-CR or SEN12MS-CR-TS file with its data-set band names (see :func:`conventions`)."""
    with open_patch(path, bands) as source:
        return source.read(select=select, window=window)


def read_triplet(
    triplet: Triplet, select: str | Sequence[str] | None = None, *, window: Window | None = None
) -> dict[str, Raster | None]:
    """Read the members of a triplet: ``{"s1": ..., "s2": ..., "s2_cloudy": ...}``; absent ones are None.

    ``select`` applies to the optical members; S1 always gives ``VV, VH``.
    """
    out: dict[str, Raster | None] = {}
    for kind in KINDS:
        path = getattr(triplet, kind)
        out[kind] = None if path is None else read_patch(path, None if kind == "s1" else select, window=window)
    return out


class Sen12mscrReader:
    """Registry entry: one SEN12MS-CR or SEN12MS-CR-TS patch file, read with the data set's conventions."""

    name = "sen12mscr"
    options = frozenset({"dn_offset", "radiometry"})

    @staticmethod
    def matches(path: Path) -> bool:
        return path.is_file() and conventions(path) is not None

    @staticmethod
    def open(path: Path, bands: str | Sequence[str] | None, **options: Any) -> FileSource:
        return open_patch(path, bands, **options)
