"""The scoring conventions of the field, so cloudfree's numbers can stand beside a paper's table.

A protocol fixes three things: how pixel values are **scaled** before scoring, which **pixels** are
scored (the subsets), and how scores are **averaged** (the unit "image" whose metrics are computed
and then averaged over a data set). Every protocol scores with data_range 1.0, SAM in degrees,
SSIM from torchmetrics (Gaussian window 11 px, sigma 1.5); nodata pixels of either raster are never
scored. See docs/evaluation.md for the sources.

==========  ==========================================  ==============================  =================
protocol    scaling                                     pixels (subsets)                image / averaging
==========  ==========================================  ==============================  =================
cloudfree   reflectance = (DN + offset) / 10000,        all; with a mask of the input   one file, pooled
            unclipped                                   also cloudy (1-3) and clear (0) over its pixels
sen12mscr   DN clipped to 0..10000, / 10000, no offset  all pixels of each patch        each 256 x 256
            (SEN12MS-CR, UnCRtainTS)                    (mask: cloudy/clear extra)      patch, then mean
allclear    (DN + offset) / 10000 clipped to 0..1       pixels clear (0) in the         one file
                                                        *target's* mask (required)
dsen2cr     DN clipped to 0..10000, / 10000, no offset  all, and with the input's mask  one file
                                                        cloudy and clear splits
==========  ==========================================  ==============================  =================

A data set's summary is the mean and standard deviation of the images' values (files, or patches
for ``sen12mscr``). ``reflectance`` is accepted as the former name of ``cloudfree``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cloudfree.evaluation.scene import EvaluationInputError
from cloudfree.masks import NODATA, NOT_CLEAR_CODES
from cloudfree.radiometry import QUANTIFICATION, Radiometry
from cloudfree.raster import Raster


@dataclass(frozen=True)
class Protocol:
    """One scoring convention (see the module docstring)."""

    name: str
    scaling: str  # "reflectance" | "clip_dn" | "clip_reflectance"
    mask_role: str  # "input": cloudy/clear splits of the input's mask; "target": clear pixels of the target
    mask_required: bool
    patch: int | None  # score each patch x patch block as one image
    note: str


PROTOCOLS: dict[str, Protocol] = {
    "cloudfree": Protocol(
        "cloudfree",
        "reflectance",
        "input",
        False,
        None,
        "cloudfree protocol: reflectance = (DN + offset) / 10000 (float inputs used as reflectance), unclipped; "
        "all valid pixels, cloudy/clear by the input's mask; one file = one image; data_range 1.0",
    ),
    "sen12mscr": Protocol(
        "sen12mscr",
        "clip_dn",
        "input",
        False,
        256,
        "SEN12MS-CR / UnCRtainTS protocol: DN clipped to 0..10000 and divided by 10000 (no offset); all pixels "
        "of each 256x256 patch, metrics per patch then averaged; data_range 1.0",
    ),
    "allclear": Protocol(
        "allclear",
        "clip_reflectance",
        "target",
        True,
        None,
        "AllClear protocol: reflectance = (DN + offset) / 10000 clipped to 0..1; only pixels clear (code 0) in the "
        "target's cloud/shadow mask; one file = one image; data_range 1.0",
    ),
    "dsen2cr": Protocol(
        "dsen2cr",
        "clip_dn",
        "input",
        False,
        None,
        "DSen2-CR protocol: DN clipped to 0..10000 and divided by 10000 (no offset); all pixels, plus cloudy and "
        "clear splits by the input's cloud mask; one file = one image; data_range 1.0",
    ),
}
ALIASES = {"reflectance": "cloudfree"}


def get_protocol(name: str) -> Protocol:
    """The protocol called ``name`` (or an alias), or a one-line error listing the valid names."""
    key = ALIASES.get(name, name)
    if key not in PROTOCOLS:
        raise EvaluationInputError(f"unknown evaluation protocol {name!r}; expected one of {list(PROTOCOLS)}")
    return PROTOCOLS[key]


def scale(raster: Raster, protocol: Protocol) -> np.ndarray:
    """Float32 ``(bands, h, w)`` values to score under ``protocol``; NaN where ``raster`` is not valid."""
    if raster.radiometry not in (Radiometry.DN, Radiometry.REFLECTANCE):
        raise EvaluationInputError(f"{raster.source}: {raster.radiometry.value} data cannot be scored as reflectance")
    if protocol.scaling == "clip_dn":
        if raster.radiometry is Radiometry.DN:
            out = np.clip(raster.data.astype(np.float32), 0.0, QUANTIFICATION) / np.float32(QUANTIFICATION)
        else:
            out = np.clip(raster.data.astype(np.float32), 0.0, 1.0)
    else:
        out = raster.to_reflectance().data.astype(np.float32, copy=True)
        if protocol.scaling == "clip_reflectance":
            out = np.clip(out, 0.0, 1.0)
    out = np.array(out, dtype=np.float32, copy=True)
    out[:, ~raster.valid] = np.nan
    return out


def subsets(valid: np.ndarray, mask: np.ndarray | None, protocol: Protocol) -> dict[str, np.ndarray]:
    """Named boolean ``(h, w)`` pixel selections to score under ``protocol``.

    ``mask``: codes (0 clear, 1-3 cloud/shadow, 255 nodata) or binary 0/1 cloud, or None. For the
    ``target`` role only ``"target_clear"`` is scored; for the ``input`` role ``"all"`` and, with a
    mask, ``"cloudy"`` and ``"clear"`` (nodata in the mask is neither).
    """
    if protocol.mask_role == "target":
        if mask is None:
            raise EvaluationInputError(f"the {protocol.name} protocol scores the target's clear pixels: give its mask")
        return {"target_clear": valid & (mask == 0)}
    out = {"all": valid}
    if mask is not None:
        cloudy = np.isin(mask, NOT_CLEAR_CODES)
        out["cloudy"] = valid & cloudy
        out["clear"] = valid & ~cloudy & (mask != NODATA)
    return out
