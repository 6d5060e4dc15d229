"""PyTorch datasets of cloudy/clear training samples: from a chip store or one large pair.

Synthetic clouds over clear scenes: :mod:`cloudfree.data.synthetic_dataset` (same sample contract).

All three return dict samples exactly as docs/ARCHITECTURE.md fixes them: float32 tensors, values
NOT normalised (tasks normalise with the model's ``Normalization``):

* ``cloudy``, ``clear``: ``(C, H, W)`` reflectance 0..~1;
* ``mask``: ``(1, H, W)`` 1 where cloud (thick or thin) or shadow, 0 clear (when a mask is known);
* ``labels``: ``(H, W)`` int64 class codes (0 clear, 1 thick, 2 thin, 3 shadow, 255 ignored), beside
  ``mask`` whenever a mask is known (segmentation targets);
* ``sar``: ``(2, H, W)`` VV, VH in dB (when the pair has Sentinel-1);
* ``meta``: scene id, window ``(row, col, height, width)``, chip or source path, band names.

Invalid pixels (possible only when ``max_nodata > 0``) hold 0. Randomness (crop positions, synthetic
clouds, augmentation) comes from ``numpy.random.default_rng([seed, epoch, index])``: a sample is a
pure function of (seed, epoch, index), so resumed or distributed training sees the same data, and
:meth:`set_epoch` gives a new draw each epoch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from cloudfree import bands as bandcat
from cloudfree.data.pairing import AlignedPair
from cloudfree.io import read_mask, read_raster
from cloudfree.masks import NOT_CLEAR_CODES

# e.g. cloudfree.data.augment.PairedAugment: augment(sample, rng) -> sample
Augment = Callable[[dict[str, Any], np.random.Generator], dict[str, Any]]


def cloud_binary(codes: np.ndarray) -> np.ndarray:
    """Class codes ``(H, W)`` (0 clear, 1 thick, 2 thin, 3 shadow, 255 nodata) -> ``(1, H, W)`` float32 0/1."""
    return np.isin(codes, NOT_CLEAR_CODES).astype(np.float32)[None]


def class_labels(codes: np.ndarray, valid: np.ndarray | None = None) -> torch.Tensor:
    """Class codes ``(H, W)`` -> int64 ``labels`` for segmentation; invalid pixels become 255 (ignored).

    Binary masks (0/1) keep their codes: 1 then means cloud (thick) for a binary-mode model.
    """
    labels = np.asarray(codes).astype(np.int64)
    if valid is not None:
        labels = np.where(valid, labels, 255)
    return torch.from_numpy(np.ascontiguousarray(labels))


def mask_targets(codes: np.ndarray, valid: np.ndarray | None = None) -> dict[str, torch.Tensor]:
    """The two mask entries of a sample from class codes ``(H, W)``: ``mask`` ``(1, H, W)`` float32 0/1
    (:func:`cloud_binary`) and ``labels`` ``(H, W)`` int64 (:func:`class_labels`, invalid pixels 255)."""
    return {"mask": as_tensor(cloud_binary(codes)), "labels": class_labels(codes, valid)}


def as_tensor(arr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))


def zero_invalid(data: np.ndarray, valid: np.ndarray) -> np.ndarray:
    out = np.array(data, dtype=np.float32, copy=True)
    out[:, ~valid] = 0.0
    return np.nan_to_num(out, nan=0.0)


class SeededDataset(Dataset):
    """Per-index random generators ``default_rng([seed, epoch, index])`` and the augmentation hook.

    Crop datasets hold ``samples_per_epoch`` samples (their ``__len__``); others override ``__len__``.
    """

    seed: int
    epoch: int
    augment: Augment | None
    samples_per_epoch: int | None

    def __len__(self) -> int:
        return int(self.samples_per_epoch or 0)

    def set_epoch(self, epoch: int) -> None:
        """Draw different crops/clouds/augmentations in the next epoch (same ones for the same epoch)."""
        self.epoch = int(epoch)

    def _rng(self, index: int) -> np.random.Generator:
        """The generator of sample ``index``; IndexError outside ``0 .. len(self) - 1``."""
        if not 0 <= index < len(self):
            raise IndexError(index)
        return np.random.default_rng([self.seed, self.epoch, index])

    def _finish(self, sample: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        return self.augment(sample, rng) if self.augment is not None else sample


class CropSampler:
    """Uniform random ``patch x patch`` crop positions whose invalid fraction is at most ``max_nodata``.

    Allowed positions are found once with a summed-area table of the invalid pixels.
    """

    def __init__(self, valid: np.ndarray, patch: int, max_nodata: float, source: str) -> None:
        height, width = valid.shape
        if patch < 1:
            raise ValueError(f"patch must be a positive number of pixels, got {patch}")
        if height < patch or width < patch:
            raise ValueError(f"{source}: {height}x{width} px is smaller than the patch of {patch} px")
        self.patch = patch
        self.cols = width - patch + 1
        invalid = ~valid
        if not invalid.any():
            self.positions: np.ndarray | None = None
            self.count = (height - patch + 1) * self.cols
            return
        table = np.zeros((height + 1, width + 1), dtype=np.int64)
        table[1:, 1:] = invalid.cumsum(axis=0).cumsum(axis=1)
        p = patch
        counts = table[p:, p:] - table[:-p, p:] - table[p:, :-p] + table[:-p, :-p]
        self.positions = np.flatnonzero(counts <= max_nodata * p * p)
        self.count = int(self.positions.size)
        if self.count == 0:
            raise ValueError(
                f"{source}: no {patch}x{patch} px crop has at most {max_nodata:.0%} nodata pixels; "
                "use a smaller patch or allow more nodata"
            )

    def draw(self, rng: np.random.Generator) -> tuple[int, int]:
        flat = int(rng.integers(self.count))
        if self.positions is not None:
            flat = int(self.positions[flat])
        return divmod(flat, self.cols)


class SinglePairDataset(SeededDataset):
    """Random crops of ONE large aligned pair: the single-pair approach (one scene, many augmented samples).

    Args:
        pair: an :class:`AlignedPair` (from :func:`~cloudfree.data.pairing.align_pair`).
        patch: crop size in pixels.
        samples_per_epoch: length of the dataset (crops drawn per epoch).
        augment: paired augmentation (e.g. ``PairedAugment(shear=10, skew=0.2)``), called as ``augment(sample, rng)``.
        seed: base seed; sample ``i`` of epoch ``e`` comes from ``default_rng([seed, e, i])``.
        bands: optical bands to return (default all of the pair's, in its order).
        max_nodata: maximum fraction of invalid pixels in a crop (default 0: fully valid crops only).
    """

    def __init__(
        self,
        pair: AlignedPair,
        patch: int,
        samples_per_epoch: int = 1000,
        augment: Augment | None = None,
        seed: int = 0,
        bands: str | Sequence[str] | None = None,
        max_nodata: float = 0.0,
    ) -> None:
        self.pair = pair.select(bandcat.resolve(bands)) if bands is not None else pair
        self.patch = int(patch)
        self.samples_per_epoch = int(samples_per_epoch)
        self.augment, self.seed, self.epoch = augment, int(seed), 0
        self._valid = self.pair.valid
        self.sampler = CropSampler(self._valid, self.patch, max_nodata, self.pair.sources)

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = self._rng(index)
        row, col = self.sampler.draw(rng)
        rows, cols = slice(row, row + self.patch), slice(col, col + self.patch)
        valid = self._valid[rows, cols]
        pair = self.pair
        sample: dict[str, Any] = {
            "cloudy": as_tensor(zero_invalid(pair.cloudy.data[:, rows, cols], valid)),
            "clear": as_tensor(zero_invalid(pair.clear.data[:, rows, cols], valid)),
        }
        if pair.mask is not None:
            codes = pair.mask.data[0, rows, cols]
            sample |= mask_targets(codes, valid)
        if pair.sar is not None:
            sample["sar"] = as_tensor(zero_invalid(pair.sar.data[:, rows, cols], valid))
        sample["meta"] = {
            "scene": pair.scene,
            "window": (row, col, self.patch, self.patch),
            "path": pair.cloudy.source,
            "bands": pair.bands,
        }
        return self._finish(sample, rng)


class ChipDataset(SeededDataset):
    """Chips of a store written by ``cloudfree prepare`` (:mod:`cloudfree.data.chips`), one split of it.

    Args:
        store_dir: the chip store folder (holds ``index.csv`` and ``store.json``).
        split: ``"train"``, ``"val"`` or ``"test"``.
        bands: optical bands to return (default all bands of the store, in its order).
        augment: paired augmentation, called as ``augment(sample, rng)``.
        seed: base seed for the augmentation.

    ``mask`` and ``sar`` are returned when every chip of the split has them.
    """

    def __init__(
        self,
        store_dir: str | os.PathLike[str],
        split: str = "train",
        bands: str | Sequence[str] | None = None,
        augment: Augment | None = None,
        seed: int = 0,
    ) -> None:
        from cloudfree.data.chip_index import read_index, read_store_info

        self.store_dir = Path(store_dir)
        info = read_store_info(self.store_dir)
        store_bands = tuple(info["bands"])
        self.bands = bandcat.resolve(bands) if bands is not None else store_bands
        bandcat.indices_of(store_bands, self.bands, f"chip store {self.store_dir}")
        self.rows = [r for r in read_index(self.store_dir) if r["split"] == split]
        if not self.rows:
            raise ValueError(f"chip store {self.store_dir} has no chips in split {split!r}")
        self.split = split
        self.with_mask = all(r["mask"] for r in self.rows)
        self.with_sar = all(r["sar"] for r in self.rows)
        self.augment, self.seed, self.epoch = augment, int(seed), 0

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = self._rng(index)
        row = self.rows[index]
        sample: dict[str, Any] = {}
        for key in ("cloudy", "clear"):
            raster = read_raster(self.store_dir / row[key], select=self.bands).to_reflectance()
            sample[key] = as_tensor(zero_invalid(raster.data, raster.valid))
        if self.with_mask:
            codes = read_mask(self.store_dir / row["mask"])
            sample |= mask_targets(codes)
        if self.with_sar:
            sar = read_raster(self.store_dir / row["sar"], select=("VV", "VH"))
            sample["sar"] = as_tensor(zero_invalid(sar.data, sar.valid))
        sample["meta"] = {
            "scene": row["scene"],
            "window": (int(row["row"]), int(row["col"]), int(row["height"]), int(row["width"])),
            "path": str(self.store_dir / row["cloudy"]),
            "bands": self.bands,
        }
        return self._finish(sample, rng)
