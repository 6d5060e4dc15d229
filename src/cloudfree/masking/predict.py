"""Cloud and shadow masks of Rasters and whole scenes, with a released U-Net mask model or s2cloudless.

Output everywhere: uint8 codes 0 clear, 1 thick cloud, 2 thin cloud, 3 shadow, 255 nodata (a
model with merged classes writes only the codes of its scheme; s2cloudless writes 0/1).

* U-Net (``method="unet"``): a release of ``kind == "mask"`` (``model.safetensors`` +
  ``config.json`` with ``extra.class_codes``; by default the packaged ``default-mask``). Whole
  scenes go through the streaming engine (:func:`cloudfree.inference.streaming.predict_scene`):
  overlapping tiles, softmax class probabilities blended with smooth weights, argmax in the
  engine's ``finalize`` step, so tile seams do not show and memory stays bounded.
* s2cloudless (``method="s2cloudless"``): its classifier is per pixel, but its post-processing
  (disk averaging, dilation) needs neighbours, which the engine's blending and per-window
  ``finalize`` cannot give. :func:`s2cloudless_scene` therefore reads square windows with a halo of
  ``average_over + dilation_size`` pixels and keeps their centre: the result equals a whole-scene
  run exactly, at the cost of re-classifying the halo (in :mod:`.s2cloudless_adapter`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rasterio.windows import Window

from cloudfree.bands import BandError
from cloudfree.inference.blend import tile_weights
from cloudfree.inference.grid import TileGrid, pad_to_tile
from cloudfree.inference.sources import InputSpec
from cloudfree.inference.streaming import predict_scene
from cloudfree.io.geotiff import band_names_of, open_info
from cloudfree.masking.s2cloudless_adapter import S2Cloudless, s2cloudless_scene
from cloudfree.masks import CODE_NAMES, NODATA, MaskSummary, class_names, index_to_codes
from cloudfree.raster import Raster

if TYPE_CHECKING:  # torch, the model registry and segmentation-models-pytorch load only for the U-Net
    import torch
    from torch import nn

    from cloudfree.models.release import ReleaseConfig

DEFAULT_MASK_MODEL = "default-mask"
METHODS = ("unet", "s2cloudless")


def default_mask_available() -> bool:
    """True when the packaged default mask model is installed."""
    from cloudfree.models.release import WEIGHTS_DIR

    return (WEIGHTS_DIR / DEFAULT_MASK_MODEL).is_dir()


def resolve_mask_model(model: str | os.PathLike[str] | None) -> str:
    """``model`` itself, else the packaged default, else a ValueError saying what to pass."""
    if model is not None:
        return str(model)
    if default_mask_available():
        return DEFAULT_MASK_MODEL
    raise ValueError(
        f"no mask model given and the default {DEFAULT_MASK_MODEL!r} is not packaged with this installation; "
        f"pass --model DIR (a release written by `cloudfree export` from a segmentation run) or use "
        f"--method s2cloudless on Level-1C input"
    )


def pick_device(device: str | None) -> torch.device:
    """``cpu``, ``cuda`` or ``None`` (cuda when available)."""
    import torch

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available; use --device cpu")
    return torch.device(device)


class MaskModel:
    """A released mask model ready to predict: input bands, class codes and preprocessing from its config."""

    def __init__(self, model: nn.Module, config: ReleaseConfig, device: torch.device) -> None:
        if config.kind != "mask":
            raise ValueError(f"model {config.name!r} is a {config.kind!r} model, not a mask model (kind 'mask')")
        codes = config.extra.get("class_codes")
        if not codes or any(int(c) not in CODE_NAMES for c in codes):
            raise ValueError(f"model {config.name!r}: extra.class_codes must list mask codes 0..3, got {codes!r}")
        self.model, self.config, self.device = model.to(device).eval(), config, device
        self.codes: tuple[int, ...] = tuple(int(c) for c in codes)
        self.in_bands: tuple[str, ...] = config.in_bands
        self.norm = config.norm
        self.preprocess: str = str(config.extra.get("preprocess", "reflectance"))

    @classmethod
    def load(cls, name_or_dir: str | os.PathLike[str] | None = None, device: str | None = None) -> MaskModel:
        from cloudfree.models.release import load_release

        dev = pick_device(device)
        model, config = load_release(resolve_mask_model(name_or_dir), device=dev)
        return cls(model, config, dev)

    @property
    def class_names(self) -> tuple[str, ...]:
        return class_names(self.codes)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Softmax class probabilities ``(N, classes, h, w)`` float32 from reflectance ``(N, in_bands, h, w)``."""
        import torch

        from cloudfree.masking.segmentation import prepare_input

        if x.ndim != 4 or x.shape[1] != len(self.in_bands):
            raise ValueError(
                f"mask model {self.config.name!r} expects (N, {len(self.in_bands)}, h, w) for bands "
                f"{list(self.in_bands)}, got {x.shape}"
            )
        with torch.no_grad():
            t = prepare_input(torch.from_numpy(np.ascontiguousarray(x)).to(self.device), self.norm, self.preprocess)
            return torch.softmax(self.model(t).float(), dim=1).cpu().numpy()

    def predict_raster(self, raster: Raster, tile: int = 512, overlap: int = 32, batch_size: int = 4) -> np.ndarray:
        """Mask codes ``(h, w)`` uint8 of an in-memory Raster (any size; tiled and blended like a scene)."""
        x = raster.select(self.in_bands).to_reflectance().data.astype(np.float32)
        x = np.where(raster.valid[None], np.nan_to_num(x, nan=0.0), 0.0).astype(np.float32)
        grid = TileGrid(raster.height, raster.width, tile, overlap)
        acc = np.zeros((len(self.codes), raster.height, raster.width), np.float64)
        wsum = np.zeros((raster.height, raster.width), np.float64)
        tiles = list(grid)
        for b in range(0, len(tiles), batch_size):
            batch = tiles[b : b + batch_size]
            xs = np.stack([pad_to_tile(x[:, t.row : t.row + t.height, t.col : t.col + t.width], tile) for t in batch])
            probs = self.probabilities(xs)
            for t, p in zip(batch, probs, strict=True):
                w = tile_weights(t.height, t.width, overlap, top=t.top, bottom=t.bottom, left=t.left, right=t.right)
                acc[:, t.row : t.row + t.height, t.col : t.col + t.width] += p[:, : t.height, : t.width] * w
                wsum[t.row : t.row + t.height, t.col : t.col + t.width] += w
        mask = index_to_codes(np.argmax(acc / wsum, axis=0), self.codes)
        mask[~raster.valid] = NODATA
        return mask


def mask_raster(
    raster: Raster,
    method: str = "unet",
    model: str | os.PathLike[str] | None = None,
    device: str | None = None,
    **s2cloudless_args: Any,
) -> np.ndarray:
    """Mask codes ``(h, w)`` uint8 of an in-memory Raster with a U-Net release or s2cloudless."""
    if method == "s2cloudless":
        return S2Cloudless(**s2cloudless_args)(raster)[1].data[0]
    if method != "unet":
        raise ValueError(f"unknown masking method {method!r}; expected one of {list(METHODS)}")
    return MaskModel.load(model, device).predict_raster(raster)


def mask_scene(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    method: str = "unet",
    model: str | os.PathLike[str] | None = None,
    bands: str | None = None,
    dn_offset: float | None = None,
    tile: int | None = None,
    overlap: int = 32,
    batch_size: int = 8,
    device: str | None = None,
    progress: bool = True,
    probability: str | os.PathLike[str] | None = None,
    level: str | None = None,
    threshold: float = 0.4,
    average_over: int = 1,
    dilation_size: int = 1,
) -> MaskSummary:
    """Mask a whole scene file into ``dst`` (COG, uint8 codes, the input's grid), window by window.

    Args:
        src: Sentinel-2 GeoTIFF (DN or reflectance).
        dst: mask file to write (atomically).
        method: ``unet`` (released mask model) or ``s2cloudless`` (Level-1C input only).
        model: release directory or packaged name for ``unet`` (default ``default-mask``).
        bands: names of the file's bands when it has no band descriptions (``l1c13``, ``rgbn`` ...).
        dn_offset: DN offset of the input (default from its tags, else 0).
        tile, overlap, batch_size, device: U-Net tiling (pixels), tiles per batch, torch device.
            Default tile 256 (unet); for s2cloudless ``tile`` is the window side (default
            1024, at least 64) and a halo replaces the overlap.
        progress: tqdm bar on stderr.
        probability: s2cloudless only: also write the cloud probability (float32) here.
        level: s2cloudless only: ``L1C`` / ``L2A`` when the file's tags do not tell (L2A is refused).
        threshold, average_over, dilation_size: s2cloudless parameters (its defaults).
    """
    if method == "s2cloudless":
        detector = S2Cloudless(threshold, average_over, dilation_size, level)
        return s2cloudless_scene(
            src,
            dst,
            detector,
            bands=bands,
            dn_offset=dn_offset,
            window=max(tile or 1024, 64),
            probability=probability,
            progress=progress,
        )
    if method != "unet":
        raise ValueError(f"unknown masking method {method!r}; expected one of {list(METHODS)}")
    if probability is not None:
        raise ValueError("--probability is written by the s2cloudless method only")
    runner = MaskModel.load(model, device)
    info = open_info(src)
    file_bands = band_names_of(info, bands)
    missing = [b for b in runner.in_bands if b not in file_bands]
    if missing:
        raise BandError(
            f"{src}: mask model {runner.config.name!r} needs bands {list(runner.in_bands)} but the file lacks "
            f"{missing}; it has {list(file_bands)}"
        )
    spec = InputSpec(Path(src), select=runner.in_bands, bands=file_bands if bands else None, dn_offset=dn_offset)
    summary = MaskSummary(Path(dst), "unet", info.height, info.width, 0.0, runner.codes)

    def predict(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
        return runner.probabilities(np.where(valid[:, None], x, 0.0).astype(np.float32))

    def finalize(blended: np.ndarray, window: Window, raster: Raster) -> np.ndarray:
        codes = index_to_codes(np.argmax(blended, axis=0), runner.codes)
        codes[~raster.valid] = NODATA
        summary.add_counts(codes, raster.valid)
        return codes[None]

    tags = {
        "CLOUDFREE_RADIOMETRY": "label",
        "CLOUDFREE_MASK_METHOD": "unet",
        "CLOUDFREE_MODEL": runner.config.name,
        "CLOUDFREE_MODEL_VERSION": runner.config.version,
        "CLOUDFREE_CLASSES": "0 clear, 1 thick, 2 thin, 3 shadow",
    }
    t0 = time.perf_counter()
    predict_scene(
        spec,
        dst,
        predict,
        out_descriptions=("mask",),
        out_dtype="uint8",
        nodata=NODATA,
        tags=tags,
        tile=tile or 256,
        overlap=overlap,
        batch_size=batch_size,
        finalize=finalize,
        progress=progress,
        desc="masking",
    )
    summary.seconds = time.perf_counter() - t0
    return summary
