"""Cloud and shadow mask codes, class schemes for segmentation models, and mask helpers.

Mask files and arrays use one set of codes everywhere (docs/ARCHITECTURE.md): ``0`` clear,
``1`` thick cloud, ``2`` thin cloud, ``3`` cloud shadow, ``255`` nodata. Binary cloud masks
(s2cloudless, 0/1) are valid masks too: their ``1`` reads as cloud.

A segmentation model predicts one logit channel per class of its *scheme*; the scheme says which
mask code each channel stands for (``class_codes``, stored in a release's ``extra``):

* ``full`` (4 classes): clear, thick cloud, thin cloud, shadow -> codes ``(0, 1, 2, 3)``.
* ``cloud_shadow`` (3 classes): thin and thick merged into one cloud class -> codes ``(0, 1, 3)``.
* ``cloud`` (2 classes, binary cloud mode): thin and thick merged, shadow counted as clear ->
  codes ``(0, 1)``.

:class:`MaskSummary` reports what a masking run wrote (class counts, cloud fraction, throughput).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cloudfree.errors import CloudfreeError

CLEAR, THICK, THIN, SHADOW, NODATA = 0, 1, 2, 3, 255
CODE_NAMES: dict[int, str] = {CLEAR: "clear", THICK: "thick_cloud", THIN: "thin_cloud", SHADOW: "shadow"}
CLOUD_CODES: tuple[int, ...] = (THICK, THIN)
NOT_CLEAR_CODES: tuple[int, ...] = (THICK, THIN, SHADOW)

# scheme -> mask code of each output channel
SCHEMES: dict[str, tuple[int, ...]] = {
    "full": (CLEAR, THICK, THIN, SHADOW),
    "cloud_shadow": (CLEAR, THICK, SHADOW),
    "cloud": (CLEAR, THICK),
}
# scheme -> how full codes fold into the scheme's codes before training / scoring
_FOLD: dict[str, dict[int, int]] = {
    "full": {CLEAR: CLEAR, THICK: THICK, THIN: THIN, SHADOW: SHADOW},
    "cloud_shadow": {CLEAR: CLEAR, THICK: THICK, THIN: THICK, SHADOW: SHADOW},
    "cloud": {CLEAR: CLEAR, THICK: THICK, THIN: THICK, SHADOW: CLEAR},
}


class MaskCodeError(CloudfreeError, ValueError):
    """A mask holds codes outside 0, 1, 2, 3, 255, or a scheme is unknown."""


def class_codes(scheme: str) -> tuple[int, ...]:
    """Mask code of each model output channel for ``scheme`` (``full``, ``cloud_shadow``, ``cloud``)."""
    if scheme not in SCHEMES:
        raise MaskCodeError(f"unknown class scheme {scheme!r}; expected one of {sorted(SCHEMES)}")
    return SCHEMES[scheme]


def class_names(codes: Sequence[int]) -> tuple[str, ...]:
    """Readable names of the channels whose codes are ``codes`` (a merged cloud class is ``cloud``)."""
    merged = THIN not in codes
    return tuple("cloud" if (c == THICK and merged) else CODE_NAMES[int(c)] for c in codes)


def check_codes(mask: np.ndarray, source: str = "mask") -> np.ndarray:
    """Return ``mask`` as uint8 after checking it holds only 0, 1, 2, 3 and 255."""
    arr = np.asarray(mask)
    bad = unexpected_codes(np.unique(arr))
    if bad:
        raise MaskCodeError(
            f"{source}: unexpected mask codes {bad[:10]}; expected 0 clear, 1 thick, 2 thin, 3 shadow, 255 nodata"
        )
    return arr.astype(np.uint8, copy=False)


def unexpected_codes(values: np.ndarray) -> list[float | int]:
    """The values among ``values`` that are not a mask code (0, 1, 2, 3, 255): fractions (0.7) and
    NaN included, which a cast to int would have turned into codes."""
    known = {*CODE_NAMES, NODATA}
    out: list[float | int] = []
    for v in np.asarray(values).ravel().tolist():
        if isinstance(v, float) and not v.is_integer():  # fractions, NaN, infinities
            out.append(v)
        elif int(v) not in known:
            out.append(int(v))
    return out


def cloud_fraction(mask: np.ndarray) -> float:
    """Fraction of valid (non-255) pixels whose code is 1, 2 or 3 (cloud or shadow); 0.0 if none is valid.

    A binary 0/1 mask counts its 1 as cloud.
    """
    arr = np.asarray(mask)
    valid = arr != NODATA
    n = int(valid.sum())
    if n == 0:
        return 0.0
    return float(np.isin(arr[valid], NOT_CLEAR_CODES).sum()) / n


MASK_ENCODINGS = ("binary", "opacity")
"""How a model's mask channel encodes the codes: ``binary`` 1 for cloud, thin cloud and shadow, else 0;
``opacity`` 1 for thick cloud (opaque: nothing of the ground shows), 0.5 for thin cloud and shadow
(the ground shows, attenuated), else 0."""


def mask_channel(codes: np.ndarray, encoding: str = "binary") -> np.ndarray:
    """Model mask-channel values (float32, same shape as ``codes``) for class codes, see :data:`MASK_ENCODINGS`."""
    arr = np.asarray(codes)
    if encoding == "binary":
        return np.isin(arr, NOT_CLEAR_CODES).astype(np.float32)
    if encoding == "opacity":
        return ((arr == THICK) + 0.5 * np.isin(arr, (THIN, SHADOW))).astype(np.float32)
    raise ValueError(f"unknown mask encoding {encoding!r}; expected one of {list(MASK_ENCODINGS)}")


def cloud_of(codes: np.ndarray) -> np.ndarray:
    """Bool ``(h, w)``: True where a mask code is cloud or shadow (1, 2, 3); 0 and 255 are not."""
    return np.isin(np.asarray(codes), NOT_CLEAR_CODES)


def fractions(mask: np.ndarray) -> dict[str, float]:
    """Fraction of valid pixels in each class: ``{"clear": .., "thick_cloud": .., "thin_cloud": .., "shadow": ..}``."""
    arr = np.asarray(mask)
    valid = arr != NODATA
    n = max(int(valid.sum()), 1)
    return {name: float((arr[valid] == code).sum()) / n for code, name in CODE_NAMES.items()}


def to_binary(mask: np.ndarray, include_shadow: bool = True) -> np.ndarray:
    """uint8 ``(h, w)``: 1 where cloud (thick or thin, and shadow when ``include_shadow``), 0 clear, 255 nodata."""
    arr = np.asarray(mask)
    codes = NOT_CLEAR_CODES if include_shadow else CLOUD_CODES
    out = np.isin(arr, codes).astype(np.uint8)
    out[arr == NODATA] = NODATA
    return out


def fold(mask: np.ndarray, scheme: str) -> np.ndarray:
    """Map full mask codes onto the codes a ``scheme`` distinguishes (thin -> thick when merged ...)."""
    class_codes(scheme)
    return remap(mask, _FOLD[scheme])


def remap(labels: np.ndarray, mapping: Mapping[int, int], nodata: int = NODATA) -> np.ndarray:
    """uint8 copy of ``labels`` with each value ``k`` replaced by ``mapping[k]``; unmapped values -> ``nodata``.

    E.g. reference labels with 0 clear, 1 cloud, 2 shadow -> codes: ``remap(labels, {0: 0, 1: 1, 2: 3})``.
    """
    arr = np.asarray(labels)
    lut = np.full(256, nodata, dtype=np.uint8)
    for k, v in mapping.items():
        lut[int(k)] = int(v)
    if arr.dtype != np.uint8:
        inside = (arr >= 0) & (arr <= 255)
        out = np.full(arr.shape, nodata, dtype=np.uint8)
        out[inside] = lut[arr[inside].astype(np.int64)]
        return out
    return lut[arr]


def codes_to_index(mask: np.ndarray, codes: Sequence[int], ignore_index: int = NODATA) -> np.ndarray:
    """Class index (channel) of each pixel for training: ``codes.index(code)``; other codes -> ``ignore_index``.

    ``mask`` must already be folded to the scheme (see :func:`fold`). Returns int64 ``(..., h, w)``.
    """
    arr = np.asarray(mask)
    lut = np.full(256, ignore_index, dtype=np.int64)
    for i, c in enumerate(codes):
        lut[int(c)] = i
    return lut[arr.astype(np.uint8)]


def index_to_codes(index: np.ndarray, codes: Sequence[int]) -> np.ndarray:
    """uint8 mask codes from predicted class indices ``(..., h, w)`` (argmax over channels)."""
    lut = np.asarray(codes, dtype=np.uint8)
    return lut[np.asarray(index, dtype=np.int64)]


@dataclass
class MaskSummary:
    """What a masking run wrote: the file, cloud fraction, class fractions, time and throughput."""

    path: Path
    method: str
    height: int
    width: int
    seconds: float
    codes: tuple[int, ...] = (0, 1, 2, 3)
    counts: dict[int, int] = field(default_factory=dict)

    @property
    def valid_pixels(self) -> int:
        return sum(self.counts.values())

    @property
    def cloud_fraction(self) -> float:
        """Fraction of valid pixels that are cloud or shadow (codes 1, 2, 3)."""
        return sum(self.counts.get(c, 0) for c in NOT_CLEAR_CODES) / max(self.valid_pixels, 1)

    @property
    def fractions(self) -> dict[str, float]:
        """Fraction of valid pixels per class the method distinguishes (``{"clear": .., "cloud": ..}`` ...)."""
        n = max(self.valid_pixels, 1)
        return {name: self.counts.get(c, 0) / n for c, name in zip(self.codes, class_names(self.codes), strict=True)}

    @property
    def megapixels_per_second(self) -> float:
        return self.height * self.width / 1e6 / max(self.seconds, 1e-9)

    def add_counts(self, codes: np.ndarray, valid: np.ndarray) -> None:
        """Count the codes of one written window (valid pixels only)."""
        values, counts = np.unique(codes[valid], return_counts=True)
        for v, n in zip(values.tolist(), counts.tolist(), strict=True):
            self.counts[int(v)] = self.counts.get(int(v), 0) + int(n)
