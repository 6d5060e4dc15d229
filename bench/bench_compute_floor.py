"""Compute floor of each default model: FLOPs per megapixel against this machine's matmul rate.

For every packaged default model the forward pass on one tile is counted with
``torch.utils.flop_counter.FlopCounterMode`` and scaled to one megapixel; the machine's float32
matrix-multiply rate is measured with a large ``torch.mm``. Their ratio is the fastest the model
could possibly run here (the compute floor, in megapixels/s); the measured forward rate beside it
shows how close the implementation gets.

    python bench/bench_compute_floor.py [--tile 256] [--device cpu]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cloudfree.models.release import WEIGHTS_DIR, load_release
from common import best_time, print_table, save_json


def matmul_gflops(device: str, n: int = 2048) -> float:
    """Measured float32 matrix-multiply rate in GFLOP/s (best of 3)."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)

    def run() -> None:
        torch.mm(a, b)
        if device == "cuda":
            torch.cuda.synchronize()

    seconds = best_time(run, repeats=3, warmup=1)
    return 2 * n**3 / seconds / 1e9


def model_input_channels(config) -> int:
    n = len(config.in_bands) + len(config.sar_bands) + int(config.uses_mask)
    return int(config.arguments.get("in_channels", n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    rate = matmul_gflops(args.device)
    rows = []
    names = []
    if WEIGHTS_DIR.is_dir():
        names = sorted(p.name for p in WEIGHTS_DIR.iterdir() if (p / "config.json").exists())
    for name in names:
        model, config = load_release(name, device=args.device)
        x = torch.randn(args.batch, model_input_channels(config), args.tile, args.tile, device=args.device)
        with torch.no_grad():
            counter = FlopCounterMode(display=False)
            with counter:
                model(x)
            flops = counter.get_total_flops()
            seconds = best_time(lambda m=model, x=x: m(x), repeats=3, warmup=1)
        megapixels = args.batch * args.tile * args.tile / 1e6
        gflop_per_mp = flops / megapixels / 1e9
        floor_mps = rate / gflop_per_mp if gflop_per_mp else float("inf")
        measured_mps = megapixels / seconds
        rows.append(
            {
                "model": name,
                "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
                "GFLOP_per_MP": gflop_per_mp,
                "floor_MP_s": floor_mps,
                "measured_MP_s": measured_mps,
                "of_floor_pct": 100 * measured_mps / floor_mps if floor_mps else 0.0,
            }
        )
    print(f"float32 matmul rate on {args.device}: {rate:.1f} GFLOP/s")
    print_table(f"Compute floor per default model ({args.tile}px tiles, batch {args.batch})", rows)
    save_json("compute_floor", {"matmul_gflops": rate, "tile": args.tile, "rows": rows})


if __name__ == "__main__":
    main()
