"""The writing end of the streaming engine (:func:`~cloudfree.inference.streaming.predict_scene`).

* :func:`open_writers`: one :class:`~cloudfree.io.writer.WindowedCOGWriter` per output on the scene's
  grid, entered on the caller's ``ExitStack`` (temporary files removed if the pass fails), with a
  block size that follows the tile stride (:func:`blocksize`) so finished strips fill whole blocks.
* :func:`write_window`: one finished output window: the blended ``(C_out, h, w)`` float32 turned into
  the output arrays by ``finalize`` (or split over the outputs in order), nodata where the first
  input is, written; then the freed pages go back to the system (:mod:`cloudfree.io.memory`). It runs
  on the engine's writer thread (:mod:`.stages`), one window after another, top to bottom.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any

import numpy as np
from rasterio.windows import Window

from cloudfree.inference.grid import TileGrid
from cloudfree.inference.outputs import OutputSpec, masked_output, split_outputs
from cloudfree.io.memory import release_free_memory
from cloudfree.io.warp import Grid
from cloudfree.io.writer import WindowedCOGWriter

FinalizeFn = Callable[..., "np.ndarray | Sequence[np.ndarray]"]


def blocksize(tiles: TileGrid) -> int:
    """Output block size (px): the tile stride when it is a multiple of 16 (strips then fill whole blocks)."""
    stride = tiles.tile - tiles.overlap
    return stride if stride % 16 == 0 and 64 <= stride <= 1024 else 256


def open_writers(
    stack: ExitStack, outputs: Sequence[OutputSpec], grid: Grid, tiles: TileGrid
) -> list[WindowedCOGWriter]:
    """One writer per output on ``grid`` (``height x width`` px, CRS, transform), in ``outputs`` order."""
    return [
        stack.enter_context(
            WindowedCOGWriter(
                o.path,
                height=grid.height,
                width=grid.width,
                crs=grid.crs,
                transform=grid.transform,
                descriptions=o.descriptions,
                dtype=o.dtype,
                nodata=o.nodata_value,
                tags=o.tags,
                blocksize=blocksize(tiles),
            )
        )
        for o in outputs
    ]


def write_window(
    blended: np.ndarray,
    window: Window,
    rasters: dict[str, Any],
    first: str,
    writers: list[WindowedCOGWriter],
    outputs: list[OutputSpec],
    finalize: FinalizeFn | None,
    pass_inputs: bool,
) -> None:
    """Finalize and write one window: ``blended`` ``(C_out, h, w)`` float32 over ``window``.

    ``rasters``: every input over the window by name (``first`` names the one whose invalid pixels
    are nodata in the outputs); ``pass_inputs``: ``finalize`` takes the keyword ``inputs``.
    """
    raster = rasters[first]
    if finalize is not None:
        result = finalize(blended, window, raster, inputs=rasters) if pass_inputs else finalize(blended, window, raster)
        arrays = [result] if isinstance(result, np.ndarray) else list(result)
    else:
        arrays = split_outputs(blended, outputs)
    if len(arrays) != len(outputs):
        raise ValueError(f"finalize returned {len(arrays)} arrays for {len(outputs)} outputs")
    invalid = ~raster.valid
    for arr, out, writer in zip(arrays, outputs, writers, strict=True):
        writer.write(masked_output(arr, out, invalid), window)
    del arrays, blended, rasters, raster
    release_free_memory()  # this window's arrays are freed: give their pages back (see cloudfree.io.memory)
