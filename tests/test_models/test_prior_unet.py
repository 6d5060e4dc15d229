"""PriorResidualUNet: the push-pull prior, the residual design, no checkerboard-prone layers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cloudfree.models import build_model
from cloudfree.models.prior_unet import PriorResidualUNet, push_pull_fill


def test_push_pull_keeps_known_pixels_and_fills_smoothly():
    torch.manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 37), torch.linspace(0, 1, 53), indexing="ij")
    x = torch.stack([0.2 + 0.5 * xx, 0.1 + 0.3 * yy])[None]  # two linear ramps
    known = (torch.rand(1, 1, 37, 53) > 0.6).float()
    known[..., 10:30, 15:45] = 0.0  # a large hole
    out = push_pull_fill(x, known)
    assert torch.allclose(out * known, x * known, atol=1e-6)
    hole = known[0, 0] == 0
    err = (out - x).abs()[0][:, hole]
    assert float(err.mean()) < 0.05  # a smooth fill of a ramp stays close to the ramp
    assert torch.isfinite(out).all()


def test_push_pull_with_nothing_known_is_finite():
    out = push_pull_fill(torch.rand(1, 3, 16, 16), torch.zeros(1, 1, 16, 16))
    assert torch.isfinite(out).all()


def test_untrained_model_is_the_classical_prior_and_keeps_clear_pixels():
    net = build_model("PriorResidualUNet", {"in_channels": 5, "out_channels": 4, "ngf": 8, "depth": 3})
    x = torch.rand(2, 5, 64, 64) * 2 - 1
    x[:, 4] = (torch.rand(2, 64, 64) > 0.5).float()
    with torch.no_grad():
        out = net(x)
    known = 1 - x[:, 4:5]
    expected = push_pull_fill(x[:, :4], known)
    assert torch.allclose(out, expected.clamp(-1, 1), atol=1e-5)
    assert torch.allclose(out * known, x[:, :4] * known, atol=1e-6)


def test_no_transposed_convolutions_or_normalisation_layers():
    net = PriorResidualUNet(14, 13, ngf=8, depth=3)
    kinds = {type(m) for m in net.modules()}
    assert not kinds & {nn.ConvTranspose2d, nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm}
    assert net.multiple == 8
    with pytest.raises(ValueError, match="multiples of 8"):
        net(torch.zeros(1, 14, 60, 64))
    with pytest.raises(ValueError, match="14 input channels"):
        net(torch.zeros(1, 5, 64, 64))


def test_thin_cloud_signal_reaches_the_output_after_training_a_few_steps():
    """The raw input under the mask is a channel: a residual over the prior can use it (thin cloud)."""
    torch.manual_seed(1)
    net = PriorResidualUNet(2, 1, ngf=4, depth=2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        clear = torch.rand(8, 1, 32, 32) * 2 - 1
        mask = (torch.rand(8, 1, 32, 32) > 0.5).float()
        cloudy = torch.where(mask > 0, 0.5 * clear + 0.4, clear)  # thin cloud: attenuated ground + haze
        out = net(torch.cat([cloudy, mask], 1))
        loss = ((out - clear).abs() * mask).sum() / mask.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:5])
