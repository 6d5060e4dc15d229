"""Burned-area assessment: dNBR and the USGS burn-severity classes of Key & Benson (2006).

``NBR = (NIR - SWIR2) / (NIR + SWIR2)`` on reflectance 0..1 (NIR = B08, or B8A when B08 is absent
or asked for; SWIR2 = B12), ``dNBR = NBR_pre - NBR_post`` (unscaled; multiply by 1000 for the
"dNBR x 1000" tables). A fire lowers NIR and raises SWIR2, so burned ground has positive dNBR.

Severity classes (uint8, 0 = nodata), with the default lower bounds of classes 2..7
(``DEFAULT_THRESHOLDS``, overridable as six increasing numbers)::

    1 enhanced regrowth, high   dNBR < -0.251
    2 enhanced regrowth, low    -0.251 <= dNBR < -0.100
    3 unburned                  -0.100 <= dNBR <  0.100
    4 low severity               0.100 <= dNBR <  0.270
    5 moderate-low severity      0.270 <= dNBR <  0.440
    6 moderate-high severity     0.440 <= dNBR <  0.660
    7 high severity              0.660 <= dNBR

Classes 4..7 are "burned" (:data:`BURNED`).

Cloud is not burned ground, but it lowers NBR as a fire does: a cloudy post-fire date read as
60 % "moderate-high severity" on a real Slovenia pair. ``write_burn(masks=...)`` excludes the
pixels a mask codes as cloud (dNBR NaN, class 0 nodata); ``cloudfree burn`` masks both dates with
the auto mask unless told otherwise (:mod:`cloudfree.commands.burn`).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cloudfree.evaluation.scene import (
    EvaluationInputError,
    MaskSource,
    block_windows,
    check_same_grid,
    open_imagery,
    physical,
)
from cloudfree.io.open import RasterSource
from cloudfree.io.writer import WindowedCOGWriter
from cloudfree.masks import NODATA, SHADOW, THICK, THIN

DEFAULT_THRESHOLDS: tuple[float, ...] = (-0.251, -0.100, 0.100, 0.270, 0.440, 0.660)
CLASS_NAMES: dict[int, str] = {
    0: "nodata",
    1: "enhanced regrowth, high",
    2: "enhanced regrowth, low",
    3: "unburned",
    4: "low severity",
    5: "moderate-low severity",
    6: "moderate-high severity",
    7: "high severity",
}
CLASS_COLOURS: dict[int, tuple[int, int, int]] = {  # the USGS / UN-SPIDER palette
    1: (122, 135, 55),
    2: (172, 190, 77),
    3: (10, 224, 66),
    4: (255, 248, 113),
    5: (255, 175, 56),
    6: (255, 100, 27),
    7: (164, 31, 214),
}
BURNED: tuple[int, ...] = (4, 5, 6, 7)
SWIR2 = "B12"
# mask codes excluded from dNBR: everything a given mask calls cloud, shadow or nodata; an auto mask's
# cloud and nodata only (its shadow class also takes dark ground, and burn scars are dark ground)
GIVEN_MASK_CODES: tuple[int, ...] = (THICK, THIN, SHADOW, NODATA)
AUTO_MASK_CODES: tuple[int, ...] = (THICK, THIN, NODATA)


def parse_thresholds(spec: str | Sequence[float] | None) -> tuple[float, ...]:
    """Six strictly increasing dNBR bounds from ``"-0.25,-0.1,0.1,0.27,0.44,0.66"`` (default if None)."""
    if spec is None:
        return DEFAULT_THRESHOLDS
    try:
        values = tuple(float(v) for v in (spec.split(",") if isinstance(spec, str) else spec))
    except ValueError as exc:
        raise EvaluationInputError(f"--thresholds {spec!r}: not a list of numbers ({exc})") from exc
    if len(values) != 6 or any(b <= a for a, b in itertools.pairwise(values)):
        raise EvaluationInputError(
            f"--thresholds {spec!r}: give six strictly increasing dNBR bounds (lower bounds of classes 2..7), "
            f"e.g. {','.join(str(v) for v in DEFAULT_THRESHOLDS)}"
        )
    return values


def choose_nir(*band_lists: Sequence[str], nir: str = "auto", sources: Sequence[str] = ()) -> str:
    """The NIR band for NBR: ``nir`` (B08 / B8A), or with ``"auto"`` B08 when every input has it, else B8A."""
    if nir not in ("auto", "B08", "B8A"):
        raise EvaluationInputError(f"--nir must be auto, B08 or B8A, not {nir!r}")
    options = ("B08", "B8A") if nir == "auto" else (nir,)
    for band in options:
        if all(band in bands and SWIR2 in bands for bands in band_lists):
            return band
    names = [f"{src} has {list(b)}" for src, b in zip(sources or ["input"] * len(band_lists), band_lists, strict=True)]
    raise EvaluationInputError(f"NBR needs {' or '.join(options)} and {SWIR2} in every input; " + "; ".join(names))


def nbr(data: np.ndarray, bands: Sequence[str], nir: str = "B08") -> np.ndarray:
    """NBR ``(h, w)`` float32 from reflectance ``(bands, h, w)``; NaN where undefined."""
    n = data[list(bands).index(nir)].astype(np.float64)
    s = data[list(bands).index(SWIR2)].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = (n - s) / (n + s)
    return np.where(np.isfinite(value), value, np.nan).astype(np.float32)


def classify(dnbr: np.ndarray, thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> np.ndarray:
    """Severity codes 1..7 (uint8) of ``dnbr``; 0 where dNBR is NaN."""
    codes = (np.searchsorted(np.asarray(thresholds, np.float64), dnbr, side="right") + 1).astype(np.uint8)
    codes[~np.isfinite(dnbr)] = 0
    return codes


@dataclass
class BurnSummary:
    """What ``write_burn`` wrote, with the pixel count of each severity class."""

    dnbr_path: Path
    classes_path: Path
    nir: str
    thresholds: tuple[float, ...]
    counts: dict[int, int] = field(default_factory=dict)
    excluded: int = 0  # pixels with data in both dates that a mask excluded (counted in class 0)


def classes_path_for(output: str | os.PathLike[str]) -> Path:
    out = Path(output)
    return out.with_name(f"{out.stem}_severity{out.suffix or '.tif'}")


def check_inputs(
    pre: str | os.PathLike[str],
    post: str | os.PathLike[str],
    *,
    thresholds: Sequence[float] | str | None = None,
    nir: str = "auto",
    bands: str | Sequence[str] | None = None,
    dn_offset: float | None = None,
) -> tuple[RasterSource, RasterSource, str, tuple[float, ...]]:
    """``(pre source, post source, NIR band, thresholds)``; raises on bad thresholds, grids or bands."""
    bounds = parse_thresholds(thresholds)
    src_pre, src_post = open_imagery(pre, bands, dn_offset), open_imagery(post, bands, dn_offset)
    check_same_grid(src_pre, src_post, "post-fire image")
    band = choose_nir(src_pre.bands, src_post.bands, nir=nir, sources=[str(pre), str(post)])
    return src_pre, src_post, band, bounds


def write_burn(
    pre: str | os.PathLike[str],
    post: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    classes_output: str | os.PathLike[str] | None = None,
    thresholds: Sequence[float] | str | None = None,
    nir: str = "auto",
    bands: str | Sequence[str] | None = None,
    dn_offset: float | None = None,
    overwrite: bool = False,
    masks: Sequence[tuple[str | os.PathLike[str], Sequence[int], str]] = (),
) -> BurnSummary:
    """Write dNBR (float32 COG, NaN nodata) and severity classes (uint8 COG, 0 nodata) by windows.

    ``pre`` and ``post`` must share the grid (CRS, transform, size); the shared ``bands`` /
    ``dn_offset`` options apply to both. ``classes_output`` defaults to ``<output stem>_severity.tif``.
    ``masks``: ``(mask file, codes, label)`` on the same grid; a pixel holding one of ``codes`` in
    any of them is excluded (dNBR NaN, class 0). ``label`` names the mask in errors (``--post-mask``).
    """
    from cloudfree.inference.checks import check_mask_file

    src_pre, src_post, band, bounds = check_inputs(
        pre, post, thresholds=thresholds, nir=nir, bands=bands, dn_offset=dn_offset
    )
    excluders = []
    for path, codes, label in masks:
        check_mask_file(path, label)
        source = MaskSource(path)
        check_same_grid(src_pre, source, f"{label} mask")
        excluders.append((source, np.asarray(sorted(codes), dtype=np.uint8)))
    out, cls = Path(output), Path(classes_output) if classes_output else classes_path_for(output)
    for path in (out, cls):
        if path.exists() and not overwrite:
            raise EvaluationInputError(f"{path}: exists; pass --overwrite to replace it")
    if out == cls:
        raise EvaluationInputError(f"{out}: dNBR and the classes need two different files")
    grid = {"height": src_pre.height, "width": src_pre.width, "crs": src_pre.crs, "transform": src_pre.transform}
    tags = {"NBR": f"({band} - {SWIR2}) / ({band} + {SWIR2}) on reflectance", "PRE": str(pre), "POST": str(post)}
    class_tags = tags | {
        "THRESHOLDS": list(bounds),
        "CLASS_NAMES": {str(k): v for k, v in CLASS_NAMES.items()},
        "REFERENCE": "Key & Benson (2006), USGS FIREMON Landscape Assessment",
    }
    summary = BurnSummary(out, cls, band, bounds, {code: 0 for code in CLASS_NAMES})
    with (
        WindowedCOGWriter(out, descriptions=["dNBR"], dtype="float32", nodata=float("nan"), tags=tags, **grid) as w1,
        WindowedCOGWriter(cls, descriptions=["burn_severity"], dtype="uint8", nodata=0, tags=class_tags, **grid) as w2,
    ):
        for window in block_windows(src_pre.height, src_pre.width):
            a = src_pre.read(select=[band, SWIR2], window=window)
            b = src_post.read(select=[band, SWIR2], window=window)
            d = nbr(physical(a), a.bands, band) - nbr(physical(b), b.bands, band)
            if excluders:
                out_mask = np.zeros(d.shape, dtype=bool)
                for source, codes in excluders:
                    out_mask |= np.isin(source.read(window), codes)
                summary.excluded += int((out_mask & np.isfinite(d)).sum())
                d[out_mask] = np.nan
            codes = classify(d, bounds)
            w1.write(d[None], window)
            w2.write(codes[None], window)
            values, counts = np.unique(codes, return_counts=True)
            for v, c in zip(values, counts, strict=True):
                summary.counts[int(v)] += int(c)
    return summary
