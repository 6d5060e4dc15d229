"""Spectral indices of a scene (any index spyndex knows) written as a float32 COG, one band per index.

IN is anything cloudfree reads (GeoTIFF/COG, .SAFE folder or .zip, band-file folder, SEN12MS-CR
patch). DN are converted to reflectance 0..1 with each file's offset (or --dn-offset) before the
formula is applied; Sentinel-1 bands in dB become linear power for radar indices. The output keeps
the input's CRS and transform, names each band after its index (band description) and stores the
formulas in the tag INDEX_FORMULAS; NaN where an input band is nodata or the formula is undefined.
The scene is processed window by window (512 x 512 px), never held whole.

Band symbols follow spyndex (Awesome Spectral Indices): A=B01, B=B02, G=B03, R=B04, RE1..RE3=B05..B07,
N=B08, N2=B8A, WV=B09, S1=B11, S2=B12; constants take spyndex's defaults (L=1, g=2.5, C1=6, C2=7.5
...). For example NBR = (N - S2)/(N + S2) uses B08 and B12; NDWI = (G - N)/(G + N).

An unknown index or a band the input lacks ends the command with exit code 2 and a line naming the
index, the band(s) it needs and the bands the input has.

examples:
  cloudfree indices S2_L1C_cloudy.tif -o indices.tif --index NDVI,NBR,NDWI
  cloudfree indices scene.SAFE -o evi.tif --index EVI,SAVI,NDMI --overwrite
  cloudfree indices --list burn
"""

from __future__ import annotations

import argparse
import sys

from cloudfree.commands.options import add_imagery_options, add_output_options, imagery_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", nargs="?", help="the scene (any layout cloudfree reads)")
    parser.add_argument("-o", "--output", help="output COG (.tif)")
    parser.add_argument("--index", default="NDVI", help="comma-separated index names (default: NDVI)")
    parser.add_argument(
        "--list",
        nargs="?",
        const="all",
        metavar="DOMAIN",
        help="list the indices spyndex knows (optionally one domain: vegetation, water, burn, soil, "
        "urban, snow, radar ...) and exit",
    )
    add_imagery_options(parser)
    add_output_options(parser)


def _list(domain: str) -> int:
    import spyndex

    for name, index in sorted(spyndex.indices.items()):
        if domain in ("all", index.application_domain):
            print(f"{name:<14} {index.application_domain:<11} {index.formula}  ({index.long_name})")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.list:
        return _list(args.list)
    if not args.input or not args.output:
        raise ValueError("indices needs an input scene and -o OUTPUT (or --list)")
    from cloudfree.evaluation.indices import write_indices

    out, plans = write_indices(args.input, args.output, args.index, overwrite=args.overwrite, **imagery_options(args))
    for plan in plans:
        used = ", ".join(f"{symbol}={band}" for symbol, band in plan.bands.items())
        print(f"{plan.name:<10} {plan.formula}   [{used}]")
    print(f"wrote {out}", file=sys.stderr)
    return 0
