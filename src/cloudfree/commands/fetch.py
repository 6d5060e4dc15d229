"""Download the AOI windows of mined pairs as GeoTIFFs, ready for `cloudfree prepare --pairs`.

PAIRS is the table written by `cloudfree mine-pairs` (.csv or .parquet). For each pair, every band
of the clear and the cloudy scene is read from its Cloud-Optimized GeoTIFF over HTTP (only the tiles
under the AOI travel) and warped onto one grid: the clear scene's UTM grid at --resolution metres
(default 10), cut to the AOI's bounding box (--aoi GeoJSON or --bbox in degrees; the whole clear
scene without either). Written per pair:

  DIR/<pair_id>/clear.tif, cloudy.tif  uint16 DN, band descriptions B02..., tags
                                       CLOUDFREE_RADIOMETRY=dn and CLOUDFREE_DN_OFFSET (per band,
                                       from the item: reflectance = (DN + offset) / 10000)
  DIR/<pair_id>/sar.tif                Sentinel-1 VV, VH in dB (float32) nearest the cloudy date,
                                       when the pair has one (--no-sar to skip); needs calibrated,
                                       map-projected backscatter such as Planetary Computer's
                                       sentinel-1-rtc; --speckle-filter N applies an N x N Lee filter
  DIR/pairs.csv                        columns cloudy, clear, sar, scene (paths relative to it)

--bands takes a band set (rgb, rgbn, l2a12, l1c13 ...) or a list such as B02,B03,B04,B08,B11; 20 m and
60 m bands are resampled (--resampling, default bilinear).

Interrupted runs resume: finished files are skipped, temporary leftovers are removed, and nothing
half-written is ever left under a final name. Transient HTTP errors (5xx, dropped connections) are
retried with exponential backoff (--retries, --retry-delay seconds, doubled each time); HTTP 401/403
and 404 stop with a message naming the item and asset (--keep-going moves on to the next pair and
exits with 1 at the end). GDAL settings from the environment (GDAL_HTTP_*, AWS_*) are respected.

Example:
  cloudfree fetch pairs.csv -o chips_src --aoi field.geojson --bands rgbn --resolution 10
  cloudfree prepare --pairs chips_src/pairs.csv ...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cloudfree import bands as bandcat
from cloudfree.acquisition import stac
from cloudfree.acquisition.fetch import FetchOptions, fetch_pairs
from cloudfree.acquisition.remote import RetryPolicy
from cloudfree.acquisition.tables import read_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pairs", type=Path, help="pairs table from `cloudfree mine-pairs` (.csv or .parquet)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    parser.add_argument("--bands", default="rgbn", help="band set or comma list (default rgbn)")
    area = parser.add_mutually_exclusive_group()
    area.add_argument("--aoi", type=Path, help="GeoJSON area to cut (longitude/latitude); default the whole scene")
    area.add_argument("--bbox", type=float, nargs=4, metavar=("WEST", "SOUTH", "EAST", "NORTH"),
                      help="area to cut as a bounding box in degrees")  # fmt: skip
    parser.add_argument("--resolution", type=float, default=10.0, help="output pixel size in metres (default 10)")
    parser.add_argument("--resampling", default="bilinear", choices=("nearest", "bilinear", "cubic", "average"),
                        help="resampling of bands whose resolution differs (default bilinear)")  # fmt: skip
    parser.add_argument("--no-sar", action="store_true", help="do not fetch Sentinel-1")
    parser.add_argument("--speckle-filter", type=int, default=None, metavar="N",
                        help="Lee speckle filter window (odd, pixels) for Sentinel-1; default none")  # fmt: skip
    parser.add_argument("--retries", type=int, default=4, help="attempts per read on transient errors (default 4)")
    parser.add_argument("--retry-delay", type=float, default=1.0,
                        help="first backoff in seconds, doubled per retry (default 1)")  # fmt: skip
    parser.add_argument("--workers", type=int, default=4, help="bands read concurrently (default 4)")
    parser.add_argument("--limit", type=int, default=None, help="fetch only the first N pairs")
    parser.add_argument("--keep-going", action="store_true", help="skip failing pairs instead of stopping")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    if args.retries < 1:
        raise ValueError(f"--retries must be at least 1, got {args.retries}")
    if args.speckle_filter is not None and (args.speckle_filter < 3 or args.speckle_filter % 2 == 0):
        raise ValueError(f"--speckle-filter must be an odd window of at least 3 pixels, got {args.speckle_filter}")
    aoi = stac.load_aoi(args.aoi) if args.aoi else (stac.bbox_geometry(args.bbox) if args.bbox else None)
    rows = read_table(args.pairs)
    if args.limit is not None:
        rows = rows[: args.limit]
    options = FetchOptions(
        bands=bandcat.resolve(args.bands),
        resolution=args.resolution,
        aoi=aoi,
        sar=not args.no_sar,
        speckle_window=args.speckle_filter,
        resampling=args.resampling,
        retry=RetryPolicy(attempts=args.retries, delay=args.retry_delay),
        keep_going=args.keep_going,
        workers=args.workers,
    )
    report = fetch_pairs(rows, args.output, options, progress=not args.quiet)
    for failure in report.failures:
        print(f"failed {failure}", file=sys.stderr)
    print(
        f"{len(report.index)} pair(s) ready, {len(report.written)} file(s) written, {len(report.skipped)} already "
        f"complete, {len(report.failures)} failed -> {args.output / 'pairs.csv'}",
        file=sys.stderr,
    )
    return 1 if report.failures else 0
