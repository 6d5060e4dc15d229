"""Smooth blend weights for overlapping tile predictions, and the strip accumulator that uses them.

A tile's weight is separable, ``w(y, x) = r(y) * r(x)``, where ``r`` is 1 in the tile's interior
and rises as a raised cosine (Hann half-window) across the first and last ``overlap`` pixels on
every side that has a neighbouring tile. Sides on the image border keep weight 1, so border pixels
are not divided by a tiny weight. ``r`` never reaches 0 (the cosine is sampled at pixel centres),
so every image pixel has a positive total weight.

Blended output = ``sum(w * prediction) / sum(w)`` per pixel, kept as a running weighted mean in
float32 (West's update: ``mean += w / W * (prediction - mean)`` with ``W`` the weight so far): the
first tile sets a pixel exactly (``w / w == 1``), and every later tile that predicts the same value
adds exactly 0, so a tiled identity model reproduces its input bit for bit, with 4 bytes per channel
and pixel instead of the 8 of float64 sums (146 MB less for a 13-band strip of a full scene).

:class:`StripAccumulator` holds those means for a band of image rows only (about one tile row plus
one output block), so memory does not grow with the scene's height.
"""

from __future__ import annotations

import numpy as np


def ramp(length: int, overlap: int, rise: bool = True, fall: bool = True) -> np.ndarray:
    """1-D weights ``(length,)``: raised-cosine rise over the first ``overlap`` pixels, fall over the last.

    Values lie in ``(0, 1]``; ``rise``/``fall`` False keep the corresponding end at 1.
    """
    w = np.ones(length, dtype=np.float64)
    n = min(overlap, length // 2)
    if n > 0:
        edge = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)
        if rise:
            w[:n] = edge
        if fall:
            w[length - n :] = edge[::-1]
    return w


def tile_weights(
    height: int,
    width: int,
    overlap: int,
    *,
    top: bool = False,
    bottom: bool = False,
    left: bool = False,
    right: bool = False,
) -> np.ndarray:
    """Weights ``(height, width)`` float64 of one tile; ``top`` etc. True where the tile is on the image border."""
    return np.outer(ramp(height, overlap, not top, not bottom), ramp(width, overlap, not left, not right))


class StripAccumulator:
    """Weighted means of tile predictions over a band of image rows ``[top, top + capacity)``.

    Args:
        channels: prediction channels ``C``.
        capacity: rows held at once.
        width: image width in pixels.

    ``add`` puts a ``(C, h, w)`` prediction with ``(h, w)`` positive weights at absolute image
    position ``(row, col)``; ``take(n)`` returns the blended ``(C, n, width)`` float32 of the ``n`` top
    rows (0 where no tile landed) and slides the band down by ``n`` rows.
    """

    def __init__(self, channels: int, capacity: int, width: int) -> None:
        self.channels, self.capacity, self.width = channels, capacity, width
        self.top = 0
        self.means = np.zeros((channels, capacity, width), dtype=np.float32)
        self.weights = np.zeros((capacity, width), dtype=np.float32)
        self._scratch = np.empty((channels, 0, 0), dtype=np.float32)  # one tile's update

    def add(self, prediction: np.ndarray, weights: np.ndarray, row: int, col: int) -> None:
        """Blend ``prediction`` ``(C, h, w)`` with ``weights`` ``(h, w)`` (> 0) in at image ``(row, col)``."""
        c, h, w = prediction.shape
        r0 = row - self.top
        if c != self.channels or r0 < 0 or r0 + h > self.capacity or col < 0 or col + w > self.width:
            raise ValueError(
                f"tile {prediction.shape} at ({row}, {col}) does not fit the accumulator of "
                f"{self.channels} channels, rows {self.top}..{self.top + self.capacity}, width {self.width}"
            )
        if self._scratch.shape[1] < h or self._scratch.shape[2] < w:
            self._scratch = np.empty((c, h, w), np.float32)
        weights = np.asarray(weights, np.float32)  # float32 throughout, so that w / w is exactly 1
        total = self.weights[r0 : r0 + h, col : col + w]
        np.add(total, weights, out=total)
        share = weights / total  # w / W: 1 exactly for the first tile
        means = self.means[:, r0 : r0 + h, col : col + w]
        step = np.subtract(prediction, means, out=self._scratch[:, :h, :w])  # no fresh temporary per tile
        np.multiply(step, share, out=step)
        np.add(means, step, out=means)

    def take(self, n: int) -> np.ndarray:
        """Blended float32 ``(C, n, width)`` of rows ``[top, top + n)``; the band then starts at ``top + n``."""
        if not 0 <= n <= self.capacity:
            raise ValueError(f"cannot take {n} rows from an accumulator of {self.capacity}")
        out = self.means[:, :n].copy()
        keep = self.capacity - n
        for c in range(self.channels):  # slide one channel at a time
            self.means[c, :keep] = self.means[c, n:]
            self.means[c, keep:] = 0.0
        self.weights[:keep] = self.weights[n:]
        self.weights[keep:] = 0.0
        self.top += n
        return out
