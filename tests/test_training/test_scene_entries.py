"""Synthetic-cloud training scenes given as windows or with a cloud mask excluded."""

import numpy as np
import pytest

from cloudfree.io import read_mask
from cloudfree.training.data_config import _scene


def test_window_entry_trains_on_that_window_only(shared_data):
    path = str(shared_data / "slovenia_timeseries_l1c" / "S2_L1C_2015-07-11.tif")
    full = _scene(path)
    top = _scene({"path": path, "window": [0, 0, 56, 100]})
    assert top.shape == (13, 56, 100)
    np.testing.assert_array_equal(top.data, full.data[:, :56])
    assert top.transform == full.transform  # the window starts at the origin
    bottom = _scene({"path": path, "window": [56, 0, 45, 100]})
    assert bottom.transform.f == pytest.approx(full.transform.f + 56 * full.transform.e)


def test_exclude_mask_marks_cloud_and_buffer_as_nodata(shared_data):
    folder = shared_data / "madagascar_cloudy_l1c"
    raster = _scene(
        {
            "path": str(folder / "S2_L1C_cloudy.tif"),
            "exclude_mask": str(folder / "s2cloudless_mask.tif"),
            "exclude_buffer": 3,
        }
    )
    cloud = read_mask(folder / "s2cloudless_mask.tif") > 0
    assert not raster.valid[cloud].any()
    assert raster.valid.sum() < (~cloud).sum()  # the buffer removes more than the mask itself
    assert raster.valid.mean() > 0.2


def test_bad_entry_is_named():
    with pytest.raises(ValueError, match="needs 'path'"):
        _scene({"file": "x.tif"})
