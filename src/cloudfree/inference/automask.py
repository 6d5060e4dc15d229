"""``--mask auto``: the one place where removal asks the mask pipeline for a scene's cloud mask.

Removal calls :func:`auto_mask` for the target scene and, with ``--series`` and no
``--series-masks``, for every other date. Today it calls the masking entry point that exists on
this branch (:func:`cloudfree.masking.predict.mask_scene`: the packaged ``default-mask`` U-Net,
else s2cloudless on Level-1C input); at merge it becomes a call of
:func:`cloudfree.inference.mask_scene.mask_scene` with ``method="auto"``, whose summary says which
method it chose and why (interfaces.md item 3). Nothing else in the removal pipeline needs to change.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


def auto_mask(
    input_path: str | Path,
    out: str | Path,
    device: str | None = None,
    progress: bool = True,
    *,
    bands: str | None = None,
    dn_offset: float | None = None,
) -> tuple[Path | None, str]:
    """Mask ``input_path`` into ``out`` (uint8 codes on its grid); returns ``(mask file, how)``.

    ``how`` names the method and why it was chosen. ``(None, reason)`` when no mask method
    applies to the scene (the caller then refuses, or falls back where the method allows).
    """
    if importlib.util.find_spec("cloudfree.masking.predict") is None:
        return None, "no masking module installed"
    from cloudfree.masking import predict as masking

    if masking.default_mask_available():
        try:
            masking.mask_scene(
                input_path, out, method="unet", device=device, progress=progress, bands=bands, dn_offset=dn_offset
            )
        except ValueError as exc:  # bands missing for the U-Net: try s2cloudless below
            unet_problem = str(exc)
        else:
            return Path(out), f"{masking.DEFAULT_MASK_MODEL} (packaged U-Net mask model)"
    else:
        unet_problem = f"{masking.DEFAULT_MASK_MODEL} is not packaged"
    try:
        masking.mask_scene(input_path, out, method="s2cloudless", progress=progress, bands=bands, dn_offset=dn_offset)
    except ValueError as exc:  # not L1C, bands missing, extra not installed
        return None, f"no mask method applies ({unet_problem}; s2cloudless: {exc})"
    return Path(out), f"s2cloudless (Level-1C input; {unet_problem})"
