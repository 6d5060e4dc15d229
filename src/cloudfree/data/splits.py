"""Spatially disjoint train/val/test splits of the windows of one image.

Neighbouring chips are strongly correlated, so a random per-chip split leaks the training data into
validation. Here the image is cut along its longer axis into contiguous bands ("blocks") whose
edges follow the window grid; the blocks are grouped into one contiguous run per split (run sizes
from the requested fractions, the order of the runs drawn from the seed), and each window takes the
split of the blocks it lies in. A window touching blocks of two different splits is dropped, so no
window of one split overlaps a window of another. The result is deterministic given the seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from rasterio.windows import Window

SPLITS: tuple[str, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class Block:
    """Pixels ``start:stop`` along the split axis, all in ``split``."""

    start: int
    stop: int
    split: str


@dataclass
class SplitResult:
    """Windows per split, the dropped (boundary-straddling) windows, and the block layout."""

    axis: int  # 0: blocks are bands of rows, 1: bands of columns
    blocks: list[Block]
    windows: dict[str, list[Window]] = field(default_factory=dict)
    dropped: list[Window] = field(default_factory=list)

    def split_of_pixel(self, index: int) -> str:
        """The split of pixel row (axis 0) or column (axis 1) ``index``."""
        for block in self.blocks:
            if block.start <= index < block.stop:
                return block.split
        raise IndexError(f"pixel {index} outside the split blocks")


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """Validate (train, val, test) fractions: three non-negative numbers summing to 1."""
    fr = tuple(float(f) for f in fractions)
    if len(fr) != len(SPLITS) or any(f < 0 or math.isnan(f) for f in fr) or abs(sum(fr) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must be three non-negative numbers (train val test) summing to 1, got {fr}")
    return fr  # type: ignore[return-value]


def block_counts(n_blocks: int, fractions: Sequence[float]) -> list[int]:
    """Blocks per split: at least one for every non-zero fraction when there are enough blocks,
    the rest by largest remainder of ``fraction * n_blocks``."""
    fr = check_fractions(fractions)
    wanted = [i for i, f in enumerate(fr) if f > 0]
    counts = [0] * len(fr)
    if n_blocks >= len(wanted):
        for i in wanted:
            counts[i] = 1
    rest = n_blocks - sum(counts)
    if rest > 0:
        ideal = [f * n_blocks - c for f, c in zip(fr, counts, strict=True)]
        base = [max(0, math.floor(v)) for v in ideal]
        while sum(base) > rest:  # the one-per-split minimum took more than the share
            base[int(np.argmax(base))] -= 1
        order = sorted(range(len(fr)), key=lambda i: (-(ideal[i] - base[i]), i))
        for i in order[: rest - sum(base)]:
            base[i] += 1
        counts = [c + b for c, b in zip(counts, base, strict=True)]
    return counts


def _grid_step(windows: Sequence[Window], axis: int) -> tuple[int, int]:
    """(window extent, grid stride) of ``windows`` along ``axis``; the stride is the gap between the
    first two offsets (a covering grid's last window may be shifted back, so not the smallest gap)."""
    offs = sorted({int(w.row_off if axis == 0 else w.col_off) for w in windows})
    extent = max(int(w.height if axis == 0 else w.width) for w in windows)
    stride = offs[1] - offs[0] if len(offs) > 1 else extent
    return extent, stride


def split_windows(
    windows: Sequence[Window],
    height: int,
    width: int,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int | Sequence[int] = 0,
    n_blocks: int = 10,
) -> SplitResult:
    """Assign ``windows`` of a ``height x width`` image to train/val/test without spatial overlap.

    Args:
        windows: the candidate windows (e.g. from :func:`cloudfree.data.tiling.sliding_windows`).
        height, width: image size in pixels.
        fractions: (train, val, test) shares of the image, summing to 1.
        seed: seed of the order of the split runs along the axis.
        n_blocks: target number of blocks (fewer on small images: each block holds at least one window).
    """
    fr = check_fractions(fractions)
    if not windows:
        return SplitResult(axis=0, blocks=[], windows={s: [] for s in SPLITS})
    axis = 0 if height >= width else 1
    length = height if axis == 0 else width
    extent, stride = _grid_step(windows, axis)
    steps_per_block = max(math.ceil(extent / stride), round(length / max(n_blocks, 1) / stride))
    block_len = max(1, steps_per_block) * stride
    n = max(1, length // block_len)  # a short remainder joins the last block
    counts = block_counts(n, fr)
    order = [SPLITS[i] for i in np.random.default_rng(seed).permutation(len(SPLITS)) if counts[i] > 0]
    labels: list[str] = []
    for name in order:
        labels += [name] * counts[SPLITS.index(name)]
    blocks = [Block(i * block_len, length if i == n - 1 else (i + 1) * block_len, labels[i]) for i in range(n)]

    result = SplitResult(axis=axis, blocks=blocks, windows={s: [] for s in SPLITS})
    for win in windows:
        start = int(win.row_off if axis == 0 else win.col_off)
        size = int(win.height if axis == 0 else win.width)
        first, last = min(n - 1, start // block_len), min(n - 1, (start + size - 1) // block_len)
        touched = {labels[b] for b in range(first, last + 1)}
        if len(touched) == 1:
            result.windows[touched.pop()].append(win)
        else:
            result.dropped.append(win)
    return result
