"""The streaming engine against the I/O floor: how much does tiling, blending and bookkeeping cost?

A uint16 13-band scene of ``--size`` pixels is generated on disk (band descriptions, nodata 0). Then:

- **I/O floor**: read the scene strip by strip with rasterio (one open dataset) and write every strip
  through ``WindowedCOGWriter`` (temporary tiled GTiff, COG copy): what any engine must do;
- **engine**: ``predict_scene`` with a NumPy identity ``predict`` (no model: the engine's own cost),
  DN -> reflectance, tiles of ``--tile`` with ``--overlap``, float32 output;
- **engine + halo**: the same with ``halo=16`` (context pixels for spatial post-processing).

Each runs in a child process (peak RSS from ``resource.getrusage``). The table gives seconds,
megapixels per second, peak memory and the ratio to the I/O floor. Timings depend on the machine's
load: compare ratios measured in one run.

    python bench/bench_engine.py --size 2048
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_memory import BANDS, generate_scene
from common import print_table, save_json


def child(kind: str, scene: str, out: str, tile: int, overlap: int) -> None:
    import rasterio
    from rasterio.windows import Window

    t0 = time.perf_counter()
    if kind == "floor":
        from cloudfree.io.writer import WindowedCOGWriter

        with rasterio.open(scene) as src:
            kw = dict(height=src.height, width=src.width, crs=src.crs, transform=src.transform)
            with WindowedCOGWriter(out, descriptions=BANDS, dtype="float32", nodata=float("nan"), **kw) as dst:
                for r in range(0, src.height, tile - overlap):
                    win = Window(0, r, src.width, min(tile - overlap, src.height - r))
                    dst.write(src.read(window=win).astype(np.float32) / 10000, win)
    else:
        from cloudfree.inference.streaming import predict_scene

        predict_scene(
            scene,
            out,
            lambda x, v: x,
            out_descriptions=BANDS,
            tile=tile,
            overlap=overlap,
            progress=False,
            **({"halo": 16} if kind == "halo" else {}),
        )
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--child", nargs=3, metavar=("KIND", "SCENE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.tile, args.overlap)
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="cloudfree-bench-engine-") as tmp:
        scene = Path(tmp) / "scene.tif"
        generate_scene(scene, args.size)
        floor = None
        for kind in ("floor", "engine", "halo"):
            cmd = [sys.executable, __file__, "--child", kind, str(scene), str(Path(tmp) / f"{kind}.tif")]
            cmd += ["--tile", str(args.tile), "--overlap", str(args.overlap)]
            run = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if run.returncode:  # e.g. an engine without halo=
                print(f"{kind}: failed: {run.stderr.strip().splitlines()[-1]}", file=sys.stderr)
                continue
            result = json.loads(run.stdout.strip())
            floor = floor or result["seconds"]
            mpx = args.size**2 / 1e6
            rows.append(
                {
                    "pass": {"floor": "I/O floor", "engine": "engine", "halo": "engine, halo 16"}[kind],
                    "seconds": round(result["seconds"], 2),
                    "mpx_per_s": round(mpx / result["seconds"], 3),
                    "peak_rss_mb": round(result["peak_rss_mb"]),
                    "x_floor": round(result["seconds"] / floor, 2),
                }
            )
    print_table(f"streaming engine vs I/O floor, {args.size}x{args.size}x13 uint16, identity predict", rows)
    save_json("engine", {"size": args.size, "tile": args.tile, "overlap": args.overlap, "rows": rows})


if __name__ == "__main__":
    main()
