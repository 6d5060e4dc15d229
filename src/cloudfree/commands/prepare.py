"""Turn cloudy/clear (+ Sentinel-1, + cloud mask) pairs into a chip store for training.

Each pair is checked (same bands in both optical images), aligned onto the clear image's grid
(reprojected when CRS or transform differ), converted to reflectance 0..1 (Sentinel-1 stays in dB),
cropped to the area valid in every member, and cut into PATCH x PATCH chips every STRIDE pixels.
Chips are split into train/val/test by spatially disjoint blocks (no chip of one split overlaps a
chip of another), filtered by cloud fraction (needs --mask; codes 0 clear, 1 thick, 2 thin cloud,
3 shadow, 255 nodata, or a binary 0/1 mask) and by nodata fraction, and written as small GeoTIFFs:

    OUT/store.json, OUT/index.csv, OUT/<split>/<scene>_<row>_<col>_{cloudy,clear,sar,mask}.tif

Running again with the same OUT adds pairs to the store (a scene given again replaces its chips).
The store is built in a hidden temporary folder and swapped in only when every pair succeeded: on
any error OUT is left exactly as it was.

Inputs are GeoTIFFs, SAFE products, band-file folders or SEN12MS-CR patches (cloudfree.io.open).
Many pairs: --pairs TABLE.csv with columns cloudy, clear and optional sar, mask, scene (relative
paths are resolved against the CSV's folder), e.g. the pairs.csv written by `cloudfree fetch`.

Examples:
  cloudfree prepare --cloudy S2_2015-07-31.tif --clear S2_2015-08-30.tif --mask CLM_2015-07-31.tif \\
      --out chips --patch 32 --bands rgbn --cloud-range 0.05 0.30
  cloudfree prepare --pairs fetched/pairs.csv --out chips --patch 256 --dtype uint16 \\
      --export-aligned pix2pix_data
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from cloudfree import bands as bandcat
from cloudfree.commands.options import add_radiometry_option, radiometry_option
from cloudfree.data.chips import CHIP_DTYPES, ChipStore, PairReport
from cloudfree.data.pairing import AlignedPair, align_pair, mask_from_file, scene_id
from cloudfree.data.splits import SPLITS
from cloudfree.errors import RasterReadError
from cloudfree.io.open import open_raster


@dataclass(frozen=True)
class PairSpec:
    """The files of one pair (``sar`` and ``mask`` optional) and its scene id."""

    cloudy: Path
    clear: Path
    sar: Path | None
    mask: Path | None
    scene: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    one = parser.add_argument_group("one pair")
    one.add_argument("--cloudy", type=Path, help="cloudy Sentinel-2 image (DN or reflectance)")
    one.add_argument("--clear", type=Path, help="clear Sentinel-2 image of the same area (its grid is the reference)")
    one.add_argument("--sar", type=Path, help="Sentinel-1 VV/VH image (dB or linear) at the cloudy date")
    one.add_argument("--mask", type=Path, help="cloud mask of the cloudy image (codes 0/1/2/3/255 or binary 0/1)")
    one.add_argument("--scene", help="scene id used in chip names (default: the cloudy file's name)")
    parser.add_argument("--pairs", type=Path, help="CSV table of pairs: cloudy, clear[, sar, mask, scene]")
    parser.add_argument("--out", type=Path, required=True, help="chip store folder (created or extended)")
    parser.add_argument("--patch", type=int, default=256, help="chip size in pixels (default 256)")
    parser.add_argument("--stride", type=int, help="step between chips in pixels (default: the patch size)")
    parser.add_argument(
        "--cloud-range",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        help="keep chips whose cloud fraction (0..1) lies in LOW..HIGH, e.g. 0.05 0.30; needs --mask",
    )
    parser.add_argument(
        "--max-nodata", type=float, default=0.0, help="largest share (0..1) of nodata pixels in a chip (default 0)"
    )
    parser.add_argument(
        "--bands",
        help="optical bands to keep: a set (rgb, rgbn, l1c13 ...) or list (B02,B03,B04); for files without band "
        "descriptions, the names of their bands in file order",
    )
    parser.add_argument(
        "--dn-offset",
        type=float,
        default=None,
        help="processing-baseline DN offset of both optical inputs (e.g. -1000 for baseline >= 04.00); "
        "default: from the product metadata or the files' tags",
    )
    add_radiometry_option(parser)
    parser.add_argument(
        "--split",
        type=float,
        nargs=3,
        default=(0.8, 0.1, 0.1),
        metavar=("TRAIN", "VAL", "TEST"),
        help="fractions of each image for train/val/test (default 0.8 0.1 0.1)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the split layout (default 0)")
    parser.add_argument(
        "--dtype",
        choices=CHIP_DTYPES,
        default="float32",
        help="optical chips as float32 reflectance or uint16 DN (default float32)",
    )
    parser.add_argument(
        "--reference", choices=("clear", "cloudy"), default="clear", help="whose grid the pair is aligned to"
    )
    parser.add_argument("--export-aligned", type=Path, metavar="DIR", help="also write A|B PNGs for pix2pix")
    parser.add_argument("--export-bands", default="rgb", help="1 or 3 bands of the PNG export (default rgb)")
    parser.add_argument(
        "--stretch", type=float, nargs=2, default=(2.0, 98.0), metavar=("LOW", "HIGH"), help="PNG percentiles"
    )


def _path(value: str, base: Path) -> Path | None:
    value = (value or "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def read_pairs_table(table: Path) -> list[PairSpec]:
    """Pairs from a CSV with columns cloudy, clear and optional sar, mask, scene."""
    if not table.is_file():
        raise FileNotFoundError(f"{table}: pairs table does not exist")
    with table.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"cloudy", "clear"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{table}: pairs table lacks column(s) {sorted(missing)}; has {reader.fieldnames}")
        rows = list(reader)
    if not rows:
        raise ValueError(f"{table}: pairs table has no rows")
    base = table.resolve().parent
    specs = []
    for i, row in enumerate(rows, start=2):
        cloudy, clear = _path(row["cloudy"], base), _path(row["clear"], base)
        if cloudy is None or clear is None:
            raise ValueError(f"{table}, line {i}: both cloudy and clear must be given")
        scene = (row.get("scene") or "").strip()
        specs.append(PairSpec(cloudy, clear, _path(row.get("sar", ""), base), _path(row.get("mask", ""), base), scene))
    return _unique_scenes(specs, str(table))


def _unique_scenes(specs: list[PairSpec], where: str) -> list[PairSpec]:
    """Fill missing scene ids from file names (adding the folder name when stems repeat); refuse duplicates."""
    stems = [scene_id(s.cloudy) for s in specs]
    clash = len(set(stems)) != len(stems)
    out = []
    for spec, stem in zip(specs, stems, strict=True):
        default = scene_id(f"{spec.cloudy.parent.name}_{spec.cloudy.stem}") if clash else stem
        out.append(
            PairSpec(spec.cloudy, spec.clear, spec.sar, spec.mask, scene_id(spec.scene) if spec.scene else default)
        )
    seen: set[str] = set()
    for spec in out:
        if spec.scene in seen:
            raise ValueError(f"{where}: scene id {spec.scene!r} appears twice; give each pair a unique scene")
        seen.add(spec.scene)
    return out


def _specs(args: argparse.Namespace) -> list[PairSpec]:
    single = any(v is not None for v in (args.cloudy, args.clear, args.sar, args.mask, args.scene))
    if args.pairs is not None:
        if single:
            raise ValueError("give either --pairs TABLE or --cloudy/--clear (with --sar, --mask, --scene), not both")
        return read_pairs_table(args.pairs)
    if args.cloudy is None or args.clear is None:
        raise ValueError("give --cloudy and --clear (one pair) or --pairs TABLE.csv (many pairs)")
    return _unique_scenes([PairSpec(args.cloudy, args.clear, args.sar, args.mask, args.scene or "")], "arguments")


def _read_optical(path: Path, bands: tuple[str, ...] | None, options: dict[str, Any]) -> Any:
    """Keep ``bands`` of an optical input; for a file without band descriptions they name its bands."""
    try:
        return open_raster(path, select=bands, **options)
    except RasterReadError as exc:
        if bands is None or "carry no descriptions" not in str(exc):
            raise
        return open_raster(path, bands, **options)


def load_pair(
    spec: PairSpec,
    bands: tuple[str, ...] | None,
    reference: str,
    patch: int,
    *,
    dn_offset: float | None = None,
    radiometry: str | None = None,
) -> AlignedPair:
    """Read the files of ``spec`` and align them (errors name the file and the problem).

    ``dn_offset`` and ``radiometry`` apply to both optical inputs (None: from each product).
    """
    options = {"dn_offset": dn_offset, "radiometry": radiometry}
    cloudy = _read_optical(spec.cloudy, bands, options)
    clear = _read_optical(spec.clear, bands, options)
    sar = open_raster(spec.sar, select=("VV", "VH")) if spec.sar is not None else None
    mask = mask_from_file(spec.mask) if spec.mask is not None else None
    return align_pair(cloudy, clear, sar, mask, reference=reference, min_size=patch, scene=spec.scene)


def _summary(reports: list[PairReport], store: ChipStore) -> str:
    chips = {s: sum(r.chips[s] for r in reports) for s in SPLITS}
    skipped: dict[str, int] = {}
    for report in reports:
        for reason, n in report.skipped.items():
            skipped[reason] = skipped.get(reason, 0) + n
    lines = [str(r) for r in reports]
    lines.append(
        f"wrote {sum(chips.values())} chips ({', '.join(f'{k} {v}' for k, v in chips.items())}) to {store.final}; "
        f"skipped: {', '.join(f'{k} {v}' for k, v in skipped.items())}"
    )
    lines.append(f"store holds {len(store.rows)} chips of {len({r['scene'] for r in store.rows})} scene(s)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    bands = bandcat.resolve(args.bands) if args.bands else None
    export_bands = bandcat.resolve(args.export_bands) if args.export_aligned is not None else None
    if args.patch < 1 or (args.stride is not None and args.stride < 1):
        raise ValueError(f"--patch and --stride must be positive, got {args.patch} and {args.stride}")
    cloud_range = tuple(args.cloud_range) if args.cloud_range is not None else None
    specs = _specs(args)
    reports: list[PairReport] = []
    with ChipStore(args.out, dtype=args.dtype) as store:
        for spec in tqdm(specs, desc="pairs", unit="pair", disable=len(specs) < 2, file=sys.stderr):
            pair = load_pair(
                spec, bands, args.reference, args.patch, dn_offset=args.dn_offset, radiometry=radiometry_option(args)
            )
            if export_bands is not None:
                bandcat.indices_of(pair.bands, export_bands, f"--export-bands for {pair.sources}")
            reports.append(
                store.add_pair(
                    pair,
                    args.patch,
                    args.stride,
                    cloud_range,  # type: ignore[arg-type]
                    args.max_nodata,
                    args.split,
                    args.seed,
                    progress=True,
                )
            )
        if not any(sum(r.chips.values()) for r in reports):
            raise ValueError(
                f"no chip passed the filters ({'; '.join(str(r) for r in reports)}); {args.out} left unchanged"
            )
    print(_summary(reports, store))
    if args.export_aligned is not None:
        from cloudfree.data.pix2pix_export import export_aligned

        counts = export_aligned(args.out, args.export_aligned, bands=export_bands, stretch=tuple(args.stretch))
        print(f"exported {sum(counts.values())} A|B images ({counts}) to {args.export_aligned}")
    return 0
