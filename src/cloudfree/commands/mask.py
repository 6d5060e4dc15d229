"""Cloud and cloud-shadow mask of a whole Sentinel-2 scene, written as a uint8 COG on the input's grid.

Codes: 0 clear, 1 thick cloud, 2 thin cloud, 3 cloud shadow, 255 nodata (a model trained with
merged classes writes only its own codes; s2cloudless writes 0 clear / 1 cloud). The fraction of
valid pixels that are cloud or shadow is printed at the end.

Methods:
  unet         a released mask model (``--model DIR`` written by ``cloudfree export``, or the
               packaged ``default-mask`` when installed). The scene is read in overlapping
               ``--tile`` x ``--tile`` tiles (``--overlap`` pixels shared), class probabilities
               are blended across tiles and the most likely class is written; memory is bounded
               by one strip of tiles. Needs the model's input bands (e.g. B02,B03,B04,B08).
  s2cloudless  Sentinel Hub's pixel classifier (``pip install cloudfree[s2cloudless]``) on
               Level-1C top-of-atmosphere input with bands B01,B02,B04,B05,B08,B8A,B09,B10,B11,B12
               (or all 13). Level-2A input is refused (no B10; trained on TOA). Defaults are the
               package's (threshold 0.4, average over 1 px, dilate 1 px); its spatial post-
               processing needs context, so windows are read with a halo and the result equals a
               whole-scene run exactly.

DN input is converted to reflectance, ``(DN + offset) / 10000``, with the offset from the file's
tags or ``--dn-offset`` (-1000 for processing baseline 04.00 and later).

Examples:
  cloudfree mask scene.tif -o mask.tif --model runs/mask_unet_rgbn/release
  cloudfree mask S2_L1C.tif -o clouds.tif --method s2cloudless --probability p_cloud.tif
  cloudfree mask scene.tif -o mask.tif --model my-mask --tile 512 --overlap 64 --device cuda
"""

from __future__ import annotations

import argparse

from cloudfree.masking.predict import METHODS, mask_scene


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="Sentinel-2 GeoTIFF (DN or reflectance)")
    parser.add_argument("-o", "--output", required=True, help="mask GeoTIFF to write (uint8 codes)")
    parser.add_argument("--method", choices=METHODS, default="unet", help="masking method (default unet)")
    parser.add_argument("--model", default=None, help="unet: release directory or packaged model name")
    parser.add_argument("--bands", default=None, help="names of the file's bands when it has no band descriptions")
    parser.add_argument("--dn-offset", type=float, default=None, help="DN offset of the input (default from tags)")
    parser.add_argument(
        "--tile",
        type=int,
        default=None,
        help="tile side in pixels (unet, default 256); window side (s2cloudless, 1024)",
    )
    parser.add_argument("--overlap", type=int, default=32, help="pixels shared by neighbouring tiles (unet)")
    parser.add_argument("--batch-size", type=int, default=8, help="tiles per forward pass (unet)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--probability", default=None, help="s2cloudless: also write the cloud probability here")
    parser.add_argument("--level", choices=("L1C", "L2A"), default=None, help="s2cloudless: product level if untagged")
    parser.add_argument("--threshold", type=float, default=0.4, help="s2cloudless: cloud probability threshold")
    parser.add_argument("--average-over", type=int, default=1, help="s2cloudless: averaging disk radius, pixels")
    parser.add_argument("--dilation-size", type=int, default=1, help="s2cloudless: dilation disk radius, pixels")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    if args.method == "unet" and any(v is not None for v in (args.probability, args.level)):
        raise ValueError("--probability and --level apply to --method s2cloudless only")
    summary = mask_scene(
        args.input,
        args.output,
        method=args.method,
        model=args.model,
        bands=args.bands,
        dn_offset=args.dn_offset,
        tile=args.tile,
        overlap=args.overlap,
        batch_size=args.batch_size,
        device=args.device,
        progress=not args.quiet,
        probability=args.probability,
        level=args.level,
        threshold=args.threshold,
        average_over=args.average_over,
        dilation_size=args.dilation_size,
    )
    shares = ", ".join(f"{name} {share:.1%}" for name, share in summary.fractions.items())
    print(
        f"wrote {summary.path} ({summary.method}, {summary.height}x{summary.width} px): "
        f"cloud fraction {summary.cloud_fraction:.1%} of valid pixels ({shares})"
    )
    return 0
