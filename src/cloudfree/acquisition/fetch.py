"""Windowed download of mined pairs: the AOI of every band, warped onto one grid per pair.

For each row of a pairs table (``cloudfree mine-pairs``) the target grid is the clear member's UTM
grid (origin of its 10 m band) at the requested resolution, cut to the AOI's bounding box (the whole
clear scene without an AOI). Every band of both optical members is read through GDAL's HTTP reader
with a ``WarpedVRT`` onto that grid (only the COG tiles under the AOI travel), strip by strip, into
:class:`~cloudfree.io.writer.WindowedCOGWriter`, so memory stays bounded for whole scenes too.
Sentinel-1 (the scene nearest the *cloudy* date: the model's SAR input belongs to the scene being
reconstructed) is read on its native grid around the AOI (:mod:`.sar_read`) and prepared by
:func:`cloudfree.io.sentinel1.prepare_s1` (held in memory: use an AOI for large areas).

Outputs per pair, written atomically (temporary name, then rename)::

    DIR/<pair_id>/clear.tif   uint16 DN, bands named, CLOUDFREE_RADIOMETRY=dn, CLOUDFREE_DN_OFFSET
    DIR/<pair_id>/cloudy.tif  same grid
    DIR/<pair_id>/sar.tif     VV, VH dB float32 (when the pair has Sentinel-1)
    DIR/pairs.csv             cloudy, clear, sar, scene (+ ids, dates): input of ``prepare --pairs``

The DN offsets are the ones mine-pairs read from each item (``raster:bands`` or processing baseline).
Runs resume: a finished file with the expected bands and grid is skipped, leftovers of a killed run
(temporary names) are removed, and ``pairs.csv`` is rewritten after every pair.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window
from tqdm import tqdm

from cloudfree import bands as bandcat
from cloudfree.acquisition.grids import Grid, target_grid
from cloudfree.acquisition.items import ItemError
from cloudfree.acquisition.remote import RemoteBand, RetryPolicy, gdal_options, read_native
from cloudfree.acquisition.sar_read import read_sar_around
from cloudfree.acquisition.tables import write_table
from cloudfree.io import RasterReadError, open_info, write_raster
from cloudfree.io.sentinel1 import prepare_s1
from cloudfree.io.writer import WindowedCOGWriter
from cloudfree.radiometry import Radiometry

INDEX_COLUMNS = (
    "cloudy", "clear", "sar", "scene", "tile", "cloudy_id", "clear_id", "sar_id",
    "cloudy_datetime", "clear_datetime", "gap_days",
)  # fmt: skip


@dataclass(frozen=True)
class FetchOptions:
    """What to download: bands, resolution (m), AOI (WGS84 geometry), Sentinel-1, retries."""

    bands: tuple[str, ...] = bandcat.BAND_SETS["rgbn"]
    resolution: float = 10.0
    aoi: dict[str, Any] | None = None
    sar: bool = True
    speckle_window: int | None = None
    resampling: str = "bilinear"
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    keep_going: bool = False
    strip_rows: int = 1024
    workers: int = 4


@dataclass
class FetchReport:
    """Index rows of the complete pairs, files written and skipped, and failures (``--keep-going``)."""

    index: list[dict[str, Any]] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text).strip("._") or "pair"


def _json_field(row: dict[str, Any], key: str, pair: str) -> dict[str, Any]:
    text = row.get(key)
    if not text:
        raise ItemError(f"pair {pair}: the pairs table has no {key!r}; produce it with cloudfree mine-pairs")
    return json.loads(text) if isinstance(text, str) else dict(text)


def _is_complete(path: Path, names: Sequence[str], grid: Grid, item: str) -> bool:
    """True when ``path`` is a finished raster of ``item`` with these bands on this grid (not fetched again)."""
    if not path.exists():
        return False
    try:
        info = open_info(path)
    except RasterReadError:
        return False
    same_grid = (info.height, info.width) == (grid.height, grid.width) and info.transform.almost_equals(
        grid.transform, precision=1e-6 * grid.transform.a
    )
    return (
        same_grid
        and tuple(info.descriptions) == tuple(names)
        and info.tags.get("CLOUDFREE_ITEM_ID") == str(item)
        and info.crs == rasterio.crs.CRS.from_user_input(grid.crs)
    )


def _clean_leftovers(pair_dir: Path) -> None:
    """Remove temporary files of an interrupted run (``.clear.tif.part-*`` and the like)."""
    if pair_dir.exists():
        for leftover in pair_dir.glob(".*.tif.*"):
            leftover.unlink(missing_ok=True)


def _native_grid(row: dict[str, Any], pair: str, policy: RetryPolicy) -> Grid:
    if row.get("clear_grid"):
        return Grid.from_json(row["clear_grid"])
    assets = _json_field(row, "clear_assets", pair)
    if not assets:
        raise ItemError(f"pair {pair}: the clear item {row.get('clear_id')} has no band assets")
    band = next((b for b in ("B02", "B03", "B04", "B08") if b in assets), sorted(assets)[0])
    return read_native(
        assets[band],
        f"item {row.get('clear_id')} asset {band}",
        policy,
        lambda src: Grid(src.crs.to_string(), src.transform, src.height, src.width),
    )


def _read_in_env(source: RemoteBand, window: Window, env: dict[str, str]) -> np.ndarray:
    """Read in a worker thread: GDAL settings made by ``rasterio.Env`` are per thread."""
    with rasterio.Env(**env):
        return source.read(window)


def fetch_optical(row: dict[str, Any], role: str, grid: Grid, path: Path, options: FetchOptions) -> None:
    """Write the ``role`` (``clear``/``cloudy``) member's bands on ``grid`` to ``path`` as uint16 DN.

    Bands are read concurrently by ``options.workers`` threads (remote reads wait on the network; GDAL
    releases the GIL), each band through its own dataset handle.
    """
    env = gdal_options(options.retry)
    pair = str(row["pair_id"])
    item = row.get(f"{role}_id")
    assets = _json_field(row, f"{role}_assets", pair)
    offsets = _json_field(row, f"{role}_dn_offset", pair)
    missing = [b for b in options.bands if b not in assets or b not in offsets]
    if missing:
        raise ItemError(
            f"item {item} ({role} of pair {pair}) has no asset for band(s) {missing}; it has {sorted(assets)}"
        )
    sources = [
        RemoteBand(assets[b], grid, f"item {item} asset {b}", options.retry, options.resampling, nodata=0)
        for b in options.bands
    ]
    tags = {
        "CLOUDFREE_RADIOMETRY": Radiometry.DN.value,
        "CLOUDFREE_DN_OFFSET": [float(offsets[b]) for b in options.bands],
        "CLOUDFREE_DN_OFFSET_SOURCE": str(row.get(f"{role}_offset_source") or ""),
        "CLOUDFREE_ITEM_ID": str(item),
        "CLOUDFREE_ROLE": role,
        "CLOUDFREE_PAIR_ID": pair,
        "ACQUISITION_DATETIME": str(row.get(f"{role}_datetime") or ""),
        "CLOUD_COVER": str(row.get(f"{role}_cloud_cover") or ""),
    }
    writer = WindowedCOGWriter(
        path, height=grid.height, width=grid.width, crs=rasterio.crs.CRS.from_user_input(grid.crs),
        transform=grid.transform, descriptions=options.bands, dtype="uint16", nodata=0, tags=tags,
    )  # fmt: skip
    try:
        with ThreadPoolExecutor(max(1, options.workers)) as pool, writer:
            for row0 in range(0, grid.height, options.strip_rows):
                window = Window(0, row0, grid.width, min(options.strip_rows, grid.height - row0))
                strip = list(pool.map(lambda src, w=window: _read_in_env(src, w, env), sources))
                writer.write(np.stack(strip).astype(np.uint16), window)
    finally:
        for src in sources:
            src.close()


def fetch_sar(row: dict[str, Any], grid: Grid, path: Path, options: FetchOptions) -> None:
    """Read VV/VH of the cloudy scene's Sentinel-1 match around ``grid`` and write them in dB on it."""
    pair = str(row["pair_id"])
    item = row.get("cloudy_s1_id")
    assets = {k.upper(): v for k, v in _json_field(row, "cloudy_s1_assets", pair).items()}
    if not {"VV", "VH"} <= set(assets):
        raise ItemError(f"Sentinel-1 item {item} of pair {pair} lacks VV or VH assets; it has {sorted(assets)}")
    pad = (options.speckle_window or 0) + 2
    unit = str(row.get("cloudy_s1_unit") or "")
    s1 = read_sar_around(assets, grid, pad, options.retry, item=item, pair=pair, unit=unit)
    prepared = prepare_s1(
        s1,
        crs=grid.crs,
        transform=grid.transform,
        shape=(grid.height, grid.width),
        speckle_window=options.speckle_window,
    )
    tags = {
        "CLOUDFREE_ITEM_ID": str(item),
        "CLOUDFREE_ROLE": "sar",
        "CLOUDFREE_PAIR_ID": pair,
        "ACQUISITION_DATETIME": str(row.get("cloudy_s1_datetime") or ""),
        "CLOUDFREE_SPECKLE_FILTER": f"lee {options.speckle_window}" if options.speckle_window else "none",
    }
    write_raster(prepared, path, dtype="float32", tags=tags)


def fetch_pair(row: dict[str, Any], out_dir: Path, options: FetchOptions, report: FetchReport) -> dict[str, Any]:
    """Fetch one pair's files (skipping finished ones) and return its ``pairs.csv`` row."""
    pair = _safe_name(str(row.get("pair_id") or f"{row.get('cloudy_id')}__{row.get('clear_id')}"))
    row = {**row, "pair_id": pair}
    pair_dir = out_dir / pair
    _clean_leftovers(pair_dir)
    grid = target_grid(_native_grid(row, pair, options.retry), options.aoi, options.resolution, f"pair {pair}")
    for role in ("clear", "cloudy"):
        path = pair_dir / f"{role}.tif"
        if _is_complete(path, options.bands, grid, row.get(f"{role}_id", "")):
            report.skipped.append(path)
        else:
            fetch_optical(row, role, grid, path, options)
            report.written.append(path)
    sar_rel = ""
    if options.sar and row.get("cloudy_s1_id"):
        path = pair_dir / "sar.tif"
        if _is_complete(path, ("VV", "VH"), grid, row["cloudy_s1_id"]):
            report.skipped.append(path)
        else:
            fetch_sar(row, grid, path, options)
            report.written.append(path)
        sar_rel = f"{pair}/sar.tif"
    return {
        "cloudy": f"{pair}/cloudy.tif",
        "clear": f"{pair}/clear.tif",
        "sar": sar_rel,
        "scene": pair,
        "tile": row.get("tile", ""),
        "cloudy_id": row.get("cloudy_id", ""),
        "clear_id": row.get("clear_id", ""),
        "sar_id": row.get("cloudy_s1_id") if sar_rel else "",
        "cloudy_datetime": row.get("cloudy_datetime", ""),
        "clear_datetime": row.get("clear_datetime", ""),
        "gap_days": row.get("gap_days", ""),
    }


def fetch_pairs(
    rows: Sequence[dict[str, Any]], out_dir: str | os.PathLike[str], options: FetchOptions, progress: bool = True
) -> FetchReport:
    """Fetch every pair into ``out_dir`` and keep ``out_dir/pairs.csv`` up to date (see the module docstring)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for leftover in out.glob(".pairs.csv.*"):
        leftover.unlink(missing_ok=True)
    report = FetchReport()
    with rasterio.Env(**gdal_options(options.retry)):
        for row in tqdm(rows, desc="fetch", unit="pair", disable=not progress, file=sys.stderr):
            try:
                report.index.append(fetch_pair(row, out, options, report))
            except (ValueError, OSError) as exc:
                if not options.keep_going:
                    raise
                report.failures.append(f"{row.get('pair_id')}: {exc}")
            finally:  # the index lists the complete pairs, also when a pair fails
                write_table(report.index, out / "pairs.csv", INDEX_COLUMNS)
    return report
