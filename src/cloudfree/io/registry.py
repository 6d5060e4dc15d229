"""The closed registry of input formats: ``{name: reader class}``, tried in order.

A reader class states its ``name``, the ``options`` it accepts, ``matches(path)`` (cheap: names
and folder contents, no pixels) and ``open(path, bands, **options)`` returning a windowed source
(:class:`~cloudfree.io.open.RasterSource`). Adding a format is one module with one reader class
and one line in :data:`READERS`. The last entry (``geotiff``) matches any file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from cloudfree.errors import RasterReadError
from cloudfree.io.bandfiles import BandFileReader, BandFolderReader
from cloudfree.io.filesource import GeoTiffReader
from cloudfree.io.safe import SafeReader
from cloudfree.io.sen12mscr import Sen12mscrReader
from cloudfree.io.stacfolder import StacPairReader

SUPPORTED = (
    "a GeoTIFF or other GDAL raster file, a Sentinel-2 .SAFE folder or its .zip, a folder of band files "
    "(<prefix>_B02.tif ...), a pair folder from 'cloudfree fetch', or a SEN12MS-CR / SEN12MS-CR-TS patch file"
)


class Reader(Protocol):
    name: str
    options: frozenset[str]

    @staticmethod
    def matches(path: Path) -> bool: ...

    @staticmethod
    def open(path: Path, bands: str | Sequence[str] | None, **options: Any) -> Any: ...


READERS: dict[str, type[Reader]] = {
    cls.name: cls
    for cls in (SafeReader, BandFolderReader, StacPairReader, Sen12mscrReader, BandFileReader, GeoTiffReader)
}
PRODUCT_READERS = frozenset({"safe", "bandfiles", "stac-pair"})  # folders/archives read as ONE raster


def detect(path: str | os.PathLike[str]) -> str:
    """Name of the reader for ``path``; :class:`RasterReadError` for a missing path or an unknown folder."""
    if str(path).startswith("/vsi"):
        return "geotiff"
    p = Path(path)
    if not p.exists():
        raise RasterReadError(f"{p}: does not exist")
    for name, reader in READERS.items():
        if (p.is_file() or name != "geotiff") and reader.matches(p):
            return name
    raise RasterReadError(f"{p}: folder is not a raster product; supported inputs: {SUPPORTED}")


def is_product(path: str | os.PathLike[str]) -> bool:
    """True when a folder (or archive) is ONE raster product (SAFE, band files, fetched pair), not a batch.

    A batch command expands a plain folder into its files; a product folder is one scene.
    """
    try:
        return detect(path) in PRODUCT_READERS
    except RasterReadError:
        return False


def open_with(
    path: str | os.PathLike[str], bands: str | Sequence[str] | None = None, *, reader: str | None = None, **options: Any
) -> Any:
    """Open ``path`` with the named (or detected) reader; options set to None are left to the reader.

    Options a reader does not accept are refused with the list of those it does.
    """
    name = detect(path) if reader is None else reader
    if name not in READERS:
        raise ValueError(f"unknown reader {name!r}; expected one of {list(READERS)}")
    cls = READERS[name]
    given = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(given) - cls.options)
    if unknown:
        allowed = sorted(cls.options)
        raise RasterReadError(f"{path}: option(s) {unknown} do not apply to a {name} input (allowed: {allowed})")
    return cls.open(Path(path), bands, **given)
