"""From the engine's stacked tiles to a released model's input, and from its output to reflectance.

The streaming engine stacks the named inputs of a removal run channel-wise; :class:`ChannelLayout`
records which channels hold which group:

* ``primary``: the scene itself (the first input, on whose grid everything is read), reflectance
  0..1: the model's ``in_bands`` first, then output bands the model does not take, then (with
  ``keep_bands``) the scene's other bands, carried through unchanged;
* ``sar`` / ``prev_sar``: Sentinel-1 VV, VH at the scene's date / the earlier date;
* ``prev_optical``: the earlier Sentinel-2 image (the model's ``in_bands``, reflectance);
* ``mask``: one channel of mask codes.

:class:`ModelRunner` assembles the groups the release asks for, in ``config.extra["input_order"]``
(docs/ARCHITECTURE.md, "Released model inputs"): optical groups normalised with the release's
normalisation (nodata as 0), SAR as Sentinel-1 was prepared for training (linear power -> dB when
the file holds power, clipped to the SEN12MS-CR ranges VV -25..0 / VH -32.5..0 dB, then the
release's SAR normalisation; nodata as 0), the mask as 0/1 (1 = cloud or shadow).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from cloudfree.masks import CLEAR, THICK, mask_channel
from cloudfree.models.push_pull import PRIOR_RELAX, background_prior, push_pull_fill
from cloudfree.models.release import ReleaseConfig
from cloudfree.radiometry import clip_sar_db

if TYPE_CHECKING:
    from cloudfree.inference.background import SceneBackground

GROUPS = ("optical", "sar", "mask", "prev_optical", "prev_sar")
MULTI_TEMPORAL = ("prev_optical", "prev_sar")


@dataclass
class ChannelLayout:
    """Where each input group sits in the engine's channel stack (``slice`` per group).

    ``sar_linear`` names the SAR groups whose file holds linear power (converted to dB here).
    """

    slices: dict[str, slice] = field(default_factory=dict)
    sar_linear: set[str] = field(default_factory=set)
    end: int = 0

    def add(self, group: str, channels: int) -> None:
        self.slices[group] = slice(self.end, self.end + channels)
        self.end += channels


def input_groups(config: ReleaseConfig) -> list[str]:
    """The groups a release takes, in its channel order."""
    present = {
        "optical": bool(config.in_bands),
        "sar": bool(config.sar_bands),
        "mask": config.uses_mask,
        "prev_optical": True,
        "prev_sar": bool(config.sar_bands),
    }
    order = config.extra.get("input_order", ["optical", "sar", "mask"])
    unknown = [g for g in order if g not in GROUPS]
    if unknown:
        raise ValueError(f"model {config.name!r} asks for input groups {unknown}; known groups: {list(GROUPS)}")
    return [g for g in order if present[g]]


def is_multi_temporal(config: ReleaseConfig) -> bool:
    return any(g in MULTI_TEMPORAL for g in input_groups(config))


def sar_to_db(x: np.ndarray, linear: bool) -> np.ndarray:
    """``(N, 2, h, w)`` VV, VH as clipped dB (linear power converted first; <= 0 power -> NaN)."""
    x = x.astype(np.float32, copy=True)
    if linear:
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.where(x > 0, 10.0 * np.log10(np.where(x > 0, x, 1.0)), np.nan).astype(np.float32)
    return np.stack([clip_sar_db(t) for t in x])


class ModelRunner:
    """``predict(x, valid)`` of the engine for a released removal or diffusion model.

    Returns ``(N, C_out, T, T)`` reflectance, plus ``C_out`` channels of standard deviation
    (reflectance; 0 for deterministic models) when ``with_std``.
    """

    def __init__(
        self,
        model: nn.Module,
        config: ReleaseConfig,
        layout: ChannelLayout,
        *,
        device: str,
        steps: int | None = None,
        samples: int | None = None,
        seed: int = 0,
        with_std: bool = False,
        background: SceneBackground | None = None,
    ) -> None:
        self.model, self.config, self.layout, self.device = model, config, layout, torch.device(device)
        # Convolutions in NHWC ("channels last"), oneDNN's native layout on CPUs: the default removal
        # models' forward takes 15-25 % less time on 2 cores for the same numbers up to float
        # rounding (bench/bench_throughput.py). Diffusion keeps the layout its sampler was measured with.
        self.memory_format = torch.channels_last if config.kind != "diffusion" else torch.contiguous_format
        self.model.to(memory_format=self.memory_format)
        self.n_in = len(config.in_bands)
        # diffusion: the release's recorded sampling settings unless the caller overrides them
        self.steps = int(steps if steps is not None else config.extra.get("steps", 20))
        self.samples = int(samples if samples is not None else config.extra.get("n_samples", 1))
        self.with_std = with_std
        # inputs use the input bands' statistics (the normalisation may also cover output-only bands)
        self.norm = config.norm.select(config.in_bands) if self.n_in else None
        self.out_norm = config.norm.select(config.out_bands)
        self.sar_norm = config.sar_norm
        if config.sar_bands and self.sar_norm is None:
            raise ValueError(f"model {config.name!r} takes SAR bands but its release has no sar_normalization")
        self.order = input_groups(config)
        missing = [g for g in self.order if g not in layout.slices and g != "optical"]
        if missing:
            raise ValueError(f"model {config.name!r} needs inputs {missing} that were not given")
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.opacity = config.arguments.get("mask_encoding") == "opacity"
        self.background = background

    def _optical(self, x: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
        assert self.norm is not None
        out = np.asarray(self.norm.apply(x), np.float32)  # (N, C, T, T) at once: the same per-element ops
        if out is x:
            out = out.copy()
        if valid is not None:
            np.copyto(out, np.float32(0.0), where=~valid[:, None])
        return np.nan_to_num(out, copy=False, nan=0.0, posinf=0.0, neginf=0.0)

    def _sar(self, x: np.ndarray, group: str) -> np.ndarray:
        assert self.sar_norm is not None
        db = sar_to_db(x, group in self.layout.sar_linear)
        return np.nan_to_num(np.stack([self.sar_norm.apply(t) for t in db]), nan=0.0, posinf=0.0, neginf=0.0)

    def assemble(self, x: np.ndarray, valid: np.ndarray, tiles: Sequence[Any] | None = None) -> np.ndarray:
        """Normalised model input ``(N, C_model, T, T)`` float32 from stacked tiles ``x``.

        ``tiles``: the engine's tiles (``row``, ``col`` of their top-left pixels), for the
        scene-wide background; without them each tile's prior rests on its own clear pixels.
        """
        s = self.layout.slices
        groups: dict[str, np.ndarray] = {}
        for g in self.order:
            if g == "optical":
                groups[g] = self._optical(x[:, s["primary"]][:, : self.n_in], valid)
                if self.opacity and "mask" in s:
                    groups[g] = self._under_thick_cloud(groups[g], x, valid, tiles)
            elif g == "prev_optical":
                groups[g] = self._optical(x[:, s[g]], None)
            elif g in ("sar", "prev_sar"):
                groups[g] = self._sar(x[:, s[g]], g)
            else:  # mask
                groups[g] = mask_channel(x[:, s["mask"]], self.config.arguments.get("mask_encoding", "binary"))
        if len(self.order) == 1:
            return groups[self.order[0]].astype(np.float32, copy=False)
        return np.concatenate([groups[g] for g in self.order], axis=1).astype(np.float32, copy=False)

    def _under_thick_cloud(
        self, optical: np.ndarray, x: np.ndarray, valid: np.ndarray, tiles: Sequence[Any] | None
    ) -> np.ndarray:
        """Normalised optical input with the prior under thick cloud (``opacity`` releases).

        Over the scene-wide background (:mod:`.background`,
        :func:`~cloudfree.models.push_pull.background_prior`) when the pass has one, else the
        tile's own push-pull fill of its clear pixels, relaxed towards the harmonic fill
        (:data:`~cloudfree.models.push_pull.PRIOR_RELAX`): the network never sees cloud values.
        """
        s = self.layout.slices
        codes = x[:, s["mask"]]
        thick = codes == THICK
        if not thick.any():
            return optical
        clear = torch.from_numpy(((codes == CLEAR) & valid[:, None]).astype(np.float32))
        with torch.no_grad():
            if self.background is not None and tiles is not None:
                size = x.shape[-1]
                local = np.stack([self.background.tile(t.row, t.col, size) for t in tiles])
                background = torch.from_numpy(self._optical(local, None))
                prior = background_prior(torch.from_numpy(optical), clear, background, relax=PRIOR_RELAX).numpy()
            else:
                prior = push_pull_fill(torch.from_numpy(optical), clear, relax=PRIOR_RELAX).numpy()
        return np.where(thick, prior, optical).astype(np.float32)

    @torch.no_grad()
    def __call__(self, x: np.ndarray, valid: np.ndarray, tiles: Sequence[Any] | None = None) -> np.ndarray:
        inp = torch.from_numpy(self.assemble(x, valid, tiles)).to(self.device)
        inp = inp.contiguous(memory_format=self.memory_format)
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
        return (out[0] if len(out) == 1 else torch.cat(out, dim=1)).contiguous().cpu().numpy()
