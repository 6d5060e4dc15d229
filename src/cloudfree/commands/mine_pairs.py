"""Pair clear and cloudy Sentinel-2 scenes of the same tile (and the nearest Sentinel-1) from search results.

ITEMS are JSON files saved by `cloudfree search -o items.json` (FeatureCollections of STAC items).
Sentinel-1 items may come in the same files or in --s1-items files.

Rules (cloud cover is the scene's eo:cloud_cover in percent, gaps are in days):
  clear   scene cloud cover <= --max-clear-cloud (default 1)
  cloudy  scene cloud cover within --cloudy-range LOW HIGH (default 5 50)
  pair    a cloudy and a clear scene of the same MGRS tile at most --max-days apart (default 30);
          candidates are ranked nearest in time first, then lower cloud cover, then earlier date,
          then item id (rank 0 is the best; --one-per-cloudy keeps only it)
  SAR     for each optical scene, the Sentinel-1 item nearest in time whose footprint intersects
          it, at most --max-s1-days away (default 3)

The pairs table (-o pairs.csv or pairs.parquet) holds per pair: pair_id, tile, rank, gap_days, the
ids, dates and cloud covers of both scenes, their band -> href maps and per-band DN offsets (read
from the items' raster:bands or processing baseline), the clear scene's grid, and the Sentinel-1
ids, dates, gaps and VV/VH hrefs. It is the input of `cloudfree fetch`.

Example:
  cloudfree mine-pairs s2.json --s1-items s1.json -o pairs.csv --cloudy-range 5 40 --max-days 20
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cloudfree.acquisition.items import load_items
from cloudfree.acquisition.pairs import PAIR_COLUMNS, PairRules, mine_pairs, split_items
from cloudfree.acquisition.tables import write_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("items", type=Path, nargs="+", help="items JSON file(s) from `cloudfree search`")
    parser.add_argument("--s1-items", type=Path, action="append", default=[], help="Sentinel-1 items JSON file(s)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="pairs table, .csv or .parquet")
    parser.add_argument("--max-clear-cloud", type=float, default=1.0, metavar="PERCENT",
                        help="largest cloud cover of a clear scene (default 1)")  # fmt: skip
    parser.add_argument("--cloudy-range", type=float, nargs=2, default=(5.0, 50.0), metavar=("LOW", "HIGH"),
                        help="cloud cover range of a cloudy scene in percent (default 5 50)")  # fmt: skip
    parser.add_argument("--max-days", type=float, default=30.0, help="largest cloudy-clear gap in days (default 30)")
    parser.add_argument("--max-s1-days", type=float, default=3.0,
                        help="largest optical-Sentinel-1 gap in days (default 3)")  # fmt: skip
    parser.add_argument("--one-per-cloudy", action="store_true", help="keep only the best clear match per cloudy scene")


def run(args: argparse.Namespace) -> int:
    if args.output.suffix.lower() not in (".csv", ".parquet"):
        raise ValueError(f"{args.output}: the pairs table must end in .csv or .parquet")
    rules = PairRules(
        max_clear_cloud=args.max_clear_cloud,
        cloudy_range=tuple(args.cloudy_range),
        max_days=args.max_days,
        max_s1_days=args.max_s1_days,
        one_per_cloudy=args.one_per_cloudy,
    )
    loaded = [item for path in args.items for item in load_items(path)]
    loaded += [item for path in args.s1_items for item in load_items(path)]
    optical, s1 = split_items(loaded)
    result = mine_pairs(optical, s1, rules)
    write_table(result.rows, args.output, PAIR_COLUMNS)
    for reason in result.skipped:
        print(f"skipped {reason}", file=sys.stderr)
    cloudy = len({r["cloudy_id"] for r in result.rows})
    with_s1 = sum(1 for r in result.rows if r["cloudy_s1_id"])
    print(
        f"{len(result.rows)} pair(s) from {cloudy} cloudy scene(s), {len(optical)} optical and {len(s1)} Sentinel-1 "
        f"item(s); {with_s1} pair(s) with Sentinel-1 -> {args.output}",
        file=sys.stderr,
    )
    return 0
