"""Lightning tasks (training logic only), found through a closed registry used by ``cloudfree train``.

A config's ``task:`` names one of these; nothing is imported from a path given in a config.
"""

from __future__ import annotations

import importlib

import lightning as L

# task name -> (module, class). Closed list, edited only in code.
_TASKS: dict[str, tuple[str, str]] = {
    "pix2pix": ("cloudfree.tasks.pix2pix", "Pix2PixTask"),
    "cyclegan": ("cloudfree.tasks.cyclegan", "CycleGANTask"),
    "diffusion": ("cloudfree.tasks.diffusion", "DiffusionTask"),
    "dsen2cr": ("cloudfree.tasks.fusion", "DSen2CRTask"),
    "multitemporal": ("cloudfree.tasks.fusion", "MultiTemporalTask"),
    "segmentation": ("cloudfree.tasks.segmentation", "SegmentationTask"),
}


def task_class(name: str) -> type[L.LightningModule]:
    """The LightningModule class registered under ``name``."""
    if name not in _TASKS:
        raise ValueError(f"unknown task {name!r}; known: {sorted(_TASKS)}")
    module_name, class_name = _TASKS[name]
    return getattr(importlib.import_module(module_name), class_name)


def task_names() -> list[str]:
    return sorted(_TASKS)
