"""Compare a cloud-free prediction with a reference: PSNR, SSIM, SAM, MAE, RMSE, NDVI, and figures.

Writes into ``--out DIR`` (default ``evaluation/``):

  metrics.json   {"all": {"psnr", "ssim", "sam", "mae", "rmse", "per_band": {"B02": {...}, ...}},
                  "cloudy": {...}, "clear": {...}, "ndvi_diff": {...}, "scaling": "..."}
                 (cloudy / clear only with --mask; ndvi_diff when B04 and B08 are present;
                 null where a value is undefined, e.g. PSNR of identical images)
  metrics.csv    one row per subset and band, with pixel counts
  comparison.png input / prediction / reference, true and false colour, one shared stretch
  error.png      mean absolute error map;  histograms.png  per-band histograms

Units: reflectance 0..1 (DN converted with each file's offset), PSNR with data_range 1.0, SAM in
degrees. ``--protocol sen12mscr`` scores DN clipped to 0..10000 / 10000 as that benchmark does.
Nodata pixels of either raster are always excluded. Both rasters must share the grid; the
bands both hold are scored. Rasters are read whole: evaluate
patches or scene subsets, not full 10980 px scenes on a small machine.

Example:
  cloudfree evaluate clear_pred.tif clear_ref.tif --mask cloud_mask.tif --input cloudy.tif --out eval/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prediction", help="cloud-free prediction (GeoTIFF)")
    parser.add_argument("reference", help="clear reference on the same grid")
    parser.add_argument("--mask", help="cloud mask (codes 0-3, 255 nodata, or binary): cloudy/clear subsets")
    parser.add_argument("--input", help="the cloudy input, shown in the figures")
    parser.add_argument("--out", default="evaluation", help="output folder (default: evaluation/)")
    parser.add_argument("--protocol", choices=("reflectance", "sen12mscr"), default="reflectance")
    parser.add_argument("--no-figures", action="store_true", help="write metrics only")


def run(args: argparse.Namespace) -> int:
    from cloudfree.evaluation.report import evaluate_rasters, scaled, write_report
    from cloudfree.io import read_mask, read_raster

    pred, ref = read_raster(args.prediction), read_raster(args.reference)
    mask = read_mask(args.mask, like=ref) if args.mask else None
    result = evaluate_rasters(pred, ref, mask, protocol=args.protocol)
    json_path, csv_path = write_report(result, args.out)
    if not args.no_figures:
        from cloudfree.evaluation.figures import write_figures

        cloudy = None
        bands = tuple(result["all"]["per_band"])
        if args.input:
            raw = read_raster(args.input)
            if (raw.height, raw.width) != (ref.height, ref.width):
                raise ValueError(f"{args.input}: input is {raw.height}x{raw.width}, reference {ref.height}x{ref.width}")
            cloudy = scaled(raw.select(bands), args.protocol)
        p, r = scaled(pred.select(bands), args.protocol), scaled(ref.select(bands), args.protocol)
        write_figures(p, r, bands, pred.valid & ref.valid, args.out, cloudy=cloudy, mask=mask)
    for subset in ("all", "cloudy", "clear"):
        if subset in result:
            m = result[subset]
            print(
                f"{subset:>6}: PSNR {m['psnr']:.2f} dB  SSIM {m['ssim']:.4f}  SAM {m['sam']:.2f} deg  "
                f"MAE {m['mae']:.4f}  RMSE {m['rmse']:.4f}  ({result['pixels'][subset]} px)"
            )
    print(
        f"wrote {json_path}, {csv_path}" + ("" if args.no_figures else f" and figures in {Path(args.out)}"),
        file=sys.stderr,
    )
    return 0
