"""Folders written by ``cloudfree fetch``: ``DIR/<pair_id>/cloudy.tif``, ``clear.tif`` (+ ``sar.tif``).

Each pair folder holds GeoTIFFs on one grid with band names, ``CLOUDFREE_RADIOMETRY=dn`` and the DN
offsets the STAC items stated (``CLOUDFREE_DN_OFFSET``). Given as an input, the folder reads as its
cloudy member (the scene to clean); ``member="clear"`` or ``"sar"`` picks another.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cloudfree.errors import RasterReadError
from cloudfree.io.filesource import FileSource

MEMBERS = ("cloudy", "clear", "sar")


class StacPairReader:
    """Registry entry: a pair folder fetched from a STAC catalogue (see the module docstring)."""

    name = "stac-pair"
    options = frozenset({"member", "dn_offset", "radiometry", "nodata"})

    @staticmethod
    def matches(path: Path) -> bool:
        return path.is_dir() and (path / "cloudy.tif").is_file() and (path / "clear.tif").is_file()

    @staticmethod
    def open(path: Path, bands: str | Sequence[str] | None, **options: Any) -> FileSource:
        member = options.pop("member", "cloudy")
        if member not in MEMBERS:
            raise RasterReadError(f"{path}: unknown pair member {member!r}; expected one of {list(MEMBERS)}")
        file = path / f"{member}.tif"
        if not file.is_file():
            raise RasterReadError(f"{path}: this pair has no {member}.tif")
        source = FileSource(file, bands, **options)
        source.layout = "stac-pair"
        return source
