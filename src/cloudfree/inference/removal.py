"""Model-driven cloud removal over a whole scene: :func:`remove`, the Python face of ``cloudfree remove``.

A released model (``model.safetensors`` + ``config.json``, see :mod:`cloudfree.models.release`)
runs through the streaming engine (:func:`~cloudfree.inference.streaming.predict_scene`):

1. *Input assembly* (:class:`ModelRunner`): the scene's ``in_bands`` as reflectance normalised with
   the release's normalisation, Sentinel-1 ``sar_bands`` in dB normalised with its SAR
   normalisation, and a 0/1 cloud-mask channel, concatenated in ``config.extra["input_order"]``
   (docs/ARCHITECTURE.md, "Released model inputs"). Nodata pixels enter the network as 0.
2. *Prediction*: a removal model's output, or for ``kind == "diffusion"`` the mean of ``samples``
   draws of :func:`cloudfree.models.diffusion.sample` with their spread as uncertainty; both
   inverted from network units to reflectance.
3. *Compositing* (:mod:`.composite`): only cloud and shadow pixels are replaced, with a feathered
   edge; clear pixels keep their input values exactly. The mask comes from a file, from the
   masking model (``mask="auto"``: the packaged ``default-mask`` U-Net, else s2cloudless on
   Level-1C input; see :func:`auto_mask`), or, without one, from the model's own estimate: a
   pixel counts as cloud where the mean absolute difference between the estimate and the input
   over the output bands exceeds ``threshold`` (reflectance; 0.05 by default). That fallback is
   feathered within each written strip only.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cloudfree import bands as bandcat
from cloudfree.inference.composite import (
    cloud_of,
    composite,
    default_dtype,
    feather_weights,
    mask_output,
    output_offset,
    output_tags,
    read_mask_window,
)
from cloudfree.inference.sources import InputSpec
from cloudfree.inference.streaming import OutputSpec, SceneSummary, predict_scene
from cloudfree.io.geotiff import RasterInfo, band_names_of, dn_offset_from_tags, infer_radiometry, open_info
from cloudfree.masks import NOT_CLEAR_CODES
from cloudfree.models.release import WEIGHTS_DIR, ReleaseConfig, load_release
from cloudfree.radiometry import Radiometry

DEFAULT_MODEL = "default-rgbn"
AUTO = "auto"


def resolve_model(model: str | os.PathLike[str] | None) -> str:
    """The model to use: ``model`` itself, else the packaged default, else a clear error."""
    if model is not None:
        return str(model)
    if (WEIGHTS_DIR / DEFAULT_MODEL).is_dir():
        return DEFAULT_MODEL
    raise ValueError(
        f"no model given and the default model {DEFAULT_MODEL!r} is not packaged with this installation; "
        f"pass --model NAME|DIR (a release directory with model.safetensors and config.json)"
    )


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


class ModelRunner:
    """Turns the streaming engine's stacked tiles into model inputs and model outputs into reflectance.

    Input channels handed to :meth:`__call__` are, in order: the scene's ``in_bands`` (reflectance)
    followed by any output band the model does not take as input, then ``sar_bands`` (dB) when the
    model uses SAR, then one channel of mask codes when it uses a mask. Returns ``(N, C_out, T, T)``
    reflectance, plus ``C_out`` channels of standard deviation (reflectance) when ``with_std``.
    """

    def __init__(
        self,
        model: nn.Module,
        config: ReleaseConfig,
        *,
        device: str,
        n_primary: int,
        steps: int | None = None,
        samples: int | None = None,
        seed: int = 0,
        with_std: bool = False,
    ) -> None:
        self.model, self.config, self.device = model, config, torch.device(device)
        self.n_in, self.n_primary = len(config.in_bands), n_primary
        self.n_sar = len(config.sar_bands)
        # diffusion: the release's recorded sampling settings unless the caller overrides them
        self.steps = int(steps if steps is not None else config.extra.get("steps", 20))
        self.samples = int(samples if samples is not None else config.extra.get("n_samples", 1))
        self.with_std = with_std
        # inputs are normalised with the input bands' statistics (the release's normalisation may
        # also cover output bands the model does not take); a SAR-only model has no optical group
        self.norm = config.norm.select(config.in_bands) if self.n_in else None
        self.out_norm = config.norm.select(config.out_bands)
        self.sar_norm = config.sar_norm
        if self.n_sar and self.sar_norm is None:
            raise ValueError(f"model {config.name!r} takes SAR bands but its release has no sar_normalization")
        self.order = [g for g in config.extra.get("input_order", ["optical", "sar", "mask"]) if self._present(g)]
        unsupported = [g for g in self.order if g not in ("optical", "sar", "mask")]
        if unsupported:
            raise ValueError(
                f"model {config.name!r} needs inputs {unsupported} (multi-temporal); `remove` feeds one date only"
            )
        self.generator = torch.Generator(device=self.device).manual_seed(seed)

    def _present(self, group: str) -> bool:
        return {"optical": self.n_in > 0, "sar": self.n_sar > 0, "mask": self.config.uses_mask}.get(group, True)

    def assemble(self, x: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Normalised model input ``(N, C_model, T, T)`` float32 from stacked tiles ``x``."""
        groups: dict[str, np.ndarray] = {}
        if self.norm is not None:
            optical = np.stack([self.norm.apply(t) for t in x[:, : self.n_in]])
            optical[np.broadcast_to(~valid[:, None], optical.shape)] = 0.0
            groups["optical"] = optical
        pos = self.n_primary
        if self.n_sar:
            sar = np.stack([self.sar_norm.apply(t) for t in x[:, pos : pos + self.n_sar]])
            groups["sar"] = np.nan_to_num(sar, nan=0.0, posinf=0.0, neginf=0.0)
            pos += self.n_sar
        if self.config.uses_mask:
            groups["mask"] = np.isin(x[:, pos : pos + 1], NOT_CLEAR_CODES).astype(np.float32)
        return np.concatenate([groups[g] for g in self.order], axis=1).astype(np.float32)

    @torch.no_grad()
    def __call__(self, x: np.ndarray, valid: np.ndarray) -> np.ndarray:
        inp = torch.from_numpy(self.assemble(x, valid)).to(self.device)
        if self.config.kind == "diffusion":
            from cloudfree.models.diffusion import sample

            mean, std = sample(
                self.model, inp, self.config, steps=self.steps, n_samples=self.samples, generator=self.generator
            )
        else:
            mean, std = self.model(inp), None
        out = [self.out_norm.invert(mean.float())]
        if self.with_std:
            scale = torch.tensor(self.out_norm.scale, device=mean.device).abs().reshape(1, -1, 1, 1)
            out.append(std.float() * scale if std is not None else torch.zeros_like(out[0]))
        return torch.cat(out, dim=1).cpu().numpy()


def auto_mask(input_path: Path, out: Path, device: str, progress: bool) -> tuple[Path | None, str]:
    """``--mask auto``: mask the scene into ``out`` with the masking model; returns (mask file, how).

    The packaged U-Net mask model (``default-mask``) when installed, else s2cloudless (Level-1C
    input with its bands, and the ``s2cloudless`` extra); when neither applies, ``(None,
    "threshold")`` and a note on stderr: the caller then falls back to the threshold on the
    model's own estimate.
    """
    if importlib.util.find_spec("cloudfree.masking.predict") is None:
        return None, "threshold"
    from cloudfree.masking import predict as masking

    if masking.default_mask_available():
        masking.mask_scene(input_path, out, method="unet", device=device, progress=progress)
        return out, masking.DEFAULT_MASK_MODEL
    try:
        masking.mask_scene(input_path, out, method="s2cloudless", progress=progress)
    except ValueError as exc:  # not L1C, bands missing, extra not installed
        print(f"cloudfree: --mask auto: no mask model applies ({exc}); using the threshold fallback", file=sys.stderr)
        return None, "threshold"
    return out, "s2cloudless"


def remove(
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] | None = None,
    sar: str | os.PathLike[str] | None = None,
    mask: str | os.PathLike[str] | None = None,
    replace_all: bool = False,
    tile: int = 256,
    overlap: int = 32,
    batch_size: int = 8,
    device: str | None = None,
    dtype: str | None = None,
    steps: int | None = None,
    samples: int | None = None,
    uncertainty: str | os.PathLike[str] | None = None,
    write_mask: str | os.PathLike[str] | None = None,
    threshold: float = 0.05,
    feather: int = 4,
    seed: int = 0,
    progress: bool = True,
) -> SceneSummary:
    """Remove clouds from ``input`` with a released model; write a georeferenced COG to ``output``.

    Args:
        input: Sentinel-2 GeoTIFF holding (at least) the model's input and output bands.
        output: destination COG (written atomically).
        model: release name (packaged default) or directory; default ``default-rgbn`` when packaged.
        sar: Sentinel-1 GeoTIFF (VV, VH in dB) for SAR-optical models; reprojected onto the input's
            grid when it lies on another one.
        mask: cloud/shadow mask file on the input's grid (codes 0 clear, 1-3 cloud/shadow, 255
            nodata; or binary 0/1), ``"auto"`` (masking model, else the threshold fallback), or
            ``None`` (threshold fallback; a mask-channel model then needs a mask).
        replace_all: output the model everywhere instead of only under the mask.
        tile, overlap, batch_size: streaming tiles (pixels) and tiles per forward pass.
        device: ``cpu`` or ``cuda`` (default: cuda when available).
        dtype: ``uint16`` (DN with the input's DN offset) or ``float32`` (reflectance); default:
            uint16 for DN inputs, float32 for reflectance inputs.
        steps, samples: diffusion sampling steps and samples per tile (mean = estimate); default: the
            values the release records (``extra["steps"]``, ``extra["n_samples"]``), else 20 and 1.
        uncertainty: write the diffusion spread (std over samples, reflectance) here; 0 where the
            input is kept, scaled by the feather weight at edges.
        write_mask: write the mask that was used here (uint8 codes, 255 nodata).
        threshold: mean absolute reflectance difference above which the fallback mask says cloud.
        feather: width in pixels of the blending ramp outside the mask.
        seed: diffusion noise seed.
        progress: tqdm progress bar on stderr.
    """
    src = Path(input)
    info = open_info(src)
    names = band_names_of(info, None)
    radiometry = infer_radiometry(names, info.dtype, info.tags)
    dtype = dtype or default_dtype(radiometry)
    if dtype not in ("uint16", "float32"):
        raise ValueError(f"output dtype must be uint16 or float32, got {dtype!r}")
    device = device or default_device()
    model_name = resolve_model(model)
    net, config = load_release(model_name, device=device)
    if config.kind not in ("removal", "diffusion"):
        raise ValueError(f"model {config.name!r} is a {config.kind!r} model; cloud removal needs a removal model")
    if uncertainty is not None and config.kind != "diffusion":
        raise ValueError(f"--uncertainty needs a diffusion model; {config.name!r} is a {config.kind} model")
    if config.sar_bands and sar is None:
        raise ValueError(f"model {config.name!r} fuses Sentinel-1 {list(config.sar_bands)}; pass --sar S1.tif")
    if sar is not None and not config.sar_bands:
        raise ValueError(f"model {config.name!r} takes no Sentinel-1 input; drop --sar")
    multiple = getattr(net, "multiple", 1)
    if tile % multiple:
        raise ValueError(f"model {config.name!r} needs tiles that are multiples of {multiple} px; got --tile {tile}")
    primary = tuple(config.in_bands) + tuple(b for b in config.out_bands if b not in config.in_bands)
    bandcat.indices_of(names, primary, f"{src} (input of model {config.name!r})")

    with tempfile.TemporaryDirectory(prefix="cloudfree-remove-") as tmp:
        mask_path: Path | None = None
        mask_how = f"threshold {threshold}"
        if mask is not None and str(mask) == AUTO:
            mask_path, mask_how = auto_mask(src, Path(tmp) / "auto_mask.tif", device, progress)
        elif mask is not None:
            mask_path, mask_how = Path(mask), f"mask file {Path(mask).name}"
            minfo = open_info(mask_path)
            if (minfo.height, minfo.width) != (info.height, info.width) or minfo.count != 1:
                raise ValueError(
                    f"{mask_path}: mask is {minfo.count} band(s) {minfo.height}x{minfo.width}, expected one band "
                    f"on the grid of {src} ({info.height}x{info.width})"
                )
        if config.uses_mask and mask_path is None:
            raise ValueError(f"model {config.name!r} takes a cloud-mask channel; pass --mask FILE")
        inputs: list[Any] = [InputSpec(src, select=primary)]
        if sar is not None:
            inputs.append(InputSpec(Path(sar), select=tuple(config.sar_bands)))
        if config.uses_mask:
            inputs.append(InputSpec(mask_path, kind="mask"))  # type: ignore[arg-type]
        runner = ModelRunner(
            net,
            config,
            device=device,
            n_primary=len(primary),
            steps=steps,
            samples=samples,
            seed=seed,
            with_std=uncertainty is not None,
        )
        offset = output_offset(radiometry, band_offsets(info, names, tuple(config.out_bands)), dtype)
        method = "replace-all" if replace_all else ("mask " + mask_how if mask_path else mask_how)
        tags = output_tags(
            info,
            dtype,
            offset,
            method=f"model ({method})",
            model=config.name,
            model_version=config.version,
            replaced="all pixels" if replace_all else "cloud and shadow pixels",
        )
        n_out = len(config.out_bands)
        extras = []
        if uncertainty is not None:
            extras.append(
                OutputSpec(
                    Path(uncertainty),
                    tuple(config.out_bands),
                    "float32",
                    tags=tags
                    | {"CLOUDFREE_RADIOMETRY": Radiometry.REFLECTANCE.value, "CLOUDFREE_LAYER": "uncertainty (std)"},
                )
            )
        if write_mask is not None:
            extras.append(OutputSpec(Path(write_mask), ("mask",), "uint8", 255, {"CLOUDFREE_LAYER": "mask used"}))

        def finalize(blended: np.ndarray, window, raster) -> list[np.ndarray]:
            orig = raster.select(config.out_bands)
            estimate, std = blended[:n_out], blended[n_out:]
            if mask_path is not None:
                codes_m, rows = read_mask_window(str(mask_path), window, feather, info.height)
                weight, codes = feather_weights(cloud_of(codes_m), feather)[rows], codes_m[rows]
            elif replace_all:
                weight, codes = np.ones(orig.valid.shape, np.float32), np.ones(orig.valid.shape, np.uint8)
            else:
                diff = np.abs(estimate - orig.to_reflectance().data).mean(axis=0)
                cloud = (diff > threshold) & orig.valid
                weight, codes = feather_weights(cloud, feather), cloud.astype(np.uint8)
            out = [composite(orig, estimate, None if replace_all else weight, dtype, offset)]
            if uncertainty is not None:
                out.append((std * (1.0 if replace_all else weight[None])).astype(np.float32))
            if write_mask is not None:
                out.append(mask_output(codes, orig.valid))
            return out

        return predict_scene(
            inputs,
            output,
            runner,
            out_descriptions=config.out_bands,
            out_dtype=dtype,
            tags=tags,
            tile=tile,
            overlap=overlap,
            batch_size=batch_size,
            finalize=finalize,
            extra_outputs=extras,
            progress=progress,
            desc=f"remove {src.name}",
        )


def band_offsets(info: RasterInfo, names: tuple[str, ...], wanted: tuple[str, ...]) -> np.ndarray:
    """The file's DN offsets (tags, else 0) of the ``wanted`` bands."""
    offset = dn_offset_from_tags(info.tags, len(names))
    offset = np.zeros(len(names), np.float32) if offset is None else offset
    return offset[[names.index(b) for b in wanted]]
