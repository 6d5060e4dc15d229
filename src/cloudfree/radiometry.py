"""Radiometric conventions: Sentinel-2 DN <-> reflectance, Sentinel-1 linear <-> dB, clipping.

Sentinel-2 Level-1C/2A digital numbers are ``reflectance * 10000 - offset``: from processing
baseline 04.00 on (January 2022) ESA adds ``BOA/RADIO_ADD_OFFSET = -1000`` so that
``reflectance = (DN + offset) / 10000``. The offset must come from the product metadata
(``MTD_MSIL1C.xml`` / ``MTD_MSIL2A.xml``, STAC ``raster:bands`` or ``s2:processing_baseline``) or be
passed explicitly; it is never guessed from the acquisition date.

Sentinel-1 backscatter is handled in dB, clipped to the SEN12MS-CR ranges (VV -25..0, VH -32.5..0).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import numpy as np

from cloudfree.errors import RadiometryError

QUANTIFICATION = 10000.0
BASELINE_OFFSET_FROM = (4, 0)
BASELINE_04_OFFSET = -1000.0
S1_DB_RANGES: dict[str, tuple[float, float]] = {"VV": (-25.0, 0.0), "VH": (-32.5, 0.0)}


class Radiometry(StrEnum):
    """What the pixel values of a raster mean."""

    DN = "dn"  # Sentinel-2 digital numbers (reflectance * 10000 - offset)
    REFLECTANCE = "reflectance"  # Sentinel-2 reflectance, nominally 0..1
    SAR_DB = "sar_db"  # Sentinel-1 backscatter in decibels
    SAR_LINEAR = "sar_linear"  # Sentinel-1 backscatter, linear power
    LABEL = "label"  # class labels or masks


# A float "reflectance" band whose 99th percentile exceeds this holds DN (reflectance x 10000);
# one declared DN whose float values stay below REFLECTANCE_MAX holds reflectance.
DN_LIKE_ABOVE = 5.0
REFLECTANCE_MAX = 2.0


def check_values(
    declared: Radiometry,
    dtype: str,
    sample: np.ndarray | None,
    *,
    source: str,
    bands: Sequence[str],
) -> None:
    """Refuse values that cannot be ``declared`` (raises :class:`RadiometryError`, one line).

    ``sample`` is ``(bands, n)`` valid, finite values (a decimated read of the file) or None
    (dtype checks only). Checked: 8-bit data declared DN (Sentinel-2 DN need 16 bits); float data
    declared reflectance whose 99th percentile is DN-like (> 5); float data declared DN (a tag)
    whose values are all reflectance-like (<= 2). Explicitly declared radiometry (``--radiometry``)
    is not checked: the caller skips this function then.
    """
    kind = np.dtype(dtype)
    hint = "pass --radiometry dn or --radiometry reflectance to state what the values are"
    if declared is Radiometry.DN and kind.itemsize == 1:
        raise RadiometryError(
            f"{source}: {kind.name} data cannot be Sentinel-2 DN (reflectance x 10000 needs 16 bits); "
            f"expected uint16 DN or float32 reflectance 0..1; {hint}"
        )
    if sample is None or sample.size == 0 or not np.issubdtype(kind, np.floating):
        return
    per_band = [np.percentile(values, 99) if values.size else np.nan for values in sample]
    if declared is Radiometry.REFLECTANCE:
        for name, p99 in zip(bands, per_band, strict=True):
            if p99 > DN_LIKE_ABOVE:
                raise RadiometryError(
                    f"{source}: band {name} is float but holds DN-like values (99th percentile {p99:.0f}); "
                    f"expected reflectance 0..1 in a float file; {hint}"
                )
    elif declared is Radiometry.DN and all(not p99 > REFLECTANCE_MAX for p99 in per_band):
        raise RadiometryError(
            f"{source}: declared DN but every band holds reflectance-like float values "
            f"(99th percentile of band {bands[0]} {per_band[0]:.3g}); expected DN (reflectance x 10000); {hint}"
        )


def parse_baseline(baseline: str | float) -> tuple[int, int]:
    """``"04.00"``, ``"N0400"``, ``4.0`` or ``"05.09"`` -> (major, minor)."""
    text = str(baseline).strip().upper().lstrip("N")
    if "." in text:
        major, minor = text.split(".", 1)
    elif len(text) == 4 and text.isdigit():
        major, minor = text[:2], text[2:]
    else:
        raise ValueError(f"cannot parse processing baseline {baseline!r}; expected e.g. '04.00' or 'N0400'")
    return int(major), int(minor or 0)


def offset_for_baseline(baseline: str | float) -> float:
    """The DN offset the product of this processing baseline carries (-1000 from 04.00 on, else 0)."""
    return BASELINE_04_OFFSET if parse_baseline(baseline) >= BASELINE_OFFSET_FROM else 0.0


def dn_to_reflectance(dn: np.ndarray, offset: float | np.ndarray = 0.0, out: np.ndarray | None = None) -> np.ndarray:
    """DN ``(bands, h, w)`` -> float32 reflectance, ``(DN + offset) / 10000``.

    ``offset`` is a scalar or one value per band (shape ``(bands,)``), e.g. -1000 for baseline >= 04.00.
    ``out``: a float32 array of ``dn``'s shape to compute into (same values, no temporaries).
    """
    off = np.asarray(offset, dtype=np.float32)
    if off.ndim == 1:
        off = off.reshape(-1, *([1] * (dn.ndim - 1)))
    if out is None:
        return (dn.astype(np.float32) + off) / np.float32(QUANTIFICATION)
    np.add(dn, off, out=out, dtype=np.float32)  # dn cast to float32 first, as astype does
    return np.divide(out, np.float32(QUANTIFICATION), out=out)


def reflectance_to_dn(
    refl: np.ndarray, offset: float | np.ndarray = 0.0, dtype: type = np.uint16, nodata: int | None = 0
) -> np.ndarray:
    """Reflectance -> integer DN, ``round(refl * 10000 - offset)``, clipped to the dtype's range.

    When ``nodata`` is given, valid pixels are kept away from it (a valid 0 becomes 1).
    """
    off = np.asarray(offset, dtype=np.float32)
    if off.ndim == 1:
        off = off.reshape(-1, *([1] * (refl.ndim - 1)))
    dn = np.rint(refl.astype(np.float32) * np.float32(QUANTIFICATION) - off)
    info = np.iinfo(dtype)
    low = info.min if nodata is None or nodata != info.min else info.min + 1
    return np.clip(dn, low, info.max).astype(dtype)


def clip_sen12mscr(dn: np.ndarray) -> np.ndarray:
    """The SEN12MS-CR evaluation protocol: clip DN to 0..10000 and divide by 10000."""
    return np.clip(dn.astype(np.float32), 0.0, QUANTIFICATION) / np.float32(QUANTIFICATION)


def fill_invalid_linear(linear: np.ndarray) -> np.ndarray:
    """Replace non-positive or NaN linear backscatter by its nearest valid neighbour, per band.

    ``linear`` is ``(bands, h, w)`` or ``(h, w)``; a band without any valid pixel raises ValueError.
    The seeds do this before ``10*log10`` so that no ``-inf`` enters the network.
    """
    from scipy import ndimage

    arr = np.array(linear, dtype=np.float32, copy=True)
    squeeze = arr.ndim == 2
    if squeeze:
        arr = arr[None]
    for i, plane in enumerate(arr):
        bad = ~np.isfinite(plane) | (plane <= 0)
        if not bad.any():
            continue
        if bad.all():
            raise ValueError(f"SAR band {i} has no valid (positive, finite) value to fill from")
        idx = ndimage.distance_transform_edt(bad, return_distances=False, return_indices=True)
        arr[i] = plane[tuple(idx)]
    return arr[0] if squeeze else arr


def linear_to_db(linear: np.ndarray, fill_invalid: bool = True) -> np.ndarray:
    """Linear power -> dB (``10*log10``); invalid values are first filled from valid neighbours."""
    arr = fill_invalid_linear(linear) if fill_invalid else np.asarray(linear, dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (10.0 * np.log10(arr)).astype(np.float32)


def db_to_linear(db: np.ndarray) -> np.ndarray:
    """dB -> linear power (``10**(dB/10)``)."""
    return np.power(10.0, np.asarray(db, dtype=np.float32) / 10.0).astype(np.float32)


def clip_sar_db(db: np.ndarray, bands: tuple[str, ...] = ("VV", "VH")) -> np.ndarray:
    """Clip dB backscatter ``(bands, h, w)`` to the SEN12MS-CR range of each band (NaN stays NaN)."""
    out = np.array(db, dtype=np.float32, copy=True)
    for i, name in enumerate(bands):
        lo, hi = S1_DB_RANGES[name]
        out[i] = np.clip(out[i], lo, hi)
    return out


def sar_db_to_unit(db: np.ndarray, bands: tuple[str, ...] = ("VV", "VH")) -> np.ndarray:
    """Clipped dB -> 0..1 using the SEN12MS-CR ranges (the usual network input scaling)."""
    out = clip_sar_db(db, bands)
    for i, name in enumerate(bands):
        lo, hi = S1_DB_RANGES[name]
        out[i] = (out[i] - lo) / (hi - lo)
    return out
