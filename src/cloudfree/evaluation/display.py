"""Display images for the HTML report: decimated reads, shared stretches, colour maps, PNG data URIs.

Rasters are read at most ``max_side`` pixels a side: a GeoTIFF/COG through GDAL's decimated read
(``out_shape``, which uses the file's overviews), any other layout read by the reader layer and
subsampled. Colour composites share one 2-98 % stretch per channel across every image shown, so
before, after and reference are comparable. Everything returns ``data:image/png;base64,...`` URIs.
"""

from __future__ import annotations

import base64
import io
import math
import os
from collections.abc import Sequence

import numpy as np
import rasterio
from matplotlib import colormaps
from PIL import Image
from rasterio.enums import Resampling

from cloudfree.evaluation.scene import physical
from cloudfree.io.open import FileSource, open_source
from cloudfree.raster import Raster

TRUE_COLOUR = ("B04", "B03", "B02")
FALSE_COLOUR = ("B08", "B04", "B03")
MASK_COLOURS = {1: (255, 40, 40, 150), 2: (255, 210, 0, 130), 3: (40, 90, 255, 150), 255: (90, 90, 90, 90)}
MASK_NAMES = {1: "thick cloud (binary: cloud)", 2: "thin cloud", 3: "shadow", 255: "nodata"}
PROVENANCE_COLOURS = {1: (230, 0, 200, 150), 255: (90, 90, 90, 90)}
SERIES_COLOURS = ((0, 200, 255, 150), (255, 150, 0, 150), (120, 255, 80, 150), (180, 120, 255, 150))


def decimation(height: int, width: int, max_side: int) -> tuple[int, int, int]:
    """``(step, out_height, out_width)`` so that the larger side is at most ``max_side``."""
    step = max(1, math.ceil(max(height, width) / max_side))
    return step, math.ceil(height / step), math.ceil(width / step)


def read_bands(path: str | os.PathLike[str], select: Sequence[str], max_side: int) -> np.ndarray:
    """Reflectance ``(len(select), h', w')`` (NaN nodata) of ``path``, decimated to ``max_side``."""
    src = open_source(path)
    step, oh, ow = decimation(src.height, src.width, max_side)
    if isinstance(src, FileSource) and src.layout == "geotiff" and step > 1:
        idx = [src.bands.index(b) for b in select]
        with rasterio.open(src.path) as ds:
            data = ds.read([i + 1 for i in idx], out_shape=(len(idx), oh, ow), resampling=Resampling.nearest)
        valid = np.ones((oh, ow), bool)
        if src.nodata is not None:
            valid &= ~(np.isnan(data) if np.isnan(src.nodata) else data == src.nodata).any(0)
        raster = Raster(data, tuple(select), src.crs, src.transform, valid, src.radiometry, src.dn_offset[idx])
    else:
        full = src.read(select=list(select))
        raster = full.with_data(full.data[:, ::step, ::step], valid=full.valid[::step, ::step])
    return physical(raster)


def read_codes(path: str | os.PathLike[str], max_side: int) -> np.ndarray:
    """The first band of a mask / provenance file, decimated (nearest) to ``max_side``."""
    with rasterio.open(path) as ds:
        _, oh, ow = decimation(ds.height, ds.width, max_side)
        return ds.read(1, out_shape=(oh, ow), resampling=Resampling.nearest)


def stretch_of(images: Sequence[np.ndarray]) -> list[tuple[float, float]]:
    """Per-channel 2 and 98 percentiles over the finite values of all ``images`` ``(3, h, w)``."""
    out = []
    for c in range(images[0].shape[0]):
        values = np.concatenate([img[c][np.isfinite(img[c])] for img in images])
        lo, hi = np.percentile(values, (2, 98)) if values.size else (0.0, 1.0)
        out.append((float(lo), float(hi if hi > lo else lo + 1e-6)))
    return out


def png_uri(rgba: np.ndarray) -> str:
    """``data:`` URI of a uint8 ``(h, w, 3 or 4)`` image as PNG."""
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def composite(image: np.ndarray, stretch: Sequence[tuple[float, float]]) -> str:
    """Colour composite of reflectance ``(3, h, w)`` with ``stretch``; nodata black."""
    out = np.zeros((*image.shape[1:], 3), np.uint8)
    for c, (lo, hi) in enumerate(stretch):
        scaled = np.clip((np.nan_to_num(image[c], nan=lo) - lo) / (hi - lo), 0, 1)
        out[..., c] = np.round(scaled * 255).astype(np.uint8)
    out[~np.isfinite(image).all(0)] = 0
    return png_uri(out)


def colour_codes(codes: np.ndarray, colours: dict[int, tuple[int, int, int, int]]) -> str:
    """Transparent RGBA overlay: each code in ``colours`` painted with its colour, the rest clear."""
    out = np.zeros((*codes.shape, 4), np.uint8)
    for code, colour in colours.items():
        out[codes == code] = colour
    return png_uri(out)


def provenance_colours(codes: np.ndarray) -> dict[int, tuple[int, int, int, int]]:
    """Colours for provenance codes present: 1 model, 2 + k series date k, 255 nodata (0 stays clear)."""
    colours = dict(PROVENANCE_COLOURS)
    for code in np.unique(codes):
        if 2 <= code < 255:
            colours[int(code)] = SERIES_COLOURS[(int(code) - 2) % len(SERIES_COLOURS)]
    return colours


def colour_map(values: np.ndarray, vmin: float = -1.0, vmax: float = 1.0, cmap: str = "RdYlGn") -> str:
    """An index map ``(h, w)`` through a matplotlib colour map; NaN transparent."""
    rgba = colormaps[cmap](np.clip((np.nan_to_num(values) - vmin) / (vmax - vmin), 0, 1), bytes=True)
    rgba[~np.isfinite(values)] = 0
    return png_uri(rgba)


def colour_bar(vmin: float = -1.0, vmax: float = 1.0, cmap: str = "RdYlGn", steps: int = 9) -> str:
    """A CSS linear-gradient of the colour map (for the legend under an index map)."""
    stops = []
    for k in range(steps):
        r, g, b, _ = colormaps[cmap](k / (steps - 1), bytes=True)
        stops.append(f"rgb({r},{g},{b}) {100 * k / (steps - 1):.0f}%")
    return f"linear-gradient(to right, {', '.join(stops)})"
