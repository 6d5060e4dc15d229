"""Plain ``nn.Module`` models, found through a closed registry (never an import path from a config).

The registry maps ``cls.__name__.lower()`` to the class, as segmentation-models-pytorch does. The
list of modules below is the whole set: a config or a ``config.json`` can only name one of these.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from torch import nn

from cloudfree.errors import CloudfreeError


class ArchitectureError(CloudfreeError, ValueError):
    """An architecture name is not in the registry, or its arguments do not fit the class."""


# module -> class names it defines. Closed list, edited only in code.
_MODEL_MODULES: dict[str, tuple[str, ...]] = {
    "cloudfree.models.pix2pix": ("UNetGenerator", "PatchGANDiscriminator"),
    "cloudfree.models.cyclegan": ("ResnetGenerator",),
    "cloudfree.models.diffusion": ("DiffusionUNet",),
    "cloudfree.models.fusion": ("DSen2CR", "MultiTemporalFusion"),
    "cloudfree.models.identity": ("IdentityModel",),
    "cloudfree.models.prior_unet": ("PriorResidualUNet",),
    "cloudfree.masking.segmentation": ("SegmentationUNet",),
}


def registry() -> dict[str, type[nn.Module]]:
    """``{name.lower(): class}`` for every model class whose module is present."""
    out: dict[str, type[nn.Module]] = {}
    for module_name, class_names in _MODEL_MODULES.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        for class_name in class_names:
            cls = getattr(module, class_name)
            out[cls.__name__.lower()] = cls
    return out


def model_class(architecture: str, source: str = "config") -> type[nn.Module]:
    """The registered class named ``architecture`` (case-insensitive), importing only its module.

    Loading a Pix2Pix release must not pay for importing diffusers (several seconds), so the
    lookup goes by the class names listed above rather than through :func:`registry`.
    """
    key = str(architecture).lower()
    for module_name, class_names in _MODEL_MODULES.items():
        for class_name in class_names:
            if class_name.lower() == key:
                return getattr(importlib.import_module(module_name), class_name)
    known = sorted(c.lower() for names in _MODEL_MODULES.values() for c in names)
    raise ArchitectureError(f"{source}: unknown model architecture {architecture!r}; known: {known}")


def build_model(architecture: str, arguments: dict[str, Any], source: str = "config") -> nn.Module:
    """Instantiate a registered architecture with keyword arguments (from a config).

    Unknown names and arguments that do not fit the class's signature are refused with an
    :class:`ArchitectureError` naming ``source``, the offending keys and the accepted ones.
    """
    cls = model_class(architecture, source)
    if not isinstance(arguments, dict):
        raise ArchitectureError(f"{source}: arguments of {architecture!r} must be a mapping, got {arguments!r}")
    params = inspect.signature(cls).parameters
    accepted = sorted(n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
    open_ended = any(p.kind is p.VAR_KEYWORD for p in params.values())
    unknown = [] if open_ended else sorted(k for k in arguments if k not in accepted)
    missing = sorted(n for n in accepted if params[n].default is inspect.Parameter.empty and n not in arguments)
    if unknown or missing:
        what = "; ".join(
            part
            for part in (f"unexpected argument(s) {unknown}" if unknown else "",
                         f"missing argument(s) {missing}" if missing else "")
            if part
        )  # fmt: skip
        raise ArchitectureError(f"{source}: {architecture!r} {what}; it takes {accepted}")
    try:
        return cls(**arguments)
    except (TypeError, ValueError) as exc:
        raise ArchitectureError(f"{source}: cannot build {architecture!r} from {arguments}: {exc}") from exc
