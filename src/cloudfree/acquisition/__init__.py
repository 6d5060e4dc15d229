"""Data acquisition: STAC search, cloudy/clear pair mining, Sentinel-1 matching, windowed download.

* :mod:`cloudfree.acquisition.stac` — catalogue presets and search through pystac-client;
* :mod:`cloudfree.acquisition.items` — reading STAC Item dicts: tile, cloud cover, band assets, DN offsets;
* :mod:`cloudfree.acquisition.pairs` — pairing clear and cloudy scenes of one tile, nearest Sentinel-1;
* :mod:`cloudfree.acquisition.fetch` — windowed reads of the AOI from COG assets onto one grid per pair;
* :mod:`cloudfree.acquisition.sar_read` — Sentinel-1 VV/VH read on their own grid around a pair's AOI;
* :mod:`cloudfree.acquisition.tables` — CSV / Parquet tables of items and pairs.

pystac-client, pystac, planetary-computer and pyarrow come with the optional extra
``pip install cloudfree[stac]`` and are imported only where they are needed.
"""

from cloudfree.errors import CloudfreeError

STAC_EXTRA_HINT = "pip install cloudfree[stac]"


class MissingExtraError(CloudfreeError, OSError):
    """An optional ``[stac]`` dependency is not installed (an OSError: the CLI reports it in one line)."""


def missing_extra(package: str) -> MissingExtraError:
    """The error raised when an optional ``[stac]`` dependency is not installed."""
    return MissingExtraError(f"{package} is needed for this command; install the optional extra: {STAC_EXTRA_HINT}")
