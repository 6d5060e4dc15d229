"""Quality of the default models on held-out real scenes, against no-change and temporal baselines.

1. The Slovenia series (rows 64-100, held out from default-model training): clouds and shadows are
   simulated on the clear date 2015-08-30 (seeded), then filled by each packaged default removal
   model (true mask), by the four temporal baselines (gapfill, least-cloudy, mosaic, median) from
   the other four dates with their real s2cloudless masks, and left as they are (no change).
   Scored on the cloudy pixels, bands B02, B03, B04, B08 (common to every method).
2. Every default removal model on every held-out scene (`cloudfree.evaluation.holdout`).
3. The default mask model on the real labels of cloud_labels_6band.

    python bench/bench_quality.py [--quick] [--seeds 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from rasterio.windows import Window

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cloudfree.data.synthetic_clouds import CloudSimulator
from cloudfree.evaluation.holdout import (
    default_data_root,
    evaluate_mask_model,
    evaluate_removal_model,
)
from cloudfree.evaluation.report import evaluate_rasters
from cloudfree.inference.removal import remove
from cloudfree.inference.temporal import METHODS, fill_temporal
from cloudfree.io import read_mask, read_raster, write_mask, write_raster
from cloudfree.models.release import WEIGHTS_DIR
from common import print_table, save_json

DATES = ("2015-07-11", "2015-07-31", "2015-08-20", "2015-08-30", "2015-09-09")
TARGET = "2015-08-30"
WINDOW = Window(0, 64, 100, 37)  # col, row, width, height: rows 64-100, held out from training
SCORE_BANDS = ("B02", "B03", "B04", "B08")


def packaged(kind: str) -> list[str]:
    from cloudfree.models.release import load_release

    names = []
    if WEIGHTS_DIR.is_dir():
        for p in sorted(WEIGHTS_DIR.iterdir()):
            if (p / "config.json").exists() and load_release(p.name)[1].kind == kind:
                names.append(p.name)
    return names


def slovenia_comparison(seeds: int, tmp: Path) -> list[dict]:
    """Rows (method, psnr, ssim, sam, mae) on the cloudy pixels of the held-out Slovenia window."""
    folder = default_data_root() / "slovenia_timeseries_l1c"
    series, series_masks = [], []
    for date in DATES:
        if date == TARGET:
            continue
        r = read_raster(folder / f"S2_L1C_{date}.tif", window=WINDOW)
        write_raster(r, tmp / f"S2_L1C_{date}.tif", cog=False, tags={"DATETIME": r.tags.get("DATETIME", date)})
        write_mask(read_mask(folder / f"CLM_{date}.tif", window=WINDOW), r, tmp / f"CLM_{date}.tif", cog=False)
        series.append(tmp / f"S2_L1C_{date}.tif")
        series_masks.append(tmp / f"CLM_{date}.tif")
    clear = read_raster(folder / f"S2_L1C_{TARGET}.tif", window=WINDOW)
    scores: dict[str, list[dict]] = {}
    for seed in range(seeds):
        cloudy, mask, _ = CloudSimulator(coverage=(0.2, 0.5), thin_fraction=(0.2, 0.4)).simulate_raster(
            clear, rng=2000 + seed
        )
        target = tmp / f"target_{seed}_{TARGET}.tif"
        write_raster(cloudy, target, cog=False, tags={"DATETIME": clear.tags.get("DATETIME", TARGET)})
        mask_path = tmp / f"target_{seed}_mask.tif"
        write_mask(mask, clear, mask_path, cog=False)
        outputs = {"no change (cloudy input)": target}
        for method in METHODS:
            out = tmp / f"{method}_{seed}.tif"
            fill_temporal(target, out, method=method, series=series, mask=mask_path, series_masks=series_masks,
                          progress=False)  # fmt: skip
            outputs[f"temporal {method}"] = out
        for name in packaged("removal"):
            out = tmp / f"{name}_{seed}.tif"
            remove(target, out, model=name, mask=mask_path, device="cpu", progress=False)
            outputs[name] = out
        for label, path in outputs.items():
            result = evaluate_rasters(read_raster(path).select(SCORE_BANDS), clear.select(SCORE_BANDS), mask=mask)
            scores.setdefault(label, []).append({k: result["cloudy"][k] for k in ("psnr", "ssim", "sam", "mae")})
    return [
        {
            "dataset": "slovenia_0830_bottom",
            "method": label,
            **{k: float(np.mean([r[k] for r in rows])) for k in rows[0]},
        }
        for label, rows in scores.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3, help="cloud simulations per scene")
    parser.add_argument("--quick", action="store_true", help="one simulation per scene")
    args = parser.parse_args()
    seeds = 1 if args.quick else args.seeds
    with tempfile.TemporaryDirectory(prefix="cloudfree-quality-") as tmp:
        rows = slovenia_comparison(seeds, Path(tmp))
    print_table(f"Slovenia held-out window, cloudy pixels, bands {', '.join(SCORE_BANDS)} ({seeds} simulations)", rows)

    model_rows = []
    for name in packaged("removal"):
        metrics = evaluate_removal_model(name, seeds=seeds)
        for scene, m in metrics["scenes"].items():
            for label, key in ((name, "model"), ("no change (cloudy input)", "cloudy_input")):
                model_rows.append({"dataset": scene, "method": label, **m["cloudy_pixels"][key]})
    print_table("Default removal models on held-out scenes, cloudy pixels (all bands of the model)", model_rows)

    mask_rows = []
    for name in packaged("mask"):
        real = evaluate_mask_model(name, seeds=seeds)["real_labels_cloud_labels_6band"]
        mask_rows.append({"dataset": "cloud_labels_6band", "method": name, "cloud_iou": real["cloud"]["iou"],
                          "cloud_f1": real["cloud"]["f1"], "shadow_iou": real["shadow"]["iou"],
                          "shadow_f1": real["shadow"]["f1"], "pixel_accuracy": real["pixel_accuracy"]})  # fmt: skip
    print_table("Default mask model on real labels (evaluation only)", mask_rows)
    save_json("quality", {"seeds": seeds, "rows": rows + model_rows + mask_rows})


if __name__ == "__main__":
    main()
