"""Held-out evaluation of the default models on real scenes they never saw in training.

The held-out data are real clear Sentinel-2 scenes (or windows of them) that the default-model
configs exclude from training: the spyndex sample scene, the bottom rows of the Sen1Floods11 chip
and of the Slovenia series, and one BigEarthNet patch. Clouds and shadows are simulated on them
(seeded), so the truth under every cloud is known. Removal models run through the real
``cloudfree remove`` path with the true mask (so the figures measure removal, not masking) and are
compared with the no-change baseline (the cloudy input). Mask models are scored on the simulated
masks and on the independent real labels of ``cloud_labels_6band`` (evaluation only, never training).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.windows import Window

from cloudfree.data.synthetic_clouds import CloudSimulator
from cloudfree.evaluation.report import evaluate_rasters
from cloudfree.io import read_mask, read_raster, write_mask, write_raster
from cloudfree.io.open import open_raster
from cloudfree.raster import Raster

SUBSET_KEYS = ("psnr", "ssim", "sam", "mae", "rmse")


def default_data_root() -> Path:
    """``$CLOUDFREE_SAMPLE_DATA`` or ``../shared/data`` from the current directory."""
    return Path(os.environ.get("CLOUDFREE_SAMPLE_DATA", Path.cwd() / ".." / "shared" / "data")).resolve()


@dataclass(frozen=True)
class HeldOutScene:
    """A clear scene (or window) excluded from default-model training."""

    name: str
    load: Callable[[Path], Raster]
    note: str


def _window(rel: str, row: int, col: int, height: int, width: int) -> Callable[[Path], Raster]:
    return lambda root: open_raster(root / rel).window(Window(col, row, width, height))


def _spyndex(_: Path) -> Raster:
    from cloudfree.demo import spyndex_scene

    return spyndex_scene()


HELD_OUT: tuple[HeldOutScene, ...] = (
    HeldOutScene("spyndex", _spyndex, "spyndex sample scene, 300x300 px, B02-B08 (L2A-like DN)"),
    HeldOutScene(
        "sen1floods11_bottom",
        _window("sen1floods11_spain/Spain_7370579_S2Hand.tif", 384, 0, 128, 512),
        "Sen1Floods11 chip rows 384-511 (L1C, 13 bands)",
    ),
    HeldOutScene(
        "slovenia_0830_bottom",
        _window("slovenia_timeseries_l1c/S2_L1C_2015-08-30.tif", 64, 0, 37, 100),
        "Slovenia 2015-08-30 rows 64-100 (L1C, 13 bands)",
    ),
    HeldOutScene(
        "bigearthnet_4_55",
        lambda root: open_raster(root / "bigearthnet_examples/BigEarthNet-S2-Example/S2A_MSIL2A_20170617T113321_4_55"),
        "BigEarthNet patch S2A_MSIL2A_20170617T113321_4_55 (L2A, 12 bands)",
    ),
)


def simulated_cases(
    bands: tuple[str, ...], seeds: int, data_root: Path | None = None
) -> list[tuple[str, int, Raster, Raster, np.ndarray]]:
    """``(scene, seed, clear, cloudy, true mask)`` for every held-out scene holding ``bands``."""
    root = data_root or default_data_root()
    cases = []
    for scene in HELD_OUT:
        raster = scene.load(root)
        if not all(b in raster.bands for b in bands):
            continue
        raster = raster.select(bands)
        for seed in range(seeds):
            simulator = CloudSimulator(coverage=(0.2, 0.5), thin_fraction=(0.2, 0.4))
            cloudy, mask, _ = simulator.simulate_raster(raster, rng=1000 + seed)
            mask = np.where(raster.valid, mask, 255).astype(np.uint8)
            cases.append((scene.name, seed, raster, cloudy, mask))
    return cases


def _subset(result: dict[str, Any], subset: str) -> dict[str, float]:
    return {k: float(result[subset][k]) for k in SUBSET_KEYS}


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]} if rows else {}


def evaluate_removal_model(
    release: str | os.PathLike[str], *, device: str = "cpu", seeds: int = 3, data_root: Path | None = None
) -> dict[str, Any]:
    """Cloudy-pixel and all-pixel metrics of a removal release and of the cloudy input, per held-out scene."""
    from cloudfree.inference.removal import remove
    from cloudfree.models.release import load_release

    _, config = load_release(release)
    per_scene: dict[str, dict[str, list]] = {}
    with tempfile.TemporaryDirectory(prefix="cloudfree-holdout-") as tmp:
        for scene, seed, clear, cloudy, mask in simulated_cases(config.in_bands, seeds, data_root):
            base = Path(tmp) / f"{scene}_{seed}"
            write_raster(cloudy, f"{base}_cloudy.tif", cog=False)
            write_mask(mask, clear, f"{base}_mask.tif", cog=False)
            remove(f"{base}_cloudy.tif", f"{base}_out.tif", model=release, mask=f"{base}_mask.tif", device=device,
                   progress=False)  # fmt: skip
            result = evaluate_rasters(read_raster(f"{base}_out.tif"), clear, mask=mask)
            baseline = evaluate_rasters(cloudy, clear, mask=mask)
            rows = per_scene.setdefault(scene, {"model_cloudy": [], "input_cloudy": [], "model_all": [], "cover": []})
            rows["model_cloudy"].append(_subset(result, "cloudy"))
            rows["input_cloudy"].append(_subset(baseline, "cloudy"))
            rows["model_all"].append(_subset(result, "all"))
            rows["cover"].append(float(result["pixels"]["cloudy"] / max(result["pixels"]["all"], 1)))
    out: dict[str, Any] = {"model": config.name, "bands": list(config.in_bands), "seeds": seeds, "scenes": {}}
    for scene, rows in per_scene.items():
        out["scenes"][scene] = {
            "note": next(s.note for s in HELD_OUT if s.name == scene),
            "cloud_cover": float(np.mean(rows["cover"])),
            "cloudy_pixels": {"model": _mean(rows["model_cloudy"]), "cloudy_input": _mean(rows["input_cloudy"])},
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
