"""The streaming scene engine: any tile model over a whole scene, written as COG(s) by windows.

:func:`predict_scene` walks the scene one *strip* (one tile row, full width) at a time. Every input
(any format the reader registry knows, opened once, side inputs put onto the first input's grid
once) is read row by row into a :class:`~cloudfree.inference.strips.RowBuffer`, so each input row is
read exactly once. Overlapping ``tile x tile`` tiles (plus an optional *halo* of context on every
side, reflect-padded at the scene border) go to ``predict`` in batches; tiles a pipeline says need no
work (``skip``) get ``fill`` instead, and tiles with no valid input pixel are not predicted at all.
Tile outputs are blended with smooth weights (:mod:`.blend`) into a strip accumulator; rows no later
tile can touch are normalised, handed to ``finalize`` with the inputs over that window, and written
through :class:`~cloudfree.io.writer.WindowedCOGWriter` (:mod:`.scene_writers`; temporary tiled GTiff,
COG on completion, atomic rename). Memory is bounded by a few strips of the scene's width, never by
its height.

Reading, computing and writing overlap (:mod:`.stages`): the next strip is read on a reader thread
and finished windows are finalized and written on a writer thread while this thread stacks, predicts
and blends; ``threaded=False`` does the same steps serially and writes the same bytes.

Inputs come as a list (channels stacked in order, ``predict(x, valid)`` with ``x`` an array) or as
a mapping of names (``{"optical": ..., "sar": ..., "mask": ...}``, ``predict(x, valid)`` with ``x``
a dict of arrays). An input with no valid pixel at all is refused (nothing is written).
"""

from __future__ import annotations

import inspect
import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window
from tqdm import tqdm

from cloudfree.errors import RasterReadError
from cloudfree.inference.blend import StripAccumulator, tile_weights
from cloudfree.inference.grid import TileGrid
from cloudfree.inference.outputs import AUTO, OutputSpec, SceneSummary, cast_output
from cloudfree.inference.scene_writers import FinalizeFn, open_writers, write_window
from cloudfree.inference.sources import MASK, InputLike, InputSpec, Source, as_named, as_specs
from cloudfree.inference.stacking import stack_strip, view
from cloudfree.inference.stages import Stage
from cloudfree.inference.strips import RowBuffer, cut, pad_index
from cloudfree.io.memory import limit_heap_arenas

__all__ = ["AUTO", "InputSpec", "OutputSpec", "SceneSummary", "cast_output", "predict_scene"]

Batch = "np.ndarray | dict[str, np.ndarray]"
CACHE_BYTES = 256 * 2**20
PredictFn = Callable[[Any, np.ndarray], np.ndarray]
SkipFn = Callable[..., bool]
FillFn = Callable[[Any, np.ndarray], np.ndarray]


def predict_scene(
    src: InputLike | Sequence[InputLike] | Mapping[str, InputLike],
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
    halo: int = 0,
    skip: SkipFn | None = None,
    fill: FillFn | None = None,
    threaded: bool = True,
) -> SceneSummary:
    """Run ``predict`` over a whole scene by overlapping tiles; write blended result(s) as COG(s).

    Args:
        src: the input(s): a path, ``(path, band spec)``, an :class:`InputSpec`, or a list of them
            stacked channel-wise (in order); or a mapping ``{name: input}`` (named inputs, the first
            defines the grid; a plain path under ``"mask"`` / ``"*_mask"`` is a mask). A band spec
            selects bands (``"rgbn"``, ``["VV", "VH"]``); ``(path, "mask")`` adds a one-band mask of
            class codes. Inputs on another grid are reprojected onto the first one.
        dst: the main output file (COG, written atomically).
        predict: ``predict(x, valid) -> y``. ``x``: ``(N, C_in, S, S)`` float32 (list inputs), or
            ``{name: (N, C_name, S, S)}`` (named inputs; with ``validity_channels`` also
            ``"valid": (N, n_rasters, S, S)``), DN as reflectance 0..1 when ``to_reflectance``, SAR
            in dB, masks as codes; ``S = tile + 2 * halo``. ``valid``: ``(N, S, S)`` bool, False
            where the first input is nodata. ``y``: ``(N, C_out, S, S)`` float32; the halo is cut off.
            A ``predict`` that takes a keyword ``tiles`` also gets the batch's
            :class:`~cloudfree.inference.grid.Tile` objects (``row``, ``col``: top-left image pixel
            of the tile without its halo), for inputs it samples itself by position.
        out_descriptions: band descriptions of the main output.
        out_dtype, nodata, tags: main output dtype, nodata value (``AUTO``: NaN for floats, 0 for
            integers) and tags.
        tile, overlap: tile side and overlap in pixels (``0 <= overlap < tile``).
        batch_size: most tiles per ``predict`` call (a tile row is split into even batches).
        finalize: ``finalize(blended, window, raster)`` (or with a keyword ``inputs``: also
            ``inputs={name: Raster}`` of every input over the window, masks included; list inputs
            are named ``input0``, ``input1`` ...) turns the blended ``(C_out, h, w)`` float32 of a
            finished output window into the output array(s): one array for the main output, or a
            sequence (main first, then one per ``extra_outputs``). ``raster`` is the first input over
            ``window`` in its own units, with its valid mask. Without ``finalize`` the blended
            channels are split over the outputs in order.
        extra_outputs: further outputs (uncertainty, mask ...) written by the same pass.
        to_reflectance: convert DN inputs to reflectance before ``predict``.
        validity_channels: give ``predict`` each raster input's own valid mask (list inputs: one
            0/1 channel per raster input after all input channels).
        progress, desc: a tqdm bar on stderr and its label.
        halo: context pixels added on every side of each tile (for spatial post-processing).
        skip: ``skip(x_tile, valid_tile) -> bool`` (one tile, no batch axis; with a keyword ``tile``
            also the :class:`~cloudfree.inference.grid.Tile`): True where the tile needs no work; the
            tile's output is then ``fill(x_tile, valid_tile)`` ``(C_out, S, S)``.
        fill: required with ``skip``, e.g. the input bands themselves.
        threaded: read the next strip and finish/write output windows on background threads
            (:mod:`.stages`) while this thread computes; False runs the same steps serially (same bytes).

    Pixels where the first input is nodata are nodata in every output that has a nodata value.
    Returns a :class:`SceneSummary`; raises :class:`~cloudfree.errors.RasterReadError` when the
    first input holds no valid pixel.
    """
    if skip is not None and fill is None:
        raise ValueError("predict_scene: skip= needs fill= (the output of a skipped tile)")
    limit_heap_arenas()  # before the pass's threads allocate (cloudfree.io.memory)
    if halo < 0:
        raise ValueError(f"halo must be >= 0, got {halo}")
    named = isinstance(src, Mapping)
    specs = as_named(src) if named else {f"input{i}": s for i, s in enumerate(as_specs(src))}
    names = list(specs)
    outputs = [OutputSpec(Path(dst), tuple(out_descriptions), out_dtype, nodata, tags), *extra_outputs]
    if len({o.path.resolve() for o in outputs}) != len(outputs):
        raise ValueError(f"outputs must be distinct files, got {[str(o.path) for o in outputs]}")
    auto_skip = all(o.nodata_value is not None for o in outputs)
    pass_inputs = finalize is not None and "inputs" in inspect.signature(finalize).parameters
    skip_tile = skip is not None and "tile" in inspect.signature(skip).parameters
    predict_tiles = _takes_keyword(predict, "tiles")
    t_start, t_predict, skipped, any_valid = time.perf_counter(), 0.0, 0, False

    with ExitStack() as stack:
        first = Source(specs[names[0]])
        stack.callback(first.close)
        sources = [first]
        for name in names[1:]:
            sources.append(Source(specs[name], grid=first.grid))
            stack.callback(sources[-1].close)
        height, width = first.grid.height, first.grid.width
        grid = TileGrid(height, width, tile, overlap)
        buffers = [RowBuffer(s, width, height) for s in sources]
        # GDAL's block cache, in BYTES (rasterio passes this key to GDALSetCacheMax64 unconverted: the
        # 64 given here before was a 64-byte cache, which made the COG copy on close ~6x slower), while
        # streaming: one row of 512 px input blocks of a 13-band uint16 scene 10980 px wide (150 MB)
        # plus a row of output blocks, so each block is decompressed once. The COG copy on close sizes
        # its own (io.cog.cog_copy_cache).
        stack.enter_context(rasterio.Env(GDAL_CACHEMAX=CACHE_BYTES))
        writers = open_writers(stack, outputs, first.grid, grid)
        bar = stack.enter_context(
            tqdm(total=grid.n_tiles, desc=desc, unit="tile", file=sys.stderr, disable=not progress)
        )
        acc: StripAccumulator | None = None
        written, side = 0, tile + 2 * halo
        weights_cache: dict[tuple[bool, ...], np.ndarray] = {}
        # reading runs one strip ahead, finishing and writing one window behind (see .stages)
        reader = stack.enter_context(Stage[list](desc + "-read", depth=1, threaded=threaded))
        finisher = stack.enter_context(Stage[None](desc + "-write", depth=1, threaded=threaded))
        ends = [min(height, r0 + grid.tile_height + halo) for r0 in grid.row_starts]
        reader.submit(_read_ahead, buffers, ends[0])
        for i, r0 in enumerate(grid.row_starts):
            th = grid.tile_height
            lo, hi = max(0, r0 - halo), ends[i]
            for buf, new in zip(buffers, reader.result(), strict=True):
                buf.append(new)
            if i + 1 < len(ends):
                reader.submit(_read_ahead, buffers, ends[i + 1])
            strip = [b.rows(lo, hi) for b in buffers]
            first_valid = next(r.valid for s, r in zip(sources, strip, strict=True) if s.spec.kind != MASK)
            any_valid = any_valid or bool(first_valid[r0 - lo : r0 - lo + th].any())
            # the strip padded (halo, scenes smaller than a tile) by index, never as a whole: each batch
            # stacks only the columns its tiles cover, straight from the rows read (no full-width float copy)
            pads = (halo - (r0 - lo), halo - (hi - r0 - th) + tile - th, halo, halo + tile - grid.tile_width)
            edge = min(hi - lo, width) < 2
            rows_at, cols_at = pad_index(hi - lo, *pads[:2], edge), pad_index(width, *pads[2:], edge)
            tiles = grid.tile_row(i)
            per_call = math.ceil(len(tiles) / math.ceil(len(tiles) / batch_size))  # even batches, <= batch_size
            for b in range(0, len(tiles), per_call):
                batch = tiles[b : b + per_call]
                c0, c1 = batch[0].col, batch[-1].col + side  # padded columns of the batch
                cols = slice(c0, c1) if cols_at is None else cols_at[c0:c1]
                parts = [cut(r, rows_at, cols) for r in strip]
                x_cols, v_cols, slices = stack_strip(sources, parts, to_reflectance, validity_channels)
                x = np.stack([x_cols[:, :, t.col - c0 : t.col - c0 + side] for t in batch])
                v = np.stack([v_cols[:, t.col - c0 : t.col - c0 + side] for t in batch])
                core = v[:, halo : halo + tile, halo : halo + tile]
                todo = [not (auto_skip and acc is not None and not core[k].any()) for k in range(len(batch))]
                ys: list[np.ndarray | None] = [None] * len(batch)
                if skip is not None and fill is not None:
                    for k in range(len(batch)):
                        xk = view(x[k], slices, names, named, validity_channels)
                        if todo[k] and (skip(xk, v[k], tile=batch[k]) if skip_tile else skip(xk, v[k])):
                            ys[k], todo[k] = np.asarray(fill(xk, v[k]), np.float32), False
                run = [k for k in range(len(batch)) if todo[k]]
                if run:
                    t0 = time.perf_counter()
                    xr, vr = (x, v) if len(run) == len(batch) else (x[run], v[run])  # no copy when all run
                    xv = view(xr, slices, names, named, validity_channels, True)
                    if predict_tiles:
                        y = np.asarray(predict(xv, vr, tiles=[batch[k] for k in run]), np.float32)
                    else:
                        y = np.asarray(predict(xv, vr), np.float32)
                    t_predict += time.perf_counter() - t0
                    if y.ndim != 4 or y.shape[0] != len(run) or y.shape[2:] != (side, side):
                        raise ValueError(f"predict returned {y.shape}, expected ({len(run)}, C, {side}, {side})")
                    for k, yk in zip(run, y, strict=True):
                        ys[k] = yk
                skipped += len(batch) - len(run)
                for t, yt in zip(batch, ys, strict=True):
                    if yt is None:
                        continue
                    yt = yt[:, halo : halo + tile, halo : halo + tile]
                    if acc is None:
                        acc = StripAccumulator(yt.shape[0], grid.tile_height, width)
                    key = (t.top, t.bottom, t.left, t.right)
                    if key not in weights_cache:
                        weights_cache[key] = tile_weights(
                            t.height, t.width, overlap, top=t.top, bottom=t.bottom, left=t.left, right=t.right
                        ).astype(np.float32)
                    acc.add(yt[:, : t.height, : t.width], weights_cache[key], t.row, t.col)
                bar.update(len(batch))
            ready = grid.rows_final_after(i)
            if ready > written:
                if not any_valid and ready == height:
                    raise RasterReadError(
                        f"{first.spec.path}: every pixel is nodata or non-finite; there is nothing to process"
                    )
                assert acc is not None
                window = Window(0, written, width, ready - written)
                rasters = {name: buf.rows(written, ready) for name, buf in zip(names, buffers, strict=True)}
                blended = acc.take(ready - written)
                finisher.submit(write_window, blended, window, rasters, names[0], writers, outputs, finalize,
                                pass_inputs)  # fmt: skip
                blended = rasters = None  # the writer holds them now; freed as soon as it is done
                written = ready
            next_lo = max(0, grid.row_starts[i + 1] - halo) if i + 1 < len(grid.row_starts) else height
            for buf in buffers:
                buf.drop_before(min(next_lo, written))
            del strip, parts, x_cols, v_cols  # not held while the next strip is read
        acc = blended = rasters = None  # freed before the writers close (GDAL's COG copy then needs memory)
    seconds = time.perf_counter() - t_start
    extra = {"skipped_tiles": skipped, "rows_read": {n: b.rows_read for n, b in zip(names, buffers, strict=True)}}
    return SceneSummary([o.path for o in outputs], height, width, grid.n_tiles, seconds, t_predict, extra)


def _read_ahead(buffers: list[RowBuffer], end: int) -> list[Any]:
    """The rows of every input up to ``end`` not read yet (the reader stage's one call)."""
    return [buf.read_ahead(end) for buf in buffers]


def _takes_keyword(fn: Any, name: str) -> bool:
    """True when ``fn`` accepts the keyword ``name`` (callables whose signature cannot be read: False)."""
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
