"""Remove clouds from a Sentinel-2 scene (or many) and write a georeferenced Cloud-Optimized GeoTIFF.

With a model (default ``--method model``) the scene is streamed tile by tile through a released
model (``--model NAME|DIR``: a packaged default such as ``default-rgbn`` or a release directory with
model.safetensors + config.json), tiles are blended with smooth weights, and only cloud and shadow
pixels are replaced, with a feathered edge (``--feather`` px); clear pixels keep their values
exactly. The mask comes from ``--mask FILE`` (codes 0 clear, 1 thick, 2 thin, 3 shadow, 255
nodata; or binary 0/1), ``--mask auto`` (the masking model when installed), or, without ``--mask``,
from the model itself: where its estimate differs from the input by more than ``--threshold``
(mean absolute reflectance over the output bands). ``--replace-all`` outputs the model everywhere.

Temporal baselines need no model: ``--method gapfill|least-cloudy|mosaic|median --series A.tif
B.tif ... --mask TARGET_MASK.tif [--series-masks MA.tif MB.tif ...]`` fill the cloudy pixels from
other dates of the same place (dates from the DATETIME tag or the file name; other grids are
reprojected). gapfill: nearest clear date with a per-band linear radiometric fit; least-cloudy:
the date clearest over the target's gap; mosaic / median: mean / median of clear observations.

Output: same grid, CRS, band names and nodata as the input; ``--dtype uint16`` writes DN with the
input's DN offset (recorded in the tags), ``--dtype float32`` reflectance 0..1 (default: the
input's kind). Tags record model, version, method and radiometric convention.

Batches: INPUT may be a folder or a quoted glob ('scenes/*.tif') and -o a folder (OUTDIR/); each
scene is written atomically to OUTDIR/<name>, finished scenes are skipped on a rerun unless
``--overwrite``, a failing scene is reported and the others continue (exit code 1 if any failed).
``--mask`` / ``--sar`` may then be folders holding files of the same names.

Examples:
  cloudfree remove S2.tif -o clear.tif --model runs/pix2pix/release --mask S2_mask.tif
  cloudfree remove S2.tif -o clear.tif --model sar-release --sar S1.tif --dtype float32
  cloudfree remove S2.tif -o clear.tif --model diff-release --steps 20 --samples 4 --uncertainty std.tif
  cloudfree remove T.tif -o filled.tif --method gapfill --series A.tif B.tif --mask T_mask.tif
  cloudfree remove 'scenes/*.tif' -o out/ --model runs/release --mask masks/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

METHODS = ("model", "gapfill", "least-cloudy", "mosaic", "median")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="Sentinel-2 GeoTIFF, a folder of them, or a quoted glob pattern")
    parser.add_argument("-o", "--output", required=True, help="output COG (or folder for batches)")
    parser.add_argument("--method", choices=METHODS, default="model", help="model (default) or a temporal baseline")
    g = parser.add_argument_group("model")
    g.add_argument("--model", help="release name or directory (default: the packaged default-rgbn)")
    g.add_argument("--sar", help="Sentinel-1 GeoTIFF (VV, VH in dB) for SAR-optical models")
    g.add_argument("--mask", help="cloud mask file (or folder for batches), or 'auto'")
    g.add_argument("--replace-all", action="store_true", help="replace every pixel, not only cloud and shadow")
    g.add_argument("--threshold", type=float, default=0.05, help="fallback mask: reflectance difference (0.05)")
    g.add_argument("--feather", type=int, default=4, help="blending ramp outside the mask in pixels (4)")
    g.add_argument("--tile", type=int, default=256, help="tile size in pixels (256)")
    g.add_argument("--overlap", type=int, default=32, help="tile overlap in pixels (32)")
    g.add_argument("--batch-size", type=int, default=8, help="tiles per forward pass (8)")
    g.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available")
    g.add_argument("--dtype", choices=("uint16", "float32"), help="uint16 DN or float32 reflectance")
    g.add_argument("--steps", type=int, help="diffusion sampling steps (default: the release's, else 20)")
    g.add_argument("--samples", type=int, help="diffusion samples per tile, averaged (default: the release's, else 1)")
    g.add_argument("--seed", type=int, default=0, help="diffusion noise seed (0)")
    g.add_argument("--uncertainty", help="write the diffusion sample spread (std, reflectance) here")
    g.add_argument("--write-mask", help="write the mask that was used here (uint8 codes)")
    t = parser.add_argument_group("temporal baselines")
    t.add_argument("--series", nargs="+", default=[], help="other dates of the same place")
    t.add_argument("--series-masks", nargs="+", help="one cloud mask per --series file, same order")
    b = parser.add_argument_group("batches")
    b.add_argument("--overwrite", action="store_true", help="redo scenes whose output already exists")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _one(args: argparse.Namespace, scene: Path, output: Path, mask, sar) -> object:
    progress = not args.no_progress
    if args.method == "model":
        from cloudfree.inference.removal import remove

        if args.series:
            raise ValueError("--series is for temporal methods; add --method gapfill|least-cloudy|mosaic|median")
        return remove(
            scene,
            output,
            model=args.model,
            sar=sar,
            mask=mask,
            replace_all=args.replace_all,
            tile=args.tile,
            overlap=args.overlap,
            batch_size=args.batch_size,
            device=args.device,
            dtype=args.dtype,
            steps=args.steps,
            samples=args.samples,
            uncertainty=args.uncertainty,
            write_mask=args.write_mask,
            threshold=args.threshold,
            feather=args.feather,
            seed=args.seed,
            progress=progress,
        )
    from cloudfree.inference.temporal import fill_temporal

    if mask is not None and str(mask) == "auto":
        raise ValueError(f"--method {args.method} needs a mask file for the target, not 'auto'")
    return fill_temporal(
        scene,
        output,
        method=args.method,
        series=args.series,
        mask=mask,
        series_masks=args.series_masks,
        replace_all=args.replace_all,
        dtype=args.dtype,
        feather=args.feather,
        write_mask=args.write_mask,
        progress=progress,
    )


def run(args: argparse.Namespace) -> int:
    from cloudfree.inference.batch import expand_inputs, is_batch, run_batch, side_input

    if args.tile < 1 or not 0 <= args.overlap < args.tile:
        raise ValueError(f"--overlap must be in 0..{args.tile - 1} for --tile {args.tile}")
    if not is_batch(args.input, args.output):
        summary = _one(args, Path(args.input), Path(args.output), args.mask, args.sar)
        _report(summary)
        return 0
    if args.uncertainty or args.write_mask:
        raise ValueError("--uncertainty and --write-mask name one file; they cannot be used with several scenes")
    scenes = expand_inputs(args.input)
    if args.mask and args.mask != "auto" and not Path(args.mask).is_dir() and len(scenes) > 1:
        raise ValueError(f"--mask {args.mask} is one file for {len(scenes)} scenes; give a folder of masks or 'auto'")

    def process(scene: Path, output: Path) -> None:
        mask = args.mask if args.mask == "auto" else side_input(args.mask, scene, "mask")
        _one(args, scene, output, mask, side_input(args.sar, scene, "Sentinel-1 file"))

    result = run_batch(scenes, args.output, process, overwrite=args.overwrite, progress=not args.no_progress)
    return 0 if result.ok else 1


def _report(summary: object) -> None:
    outputs = getattr(summary, "outputs", [])
    mpx = getattr(summary, "megapixels_per_second", 0.0)
    extra = getattr(summary, "extra", {})
    line = f"wrote {', '.join(str(p) for p in outputs)} ({mpx:.2f} Mpx/s)"
    if extra.get("unfilled"):
        line += f"; {extra['unfilled']} cloudy pixels had no clear observation and were kept"
    print(line, file=sys.stderr)
