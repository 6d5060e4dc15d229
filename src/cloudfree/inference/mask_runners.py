"""The per-method runners behind :func:`cloudfree.inference.mask_scene.mask_scene`.

ukis-csmask and the own U-Net stream through the scene engine (:func:`_engine`, with the snow
and dark-water guards applied to each finished window); s2cloudless runs its exact windowed pass
with a halo; SCL and dilation are windowed passes over a one-band raster (:func:`_windowed`).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window
from tqdm import tqdm

from cloudfree import bands as bandcat
from cloudfree.inference.sources import InputSpec
from cloudfree.inference.streaming import predict_scene
from cloudfree.io.geotiff import RasterInfo, open_info
from cloudfree.io.writer import WindowedCOGWriter
from cloudfree.masking import guards
from cloudfree.masking.auto import MaskMethodError, csmask_model_of
from cloudfree.masking.csmask import CSMASK_CODES, MODEL_TILE, csmask_probabilities, resample_factor
from cloudfree.masks import NODATA, MaskSummary, index_to_codes
from cloudfree.raster import Raster

GUARD_BANDS = ("B03", "B08", "B11")


def resolution_m(info: RasterInfo) -> float | None:
    """Pixel size in metres from the file's CRS and transform; None when it has no CRS."""
    if info.crs is None:
        return None
    size = abs(info.transform.a)
    if info.crs.is_geographic:
        lat = info.transform.f + info.transform.e * info.height / 2
        return size * 111_320.0 * max(math.cos(math.radians(lat)), 0.01)
    try:
        factor = info.crs.linear_units_factor[1]
    except Exception:  # a CRS without linear units: assume metres
        factor = 1.0
    return size * factor


def _guard(codes: np.ndarray, raster: Raster) -> np.ndarray:
    """Snow and dark-water guards on one finished window, with the bands it has."""
    have = set(raster.bands)
    if not {"B03", "B08"} <= have:
        return codes
    refl = raster.select(tuple(b for b in GUARD_BANDS if b in have)).to_reflectance()
    get = dict(zip(refl.bands, refl.data, strict=True))
    if "B11" in get:
        codes = guards.snow_guard(codes, get["B03"], get["B11"])
    return guards.water_guard(codes, get["B03"], get["B08"])


def _engine(
    src: Path,
    dst: Path,
    model_bands: tuple[str, ...],
    names: tuple[str, ...],
    probs,
    codes: tuple[int, ...],
    summary: MaskSummary,  # a SceneMaskSummary: counts, codes and tags are filled in here
    bands: str | None,
    dn_offset: float | None,
    tile: int,
    overlap: int,
    batch_size: int,
    guards_on: bool,
    progress: bool,
) -> None:
    missing = [b for b in model_bands if b not in names]
    if missing:
        raise bandcat.BandError(
            f"{src}: {summary.method} needs bands {list(model_bands)} but the file lacks {missing}; "
            f"it has {list(names)}"
        )
    extra = tuple(b for b in GUARD_BANDS if b in names and b not in model_bands) if guards_on else ()
    select = model_bands + extra
    spec = InputSpec(src, select=select, bands=names if bands else None, dn_offset=dn_offset)
    n = len(model_bands)

    def predict(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
        return probs(np.where(valid[:, None], x[:, :n], 0.0).astype(np.float32), valid)

    def finalize(blended: np.ndarray, window: Window, raster: Raster) -> np.ndarray:
        out = index_to_codes(np.argmax(blended, axis=0), codes)
        if guards_on:
            out = _guard(out, raster)
        out[~raster.valid] = NODATA
        summary.add_counts(out, raster.valid)
        return out[None]

    predict_scene(
        spec,
        dst,
        predict,
        out_descriptions=("mask",),
        out_dtype="uint8",
        nodata=NODATA,
        tags=summary.tags,
        tile=tile,
        overlap=overlap,
        batch_size=batch_size,
        finalize=finalize,
        progress=progress,
        desc="masking",
    )


def _csmask(src, dst, names, chosen, info, summary, bands, dn_offset, tile, batch_size, guards_on, progress) -> None:
    model = csmask_model_of(chosen)
    res = resolution_m(info)
    f = resample_factor(res)
    session = model.session()
    summary.codes = CSMASK_CODES
    summary.tags.update(
        CLOUDFREE_MODEL="ukis-csmask",
        CLOUDFREE_MODEL_VERSION=session.version,
        CLOUDFREE_CSMASK_FACTOR=f"{f} ({res:.1f} m -> {res * f:.1f} m)" if res else f"{f} (resolution unknown)",
    )
    t = tile or MODEL_TILE * f
    if t != MODEL_TILE * f:
        raise MaskMethodError(
            f"ukis-csmask tiles are {MODEL_TILE * f} px at this resolution (factor {f}); got --tile {t}"
        )

    def probs(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
        return csmask_probabilities(x, valid, model, f)

    _engine(src, dst, model.in_bands, names, probs, CSMASK_CODES, summary, bands, dn_offset, t, 32 * f,
            batch_size, guards_on, progress)  # fmt: skip


def _unet(src, dst, names, model, device, summary, bands, dn_offset, tile, batch_size, guards_on, progress) -> None:
    from cloudfree.masking.predict import MaskModel

    runner = MaskModel.load(model, device)
    summary.codes = runner.codes
    summary.tags.update(CLOUDFREE_MODEL=runner.config.name, CLOUDFREE_MODEL_VERSION=runner.config.version)

    def probs(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
        return runner.probabilities(x)

    size, overlap = tile
    _engine(src, dst, runner.in_bands, names, probs, runner.codes, summary, bands, dn_offset, size or 256,
            32 if overlap is None else overlap, batch_size, guards_on, progress)  # fmt: skip


def _s2cloudless(src, dst, level, summary, bands, dn_offset, progress, options, tile, probability) -> None:
    from cloudfree.masking.s2cloudless_adapter import S2Cloudless, s2cloudless_scene

    options = dict(options or {})
    unknown = set(options) - {"threshold", "average_over", "dilation_size"}
    if unknown:
        raise MaskMethodError(f"unknown s2cloudless options {sorted(unknown)}")
    detector = S2Cloudless(level=level, **options)  # the level as given; the adapter reads the tags itself
    summary.tags.update({f"CLOUDFREE_S2CLOUDLESS_{k.upper()}": str(v) for k, v in detector.describe().items()})
    result = s2cloudless_scene(
        src,
        dst,
        detector,
        bands=bands,
        dn_offset=dn_offset,
        window=max(tile or 1024, 64),
        probability=probability,
        progress=progress,
        tags=summary.tags,
    )
    summary.codes, summary.counts = result.codes, result.counts


def _windowed(src, dst, band_index, halo, fn, summary, progress, tags=None, window: int = 1024) -> None:
    """Apply ``fn`` (codes -> codes) to band ``band_index`` of ``src`` by windows with ``halo`` px of context."""
    info = open_info(src)
    height, width = info.height, info.width
    blocks = [(r, c) for r in range(0, height, window) for c in range(0, width, window)]
    with (
        rasterio.open(src) as ds,
        WindowedCOGWriter(
            dst, height=height, width=width, crs=info.crs, transform=info.transform, descriptions=("mask",),
            dtype="uint8", nodata=NODATA, tags=tags or summary.tags,
        ) as out,
    ):  # fmt: skip
        for r, c in tqdm(blocks, desc="mask post-processing", unit="window", file=sys.stderr, disable=not progress):
            h, w = min(window, height - r), min(window, width - c)
            r0, c0 = max(r - halo, 0), max(c - halo, 0)
            r1, c1 = min(r + h + halo, height), min(c + w + halo, width)
            data = ds.read(band_index + 1, window=Window(c0, r0, c1 - c0, r1 - r0))
            codes = fn(data)[r - r0 : r - r0 + h, c - c0 : c - c0 + w]
            summary.add_counts(codes, codes != NODATA)
            out.write(codes[None].astype(np.uint8), Window(c, r, w, h))
