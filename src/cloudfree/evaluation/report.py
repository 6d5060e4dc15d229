"""The evaluation report: :func:`evaluate_rasters` -> metrics dict, written as ``metrics.json`` + CSV.

``metrics.json`` has exactly this shape (``cloudy`` and ``clear`` only when a mask is given)::

    {"all":    {"psnr": .., "ssim": .., "sam": .., "mae": .., "rmse": ..,
                "per_band": {"B02": {"psnr": .., "ssim": .., "mae": .., "rmse": ..}, ...}},
     "cloudy": {...}, "clear": {...},
     "ndvi_diff": {"all": .., "cloudy": .., "clear": ..},   # when both rasters have B04 and B08
     "scaling": "reflectance = (DN + offset) / 10000, data_range 1.0 ..."}

Non-finite values (PSNR of identical images, empty subsets) are written as ``null``.
``metrics.csv`` holds one row per (subset, band) with the pixel count. The ``sen12mscr`` protocol
scores DN clipped to 0..10000 and divided by 10000 (:func:`cloudfree.radiometry.clip_sen12mscr`),
without the DN offset, as that benchmark does.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from cloudfree import metrics
from cloudfree.inference.composite import cloud_of
from cloudfree.io.atomic import atomic_path
from cloudfree.masks import NODATA
from cloudfree.radiometry import Radiometry, clip_sen12mscr
from cloudfree.raster import Raster

PROTOCOLS = ("reflectance", "sen12mscr")
SUBSETS = ("all", "cloudy", "clear")


def scaled(raster: Raster, protocol: str = "reflectance") -> np.ndarray:
    """Float reflectance ``(bands, h, w)`` under ``protocol`` (see the module docstring)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown evaluation protocol {protocol!r}; expected one of {PROTOCOLS}")
    if protocol == "sen12mscr":
        if raster.radiometry is Radiometry.DN:
            return clip_sen12mscr(raster.data)
        return np.clip(raster.to_reflectance().data, 0.0, 1.0)
    return raster.to_reflectance().data


def scaling_note(protocol: str) -> str:
    if protocol == "sen12mscr":
        return "SEN12MS-CR protocol: DN clipped to 0..10000 and divided by 10000 (no offset); data_range 1.0"
    return "reflectance = (DN + offset) / 10000 (float inputs used as reflectance), unclipped; data_range 1.0"


def evaluate_rasters(
    pred: Raster, ref: Raster, mask: np.ndarray | None = None, protocol: str = "reflectance"
) -> dict[str, Any]:
    """Metrics of ``pred`` against ``ref`` over all valid pixels and, with ``mask``, cloudy/clear ones.

    Args:
        pred, ref: rasters on one grid; scored on the bands both hold, in the reference's order.
        mask: ``(h, w)`` codes (1-3 cloud/shadow, 0 clear, 255 nodata) or binary 0/1.
        protocol: ``reflectance`` or ``sen12mscr``.

    Returns the ``metrics.json`` dict (module docstring), plus ``"pixels"`` counts per subset.
    """
    if (pred.height, pred.width) != (ref.height, ref.width):
        raise ValueError(f"{pred.source} is {pred.height}x{pred.width} but {ref.source} is {ref.height}x{ref.width}")
    if ref.crs is not None and pred.crs is not None and not pred.same_grid(ref):
        raise ValueError(f"{pred.source} and {ref.source} are not on the same grid (CRS or transform differ)")
    common = tuple(b for b in ref.bands if b in pred.bands)
    if not common:
        raise ValueError(f"{pred.source} ({list(pred.bands)}) and {ref.source} ({list(ref.bands)}) share no band")
    pred, ref = pred.select(common), ref.select(common)
    p, r = scaled(pred, protocol), scaled(ref, protocol)
    valid = pred.valid & ref.valid & np.isfinite(p).all(0) & np.isfinite(r).all(0)
    subsets = {"all": valid}
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != valid.shape:
            raise ValueError(f"mask {mask.shape} does not match the rasters {valid.shape}")
        cloudy = cloud_of(mask)
        subsets["cloudy"] = valid & cloudy
        subsets["clear"] = valid & ~cloudy & (mask != NODATA)
    smap = metrics.ssim_map(p, r, valid) if valid.any() else None  # one map, averaged over each subset
    result: dict[str, Any] = {
        name: metrics.subset_metrics(p, r, ref.bands, sel, smap=smap) for name, sel in subsets.items()
    }
    if "B04" in ref.bands and "B08" in ref.bands:
        result["ndvi_diff"] = {name: metrics.ndvi_difference(p, r, ref.bands, sel) for name, sel in subsets.items()}
    result["scaling"] = scaling_note(protocol)
    result["pixels"] = {name: int(sel.sum()) for name, sel in subsets.items()}
    return result


def clean(value: Any) -> Any:
    """``value`` with non-finite floats replaced by ``None`` (JSON ``null``), recursively."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


_clean = clean


def write_report(result: dict[str, Any], out_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``metrics.json`` (without the pixel counts) and ``metrics.csv`` into ``out_dir`` atomically.

    Every entry of ``result`` holding a ``per_band`` dict is a subset (``all``, ``cloudy``,
    ``clear``, ``target_clear``) and gets CSV rows, in that order.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    payload = {k: v for k, v in result.items() if k != "pixels"}
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(_clean(payload), indent=2))
    pixels = result.get("pixels", {})
    fields = ["subset", "band", "psnr", "ssim", "sam", "mae", "rmse", "ndvi_diff", "n_pixels"]
    with atomic_path(out / "metrics.csv") as tmp, tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for name in [k for k, v in result.items() if isinstance(v, dict) and "per_band" in v]:
            m = result[name]
            ndvi = result.get("ndvi_diff", {}).get(name, "")
            row = {"subset": name, "band": "all", **{k: m[k] for k in ("psnr", "ssim", "sam", "mae", "rmse")}}
            writer.writerow(row | {"ndvi_diff": ndvi, "n_pixels": pixels.get(name, "")})
            for band, bm in m["per_band"].items():
                writer.writerow({"subset": name, "band": band, **bm, "n_pixels": pixels.get(name, "")})
    return out / "metrics.json", out / "metrics.csv"
