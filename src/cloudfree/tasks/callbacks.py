"""Training helpers around the tasks: RGB previews and image grids, a GAN health check, RNG state.

* :func:`preview_rgb`, :func:`percentile_stretch`, :func:`image_grid`: turn reflectance tensors
  ``(N, C, H, W)`` into a displayable grid ``(3, H', W')`` in 0..1 (2-98 percentile stretch, as
  Sentinel-2 quick-looks are usually shown; a plain min-max would be dominated by bright clouds).
* :class:`GANHealthCheck`: warns when the discriminator loss collapses towards zero (it wins and the
  generator stops learning) or when the generator's output variance falls far below the target's
  (flat, mode-collapsed output). It reads metrics the GAN tasks log every step.
* :class:`RNGStateCallback`: stores the Python, NumPy and torch random states in checkpoints and
  restores them when training resumes, so that a resumed run draws the same random numbers
  (dropout, image pool, dataloader seeds) as an uninterrupted one. Lightning does not save them.
  The states are stored as tensors and plain tuples so that ``weights_only=True`` loading works.
"""

from __future__ import annotations

import logging
import random
import warnings
from collections.abc import Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
from torchvision.utils import make_grid

log = logging.getLogger(__name__)
RGB = ("B04", "B03", "B02")


def preview_rgb(x: torch.Tensor, bands: Sequence[str]) -> torch.Tensor:
    """Three display channels of ``(N, C, H, W)``: true colour when B04, B03, B02 are present, else the
    first three bands (a single band is repeated)."""
    if all(b in bands for b in RGB):
        idx = [list(bands).index(b) for b in RGB]
    else:
        idx = [min(i, len(bands) - 1) for i in range(3)]
    return x[:, idx]


def percentile_stretch(
    x: torch.Tensor, reference: torch.Tensor | None = None, low: float = 2.0, high: float = 98.0
) -> torch.Tensor:
    """Stretch ``(N, 3, H, W)`` per image and channel so that the ``low``..``high`` percentiles of
    ``reference`` (default ``x``) span 0..1; clipped to 0..1. NaN is shown as 0."""
    ref = (x if reference is None else reference).detach().float()
    flat = torch.nan_to_num(ref.flatten(2))
    q = torch.quantile(flat, torch.tensor([low / 100, high / 100], device=flat.device), dim=2)
    lo, hi = q[0][..., None, None], q[1][..., None, None]
    out = (x.detach().float() - lo) / (hi - lo).clamp_min(1e-6)
    return torch.nan_to_num(out).clamp(0, 1)


def image_grid(columns: Sequence[torch.Tensor], padding: int = 2) -> torch.Tensor:
    """One row per sample, one column per tensor (e.g. input, prediction, target), ``(3, H', W')``.

    Each tensor is ``(N, 3, H, W)`` in 0..1 with the same N, H, W.
    """
    n = columns[0].shape[0]
    tiles = [col[i].detach().float().cpu() for i in range(n) for col in columns]
    return make_grid(tiles, nrow=len(columns), padding=padding, pad_value=1.0)


class GANHealthWarning(UserWarning):
    """A GAN training run shows a sign of failure (discriminator collapse, flat generator output)."""


class GANHealthCheck(L.Callback):
    """Warn when GAN training goes wrong, reading metrics the task logs each training step.

    Args:
        d_loss_key: logged discriminator loss (``train/loss_d``).
        variance_key: logged ratio var(generated) / var(target) (``train/fake_var_ratio``).
        d_loss_threshold: a discriminator loss below this counts as collapsed.
        variance_fraction: a variance ratio below this counts as flat output.
        patience: consecutive bad checks before warning.
        every_n_steps: check every n training batches.

    Each condition warns once (a :class:`GANHealthWarning` and a log line) until it recovers.
    """

    def __init__(
        self,
        d_loss_key: str = "train/loss_d",
        variance_key: str = "train/fake_var_ratio",
        d_loss_threshold: float = 0.01,
        variance_fraction: float = 0.05,
        patience: int = 5,
        every_n_steps: int = 1,
    ) -> None:
        self.d_loss_key, self.variance_key = d_loss_key, variance_key
        self.d_loss_threshold, self.variance_fraction = float(d_loss_threshold), float(variance_fraction)
        self.patience, self.every_n_steps = int(patience), max(1, int(every_n_steps))
        self.counts = {"d_collapse": 0, "flat_output": 0}
        self.warned = {"d_collapse": False, "flat_output": False}

    def _update(self, name: str, bad: bool, message: str) -> None:
        self.counts[name] = self.counts[name] + 1 if bad else 0
        if not bad:
            self.warned[name] = False
        elif self.counts[name] >= self.patience and not self.warned[name]:
            self.warned[name] = True
            log.warning(message)
            warnings.warn(message, GANHealthWarning, stacklevel=2)

    def check(self, metrics: dict[str, Any], step: int) -> None:
        """Update the counters from one step's metrics (public for tests and custom loops)."""
        if self.d_loss_key in metrics:
            d = float(metrics[self.d_loss_key])
            self._update(
                "d_collapse",
                d < self.d_loss_threshold,
                f"GAN health: discriminator loss {d:.3g} < {self.d_loss_threshold:g} for {self.patience} checks "
                f"(step {step}): the discriminator wins and the generator gets no useful gradient",
            )
        if self.variance_key in metrics:
            r = float(metrics[self.variance_key])
            self._update(
                "flat_output",
                r < self.variance_fraction,
                f"GAN health: generator output variance is {r:.3g} of the target's (< {self.variance_fraction:g}) "
                f"for {self.patience} checks (step {step}): output is flat or mode-collapsed",
            )

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if trainer.global_step % self.every_n_steps == 0:
            self.check(dict(trainer.callback_metrics), trainer.global_step)


class RNGStateCallback(L.Callback):
    """Save Python, NumPy and torch (CPU and CUDA) RNG states in checkpoints; restore them on resume.

    The state is applied in ``on_train_start``, after Lightning has restored the checkpoint and
    run any sanity check, just before the first resumed epoch draws its first random number.
    """

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        kind, keys, pos, has_gauss, gauss = np.random.get_state()
        state: dict[str, Any] = {
            "python": random.getstate(),
            "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)),
            "torch": torch.get_rng_state(),
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = state_dict

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        state, self._pending = self._pending, None
        if not state:
            return
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
        kind, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
