"""Compositing: feather ramp, exact clear pixels in DN and reflectance, mask codes."""

from __future__ import annotations

import numpy as np
import pytest

from cloudfree.inference.composite import cloud_of, composite, feather_weights
from cloudfree.radiometry import Radiometry
from tests.fixtures import make_raster


def test_cloud_codes():
    np.testing.assert_array_equal(cloud_of(np.array([0, 1, 2, 3, 255])), [False, True, True, True, False])


def test_feather_ramp():
    cloud = np.zeros((1, 12), bool)
    cloud[0, 5] = True
    w = feather_weights(cloud, 3)[0]
    np.testing.assert_allclose(w[2:9], [0.25, 0.5, 0.75, 1.0, 0.75, 0.5, 0.25])
    assert (w[:2] == 0).all() and (w[9:] == 0).all()
    np.testing.assert_array_equal(feather_weights(cloud, 0), cloud.astype(np.float32))
    assert not feather_weights(np.zeros((4, 4), bool), 3).any()


def test_composite_keeps_clear_dn_exactly_and_blends_the_edge():
    r = make_raster(6, 8, bands=("B04", "B08"), radiometry=Radiometry.DN, seed=3)
    r.dn_offset = np.array([-1000.0, -1000.0], np.float32)
    estimate = np.full((2, 6, 8), 0.5, np.float32)
    weight = np.zeros((6, 8), np.float32)
    weight[2, 3], weight[2, 4] = 1.0, 0.5
    out = composite(r, estimate, weight, "uint16")
    keep = weight == 0
    np.testing.assert_array_equal(out[:, keep], r.data[:, keep])
    assert (out[:, 2, 3] == 0.5 * 10000 + 1000).all()  # DN = refl * 10000 - offset
    refl = r.to_reflectance().data[:, 2, 4]
    np.testing.assert_allclose(out[:, 2, 4], np.rint((0.5 * 0.5 + 0.5 * refl) * 10000 + 1000), atol=1)
    f = composite(r, estimate, weight, "float32")
    np.testing.assert_array_equal(f[:, keep], r.to_reflectance().data[:, keep])
    every = composite(r, estimate, None, "float32")
    assert (every == 0.5).all()
    with pytest.raises(ValueError, match="does not match"):
        composite(r, estimate[:1], weight, "uint16")


def _dense_composite(original, estimate, weight, dtype, off):
    """The composite's arithmetic on whole windows (the reference the per-band and sparse paths must match)."""
    from cloudfree.radiometry import reflectance_to_dn

    refl = original.to_reflectance().data
    w = weight.astype(np.float32)[None]
    blend = w * estimate + (1.0 - w) * refl
    replaced = (weight > 0)[None]
    if dtype == "float32":
        return np.where(replaced, blend, refl).astype(np.float32)
    new = reflectance_to_dn(blend, off, dtype=np.dtype(dtype).type)
    exact = np.array_equal(off, original.dn_offset)
    kept = original.data.astype(dtype) if exact else reflectance_to_dn(refl, off, dtype=np.dtype(dtype).type)
    return np.where(replaced, new, kept)


@pytest.mark.parametrize("fraction", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("dtype, own_offset", [("uint16", True), ("uint16", False), ("float32", True)])
def test_composite_is_bit_identical_to_the_whole_window_arithmetic(fraction, dtype, own_offset):
    rng = np.random.default_rng(4)
    r = make_raster(40, 50, radiometry=Radiometry.DN, seed=9)
    r.dn_offset = np.array([-1000.0, -1000.0, 0.0, -500.0], np.float32)
    r.valid[:5, :7] = False
    r.data[:, :5, :7] = 0
    estimate = rng.uniform(-0.1, 1.2, (4, 40, 50)).astype(np.float32)
    weight = (
        feather_weights(rng.random((40, 50)) < fraction * 0.2, 3) if fraction < 1 else np.ones((40, 50), np.float32)
    )
    off = r.dn_offset if own_offset else np.zeros(4, np.float32)
    out = composite(r, estimate, weight, dtype, off)
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out, _dense_composite(r, estimate, weight, dtype, off))
