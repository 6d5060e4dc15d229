"""Export a chip store as 8-bit A|B PNGs for the pytorch-CycleGAN-and-pix2pix "aligned" dataset mode.

That mode reads ``<dataroot>/<phase>/<name>.png`` images holding the input A (here the cloudy chip)
on the left and the target B (the clear chip) on the right, side by side. The reflectance bands are
stretched to 0..255 with per-band percentiles computed ONCE per scene from the clear chips, and the
same stretch is applied to both halves (otherwise the brightness difference the cloud makes would be
stretched away). Nodata pixels become 0. The stretch used per scene is recorded in ``export.json``.
The export is written to a hidden sibling folder and renamed into place when complete.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from cloudfree import bands as bandcat
from cloudfree.data.chip_index import read_index, read_store_info, replace_dir
from cloudfree.data.splits import SPLITS
from cloudfree.io import read_raster
from cloudfree.io.atomic import temp_sibling

EXPORT_INFO = "export.json"
STATS_PIXELS_PER_CHIP = 4096


def _reflectance(path: Path, bands: tuple[str, ...]) -> np.ndarray:
    raster = read_raster(path, select=bands).to_reflectance()
    data = raster.data.copy()
    data[:, ~raster.valid] = np.nan
    return data


def scene_stretch(clear_chips: Sequence[np.ndarray], stretch: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Per-band (low, high) reflectance percentiles over the valid pixels of a scene's clear chips.

    Each ``(bands, h, w)`` chip contributes about ``STATS_PIXELS_PER_CHIP`` pixels (a regular subsample).
    """
    samples = []
    for chip in clear_chips:
        step = max(1, int(np.sqrt(chip.shape[1] * chip.shape[2] / STATS_PIXELS_PER_CHIP)))
        samples.append(chip[:, ::step, ::step].reshape(chip.shape[0], -1))
    values = np.concatenate(samples, axis=1)
    values = values[:, np.isfinite(values).all(axis=0)]
    if values.shape[1] == 0:
        raise ValueError("no valid pixel to compute the stretch from")
    low = np.percentile(values, stretch[0], axis=1)
    high = np.percentile(values, stretch[1], axis=1)
    return low, np.maximum(high, low + 1e-6)


def to_uint8(data: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """``(bands, h, w)`` reflectance -> ``(h, w, bands)`` uint8 with the given per-band stretch; NaN -> 0."""
    scaled = (data - low[:, None, None]) / (high - low)[:, None, None]
    scaled = np.nan_to_num(np.clip(scaled, 0.0, 1.0), nan=0.0)
    return np.rint(scaled * 255).astype(np.uint8).transpose(1, 2, 0)


def export_aligned(
    store_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    bands: str | Sequence[str] = "rgb",
    stretch: tuple[float, float] = (2.0, 98.0),
) -> dict[str, int]:
    """Write ``out_dir/{train,val,test}/<scene>_<row>_<col>.png`` (cloudy | clear) from a chip store.

    Args:
        store_dir: a chip store made by ``cloudfree prepare``.
        out_dir: export folder; replaced when it holds an earlier export, refused when it holds anything else.
        bands: 1 or 3 bands to put in the PNG (default ``rgb`` = B04, B03, B02).
        stretch: lower and upper percentiles (0..100) mapped to 0 and 255.

    Returns:
        Images written per split.
    """
    store = Path(store_dir)
    names = bandcat.resolve(bands)
    if len(names) not in (1, 3):
        raise bandcat.BandError(f"a PNG export needs 1 or 3 bands, got {list(names)}")
    bandcat.indices_of(tuple(read_store_info(store)["bands"]), names, f"chip store {store}")
    if not 0 <= stretch[0] < stretch[1] <= 100:
        raise ValueError(f"stretch percentiles must satisfy 0 <= low < high <= 100, got {stretch}")
    final = Path(out_dir)
    if final.exists() and (not final.is_dir() or (any(final.iterdir()) and not (final / EXPORT_INFO).is_file())):
        raise ValueError(f"{final}: exists and is not an earlier pix2pix export; choose another folder")
    by_scene: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in read_index(store):
        by_scene[row["scene"]].append(row)

    staging = temp_sibling(final, "staging")
    counts = dict.fromkeys(SPLITS, 0)
    info: dict[str, Any] = {"bands": list(names), "stretch_percentiles": list(stretch), "scenes": {}}
    try:
        for split in SPLITS:
            (staging / split).mkdir(parents=True)
        for scene, rows in by_scene.items():
            clear = [_reflectance(store / row["clear"], names) for row in rows]
            low, high = scene_stretch(clear, stretch)
            info["scenes"][scene] = {"low": low.tolist(), "high": high.tolist()}
            for row, clear_chip in zip(rows, clear, strict=True):
                cloudy = _reflectance(store / row["cloudy"], names)
                pair = np.concatenate([to_uint8(cloudy, low, high), to_uint8(clear_chip, low, high)], axis=1)
                image = Image.fromarray(pair[..., 0] if pair.shape[2] == 1 else pair)
                image.save(staging / row["split"] / f"{Path(row['cloudy']).stem.removesuffix('_cloudy')}.png")
                counts[row["split"]] += 1
        (staging / EXPORT_INFO).write_text(json.dumps(info, indent=2))
        replace_dir(staging, final)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return counts
