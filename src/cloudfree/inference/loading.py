"""Reading a removal release: its config without the weights, and the weights without extra imports.

:func:`read_config` reads ``config.json`` only, so a run can validate its inputs and choose its
method before any weights load. :func:`load_model` builds the network by importing only the module
that defines its architecture (from the closed list in :mod:`cloudfree.models`): a Pix2Pix or
fusion release does not import diffusers (7 s of start-up), a diffusion release does.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import torch
from torch import nn

from cloudfree import bands as bandcat
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


def resolve_model(model: str | os.PathLike[str] | None, default: str = DEFAULT_MODEL) -> str:
    """The model to use: ``model`` itself, else the packaged ``default``, else a clear error."""
    if model is not None:
        return str(model)
    if (WEIGHTS_DIR / default).is_dir():
        return default
    raise ReleaseError(
        f"no model given and the default model {default!r} is not packaged with this installation; "
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


def load_model(model: str | os.PathLike[str], device: str = "cpu") -> tuple[nn.Module, ReleaseConfig]:
    """The release's network in eval mode on ``device`` (safetensors only) and its config.

    :func:`cloudfree.models.release.load_release` after :func:`read_config` has refused a release
    that is not a removal model; only the module of the release's architecture is imported, so a
    Pix2Pix or fusion release does not import diffusers.
    """
    read_config(model)
    return load_release(model, device=device)


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"
