"""SEN12MS-CR and SEN12MS-CR-TS file names: which patch, member, time point and date a file holds.

SEN12MS-CR names each file ``<ROI>_<season>_<kind>_<scene>_p<patch>.tif`` with kind ``s1``
(Sentinel-1), ``s2`` (clear Sentinel-2) or ``s2_cloudy`` (:data:`KINDS`); :func:`parse_name` gives its
:class:`PatchFile` (patch identity :class:`PatchKey`, kind, path). SEN12MS-CR-TS names each file
``<s1|s2>_<ROI>_<scene>_ImgNo_<t>_<date>_patch_<n>.tif`` inside ``<S1|S2>/<t>/`` folders;
:func:`parse_ts_name` gives its :class:`TSFile` (sensor, ROI, scene, time point, acquisition date,
patch). Both return None for other names; the folder indexes and the data set's conventions built on
them are in :mod:`cloudfree.io.sen12mscr`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from cloudfree.errors import RasterReadError

KINDS = ("s1", "s2", "s2_cloudy")
KIND_MEANING = {"s1": "Sentinel-1 VV/VH", "s2": "clear Sentinel-2 target", "s2_cloudy": "cloudy Sentinel-2"}
CR_NAME_RE = re.compile(
    r"^(?P<roi>ROIs\d+)_(?P<season>[a-z]+)_(?P<kind>s2_cloudy|s1|s2)_(?P<scene>\d+)_p(?P<patch>\d+)\.tiff?$",
    re.IGNORECASE,
)
TS_NAME_RE = re.compile(
    r"^(?P<sensor>s[12])_(?P<roi>ROIs\d+)_(?P<scene>\d+)_ImgNo_(?P<time>\d+)_(?P<date>\d{4}-\d{2}-\d{2})"
    r"_patch_(?P<patch>\d+)\.tiff?$",
    re.IGNORECASE,
)


@dataclass(frozen=True, order=True)
class PatchKey:
    """One SEN12MS-CR patch: region of interest, season, scene and patch number."""

    roi: str
    season: str
    scene: int
    patch: int

    @property
    def name(self) -> str:
        return f"{self.roi}_{self.season}_{self.scene}_p{self.patch}"


@dataclass(frozen=True)
class PatchFile:
    """A parsed SEN12MS-CR file name: which patch, which member (``s1``, ``s2``, ``s2_cloudy``)."""

    key: PatchKey
    kind: str
    path: Path


def parse_name(path: str | os.PathLike[str]) -> PatchFile | None:
    """Parse ``ROIs1868_summer_s2_cloudy_19_p30.tif``; ``None`` when the name is not SEN12MS-CR's."""
    m = CR_NAME_RE.match(Path(path).name)
    if m is None:
        return None
    key = PatchKey(m["roi"], m["season"].lower(), int(m["scene"]), int(m["patch"]))
    return PatchFile(key, m["kind"].lower(), Path(path))


@dataclass(frozen=True)
class TSFile:
    """A parsed SEN12MS-CR-TS file name."""

    sensor: str  # "s1" or "s2"
    roi: str
    scene: int
    time: int
    date: date
    patch: int
    path: Path


def parse_ts_name(path: str | os.PathLike[str]) -> TSFile | None:
    """Parse ``s2_ROIs1868_100_ImgNo_5_2018-03-12_patch_17.tif``; ``None`` when not SEN12MS-CR-TS.

    When the file sits in the data set's ``<S1|S2>/<t>/`` folders, those must agree with its name.
    """
    p = Path(path)
    m = TS_NAME_RE.match(p.name)
    if m is None:
        return None
    try:
        day = date.fromisoformat(m["date"])
    except ValueError as exc:
        raise RasterReadError(f"{p}: invalid acquisition date {m['date']!r} in the file name") from exc
    ts = TSFile(m["sensor"].lower(), m["roi"], int(m["scene"]), int(m["time"]), day, int(m["patch"]), p)
    time_dir, sensor_dir = p.parent.name, p.parent.parent.name
    in_ts_folders = time_dir.isdigit() and sensor_dir.upper() in ("S1", "S2")
    if in_ts_folders and (int(time_dir) != ts.time or sensor_dir.lower() != ts.sensor):
        raise RasterReadError(
            f"{p}: file name says {ts.sensor.upper()} time point {ts.time} but it lies in {sensor_dir}/{time_dir}"
        )
    return ts
