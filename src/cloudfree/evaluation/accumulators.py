"""Metrics accumulated window by window, so a scene is scored without holding it whole.

* :class:`ImageMetrics`: PSNR, SSIM, SAM, MAE, RMSE over one pixel subset of one image, overall
  and per band, from sums over windows. The values equal those of :mod:`cloudfree.metrics` on the
  whole image (pooled MSE for PSNR; SSIM and SAM maps from torchmetrics, the SSIM map computed on
  halo windows so that each scored pixel sees the same neighbours as in a whole-image map).
* :class:`IndexAgreement`: RMSE, bias (prediction - reference) and Pearson r (torchmetrics,
  streaming) of one spectral index between prediction and reference.
* :class:`SeverityAgreement`: overall accuracy, Cohen's kappa and IoU of the burned classes between
  two burn-severity maps (torchmetrics classification metrics, streaming confusion matrices).

Every ``result()`` returns plain floats (NaN where undefined, e.g. on an empty subset).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torchmetrics.classification import (
    BinaryJaccardIndex,
    MulticlassAccuracy,
    MulticlassCohenKappa,
    MulticlassJaccardIndex,
)
from torchmetrics.regression import PearsonCorrCoef

from cloudfree import metrics
from cloudfree.evaluation.burn import BURNED, CLASS_NAMES

DATA_RANGE = 1.0


def _psnr(mse: float) -> float:
    if math.isnan(mse):
        return math.nan
    return math.inf if mse == 0 else 10.0 * math.log10(DATA_RANGE**2 / mse)


class ImageMetrics:
    """Sums for one subset of one image over ``bands``; :meth:`add` per window, :meth:`result` at the end."""

    def __init__(self, bands: Sequence[str]) -> None:
        self.bands = tuple(bands)
        nb = len(self.bands)
        self.n = 0
        self.abs = np.zeros(nb)
        self.sq = np.zeros(nb)
        self.ssim = np.zeros(nb)
        self.sam_sum = 0.0
        self.sam_n = 0

    def add(self, pred: np.ndarray, ref: np.ndarray, sel: np.ndarray, ssim: np.ndarray, sam: np.ndarray) -> None:
        """Add the pixels ``sel`` ``(h, w)`` of a window: values ``(bands, h, w)``, SSIM map ``(bands, h, w)``,
        SAM map ``(h, w)`` in degrees (NaN for degenerate spectra, skipped)."""
        if not sel.any():
            return
        diff = pred[:, sel].astype(np.float64) - ref[:, sel]
        self.n += int(sel.sum())
        self.abs += np.abs(diff).sum(1)
        self.sq += (diff**2).sum(1)
        self.ssim += ssim[:, sel].astype(np.float64).sum(1)
        angles = sam[sel]
        angles = angles[np.isfinite(angles)]
        self.sam_sum += float(angles.sum())
        self.sam_n += int(angles.size)

    def result(self) -> dict:
        """``{"psnr", "ssim", "sam", "mae", "rmse", "per_band": {band: {"psnr", "ssim", "mae", "rmse"}}}``."""
        if self.n == 0:
            nan = {"psnr": math.nan, "ssim": math.nan, "mae": math.nan, "rmse": math.nan}
            return {**nan, "sam": math.nan, "per_band": {b: dict(nan) for b in self.bands}}
        n, nb = self.n, len(self.bands)
        mse = float(self.sq.sum() / (n * nb))
        per_band = {
            b: {
                "psnr": _psnr(float(self.sq[i] / n)),
                "ssim": float(self.ssim[i] / n),
                "mae": float(self.abs[i] / n),
                "rmse": math.sqrt(self.sq[i] / n),
            }
            for i, b in enumerate(self.bands)
        }
        return {
            "psnr": _psnr(mse),
            "ssim": float(self.ssim.sum() / (n * nb)),
            "sam": self.sam_sum / self.sam_n if self.sam_n else math.nan,
            "mae": float(self.abs.sum() / (n * nb)),
            "rmse": math.sqrt(mse),
            "per_band": per_band,
        }


def window_maps(pred: np.ndarray, ref: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SSIM map ``(bands, h, w)`` and SAM map ``(h, w)`` (degrees) of one (halo) window."""
    p, r = np.nan_to_num(pred), np.nan_to_num(ref)
    smap = metrics.ssim_map(p, r, valid) if valid.any() else np.zeros(pred.shape, np.float32)
    return smap, metrics.sam_map(p, r)


class IndexAgreement:
    """Agreement of one index between prediction and reference over one subset (streaming)."""

    def __init__(self) -> None:
        self.n = 0
        self.diff = 0.0
        self.abs = 0.0
        self.sq = 0.0
        self.pearson = PearsonCorrCoef().set_dtype(torch.float64)

    def add(self, pred: np.ndarray, ref: np.ndarray, sel: np.ndarray) -> None:
        """``pred``, ``ref``: index values ``(h, w)``; pixels where either is NaN are skipped."""
        keep = sel & np.isfinite(pred) & np.isfinite(ref)
        if not keep.any():
            return
        p, r = pred[keep].astype(np.float64), ref[keep].astype(np.float64)
        self.n += p.size
        self.diff += float((p - r).sum())
        self.abs += float(np.abs(p - r).sum())
        self.sq += float(((p - r) ** 2).sum())
        self.pearson.update(torch.from_numpy(p), torch.from_numpy(r))

    def result(self) -> dict:
        """``{"rmse", "bias", "r", "mae", "n_pixels"}``; bias is mean(prediction - reference)."""
        if self.n == 0:
            return {"rmse": math.nan, "bias": math.nan, "r": math.nan, "mae": math.nan, "n_pixels": 0}
        r = float(self.pearson.compute()) if self.n > 1 else math.nan
        rmse = math.sqrt(self.sq / self.n)
        return {"rmse": rmse, "bias": self.diff / self.n, "r": r, "mae": self.abs / self.n, "n_pixels": self.n}


class SeverityAgreement:
    """Agreement of two burn-severity maps (codes 1..7, 0 nodata skipped) over one subset."""

    def __init__(self) -> None:
        k = len(CLASS_NAMES)  # codes 0..7; 0 never enters
        self.n = 0
        self.accuracy = MulticlassAccuracy(num_classes=k, average="micro")
        self.kappa = MulticlassCohenKappa(num_classes=k)
        self.iou = MulticlassJaccardIndex(num_classes=k, average="none", zero_division=math.nan)
        self.burned = BinaryJaccardIndex(zero_division=math.nan)

    def add(self, pred: np.ndarray, ref: np.ndarray, sel: np.ndarray) -> None:
        """``pred``, ``ref``: uint8 class maps ``(h, w)`` from the prediction and the reference."""
        keep = sel & (pred > 0) & (ref > 0)
        if not keep.any():
            return
        p = torch.from_numpy(pred[keep].astype(np.int64))
        r = torch.from_numpy(ref[keep].astype(np.int64))
        self.n += int(p.numel())
        self.accuracy.update(p, r)
        self.kappa.update(p, r)
        self.iou.update(p, r)
        burned = torch.tensor(BURNED)
        self.burned.update(torch.isin(p, burned).long(), torch.isin(r, burned).long())

    def result(self) -> dict:
        """``{"overall_accuracy", "kappa", "burned_iou", "iou": {class name: IoU}, "n_pixels"}``."""
        if self.n == 0:
            iou = {CLASS_NAMES[c]: math.nan for c in BURNED}
            return {"overall_accuracy": math.nan, "kappa": math.nan, "burned_iou": math.nan, "iou": iou, "n_pixels": 0}
        per_class = self.iou.compute().tolist()
        return {
            "overall_accuracy": float(self.accuracy.compute()),
            "kappa": float(self.kappa.compute()),
            "burned_iou": float(self.burned.compute()),
            "iou": {CLASS_NAMES[c]: float(per_class[c]) for c in BURNED},
            "n_pixels": self.n,
        }
