"""Reading a removal release: its config without the weights, and the weights without extra imports.

:func:`read_config` reads ``config.json`` only, so a run can validate its inputs and choose its
method before any weights load. :func:`load_model` builds the network by importing only the module
that defines its architecture (from the closed list in :mod:`cloudfree.models`): a Pix2Pix or
fusion release does not import diffusers (7 s of start-up), a diffusion release does.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from cloudfree import bands as bandcat
from cloudfree import models
from cloudfree.errors import ReleaseError
from cloudfree.models.release import WEIGHTS_DIR, ReleaseConfig, load_release, resolve_release_dir

DEFAULT_MODEL = "default-rgbn"
L1C13_MODEL = "default-l1c13"
REMOVAL_KINDS = ("removal", "diffusion")


def default_model_for(band_names: Sequence[str]) -> str:
    """The packaged default that uses the most of a scene's bands: ``default-l1c13`` when the scene
    has all 13 Level-1C bands (and that model is packaged), else ``default-rgbn``."""
    if set(bandcat.resolve("l1c13")) <= set(band_names) and (WEIGHTS_DIR / L1C13_MODEL).is_dir():
        return L1C13_MODEL
    return DEFAULT_MODEL


def resolve_model(model: str | os.PathLike[str] | None) -> str:
    """The model to use: ``model`` itself, else the packaged default, else a clear error."""
    if model is not None:
        return str(model)
    if (WEIGHTS_DIR / DEFAULT_MODEL).is_dir():
        return DEFAULT_MODEL
    raise ReleaseError(
        f"no model given and the default model {DEFAULT_MODEL!r} is not packaged with this installation; "
        f"pass --model NAME|DIR (a release directory with model.safetensors and config.json)"
    )


def read_config(model: str | os.PathLike[str]) -> ReleaseConfig:
    """The release's config (``config.json`` only), checked to be a removal or diffusion model."""
    directory = resolve_release_dir(model)
    path = directory / "config.json"
    if not path.exists() or not (directory / "model.safetensors").exists():
        raise ReleaseError(f"{directory}: a release needs model.safetensors and config.json")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ReleaseError(f"{path}: not valid JSON ({exc})") from exc
    config = ReleaseConfig.from_dict(raw, str(path))
    if config.kind not in REMOVAL_KINDS:
        raise ReleaseError(f"model {config.name!r} is a {config.kind!r} model; cloud removal needs a removal model")
    return config


def _architecture(name: str) -> type[nn.Module]:
    for module_name, class_names in models._MODEL_MODULES.items():
        for class_name in class_names:
            if class_name.lower() == name.lower():
                return getattr(importlib.import_module(module_name), class_name)
    known = sorted(c.lower() for names in models._MODEL_MODULES.values() for c in names)
    raise ReleaseError(f"unknown model architecture {name!r}; known: {known}")


def load_model(model: str | os.PathLike[str], device: str = "cpu") -> tuple[nn.Module, ReleaseConfig]:
    """The release's network in eval mode on ``device`` (safetensors only) and its config."""
    config = read_config(model)
    if config.kind == "diffusion":  # the diffusers scheduler is part of the model: load it all
        return load_release(model, device=device)
    directory = resolve_release_dir(model)
    try:
        net = _architecture(config.architecture)(**config.arguments)
    except TypeError as exc:
        raise ReleaseError(
            f"{Path(directory) / 'config.json'}: arguments do not fit {config.architecture}: {exc}"
        ) from exc
    weights = Path(directory) / "model.safetensors"
    state = load_file(str(weights), device=str(device))
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ReleaseError(
            f"{weights}: weights do not fit {config.architecture}: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    return net.to(device).eval(), config


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"
