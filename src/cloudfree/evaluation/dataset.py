"""Data-set scoring: a folder of predictions against a folder of references (and masks), by name.

Files are matched by file name; a SEN12MS-CR cloudy-patch name matches its clear target
(``ROIs1868_summer_s2_cloudy_19_p30.tif`` <-> ``ROIs1868_summer_s2_19_p30.tif``), so predictions
named after their cloudy inputs score against the data set's ``s2`` folder directly. Each pair is
streamed by windows (:func:`cloudfree.evaluation.scoring.score_pair`). Outputs in ``out_dir``:

  per_image.csv   one row per image (file, or patch) and subset: psnr, ssim, sam, mae, rmse,
                  n_pixels, and <INDEX>_rmse/_bias/_r, severity_oa/_kappa/_burned_iou when asked
  summary.json    {"protocol", "scaling", "images", "mean": {...}, "std": {...}} (per-band values too)
  summary.csv     the mean and std rows of per_image.csv's columns

:func:`aggregate` also gives the single-pair summary when a file holds several patches.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from cloudfree.evaluation.scene import EvaluationInputError
from cloudfree.io.atomic import atomic_path

RASTER_SUFFIXES = (".tif", ".tiff")
_CLOUDY = re.compile(r"_s2_cloudy_", re.IGNORECASE)
METRIC_COLUMNS = ("psnr", "ssim", "sam", "mae", "rmse")


def match_key(name: str) -> str:
    """The name a file is matched by (SEN12MS-CR ``_s2_cloudy_`` -> ``_s2_``)."""
    return _CLOUDY.sub("_s2_", name)


def _rasters(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise EvaluationInputError(f"{folder}: not a folder")
    return {match_key(p.name): p for p in sorted(folder.iterdir()) if p.suffix.lower() in RASTER_SUFFIXES}


def match_files(
    pred_dir: str | os.PathLike[str], ref_dir: str | os.PathLike[str], mask_dir: str | os.PathLike[str] | None = None
) -> list[tuple[str, Path, Path, Path | None]]:
    """``[(name, prediction, reference, mask or None)]``; every prediction needs a reference (and mask)."""
    preds, refs = _rasters(Path(pred_dir)), _rasters(Path(ref_dir))
    masks = _rasters(Path(mask_dir)) if mask_dir is not None else None
    if not preds:
        raise EvaluationInputError(f"{pred_dir}: no .tif prediction files")
    for what, found in (("reference", refs), ("mask", masks)):
        if found is None:
            continue
        missing = [preds[k].name for k in preds if k not in found]
        if missing:
            folder = ref_dir if what == "reference" else mask_dir
            raise EvaluationInputError(
                f"{folder} has no {what} for {len(missing)} of {len(preds)} predictions "
                f"(e.g. {', '.join(missing[:3])}); files are matched by name"
            )
    return [(preds[k].name, preds[k], refs[k], masks[k] if masks is not None else None) for k in preds]


def flatten(tree: dict, prefix: str = "") -> dict[str, float]:  # ints stay ints
    """Numeric leaves of a nested result as ``{"all.psnr": v, "indices.NDVI.all.r": v, ...}``."""
    out: dict[str, float] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, path + "."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[path] = value
    return out


def _unflatten(flat: dict[str, float]) -> dict:
    out: dict = {}
    for path, value in flat.items():
        node = out
        *parents, leaf = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return out


def _stat(values: list[float], fn) -> float:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return math.nan
    if any(math.isinf(v) for v in finite):
        return math.inf if fn is np.mean else math.nan
    return float(fn(finite))


def aggregate(results: Iterable[dict]) -> dict:
    """``{"images": n, "mean": nested, "std": nested}`` over image results; NaN (empty) values are
    skipped, an infinite PSNR (identical image) makes the mean infinite; pixel counts are summed."""
    results = list(results)
    flats = [flatten({k: v for k, v in r.items() if k not in ("image", "window")}) for r in results]
    keys = list(dict.fromkeys(k for f in flats for k in f))
    mean, std = {}, {}
    for key in keys:
        values = [f[key] for f in flats if key in f]
        counts = key.startswith("pixels.") or key.endswith("n_pixels")
        mean[key] = int(sum(values)) if counts else _stat(values, np.mean)
        if not counts:
            std[key] = _stat(values, np.std)
    return {"images": len(results), "mean": _unflatten(mean), "std": _unflatten(std)}


def _row_columns(result: dict) -> list[str]:
    cols = []
    for subset in result.get("pixels", {}):
        cols += [f"{subset}.{m}" for m in METRIC_COLUMNS] + [f"pixels.{subset}"]
    for idx, by in result.get("indices", {}).items():
        cols += [f"indices.{idx}.{s}.{m}" for s in by for m in ("rmse", "bias", "r")]
    for s in result.get("severity", {}):
        cols += [f"severity.{s}.{m}" for m in ("overall_accuracy", "kappa", "burned_iou")]
    return cols


def write_dataset_report(results: list[dict], summary: dict, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write per_image.csv, summary.csv (mean and std rows) and summary.json into ``out_dir``."""
    import json

    from cloudfree.evaluation.report import clean

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    columns = _row_columns(results[0]) if results else []
    header = ["image", "window", *columns]
    with atomic_path(out / "per_image.csv") as tmp, tmp.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for r in results:
            flat = flatten(r)
            writer.writerow([r["image"], " ".join(map(str, r["window"])), *[flat.get(c, "") for c in columns]])
    mean, std = flatten(summary["mean"]), flatten(summary["std"])
    with atomic_path(out / "summary.csv") as tmp, tmp.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["statistic", "images", *columns])
        writer.writerow(["mean", summary["images"], *[mean.get(c, "") for c in columns]])
        writer.writerow(["std", summary["images"], *[std.get(c, "") for c in columns]])
    with atomic_path(out / "summary.json") as tmp:
        tmp.write_text(json.dumps(clean(summary), indent=2))
    return [out / "per_image.csv", out / "summary.csv", out / "summary.json"]
