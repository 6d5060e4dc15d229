"""s2cloudless (Sentinel Hub's LightGBM pixel classifier) on cloudfree Rasters (optional extra ``s2cloudless``).

:class:`S2Cloudless` feeds ``S2PixelCloudDetector`` the 10 bands it was trained on (B01, B02, B04,
B05, B08, B8A, B09, B10, B11, B12; a 13-band L1C raster is reduced to them, which is what the
package's ``all_bands=True`` does) as top-of-atmosphere reflectance ``(DN + offset) / 10000`` and
returns the cloud probability and the 0/1 cloud mask as Rasters on the input grid (nodata 255 in
the mask, NaN in the probability; nodata pixels count as probability 0 for the post-processing so
that they never spread cloud).

The defaults are the detector's own defaults (threshold 0.4, ``average_over=1``,
``dilation_size=1``): they reproduce the reference output shipped with s2cloudless
(``madagascar_cloudy_l1c/s2cloudless_mask.tif``) pixel for pixel. Sentinel Hub's documentation
suggests ``average_over=4, dilation_size=2`` for 10 m data: pass them for smoother masks.

s2cloudless is trained on Level-1C TOA reflectance, so Level-2A input is refused: a raster without
B10 (L2A drops it), one whose tags say L2A / BOA (``BOA_ADD_OFFSET``, ``MSIL2A`` ...), or one the
caller declares L2A (``level="L2A"``).

The classifier is per pixel; only the post-processing (disk averaging of radius ``average_over``,
then dilation of radius ``dilation_size``) looks at neighbours, so a window read with a halo of
:attr:`S2Cloudless.halo` pixels and cropped gives exactly the whole-scene result
(:func:`s2cloudless_scene` relies on this to process scene files by windows, exactly).
"""

from __future__ import annotations

import functools
import os
import re
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.windows import Window
from tqdm import tqdm

from cloudfree import bands as bandcat
from cloudfree.errors import CloudfreeError
from cloudfree.io.geotiff import band_names_of, open_info, read_raster
from cloudfree.io.writer import WindowedCOGWriter
from cloudfree.masks import NODATA, MaskSummary
from cloudfree.radiometry import Radiometry
from cloudfree.raster import Raster

S2CLOUDLESS_BANDS: tuple[str, ...] = ("B01", "B02", "B04", "B05", "B08", "B8A", "B09", "B10", "B11", "B12")
_L2A = re.compile(r"MSIL2A|LEVEL[-_ ]?2A|\bL2A\b|\bBOA\b", re.IGNORECASE)
_L1C = re.compile(r"MSIL1C|LEVEL[-_ ]?1C|\bL1C\b|\bTOA\b", re.IGNORECASE)


class MissingExtraError(CloudfreeError, ImportError, ValueError):
    """An optional dependency is not installed (the message says which extra to install)."""


class ProductLevelError(CloudfreeError, ValueError):
    """The input is not the processing level a method needs (s2cloudless needs L1C, not L2A)."""


def detector_class() -> Any:
    """``s2cloudless.S2PixelCloudDetector``, or a :class:`MissingExtraError` saying how to install it."""
    try:
        from s2cloudless import S2PixelCloudDetector
    except ImportError as exc:
        raise MissingExtraError(
            f"the s2cloudless method needs the s2cloudless package ({exc}); install it with "
            f"`pip install cloudfree[s2cloudless]`"
        ) from exc
    return S2PixelCloudDetector


def product_level(tags: dict[str, Any]) -> str | None:
    """``"L2A"`` or ``"L1C"`` when a raster's tags say so (product names, BOA/TOA offsets), else None."""
    if "BOA_ADD_OFFSET" in tags:
        return "L2A"
    text = " ".join(str(v) for k, v in tags.items() if not k.startswith("CLOUDFREE_"))
    if _L2A.search(text):
        return "L2A"
    if _L1C.search(text) or "RADIO_ADD_OFFSET" in tags:
        return "L1C"
    return None


@dataclass(frozen=True)
class S2Cloudless:
    """s2cloudless with its parameters.

    Attributes:
        threshold: cloud probability above which (after averaging) a pixel is cloud.
        average_over: radius in pixels of the disk the probability is averaged over (0: none).
        dilation_size: radius in pixels of the disk the mask is dilated with (0: none).
        level: ``"L1C"``, ``"L2A"`` or None (from the raster's tags); ``"L2A"`` is refused.
    """

    threshold: float = 0.4
    average_over: int = 1
    dilation_size: int = 1
    level: str | None = None

    @property
    def halo(self) -> int:
        """Pixels of context each side a window needs for an exact result."""
        return int(self.average_over or 0) + int(self.dilation_size or 0)

    def check(self, raster: Raster) -> None:
        """Refuse input s2cloudless cannot classify, naming the file and the reason."""
        level = (self.level or product_level(raster.tags) or "").upper()
        if level == "L2A":
            raise ProductLevelError(
                f"{raster.source}: is Level-2A (surface reflectance); s2cloudless is trained on Level-1C "
                f"top-of-atmosphere reflectance: give the L1C product or use --method csmask"
            )
        if raster.radiometry not in (Radiometry.DN, Radiometry.REFLECTANCE):
            raise ValueError(
                f"{raster.source}: s2cloudless needs Sentinel-2 DN or reflectance, got {raster.radiometry.value} data"
            )
        missing = [b for b in S2CLOUDLESS_BANDS if b not in raster.bands]
        if missing:
            hint = " (B10 is absent from Level-2A products: s2cloudless needs Level-1C)" if "B10" in missing else ""
            raise bandcat.BandError(
                f"{raster.source}: s2cloudless needs bands {list(S2CLOUDLESS_BANDS)} but bands {missing} are "
                f"missing; the raster has {list(raster.bands)}{hint}"
            )

    def probability(self, raster: Raster) -> np.ndarray:
        """Per-pixel cloud probability ``(h, w)`` float32 in 0..1; NaN where the raster is nodata."""
        self.check(raster)
        refl = raster.select(S2CLOUDLESS_BANDS).to_reflectance()
        x = np.array(refl.data, dtype=np.float32)
        x[:, ~raster.valid] = 0.0
        detector = _classifier()
        prob = detector.get_cloud_probability_maps(np.moveaxis(x, 0, -1)[None])[0].astype(np.float32)
        prob[~raster.valid] = np.nan
        return prob

    def mask_from_probability(self, prob: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
        """uint8 ``(h, w)`` mask: 1 cloud, 0 clear, 255 nodata, with s2cloudless's averaging and dilation."""
        valid = np.isfinite(prob) if valid is None else valid
        p = np.where(valid, prob, 0.0).astype(np.float32)
        if self.average_over:
            mask = self._detector().get_mask_from_prob(p[None])[0]
        else:  # the package's own path fails on OpenCV 5 without averaging (int8 dilation)
            import cv2
            from s2cloudless.utils import cv2_disk

            mask = (p > self.threshold).astype(np.uint8)
            if self.dilation_size:
                mask = cv2.dilate(mask, cv2_disk(int(self.dilation_size)))
        out = mask.astype(np.uint8)
        out[~valid] = NODATA
        return out

    def __call__(self, raster: Raster) -> tuple[Raster, Raster]:
        """``(probability, mask)`` Rasters on ``raster``'s grid (bands ``p_cloud`` and ``mask``)."""
        prob = self.probability(raster)
        mask = self.mask_from_probability(prob, raster.valid)
        common = dict(crs=raster.crs, transform=raster.transform, valid=raster.valid, source=raster.source)
        tags = {"CLOUDFREE_MASK_METHOD": "s2cloudless", **self.describe()}
        p_raster = Raster(
            data=prob[None], bands=("p_cloud",), radiometry=Radiometry.LABEL, nodata=float("nan"), tags=tags, **common
        )
        m_raster = Raster(
            data=mask[None], bands=("mask",), radiometry=Radiometry.LABEL, nodata=NODATA, tags=tags, **common
        )
        return p_raster, m_raster

    def describe(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "average_over": self.average_over, "dilation_size": self.dilation_size}

    def _detector(self) -> Any:
        """A detector holding this instance's post-processing (it never loads the classifier)."""
        return _detector(float(self.threshold), int(self.average_over or 0), int(self.dilation_size or 0))


@functools.lru_cache(maxsize=1)
def _classifier() -> Any:
    """The detector that computes probabilities: its LightGBM model is loaded once per process.

    Probabilities do not depend on the threshold or the post-processing sizes.
    """
    return detector_class()(all_bands=False)


@functools.lru_cache(maxsize=8)
def _detector(threshold: float, average_over: int, dilation_size: int) -> Any:
    """One detector per post-processing parameter set (the classifier is loaded lazily, and never used here)."""
    cls = detector_class()
    return cls(
        threshold=threshold, all_bands=False, average_over=average_over or None, dilation_size=dilation_size or None
    )


def s2cloudless_scene(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    detector: S2Cloudless | None = None,
    *,
    bands: str | None = None,
    dn_offset: float | None = None,
    window: int = 1024,
    probability: str | os.PathLike[str] | None = None,
    progress: bool = True,
    tags: dict[str, Any] | None = None,
) -> MaskSummary:
    """s2cloudless over a scene by ``window x window`` blocks read with a halo; exact whole-scene result."""
    detector = detector or S2Cloudless()
    info = open_info(src)
    file_bands = band_names_of(info, bands)
    probe = read_raster(
        src, file_bands, window=Window(0, 0, min(info.width, 1), min(info.height, 1)), dn_offset=dn_offset
    )
    detector.check(probe)
    halo, height, width = detector.halo, info.height, info.width
    blocks = [(r, c) for r in range(0, height, window) for c in range(0, width, window)]
    grid = dict(height=height, width=width, crs=info.crs, transform=info.transform)
    tags = {
        "CLOUDFREE_RADIOMETRY": "label",
        "CLOUDFREE_MASK_METHOD": "s2cloudless",
        **detector.describe(),
        **(tags or {}),
    }
    summary = MaskSummary(Path(dst), "s2cloudless", height, width, 0.0, (0, 1))
    t0 = time.perf_counter()
    with ExitStack() as stack:
        out = stack.enter_context(
            WindowedCOGWriter(dst, descriptions=("mask",), dtype="uint8", nodata=NODATA, tags=tags, **grid)
        )
        prob_out = None
        if probability is not None:
            prob_out = stack.enter_context(
                WindowedCOGWriter(
                    probability, descriptions=("p_cloud",), dtype="float32", nodata=float("nan"), tags=tags, **grid
                )
            )
        for r, c in tqdm(blocks, desc="s2cloudless", unit="window", file=sys.stderr, disable=not progress):
            h, w = min(window, height - r), min(window, width - c)
            r0, c0 = max(r - halo, 0), max(c - halo, 0)
            r1, c1 = min(r + h + halo, height), min(c + w + halo, width)
            raster = read_raster(src, file_bands, window=Window(c0, r0, c1 - c0, r1 - r0), dn_offset=dn_offset)
            prob = detector.probability(raster)
            mask = detector.mask_from_probability(prob, raster.valid)
            core = (slice(r - r0, r - r0 + h), slice(c - c0, c - c0 + w))
            summary.add_counts(mask[core], raster.valid[core])
            out.write(mask[core][None], Window(c, r, w, h))
            if prob_out is not None:
                prob_out.write(prob[core][None], Window(c, r, w, h))
    summary.seconds = time.perf_counter() - t0
    return summary
