"""Search a STAC API for Sentinel-2 (or Sentinel-1) items over an area and a period.

The area is a GeoJSON file (Feature, FeatureCollection or bare Polygon/MultiPolygon, longitude and
latitude in degrees) or a bounding box. Dates are inclusive (YYYY-MM-DD or ISO 8601 times, UTC).

Catalogues (--catalog): earth-search (Element 84, collections sentinel-2-l2a, sentinel-2-c1-l2a,
sentinel-2-l1c, sentinel-1-grd), planetary-computer (Microsoft, sentinel-2-l2a, sentinel-1-rtc;
asset URLs are signed with the planetary-computer package, tokens last about an hour), cdse
(Copernicus Data Space), or the URL of any STAC API. --collection takes collection ids, or s2 / s1
for the catalogue's default Sentinel-2 / Sentinel-1 collection; default s2.

--max-cloud keeps scenes whose scene cloud cover (eo:cloud_cover) is at most that many percent; it is
sent to the server (query or filter extension) and checked again locally; Sentinel-1 has none.

Without -o the matching items are printed as a table (id, date, tile, cloud %, processing baseline,
platform, orbit). -o items.json saves the full items (the input of `cloudfree mine-pairs`);
-o items.csv / items.parquet saves the table, with a JSON column of asset hrefs.

Examples:
  cloudfree search --aoi field.geojson --start 2023-04-01 --end 2023-09-30 --max-cloud 50 -o s2.json
  cloudfree search --aoi field.geojson --start 2023-04-01 --end 2023-09-30 --collection s1 \\
      --catalog planetary-computer -o s1.json

Needs the optional extra: pip install cloudfree[stac]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cloudfree.acquisition import stac
from cloudfree.acquisition.items import summarize
from cloudfree.acquisition.tables import write_table

TABLE_FIELDS = (
    ("id", 44), ("datetime", 20), ("tile", 6), ("cloud_cover", 6), ("processing_baseline", 8),
    ("platform", 12), ("relative_orbit", 5), ("orbit_state", 10),
)  # fmt: skip
HEADINGS = {
    "cloud_cover": "cloud%",
    "processing_baseline": "baseline",
    "relative_orbit": "orbit",
    "orbit_state": "pass",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    area = parser.add_mutually_exclusive_group(required=True)
    area.add_argument("--aoi", type=Path, help="GeoJSON area of interest (longitude/latitude)")
    area.add_argument("--bbox", type=float, nargs=4, metavar=("WEST", "SOUTH", "EAST", "NORTH"),
                      help="bounding box in degrees")  # fmt: skip
    parser.add_argument("--start", required=True, help="first date, YYYY-MM-DD (inclusive)")
    parser.add_argument("--end", required=True, help="last date, YYYY-MM-DD (inclusive)")
    parser.add_argument("--catalog", default="earth-search",
                        help="earth-search, planetary-computer, cdse or a STAC API URL")  # fmt: skip
    parser.add_argument("--collection", action="append", dest="collections", metavar="ID",
                        help="collection id, or s2 / s1 (repeatable; default s2)")  # fmt: skip
    parser.add_argument("--max-cloud", type=float, default=None, metavar="PERCENT",
                        help="keep optical scenes with eo:cloud_cover <= PERCENT")  # fmt: skip
    parser.add_argument("--limit", type=int, default=None, help="stop after this many items")
    parser.add_argument("--page-size", type=int, default=100, help="items per API page (default 100)")
    parser.add_argument("-o", "--output", type=Path, help="save to .json (items), .csv or .parquet (table)")


def _print_table(rows: list[dict]) -> None:
    print("  ".join(HEADINGS.get(name, name).ljust(width) for name, width in TABLE_FIELDS))
    for row in rows:
        cells = []
        for name, width in TABLE_FIELDS:
            value = row.get(name)
            text = "" if value is None else (f"{value:.2f}" if isinstance(value, float) else str(value))
            cells.append(text[:width].ljust(width))
        print("  ".join(cells).rstrip())


def run(args: argparse.Namespace) -> int:
    catalog = stac.resolve_catalog(args.catalog)
    geometry = stac.load_aoi(args.aoi) if args.aoi else stac.bbox_geometry(args.bbox)
    if args.output is not None and args.output.suffix.lower() not in (".json", ".geojson", ".csv", ".parquet"):
        raise ValueError(f"{args.output}: output must end in .json, .geojson, .csv or .parquet")
    items = stac.search(
        catalog,
        intersects=geometry,
        start=args.start,
        end=args.end,
        collections=args.collections,
        max_cloud=args.max_cloud,
        limit=args.limit,
        page_size=args.page_size,
    )
    rows = [summarize(item) for item in items]
    if args.output is None:
        _print_table(rows)
    elif args.output.suffix.lower() in (".json", ".geojson"):
        stac.save_items_json(items, args.output)
    else:
        write_table(rows, args.output)
    where = f" -> {args.output}" if args.output else ""
    print(f"{len(items)} item(s) from {catalog.url}{where}", file=sys.stderr)
    return 0
