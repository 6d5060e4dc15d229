"""Cloud and shadow masking side by side: accuracy on an independent labelled tile and throughput.

Every method runs in one process through :func:`cloudfree.inference.mask_scene.mask_scene` (the
path ``cloudfree mask`` takes: streaming engine, guards, COG out) on
``../shared/data/cloud_labels_6band/S2_6band_reflectance.tif`` (B02, B03, B04, B08, B11, B12
reflectance, ~30 m, 512 x 512, no georeferencing). Accuracy: IoU and F1 of cloud (thick + thin)
and of cloud shadow against its labels (0 clear, 1 cloud, 2 shadow), and 3-class pixel accuracy.
The tile is an evaluation only: nothing is trained, selected or tuned on it. Its labels come from
ukis-csmask's own test files, so ukis-csmask's figures on it are optimistic.

Rows: ``auto`` (what ``cloudfree mask`` does with no --method), every ukis-csmask model (4- and
6-band, L1C and L2A, and the 4+6 average auto uses), the packaged own U-Net ``default-mask``, a
candidate own model (``--model DIR``, e.g. ``runs/distill_mask/release``), s2cloudless (it cannot
run on this tile: it needs B01, B05, B8A, B09, B10; its row says so, its speed is measured on the
Madagascar L1C scene instead).

Throughput: megapixels per second of the whole ``mask_scene`` call (file in, COG out, model
already loaded by the accuracy run) on the same tile repeated 4 x 4 (2048 x 2048 px: on the
512 x 512 tile alone fixed costs dominate), on this machine's cores; check ``uptime`` before
believing it, and compare rows of one run.

    python bench/bench_masking.py [--model runs/distill_mask/release] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import print_table, save_json  # noqa: E402

DATA = (HERE.parent / ".." / "shared" / "data").resolve()
TILE = DATA / "cloud_labels_6band"
MADAGASCAR = DATA / "madagascar_cloudy_l1c" / "S2_L1C_cloudy.tif"
CSMASK = ("csmask-4band-L1C", "csmask-4band-L2A", "csmask-6band-L1C", "csmask-6band-L2A")  # 4+6 L1C: the auto row
MOSAIC = 4  # the throughput scene: the tile repeated 4 x 4 (2048 x 2048 px, 4.2 Mpx)


def scores(mask: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Cloud / shadow IoU and F1 and 3-class accuracy of mask codes against labels 0/1/2."""
    out: dict[str, float] = {}
    for name, pred, ref in (
        ("cloud", np.isin(mask, (1, 2)), labels == 1),
        ("shadow", mask == 3, labels == 2),
    ):
        tp = float((pred & ref).sum())
        union = float((pred | ref).sum())
        out[f"{name}_iou"] = tp / max(union, 1.0)
        out[f"{name}_f1"] = 2 * tp / max(float(pred.sum() + ref.sum()), 1.0)
    cls = np.select([np.isin(mask, (1, 2)), mask == 3], [1, 2], 0)
    out["accuracy"] = float((cls == labels).mean())
    return out


def run_method(method: str, out: Path, model: str | None, big: Path) -> tuple[np.ndarray, float, str]:
    """Mask the tile with ``method`` (accuracy), then the 4 x 4 mosaic (Mpx/s); returns mask, Mpx/s, choice."""
    from cloudfree.inference.mask_scene import mask_scene

    kwargs = {"model": model} if model else {}
    s = mask_scene(TILE / "S2_6band_reflectance.tif", out, method=method, progress=False, **kwargs)
    with rasterio.open(out) as ds:
        mask = ds.read(1)
    t0 = time.perf_counter()
    b = mask_scene(big, out.with_name(out.stem + "_big.tif"), method=method, progress=False, **kwargs)
    return mask, b.height * b.width / 1e6 / (time.perf_counter() - t0), s.method


def mosaic(tmp: Path) -> Path:
    """The evaluation tile repeated MOSAIC x MOSAIC times, as a GeoTIFF with the same band descriptions."""
    src = TILE / "S2_6band_reflectance.tif"
    with rasterio.open(src) as ds:
        data, profile, names = ds.read(), ds.profile, ds.descriptions
    big = np.tile(data, (1, MOSAIC, MOSAIC))
    profile.update(height=big.shape[1], width=big.shape[2], tiled=True, blockxsize=256, blockysize=256)
    path = tmp / "mosaic.tif"
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(big)
        ds.descriptions = names
    return path


def s2cloudless_speed(tmp: Path) -> float | None:
    """Mpx/s of s2cloudless on the Madagascar L1C scene (it cannot run on the evaluation tile)."""
    from cloudfree.inference.mask_scene import mask_scene

    try:
        mask_scene(MADAGASCAR, tmp / "s2c_warm.tif", method="s2cloudless", progress=False)
        t0 = time.perf_counter()
        s = mask_scene(MADAGASCAR, tmp / "s2c.tif", method="s2cloudless", progress=False)
        return s.height * s.width / 1e6 / (time.perf_counter() - t0)
    except (ImportError, ValueError, OSError) as exc:
        print(f"s2cloudless: {exc}")
        return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="a candidate own mask release (e.g. runs/distill_mask/release)")
    ap.add_argument("--quick", action="store_true", help="accepted for run_all.py; the bench is one pass already")
    args = ap.parse_args()
    if not (TILE / "labels.tif").exists():
        print(f"the evaluation tile is not at {TILE}: nothing to measure")
        return 0
    with rasterio.open(TILE / "labels.tif") as ds:
        labels = ds.read(1)
    methods: list[tuple[str, str, str | None]] = [("auto", "auto", None)]
    methods += [(m, m, None) for m in CSMASK]
    methods.append(("own U-Net default-mask", "unet", None))
    if args.model:
        methods.append((f"own U-Net {args.model}", "unet", args.model))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        big = mosaic(Path(tmp))
        for i, (label, method, model) in enumerate(methods):
            mask, mpx, chosen = run_method(method, Path(tmp) / f"m{i}.tif", model, big)
            row = {"method": label if label != "auto" else f"auto ({chosen})", **scores(mask, labels)}
            rows.append({**row, "mpx_per_s": mpx})
            print(f"{row['method']}: cloud F1 {row['cloud_f1']:.3f}, shadow F1 {row['shadow_f1']:.3f}, {mpx:.2f} Mpx/s")
        speed = s2cloudless_speed(Path(tmp))
    rows.append(
        {
            "method": "s2cloudless (needs B01,B05,B8A,B09,B10: cannot run here; speed on Madagascar L1C)",
            "mpx_per_s": speed if speed is not None else float("nan"),
        }
    )
    cols = ["method", "cloud_iou", "cloud_f1", "shadow_iou", "shadow_f1", "accuracy", "mpx_per_s"]
    print_table("masking on cloud_labels_6band (evaluation only; ukis-csmask's own test tile)", rows, cols)
    print(f"\nsaved {save_json('masking', {'rows': rows})}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
