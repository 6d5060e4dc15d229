"""Region losses of the image-to-image tasks: masked SSIM equals the evaluation's SSIM over the same
pixels, weighs errors by local brightness, and enters the Pix2Pix generator loss with ``lambda_ssim``."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from cloudfree.metrics import ssim
from cloudfree.tasks.losses import masked_ssim_loss
from cloudfree.tasks.pix2pix import Pix2PixTask


def test_masked_ssim_loss_is_one_minus_the_evaluation_ssim_over_the_region() -> None:
    gen = torch.Generator().manual_seed(3)
    target = 0.05 + 0.3 * torch.rand(2, 4, 40, 40, generator=gen)
    pred = (target + 0.03 * torch.randn(2, 4, 40, 40, generator=gen)).clamp(0, 1)
    region = torch.zeros(2, 1, 40, 40)
    region[0, :, 5:30, 10:35] = 1
    region[1, :, 20:38, 2:20] = 1
    pred = torch.where(region > 0, pred, target)  # as in training: the models pass clear pixels unchanged
    loss = masked_ssim_loss(pred, target, region)
    # cloudfree.metrics.ssim (what bench_quality reports) per sample, pooled over the region's pixels
    total, count = 0.0, 0
    for i in range(2):
        sel = region[i, 0].numpy() > 0
        total += ssim(pred[i].numpy(), target[i].numpy(), sel) * sel.sum()
        count += sel.sum()
    assert loss.item() == pytest.approx(1.0 - total / count, abs=2e-4)
    assert masked_ssim_loss(target, target, region).item() == pytest.approx(0.0, abs=1e-6)
    assert masked_ssim_loss(pred, target, torch.zeros_like(region)).item() == 0.0
    assert masked_ssim_loss(pred, target, None).item() > 0


def test_the_same_absolute_error_costs_more_over_dark_ground() -> None:
    """Why the default models train with it: L1 sees no difference, SSIM's luminance term does."""
    gen = torch.Generator().manual_seed(0)
    texture = 0.01 * torch.rand(1, 4, 32, 32, generator=gen)
    region = torch.ones(1, 1, 32, 32)
    dark, bright = 0.03 + texture, 0.30 + texture
    loss_dark = masked_ssim_loss(dark - 0.01, dark, region).item()
    loss_bright = masked_ssim_loss(bright - 0.01, bright, region).item()
    assert loss_dark > 0.04 and loss_bright < 0.01, (loss_dark, loss_bright)


def test_gradient_reaches_the_prediction_only_inside_the_region_neighbourhood() -> None:
    target = torch.full((1, 1, 32, 32), 0.2)
    pred = torch.full((1, 1, 32, 32), 0.25, requires_grad=True)
    region = torch.zeros(1, 1, 32, 32)
    region[..., 12:20, 12:20] = 1
    masked_ssim_loss(pred, target, region).backward()
    grad = pred.grad[0, 0].abs()
    assert grad[12:20, 12:20].sum() > 0
    assert grad[:2].sum() == 0 and grad[:, :2].sum() == 0  # beyond the 11 px window: untouched


def _samples(n: int) -> list[dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(1)
    out = []
    for _ in range(n):
        clear = 0.02 + 0.05 * torch.rand(4, 16, 16, generator=gen)  # dark ground
        mask = torch.zeros(1, 16, 16)
        mask[:, 3:13, 3:13] = 1.0
        # a shadow: the ground shows at 40 %, so the model can learn it (binary mask: it sees the raw input)
        out.append({"cloudy": torch.where(mask > 0, 0.4 * clear, clear), "clear": clear, "mask": mask})
    return out


def test_pix2pix_adds_lambda_ssim_times_the_region_ssim_loss_and_descends_it() -> None:
    L.seed_everything(0)
    kwargs = {"in_bands": "rgbn", "use_mask": True, "patch_size": 16, "lambda_gan": 0.0, "loss_region": "mask",
              "architecture": "PriorResidualUNet", "generator": {"ngf": 4, "depth": 2}}  # fmt: skip
    task = Pix2PixTask(lambda_l1=1.0, lambda_ssim=2.0, **kwargs)
    data = _samples(4)
    batch = {k: torch.stack([s[k] for s in data]) for k in data[0]}
    before = task.losses(batch)
    assert before["ssim"].item() > 0
    assert before["total"].item() == pytest.approx(before["l1"].item() + 2.0 * before["ssim"].item(), rel=1e-6)
    # the SSIM term is in the generator's graph: a small gradient step on it alone lowers it
    before["ssim"].backward()
    grads = [p.grad for p in task.generator.parameters() if p.grad is not None]
    assert grads and sum(float(g.abs().sum()) for g in grads) > 0
    with torch.no_grad():
        for p in task.generator.parameters():
            if p.grad is not None:
                p -= 1e-2 * p.grad
        after = task.losses(batch)
    assert after["ssim"].item() < before["ssim"].item(), (before["ssim"].item(), after["ssim"].item())
    # without lambda_ssim the term is not computed and the total is the L1 alone
    plain = Pix2PixTask(**kwargs)
    with torch.no_grad():
        out = plain.losses(batch)
    assert out["ssim"].item() == 0.0
    assert out["total"].item() == pytest.approx(plain.lambda_l1 * out["l1"].item())
    with pytest.raises(ValueError, match="lambda_ssim"):
        Pix2PixTask(lambda_ssim=-1.0, **kwargs)
