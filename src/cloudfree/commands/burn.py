"""Burned-area assessment from a pre-fire and a post-fire scene: dNBR and USGS burn-severity classes.

NBR = (NIR - SWIR2) / (NIR + SWIR2) on reflectance 0..1 (DN converted with each file's offset):
NIR is B08 (or B8A when an input lacks B08, or with --nir B8A), SWIR2 is B12.
dNBR = NBR(pre) - NBR(post), unscaled (x 1000 gives the "dNBR x 1000" of the USGS tables).

Outputs (COGs on the inputs' grid, written by windows, renamed into place when complete):
  OUT.tif                 dNBR, float32, band "dNBR", NaN nodata
  OUT_severity.tif        (or --classes PATH) burn-severity class, uint8, band "burn_severity",
                          0 nodata; class names and thresholds in the tags CLASS_NAMES / THRESHOLDS

Classes (Key & Benson 2006, USGS FIREMON), lower dNBR bound of each class:
  1 enhanced regrowth, high     below -0.251
  2 enhanced regrowth, low      -0.251
  3 unburned                    -0.100
  4 low severity                 0.100
  5 moderate-low severity        0.270
  6 moderate-high severity       0.440
  7 high severity                0.660
--thresholds takes the six bounds of classes 2..7, e.g. --thresholds=-0.25,-0.1,0.1,0.27,0.44,0.66
(use the = form: the list starts with a minus sign).

Clouds: cloud lowers NBR as a fire does, so a cloudy date would show burned ground that is not
there. Both dates are masked first (--pre-mask / --post-mask auto, the default: the auto mask of
`cloudfree remove`, grown by 40 m) and their cloud pixels are excluded (dNBR NaN, class 0); the
auto mask's shadow class is kept, because it also takes dark ground such as burn scars. A mask
FILE of your own (codes 0 clear, 1 thick, 2 thin, 3 shadow, 255 nodata, on the inputs' grid)
excludes cloud, shadow and nodata; `none` masks nothing (for inputs already cloud-free, such as
`cloudfree remove` outputs, whose filled pixels the auto mask would only re-examine).

PRE and POST must share the grid (CRS, transform and size); otherwise the command stops with exit
code 2 naming both grids. --bands / --dn-offset apply to both inputs.

examples:
  cloudfree burn --pre S2_2015-07-11.tif --post S2_2015-09-09.tif -o fire_dnbr.tif
  cloudfree burn --pre pre.SAFE --post post.SAFE -o dnbr.tif --classes severity.tif --nir B8A
  cloudfree burn --pre clear_pre.tif --post clear_post.tif -o dnbr.tif --pre-mask none --post-mask none
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from cloudfree.commands.options import add_imagery_options, add_output_options, imagery_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pre", required=True, help="pre-fire scene (any layout cloudfree reads)")
    parser.add_argument("--post", required=True, help="post-fire scene on the same grid")
    parser.add_argument("-o", "--output", required=True, help="dNBR COG (.tif)")
    parser.add_argument("--classes", help="severity-class COG (default: <OUT stem>_severity.tif)")
    parser.add_argument("--thresholds", help="six increasing dNBR bounds of classes 2..7 (comma-separated)")
    parser.add_argument("--nir", choices=("auto", "B08", "B8A"), default="auto", help="NIR band of NBR")
    for when in ("pre", "post"):
        parser.add_argument(f"--{when}-mask", default="auto", metavar="FILE|auto|none",
                            help=f"cloud mask of the {when}-fire scene: auto (default; its cloud is excluded), "
                            "a mask file (cloud, shadow and nodata excluded) or none")  # fmt: skip
    add_imagery_options(parser)
    add_output_options(parser)


def _masks(args: argparse.Namespace, folder: Path) -> list[tuple[str, tuple[int, ...], str]]:
    """``(mask file, codes to exclude, flag)`` of both dates; auto masks are written into ``folder``."""
    from cloudfree.evaluation.burn import AUTO_MASK_CODES, GIVEN_MASK_CODES
    from cloudfree.inference.automask import REMOVAL_DILATE_M, REMOVAL_HOLES_HA, auto_mask

    masks = []
    for when, scene in (("pre", args.pre), ("post", args.post)):
        flag, value = f"--{when}-mask", getattr(args, f"{when}_mask")
        if value == "none":
            continue
        if value != "auto":
            masks.append((value, GIVEN_MASK_CODES, flag))
            continue
        path, how = auto_mask(scene, folder / f"{when}_mask.tif", progress=False, dilate_m=REMOVAL_DILATE_M,
                              holes_ha=REMOVAL_HOLES_HA, **imagery_options(args))  # fmt: skip
        if path is None:
            print(f"cloudfree: {flag} auto: {how}; clouds in {scene} are not excluded", file=sys.stderr)
            continue
        print(f"cloudfree: {flag} auto: {how}", file=sys.stderr)
        masks.append((str(path), AUTO_MASK_CODES, flag))
    return masks


def run(args: argparse.Namespace) -> int:
    from cloudfree.evaluation.burn import CLASS_NAMES, check_inputs, classes_path_for, write_burn
    from cloudfree.evaluation.scene import EvaluationInputError

    # bad inputs fail before the masks are computed
    check_inputs(args.pre, args.post, thresholds=args.thresholds, nir=args.nir, **imagery_options(args))
    for path in (Path(args.output), Path(args.classes) if args.classes else classes_path_for(args.output)):
        if path.exists() and not args.overwrite:  # before the masks are computed
            raise EvaluationInputError(f"{path}: exists; pass --overwrite to replace it")
    with tempfile.TemporaryDirectory(prefix="cloudfree-burn-") as tmp:
        summary = write_burn(
            args.pre,
            args.post,
            args.output,
            classes_output=args.classes,
            thresholds=args.thresholds,
            nir=args.nir,
            overwrite=args.overwrite,
            masks=_masks(args, Path(tmp)),
            **imagery_options(args),
        )
    valid = sum(n for code, n in summary.counts.items() if code != 0) or 1
    if summary.excluded:
        share = 100 * summary.excluded / (valid + summary.excluded)
        print(f"excluded as cloud: {summary.excluded} px ({share:.2f} % of the pixels with data), class 0")
    print(f"NBR with {summary.nir} and B12; thresholds {list(summary.thresholds)}")
    for code, name in CLASS_NAMES.items():
        if code:
            n = summary.counts[code]
            print(f"{code} {name:<24} {n:>10} px  {100 * n / valid:6.2f} %")
    print(f"wrote {summary.dnbr_path} and {summary.classes_path}", file=sys.stderr)
    return 0
