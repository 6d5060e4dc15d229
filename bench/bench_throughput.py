"""Scene throughput against the I/O floor: the engine with an identity model and each default model.

For each size (1024, 2048, 4096; 10980 with ``--full``) one uint16 DN scene of 13 bands
(B01..B12, smooth fields + noise, a nodata corner; ``bench_memory.generate_scene``) and a
realistic cloud mask (about 30 % cloud in contiguous fields with soft edges, a shadow band beside
them; codes 1 thick, 3 shadow) are generated once, then every case runs on them in its own
subprocess, which reports its wall time and peak RSS (``VmHWM``, see :func:`peak_rss_mb`):

* ``read``: every block of every band read once (rasterio ``block_windows``);
* ``cog-copy``: a GDAL COG copy of the scene with overviews through the engine's own
  ``cloudfree.io.geotiff.finalize_cog`` (DEFLATE, AVERAGE overviews, ``NUM_THREADS=ALL_CPUS``, GDAL's
  block cache bounded by ``cog_copy_cache``);
* ``identity``: ``remove`` with a released 13-band identity model, every pixel replaced
  (``replace_all``): the engine's own cost, reading, tiling, blending, writing, COG;
* ``default-rgbn`` (reads 4 of the 13 bands, writes 4) and ``default-l1c13`` with the mask file.

The I/O floor is ``read + cog-copy``; every row gives seconds, Mpx/s and its ratio to the floor.
Ratios measured in one run hold on a shared, noisy machine where seconds do not; the load
average (``uptime``) before and after is printed with the table and stored in
``bench/results/throughput.json``.

    python bench/bench_throughput.py                  # 1024, 2048, 4096
    python bench/bench_throughput.py --sizes 1024 2048
    python bench/bench_throughput.py --full           # adds 10980 x 10980 (~3 GB of disk, long)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_memory import BANDS, generate_scene, identity_release, peak_rss_mb
from common import print_table, save_json

CASES = ("read", "cog-copy", "identity", "default-rgbn", "default-l1c13")
MODEL_CASES = ("identity", "default-rgbn", "default-l1c13")


def generate_mask(path: Path, size: int, cloud: float = 0.3, rows: int = 512) -> float:
    """Write a uint8 mask of ``size`` x ``size``: ~``cloud`` fraction thick cloud in fields of a few km, shadows beside.

    A coarse Gaussian random field (one value per 32 px, smoothed over ~8 cells) is interpolated
    bilinearly strip by strip and thresholded at its ``1 - cloud`` quantile; shadow (code 3) is the
    cloud shifted 40 px south-east where it is not cloud. Returns the cloud fraction written.
    """
    import rasterio
    from affine import Affine
    from rasterio.windows import Window
    from scipy import ndimage

    step = 32
    n = size // step + 3
    field = ndimage.gaussian_filter(np.random.default_rng(1).normal(size=(n, n)), sigma=4.0, mode="wrap")
    level = float(np.quantile(field, 1 - cloud))
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 1,
        "dtype": "uint8",
        "crs": "EPSG:32633",
        "transform": Affine(10.0, 0, 399960.0, 0, -10.0, 5100000.0),
        "nodata": 255,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
    }
    shift, cloudy = 40, 0
    cols = np.arange(size, dtype=np.float32) / step

    def cloud_rows(r0: int, h: int) -> np.ndarray:
        rr = (np.arange(r0, r0 + h, dtype=np.float32) / step)[:, None]
        coords = np.stack(np.broadcast_arrays(rr, cols[None]))
        return ndimage.map_coordinates(field, coords, order=1, mode="nearest") > level

    with rasterio.open(path, "w", **profile) as dst:
        for r0 in range(0, size, rows):
            h = min(rows, size - r0)
            c = cloud_rows(r0, h)
            shadow = np.zeros_like(c)
            if r0 - shift >= 0:
                shadow[:, shift:] = cloud_rows(r0 - shift, h)[:, :-shift]
            codes = np.where(c, 1, np.where(shadow, 3, 0)).astype(np.uint8)
            cloudy += int(c.sum())
            dst.write(codes[None], window=Window(0, r0, size, h))
    return cloudy / size / size


def child(case: str, scene: str, mask: str, out: str, release: str) -> None:
    """Run one case and print ``{"seconds", "setup_seconds", "peak_rss_mb"}`` as JSON (the measured process).

    ``setup_seconds`` (imports) is kept out of ``seconds``: it does not grow
    with the scene, and a batch pays it once per worker process.
    """
    t0 = time.perf_counter()
    import rasterio

    if case in MODEL_CASES:
        from cloudfree.inference.removal import remove  # what a `cloudfree remove` process imports (torch ...)
    setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    if case == "read":
        with rasterio.open(scene) as src:
            for _, window in src.block_windows(1):
                src.read(window=window)
    elif case == "cog-copy":
        from cloudfree.io.geotiff import finalize_cog

        finalize_cog(Path(scene), Path(out))  # the engine's own COG step (DEFLATE, AVERAGE, bounded cache)
    else:
        model = release if case == "identity" else case
        remove(scene, out, model=model, mask=None if case == "identity" else mask, replace_all=case == "identity",
               device="cpu", progress=False)  # fmt: skip
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "setup_seconds": setup, "peak_rss_mb": peak_rss_mb()}))


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_size(size: int, work: Path, release: Path, cases: list[str]) -> list[dict]:
    scene, mask = work / f"scene{size}.tif", work / f"mask{size}.tif"
    generate_scene(scene, size)
    fraction = generate_mask(mask, size)
    rows, measured = [], {}
    for case in cases:
        out = work / f"out-{case}-{size}.tif"
        cmd = [sys.executable, __file__, "--child", case, str(scene), str(mask), str(out), str(release)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            print(f"{case} at {size}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        measured[case] = json.loads(done.stdout.strip().splitlines()[-1])
        out.unlink(missing_ok=True)
    floor = sum(measured[c]["seconds"] for c in ("read", "cog-copy") if c in measured) or float("nan")
    for case, m in measured.items():
        rows.append(
            {
                "size": f"{size}x{size}x{len(BANDS)}",
                "case": case,
                "seconds": m["seconds"],
                "mpx_per_s": size * size / 1e6 / m["seconds"],
                "x_io_floor": m["seconds"] / floor,
                "peak_rss_mb": m["peak_rss_mb"],
                "setup_s": m["setup_seconds"],
                "cloud_fraction": round(fraction, 3) if case in MODEL_CASES[1:] else "",
            }
        )
    scene.unlink()
    mask.unlink()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096], help="scene sides in pixels")
    parser.add_argument("--full", action="store_true", help="also a full 10980 x 10980 scene")
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--workdir", help="where to put the generated scenes (default: a temporary folder)")
    parser.add_argument("--make-release", help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=5, metavar=("CASE", "SCENE", "MASK", "OUT", "RELEASE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.make_release:
        identity_release(Path(args.make_release))
        return
    sizes = args.sizes + ([10980] if args.full and 10980 not in args.sizes else [])
    work = Path(tempfile.mkdtemp(prefix="cloudfree-bench-throughput-", dir=args.workdir))
    load_before, rows = load(), []
    try:
        release = work / "identity13"
        subprocess.run([sys.executable, __file__, "--make-release", str(release)], check=True)
        for size in sizes:
            rows += run_size(size, work, release, args.cases)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_after = load()
    title = f"scene throughput vs the I/O floor (read + COG copy), CPU; load {load_before} before, {load_after} after"
    print_table(title, rows)
    path = save_json("throughput", {"rows": rows, "load_before": load_before, "load_after": load_after})
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
