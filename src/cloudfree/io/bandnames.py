"""Band-file naming: which files are one band of a product (``<prefix>_B02.tif``, ``..._B8A_20m.jp2``, ``_VV.tif``).

:func:`parse_band_filename` reads a file name, :func:`has_band_files` tells a folder of band files
(a product, see :func:`cloudfree.io.registry.is_product`), :func:`find_band_files` gathers the band
files of one product in ESA order.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from cloudfree import bands as bandcat
from cloudfree.errors import RasterReadError

# <prefix>_B02.tif, <prefix>_B8A_20m.jp2, <prefix>-VV.tiff, B03.tif; TCI/AOT/WVP/SCL files do not match.
BAND_FILE_RE = re.compile(
    r"^(?:(?P<prefix>.*)[_-])?(?P<band>B0?[1-9]|B1[0-2]|B0?8A|VV|VH)(?:_(?P<res>\d+)m)?\.(?:tiff?|jp2)$",
    re.IGNORECASE,
)
CANONICAL_ORDER = bandcat.BAND_SETS["l1c13"] + bandcat.BAND_SETS["s1"]


def parse_band_filename(name: str) -> tuple[str, str, int | None] | None:
    """``"S2A_..._87_48_B8A.tif"`` -> ``("S2A_..._87_48", "B8A", None)``; ``None`` when not a band file.

    The third item is the resolution suffix in metres (``_20m`` in L2A granules), when present.
    """
    match = BAND_FILE_RE.match(Path(name).name)
    if match is None:
        return None
    res = match.group("res")
    return match.group("prefix") or "", bandcat.canonical(match.group("band")), int(res) if res else None


def has_band_files(folder: str | os.PathLike[str]) -> bool:
    """True when ``folder`` directly holds at least one file named like a band file."""
    root = Path(folder)
    return root.is_dir() and any(p.is_file() and parse_band_filename(p.name) for p in root.iterdir())


def find_band_files(folder: str | os.PathLike[str], prefix: str | None = None) -> dict[str, Path]:
    """Band files of one product in ``folder`` (not recursive), as ``{band: path}`` in ESA order.

    Raises :class:`RasterReadError` when the folder holds no band file, files of several products
    (different prefixes; pass ``prefix``), or the same band twice.
    """
    root = Path(folder)
    if not root.is_dir():
        raise RasterReadError(f"{root}: not a folder of band files")
    by_prefix: dict[str, dict[str, list[Path]]] = {}
    for path in sorted(root.iterdir()):
        parsed = parse_band_filename(path.name) if path.is_file() else None
        if parsed is not None:
            by_prefix.setdefault(parsed[0], {}).setdefault(parsed[1], []).append(path)
    if not by_prefix:
        raise RasterReadError(
            f"{root}: no band files found; expected single-band rasters named like <prefix>_B02.tif or <prefix>_VV.tif"
        )
    if prefix is None:
        if len(by_prefix) > 1:
            raise RasterReadError(
                f"{root}: holds band files of {len(by_prefix)} products {sorted(by_prefix)}; pass the files of one"
            )
        prefix = next(iter(by_prefix))
    if prefix not in by_prefix:
        raise RasterReadError(f"{root}: no band files with prefix {prefix!r}; found prefixes {sorted(by_prefix)}")
    files = by_prefix[prefix]
    for band, paths in files.items():
        if len(paths) > 1:
            raise RasterReadError(f"{root}: band {band} is present twice: {[p.name for p in paths]}")
    return {band: files[band][0] for band in CANONICAL_ORDER if band in files}
