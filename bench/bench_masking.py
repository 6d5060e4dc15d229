"""Cloud and shadow masking: accuracy on an independent labelled tile, and scene throughput.

Accuracy: IoU and F1 of cloud (thick + thin) and of cloud shadow, and 3-class pixel accuracy, on
``../shared/data/cloud_labels_6band`` (B02, B03, B04, B08, B11, B12 reflectance, ~30 m; labels 0
clear, 1 cloud, 2 shadow) for each method that can run there:

* the own U-Net: ``--model DIR`` (a release), else the packaged ``default-mask``, else a small one
  trained here for ``--train-minutes`` on synthetic clouds over the real clear scenes of
  ``../shared/data`` (Sen1Floods11, the clear Slovenia dates, BigEarthNet patches; the 10 m scenes
  also block-averaged to 30 m) -- never on the evaluation tile;
* ukis-csmask, when installed (``pip install cloudfree[csmask]`` + ``ukis-csmask[cpu]``); note that
  the evaluation labels come from ukis-csmask's own test files, so its figure is not independent;
* s2cloudless cannot run on the tile: it needs B01, B05, B8A, B09 and B10 too.

Throughput: megapixels per second of the U-Net (streaming tiles) and of s2cloudless (windows with
a halo) on the Madagascar L1C scene (856 x 512 px, 13 bands), files in and out.

    python bench/bench_masking.py [--quick] [--model DIR] [--train-minutes 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import print_table, save_json  # noqa: E402

DATA = (HERE.parent / ".." / "shared" / "data").resolve()
EVAL_BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")
CLEAR_SCENES = (
    "sen1floods11_spain/Spain_7370579_S2Hand.tif",
    "slovenia_timeseries_l1c/S2_L1C_2015-07-11.tif",
    "slovenia_timeseries_l1c/S2_L1C_2015-08-30.tif",
    "slovenia_timeseries_l1c/S2_L1C_2015-09-09.tif",
)


def clear_rasters() -> list:
    """Real clear training scenes with the evaluation bands, reflectance; 10 m scenes also at 30 m."""
    from cloudfree.io.open import open_raster

    rasters = [open_raster(DATA / p).select(EVAL_BANDS).to_reflectance() for p in CLEAR_SCENES]
    rasters += [
        open_raster(p).select(EVAL_BANDS).to_reflectance()
        for p in sorted((DATA / "bigearthnet_examples/BigEarthNet-S2-Example").iterdir())
        if p.is_dir()
    ]
    coarse = []
    for r in rasters[:1]:  # Sen1Floods11, 512 px at 10 m -> 170 px at 30 m
        h, w = (r.height // 3) * 3, (r.width // 3) * 3
        coarse.append(r.data[:, :h, :w].reshape(r.count, h // 3, 3, w // 3, 3).mean(axis=(2, 4)))
    return [r.data for r in rasters] + coarse


class SyntheticLabelled(torch.utils.data.Dataset):
    """Random crops of clear scenes with simulated clouds: ``image`` reflectance and ``labels`` codes."""

    def __init__(self, arrays: list[np.ndarray], patch: int, length: int, seed: int) -> None:
        from cloudfree.data.synthetic_clouds import CloudSimulator

        self.arrays = [a for a in arrays if min(a.shape[1:]) >= patch]
        self.patch, self.length, self.seed = patch, length, seed
        self.sim = CloudSimulator(
            coverage=(0.05, 0.7), thin_fraction=(0.1, 0.6), cloud_height_px=(3, 20), feature_px=(12, 96)
        )

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict:
        rng = np.random.default_rng([self.seed, i])
        a = self.arrays[int(rng.integers(len(self.arrays)))]
        r, c = (int(rng.integers(s - self.patch + 1)) for s in a.shape[1:])
        clear = a[:, r : r + self.patch, c : c + self.patch]
        k = int(rng.integers(8))
        clear = np.ascontiguousarray(np.rot90(clear, k % 4, axes=(1, 2))[:, :, :: (-1 if k >= 4 else 1)])
        cloudy, codes = self.sim(clear, EVAL_BANDS, rng)
        return {"image": torch.from_numpy(cloudy), "labels": torch.from_numpy(codes.astype(np.int64))}


def train_quick_model(minutes: float, out_dir: Path) -> Path:
    """Train a small 6-band U-Net on synthetic clouds for ``minutes``; returns its release folder."""
    import lightning as L

    from cloudfree.models.release import save_release
    from cloudfree.tasks.segmentation import SegmentationTask

    L.seed_everything(0)
    arrays = clear_rasters()
    task = SegmentationTask(EVAL_BANDS, encoder_name="mobilenet_v2", encoder_depth=4, lr=2e-3, lr_policy="constant")
    loader = torch.utils.data.DataLoader(SyntheticLabelled(arrays, 96, 100_000, 0), batch_size=16, num_workers=0)
    trainer = L.Trainer(
        max_time={"minutes": minutes},
        max_steps=100_000,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=False,
        accelerator="auto",
        devices=1,
        limit_val_batches=0,
    )
    t0 = time.perf_counter()
    trainer.fit(task, loader)
    print(
        f"trained a 6-band U-Net (mobilenet_v2) for {time.perf_counter() - t0:.0f} s, {trainer.global_step} steps, "
        f"on synthetic clouds over {len(arrays)} real clear scenes (not on the evaluation tile)",
        file=sys.stderr,
    )
    return save_release(task.predictor(), task.release_config("bench-quick-mask"), out_dir / "quick-mask")


def scores(pred: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Cloud and shadow IoU / F1 and 3-class pixel accuracy; ``pred`` in mask codes, ``labels`` 0/1/2."""
    from torchmetrics.functional.classification import binary_f1_score, binary_jaccard_index

    valid = pred != 255
    p, t = torch.from_numpy(pred[valid].astype(np.int64)), torch.from_numpy(labels[valid].astype(np.int64))
    out = {}
    for name, pred_is, label_is in (("cloud", (p == 1) | (p == 2), t == 1), ("shadow", p == 3, t == 2)):
        out[f"{name}_iou"] = float(binary_jaccard_index(pred_is.long(), label_is.long()))
        out[f"{name}_f1"] = float(binary_f1_score(pred_is.long(), label_is.long()))
    as3 = torch.where((p == 1) | (p == 2), 1, torch.where(p == 3, 2, 0))
    out["pixel_acc"] = float((as3 == t).float().mean())
    out["valid_fraction"] = float(valid.mean())
    return out


def ukis_csmask_mask(tile) -> np.ndarray:
    from ukis_csmask.mask import CSmask

    img = np.moveaxis(tile.data.astype(np.float32), 0, -1)
    result = CSmask(
        img=img, band_order=["blue", "green", "red", "nir", "swir16", "swir22"], product_level="l1c", nodata_value=0
    )
    csm = np.asarray(result.csm).reshape(tile.height, tile.width)
    mask = np.choose(np.clip(csm, 0, 2), [0, 1, 3]).astype(np.uint8)  # 0 background, 1 cloud, 2 shadow
    mask[~tile.valid] = 255  # (result.valid is "clear and usable": it excludes buffered clouds and shadows)
    return mask


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="train the fallback U-Net for 0.5 minutes")
    parser.add_argument("--model", help="U-Net release directory (default: packaged default-mask, else train one)")
    parser.add_argument("--train-minutes", type=float, default=3.0, help="training time of the fallback U-Net")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 on a shared, busy CPU)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from cloudfree.io import read_mask, read_raster
    from cloudfree.masking.predict import MaskModel, default_mask_available, mask_scene, s2cloudless_scene

    tile = read_raster(DATA / "cloud_labels_6band/S2_6band_reflectance.tif")
    labels = read_mask(DATA / "cloud_labels_6band/labels.tif")
    rows, notes = [], []
    with tempfile.TemporaryDirectory(prefix="bench-masking-") as tmp:
        model = args.model or ("default-mask" if default_mask_available() else None)
        source = f"release {model}"
        if model is None:
            minutes = 0.5 if args.quick else args.train_minutes
            model = str(train_quick_model(minutes, Path(tmp)))
            source = f"trained here for {minutes:g} min on synthetic clouds over real clear scenes"
        runner = MaskModel.load(model)
        t0 = time.perf_counter()
        pred = runner.predict_raster(tile.select(runner.in_bands), tile=256, overlap=32)
        rows.append(
            {
                "method": "unet",
                "dataset": "cloud_labels_6band",
                **scores(pred, labels),
                "seconds": time.perf_counter() - t0,
            }
        )
        notes.append(f"unet: {source}; bands {','.join(runner.in_bands)}")
        try:
            t0 = time.perf_counter()
            pred = ukis_csmask_mask(tile)
            rows.append(
                {
                    "method": "ukis-csmask",
                    "dataset": "cloud_labels_6band",
                    **scores(pred, labels),
                    "seconds": time.perf_counter() - t0,
                }
            )
            notes.append("ukis-csmask: the evaluation labels come from its own test files (not independent)")
        except ImportError as exc:
            notes.append(f"ukis-csmask: not installed ({str(exc).splitlines()[0]})")
        notes.append("s2cloudless: cannot run on cloud_labels_6band (needs B01,B02,B04,B05,B08,B8A,B09,B10,B11,B12)")

        scene = DATA / "madagascar_cloudy_l1c/S2_L1C_cloudy.tif"
        unet = mask_scene(scene, Path(tmp) / "unet.tif", model=model, tile=256, overlap=32, progress=False)
        s2c = s2cloudless_scene(scene, Path(tmp) / "s2c.tif", progress=False)
        for name, summary in (("unet", unet), ("s2cloudless", s2c)):
            rows.append(
                {
                    "method": name,
                    "dataset": "madagascar_l1c",
                    "megapixels_per_second": summary.megapixels_per_second,
                    "seconds": summary.seconds,
                    "cloud_fraction": summary.cloud_fraction,
                }
            )

    print_table(
        "Cloud / shadow masking on cloud_labels_6band (512 x 512, independent labels)",
        [r for r in rows if r["dataset"] == "cloud_labels_6band"],
        ["method", "cloud_iou", "cloud_f1", "shadow_iou", "shadow_f1", "pixel_acc", "seconds"],
    )
    print_table(
        "Masking throughput, Madagascar L1C scene (856 x 512 px, 13 bands, files in and out)",
        [r for r in rows if r["dataset"] == "madagascar_l1c"],
        ["method", "megapixels_per_second", "seconds", "cloud_fraction"],
    )
    for note in notes:
        print(f"  note: {note}")
    path = save_json("masking", {"rows": rows, "notes": notes})
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
