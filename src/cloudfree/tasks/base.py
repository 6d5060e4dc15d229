"""Shared base of the cloud-removal Lightning tasks: inputs, units, validation, previews, release.

:class:`CloudRemovalTask` holds what every cloud-removal task (Pix2Pix, CycleGAN, diffusion,
SAR-optical fusion) does the same way, so that a trained model is fed and exported exactly as the
release contract in docs/ARCHITECTURE.md ("Released model inputs") says. Subclasses add the
networks, ``training_step`` and ``configure_optimizers``.

Interface for subclasses (stable; other tasks build on it):

* ``__init__(in_bands, out_bands=None, sar_bands=(), use_mask=False, max_reflectance=1.0,
  normalization=None, sar_normalization=None, input_order=None, n_preview=4)``; call
  ``super().__init__(...)`` first: it runs ``save_hyperparameters()``, which records the
  constructor arguments of the whole class chain (keep them plain: str, numbers, lists, dicts),
  so checkpoints load with ``weights_only=True`` and ``cloudfree export`` can rebuild the task.
* ``self.set_predictor(architecture, arguments)`` builds the exported network from the closed
  model registry and remembers its name and arguments for :meth:`release_config`.
* Batches are dataset samples (dict of tensors, keys ``cloudy``, ``clear``, ``mask``, ``sar``,
  ``prev_optical``, ``prev_sar``) whose optical tensors hold :attr:`data_bands` in that order
  (``in_bands`` then any ``out_bands`` not among them), reflectance, **not** normalised.
* :meth:`build_input` -> ``(N, in_channels, H, W)`` normalised network input, channel groups in
  :attr:`input_groups` order; :meth:`build_target` -> ``(N, len(out_bands), H, W)`` normalised
  target; :meth:`to_reflectance` inverts network output to reflectance.
* :meth:`predict_normalized` (override for samplers such as diffusion) is what validation scores;
  ``validation_step`` logs ``val/psnr``, ``val/ssim`` (torchmetrics, reflectance clipped 0..1) and
  ``val/l1``, and an input / prediction / target RGB grid goes to TensorBoard every epoch.
* ``release_kind`` and :meth:`release_extra` customise :meth:`release_config`.

Normalisation: optical bands use ``normalization`` (a :class:`~cloudfree.normalization.Normalization`
dict) or, by default, ``Normalization.fixed(data_bands, max_reflectance)`` (reflectance
0..max -> -1..1, the tanh convention). SAR dB uses ``sar_normalization`` or, by default, the
SEN12MS-CR clip ranges (VV -25..0 dB, VH -32.5..0 dB) mapped to -1..1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import lightning as L
import torch
from torch import nn
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from cloudfree import bands as bandcat
from cloudfree.masks import NODATA, SHADOW, THICK, THIN
from cloudfree.models import build_model
from cloudfree.models.push_pull import PRIOR_RELAX, push_pull_fill
from cloudfree.models.release import ReleaseConfig
from cloudfree.normalization import Normalization
from cloudfree.radiometry import S1_DB_RANGES
from cloudfree.tasks.callbacks import image_grid, preview_rgb
from cloudfree.tasks.schedules import LinearDecay  # noqa: F401 (re-exported)

GROUPS = ("optical", "sar", "mask", "prev_optical", "prev_sar")
DEFAULT_ORDER = ("optical", "sar", "mask")
SAR_ORDER = ("VV", "VH")  # channel order of the ``sar`` / ``prev_sar`` tensors in a batch


def sar_db_normalization(sar_bands: Sequence[str]) -> Normalization:
    """Clipped dB ranges of SEN12MS-CR (VV -25..0, VH -32.5..0) mapped to -1..1."""
    lo = [S1_DB_RANGES[b][0] for b in sar_bands]
    hi = [S1_DB_RANGES[b][1] for b in sar_bands]
    offset = tuple((a + b) / 2 for a, b in zip(lo, hi, strict=True))
    scale = tuple((b - a) / 2 for a, b in zip(lo, hi, strict=True))
    return Normalization(tuple(sar_bands), offset, scale, "sar_db_range", (-1.0, 1.0))


class CloudRemovalTask(L.LightningModule):
    """Base LightningModule for cloudy -> clear optical models (see the module docstring)."""

    task_name: ClassVar[str] = ""  # registry name in cloudfree.tasks (set by subclasses)
    release_kind: ClassVar[str] = "removal"

    def __init__(
        self,
        in_bands: Sequence[str] | str = "rgbn",
        out_bands: Sequence[str] | str | None = None,
        sar_bands: Sequence[str] | str = (),
        use_mask: bool = False,
        max_reflectance: float = 1.0,
        normalization: Mapping[str, Any] | None = None,
        sar_normalization: Mapping[str, Any] | None = None,
        input_order: Sequence[str] | None = None,
        n_preview: int = 4,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.in_bands: tuple[str, ...] = bandcat.resolve(in_bands) if in_bands else ()
        self.out_bands: tuple[str, ...] = bandcat.resolve(out_bands) if out_bands else self.in_bands
        if not self.out_bands:
            raise ValueError("a cloud-removal task needs out_bands (or in_bands to copy them from)")
        self.sar_bands: tuple[str, ...] = bandcat.resolve(sar_bands) if sar_bands else ()
        for b in self.sar_bands:
            if b not in SAR_ORDER:
                raise ValueError(f"sar_bands must be Sentinel-1 VV/VH, got {b!r}")
        for b in self.in_bands + self.out_bands:
            if bandcat.is_sar(b):
                raise ValueError(f"optical in_bands/out_bands may not hold Sentinel-1 band {b!r}; use sar_bands")
        self.use_mask = bool(use_mask)
        self.data_bands: tuple[str, ...] = self.in_bands + tuple(b for b in self.out_bands if b not in self.in_bands)
        self.norm = (
            Normalization.from_dict(dict(normalization))
            if normalization
            else Normalization.fixed(self.data_bands, max_reflectance)
        )
        bandcat.indices_of(self.norm.bands, self.data_bands, "normalization")
        self.sar_norm: Normalization | None = None
        if self.sar_bands:
            self.sar_norm = (
                Normalization.from_dict(dict(sar_normalization))
                if sar_normalization
                else sar_db_normalization(self.sar_bands)
            )
            bandcat.require_same(self.sar_bands, self.sar_norm.bands, "sar_normalization")
        order = tuple(input_order) if input_order else DEFAULT_ORDER
        unknown = [g for g in order if g not in GROUPS]
        if unknown:
            raise ValueError(f"unknown input groups {unknown}; known: {list(GROUPS)}")
        used = {
            "optical": bool(self.in_bands),
            "sar": bool(self.sar_bands),
            "mask": self.use_mask,
            "prev_optical": bool(self.in_bands),
            "prev_sar": bool(self.sar_bands),
        }
        self.input_order: tuple[str, ...] = order
        self.input_groups: tuple[str, ...] = tuple(g for g in order if used[g])
        if not self.input_groups:
            raise ValueError("the model has no input: give in_bands, sar_bands or use_mask")
        self.n_preview = int(n_preview)
        self.val_psnr = PeakSignalNoiseRatio(data_range=1.0, dim=(1, 2, 3))
        self.val_ssim = StructuralSimilarityIndexMeasure(data_range=1.0)
        self._architecture: str | None = None
        self._arguments: dict[str, Any] = {}
        self._predictor_attr: str | None = None
        self._preview: dict[str, torch.Tensor] | None = None

    # -- channels ---------------------------------------------------------------------------------
    @property
    def group_channels(self) -> dict[str, int]:
        sizes = {"optical": len(self.in_bands), "sar": len(self.sar_bands), "mask": 1}
        sizes |= {"prev_optical": len(self.in_bands), "prev_sar": len(self.sar_bands)}
        return {g: sizes[g] for g in self.input_groups}

    @property
    def in_channels(self) -> int:
        """Channels of :meth:`build_input`'s tensor."""
        return sum(self.group_channels.values())

    @property
    def out_channels(self) -> int:
        return len(self.out_bands)

    # -- predictor --------------------------------------------------------------------------------
    def set_predictor(self, architecture: str, arguments: Mapping[str, Any], attr: str = "generator") -> nn.Module:
        """Build the exported network from the closed registry, store it as ``self.<attr>``."""
        module = build_model(architecture, dict(arguments))
        setattr(self, attr, module)
        self._architecture, self._arguments, self._predictor_attr = architecture, dict(arguments), attr
        return module

    def predictor(self) -> nn.Module:
        """The ``nn.Module`` a release holds: ``(N, in_channels, T, T)`` -> ``(N, out_channels, T, T)``."""
        if self._predictor_attr is None:
            raise RuntimeError(f"{type(self).__name__} did not call set_predictor()")
        return getattr(self, self._predictor_attr)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.predictor()(x)

    # -- inputs, targets, units -------------------------------------------------------------------
    def _optical(self, batch: Mapping[str, Any], key: str, wanted: Sequence[str]) -> torch.Tensor:
        if key not in batch:
            raise ValueError(f"{type(self).__name__} needs batch key {key!r}; batch has {sorted(batch)}")
        x = batch[key]
        if x.shape[1] != len(self.data_bands):
            raise ValueError(f"batch {key!r} has {x.shape[1]} channels, expected data_bands {list(self.data_bands)}")
        idx = bandcat.indices_of(self.data_bands, wanted, f"batch {key!r}")
        return x[:, idx].float()

    def _sar(self, batch: Mapping[str, Any], key: str) -> torch.Tensor:
        if key not in batch:
            raise ValueError(f"{type(self).__name__} uses SAR {list(self.sar_bands)} but the batch has no {key!r}")
        x = batch[key][:, bandcat.indices_of(SAR_ORDER, self.sar_bands, f"batch {key!r}")].float()
        assert self.sar_norm is not None
        return torch.nan_to_num(self.sar_norm.apply(x), nan=0.0)  # NaN (no SAR) -> mid-range

    def group_tensor(self, batch: Mapping[str, Any], group: str) -> torch.Tensor:
        """One normalised channel group of the input (``optical``, ``sar``, ``mask`` ...)."""
        if group in ("optical", "prev_optical"):
            key = "cloudy" if group == "optical" else "prev_optical"
            return self.norm.select(self.in_bands).apply(self._optical(batch, key, self.in_bands))
        if group in ("sar", "prev_sar"):
            return self._sar(batch, group)
        if self._arguments.get("mask_encoding", "binary") == "opacity":
            if "labels" not in batch:
                raise ValueError(f"{type(self).__name__} encodes the mask by opacity but the batch has no 'labels'")
            labels = batch["labels"]
            labels = labels[:, None] if labels.ndim == 3 else labels
            thin_or_shadow = (labels == THIN) | (labels == SHADOW)
            return (labels == THICK).float() + 0.5 * thin_or_shadow.float()  # masks.mask_channel, in torch
        if "mask" not in batch:
            raise ValueError(f"{type(self).__name__} uses a cloud-mask channel but the batch has no 'mask'")
        return (batch["mask"] > 0).float()

    def build_input(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """Normalised network input ``(N, in_channels, H, W)``, groups in :attr:`input_groups` order.

        With an ``opacity`` mask channel the optical input under thick cloud is the sample's own
        push-pull fill of its clear pixels, relaxed as the engine's
        (:data:`~cloudfree.models.push_pull.PRIOR_RELAX`; the inference pipeline fills over a
        scene-wide background), never the cloud.
        """
        groups = {g: self.group_tensor(batch, g) for g in self.input_groups}
        if self._arguments.get("mask_encoding") == "opacity" and {"optical", "mask"} <= groups.keys():
            channel = groups["mask"]
            clear = channel < 0.25
            if "labels" in batch:  # nodata (255) is not clear ground to fill from
                labels = batch["labels"]
                clear = clear & (labels[:, None] if labels.ndim == 3 else labels).ne(NODATA)
            own = push_pull_fill(groups["optical"], clear.to(channel.dtype), relax=PRIOR_RELAX)
            groups["optical"] = torch.where(channel > 0.75, own, groups["optical"])
        return torch.cat([groups[g] for g in self.input_groups], dim=1)

    def target_reflectance(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """Clear target ``(N, len(out_bands), H, W)`` in reflectance."""
        return self._optical(batch, "clear", self.out_bands)

    def build_target(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """Clear target normalised like the network output."""
        return self.norm.select(self.out_bands).apply(self.target_reflectance(batch))

    def to_reflectance(self, pred: torch.Tensor) -> torch.Tensor:
        """Network output ``(N, len(out_bands), H, W)`` -> reflectance (not clipped)."""
        return self.norm.select(self.out_bands).invert(pred)

    def predict_normalized(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """The model's estimate of the clear image in normalised units (override for samplers)."""
        return self(self.build_input(batch))

    # -- validation -------------------------------------------------------------------------------
    def validation_step(self, batch: Mapping[str, Any], batch_idx: int) -> torch.Tensor:
        pred = self.to_reflectance(self.predict_normalized(batch)).float().clamp(0, 1)
        target = self.target_reflectance(batch).clamp(0, 1)
        n = pred.shape[0]
        l1 = torch.mean(torch.abs(pred - target))
        self.val_psnr(pred, target)
        self.val_ssim(pred, target)
        self.log("val/psnr", self.val_psnr, on_epoch=True, prog_bar=True, batch_size=n)
        self.log("val/ssim", self.val_ssim, on_epoch=True, batch_size=n)
        self.log("val/l1", l1, on_epoch=True, batch_size=n, sync_dist=True)
        if batch_idx == 0:
            k = self.n_preview
            self._preview = {"input": self.preview_input(batch)[:k], "prediction": pred[:k], "target": target[:k]}
        return l1

    def preview_input(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """What the input looks like, 3 channels: cloudy optical RGB, else SAR (VV, VH, VV) in 0..1."""
        if self.in_bands and "cloudy" in batch:
            return preview_rgb(self._optical(batch, "cloudy", self.in_bands), self.in_bands)
        sar = (self._sar(batch, "sar") + 1) / 2
        return sar[:, [0, -1, 0]]

    def on_validation_epoch_end(self) -> None:
        preview, self._preview = self._preview, None
        if preview is None or self.logger is None or not hasattr(self.logger.experiment, "add_image"):
            return
        rgb = [preview["input"], preview_rgb(preview["prediction"], self.out_bands)]
        rgb.append(preview_rgb(preview["target"], self.out_bands))
        self.logger.experiment.add_image("val/input_prediction_target", image_grid(rgb), self.global_step)

    # -- release ----------------------------------------------------------------------------------
    def release_extra(self) -> dict[str, Any]:
        """Model-kind specifics stored in ``config.extra`` (subclasses add to it)."""
        return {"input_order": list(self.input_groups), "task": self.task_name}

    def release_config(self, name: str) -> ReleaseConfig:
        """Everything :func:`~cloudfree.models.release.load_release` needs to rebuild and feed the predictor."""
        if self._architecture is None:
            raise RuntimeError(f"{type(self).__name__} did not call set_predictor()")
        return ReleaseConfig(
            name=name,
            kind=self.release_kind,
            architecture=self._architecture,
            arguments=dict(self._arguments),
            in_bands=self.in_bands,
            out_bands=self.out_bands,
            normalization=self.norm.to_dict(),
            sar_bands=self.sar_bands,
            uses_mask=self.use_mask,
            sar_normalization=self.sar_norm.to_dict() if self.sar_norm else None,
            radiometry="reflectance",
            extra=self.release_extra(),
        )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["cloudfree_task"] = self.task_name
