"""Peak resident memory of `cloudfree remove` on a full-size Sentinel-2 scene (10980 x 10980, 13 bands).

A uint16 13-band scene of the given size is generated on disk window by window (smooth fields plus
noise, nodata 0 in one corner, band descriptions B01..B12), then ``cloudfree.inference.removal.remove``
runs over it in a child process with a cheap model (a released ``IdentityModel`` over all 13 bands,
so the figure is the engine's own: reading, tiling, blending, compositing, writing, COG copy). The
child reports its peak RSS (``VmHWM``; ``ru_maxrss`` would include the parent's RSS at spawn) and
the runtime; the generated scene and the output are deleted afterwards. Target: well under 4 GB whatever the scene size.

    python bench/bench_memory.py            # 10980 x 10980 (needs ~4 GB of disk, several minutes)
    python bench/bench_memory.py --quick    # 2048 x 2048
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import print_table, save_json

BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")


def generate_scene(path: Path, size: int, rows: int = 512) -> None:
    """Write a ``(13, size, size)`` uint16 DN scene by windows of ``rows`` rows (never whole in memory)."""
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": len(BANDS),
        "dtype": "uint16",
        "crs": "EPSG:32633",
        "transform": Affine(10.0, 0, 399960.0, 0, -10.0, 5100000.0),
        "nodata": 0,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
        "BIGTIFF": "YES",
    }
    rng = np.random.default_rng(0)
    cols = np.arange(size, dtype=np.float32)
    with rasterio.open(path, "w", **profile) as dst:
        dst.descriptions = BANDS
        for r0 in range(0, size, rows):
            h = min(rows, size - r0)
            yy = np.arange(r0, r0 + h, dtype=np.float32)[:, None]
            base = 1500 + 800 * np.sin(yy / 700.0) * np.cos(cols[None] / 900.0)
            block = np.empty((len(BANDS), h, size), np.uint16)
            for b in range(len(BANDS)):
                noise = rng.normal(0, 60, (h, size)).astype(np.float32)
                block[b] = np.clip(base * (0.6 + 0.08 * b) + noise, 1, 65535).astype(np.uint16)
            if r0 < size // 10:
                block[:, :, : size // 10] = 0  # a nodata corner
            dst.write(block, window=Window(0, r0, size, h))


def peak_rss_mb() -> float:
    """Peak RSS of this process in MiB: ``VmHWM`` (reset by exec, unlike ``ru_maxrss``, which a child
    started by ``subprocess`` inherits from its parent on Linux), else ``ru_maxrss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(scene: str, out: str, release: str, tile: int, overlap: int, batch: int) -> None:
    """Run remove() and print its peak RSS and runtime as JSON (this is the measured process)."""
    from cloudfree.inference.removal import remove

    t0 = time.perf_counter()
    summary = remove(
        scene,
        out,
        model=release,
        replace_all=True,
        tile=tile,
        overlap=overlap,
        batch_size=batch,
        device="cpu",
        progress=False,
    )
    seconds = time.perf_counter() - t0
    peak = peak_rss_mb()
    print(
        json.dumps(
            {
                "peak_rss_mb": peak,
                "seconds": seconds,
                "predict_seconds": summary.predict_seconds,
                "tiles": summary.tiles,
            }
        )
    )


def identity_release(folder: Path) -> Path:
    """A 13-band identity release (the engine's own cost, no model compute) saved in ``folder``."""
    from cloudfree.models.identity import IdentityModel
    from cloudfree.models.release import ReleaseConfig, save_release
    from cloudfree.normalization import Normalization

    config = ReleaseConfig(
        name="identity13",
        kind="removal",
        architecture="identitymodel",
        arguments={"in_channels": 13, "out_channels": 13},
        in_bands=BANDS,
        out_bands=BANDS,
        normalization=Normalization.identity(BANDS).to_dict(),
    )
    return save_release(IdentityModel(13, 13), config, folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10980, help="scene side in pixels (10980)")
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="2048 x 2048 instead of the full scene")
    parser.add_argument("--workdir", help="where to put the generated scene (default: a temporary folder)")
    parser.add_argument("--child", nargs=3, metavar=("SCENE", "OUT", "RELEASE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.tile, args.overlap, args.batch_size)
        return
    size = 2048 if args.quick else args.size
    work = Path(tempfile.mkdtemp(prefix="cloudfree-bench-mem-", dir=args.workdir))
    try:
        release = identity_release(work / "identity13")
        scene = work / "scene.tif"
        t0 = time.perf_counter()
        generate_scene(scene, size)
        gen_seconds = time.perf_counter() - t0
        cmd = [
            sys.executable,
            __file__,
            "--child",
            str(scene),
            str(work / "out.tif"),
            str(release),
            "--tile",
            str(args.tile),
            "--overlap",
            str(args.overlap),
            "--batch-size",
            str(args.batch_size),
        ]
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
        measured = json.loads(done.stdout.strip().splitlines()[-1])
        raw_gb = size * size * len(BANDS) * 2 / 1e9
        row = {
            "size": f"{size}x{size}x{len(BANDS)}",
            "raw_uint16_gb": raw_gb,
            "peak_rss_mb": measured["peak_rss_mb"],
            "seconds": measured["seconds"],
            "mpx_per_s": size * size / 1e6 / measured["seconds"],
            "tiles": measured["tiles"],
            "scene_file_gb": scene.stat().st_size / 1e9,
            "output_file_gb": (work / "out.tif").stat().st_size / 1e9,
            "generate_seconds": gen_seconds,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table("cloudfree remove, peak resident memory (identity model, 13 bands, CPU)", [row])
    path = save_json(
        "memory",
        {
            "rows": [row],
            "tile": args.tile,
            "overlap": args.overlap,
            "batch_size": args.batch_size,
            "target_peak_rss_mb": 4096,
        },
    )
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
