"""Load once, run many: a batch of scenes with one model load vs one load per scene, and start-up cost.

Generates N DN scenes (B02, B03, B04, B08, ``--size`` px square, a cloud block each) in a temporary
folder, then measures in this process:

* ``per-scene``: ``remove()`` once per scene (a new Remover each time: the model loads N times,
  as the batch did before);
* ``one Remover``: one :class:`~cloudfree.inference.remover.Remover` applied to the N scenes
  (the batch path now: the model loads once);

and, in a fresh child process, the start-up of a run with ``default-rgbn``: seconds to import the
removal pipeline and load the release, and whether diffusers was imported. Prints a table. Run
``uptime`` first: on a shared machine the ratio within one run is what counts.

  PYTHONPATH=src python bench/bench_batch_remove.py --scenes 4 --size 256
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _scenes(folder: Path, n: int, size: int) -> list[tuple[Path, Path]]:
    from affine import Affine
    from rasterio.crs import CRS

    from cloudfree.io import write_mask, write_raster
    from cloudfree.radiometry import Radiometry
    from cloudfree.raster import Raster

    out = []
    for i in range(n):
        rng = np.random.default_rng(i)
        data = rng.integers(300, 4000, (4, size, size)).astype(np.uint16)
        r = Raster(data, ("B02", "B03", "B04", "B08"), CRS.from_epsg(32633),
                   Affine(10, 0, 500000 + i * size * 10, 0, -10, 5100000), np.ones((size, size), bool),
                   Radiometry.DN)  # fmt: skip
        mask = np.zeros((size, size), np.uint8)
        mask[size // 4 : size // 2, size // 4 : size // 2] = 1
        scene, m = folder / f"s{i}.tif", folder / f"s{i}_mask.tif"
        write_raster(r, scene)
        write_mask(mask, r, m)
        out.append((scene, m))
    return out


STARTUP = (
    "import sys, time; t = time.perf_counter(); "
    "from cloudfree.inference.remover import Remover; r = Remover('default-rgbn', device='cpu'); r.net; "
    "print(time.perf_counter() - t, 'diffusers' in sys.modules)"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=4)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    from cloudfree.inference import loading
    from cloudfree.inference.removal import remove
    from cloudfree.inference.remover import Remover

    loads = [0]
    real = loading.load_model

    def counted(*a, **k):
        loads[0] += 1
        return real(*a, **k)

    loading.load_model = counted
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        scenes = _scenes(Path(tmp), args.scenes, args.size)
        t0 = time.perf_counter()
        for scene, mask in scenes:
            remove(scene, scene.with_name(scene.stem + "_a.tif"), model="default-rgbn", mask=mask, device="cpu",
                   progress=False, log=lambda _: None)  # fmt: skip
        rows.append(("per-scene remove()", loads[0], time.perf_counter() - t0))
        loads[0] = 0
        t0 = time.perf_counter()
        remover = Remover("default-rgbn", device="cpu", progress=False, log=lambda _: None)
        for scene, mask in scenes:
            remover(scene, scene.with_name(scene.stem + "_b.tif"), mask=mask)
        rows.append(("one Remover", loads[0], time.perf_counter() - t0))
    child = subprocess.run([sys.executable, "-c", STARTUP], capture_output=True, text=True, check=True)
    seconds, diffusers = child.stdout.split()
    print(f"{args.scenes} scenes of {args.size} x {args.size} px, default-rgbn, CPU, 1 thread")
    print(f"{'run':<22}{'model loads':>12}{'seconds':>10}")
    for name, n, s in rows:
        print(f"{name:<22}{n:>12}{s:>10.2f}")
    print(f"start-up (import + load default-rgbn, fresh process): {float(seconds):.2f} s; diffusers: {diffusers}")


if __name__ == "__main__":
    main()
