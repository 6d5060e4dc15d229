"""ukis-csmask (DLR's ONNX cloud and cloud-shadow U-Nets) as a tile-level mask method.

ukis-csmask ships four U-Nets (EfficientNet-B4 encoder) trained on real, hand-labelled Sentinel-2
clouds: 4 bands (blue, green, red, NIR = B02, B03, B04, B08) or 6 bands (+ SWIR B11, B12), each for
Level-1C (top of atmosphere) or Level-2A (surface) reflectance 0..1. The ONNX files and their
normalisation statistics are inside the wheel, so nothing is downloaded. Their classes are
0 background, 1 cloud, 2 cloud shadow, mapped here to cloudfree's codes 0 clear, 1 (thick) cloud,
3 shadow. The models take ``(N, bands, 256, 256)`` tiles (the ONNX input is that fixed size) and
work best at about 30 m (their README), so a tile at the input's resolution ``r`` is reduced by the
integer factor ``f = round(30 / r)`` (block mean, so a 10 m input is read as 768 x 768 tiles), the
class probabilities are computed at about 30 m and expanded back by repetition (nearest): output
pixel ``(i, j)`` takes block ``(i // f, j // f)``, which covers it, so the mask has no shift.

We call the ONNX session directly rather than ``ukis_csmask.mask.CSmask``: that class takes a
whole image in memory and tiles it itself; the scene engine does the tiling and blending here (the
normalisation ``(x - mean) / std`` and the band order are read from the model's own JSON).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cloudfree.errors import CloudfreeError
from cloudfree.masks import CLEAR, SHADOW, THICK

CSMASK_BANDS: dict[int, tuple[str, ...]] = {
    4: ("B02", "B03", "B04", "B08"),
    6: ("B02", "B03", "B04", "B08", "B11", "B12"),
}
CSMASK_CODES: tuple[int, ...] = (CLEAR, THICK, SHADOW)  # model channel -> cloudfree mask code
MODEL_TILE = 256  # the ONNX input side, pixels at the working resolution
WORK_RESOLUTION_M = 30.0
_COMMON = {"blue": "B02", "green": "B03", "red": "B04", "nir": "B08", "swir16": "B11", "swir22": "B12"}


class MissingCsmaskError(CloudfreeError, ImportError):
    """ukis-csmask or onnxruntime is not installed (it is a core dependency of cloudfree)."""


def resample_factor(resolution_m: float | None) -> int:
    """Integer reduction factor that brings ``resolution_m`` pixels to about 30 m (1 when unknown or coarser)."""
    if resolution_m is None or not math.isfinite(resolution_m) or resolution_m <= 0:
        return 1
    return max(1, round(WORK_RESOLUTION_M / resolution_m))


def block_mean(x: np.ndarray, valid: np.ndarray, f: int) -> np.ndarray:
    """Mean of the valid pixels of each ``f x f`` block: ``(N, C, T, T)`` -> ``(N, C, T/f, T/f)`` float32.

    ``valid`` is ``(N, T, T)`` bool; a block with no valid pixel gets 0. ``T`` must be a multiple of ``f``.
    """
    if f == 1:
        return np.where(valid[:, None], x, 0.0).astype(np.float32)
    n, c, h, w = x.shape
    if h % f or w % f:
        raise ValueError(f"tile {h}x{w} is not a multiple of the reduction factor {f}")
    v = valid.astype(np.float32)
    xs = (np.where(valid[:, None], x, 0.0) * v[:, None]).reshape(n, c, h // f, f, w // f, f).sum(axis=(3, 5))
    vs = v.reshape(n, 1, h // f, f, w // f, f).sum(axis=(3, 5))
    return (xs / np.maximum(vs, 1.0)).astype(np.float32)


def expand(p: np.ndarray, f: int) -> np.ndarray:
    """Nearest (block repetition) upsampling of ``(..., h, w)`` by ``f``: exact inverse grid of :func:`block_mean`."""
    if f == 1:
        return p
    return np.repeat(np.repeat(p, f, axis=-2), f, axis=-1)


@dataclass(frozen=True)
class CsmaskModel:
    """One of the four ukis-csmask models: ``bands`` 4 or 6, ``level`` ``"L1C"`` or ``"L2A"``.

    ``ensemble=True`` (6 bands only) averages the class probabilities of the 6-band and the 4-band
    model of the level (name ``csmask-4+6band-L1C``): twice the cost, and on the real L1C scenes
    other than the evaluation tile (Madagascar, SEN12MS-CR) the two models disagree on which is
    better (cloud F1 against s2cloudless: 4-band 0.875 / 0.906, 6-band 0.860 / 0.923, average of
    both 0.873 / 0.915, best mean), so ``auto`` uses the average when it has the six bands.
    """

    bands: int = 6
    level: str = "L1C"
    ensemble: bool = False

    def __post_init__(self) -> None:
        if self.bands not in CSMASK_BANDS or self.level not in ("L1C", "L2A"):
            raise ValueError(f"ukis-csmask has 4- or 6-band models for L1C or L2A, not {self.bands}/{self.level}")
        if self.ensemble and self.bands != 6:
            raise ValueError("the ukis-csmask ensemble averages the 6- and 4-band models: it needs bands=6")

    @property
    def name(self) -> str:
        return f"csmask-{'4+6' if self.ensemble else self.bands}band-{self.level}"

    @property
    def in_bands(self) -> tuple[str, ...]:
        return CSMASK_BANDS[self.bands]

    def session(self, threads: int = 0) -> CsmaskSession:
        """The ONNX session of the (6-band, for an ensemble) model, cached per process and thread count."""
        return _session(self.bands, self.level, threads)


class CsmaskSession:
    """A loaded ukis-csmask ONNX model with its normalisation and band order."""

    def __init__(self, bands: int, level: str, threads: int = 0) -> None:
        try:
            import onnxruntime
            import ukis_csmask
        except ImportError as exc:
            raise MissingCsmaskError(
                f"the csmask method needs ukis-csmask with onnxruntime ({exc}); install with "
                f"`pip install 'ukis-csmask[cpu]'` (a core dependency of cloudfree)"
            ) from exc
        stem = Path(ukis_csmask.__file__).parent / f"model_{bands}b_{level.lower()}"
        meta = json.loads(stem.with_suffix(".json").read_text())
        stats = meta["data"]["dataset_statistics"]
        order = [_COMMON[b] for b in stats["band_names"]]
        self.in_bands: tuple[str, ...] = tuple(order)
        self.mean = np.asarray(stats["img"][0], np.float32)[:, None, None]
        self.std = np.asarray(stats["img"][1], np.float32)[:, None, None]
        self.version: str = str(meta["model"]["version"])
        self.tile = int(meta["data"]["target_size"][0])
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(stem.with_suffix(".onnx")), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Softmax ``(N, 3, 256, 256)`` (clear, cloud, shadow) of reflectance ``(N, bands, 256, 256)`` at ~30 m."""
        if x.ndim != 4 or x.shape[1] != len(self.in_bands) or x.shape[2:] != (self.tile, self.tile):
            raise ValueError(
                f"ukis-csmask expects (N, {len(self.in_bands)}, {self.tile}, {self.tile}) reflectance for bands "
                f"{list(self.in_bands)}, got {x.shape}"
            )
        z = ((x - self.mean) / self.std).astype(np.float32)
        logits = self.session.run(None, {self.input_name: z})[0].astype(np.float32)
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)


@functools.lru_cache(maxsize=4)
def _session(bands: int, level: str, threads: int) -> CsmaskSession:
    return CsmaskSession(bands, level, threads)


def csmask_probabilities(
    x: np.ndarray, valid: np.ndarray, model: CsmaskModel, factor: int = 1, threads: int = 0
) -> np.ndarray:
    """Class probabilities ``(N, 3, T, T)`` (channels -> codes :data:`CSMASK_CODES`) of native-resolution tiles.

    Args:
        x: reflectance ``(N, bands, T, T)`` float32 in ``model.in_bands`` order, ``T == 256 * factor``.
        valid: ``(N, T, T)`` bool; invalid pixels do not enter the block means.
        model: which ukis-csmask model.
        factor: reduction factor to about 30 m (see :func:`resample_factor`).
        threads: onnxruntime intra-op threads (0: its default).
    """
    if x.shape[-1] != MODEL_TILE * factor or x.shape[-2] != MODEL_TILE * factor:
        raise ValueError(f"tiles must be {MODEL_TILE * factor} px for factor {factor}, got {x.shape[-2:]}")
    small = block_mean(x, valid, factor)
    p = model.session(threads).probabilities(small)
    if model.ensemble:  # the 4-band model's bands are the first four of the six
        p = 0.5 * (p + _session(4, model.level, threads).probabilities(small[:, :4]))
    return expand(p, factor)


def describe(model: CsmaskModel, factor: int) -> dict[str, Any]:
    """Tags recording the model and the working resolution."""
    return {"CLOUDFREE_CSMASK_MODEL": model.name, "CLOUDFREE_CSMASK_FACTOR": str(factor)}
