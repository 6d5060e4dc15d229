"""The streaming scene engine: any tile model over a whole scene, written as COG(s) by windows.

:func:`predict_scene` reads the input(s) one *strip* (one tile row, full width) at a time, cuts
overlapping ``tile x tile`` tiles (reflect-padding an image smaller than a tile), runs ``predict``
on batches of tiles, blends the tile outputs with smooth weights (:mod:`.blend`) into a strip
accumulator, and as soon as image rows can no longer be touched by a later tile row it normalises
them, passes them to ``finalize`` together with the input window, and writes the result through
:class:`~cloudfree.io.writer.WindowedCOGWriter` (temporary tiled GTiff, COG on completion, atomic
rename). Memory is bounded by one strip of the scene's width, never by its height: a 10980 x 10980
13-band scene needs a few hundred MB (see ``bench/bench_memory.py``).

The temporary GTiff uses the tile stride as block height when it can, so each flushed strip fills
whole blocks and no compressed block is rewritten (except at the snapped last tile row).
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window
from tqdm import tqdm

from cloudfree.inference.blend import StripAccumulator, tile_weights
from cloudfree.inference.grid import TileGrid, pad_to_tile
from cloudfree.inference.sources import MASK, InputLike, InputSpec, Source, as_float, as_specs
from cloudfree.io.writer import WindowedCOGWriter
from cloudfree.raster import Raster

__all__ = ["AUTO", "InputSpec", "OutputSpec", "SceneSummary", "cast_output", "predict_scene"]

AUTO: Any = "auto"  # nodata sentinel: NaN for float outputs, 0 for integer ones

PredictFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
FinalizeFn = Callable[[np.ndarray, Window, Raster], "np.ndarray | Sequence[np.ndarray]"]


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
    """What a pass did: outputs, size, tiles, and where the time went (seconds)."""

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


def predict_scene(
    src: InputLike | Sequence[InputLike],
    dst: str | os.PathLike[str],
    predict: PredictFn,
    *,
    out_descriptions: Sequence[str],
    out_dtype: str = "float32",
    nodata: Any = AUTO,
    tags: dict[str, Any] | None = None,
    tile: int = 256,
    overlap: int = 32,
    batch_size: int = 8,
    finalize: FinalizeFn | None = None,
    extra_outputs: Sequence[OutputSpec] = (),
    to_reflectance: bool = True,
    validity_channels: bool = False,
    progress: bool = True,
    desc: str = "tiles",
) -> SceneSummary:
    """Run ``predict`` over a whole scene by overlapping tiles; write blended result(s) as COG(s).

    Args:
        src: the input(s): a path, ``(path, band spec)``, an :class:`InputSpec`, or a list of them
            stacked channel-wise (in order) on the first input's grid. A band spec selects bands
            (``"rgbn"``, ``["VV", "VH"]``); ``(path, "mask")`` adds a one-band mask of class codes.
            Inputs on another grid are reprojected onto the first one on the fly.
        dst: the main output file (COG, written atomically).
        predict: ``predict(x, valid) -> y`` with ``x`` ``(N, C_in, T, T)`` float32 (DN inputs as
            reflectance 0..1 when ``to_reflectance``, SAR in dB, masks as codes), ``valid``
            ``(N, T, T)`` bool (False where the first input is nodata), ``y`` ``(N, C_out, T, T)``
            float32 in whatever units ``finalize`` (or the output) expects; ``T == tile``.
        out_descriptions: band descriptions of the main output.
        out_dtype, nodata, tags: main output dtype, nodata value (``AUTO``: NaN for floats, 0 for
            integers) and tags.
        tile, overlap: tile side and overlap in pixels (``0 <= overlap < tile``).
        batch_size: most tiles per ``predict`` call (a tile row is split into even batches).
        finalize: ``finalize(blended, window, raster)`` turns the blended ``(C_out, h, w)``
            float32 of a finished output window into the output array(s): one array for the main
            output, or a sequence (main first, then one per ``extra_outputs``), each
            ``(bands, h, w)``. ``raster`` is the first input over ``window`` in its own units and
            dtype, with its valid mask. Without ``finalize`` the blended channels are split over
            the outputs in order.
        extra_outputs: further outputs (uncertainty, mask ...) written by the same pass.
        to_reflectance: convert DN inputs to reflectance before ``predict``.
        validity_channels: append to ``x`` one 0/1 channel per raster input (its own valid mask,
            in input order) after all input channels; for methods that weigh inputs per pixel.
        progress: show a tqdm bar on stderr.
        desc: label of the progress bar.

    Pixels where the first input is nodata are nodata in every output that has a nodata value.
    Returns a :class:`SceneSummary`.
    """
    specs = as_specs(src)
    first = Source(specs[0])
    sources = [first] + [Source(s, grid=first.info) for s in specs[1:]]
    height, width = first.info.height, first.info.width
    grid = TileGrid(height, width, tile, overlap)
    outputs = [OutputSpec(Path(dst), tuple(out_descriptions), out_dtype, nodata, tags), *extra_outputs]
    if len({o.path.resolve() for o in outputs}) != len(outputs):
        raise ValueError(f"outputs must be distinct files, got {[str(o.path) for o in outputs]}")
    weights_cache: dict[tuple[bool, ...], np.ndarray] = {}
    t_start, t_predict = time.perf_counter(), 0.0

    with ExitStack() as stack:
        stack.enter_context(rasterio.Env(GDAL_CACHEMAX=256))
        writers = [
            stack.enter_context(
                WindowedCOGWriter(
                    o.path,
                    height=height,
                    width=width,
                    crs=first.info.crs,
                    transform=first.info.transform,
                    descriptions=o.descriptions,
                    dtype=o.dtype,
                    nodata=o.nodata_value,
                    tags=o.tags,
                    blocksize=_blocksize(grid),
                )
            )
            for o in outputs
        ]
        bar = stack.enter_context(
            tqdm(total=grid.n_tiles, desc=desc, unit="tile", file=sys.stderr, disable=not progress)
        )
        acc: StripAccumulator | None = None
        written = 0
        for i in range(len(grid.row_starts)):
            x_strip, v_strip = _read_strip(sources, grid.strip_window(i), to_reflectance, validity_channels)
            x_strip, v_strip = pad_to_tile(x_strip, tile), pad_to_tile(v_strip, tile)
            tiles = grid.tile_row(i)
            per_call = math.ceil(len(tiles) / math.ceil(len(tiles) / batch_size))  # even batches, <= batch_size
            for b in range(0, len(tiles), per_call):
                batch = tiles[b : b + per_call]
                x = np.stack([x_strip[:, :, t.col : t.col + tile] for t in batch])
                v = np.stack([v_strip[:, t.col : t.col + tile] for t in batch])
                t0 = time.perf_counter()
                y = np.asarray(predict(x, v), dtype=np.float32)
                t_predict += time.perf_counter() - t0
                if y.ndim != 4 or y.shape[0] != len(batch) or y.shape[2:] != (tile, tile):
                    raise ValueError(f"predict returned {y.shape}, expected ({len(batch)}, C, {tile}, {tile})")
                if acc is None:
                    acc = StripAccumulator(y.shape[1], grid.tile_height, width)
                for t, yt in zip(batch, y, strict=True):
                    key = (t.top, t.bottom, t.left, t.right)
                    if key not in weights_cache:
                        weights_cache[key] = tile_weights(
                            t.height, t.width, overlap, top=t.top, bottom=t.bottom, left=t.left, right=t.right
                        )
                    acc.add(yt[:, : t.height, : t.width], weights_cache[key], t.row, t.col)
                bar.update(len(batch))
            ready = grid.rows_final_after(i)
            n = ready - written
            if n > 0:
                assert acc is not None
                window = Window(0, written, width, n)
                _write_window(acc.take(n), window, first, writers, outputs, finalize)
                written += n
    seconds = time.perf_counter() - t_start
    return SceneSummary([o.path for o in outputs], height, width, grid.n_tiles, seconds, t_predict)


def _blocksize(grid: TileGrid) -> int:
    """Output block size: the tile stride when it is a multiple of 16 (strips then fill whole blocks)."""
    stride = grid.tile - grid.overlap
    return stride if stride % 16 == 0 and 64 <= stride <= 1024 else 256


def _read_strip(
    sources: list[Source], window: Window, to_reflectance: bool, validity_channels: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Stacked float32 ``(C_in, h, w)`` input values and the first input's ``(h, w)`` validity of one strip."""
    arrays, valids = [], []
    for src in sources:
        raster = src.read(window)
        if src.spec.kind == MASK:
            arrays.append(raster.data.astype(np.float32))
        else:
            arrays.append(as_float(raster, to_reflectance))
            valids.append(raster.valid)
    if validity_channels:
        arrays.append(np.stack(valids).astype(np.float32))
    return np.concatenate(arrays, axis=0), valids[0]


def _write_window(
    blended: np.ndarray,
    window: Window,
    first: Source,
    writers: list[WindowedCOGWriter],
    outputs: list[OutputSpec],
    finalize: FinalizeFn | None,
) -> None:
    raster = first.read(window)
    if finalize is not None:
        result = finalize(blended, window, raster)
        arrays = [result] if isinstance(result, np.ndarray) else list(result)
    else:
        counts = [len(o.descriptions) for o in outputs]
        if sum(counts) != blended.shape[0]:
            raise ValueError(
                f"predict returned {blended.shape[0]} channels but the outputs have {sum(counts)} bands {counts}"
            )
        arrays = np.split(blended, np.cumsum(counts)[:-1], axis=0)
    if len(arrays) != len(outputs):
        raise ValueError(f"finalize returned {len(arrays)} arrays for {len(outputs)} outputs")
    invalid = ~raster.valid
    for arr, out, writer in zip(arrays, outputs, writers, strict=True):
        nd = out.nodata_value
        data = cast_output(np.asarray(arr), out.dtype, nd)
        if nd is not None and invalid.any():
            data = data.copy() if data is arr else data
            data[:, invalid] = nd
        writer.write(data, window)
