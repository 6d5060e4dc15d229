"""The classical peers fill cloud from clear pixels only: nodata is neither a source nor a target."""

from __future__ import annotations

import numpy as np
import pytest

from cloudfree.evaluation.baselines import biharmonic_fill, pushpull_fill


@pytest.mark.parametrize("fill", [biharmonic_fill, pushpull_fill])
def test_nodata_values_do_not_leak_into_the_fill(fill):
    data = np.full((2, 24, 24), 0.2, np.float32)
    codes = np.zeros((24, 24), np.uint8)
    codes[8:16, 8:16] = 1  # cloud to fill
    codes[8:16, 16:20] = 255  # nodata beside it, holding a bright (cloud-like) value
    data[:, 8:16, 16:20] = 0.9
    out = fill(data, codes)
    assert np.allclose(out[:, 8:16, 8:16], 0.2, atol=1e-4)
    assert np.array_equal(out[:, codes == 0], data[:, codes == 0])
