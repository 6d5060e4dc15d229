"""Training of the SAR-optical fusion models: DSen2-CR with the cloud-adaptive loss, and the multi-temporal model.

:func:`cloud_adaptive_loss` is CARL from Meraner et al. (2020), eq. 4:

    L = mean|CSM * (P - T) + (1 - CSM) * (P - I)| + lambda * mean|P - T|

with ``P`` the prediction, ``T`` the clear target, ``I`` the cloudy input and ``CSM`` the
cloud-and-shadow mask (1 under cloud or shadow). Clear pixels are pulled towards the input (which
is already right there, and is what the long skip of DSen2-CR passes through), cloudy pixels
towards the target, and the global term (``lambda = 1`` in the paper) keeps the whole image close
to the target. All three are in the normalised units of the network.

:class:`DSen2CRTask` feeds ``["optical", "sar"]`` (cloudy Sentinel-2 then Sentinel-1) and needs the
batch ``mask`` for CARL (``loss="l1"`` trains without one). :class:`MultiTemporalTask` feeds
``["prev_optical", "prev_sar", "sar"]`` and fits the clear target at ``t1`` with an L1 loss.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from cloudfree.tasks.base import CloudRemovalTask

FUSION_LOSSES = ("carl", "l1")


def cloud_adaptive_loss(
    pred: torch.Tensor, cloudy: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, target_weight: float = 1.0
) -> torch.Tensor:
    """CARL (see the module docstring).

    ``pred``, ``cloudy`` (the network's optical input), ``target``: ``(N, C, H, W)`` in normalised
    units; ``mask``: ``(N, 1, H, W)``, > 0 under cloud or shadow. Returns a scalar.
    """
    if not (pred.shape == cloudy.shape == target.shape):
        raise ValueError(
            f"CARL needs equal shapes, got {tuple(pred.shape)}, {tuple(cloudy.shape)}, {tuple(target.shape)}"
        )
    csm = (mask > 0).to(pred.dtype)
    adaptive = torch.abs(csm * (pred - target) + (1.0 - csm) * (pred - cloudy)).mean()
    return adaptive + target_weight * torch.abs(pred - target).mean()


def _same_bands_or_raise(task: CloudRemovalTask, model: str) -> None:
    if task.out_bands != task.in_bands:
        raise ValueError(
            f"{model} adds its optical input to the output, so out_bands {list(task.out_bands)} must equal "
            f"in_bands {list(task.in_bands)}"
        )


class _FusionTask(CloudRemovalTask):
    """Adam optimiser and logging shared by the two fusion tasks."""

    lr: float
    weight_decay: float

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.predictor().parameters(), lr=self.lr, weight_decay=self.weight_decay)

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> torch.Tensor:
        loss = self.loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["clear"].shape[0])
        return loss

    def loss(self, batch: Mapping[str, Any]) -> torch.Tensor:
        raise NotImplementedError


class DSen2CRTask(_FusionTask):
    """DSen2-CR: cloudy Sentinel-2 + Sentinel-1 -> clear Sentinel-2, trained with CARL.

    Args (besides the :class:`CloudRemovalTask` ones; ``input_order`` is fixed to optical, sar and
    ``use_mask`` must stay False, since the network takes no mask channel):
        feature_size, num_layers, scale: :class:`~cloudfree.models.fusion.DSen2CR` (paper: 256, 16, 0.1).
        loss: ``carl`` (needs the batch ``mask``) or ``l1``.
        target_weight: lambda of CARL's global target term.
        lr, weight_decay: Adam settings (the paper uses 7e-5).
    """

    task_name = "dsen2cr"

    def __init__(
        self,
        in_bands: Sequence[str] | str = "l1c13",
        out_bands: Sequence[str] | str | None = None,
        sar_bands: Sequence[str] | str = ("VV", "VH"),
        use_mask: bool = False,
        max_reflectance: float = 1.0,
        normalization: Mapping[str, Any] | None = None,
        sar_normalization: Mapping[str, Any] | None = None,
        input_order: Sequence[str] | None = ("optical", "sar"),
        n_preview: int = 4,
        feature_size: int = 256,
        num_layers: int = 16,
        scale: float = 0.1,
        loss: str = "carl",
        target_weight: float = 1.0,
        lr: float = 7e-5,
        weight_decay: float = 0.0,
    ) -> None:
        if use_mask:
            raise ValueError("DSen2CR takes no cloud-mask channel (use_mask must be false); CARL reads the mask itself")
        if input_order is not None and tuple(input_order) != ("optical", "sar"):
            raise ValueError(f"DSen2CR input_order must be ['optical', 'sar'], got {list(input_order)}")
        super().__init__(
            in_bands, out_bands, sar_bands, use_mask, max_reflectance, normalization, sar_normalization,
            ("optical", "sar"), n_preview,
        )  # fmt: skip
        _same_bands_or_raise(self, "DSen2CR")
        if loss not in FUSION_LOSSES:
            raise ValueError(f"loss {loss!r}; expected one of {FUSION_LOSSES}")
        self.set_predictor(
            "dsen2cr",
            {
                "optical_channels": len(self.in_bands),
                "sar_channels": len(self.sar_bands),
                "out_channels": self.out_channels,
                "feature_size": int(feature_size),
                "num_layers": int(num_layers),
                "scale": float(scale),
            },
            attr="generator",
        )
        self.loss_name, self.target_weight = loss, float(target_weight)
        self.lr, self.weight_decay = float(lr), float(weight_decay)

    def loss(self, batch: Mapping[str, Any]) -> torch.Tensor:
        x = self.build_input(batch)
        pred = self(x)
        target = self.build_target(batch)
        if self.loss_name == "l1":
            return torch.abs(pred - target).mean()
        if "mask" not in batch:
            raise ValueError("DSen2CR's cloud-adaptive loss (loss: carl) needs the batch key 'mask'; use loss: l1")
        cloudy = x[:, : len(self.in_bands)]  # optical group comes first
        return cloud_adaptive_loss(pred, cloudy, target, batch["mask"], self.target_weight)


class MultiTemporalTask(_FusionTask):
    """Sentinel-2 at ``t1`` from Sentinel-2 at ``t0`` and Sentinel-1 at ``t0`` and ``t1``, L1 loss.

    Args (besides the :class:`CloudRemovalTask` ones; ``sar_bands`` are required, ``input_order`` is
    fixed to prev_optical, prev_sar, sar):
        features, num_blocks, scale: :class:`~cloudfree.models.fusion.MultiTemporalFusion`.
        lr, weight_decay: Adam settings.
    """

    task_name = "multitemporal"

    def __init__(
        self,
        in_bands: Sequence[str] | str = "l1c13",
        out_bands: Sequence[str] | str | None = None,
        sar_bands: Sequence[str] | str = ("VV", "VH"),
        use_mask: bool = False,
        max_reflectance: float = 1.0,
        normalization: Mapping[str, Any] | None = None,
        sar_normalization: Mapping[str, Any] | None = None,
        input_order: Sequence[str] | None = ("prev_optical", "prev_sar", "sar"),
        n_preview: int = 4,
        features: int = 64,
        num_blocks: int = 4,
        scale: float = 0.1,
        lr: float = 1e-4,
        weight_decay: float = 0.0,
    ) -> None:
        order = ("prev_optical", "prev_sar", "sar")
        if use_mask:
            raise ValueError("MultiTemporalFusion takes no cloud-mask channel (use_mask must be false)")
        if input_order is not None and tuple(input_order) != order:
            raise ValueError(f"MultiTemporalFusion input_order must be {list(order)}, got {list(input_order)}")
        if not sar_bands:
            raise ValueError("the multi-temporal model needs sar_bands (Sentinel-1 at both dates)")
        super().__init__(
            in_bands, out_bands, sar_bands, use_mask, max_reflectance, normalization, sar_normalization, order,
            n_preview,
        )  # fmt: skip
        _same_bands_or_raise(self, "MultiTemporalFusion")
        self.set_predictor(
            "multitemporalfusion",
            {
                "optical_channels": len(self.in_bands),
                "sar_channels": len(self.sar_bands),
                "out_channels": self.out_channels,
                "features": int(features),
                "num_blocks": int(num_blocks),
                "scale": float(scale),
            },
            attr="generator",
        )
        self.lr, self.weight_decay = float(lr), float(weight_decay)

    def loss(self, batch: Mapping[str, Any]) -> torch.Tensor:
        return torch.abs(self(self.build_input(batch)) - self.build_target(batch)).mean()
