"""Show cloudfree on a real scene in about a minute, with no training of your own.

Takes the real clear Sentinel-2 scene shipped by the spyndex package (B02, B03, B04, B08, 10 m),
simulates clouds and shadows over it, masks them with the packaged default mask model, removes them
with the packaged default cloud-removal model (default-rgbn, or default-l1c13 for 13-band inputs),
and writes to --out:

  clear.tif, cloudy.tif        the truth and the simulated cloudy scene (COG)
  mask_truth.tif, mask.tif     the simulator's mask and the mask model's (0 clear, 1 thick, 2 thin,
                               3 shadow, 255 nodata)
  result.tif                   the cloud-free COG (clear pixels kept exactly)
  demo.png                     cloudy / mask / result / truth
  metrics.json                 {"result": ..., "cloudy_input": ...}: PSNR, SSIM, SAM, MAE, RMSE over
                               all, cloudy and clear pixels, both against the truth
  summary.json                 models, mask scores, timings, paths

With --input SCENE.tif the same chain runs on your own clear scene (its CRS and transform are kept).

Example:
  cloudfree demo --out demo-output
  cloudfree demo --input my_clear_scene.tif --coverage 0.5 --seed 3 --out my-demo
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo-output", help="output folder (default: demo-output)")
    parser.add_argument("--input", help="your own clear Sentinel-2 scene (GeoTIFF, SAFE, band folder)")
    parser.add_argument("--bands", help="band names of --input when its file has no band descriptions")
    parser.add_argument("--coverage", type=float, default=0.35, help="cloud fraction to simulate, 0..1 (0.35)")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the cloud simulation (7)")
    parser.add_argument("--model", help="removal model (release dir or packaged name); default by bands")
    parser.add_argument("--mask-model", default="default-mask", help="mask model (default: default-mask)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _fmt(subset: dict) -> str:
    return (
        f"PSNR {subset['psnr']:.2f} dB, SSIM {subset['ssim']:.3f}, SAM {subset['sam']:.2f} deg, MAE {subset['mae']:.4f}"
    )


def run(args: argparse.Namespace) -> int:
    from cloudfree.demo import run_demo

    if not 0.0 < args.coverage < 1.0:
        raise ValueError(f"--coverage must lie between 0 and 1, got {args.coverage}")
    result = run_demo(
        args.out,
        input=args.input,
        bands=args.bands,
        coverage=args.coverage,
        seed=args.seed,
        model=args.model,
        mask_model=args.mask_model,
        device=args.device,
        progress=not args.quiet,
    )
    m = result.metrics
    s = result.mask_scores
    print(f"cloudfree demo: {sum(result.seconds.values()):.1f} s")
    print(f"  mask:   cloud+shadow IoU {s['iou']:.3f}, F1 {s['f1']:.3f} (true cover {s['true_cloud_fraction']:.1%})")
    print(f"  cloudy pixels, cloudy input: {_fmt(m['cloudy_input']['cloudy'])}")
    print(f"  cloudy pixels, result:       {_fmt(m['result']['cloudy'])}")
    print(f"  all pixels,    result:       {_fmt(m['result']['all'])}")
    for key, path in result.files.items():
        print(f"  {key:11s} {path}")
    return 0
