"""Lightning task for cloud and shadow segmentation (``task: segmentation``): training logic only.

The network is :class:`~cloudfree.masking.segmentation.SegmentationUNet` (from the closed model
registry). Batches are dataset samples (docs/ARCHITECTURE.md) holding reflectance ``image``
``(N, C, H, W)`` (or ``cloudy``, as the synthetic-cloud dataset names it) in ``in_bands`` order,
not normalised, and ``labels`` ``(N, H, W)`` mask codes (0 clear, 1 thick, 2 thin, 3 shadow, 255
ignored; a ``valid`` channel from augmentation warps also marks pixels to ignore). Codes are folded
onto the model's class scheme (``classes``: ``full`` 4 classes, ``cloud_shadow`` 3, ``cloud`` 2,
see :mod:`cloudfree.masks`).

* Loss: ``focal_weight * focal + dice_weight * dice`` (0.25 / 0.75, segmentation-models-pytorch's
  multiclass ``FocalLoss`` and ``DiceLoss``, label 255 ignored).
* Optimiser: AdamW; learning rate reduced on a plateau of ``val/loss`` (``train/loss`` without
  validation), or held constant (``lr_policy: constant``). Early stopping is the config's
  ``callbacks.early_stopping`` (e.g. ``{monitor: val/loss, mode: min, patience: 5}``).
* Metrics (torchmetrics, ignore index 255): IoU, F1 and accuracy (recall) per class, mean IoU and
  pixel accuracy: ``val/iou_thick_cloud``, ``val/f1_shadow``, ``val/miou``, ``val/pixel_acc`` ...;
  ``train/miou`` and ``train/pixel_acc`` per epoch.
* Inputs: ``preprocess: reflectance`` (0..``max_reflectance`` -> -1..1) or ``rgb8`` (the seed
  project's 8-bit RGB: clip at 0.4 reflectance = 4000 DN, 256 levels).
* Release: ``kind: mask``, ``extra.class_codes`` = mask code of each output channel, plus
  ``preprocess`` and ``scheme``; out_bands are the class names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import lightning as L
import numpy as np
import segmentation_models_pytorch as smp
import torch
from torch import nn
from torch.optim import AdamW
from torch.optim.lr_scheduler import ReduceLROnPlateau
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score, MulticlassJaccardIndex

from cloudfree import bands as bandcat
from cloudfree.masking.segmentation import input_normalization, prepare_input
from cloudfree.masks import NODATA, class_codes, class_names, fold
from cloudfree.models import build_model
from cloudfree.models.release import ReleaseConfig

ARCHITECTURE = "segmentationunet"
LR_POLICIES = ("plateau", "constant")


class SegmentationTask(L.LightningModule):
    """Train a :class:`SegmentationUNet` on per-pixel mask codes.

    Args:
        in_bands: input bands (a set name such as ``rgbn``/``l1c13``/``rgb`` or a list).
        classes: class scheme, ``full`` (clear, thick, thin, shadow), ``cloud_shadow`` or ``cloud``.
        encoder_name, encoder_depth, decoder_channels: the U-Net (see SegmentationUNet).
        preprocess: ``reflectance`` or ``rgb8``.
        max_reflectance: reflectance mapped to +1 by the ``reflectance`` preprocessing.
        focal_weight, dice_weight, focal_gamma: loss weights and the focal loss exponent.
        lr, weight_decay: AdamW parameters.
        lr_policy: ``plateau`` (ReduceLROnPlateau) or ``constant``.
        plateau: ReduceLROnPlateau arguments plus ``monitor`` (default ``val/loss``, ``train/loss``
            when there is no validation data; ``mode: min``, ``factor: 0.5``, ``patience: 3``).
    """

    task_name: ClassVar[str] = "segmentation"
    release_kind: ClassVar[str] = "mask"
    checkpoint_monitor: ClassVar[tuple[str, str]] = ("val/loss", "min")  # metric and mode for checkpoints

    def __init__(
        self,
        in_bands: Sequence[str] | str = "rgbn",
        classes: str = "full",
        encoder_name: str = "efficientnet-b2",
        encoder_depth: int = 5,
        decoder_channels: Sequence[int] | None = None,
        preprocess: str = "reflectance",
        max_reflectance: float = 1.0,
        focal_weight: float = 0.25,
        dice_weight: float = 0.75,
        focal_gamma: float = 2.0,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        lr_policy: str = "plateau",
        plateau: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.in_bands: tuple[str, ...] = bandcat.resolve(in_bands)
        for b in self.in_bands:
            if bandcat.is_sar(b):
                raise ValueError(f"segmentation in_bands must be Sentinel-2 bands, got {b!r}")
        self.data_bands, self.sar_bands, self.use_mask = self.in_bands, (), False  # datamodule interface
        self.scheme = classes
        self.codes = class_codes(classes)
        self.class_names = class_names(self.codes)
        self.preprocess = preprocess
        self.norm = input_normalization(self.in_bands, preprocess, max_reflectance)
        if lr_policy not in LR_POLICIES:
            raise ValueError(f"unknown lr_policy {lr_policy!r}; expected one of {list(LR_POLICIES)}")
        self.lr, self.weight_decay, self.lr_policy = float(lr), float(weight_decay), lr_policy
        self.plateau = dict(plateau or {})
        self.arguments: dict[str, Any] = {
            "in_channels": len(self.in_bands),
            "classes": len(self.codes),
            "encoder_name": encoder_name,
            "encoder_depth": int(encoder_depth),
            "decoder_channels": list(decoder_channels) if decoder_channels else None,
        }
        self.net = build_model(ARCHITECTURE, self.arguments)
        self.focal = smp.losses.FocalLoss("multiclass", gamma=focal_gamma, ignore_index=NODATA)
        self.dice = smp.losses.DiceLoss("multiclass", from_logits=True, ignore_index=NODATA)
        self.focal_weight, self.dice_weight = float(focal_weight), float(dice_weight)
        lut = torch.full((256,), NODATA, dtype=torch.long)  # mask code -> class index (folded)
        for code in range(4):
            folded = int(fold(np.array([code], np.uint8), classes)[0])
            lut[code] = self.codes.index(folded)
        self.register_buffer("code_to_index", lut, persistent=False)
        k = len(self.codes)
        metric = {"num_classes": k, "ignore_index": NODATA, "validate_args": False}
        self.val_iou = MulticlassJaccardIndex(average="none", **metric)
        self.val_f1 = MulticlassF1Score(average="none", **metric)
        self.val_acc = MulticlassAccuracy(average="none", **metric)
        self.val_pixel_acc = MulticlassAccuracy(average="micro", **metric)
        self.train_iou = MulticlassJaccardIndex(average="macro", **metric)
        self.train_pixel_acc = MulticlassAccuracy(average="micro", **metric)

    # -- data ---------------------------------------------------------------------------------
    def predictor(self) -> nn.Module:
        """The network a release holds: ``(N, in_bands, H, W)`` normalised -> ``(N, classes, H, W)`` logits."""
        return self.net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def build_input(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """Normalised network input from the batch's reflectance (``image`` or ``cloudy``)."""
        key = "image" if "image" in batch else "cloudy"
        if key not in batch:
            raise ValueError(f"segmentation needs batch key 'image' (or 'cloudy'); batch has {sorted(batch)}")
        x = batch[key]
        if x.ndim != 4 or x.shape[1] != len(self.in_bands):
            raise ValueError(
                f"batch {key!r} is {tuple(x.shape)}, expected (N, {len(self.in_bands)}, H, W) for "
                f"bands {list(self.in_bands)}"
            )
        return prepare_input(x, self.norm, self.preprocess)

    def build_target(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """Class indices ``(N, H, W)`` int64 from the batch's mask codes; 255 = ignored."""
        if "labels" not in batch:
            raise ValueError(
                f"segmentation needs per-pixel class codes (batch key 'labels', 0 clear, 1 thick, 2 thin, 3 shadow); "
                f"the batch has only {sorted(batch)}"
            )
        labels = batch["labels"]
        if labels.ndim == 4:
            labels = labels[:, 0]
        target = self.code_to_index[labels.long().clamp(0, 255)]
        if "valid" in batch:
            target = torch.where(batch["valid"][:, 0] > 0, target, torch.full_like(target, NODATA))
        return target

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.focal_weight * self.focal(logits, target) + self.dice_weight * self.dice(logits, target)

    # -- steps --------------------------------------------------------------------------------
    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> torch.Tensor:
        logits, target = self(self.build_input(batch)), self.build_target(batch)
        loss = self.loss(logits, target)
        n = target.shape[0]
        pred = logits.argmax(dim=1)
        self.train_iou(pred, target)
        self.train_pixel_acc(pred, target)
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=n)
        self.log("train/miou", self.train_iou, on_step=False, on_epoch=True, batch_size=n)
        self.log("train/pixel_acc", self.train_pixel_acc, on_step=False, on_epoch=True, batch_size=n)
        return loss

    def validation_step(self, batch: Mapping[str, Any], batch_idx: int) -> torch.Tensor:
        logits, target = self(self.build_input(batch)), self.build_target(batch)
        loss = self.loss(logits, target)
        pred = logits.argmax(dim=1)
        for metric in (self.val_iou, self.val_f1, self.val_acc, self.val_pixel_acc):
            metric.update(pred, target)
        self.log("val/loss", loss, on_epoch=True, prog_bar=True, batch_size=target.shape[0], sync_dist=True)
        return loss

    def on_validation_epoch_end(self) -> None:
        iou, f1, acc = self.val_iou.compute(), self.val_f1.compute(), self.val_acc.compute()
        for i, name in enumerate(self.class_names):
            self.log(f"val/iou_{name}", iou[i])
            self.log(f"val/f1_{name}", f1[i])
            self.log(f"val/acc_{name}", acc[i])
        self.log("val/miou", iou.mean(), prog_bar=True)
        self.log("val/pixel_acc", self.val_pixel_acc.compute())
        for metric in (self.val_iou, self.val_f1, self.val_acc, self.val_pixel_acc):
            metric.reset()

    # -- optimisation -------------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        optimizer = AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        if self.lr_policy == "constant":
            return optimizer
        args = {"mode": "min", "factor": 0.5, "patience": 3, **self.plateau}
        monitor = args.pop("monitor", None) or ("val/loss" if self._has_validation() else "train/loss")
        scheduler = ReduceLROnPlateau(optimizer, **args)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": monitor, "strict": False}}

    def _has_validation(self) -> bool:
        """Whether the attached datamodule has validation data (so that ``val/loss`` will exist)."""
        try:
            trainer = self.trainer
        except RuntimeError:  # not attached to a Trainer
            return False
        return getattr(getattr(trainer, "datamodule", None), "val_set", None) is not None

    # -- release ------------------------------------------------------------------------------
    def release_config(self, name: str) -> ReleaseConfig:
        """The ``config.json`` of this model's release (kind ``mask``, class codes, preprocessing)."""
        return ReleaseConfig(
            name=name,
            kind=self.release_kind,
            architecture=ARCHITECTURE,
            arguments=dict(self.arguments),
            in_bands=self.in_bands,
            out_bands=self.class_names,
            normalization=self.norm.to_dict(),
            radiometry="reflectance",
            extra={
                "class_codes": list(self.codes),
                "scheme": self.scheme,
                "preprocess": self.preprocess,
                "task": self.task_name,
            },
        )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["cloudfree_task"] = self.task_name
