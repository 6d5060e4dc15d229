"""cloudfree: remove clouds from Sentinel-2 imagery, from patches to whole georeferenced scenes.

The Python API (imported on first use, so ``import cloudfree`` stays light)::

    import cloudfree
    scene = cloudfree.open_raster("S2B_MSIL1C_...zip")            # any supported input -> Raster
    out = cloudfree.remove_clouds("scene.tif", "scene_clear.tif")  # path -> path
    mask = cloudfree.mask_clouds(data_array)                       # rioxarray DataArray -> DataArray
    model, config = cloudfree.load_release("default-rgbn")
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Raster", "__version__", "load_release", "mask_clouds", "open_raster", "remove_clouds"]

_LAZY = {
    "open_raster": "cloudfree.api",
    "load_release": "cloudfree.api",
    "remove_clouds": "cloudfree.api",
    "mask_clouds": "cloudfree.api",
    "Raster": "cloudfree.raster",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cloudfree' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
