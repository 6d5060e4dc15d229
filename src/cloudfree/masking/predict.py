"""Cloud and shadow masks of in-memory Rasters: a released U-Net mask model, ukis-csmask or s2cloudless.

Whole scenes (files, by windows on the streaming engine, with ``auto``) are masked by
``mask_scene`` in the inference layer (``inference/mask_scene.py``); this module is the tile level under it.

Output everywhere: uint8 codes 0 clear, 1 thick cloud, 2 thin cloud, 3 shadow, 255 nodata (a
model with merged classes writes only the codes of its scheme; s2cloudless writes 0/1).

* U-Net (``method="unet"``): a release of ``kind == "mask"`` (``model.safetensors`` +
  ``config.json`` with ``extra.class_codes``; by default the packaged ``default-mask``). The
  network is fully convolutional (tile-size invariant), so a Raster is run in row bands with a
  64 px halo, padded to a multiple of 32.
* ukis-csmask (``method="csmask"`` or a model name such as ``csmask-4band-L1C``): see
  :mod:`.csmask`; the Raster is reduced to about 30 m and tiled in 256 px tiles with 32 px overlap.
* s2cloudless (``method="s2cloudless"``): Level-1C only, cloud only (:mod:`.s2cloudless_adapter`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from cloudfree.masking.s2cloudless_adapter import S2Cloudless
from cloudfree.masks import CODE_NAMES, NODATA, class_names, index_to_codes
from cloudfree.raster import Raster

if TYPE_CHECKING:  # torch, the model registry and segmentation-models-pytorch load only for the U-Net
    import torch
    from torch import nn

    from cloudfree.models.release import ReleaseConfig

DEFAULT_MASK_MODEL = "default-mask"
METHODS = ("auto", "csmask", "unet", "s2cloudless")


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

    def predict_raster(self, raster: Raster, tile: int = 512, overlap: int = 64, batch_size: int = 1) -> np.ndarray:
        """Mask codes ``(h, w)`` uint8 of an in-memory Raster.

        The network is fully convolutional, so the raster runs in row bands of ``tile`` rows (full
        width, at least 128) with ``overlap`` rows (at least 64) of context above and below;
        ``batch_size`` is accepted for compatibility and unused.
        """
        band, halo = max(int(tile), 128), max(int(overlap), 64)  # at least the receptive field of the context
        x = raster.select(self.in_bands).to_reflectance().data.astype(np.float32)
        x = np.where(raster.valid[None], np.nan_to_num(x, nan=0.0), 0.0).astype(np.float32)
        h, w = raster.height, raster.width
        mask = np.empty((h, w), np.uint8)
        for r in range(0, h, band):
            r0, r1 = max(r - halo, 0), min(r + band + halo, h)
            part = _pad32(x[:, r0:r1])
            idx = np.argmax(self.probabilities(part[None])[0], axis=0)[: r1 - r0, :w]
            mask[r : min(r + band, h)] = index_to_codes(idx[r - r0 : r - r0 + min(band, h - r)], self.codes)
        mask[~raster.valid] = NODATA
        return mask


def _pad32(x: np.ndarray) -> np.ndarray:
    """Reflect-pad ``(C, h, w)`` at the bottom/right to multiples of 32 (the U-Net's stride)."""
    ph, pw = -x.shape[1] % 32, -x.shape[2] % 32
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if min(x.shape[1:]) > max(ph, pw) else "symmetric"
    return np.pad(x, ((0, 0), (0, ph), (0, pw)), mode=mode)


def csmask_raster(raster: Raster, model_name: str = "csmask", level: str | None = None) -> np.ndarray:
    """ukis-csmask codes ``(h, w)`` uint8 (0, 1, 3, 255) of an in-memory Raster, at about 30 m, on its grid."""
    from cloudfree.masking.auto import choose_method, csmask_model_of, product_level
    from cloudfree.masking.csmask import CSMASK_CODES, resample_factor

    if model_name == "csmask":
        lvl = product_level(raster.bands, raster.tags, raster.source, level)[0]
        model_name = choose_method(raster.bands, lvl)[0]
    model = csmask_model_of(model_name)
    res = abs(raster.transform.a) if raster.crs is not None and raster.crs.is_projected else None
    x = raster.select(model.in_bands).to_reflectance().data.astype(np.float32)
    probs = csmask_array_probabilities(x, raster.valid, model, resample_factor(res))
    mask = index_to_codes(np.argmax(probs, axis=0), CSMASK_CODES)
    mask[~raster.valid] = NODATA
    return mask


def csmask_array_probabilities(x: np.ndarray, valid: np.ndarray, model: Any, factor: int) -> np.ndarray:
    """ukis-csmask class probabilities ``(3, h, w)`` of reflectance ``(bands, h, w)`` in ``model.in_bands`` order.

    Tiles of ``256 * factor`` px with ``32 * factor`` px overlap, blended with linear ramps; ``factor``
    reduces the input to about 30 m (:func:`cloudfree.masking.csmask.resample_factor`).
    """
    from cloudfree.masking.csmask import MODEL_TILE, csmask_probabilities

    f = factor
    t, overlap = MODEL_TILE * f, 32 * f
    x = np.where(valid[None], np.nan_to_num(x, nan=0.0), 0.0).astype(np.float32)
    h, w = valid.shape
    acc = np.zeros((3, h, w), np.float32)
    wsum = np.zeros((h, w), np.float32)
    ramp = np.minimum(np.arange(t) + 1, np.arange(t)[::-1] + 1).clip(max=overlap + 1).astype(np.float32)
    weight = np.outer(ramp, ramp)
    for r in _starts(h, t, overlap):
        for c in _starts(w, t, overlap):
            xt, vt = x[:, r : r + t, c : c + t], valid[r : r + t, c : c + t]
            th, tw = vt.shape
            xt = np.pad(xt, ((0, 0), (0, t - th), (0, t - tw)), mode="symmetric")
            vt = np.pad(vt, ((0, t - th), (0, t - tw)), mode="symmetric")
            p = csmask_probabilities(xt[None], vt[None], model, f)[0][:, :th, :tw]
            acc[:, r : r + th, c : c + tw] += p * weight[:th, :tw]
            wsum[r : r + th, c : c + tw] += weight[:th, :tw]
    return acc / np.maximum(wsum, 1e-6)


def _starts(size: int, tile: int, overlap: int) -> list[int]:
    if size <= tile:
        return [0]
    return [*range(0, size - tile, tile - overlap), size - tile]


def mask_raster(
    raster: Raster,
    method: str = "unet",
    model: str | os.PathLike[str] | None = None,
    device: str | None = None,
    **s2cloudless_args: Any,
) -> np.ndarray:
    """Mask codes ``(h, w)`` uint8 of an in-memory Raster: ``unet`` (release), ``auto``/``csmask``, ``s2cloudless``."""
    if method == "s2cloudless":
        return S2Cloudless(**s2cloudless_args)(raster)[1].data[0]
    if method in ("auto", "csmask") or method.startswith("csmask-"):
        return csmask_raster(raster, "csmask" if method == "auto" else method)
    if method != "unet":
        raise ValueError(f"unknown masking method {method!r}; expected one of {list(METHODS)}")
    return MaskModel.load(model, device).predict_raster(raster)
