"""Training checkpoint -> release (``model.safetensors`` + ``config.json``).

The checkpoint is read with ``torch.load(..., weights_only=True)`` (no code is unpickled), the task
is rebuilt from the closed task registry with the hyper-parameters stored in the checkpoint, its
weights are loaded, and the task's predictor (the generator, the denoiser ...) is written with
:func:`cloudfree.models.release.save_release` together with the task's
:meth:`~cloudfree.tasks.base.CloudRemovalTask.release_config` (architecture, arguments, bands,
normalisation, radiometry, version).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from cloudfree.errors import CloudfreeError, one_line
from cloudfree.models import build_model
from cloudfree.models.release import ReleaseConfig, save_release
from cloudfree.tasks import task_class


class CheckpointError(CloudfreeError, ValueError):
    """A file is not a readable cloudfree training checkpoint."""


def refusal(exc: BaseException) -> str:
    """Why a checkpoint was refused, without torch's advice to load it unsafely.

    ``torch.load(weights_only=True)`` explains a refusal with two ways to load the file anyway
    (``weights_only=False`` among them); for a file of unknown origin that is exactly what must not
    be done, so only the unpickler's own reason (e.g. ``Unsupported global: GLOBAL os.system``) is kept.
    """
    text = one_line(exc)
    end = r"(?:\.?\s+Please|\s+Check the|$)"  # torch's advice follows: allow-listing, weights_only=False
    found = re.search(rf"((?:Trying to load unsupported|Unsupported global).+?){end}", text) or re.search(
        rf"WeightsUnpickler error:\s*(.+?){end}", text
    )
    detail = found[1].rstrip(".") if found else text.split(". ")[0][:200]
    return (
        f"not a cloudfree checkpoint, or an untrusted one (the tensor-only reader refused it: {detail}); "
        "checkpoints are read as tensors and plain data only, re-create it with `cloudfree train`"
    )


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checkpoint dict, loaded with ``weights_only=True`` on the CPU."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: checkpoint does not exist")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError, EOFError, zipfile errors, OSError ...
        raise CheckpointError(f"{p}: {refusal(exc)}") from exc
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError(f"{p}: not a Lightning checkpoint (no state_dict)")
    if not ckpt.get("cloudfree_task"):
        raise CheckpointError(f"{p}: not a cloudfree checkpoint (no task name recorded)")
    return ckpt


def load_task(path: str | os.PathLike[str]) -> Any:
    """Rebuild the task of a checkpoint with its weights, in eval mode on the CPU."""
    ckpt = read_checkpoint(path)
    cls = task_class(ckpt["cloudfree_task"])
    task = cls(**dict(ckpt.get("hyper_parameters", {})))
    task.load_state_dict(ckpt["state_dict"])
    task.on_load_checkpoint(ckpt)
    return task.eval()


def export_release(
    checkpoint: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    name: str | None = None,
    half: bool = False,
    arguments: Mapping[str, Any] | None = None,
) -> tuple[Path, ReleaseConfig]:
    """Write the release of ``checkpoint`` into ``out_dir``; returns the folder and its config.

    ``half=True`` stores the weights as float16 (half the size; they load into float32).
    ``arguments`` override architecture arguments that do not change the weights (for example
    ``PriorResidualUNet``'s ``thick_residual``): the model is rebuilt with them and must take the
    checkpoint's weights exactly, else this raises.
    """
    task = load_task(checkpoint)
    out = Path(out_dir)
    config = task.release_config(name or out.name)
    model = task.predictor()
    if arguments:
        config = replace(config, arguments={**config.arguments, **dict(arguments)})
        rebuilt = build_model(config.architecture, config.arguments, source=str(checkpoint))
        rebuilt.load_state_dict(model.state_dict(), strict=True)
        model = rebuilt
    return save_release(model, config, out, half=half), config
