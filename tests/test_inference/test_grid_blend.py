"""Tile grid and blend weights: coverage, snapping, padding, weight shape."""

from __future__ import annotations

import numpy as np
import pytest

from cloudfree.inference.blend import StripAccumulator, ramp, tile_weights
from cloudfree.inference.grid import TileGrid, axis_starts, pad_to_tile
from cloudfree.inference.strips import pad, pad_index


def test_axis_starts_snap_last_tile_to_the_edge():
    assert axis_starts(150, 64, 16) == [0, 48, 86]
    assert axis_starts(64, 64, 16) == [0]
    assert axis_starts(17, 64, 16) == [0]
    assert axis_starts(10980, 256, 32)[-1] == 10980 - 256
    with pytest.raises(ValueError):
        axis_starts(0, 64, 16)


@pytest.mark.parametrize(("h", "w", "tile", "overlap"), [(17, 23, 64, 16), (150, 97, 64, 16), (300, 257, 64, 0)])
def test_grid_covers_every_pixel_and_tiles_stay_inside(h, w, tile, overlap):
    grid = TileGrid(h, w, tile, overlap)
    cover = np.zeros((h, w), int)
    for t in grid:
        assert t.row + t.height <= h and t.col + t.width <= w
        cover[t.row : t.row + t.height, t.col : t.col + t.width] += 1
    assert cover.min() >= 1
    assert grid.n_tiles == len(list(grid))
    assert grid.rows_final_after(len(grid.row_starts) - 1) == h


def test_grid_rejects_bad_overlap():
    with pytest.raises(ValueError, match="overlap"):
        TileGrid(100, 100, 64, 64)
    with pytest.raises(ValueError, match="tile size"):
        TileGrid(100, 100, 0, 0)


def test_pad_to_tile_reflects_and_keeps_original_top_left():
    data = np.arange(2 * 3 * 5, dtype=np.float32).reshape(2, 3, 5)
    padded = pad_to_tile(data, 8)
    assert padded.shape == (2, 8, 8)
    np.testing.assert_array_equal(padded[:, :3, :5], data)
    np.testing.assert_array_equal(padded[:, 3, :5], data[:, 1])  # reflect about the last row
    one = pad_to_tile(np.ones((1, 4), bool), 8)
    assert one.shape == (8, 8) and one.all()


def test_ramp_is_positive_smooth_and_symmetric():
    r = ramp(64, 16)
    assert r.min() > 0 and r.max() == 1.0
    np.testing.assert_allclose(r, r[::-1])
    assert np.all(np.diff(r[:16]) > 0)
    assert np.all(r[16:48] == 1.0)
    border = ramp(64, 16, rise=False)
    assert np.all(border[:48] == 1.0)
    w = tile_weights(64, 32, 8, top=True, left=True)
    assert w.shape == (64, 32) and w[0, 0] == 1.0 and w[-1, -1] < 0.01


def test_strip_accumulator_normalises_and_slides():
    acc = StripAccumulator(channels=2, capacity=6, width=5)
    a = np.full((2, 4, 5), 3.0, np.float32)
    acc.add(a, np.full((4, 5), 0.25), 0, 0)
    acc.add(a + 1, np.full((4, 5), 0.75), 2, 0)
    out = acc.take(2)
    np.testing.assert_array_equal(out, np.full((2, 2, 5), 3.0, np.float32))
    out = acc.take(2)  # rows 2..3: (0.25*3 + 0.75*4) / 1
    np.testing.assert_allclose(out, 3.75)
    assert acc.top == 4
    with pytest.raises(ValueError, match="does not fit"):
        acc.add(a, np.ones((4, 5)), 0, 0)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 40])
@pytest.mark.parametrize(("before", "after"), [(0, 0), (0, 5), (3, 0), (9, 31), (60, 2)])
def test_pad_index_gathers_exactly_what_pad_writes(n, before, after):
    """The engine pads each batch's columns by index; that must equal padding the whole strip."""
    data = np.random.default_rng(n).random((2, 3, n), np.float32)
    edge = min(data.shape[-2:]) < 2
    expected = pad(data, 0, 0, before, after)
    idx = pad_index(n, before, after, edge)
    if idx is None:
        assert before == after == 0
        return
    np.testing.assert_array_equal(data[..., idx], expected)
    np.testing.assert_array_equal(data[..., idx[5:9]], expected[..., 5:9])  # any part of the padded axis
