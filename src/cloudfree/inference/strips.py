"""Rolling row buffers: every input row is read ONCE, kept while a tile row or an output window needs it.

The engine walks the scene by tile rows (strips). Consecutive strips overlap (tile overlap, plus a
halo above and below), and the output windows that ``finalize`` receives lag behind the strips.
A :class:`RowBuffer` per input holds the rows ``[start, end)`` read so far as a
:class:`~cloudfree.raster.Raster` in the input's own units; :meth:`RowBuffer.extend` reads only the
rows not yet held (split into :meth:`RowBuffer.read_ahead`, which a reader thread runs, and
:meth:`RowBuffer.append`), :meth:`RowBuffer.rows` cuts any held row range (for tiles and for ``finalize``),
and :meth:`RowBuffer.drop_before` forgets rows no later step needs (freed by the next append).
Memory stays bounded by about one strip (tile + 2 x halo + overlap rows) of the scene's width per
input.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from rasterio.windows import Window
from rasterio.windows import transform as window_transform

from cloudfree.inference.sources import Source
from cloudfree.raster import Raster


class RowBuffer:
    """Rows ``[start, end)`` of one input on the output grid (full width)."""

    def __init__(self, source: Source, width: int, height: int) -> None:
        self.source, self.width, self.height = source, width, height
        self.start = self.end = 0  # rows held
        self._skip = 0  # leading rows of ``_raster`` dropped but not yet cut away (see ``drop_before``)
        self.fetched = 0  # rows read from the source (ahead of ``end`` while a read is in flight)
        self._raster: Raster | None = None
        self.rows_read = 0  # every row read once: equals the scene height at the end of a pass

    def extend(self, end: int) -> None:
        """Read rows ``[self.end, end)`` (clipped to the scene) and append them."""
        self.append(self.read_ahead(end))

    def read_ahead(self, end: int) -> Raster | None:
        """Read the rows after those read so far up to ``end`` (clipped), without holding them yet.

        The only method that touches the source: the engine calls it from its reader stage (one
        thread) and hands the result to :meth:`append` in order. None when there is nothing new.
        """
        end = min(end, self.height)
        if end <= self.fetched:
            return None
        new = self.source.read(Window(0, self.fetched, self.width, end - self.fetched))
        self.fetched = end
        return new

    def append(self, new: Raster | None) -> None:
        """Hold the rows returned by the next :meth:`read_ahead` (None: nothing new)."""
        if new is None:
            return
        rows = new.data.shape[1]
        self.rows_read += rows
        if self._raster is None or self.start == self.end:
            self._raster, self.start = new, self.end
        else:  # one new array: the rows still held, then the new ones (the dropped rows go with the old)
            old, k = self._raster, self._skip
            self._raster = replace(
                old,
                data=np.concatenate([old.data[:, k:], new.data], axis=1),
                valid=np.concatenate([old.valid[k:], new.valid], axis=0),
            )
        self._skip = 0
        self.end += rows

    def rows(self, first: int, last: int) -> Raster:
        """Rows ``[first, last)`` (held) as a Raster with its own transform."""
        if first < self.start or last > self.end or self._raster is None:
            raise RuntimeError(f"rows {first}..{last} not held (buffer {self.start}..{self.end})")
        a, b = first - self.start + self._skip, last - self.start + self._skip
        r = self._raster
        return replace(
            r,
            data=r.data[:, a:b],
            valid=r.valid[a:b],
            transform=window_transform(Window(0, first, self.width, last - first), self.source.grid.transform),
        )

    def drop_before(self, row: int) -> None:
        """Forget rows before ``row``. Their memory goes with the next :meth:`append`, which builds one
        array of the rows still held and the new ones: one copy of the held rows per strip, not two."""
        if self._raster is None or row <= self.start:
            return
        cut = min(row, self.end) - self.start
        self._skip += cut
        self.start += cut


def pad(data: np.ndarray, top: int, bottom: int, left: int, right: int) -> np.ndarray:
    """Pad the last two axes by reflection (repeated for pads wider than the data, as numpy does), or
    by repeating the edge for an axis of one pixel. Edge repetition over a wide pad makes streaks
    that networks read as structure (ukis-csmask calls them shadow), so it is kept for that case."""
    if not (top or bottom or left or right):
        return data
    widths = [(0, 0)] * (data.ndim - 2) + [(top, bottom), (left, right)]
    h, w = data.shape[-2:]
    return np.pad(data, widths, mode="edge" if min(h, w) < 2 else "reflect")


def pad_index(n: int, before: int, after: int, edge: bool) -> np.ndarray | None:
    """Source positions ``(before + n + after,)`` of an axis of ``n`` pixels padded as :func:`pad` does
    (``edge``: repeat the end pixels; else reflect, repeated for pads wider than the axis, exactly
    numpy's ``mode="reflect"``), or None when nothing is padded. ``data[..., pad_index(...)]`` then
    equals ``pad(data, ...)`` along that axis, for any part of the padded axis, without padding the rest."""
    if not (before or after):
        return None
    i = np.arange(-before, n + after)
    if edge or n == 1:
        return np.clip(i, 0, n - 1)
    period = 2 * (n - 1)
    i = np.mod(i, period)
    return np.where(i >= n, period - i, i)


def cut(raster: Raster, rows: np.ndarray | None, cols: slice | np.ndarray) -> Raster:
    """``raster``'s data and validity at padded ``rows`` (None: all, unpadded) and ``cols`` (a slice
    of the unpadded columns: views, no copy; positions from :func:`pad_index`: a copy). The transform
    is left as it is: the result feeds channel stacking only."""
    data = raster.data if rows is None else raster.data[:, rows]
    valid = raster.valid if rows is None else raster.valid[rows]
    return replace(raster, data=data[:, :, cols], valid=valid[:, cols])
