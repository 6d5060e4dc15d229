import itertools

import numpy as np
import pytest
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio.windows import bounds as window_bounds
from rasterio.windows import from_bounds
from rasterio.windows import transform as window_transform

from cloudfree.data.tiling import TilingError, offsets, sliding_windows


@st.composite
def grids(draw):
    patch = draw(st.integers(1, 40))
    stride = draw(st.integers(max(1, patch // 4), patch))
    height = draw(st.integers(patch, 120))
    width = draw(st.integers(patch, 120))
    return height, width, patch, stride


@settings(max_examples=150, deadline=None)
@given(grids())
def test_windows_exactly_cover_the_image(grid):
    height, width, patch, stride = grid
    windows = sliding_windows(height, width, patch, stride)
    hits = np.zeros((height, width), np.int32)
    for w in windows:
        assert w.width == w.height == patch
        assert w.row_off >= 0 and w.row_off + w.height <= height
        assert w.col_off >= 0 and w.col_off + w.width <= width
        hits[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width] += 1
    assert (hits >= 1).all()
    assert len({(w.row_off, w.col_off) for w in windows}) == len(windows)  # no duplicates
    # the regular part of the grid steps by exactly `stride`
    rows = offsets(height, patch, stride)
    assert rows[0] == 0 and rows[-1] == height - patch
    assert all(b - a == stride for a, b in itertools.pairwise(rows[:-1]))


@settings(max_examples=100, deadline=None)
@given(
    grids(),
    st.floats(-1e6, 1e6),
    st.floats(-1e6, 1e6),
    st.sampled_from([10.0, 20.0, 60.0, 8.983152841195215e-05]),
)
def test_window_transform_round_trip(grid, x0, y0, res):
    height, width, patch, stride = grid
    transform = Affine(res, 0, x0, 0, -res, y0)
    for win in sliding_windows(height, width, patch, stride)[:20]:
        chip = window_transform(win, transform)
        back = from_bounds(*window_bounds(win, transform), transform=transform)
        assert round(back.col_off) == win.col_off and round(back.row_off) == win.row_off
        assert round(back.width) == win.width and round(back.height) == win.height
        # the chip's own transform puts its pixel (0, 0) at the window's origin
        assert chip * (0, 0) == pytest.approx(transform * (win.col_off, win.row_off))


def test_without_cover_the_grid_is_regular_and_may_leave_an_edge():
    windows = sliding_windows(100, 70, 32, 32, cover=False)
    assert {w.col_off for w in windows} == {0, 32} and {w.row_off for w in windows} == {0, 32, 64}
    assert sliding_windows(100, 70, 32, 64, cover=False)[-1].row_off == 64  # sparse sampling is allowed


def test_small_images_and_bad_sizes_are_refused():
    with pytest.raises(TilingError, match="101x100 px into 256 px windows"):
        sliding_windows(101, 100, 256, 256)
    with pytest.raises(TilingError, match="leaves gaps"):
        sliding_windows(100, 100, 16, 32)
    with pytest.raises(TilingError, match="positive"):
        sliding_windows(100, 100, 0, 1)
