"""Held-out evaluation of the default models on real windows they never saw in training.

The held-out windows are :data:`cloudfree.data.holdout.HELD_OUT`, the one list that the configs
and training exclude too (the bottom of the spyndex scene, of the Sen1Floods11 chip and of the
Slovenia series, a BigEarthNet patch, a clear part of the Madagascar scene). Realistic clouds and
shadows (cumulus, stratus or haze, :mod:`cloudfree.data.cloud_fields`) are simulated on them,
seeded, so the truth under every cloud is known. Removal models run through the real
``cloudfree remove`` path with the true mask (so the figures measure removal, not masking) and are
compared with the no-change baseline (the cloudy input) and scikit-image's biharmonic inpainting
(:mod:`cloudfree.evaluation.baselines`). Mask models are scored on the simulated masks and on the
independent real labels of ``cloud_labels_6band`` (evaluation only, never training).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from cloudfree.data.holdout import HELD_OUT, load_held_out
from cloudfree.data.holdout import data_root as shared_data_root
from cloudfree.data.synthetic_clouds import CloudSimulator
from cloudfree.evaluation.report import evaluate_rasters
from cloudfree.io import read_mask, read_raster, write_mask, write_raster
from cloudfree.io.atomic import temp_directory
from cloudfree.raster import Raster

SUBSET_KEYS = ("psnr", "ssim", "sam", "mae", "rmse")
HELD_OUT_SIMULATOR = CloudSimulator(cloud_type="mixed", coverage=(0.2, 0.6), thin_fraction=(0.1, 0.5))
SEED_BASE = 1000


def default_data_root() -> Path:
    """``$CLOUDFREE_SAMPLE_DATA`` or ``../shared/data`` from the current directory."""
    return shared_data_root()


def simulated_cases(
    bands: tuple[str, ...], seeds: int, data_root: Path | None = None
) -> list[tuple[str, int, Raster, Raster, np.ndarray]]:
    """``(window name, seed, clear, cloudy, true mask)`` for every held-out window holding ``bands``."""
    cases = []
    for item in HELD_OUT:
        raster = load_held_out(item, data_root)
        if not all(b in raster.bands for b in bands):
            continue
        raster = raster.select(bands)
        for seed in range(seeds):
            cloudy, mask, _ = HELD_OUT_SIMULATOR.simulate_raster(raster, rng=SEED_BASE + seed)
            mask = np.where(raster.valid, mask, 255).astype(np.uint8)
            cases.append((item.name, seed, raster, cloudy, mask))
    return cases


def _subset(result: dict[str, Any], subset: str) -> dict[str, float]:
    return {k: float(result[subset][k]) for k in SUBSET_KEYS}


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]} if rows else {}


def evaluate_removal_model(
    release: str | os.PathLike[str], *, device: str = "cpu", seeds: int = 3, data_root: Path | None = None
) -> dict[str, Any]:
    """Cloudy-pixel and all-pixel metrics of a removal release and of the cloudy input, per held-out scene."""
    from cloudfree.evaluation.baselines import biharmonic_fill
    from cloudfree.inference.removal import remove
    from cloudfree.models.release import load_release

    _, config = load_release(release)
    per_scene: dict[str, dict[str, list]] = {}
    with temp_directory("holdout") as tmp:
        for scene, seed, clear, cloudy, mask in simulated_cases(config.in_bands, seeds, data_root):
            base = Path(tmp) / f"{scene}_{seed}"
            write_raster(cloudy, f"{base}_cloudy.tif", cog=False)
            write_mask(mask, clear, f"{base}_mask.tif", cog=False)
            remove(f"{base}_cloudy.tif", f"{base}_out.tif", model=release, mask=f"{base}_mask.tif", device=device,
                   progress=False)  # fmt: skip
            result = evaluate_rasters(read_raster(f"{base}_out.tif"), clear, mask=mask)
            baseline = evaluate_rasters(cloudy, clear, mask=mask)
            refl = cloudy.to_reflectance()
            bih = evaluate_rasters(refl.with_data(biharmonic_fill(refl.data, mask)), clear, mask=mask)
            rows = per_scene.setdefault(
                scene, {"model_cloudy": [], "input_cloudy": [], "biharmonic_cloudy": [], "model_all": [], "cover": []}
            )
            rows["model_cloudy"].append(_subset(result, "cloudy"))
            rows["input_cloudy"].append(_subset(baseline, "cloudy"))
            rows["biharmonic_cloudy"].append(_subset(bih, "cloudy"))
            rows["model_all"].append(_subset(result, "all"))
            rows["cover"].append(float(result["pixels"]["cloudy"] / max(result["pixels"]["all"], 1)))
    out: dict[str, Any] = {
        "model": config.name, "bands": list(config.in_bands), "seeds": seeds,
        "simulator": HELD_OUT_SIMULATOR.describe(), "scenes": {},
    }  # fmt: skip
    for scene, rows in per_scene.items():
        out["scenes"][scene] = {
            "note": next(s.note for s in HELD_OUT if s.name == scene),
            "cloud_cover": float(np.mean(rows["cover"])),
            "cloudy_pixels": {
                "model": _mean(rows["model_cloudy"]),
                "cloudy_input": _mean(rows["input_cloudy"]),
                "biharmonic": _mean(rows["biharmonic_cloudy"]),
            },
            "all_pixels": {"model": _mean(rows["model_all"])},
        }
    return out


def _scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    tp, fp, fn = float((pred & truth).sum()), float((pred & ~truth).sum()), float((~pred & truth).sum())
    return {"iou": tp / max(tp + fp + fn, 1.0), "f1": 2 * tp / max(2 * tp + fp + fn, 1.0)}


def real_label_scores(release: str | os.PathLike[str], device: str = "cpu", data_root: Path | None = None) -> dict:
    """Cloud and shadow IoU/F1 of a mask release on ``cloud_labels_6band`` (0 clear, 1 cloud, 2 shadow)."""
    from cloudfree.masking.predict import mask_raster

    root = data_root or default_data_root()
    folder = root / "cloud_labels_6band"
    image = read_raster(folder / "S2_6band_reflectance.tif")
    labels = read_mask(folder / "labels.tif")
    codes = mask_raster(image.select(("B02", "B03", "B04", "B08")), "unet", release, device)
    valid = image.valid & (codes != 255)
    cloud = _scores(np.isin(codes, (1, 2))[valid], (labels == 1)[valid])
    shadow = _scores((codes == 3)[valid], (labels == 2)[valid])
    accuracy = float((np.select([np.isin(codes, (1, 2)), codes == 3], [1, 2], 0) == labels)[valid].mean())
    return {"cloud": cloud, "shadow": shadow, "pixel_accuracy": accuracy}


def evaluate_mask_model(
    release: str | os.PathLike[str], *, device: str = "cpu", seeds: int = 3, data_root: Path | None = None
) -> dict[str, Any]:
    """Mask scores on simulated clouds over held-out scenes and on the real labelled tile."""
    from cloudfree.masking.predict import mask_raster
    from cloudfree.models.release import load_release

    _, config = load_release(release)
    per_scene: dict[str, list[dict[str, float]]] = {}
    for scene, _seed, _clear, cloudy, truth in simulated_cases(config.in_bands, seeds, data_root):
        codes = mask_raster(cloudy, "unet", release, device)
        valid = truth != 255
        row = {}
        for label, pred_codes, true_codes in (
            ("cloud", (1, 2), (1, 2)),
            ("shadow", (3,), (3,)),
            ("any", (1, 2, 3), (1, 2, 3)),
        ):
            scores = _scores(np.isin(codes, pred_codes)[valid], np.isin(truth, true_codes)[valid])
            row.update({f"{label}_{k}": v for k, v in scores.items()})
        per_scene.setdefault(scene, []).append(row)
    return {
        "model": config.name,
        "bands": list(config.in_bands),
        "seeds": seeds,
        "simulated": {scene: _mean(rows) for scene, rows in per_scene.items()},
        "real_labels_cloud_labels_6band": real_label_scores(release, device, data_root),
    }
