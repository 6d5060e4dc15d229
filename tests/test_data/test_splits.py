import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudfree.data.splits import SPLITS, block_counts, split_windows
from cloudfree.data.tiling import sliding_windows

fractions = st.sampled_from([(0.8, 0.1, 0.1), (0.6, 0.2, 0.2), (1.0, 0.0, 0.0), (0.5, 0.5, 0.0), (0.34, 0.33, 0.33)])


@settings(max_examples=80, deadline=None)
@given(
    st.integers(8, 48).flatmap(
        lambda patch: st.tuples(
            st.just(patch), st.integers(max(1, patch // 4), patch), st.integers(patch, 200), st.integers(patch, 200)
        )
    ),
    fractions,
    st.integers(0, 2**16),
)
def test_no_window_of_one_split_overlaps_another_split(grid, fr, seed):
    patch, stride, height, width = grid
    windows = sliding_windows(height, width, patch, stride)
    result = split_windows(windows, height, width, fr, seed=seed)
    kept = [w for name in SPLITS for w in result.windows[name]]
    assert len(kept) + len(result.dropped) == len(windows)
    # paint each split's windows: no pixel may be covered by two splits
    owner = np.full((height, width), -1)
    for i, name in enumerate(SPLITS):
        for w in result.windows[name]:
            area = owner[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width]
            assert ((area == -1) | (area == i)).all()
            area[...] = i
    for name, f in zip(SPLITS, fr, strict=True):
        if f == 0:
            assert not result.windows[name]
    # blocks tile the split axis without gaps
    length = height if result.axis == 0 else width
    assert result.blocks[0].start == 0 and result.blocks[-1].stop == length
    assert all(a.stop == b.start for a, b in zip(result.blocks, result.blocks[1:], strict=False))
    # deterministic for a seed
    again = split_windows(windows, height, width, fr, seed=seed)
    assert again.windows == result.windows


def test_fractions_on_a_large_image_and_seed_changes_the_layout():
    windows = sliding_windows(1000, 400, 20, 20)
    result = split_windows(windows, 1000, 400, (0.8, 0.1, 0.1), seed=0)
    assert result.axis == 0 and len(result.blocks) == 10
    counts = {k: len(v) for k, v in result.windows.items()}
    assert counts == {"train": 800, "val": 100, "test": 100} and not result.dropped
    layouts = {tuple(b.split for b in split_windows(windows, 1000, 400, seed=s).blocks) for s in range(6)}
    assert len(layouts) > 1
    # contiguous runs: each split's blocks are adjacent
    splits = [b.split for b in result.blocks]
    for name in SPLITS:
        idx = [i for i, s in enumerate(splits) if s == name]
        assert idx == list(range(idx[0], idx[-1] + 1))


def test_small_images_still_get_every_split_and_bad_fractions_are_refused():
    assert block_counts(3, (0.8, 0.1, 0.1)) == [1, 1, 1]
    assert block_counts(10, (0.8, 0.1, 0.1)) == [8, 1, 1]
    assert block_counts(2, (0.8, 0.1, 0.1)) == [2, 0, 0]
    with pytest.raises(ValueError, match="summing to 1"):
        split_windows(sliding_windows(64, 64, 32), 64, 64, (0.5, 0.1, 0.1))
    with pytest.raises(ValueError, match="summing to 1"):
        split_windows(sliding_windows(64, 64, 32), 64, 64, (0.5, 0.5))
