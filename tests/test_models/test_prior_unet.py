"""PriorResidualUNet: the push-pull prior, the residual design, no checkerboard-prone layers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cloudfree.models import build_model
from cloudfree.models.prior_unet import PriorResidualUNet
from cloudfree.models.push_pull import push_pull_fill

RGBN = ("B02", "B03", "B04", "B08")


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


def _trained_a_little(net: PriorResidualUNet) -> PriorResidualUNet:
    """Non-zero last layers, so that the residual depends on the network's inputs."""
    torch.manual_seed(3)
    with torch.no_grad():
        for last in (net.head, net.pixel[-1]):
            last.weight.normal_(0, 0.3)
    return net


def test_opacity_encoding_reads_thin_cloud_and_takes_the_background_under_thick_cloud():
    net = _trained_a_little(PriorResidualUNet(5, 4, ngf=4, depth=2, mask_encoding="opacity"))
    x = torch.rand(1, 5, 32, 32) * 2 - 1
    channel = torch.zeros(32, 32)
    channel[4:14, 4:14] = 1.0  # thick cloud: the input there is the background
    channel[18:28, 18:28] = 0.5  # thin cloud or shadow
    x[:, 4] = channel
    with torch.no_grad():
        base = net(x)
        changed = x.clone()
        changed[:, :4, 18:28, 18:28] += 0.1  # more haze under the thin part: the output follows
        assert not torch.allclose(net(changed)[:, :, 18:28, 18:28], base[:, :, 18:28, 18:28])
    clear = channel == 0
    assert torch.allclose(base[..., clear], x[:, :4][..., clear].clamp(-1, 1), atol=1e-6)


def test_background_prior():
    from cloudfree.models.push_pull import background_prior

    torch.manual_seed(0)
    x = torch.rand(1, 2, 32, 32)
    clear = (torch.rand(1, 1, 32, 32) > 0.5).float()
    # a zero background: the plain push-pull fill of the clear pixels
    assert torch.allclose(background_prior(x, clear, torch.zeros_like(x)), push_pull_fill(x, clear), atol=1e-6)
    # no clear pixel: the background
    background = torch.rand(1, 2, 32, 32)
    assert torch.allclose(background_prior(x, torch.zeros_like(clear), background), background, atol=1e-6)
    # the truth as background comes back exactly; clear pixels are kept
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    truth = torch.stack([0.1 + 0.3 * xx, 0.2 + 0.2 * yy])[None]
    cloud = torch.zeros(1, 1, 32, 32)
    cloud[..., 8:28, 6:30] = 1.0
    assert torch.allclose(background_prior(truth * (1 - cloud), 1.0 - cloud, truth), truth, atol=1e-6)
    # a background off by a constant: the clear pixels' departure corrects it
    prior = background_prior(truth * (1 - cloud), 1.0 - cloud, truth + 0.2)
    assert float((prior - truth).abs().max()) < 1e-5


def test_a_tile_wholly_under_thick_cloud_takes_the_background():
    net = PriorResidualUNet(5, 4, ngf=4, depth=2, mask_encoding="opacity")  # untrained: output = prior
    background = torch.linspace(-0.6, 0.4, 32)[None, None, None].expand(1, 4, 32, 32)
    x = torch.cat([background, torch.ones(1, 1, 32, 32)], 1)  # every pixel thick cloud
    with torch.no_grad():
        assert torch.allclose(net(x), background, atol=1e-5)


def test_binary_encoding_reads_the_raw_input_under_every_masked_pixel():
    net = _trained_a_little(PriorResidualUNet(5, 4, ngf=4, depth=2))
    x = torch.rand(1, 5, 32, 32) * 2 - 1
    x[:, 4] = 0.0
    x[:, 4, 4:14, 4:14] = 1.0
    changed = x.clone()
    changed[:, :4, 4:14, 4:14] = 0.95
    with torch.no_grad():
        assert not torch.allclose(net(x), net(changed))
    with pytest.raises(ValueError, match="mask_encoding"):
        PriorResidualUNet(5, 4, mask_encoding="codes")


def test_mask_channel_encodings():
    from cloudfree.masks import mask_channel

    codes = np.array([[0, 1, 2, 3, 255]], np.uint8)
    assert mask_channel(codes).tolist() == [[0, 1, 1, 1, 0]]
    assert mask_channel(codes, "opacity").tolist() == [[0, 1, 0.5, 0.5, 0]]
    with pytest.raises(ValueError, match="encoding"):
        mask_channel(codes, "codes")


def _opacity_task():
    from cloudfree.tasks.pix2pix import Pix2PixTask

    generator = {"ngf": 4, "depth": 2, "mask_encoding": "opacity"}
    return Pix2PixTask(in_bands="rgbn", use_mask=True, patch_size=16, lambda_gan=0.0,
                       architecture="PriorResidualUNet", generator=generator)  # fmt: skip


def test_task_and_runner_encode_the_mask_alike():
    """Training (labels in the batch) and inference (codes in the mask file) give the same channel."""
    from cloudfree.masks import mask_channel

    task = _opacity_task()
    codes = np.random.default_rng(0).integers(0, 4, (2, 16, 16))
    batch = {"cloudy": torch.rand(2, 4, 16, 16), "mask": torch.from_numpy((codes > 0)[:, None].astype(np.float32)),
             "labels": torch.from_numpy(codes)}  # fmt: skip
    channel = task.build_input(batch)[:, 4:5].numpy()
    assert np.array_equal(channel, mask_channel(codes[:, None], "opacity"))
    assert task.release_config("t").arguments["mask_encoding"] == "opacity"


def test_inference_runner_feeds_the_release_encoding():
    """The engine's model input for an ``opacity`` release: 1 thick, 0.5 thin/shadow, 0 clear."""
    from cloudfree.inference.runner import ChannelLayout, ModelRunner

    task = _opacity_task()
    layout = ChannelLayout()
    layout.add("primary", 4)
    layout.add("mask", 1)
    runner = ModelRunner(task.generator, task.release_config("t"), layout, device="cpu")
    x = np.zeros((1, 5, 16, 16), np.float32)
    x[0, 4] = np.random.default_rng(1).integers(0, 4, (16, 16))
    channel = runner.assemble(x, np.ones((1, 16, 16), bool))[:, 4]
    assert np.array_equal(channel, np.select([x[:, 4] == 1, x[:, 4] >= 2], [1.0, 0.5], 0.0))


def test_cloud_values_under_thick_cloud_never_reach_the_network():
    """Training (the task) and inference (the runner) both replace them by a clear-sky background."""
    from cloudfree.inference.runner import ChannelLayout, ModelRunner

    task = _opacity_task()
    codes = np.zeros((1, 16, 16), np.int64)
    codes[:, 4:12, 4:12] = 1
    cloudy = torch.full((1, 4, 16, 16), 0.2)
    cloudy[:, :, 4:12, 4:12] = 0.95  # the cloud
    batch = {"cloudy": cloudy, "mask": torch.from_numpy((codes > 0)[:, None].astype(np.float32)),
             "labels": torch.from_numpy(codes)}  # fmt: skip
    optical = task.build_input(batch)[:, :4]
    assert torch.allclose(optical, torch.full_like(optical, 0.2 * 2 - 1), atol=1e-5)  # filled from the clear ring
    layout = ChannelLayout()
    layout.add("primary", 4)
    layout.add("mask", 1)
    runner = ModelRunner(task.generator, task.release_config("t"), layout, device="cpu")
    x = np.concatenate([cloudy.numpy(), codes[:, None].astype(np.float32)], 1)
    got = runner.assemble(x, np.ones((1, 16, 16), bool))[:, :4]
    assert np.allclose(got, 0.2 * 2 - 1, atol=1e-5)  # no background input: the tile's own fill
    from cloudfree.inference.background import SceneBackground
    from cloudfree.inference.grid import Tile

    background = SceneBackground(np.full((4, 4, 4), 0.3, np.float32), RGBN, block=16, height=64, width=64)
    runner = ModelRunner(task.generator, task.release_config("t"), layout, device="cpu", background=background)
    x[:, 4] = 1  # a tile wholly under thick cloud: the scene-wide background
    tile = Tile(16, 32, 16, 16, False, False, False, False)
    got = runner.assemble(x, np.ones((1, 16, 16), bool), tiles=[tile])[:, :4]
    assert np.allclose(got, 0.3 * 2 - 1, atol=1e-5)
    got = runner.assemble(x, np.ones((1, 16, 16), bool))[:, :4]  # no tile positions: nothing clear to fill from
    assert np.allclose(got, 0.0, atol=1e-5)


def test_without_thick_residual_thick_cloud_keeps_the_prior_and_thin_cloud_is_still_read():
    torch.manual_seed(0)
    x = torch.rand(1, 5, 32, 32) * 2 - 1
    channel = torch.zeros(32, 32)
    channel[4:14, 4:14] = 1.0  # thick: the caller's prior is the input there
    channel[18:28, 18:28] = 0.5  # thin cloud or shadow
    x[:, 4] = channel
    gated = _trained_a_little(PriorResidualUNet(5, 4, ngf=4, depth=2, mask_encoding="opacity", thick_residual=False))
    full = PriorResidualUNet(5, 4, ngf=4, depth=2, mask_encoding="opacity")
    full.load_state_dict(gated.state_dict())  # same weights, residual under thick cloud too
    with torch.no_grad():
        out_gated, out_full = gated(x), full(x)
    thick, thin = channel == 1, channel == 0.5
    assert torch.allclose(out_gated[..., thick], x[:, :4][..., thick].clamp(-1, 1), atol=1e-6)
    assert not torch.allclose(out_full[..., thick], x[:, :4][..., thick].clamp(-1, 1), atol=1e-3)
    assert torch.equal(out_gated[..., thin], out_full[..., thin])  # thin cloud and shadow: unchanged


def test_local_detail_uses_only_the_selected_pixels():
    from cloudfree.models.masked_stats import local_detail

    where = torch.zeros(1, 1, 16, 16)
    where[..., 4:12, 4:12] = 1
    x = torch.full((1, 2, 16, 16), 5.0)
    x[..., 4:12, 4:12] = 0.3  # a flat thin-cloud patch next to brighter ground: no detail
    assert torch.allclose(local_detail(x, where), torch.zeros_like(x), atol=1e-6)
    x[..., 7, 7] = 0.5  # one brighter pixel under the haze: its detail is positive, zero outside
    d = local_detail(x, where)
    assert d[0, 0, 7, 7] > 0.15 and d[0, 0, 7, 8] < 0 and d[..., :4, :].abs().max() == 0


def test_detail_gain_starts_as_the_plain_model_and_acts_only_under_thin_cloud_and_shadow():
    torch.manual_seed(0)
    x = torch.rand(1, 5, 32, 32) * 2 - 1
    channel = torch.zeros(32, 32)
    channel[4:14, 4:14] = 1.0
    channel[18:28, 18:28] = 0.5
    x[:, 4] = channel
    args = {"ngf": 4, "depth": 2, "mask_encoding": "opacity", "thick_residual": False}
    plain = _trained_a_little(PriorResidualUNet(5, 4, **args))
    gained = PriorResidualUNet(5, 4, detail_gain=True, **args)
    missing, unexpected = gained.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and sorted(missing) == ["gain.bias", "gain.weight"]
    with torch.no_grad():
        assert torch.equal(gained(x), plain(x))  # zero-initialised gain: the same model
        gained.gain.bias.fill_(0.5)
        out = gained(x)
    ref = plain(x).detach()
    thin = channel == 0.5
    assert not torch.allclose(out[..., thin], ref[..., thin])
    assert torch.equal(out[..., ~thin], ref[..., ~thin])


def test_thick_refill_carries_the_thin_rim_correction_into_the_core_and_only_nearby():
    x = torch.zeros(1, 5, 128, 128)  # flat ground at 0 (mid reflectance), everything clear ...
    channel = torch.zeros(128, 128)
    channel[6:30, 6:30] = 0.5  # ... but a thin rim
    channel[12:24, 12:24] = 1.0  # around a thick core
    channel[96:120, 96:120] = 1.0  # and a thick cloud far from any thin pixel
    x[:, 4] = channel
    args = {"ngf": 4, "depth": 2, "mask_encoding": "opacity", "thick_residual": False}
    plain = PriorResidualUNet(5, 4, **args).eval()
    refill = PriorResidualUNet(5, 4, thick_refill_levels=4, **args).eval()  # at inference
    refill.load_state_dict(plain.state_dict())  # no weights of its own
    with torch.no_grad():
        for m in (plain, refill):
            m.head.bias.fill_(0.2)  # the model restores the ground under the rim 0.2 brighter
        a, b = plain(x), refill(x)
    core, far, rim = channel == 1.0, torch.zeros_like(channel, dtype=torch.bool), channel == 0.5
    far[96:120, 96:120] = True
    core[96:, 96:] = False
    assert torch.equal(a[..., channel < 1], b[..., channel < 1])  # clear, thin and shadow pixels: unchanged
    assert torch.allclose(a[..., rim], torch.tensor(0.2), atol=1e-6)
    assert torch.allclose(a[..., core], torch.tensor(0.0), atol=1e-6)  # without: the fill from clear pixels
    carried = b[..., core]
    assert carried.min() > 0.1 and carried.max() <= 0.2 + 1e-6  # the rim's correction reaches the core
    assert torch.allclose(b[..., far], a[..., far], atol=1e-7)  # but not 66+ px away


def test_thick_refill_is_off_with_a_thick_residual_or_binary_masks():
    assert PriorResidualUNet(5, 4, mask_encoding="opacity", thick_refill_levels=4).thick_refill_levels == 0
    assert PriorResidualUNet(5, 4, thick_residual=False, thick_refill_levels=4).thick_refill_levels == 0
    with pytest.raises(ValueError, match="thick_refill_levels"):
        PriorResidualUNet(5, 4, mask_encoding="opacity", thick_residual=False, thick_refill_levels=-1)


def test_the_refill_spread_equals_the_limited_push_pull_where_it_is_used():
    from cloudfree.models.push_pull import spread_into_gaps

    torch.manual_seed(0)
    x = torch.randn(2, 3, 48, 64)
    for known in ((torch.rand(2, 1, 48, 64) > 0.7).float(), torch.zeros(2, 1, 48, 64)):
        known[..., 10:20, 30:40] = 1
        gaps = known == 0
        want = push_pull_fill(x, known, levels=4).expand_as(x)[gaps.expand_as(x)]
        assert torch.allclose(spread_into_gaps(x, known, 4, relax=0)[gaps.expand_as(x)], want, atol=1e-6)


def test_thick_refill_acts_in_eval_mode_only():
    x = torch.zeros(1, 5, 64, 64)
    channel = torch.zeros(64, 64)
    channel[6:30, 6:30] = 0.5
    channel[12:24, 12:24] = 1.0
    x[:, 4] = channel
    args = {"ngf": 4, "depth": 2, "mask_encoding": "opacity", "thick_residual": False}
    model = PriorResidualUNet(5, 4, thick_refill_levels=4, **args)
    plain = PriorResidualUNet(5, 4, **args)
    with torch.no_grad():
        for m in (model, plain):
            m.head.bias.fill_(0.2)
        model.train()
        assert torch.equal(model(x), plain(x))  # training optimises the network without the refill
        model.eval()
        assert not torch.equal(model(x), plain(x))


def _harmonic_fill(x: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Exact discrete harmonic fill of ``x`` ``(H, W)`` (4-neighbour Laplace = 0 on unknown pixels, edges mirrored)."""
    from scipy.sparse import lil_matrix
    from scipy.sparse.linalg import spsolve

    h, w = x.shape
    unknown = np.argwhere(~known)
    index = {tuple(p): i for i, p in enumerate(unknown)}
    a, b = lil_matrix((len(unknown), len(unknown))), np.zeros(len(unknown))
    for i, (r, c) in enumerate(unknown):
        a[i, i] = 4.0
        for rr, cc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            rr, cc = min(max(rr, 0), h - 1), min(max(cc, 0), w - 1)  # replicated edge, like the sweeps
            if known[rr, cc]:
                b[i] += x[rr, cc]
            else:
                a[i, index[(rr, cc)]] -= 1.0
    out = x.copy()
    out[~known] = spsolve(a.tocsr(), b)
    return out


def test_relaxed_push_pull_keeps_known_pixels_and_moves_towards_the_harmonic_fill():
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:48, 0:48] / 48.0
    truth = (np.sin(3 * yy) + np.cos(5 * xx) + 0.1 * rng.standard_normal((48, 48))).astype(np.float64)
    known = np.ones((48, 48), bool)
    known[8:40, 10:34] = False  # one large hole
    known[2:6, 40:46] = False
    harmonic = _harmonic_fill(truth, known)
    x = torch.from_numpy(truth.astype(np.float32))[None, None]
    k = torch.from_numpy(known.astype(np.float32))[None, None]
    errors = {}
    for relax in (0, 4, 64):
        out = push_pull_fill(x, k, relax=relax)[0, 0].numpy()
        assert np.array_equal(out[known], truth.astype(np.float32)[known])  # known pixels untouched
        p = np.pad(out, 1, mode="edge")
        laplacian = p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * out
        errors[relax] = (float(np.abs(out - harmonic)[~known].mean()), float(np.abs(laplacian)[~known].mean()))
    assert errors[64][0] < 0.4 * errors[0][0], errors  # many sweeps: near the harmonic fill
    assert errors[0][1] > errors[4][1] > errors[64][1], errors  # the pyramid's blocks and kinks smoothed out


def test_shadow_estimate_restores_a_shadow_of_constant_factor_exactly():
    from cloudfree.models.masked_stats import shadow_estimate

    torch.manual_seed(1)
    truth = torch.rand(1, 3, 32, 32) * 1.2 - 0.9  # normalised units (reflectance 0.05..0.65)
    where = torch.zeros(1, 1, 32, 32)
    where[..., 8:24, 6:26] = 1
    factor = torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1)  # per band, as a shadow's
    visible = torch.where(where > 0, (truth + 1) * factor - 1, truth)
    # a prior whose box means over the shadow equal the truth's gives back the ground exactly
    estimate, log_ratio = shadow_estimate(visible, truth, where, 7)
    inside = where.expand_as(truth) > 0
    assert torch.allclose(estimate[inside], truth[inside], atol=1e-5)
    assert torch.allclose(log_ratio[inside], (-torch.log(factor)).expand_as(truth)[inside], atol=1e-5)
    assert (estimate[~inside] == 0).all() and (log_ratio[~inside] == 0).all()


def test_ratio_gate_starts_closed_acts_on_shadow_only_and_checks_its_arguments():
    from cloudfree.models.masked_stats import shadow_estimate

    args = {"ngf": 4, "depth": 2, "mask_encoding": "opacity", "thick_residual": False, "detail_gain": True}
    torch.manual_seed(0)
    plain = PriorResidualUNet(5, 4, **args).eval()
    for p in plain.parameters():
        nn.init.normal_(p, std=0.05)
    gated = PriorResidualUNet(5, 4, ratio_box=9, ratio_band=0, **args).eval()
    missing = gated.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert sorted(missing) == ["ratio_gate.bias", "ratio_gate.weight"]
    ground = torch.rand(2, 4, 32, 32) * 0.8 - 0.6
    x = torch.cat([ground, torch.zeros(2, 1, 32, 32)], 1)
    x[:, 4, 6:26, 6:16] = 0.5  # shadow: darker than the ground around it
    x[:, :4, 6:26, 6:16] = (ground[..., 6:26, 6:16] + 1) * 0.4 - 1
    x[:, 4, 6:26, 16:26] = 0.5  # haze: brighter
    x[:, :4, 6:26, 16:26] = ground[..., 6:26, 16:26] * 0.5 + 0.5
    x[:, 4, 12:20, 12:20] = 1.0
    assert torch.equal(plain(x), gated(x))  # zero-initialised: the model without it
    nn.init.constant_(gated.ratio_gate.bias, 1.0)  # gate open: the estimate on shadow pixels
    base = plain.prior(x)[0]
    shadow = ((x[:, 4:] == 0.5) & (x[:, :1] < base[:, :1])).float()
    assert shadow[..., 6:26, 6:12].mean() > 0.95 and shadow[..., 6:26, 18:26].mean() < 0.05
    estimate, _ = shadow_estimate(x[:, :4], base, shadow, 9)
    out, before = gated(x), plain(x)
    on = shadow.expand(-1, 4, -1, -1) > 0
    assert torch.allclose(out[on], estimate.clamp(-1, 1)[on], atol=1e-5)
    off = ~on & (x[:, 4:] != 1.0).expand(-1, 4, -1, -1)  # clear, haze (thick gets the refill)
    assert torch.equal(out[off], before[off])
    for bad in ({"ratio_box": -1}, {"ratio_box": 4}, {"ratio_box": 9, "ratio_band": 4}):
        with pytest.raises(ValueError, match="ratio_b"):
            PriorResidualUNet(5, 4, **bad, **args)


def test_mean4_is_the_neighbour_mean_with_replicated_edges():
    import torch.nn.functional as F

    from cloudfree.models.push_pull import _mean4

    for shape in ((2, 3, 9, 7), (1, 1, 2, 2), (1, 2, 2, 5)):
        x = torch.randn(*shape)
        p = F.pad(x, (1, 1, 1, 1), mode="replicate")
        want = (p[..., :-2, 1:-1] + p[..., 2:, 1:-1] + p[..., 1:-1, :-2] + p[..., 1:-1, 2:]) / 4
        assert torch.allclose(_mean4(x), want, atol=1e-6)


def test_fill_bands_take_the_fill_in_every_masked_pixel_and_keep_clear_ones():
    torch.manual_seed(0)
    x = torch.rand(1, 5, 32, 32) * 2 - 1
    channel = torch.zeros(32, 32)
    channel[4:20, 4:20] = 1.0  # thick, with a thin rim and a shadow
    channel[2:4, 4:20] = 0.5
    channel[24:30, 24:30] = 0.5
    x[:, 4] = channel
    args = {"ngf": 4, "depth": 2, "mask_encoding": "opacity", "thick_residual": False, "thick_refill_levels": 4}
    plain = _trained_a_little(PriorResidualUNet(5, 4, **args)).eval()
    filled = PriorResidualUNet(5, 4, fill_bands=[2], **args).eval()
    filled.load_state_dict(plain.state_dict())  # no weights of its own
    with torch.no_grad():
        out, ref = filled(x), plain(x)
        base, *_ = plain.prior(x)
    others = [0, 1, 3]
    assert torch.equal(out[:, others], ref[:, others])  # the other bands: unchanged
    assert torch.allclose(out[:, 2], base[:, 2].clamp(-1, 1))  # band 2: the fill (the input on clear pixels)
    assert torch.equal(out[:, 2][..., channel == 0], x[:, 2][..., channel == 0])
    assert not torch.allclose(ref[:, 2][..., channel > 0], base[:, 2][..., channel > 0])  # which the residual moved
    with pytest.raises(ValueError, match="fill_bands"):
        PriorResidualUNet(5, 4, fill_bands=[4], **args)


def test_default_l1c13_fills_the_cirrus_band_only():
    from cloudfree.models.release import load_release

    model, config = load_release("default-l1c13")
    assert [config.out_bands[i] for i in model.fill_bands] == ["B10"]
    _, rgbn = load_release("default-rgbn")
    assert not rgbn.arguments.get("fill_bands")
