import numpy as np
import pytest
import torch

from cloudfree.normalization import Normalization, NormalizationMismatch


def test_fixed_maps_reflectance_to_minus_one_one_and_back():
    n = Normalization.fixed(["B02", "B03"], max_reflectance=1.0)
    x = np.array([[[0.0, 0.5, 1.0]], [[0.25, 0.75, 2.0]]], np.float32)
    y = n.apply(x)
    np.testing.assert_allclose(y, [[[-1, 0, 1]], [[-0.5, 0.5, 1.0]]])
    np.testing.assert_allclose(n.invert(y)[0], x[0])
    t = n.apply(torch.from_numpy(x)[None])
    assert t.shape == (1, 2, 1, 3)


def test_paired_statistics_keep_brightness_difference(tmp_path):
    rng = np.random.default_rng(0)
    clear = rng.uniform(0.05, 0.2, (2, 16, 16)).astype(np.float32)
    cloudy = clear + 0.5
    n = Normalization.from_data([cloudy, clear], ["B04", "B08"], method="zscore")
    diff = n.apply(cloudy) - n.apply(clear)
    assert float(diff.mean()) > 1.0  # per-image normalisation would have removed it
    n.save(tmp_path / "norm.json")
    assert Normalization.load(tmp_path / "norm.json") == n


def test_percentile_and_valid_mask():
    x = np.arange(100, dtype=np.float32).reshape(1, 10, 10)
    valid = np.zeros((10, 10), bool)
    valid[:5] = True
    n = Normalization.from_data([x], ["B02"], method="percentile", valid=[valid], low=0, high=100)
    assert n.offset == (0.0,) and n.scale == (49.0,)


def test_mismatch_names_both_sides():
    a = Normalization.fixed(["B02", "B03"])
    with pytest.raises(NormalizationMismatch, match=r"expects \['B02', 'B03'\].*has \['B02', 'B04'\]"):
        a.check_matches(Normalization.fixed(["B02", "B04"]))
    with pytest.raises(NormalizationMismatch, match="normalisation differs"):
        a.check_matches(Normalization.fixed(["B02", "B03"], max_reflectance=0.5))
