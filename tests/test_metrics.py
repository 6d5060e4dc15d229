"""Metrics against hand-computed values on small arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cloudfree import metrics


def _pair():
    ref = np.full((2, 16, 16), 0.5, np.float32)
    pred = ref.copy()
    pred[0] = 0.6
    return pred, ref


def test_mae_rmse_psnr_by_hand():
    pred, ref = _pair()
    sel = np.ones((16, 16), bool)
    # errors: 0.1 on band 0, 0 on band 1 -> MSE 0.005 over both bands
    assert metrics.mae(pred, ref, sel) == pytest.approx(0.05, abs=1e-7)
    assert metrics.rmse(pred, ref, sel) == pytest.approx(math.sqrt(0.005), abs=1e-7)
    assert metrics.psnr(pred, ref, sel, data_range=1.0) == pytest.approx(10 * math.log10(1 / 0.005), abs=1e-4)
    assert metrics.psnr(pred[:1], ref[:1], sel) == pytest.approx(20.0, abs=1e-4)
    assert metrics.psnr(pred[1:], ref[1:], sel) == math.inf
    # data_range scales PSNR: range 10000 (DN) adds 20*log10(10000) = 80 dB
    assert metrics.psnr(pred[:1], ref[:1], sel, data_range=10000.0) == pytest.approx(100.0, abs=1e-3)


def test_ssim_of_constant_images_is_the_luminance_term():
    pred, ref = _pair()
    sel = np.ones((16, 16), bool)
    c1 = (0.01 * 1.0) ** 2
    expected = (2 * 0.6 * 0.5 + c1) / (0.6**2 + 0.5**2 + c1)  # variances are 0: contrast terms are 1
    smap = metrics.ssim_map(pred, ref, sel)
    assert smap.shape == (2, 16, 16)
    np.testing.assert_allclose(smap[0], expected, rtol=1e-5)
    np.testing.assert_allclose(smap[1], 1.0, rtol=1e-6)
    assert metrics.ssim(pred, ref, sel) == pytest.approx((expected + 1) / 2, rel=1e-5)


def test_ssim_on_a_subset_averages_the_map_there():
    rng = np.random.default_rng(0)
    ref = rng.uniform(0, 1, (1, 32, 32)).astype(np.float32)
    pred = ref.copy()
    pred[:, :, 16:] += rng.normal(0, 0.2, (1, 32, 16)).astype(np.float32)
    left = np.zeros((32, 32), bool)
    left[:, :8] = True  # far (> 5 px) from the noisy half
    right = np.zeros((32, 32), bool)
    right[:, 16:] = True
    assert metrics.ssim(pred, ref, left) == pytest.approx(1.0, abs=1e-6)
    assert metrics.ssim(pred, ref, right) < 0.9


def test_sam_in_degrees():
    ref = np.ones((2, 4, 4), np.float32)
    pred = np.zeros((2, 4, 4), np.float32)
    pred[0] = 1.0  # (1, 0) against (1, 1): 45 degrees
    sel = np.ones((4, 4), bool)
    assert metrics.sam(pred, ref, sel) == pytest.approx(45.0, abs=1e-4)
    assert metrics.sam(ref * 3, ref, sel) == pytest.approx(0.0, abs=1e-3)  # angle ignores brightness
    pred[:, 0, 0] = 0.0  # an all-zero spectrum is skipped, not counted as 90 degrees
    assert metrics.sam(pred, ref, sel) == pytest.approx(45.0, abs=1e-4)


def test_ndvi_difference_by_hand():
    bands = ("B04", "B08")
    ref = np.stack([np.full((3, 3), 0.1), np.full((3, 3), 0.5)]).astype(np.float32)
    pred = ref.copy()
    pred[1] = 0.4
    sel = np.ones((3, 3), bool)
    np.testing.assert_allclose(metrics.ndvi(ref, bands), 0.4 / 0.6, rtol=1e-6)
    assert metrics.ndvi_difference(pred, ref, bands, sel) == pytest.approx(0.4 / 0.6 - 0.3 / 0.5, abs=1e-6)
    assert math.isnan(metrics.ndvi_difference(pred, ref, ("B02", "B03"), sel))


def test_subsets_and_empty_selection():
    pred, ref = _pair()
    pred[1, :8] = 0.7  # band 1 wrong only in the top half
    top = np.zeros((16, 16), bool)
    top[:8] = True
    m = metrics.subset_metrics(pred, ref, ("B02", "B03"), ~top)
    assert m["mae"] == pytest.approx(0.05, abs=1e-6)
    assert m["per_band"]["B03"]["mae"] == 0.0 and m["per_band"]["B03"]["psnr"] == math.inf
    assert metrics.subset_metrics(pred, ref, ("B02", "B03"), top)["per_band"]["B03"]["mae"] == pytest.approx(0.2)
    empty = metrics.subset_metrics(pred, ref, ("B02", "B03"), np.zeros((16, 16), bool))
    assert all(math.isnan(empty[k]) for k in ("psnr", "ssim", "sam", "mae", "rmse"))
    with pytest.raises(ValueError, match="one shape"):
        metrics.mae(pred, ref[:1], top)
