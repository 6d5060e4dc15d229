"""Image-quality metrics of a cloud-free prediction against a reference, over pixel subsets.

All functions take reflectance arrays ``(bands, height, width)`` (float, nominally 0..1) and a
boolean selection ``(height, width)`` of the pixels to score (nodata is always excluded by the
caller's selection; cloudy-only and clear-only subsets are selections too):

* **PSNR** (dB) with an explicit ``data_range`` (1.0 for reflectance 0..1), from torchmetrics,
  on the selected pixels; per band and over all bands (MSE pooled over bands).
* **SSIM** from torchmetrics' full SSIM map (Gaussian window 11 px, sigma 1.5, shrunk for tiny
  images), averaged over the selected pixels: on a subset the map is computed on the whole image
  and averaged over the subset. Unselected pixels are set equal in both images before the map is
  computed, so nodata does not leak into its neighbours' windows.
* **SAM** (degrees): mean spectral angle between predicted and reference pixel spectra
  (torchmetrics' per-pixel map, radians -> degrees); pixels with an all-zero spectrum are skipped.
* **MAE**, **RMSE** in reflectance units.
* **NDVI difference**: mean absolute difference of NDVI ``(B08 - B04) / (B08 + B04)``.

Each returns ``float('nan')`` on an empty selection.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torchmetrics.functional.image import (
    peak_signal_noise_ratio,
    spectral_angle_mapper,
    structural_similarity_index_measure,
)

DATA_RANGE = 1.0


def _check(pred: np.ndarray, ref: np.ndarray, sel: np.ndarray) -> None:
    if pred.shape != ref.shape or pred.ndim != 3 or sel.shape != pred.shape[1:]:
        raise ValueError(
            f"metrics need pred and ref (bands, h, w) of one shape and a (h, w) selection; got "
            f"{pred.shape}, {ref.shape}, {sel.shape}"
        )


def mae(pred: np.ndarray, ref: np.ndarray, sel: np.ndarray) -> float:
    """Mean absolute error over selected pixels and all bands."""
    _check(pred, ref, sel)
    if not sel.any():
        return math.nan
    return float(np.abs(pred[:, sel].astype(np.float64) - ref[:, sel]).mean())


def rmse(pred: np.ndarray, ref: np.ndarray, sel: np.ndarray) -> float:
    """Root mean squared error over selected pixels and all bands."""
    _check(pred, ref, sel)
    if not sel.any():
        return math.nan
    return float(np.sqrt(((pred[:, sel].astype(np.float64) - ref[:, sel]) ** 2).mean()))


def psnr(pred: np.ndarray, ref: np.ndarray, sel: np.ndarray, data_range: float = DATA_RANGE) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range**2 / MSE)`` (inf when identical)."""
    _check(pred, ref, sel)
    if not sel.any():
        return math.nan
    p = torch.from_numpy(np.ascontiguousarray(pred[:, sel], dtype=np.float64))
    r = torch.from_numpy(np.ascontiguousarray(ref[:, sel], dtype=np.float64))
    return float(peak_signal_noise_ratio(p, r, data_range=data_range))


def ssim_map(pred: np.ndarray, ref: np.ndarray, sel: np.ndarray, data_range: float = DATA_RANGE) -> np.ndarray:
    """Per-band SSIM map ``(bands, h, w)`` (torchmetrics, Gaussian 11 px / 1.5); see the module docstring."""
    _check(pred, ref, sel)
    p, r = pred.astype(np.float32), ref.astype(np.float32)
    p = np.where(sel[None], p, r)  # unselected pixels identical in both images
    p, r = np.nan_to_num(p), np.nan_to_num(r)
    side = min(sel.shape)
    kernel = 11 if side >= 11 else max(3, side - (1 - side % 2))
    if side < 3:
        raise ValueError(f"SSIM needs images of at least 3x3 pixels, got {sel.shape}")
    sigma = 1.5 * kernel / 11
    _, full = structural_similarity_index_measure(
        torch.from_numpy(p)[:, None],
        torch.from_numpy(r)[:, None],
        data_range=data_range,
        kernel_size=kernel,
        sigma=sigma,
        return_full_image=True,
    )
    return full[:, 0].numpy()


def ssim(pred: np.ndarray, ref: np.ndarray, sel: np.ndarray, data_range: float = DATA_RANGE) -> float:
    """Mean SSIM over the selected pixels and all bands."""
    if not sel.any():
        return math.nan
    return float(ssim_map(pred, ref, sel, data_range)[:, sel].mean())


def sam_map(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Spectral angle ``(h, w)`` in degrees; NaN where either spectrum is all zero."""
    p = torch.from_numpy(np.nan_to_num(pred.astype(np.float64)))[None]
    r = torch.from_numpy(np.nan_to_num(ref.astype(np.float64)))[None]
    angle = spectral_angle_mapper(p, r, reduction="none")[0].numpy()
    degenerate = (np.abs(pred).sum(0) == 0) | (np.abs(ref).sum(0) == 0)
    return np.where(degenerate, np.nan, np.degrees(angle))


def sam(pred: np.ndarray, ref: np.ndarray, sel: np.ndarray) -> float:
    """Mean spectral angle in degrees over the selected pixels (degenerate spectra skipped)."""
    _check(pred, ref, sel)
    if not sel.any():
        return math.nan
    values = sam_map(pred, ref)[sel]
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else math.nan


def ndvi(data: np.ndarray, bands: Sequence[str]) -> np.ndarray:
    """NDVI ``(h, w)`` from reflectance with bands B04 (red) and B08 (NIR); NaN where both are 0."""
    red, nir = data[list(bands).index("B04")].astype(np.float64), data[list(bands).index("B08")].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (nir - red) / (nir + red)


def ndvi_difference(pred: np.ndarray, ref: np.ndarray, bands: Sequence[str], sel: np.ndarray) -> float:
    """Mean absolute NDVI difference over the selected pixels (NaN without B04 and B08)."""
    if "B04" not in bands or "B08" not in bands or not sel.any():
        return math.nan
    diff = np.abs(ndvi(pred, bands) - ndvi(ref, bands))[sel]
    diff = diff[np.isfinite(diff)]
    return float(diff.mean()) if diff.size else math.nan


def subset_metrics(
    pred: np.ndarray,
    ref: np.ndarray,
    bands: Sequence[str],
    sel: np.ndarray,
    data_range: float = DATA_RANGE,
    smap: np.ndarray | None = None,
) -> dict:
    """``{"psnr", "ssim", "sam", "mae", "rmse", "per_band": {band: {"psnr", "ssim", "mae", "rmse"}}}``.

    ``smap``: an SSIM map ``(bands, h, w)`` computed once for the whole image (valid pixels) and
    averaged here over ``sel``; computed from ``sel`` when not given.
    """
    _check(pred, ref, sel)
    if not sel.any():
        smap = None
    elif smap is None:
        smap = ssim_map(pred, ref, sel, data_range)
    per_band = {}
    for i, band in enumerate(bands):
        p, r = pred[i : i + 1], ref[i : i + 1]
        per_band[band] = {
            "psnr": psnr(p, r, sel, data_range),
            "ssim": float(smap[i][sel].mean()) if smap is not None else math.nan,
            "mae": mae(p, r, sel),
            "rmse": rmse(p, r, sel),
        }
    return {
        "psnr": psnr(pred, ref, sel, data_range),
        "ssim": float(smap[:, sel].mean()) if smap is not None else math.nan,
        "sam": sam(pred, ref, sel),
        "mae": mae(pred, ref, sel),
        "rmse": rmse(pred, ref, sel),
        "per_band": per_band,
    }
