"""Small real training samples cut from ../shared/data for the model and training tests.

The clear target is a window of the Sen1Floods11 Sentinel-2 chip (cloud-free L1C, EPSG:4326) read
through :func:`cloudfree.io.geotiff.read_raster`; the cloudy input is that window under a
deterministic synthetic cloud (a bright, spectrally flat Gaussian blob: ``cloudy = clear * (1 - a)
+ 0.6 * a``) with its mask; ``sar`` is the co-registered Sentinel-1 VV/VH window in dB.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from rasterio.windows import Window
from torch.utils.data import Dataset

from cloudfree.io.geotiff import read_raster

S2 = "sen1floods11_spain/Spain_7370579_S2Hand.tif"
S1 = "sen1floods11_spain/Spain_7370579_S1Hand.tif"
WINDOWS = ((200, 200), (40, 300), (300, 60), (420, 420), (100, 120), (260, 380), (10, 10), (350, 200))


def blob(size: int, row: float, col: float, sigma: float) -> np.ndarray:
    """Cloud opacity ``(size, size)`` in 0..0.85: a Gaussian blob centred at (row, col)."""
    r, c = np.mgrid[0:size, 0:size]
    return (0.85 * np.exp(-((r - row) ** 2 + (c - col) ** 2) / (2 * sigma**2))).astype(np.float32)


def real_sample(shared: Path, bands: tuple[str, ...], size: int = 32, index: int = 0) -> dict[str, Any]:
    """One sample dict (docs/ARCHITECTURE.md keys) from window ``index`` of the real chip."""
    row, col = WINDOWS[index % len(WINDOWS)]
    win = Window(col, row, size, size)
    clear = read_raster(shared / S2, window=win, select=bands).to_reflectance()
    sar = read_raster(shared / S1, window=win)
    assert clear.bands == tuple(bands) and sar.bands == ("VV", "VH")
    a = blob(size, size * (0.3 + 0.1 * (index % 4)), size * 0.6, size / 4)
    cloudy = clear.data * (1 - a) + 0.6 * a
    return {
        "cloudy": torch.from_numpy(cloudy.astype(np.float32)),
        "clear": torch.from_numpy(clear.data.copy()),
        "mask": torch.from_numpy((a > 0.1).astype(np.float32)[None]),
        "sar": torch.from_numpy(np.nan_to_num(sar.data, nan=-25.0).astype(np.float32)),
    }


class SampleList(Dataset):
    """A fixed list of samples (the tests' in-memory dataset)."""

    def __init__(self, samples: list[dict[str, Any]]) -> None:
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.samples[index]


def real_samples(shared: Path, bands: tuple[str, ...], n: int, size: int = 32) -> SampleList:
    return SampleList([real_sample(shared, bands, size, i) for i in range(n)])


def batch_of(samples: SampleList) -> dict[str, torch.Tensor]:
    """All samples stacked into one batch."""
    return {k: torch.stack([s[k] for s in samples.samples]) for k in samples.samples[0]}
