"""Outputs of the streaming engine: what each output raster is, how values are cast, what a pass did."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

AUTO: Any = "auto"  # nodata sentinel: NaN for float outputs, 0 for integer ones


@dataclass(frozen=True)
class OutputSpec:
    """One output raster written by the pass.

    Attributes:
        path: destination ``.tif`` (a COG).
        descriptions: band descriptions (``("B02", ...)``, ``("uncertainty_B02", ...)``, ``("mask",)``).
        dtype: numpy dtype name; float data is rounded and clipped for integer dtypes.
        nodata: nodata value; ``AUTO`` = NaN for floats, 0 for integers; ``None`` = none.
        tags: dataset tags (model name, version, radiometric convention ...).
    """

    path: Path
    descriptions: tuple[str, ...]
    dtype: str = "float32"
    nodata: Any = AUTO
    tags: dict[str, Any] | None = None

    @property
    def nodata_value(self) -> float | None:
        if self.nodata is AUTO or (isinstance(self.nodata, str) and self.nodata == AUTO):
            return math.nan if np.issubdtype(np.dtype(self.dtype), np.floating) else 0
        return self.nodata


@dataclass
class SceneSummary:
    """What a pass did: outputs, size, tiles (predicted and skipped), and where the time went (seconds).

    ``extra["rows_read"]`` counts the rows read per input (each row once: the scene height).
    """

    outputs: list[Path]
    height: int
    width: int
    tiles: int
    seconds: float
    predict_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def megapixels_per_second(self) -> float:
        return self.height * self.width / 1e6 / max(self.seconds, 1e-9)


def cast_output(data: np.ndarray, dtype: str, nodata: float | None) -> np.ndarray:
    """Cast to ``dtype``: integers are rounded and clipped to the dtype's range, non-finite -> nodata (or 0)."""
    target = np.dtype(dtype)
    if data.dtype == target:
        return data
    if np.issubdtype(target, np.integer):
        info = np.iinfo(target)
        finite = np.isfinite(data) if np.issubdtype(data.dtype, np.floating) else None
        out = np.clip(np.rint(data) if finite is not None else data, info.min, info.max)
        if finite is not None:
            out = np.where(finite, out, 0 if nodata is None else nodata)
        return out.astype(target)
    return data.astype(target)


def split_outputs(blended: np.ndarray, outputs: list[OutputSpec]) -> list[np.ndarray]:
    """Blended channels split over the outputs in order (when no ``finalize`` is given)."""
    counts = [len(o.descriptions) for o in outputs]
    if sum(counts) != blended.shape[0]:
        raise ValueError(
            f"predict returned {blended.shape[0]} channels but the outputs have {sum(counts)} bands {counts}"
        )
    return np.split(blended, np.cumsum(counts)[:-1], axis=0)


def masked_output(arr: np.ndarray, out: OutputSpec, invalid: np.ndarray) -> np.ndarray:
    """``arr`` cast to the output's dtype, nodata where the first input is invalid (``(h, w)`` bool)."""
    nd = out.nodata_value
    data = cast_output(np.asarray(arr), out.dtype, nd)
    if nd is not None and invalid.any():
        data = data.copy() if data is arr else data
        data[:, invalid] = nd
    return data
