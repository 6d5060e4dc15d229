"""Describe a raster: bands, size, resolution, CRS, dtype, radiometry, valid-data and cloud fraction.

PATH is anything cloudfree reads: a GeoTIFF (or other GDAL raster), a Sentinel-2 .SAFE folder or its
.zip, a folder of band files (<prefix>_B02.tif ...), a SEN12MS-CR / SEN12MS-CR-TS patch, or a
single-band mask or label file. A plain folder is described item by item (every raster file and
product inside it), with SEN12MS-CR triplets listed and their missing members named.

option details:
  --bands SPEC  names of a file's bands in file order, for files whose bands carry no descriptions
                (a band set such as l1c13, l2a12, rgbn, s1, or a list such as B02,B03,B04,B08 or VV,VH);
                for SAFE products and band-file folders, whose names come from the file names, the
                bands to keep
  --dn-offset DN  processing-baseline offset of the input's DN (default: product metadata or tags)
  --radiometry dn|reflectance
                state what the values are when the file's tags or dtype mislead (a float file
                holding DN, 8-bit data, reflectance tagged as DN); such files are refused otherwise
  --mask MASK   a single-band mask on the same grid; adds its cloud fraction: the share of valid
                (non-255) pixels coded 1 thick cloud, 2 thin cloud or 3 shadow (0 is clear; a
                binary 0/1 mask counts 1 as cloud)
  --json        print one machine-readable JSON object instead of text

Units: resolution in CRS units (metres for UTM, degrees for EPSG:4326, pixels without a CRS);
per-band min/mean/max over valid pixels in the file's own units (DN = reflectance x 10000 - offset,
reflectance 0..1, Sentinel-1 dB). Valid data: pixels where no band is nodata (0 for DN) or non-finite
(NaN, inf).

examples:
  cloudfree info S2_L1C_cloudy.tif --mask s2cloudless_mask.tif
  cloudfree info ROIs1868_summer_s1_19_p30.tif --json
  cloudfree info S2B_MSIL1C_20220105T101319_N0400_R022_T33UUP_20220105T121516.zip --bands rgbn
  cloudfree info BigEarthNet-S2-Example/S2B_MSIL2A_20180204T94161_57_38
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.windows import Window
from tqdm import tqdm

from cloudfree import bands as bandcat
from cloudfree.commands.info_text import format_text
from cloudfree.commands.options import add_imagery_options, add_radiometry_option, imagery_options, radiometry_option
from cloudfree.errors import RasterReadError
from cloudfree.io.open import RasterSource, detect_layout, open_layer, open_source
from cloudfree.io.sen12mscr import KINDS, describe_triplets, find_time_series, find_triplets
from cloudfree.masks import NODATA, NOT_CLEAR_CODES, check_codes
from cloudfree.radiometry import Radiometry

STRIP_BYTES = 256 * 2**20  # pixels held per strip while scanning (a full S2 tile: ~40 strips)
MAX_CODES = 32
RASTER_SUFFIXES = {".tif", ".tiff", ".jp2", ".vrt", ".img", ".nc", ".zip"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="raster file, .SAFE folder or .zip, band-file folder, or a folder of these")
    add_imagery_options(parser)
    add_radiometry_option(parser)
    parser.add_argument("--mask", help="mask file on the same grid, to report the cloud fraction")
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of text")


# -- scanning ----------------------------------------------------------------------------------
def _strips(source: RasterSource) -> list[Window]:
    itemsize = np.dtype(source.dtype).itemsize
    rows = max(1, min(source.height, STRIP_BYTES // max(1, source.width * len(source.bands) * itemsize)))
    return [Window(0, r, source.width, min(rows, source.height - r)) for r in range(0, source.height, rows)]


def _open_mask(source: RasterSource, mask: Path) -> Any:
    """The mask as a labelled-raster source, refused unless integer codes on ``source``'s grid."""
    layer = open_layer(mask)
    if not np.issubdtype(np.dtype(layer.dtype), np.integer):
        layer.close()
        raise RasterReadError(f"{mask}: mask is {layer.dtype}; a mask holds integer codes (0 clear, 1-3 cloud, 255)")
    if (layer.height, layer.width) != (source.height, source.width):
        layer.close()
        raise RasterReadError(
            f"{mask}: mask is {layer.height}x{layer.width} px but {source.path} is {source.height}x{source.width}"
        )
    if layer.crs and source.crs and not layer.grid.same_as(source.grid):
        theirs, ours = layer.grid.describe(), source.grid.describe()
        layer.close()
        raise RasterReadError(f"{mask}: mask grid ({theirs}) is not the grid of {source.path} ({ours})")
    return layer


def _scan(source: RasterSource, mask: Any | None) -> dict[str, Any]:
    """Valid fraction, per-band min/mean/max, value counts of layers and mask cloud fraction, by strips."""
    n = len(source.bands)
    lo, hi = np.full(n, np.inf), np.full(n, -np.inf)
    total, count = np.zeros(n), np.zeros(n)
    valid_px, codes = 0, {} if source.radiometry is Radiometry.LABEL else None
    mask_valid = mask_cloud = 0
    strips = _strips(source)
    for win in tqdm(strips, desc=f"info {Path(source.path).name}", unit="strip", disable=len(strips) < 2):
        raster = source.read(window=win)
        valid_px += int(raster.valid.sum())
        for b in range(n):
            values = raster.data[b][raster.valid]
            if values.size:
                lo[b], hi[b] = min(lo[b], values.min()), max(hi[b], values.max())
                total[b] += values.sum(dtype=np.float64)
                count[b] += values.size
        if codes is not None and np.issubdtype(raster.data.dtype, np.integer):
            for value, k in zip(*np.unique(raster.data[0], return_counts=True), strict=True):
                codes[int(value)] = codes.get(int(value), 0) + int(k)
            if len(codes) > MAX_CODES:
                codes = None
        if mask is not None:
            m = check_codes(mask.read(window=win).data[0], str(mask.path))
            mask_valid += int((m != NODATA).sum())
            mask_cloud += int(np.isin(m, NOT_CLEAR_CODES).sum())
    pixels = source.height * source.width
    stats = [
        {"min": float(lo[b]), "mean": float(total[b] / count[b]), "max": float(hi[b])} if count[b] else None
        for b in range(n)
    ]
    out: dict[str, Any] = {"valid_fraction": valid_px / pixels if pixels else 0.0, "stats": stats}
    if codes:
        out["value_counts"] = {str(k): v for k, v in sorted(codes.items())}
    if mask is not None:
        out["mask"] = str(mask.path)
        out["cloud_fraction"] = mask_cloud / mask_valid if mask_valid else 0.0
    return out


def _json_number(value: float | None) -> float | str | None:
    if value is None:
        return None
    return "nan" if math.isnan(value) else value


def describe(source: RasterSource, mask: str | Path | None = None) -> dict[str, Any]:
    """Everything ``cloudfree info`` reports about one source, as a JSON-ready dict."""
    if mask is None:
        scan = _scan(source, None)
    else:
        with _open_mask(source, Path(mask)) as layer:
            scan = _scan(source, layer)
    bands = []
    for name, stats in zip(source.bands, scan.pop("stats"), strict=True):
        try:
            native = bandcat.band(name).resolution_m
        except bandcat.BandError:
            native = None
        bands.append({"name": name, "native_resolution_m": native, **(stats or {})})
    crs = source.crs
    if crs is None:
        units = "pixel"
    elif crs.is_geographic:
        units = "degree"
    else:
        units = crs.linear_units or "metre"
    return {
        "path": source.path,
        "layout": source.layout,
        "count": len(source.bands),
        "height": source.height,
        "width": source.width,
        "bands": bands,
        "resolution": [abs(source.transform.a), abs(source.transform.e)],
        "resolution_units": units,
        "crs": crs.to_string() if crs else None,
        "transform": list(source.transform)[:6],
        "dtype": source.dtype,
        "nodata": _json_number(source.nodata),
        "radiometry": source.radiometry.value,
        "dn_offset": [float(x) for x in source.dn_offset] if source.radiometry is Radiometry.DN else None,
        **scan,
        "tags": {str(k): str(v) for k, v in source.tags.items()},
    }


# -- folders -----------------------------------------------------------------------------------
def _folder_items(folder: Path) -> list[Path]:
    """Raster files and products under ``folder``; a product folder is one item, not descended into."""
    items: list[Path] = []
    for child in sorted(folder.iterdir()):
        if child.is_dir():
            try:
                detect_layout(child)
            except RasterReadError:
                items.extend(_folder_items(child))
            else:
                items.append(child)
        elif child.suffix.lower() in RASTER_SUFFIXES:
            items.append(child)
    return items


def _str_or_none(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _open(path: Path, options: dict[str, Any]) -> RasterSource:
    return open_source(
        path, options.get("bands"), dn_offset=options.get("dn_offset"), radiometry=options.get("radiometry")
    )


def describe_folder(folder: Path, bands: str | None, **options: Any) -> dict[str, Any]:
    """Describe every item of a plain folder; unreadable items get an ``error`` entry.

    ``options``: ``dn_offset`` and ``radiometry`` for every item (see :func:`cloudfree.io.open.open_source`).
    """
    items: list[dict[str, Any]] = []
    for item in _folder_items(folder):
        try:
            with _open(item, {"bands": bands, **options}) as source:
                items.append(describe(source))
        except (ValueError, OSError) as exc:
            items.append({"path": str(item), "error": str(exc)})
    out: dict[str, Any] = {"path": str(folder), "layout": "folder", "items": items}
    triplets = find_triplets(folder)
    if triplets:
        out["sen12mscr_triplets"] = [
            {"patch": t.key.name, "missing": list(t.missing), **{k: _str_or_none(getattr(t, k)) for k in KINDS}}
            for t in triplets
        ]
        out["sen12mscr_summary"] = describe_triplets(triplets)
    series = find_time_series(folder)
    if series:
        out["sen12mscr_ts"] = [{"patch": s.name, "times": s.times, "missing": s.missing()} for s in series]
    return out


def run(args: argparse.Namespace) -> int:
    path = Path(args.path)
    folder = False
    if path.is_dir():
        try:
            detect_layout(path)
        except RasterReadError:
            folder = True
    if folder:
        if args.mask:
            raise RasterReadError(f"{path}: --mask applies to one raster, not to a folder of them")
        info = describe_folder(path, **imagery_options(args), radiometry=radiometry_option(args))
        failed = any("error" in item for item in info["items"])
    else:
        with _open(path, {**imagery_options(args), "radiometry": radiometry_option(args)}) as source:
            info = describe(source, args.mask)
        failed = False
    print(json.dumps(info, indent=2) if args.json else format_text(info))
    return 2 if failed else 0
