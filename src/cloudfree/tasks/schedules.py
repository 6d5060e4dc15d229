"""Learning-rate schedules of the image-to-image GAN tasks (Pix2Pix, CycleGAN; stepped once per epoch).

* :class:`LinearDecay`: the pix2pix / CycleGAN reference policy as a ``LambdaLR`` factor: 1 for
  ``n_epochs`` epochs, then linear to 0 over ``n_epochs_decay`` more.
* :func:`make_schedulers`: one scheduler per optimiser for an ``lr_policy`` of :data:`LR_POLICIES`:
  ``linear`` (:class:`LinearDecay`), ``plateau`` (``ReduceLROnPlateau`` on a validation metric, mode
  ``max``) or ``constant``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR, ReduceLROnPlateau

LR_POLICIES = ("linear", "plateau", "constant")


class LinearDecay:
    """LR factor: 1 for ``n_epochs`` epochs, then linear to 0 over ``n_epochs_decay``, then 0 (pix2pix/CycleGAN).

    A callable object (not a lambda) so that ``LambdaLR.state_dict`` stores its plain ``__dict__``.
    """

    def __init__(self, n_epochs: int, n_epochs_decay: int) -> None:
        self.n_epochs = int(n_epochs)
        self.n_epochs_decay = int(n_epochs_decay)

    def __call__(self, epoch: int) -> float:
        return max(0.0, 1.0 - max(0, epoch + 1 - self.n_epochs) / float(self.n_epochs_decay + 1))


def make_schedulers(
    optimizers: Sequence[torch.optim.Optimizer],
    policy: str,
    n_epochs: int,
    n_epochs_decay: int,
    plateau: Mapping[str, Any] | None,
) -> list[Any]:
    """One scheduler per optimiser for ``policy`` (``linear``, ``plateau``, ``constant``)."""
    if policy not in LR_POLICIES:
        raise ValueError(f"unknown lr_policy {policy!r}; expected one of {list(LR_POLICIES)}")
    if policy == "linear":
        return [LambdaLR(opt, LinearDecay(n_epochs, n_epochs_decay)) for opt in optimizers]
    if policy == "plateau":
        p = dict(plateau or {})
        p.pop("monitor", None)
        return [ReduceLROnPlateau(opt, **{"mode": "max", "factor": 0.5, "patience": 5, **p}) for opt in optimizers]
    return [LambdaLR(opt, LinearDecay(10**9, 1)) for opt in optimizers]
