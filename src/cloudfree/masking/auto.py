"""Which mask method an input gets: the best real-cloud method its bands and product level allow.

Methods (``cloudfree mask --method``):

* ``csmask``: ukis-csmask (:mod:`.csmask`), U-Nets trained on real hand-labelled clouds and
  shadows; needs B02, B03, B04, B08 (4-band model); with B11, B12 too, the 6-band and 4-band
  models averaged (``csmask-4+6band-*``, see :class:`~.csmask.CsmaskModel` for why); a Level-1C
  or a Level-2A model. The default whenever the input has the four 10 m bands.
* ``unet``: cloudfree's own mask model (``default-mask`` or ``--model DIR``). ``auto`` picks it
  only when its release says it may (``extra.auto_eligible``: it has been shown close to the
  teacher on held-out real scenes); see its model card.
* ``s2cloudless``: Sentinel Hub's pixel classifier; cloud only, Level-1C with B10 only.
* ``scl``: the Level-2A scene classification band (Sen2Cor) carried by the input.

The product level comes from the caller, else the file's tags and name (``MSIL2A`` ...), else the
band set (B10 is dropped from Level-2A products); when nothing tells, Level-1C is assumed and the
reason says so (top-of-atmosphere reflectance is what an unprocessed download holds).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from cloudfree.errors import CloudfreeError
from cloudfree.masking.csmask import CSMASK_BANDS, CsmaskModel

METHODS: tuple[str, ...] = ("auto", "csmask", "unet", "s2cloudless", "scl")
SCL_BAND = "SCL"
_L2A = re.compile(r"MSIL2A|LEVEL[-_ ]?2A|\bL2A\b|\bBOA\b", re.IGNORECASE)
_L1C = re.compile(r"MSIL1C|LEVEL[-_ ]?1C|\bL1C\b|\bTOA\b", re.IGNORECASE)


class MaskMethodError(CloudfreeError, ValueError):
    """The input cannot be masked with the requested (or any) method; the message says why."""


def level_from_text(text: str) -> str | None:
    """``"L2A"`` / ``"L1C"`` when ``text`` (a product id, file name, tag values) names the level."""
    if _L2A.search(text):
        return "L2A"
    if _L1C.search(text):
        return "L1C"
    return None


def product_level(
    band_names: Sequence[str], tags: dict[str, Any] | None = None, name: str = "", given: str | None = None
) -> tuple[str | None, str]:
    """``(level or None, how it was found)`` from the caller, the tags, the file name, or the band set."""
    if given:
        level = given.upper()
        if level not in ("L1C", "L2A"):
            raise MaskMethodError(f"product level must be L1C or L2A, got {given!r}")
        return level, "as given"
    tags = tags or {}
    if "BOA_ADD_OFFSET" in tags:
        return "L2A", "from its BOA offset tag"
    if "RADIO_ADD_OFFSET" in tags:
        return "L1C", "from its radiometric offset tag"
    text = " ".join(str(v) for k, v in tags.items() if not str(k).startswith("CLOUDFREE_"))
    found = level_from_text(text)
    if found:
        return found, "from its tags"
    found = level_from_text(name)
    if found:
        return found, "from its name"
    if SCL_BAND in band_names:
        return "L2A", "it carries an SCL band"
    if "B10" in band_names:
        return "L1C", "it carries B10 (absent from L2A)"
    if {"B01", "B09", "B8A", "B11", "B12"} <= set(band_names):
        return "L2A", "it has the full band set without B10 (the L2A band set)"
    return None, "level not recorded"


def choose_method(band_names: Sequence[str], product_level: str | None, unet_eligible: bool = False) -> tuple[str, str]:
    """``(method, reason)`` for an input with ``band_names`` at ``product_level`` (``None``: unknown).

    ``method`` is a concrete choice: ``csmask-6band-L1C`` (or 4band / L2A), ``unet``, ``scl`` or
    ``s2cloudless``; the reason is one readable sentence. ``unet_eligible``: the own model's release
    allows auto to pick it (see the module docstring).
    """
    names = set(band_names)
    level = product_level.upper() if product_level else None
    if unet_eligible and set(CSMASK_BANDS[4]) <= names:
        return "unet", "the own distilled mask model is released as close to ukis-csmask and faster"
    if set(CSMASK_BANDS[6]) <= names:
        model = CsmaskModel(6, level or "L1C", ensemble=True)
        return model.name, _reason("B02,B03,B04,B08,B11,B12 present: the 6- and 4-band models averaged", level)
    if set(CSMASK_BANDS[4]) <= names:
        model = CsmaskModel(4, level or "L1C")
        return model.name, _reason("B02,B03,B04,B08 present without both SWIR bands: the 4-band model", level)
    if SCL_BAND in names:
        return "scl", "the input lacks B02,B03,B04,B08 for ukis-csmask but carries the L2A scene classification"
    if {"B01", "B02", "B04", "B05", "B08", "B8A", "B09", "B10", "B11", "B12"} <= names and level != "L2A":
        return "s2cloudless", "the input lacks B03 for ukis-csmask but has the Level-1C bands s2cloudless needs"
    raise MaskMethodError(
        f"no mask method fits bands {list(band_names)}: ukis-csmask needs B02,B03,B04,B08 (+B11,B12), "
        f"s2cloudless the 13 Level-1C bands, scl an SCL band; name the bands with --bands if they are unnamed"
    )


def _reason(what: str, level: str | None) -> str:
    if level is None:
        return f"ukis-csmask (trained on real clouds), {what}, Level-1C assumed (the level is not recorded)"
    return f"ukis-csmask (trained on real clouds), {what}, {level} input"


def csmask_model_of(method: str) -> CsmaskModel:
    """The :class:`CsmaskModel` named by ``csmask-<n>band-<level>``."""
    m = re.fullmatch(r"csmask-(4|6|4\+6)band-(L1C|L2A)", method)
    if not m:
        raise MaskMethodError(
            f"not a ukis-csmask model name: {method!r} (expected e.g. csmask-4band-L1C, csmask-4+6band-L2A)"
        )
    return CsmaskModel(6 if "6" in m.group(1) else 4, m.group(2), ensemble=m.group(1) == "4+6")
