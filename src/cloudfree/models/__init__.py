"""Plain ``nn.Module`` models, found through a closed registry (never an import path from a config).

The registry maps ``cls.__name__.lower()`` to the class, as segmentation-models-pytorch does. The
list of modules below is the whole set: a config or a ``config.json`` can only name one of these.
"""

from __future__ import annotations

import importlib

from torch import nn

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


def build_model(architecture: str, arguments: dict) -> nn.Module:
    """Instantiate a registered architecture with keyword arguments (from a config)."""
    models = registry()
    key = architecture.lower()
    if key not in models:
        raise ValueError(f"unknown model architecture {architecture!r}; known: {sorted(models)}")
    return models[key](**arguments)
