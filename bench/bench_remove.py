"""End-to-end throughput of `cloudfree remove` against the bare model forward on the same tiles.

For each tile size, a child process runs :func:`cloudfree.inference.removal.remove` on a generated
uint16 B02/B03/B04/B08 scene (read by windows, tiled, blended, composited, written as COG) and then
times the bare model forward pass on the same number of random tiles with the same batch size. The
ratio end-to-end / bare forward is the cost of I/O, input assembly, blending, compositing and COG
writing on top of the network (target <= 1.25); the one-time import of the model registry
(diffusers, ...) is reported apart, as a batch run pays it once. ``engine_ratio`` = end-to-end /
time inside the model calls of the same run: the engine's own overhead, insensitive to the load of
a shared machine changing between the two measurements (which ``ratio`` is not). The model is the
packaged ``default-rgbn`` when present, else a Pix2Pix ``UNetGenerator`` (ngf 64, 8 levels) with
random weights: speed does not depend on the weights. Peak RSS is the child's. Table on stdout,
JSON in ``bench/results/remove.json``.

    python bench/bench_remove.py [--size 2048] [--tiles 256 512] [--device cuda] [--quick]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import print_table, save_json

RGBN = ("B02", "B03", "B04", "B08")


def write_bench_mask(scene: Path) -> Path:
    """A cloud mask on the scene's grid (blocks of cloud over about a third of it) for mask-channel models."""
    mask_path = scene.with_name("mask.tif")
    if not mask_path.exists():
        with rasterio.open(scene) as src:
            profile = {"driver": "GTiff", "height": src.height, "width": src.width, "count": 1, "dtype": "uint8",
                       "crs": src.crs, "transform": src.transform}  # fmt: skip
            rows, cols = np.mgrid[0 : src.height, 0 : src.width]
        mask = (((rows // 97) + (cols // 89)) % 3 == 0).astype(np.uint8)
        with rasterio.open(mask_path, "w", **profile) as dst:
            dst.write(mask, 1)
    return mask_path


def generate_scene(path: Path, size: int, rows: int = 512) -> None:
    """A ``(4, size, size)`` uint16 DN scene written by windows (textured, so the model has work)."""
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 4,
        "dtype": "uint16",
        "crs": "EPSG:32633",
        "transform": Affine(10.0, 0, 399960.0, 0, -10.0, 5100000.0),
        "nodata": 0,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
    }
    rng = np.random.default_rng(0)
    with rasterio.open(path, "w", **profile) as dst:
        dst.descriptions = RGBN
        for r0 in range(0, size, rows):
            h = min(rows, size - r0)
            block = rng.integers(200, 4000, (4, h, size), dtype=np.uint16)
            dst.write(block, window=Window(0, r0, size, h))


def make_release(folder: Path, which: str) -> str:
    """``default-rgbn`` (the packaged model) or ``pix2pix-classic`` (ngf 64, 8 levels, random weights)."""
    from cloudfree.models.pix2pix import UNetGenerator
    from cloudfree.models.release import WEIGHTS_DIR, ReleaseConfig, save_release
    from cloudfree.normalization import Normalization

    if which == "default-rgbn":
        if not (WEIGHTS_DIR / "default-rgbn").is_dir():
            raise SystemExit(
                "default-rgbn is not packaged; run scripts/train_default_models.py or use --models pix2pix-classic"
            )
        return "default-rgbn"
    args = {"in_channels": 4, "out_channels": 4, "ngf": 64, "num_downs": 8}
    config = ReleaseConfig(
        name="pix2pix-classic",
        kind="removal",
        architecture="unetgenerator",
        arguments=args,
        in_bands=RGBN,
        out_bands=RGBN,
        normalization=Normalization.fixed(RGBN).to_dict(),
    )
    save_release(UNetGenerator(**args), config, folder)
    return str(folder)


def child(scene: str, out: str, model: str, tile: int, overlap: int, batch: int, device: str) -> None:
    """Measured process: remove() end to end, then the bare forward on as many tiles."""
    import torch

    from cloudfree.inference.removal import remove
    from cloudfree.models import registry
    from cloudfree.models.release import load_release

    t0 = time.perf_counter()
    registry()  # one-time imports (diffusers ...), paid once per process, not per scene
    import_s = time.perf_counter() - t0
    net, config = load_release(model, device=device)
    mask = write_bench_mask(Path(scene)) if config.uses_mask else None
    t0 = time.perf_counter()
    summary = remove(
        scene, out, model=model, mask=mask, tile=tile, overlap=overlap, batch_size=batch, device=device,
        progress=False,
    )  # fmt: skip
    end_to_end = time.perf_counter() - t0
    peak_remove = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    channels = len(config.in_bands) + len(config.sar_bands) + int(config.uses_mask)
    x = torch.randn(batch, channels, tile, tile, device=device)
    n_batches = -(-summary.tiles // batch)
    with torch.no_grad():
        net(x)  # warm-up
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(n_batches):
            net(x).cpu()
        if device == "cuda":
            torch.cuda.synchronize()
        bare = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "end_to_end_s": end_to_end,
                "bare_forward_s": bare,
                "tiles": summary.tiles,
                "predict_s": summary.predict_seconds,
                "peak_rss_mb": peak_remove,
                "megapixels": summary.height * summary.width / 1e6,
                "import_s": import_s,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=2048, help="scene side in pixels (2048)")
    parser.add_argument("--tiles", type=int, nargs="+", default=[256, 512], help="tile sizes (256 512)")
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--quick", action="store_true", help="512 px scene, tile 256 only")
    parser.add_argument(
        "--models", nargs="+", default=["pix2pix-classic", "default-rgbn"], choices=["pix2pix-classic", "default-rgbn"],
        help="pix2pix-classic: the 54 M-parameter generator (random weights); default-rgbn: the packaged model",
    )  # fmt: skip
    parser.add_argument("--child", nargs=3, metavar=("SCENE", "OUT", "MODEL"), help=argparse.SUPPRESS)
    parser.add_argument("--tile", type=int, default=256, help=argparse.SUPPRESS)
    args = parser.parse_args()
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.child:
        child(*args.child, args.tile, args.overlap, args.batch_size, device)
        return
    size, tiles = (512, [256]) if args.quick else (args.size, args.tiles)
    work = Path(tempfile.mkdtemp(prefix="cloudfree-bench-remove-"))
    rows = []
    try:
        scene = work / "scene.tif"
        generate_scene(scene, size)
        for which, tile in [(w, t) for w in args.models for t in tiles]:
            model = make_release(work / which, which)
            cmd = [
                sys.executable,
                __file__,
                "--child",
                str(scene),
                str(work / f"out_{which}_{tile}.tif"),
                model,
                "--tile",
                str(tile),
                "--overlap",
                str(args.overlap),
                "--batch-size",
                str(args.batch_size),
                "--device",
                device,
            ]
            done = subprocess.run(cmd, check=True, capture_output=True, text=True)
            m = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(
                {
                    "model": which,
                    "tile": tile,
                    "size": f"{size}x{size}",
                    "device": device,
                    "tiles_run": m["tiles"],
                    "end_to_end_mpx_s": m["megapixels"] / m["end_to_end_s"],
                    "forward_mpx_s": m["megapixels"] / m["bare_forward_s"],
                    "ratio": m["end_to_end_s"] / m["bare_forward_s"],
                    "predict_share": m["predict_s"] / m["end_to_end_s"],
                    "engine_ratio": m["end_to_end_s"] / m["predict_s"],
                    "peak_rss_mb": m["peak_rss_mb"],
                    "startup_import_s": m["import_s"],
                }
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table("cloudfree remove vs bare model forward (ratio target <= 1.25)", rows)
    path = save_json("remove", {"rows": rows, "overlap": args.overlap, "batch_size": args.batch_size})
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
