"""Cloud and cloud-shadow mask of Sentinel-2 scenes, written as uint8 COGs on the inputs' grids.

Codes: 0 clear, 1 thick cloud, 2 thin cloud, 3 cloud shadow, 255 nodata. The method used and why
is printed ("mask: csmask-6band-L1C, because ...") and recorded in the output's tags
(CLOUDFREE_MASK_METHOD, CLOUDFREE_MASK_REASON).

Methods (--method):
  auto         (default) the best real-cloud method the input's bands and product level allow:
               ukis-csmask (6-band model with B02,B03,B04,B08,B11,B12, else the 4-band model;
               the L1C or L2A model from the product level in the tags or name, L1C if unknown).
  csmask       ukis-csmask (DLR's U-Nets trained on real labelled clouds and shadows, shipped as
               ONNX in the package): run at about 30 m (the input is reduced by an integer factor,
               3 for 10 m data) and brought back to the input grid without shift. You can name a
               model: csmask-4band-L1C, csmask-6band-L2A ...
  unet         cloudfree's own mask model (--model DIR, else the packaged default-mask); giving
               --model without --method also selects it.
  s2cloudless  Sentinel Hub's pixel classifier, cloud only, Level-1C with B10 (13 bands).
  scl          the Sen2Cor scene classification band of an L2A input (band described "SCL").

Guards (all methods but scl): snow and ice are not cloud (NDSI test with B03/B11 where the input
has B11), dark water is not shadow (NDWI/NIR test); nodata stays 255. --dilate PX grows cloud and
shadow by PX pixels (as s2cloudless users do for a safety buffer); --fill-holes PX then sets clear
patches of up to PX pixels enclosed by cloud to cloud (gaps masks leave in bright cloud cores;
`cloudfree remove` does both by default, in metres and hectares).

DN input is converted to reflectance, (DN + offset) / 10000, with the offset from the file's tags
or --dn-offset (-1000 for processing baseline 04.00 and later).

Batches: INPUT may be a folder or a quoted glob ('scenes/*.tif') and -o a folder (OUTDIR/); each
scene's mask gets the scene's file name; finished masks are skipped unless --overwrite, a failing
scene is reported and the others continue (exit code 1 if any failed). --scheduler local:N or
tcp://HOST:PORT runs each scene as a Dask task (docs/scaling.md).

Examples:
  cloudfree mask scene.tif -o mask.tif
  cloudfree mask S2_L1C.tif -o clouds.tif --method s2cloudless --dilate 2
  cloudfree mask 'scenes/*.tif' -o masks/ --method csmask
  cloudfree mask scene.tif -o mask.tif --method unet --model runs/mask_unet/release
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cloudfree.commands.options import add_batch_options, add_imagery_options, add_output_options, imagery_options

METHOD_CHOICES = ("auto", "csmask", "unet", "s2cloudless", "scl")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="Sentinel-2 GeoTIFF, a folder of them, or a quoted glob pattern")
    parser.add_argument("-o", "--output", required=True, help="mask GeoTIFF to write (or a folder for batches)")
    parser.add_argument(
        "--method",
        default="auto",
        help="auto (default), csmask, unet, s2cloudless, scl, or a ukis-csmask model such as csmask-4band-L1C",
    )
    parser.add_argument("--dilate", type=int, default=0, help="grow cloud and shadow by this many pixels (0)")
    parser.add_argument(
        "--fill-holes",
        type=int,
        default=0,
        metavar="PX",
        help="clear patches enclosed by cloud up to PX pixels -> cloud (0)",
    )
    parser.add_argument("--level", choices=("L1C", "L2A"), default=None, help="product level if not in tags/name")
    parser.add_argument(
        "--model", default=None, help="unet: release directory or packaged model name (with auto: use this model)"
    )
    parser.add_argument(
        "--tile", type=int, default=None, help="unet: tile side in pixels (256); s2cloudless: window side (1024)"
    )
    parser.add_argument("--overlap", type=int, default=None, help="unet: pixels shared by neighbouring tiles (32)")
    parser.add_argument("--batch-size", type=int, default=4, help="tiles per model call (4)")
    parser.add_argument("--device", default=None, help="unet: cpu or cuda (default: cuda when available)")
    parser.add_argument("--no-guards", action="store_true", help="skip the snow and dark-water guards")
    g = parser.add_argument_group("s2cloudless")
    g.add_argument("--probability", default=None, help="also write the cloud probability here")
    g.add_argument("--threshold", type=float, default=None, help="cloud probability threshold (0.4)")
    g.add_argument("--average-over", type=int, default=None, help="averaging disk radius, pixels (1)")
    g.add_argument("--dilation-size", type=int, default=None, help="dilation disk radius, pixels (1)")
    add_imagery_options(parser)
    add_output_options(parser)
    add_batch_options(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _one(args: argparse.Namespace, scene: Path, output: Path) -> None:
    from cloudfree.inference.mask_scene import mask_scene
    from cloudfree.masking.auto import MaskMethodError

    names = ("threshold", "average_over", "dilation_size")
    s2c = {k: getattr(args, k) for k in names if getattr(args, k) is not None}
    if s2c and args.method != "s2cloudless":
        raise MaskMethodError("--threshold, --average-over and --dilation-size apply to --method s2cloudless only")
    summary = mask_scene(
        scene,
        output,
        method=args.method,
        dilate=args.dilate,
        fill_holes=args.fill_holes,
        overwrite=args.overwrite,
        progress=not args.quiet,
        level=args.level,
        model=args.model,
        device=args.device,
        tile=args.tile,
        overlap=args.overlap,
        batch_size=args.batch_size,
        guards_on=not args.no_guards,
        s2cloudless=s2c or None,
        probability=args.probability,
        **imagery_options(args),
    )
    shares = ", ".join(f"{name} {share:.1%}" for name, share in summary.fractions.items())
    print(f"mask: {summary.method}, because {summary.reason}")
    print(
        f"wrote {summary.path} ({summary.height}x{summary.width} px): cloud fraction {summary.cloud_fraction:.1%} "
        f"of valid pixels, shadow included ({shares})"
    )


def run(args: argparse.Namespace) -> int:
    from cloudfree.inference.batch import expand_inputs, is_batch, run_batch, scene_jobs
    from cloudfree.inference.mask_scene import MaskerFactory
    from cloudfree.masking.auto import METHODS, MaskMethodError

    if args.method not in METHODS and not args.method.startswith("csmask-"):
        raise MaskMethodError(f"unknown --method {args.method!r}; expected one of {list(METHODS)}")
    if args.dilate < 0:
        raise MaskMethodError(f"--dilate must be >= 0 pixels, got {args.dilate}")
    if args.fill_holes < 0:
        raise MaskMethodError(f"--fill-holes must be >= 0 pixels, got {args.fill_holes}")
    if not is_batch(args.input, args.output):
        _one(args, Path(args.input), Path(args.output))
        return 0
    if args.probability:
        raise MaskMethodError("--probability names one file; it cannot be used with several scenes")
    jobs = scene_jobs(expand_inputs(args.input), args.output)
    factory = MaskerFactory(
        method=args.method, dilate=args.dilate, fill_holes=args.fill_holes, level=args.level, model=args.model,
        overwrite=True, guards_on=not args.no_guards, device=args.device, **imagery_options(args),
    )  # fmt: skip
    report = run_batch(jobs, factory, scheduler=args.scheduler, overwrite=args.overwrite, progress=not args.quiet)
    print(report.summary(), file=sys.stderr)
    return 0 if report.ok else 1
