"""GAN health check (warns on a constructed collapse, stays quiet when healthy), image grids, RNG state."""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest
import torch

from cloudfree.tasks.callbacks import (
    GANHealthCheck,
    GANHealthWarning,
    RNGStateCallback,
    image_grid,
    percentile_stretch,
    preview_rgb,
)


def test_discriminator_collapse_warns_once_after_patience(caplog) -> None:
    check = GANHealthCheck(d_loss_threshold=0.01, patience=3)
    healthy = {"train/loss_d": torch.tensor(0.6), "train/fake_var_ratio": torch.tensor(0.9)}
    collapsed = {"train/loss_d": torch.tensor(1e-4), "train/fake_var_ratio": torch.tensor(0.9)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing while healthy or within patience
        for step in range(5):
            check.check(healthy, step)
        check.check(collapsed, 5)
        check.check(collapsed, 6)
        check.check(healthy, 7)  # recovery resets the count
        check.check(collapsed, 8)
        check.check(collapsed, 9)
    with pytest.warns(GANHealthWarning, match="discriminator loss 0.0001 < 0.01 for 3 checks"):
        check.check(collapsed, 10)
    assert "discriminator loss" in caplog.text
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check.check(collapsed, 11)  # warned once for this episode


def test_flat_generator_output_warns() -> None:
    check = GANHealthCheck(variance_fraction=0.05, patience=2)
    flat = {"train/loss_d": 0.5, "train/fake_var_ratio": 0.001}
    check.check(flat, 0)
    with pytest.warns(GANHealthWarning, match="variance is 0.001 of the target's"):
        check.check(flat, 1)


def test_health_check_reads_a_real_collapse_from_a_task() -> None:
    """A generator that outputs a constant has a variance ratio of 0 -> warning."""
    from cloudfree.tasks.pix2pix import GANTaskMixin

    fake = torch.zeros(2, 3, 8, 8) + 0.3
    real = torch.rand(2, 3, 8, 8)
    ratio = GANTaskMixin.variance_ratio(fake, real)
    assert ratio.item() == pytest.approx(0.0)
    check = GANHealthCheck(patience=1)
    with pytest.warns(GANHealthWarning):
        check.check({"train/fake_var_ratio": ratio}, 0)


def test_preview_and_grid() -> None:
    x = torch.rand(2, 4, 16, 16)
    rgb = preview_rgb(x, ("B02", "B03", "B04", "B08"))
    assert torch.equal(rgb, x[:, [2, 1, 0]])  # B04, B03, B02
    assert torch.equal(preview_rgb(x, ("B08", "B11", "B05", "B02")), x[:, [0, 1, 2]])
    assert preview_rgb(x[:, :1], ("B08",)).shape == (2, 3, 16, 16)
    stretched = percentile_stretch(rgb * 0.1 + 0.05)
    assert stretched.min() == 0 and stretched.max() == 1
    grid = image_grid([stretched, stretched, stretched], padding=2)
    assert grid.shape == (3, 2 * 16 + 3 * 2, 3 * 16 + 4 * 2)


def test_rng_state_roundtrip() -> None:
    cb = RNGStateCallback()
    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    state = cb.state_dict()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(9), np.random.seed(9), random.seed(9)
    cb.load_state_dict(state)
    cb.on_train_start(None, None)  # type: ignore[arg-type]
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(got[0], expected[0]) and np.array_equal(got[1], expected[1]) and got[2] == expected[2]
