"""``--mask auto``: the one place where removal asks the mask pipeline for a scene's cloud mask.

Removal calls :func:`auto_mask` for the target scene and, with ``--series`` and no
``--series-masks``, for every other date. It runs :func:`cloudfree.inference.mask_scene.mask_scene`
with ``method="auto"`` (ukis-csmask at about 30 m for 4- or 6-band input, s2cloudless for 13 L1C
bands without the csmask bands, the SCL band when the product carries one), whose summary says
which method it chose and why; that text travels into the output's tags.
"""

from __future__ import annotations

from pathlib import Path

from cloudfree.errors import CloudfreeError


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
    from cloudfree.inference.mask_scene import mask_scene

    try:
        summary = mask_scene(
            input_path, out, method="auto", bands=bands, dn_offset=dn_offset, device=device,
            progress=progress, overwrite=True,
        )  # fmt: skip
    except (CloudfreeError, ValueError) as exc:  # no method for these bands / this product
        return None, f"no mask method applies ({exc})"
    return Path(out), f"{summary.method} ({summary.reason})"
