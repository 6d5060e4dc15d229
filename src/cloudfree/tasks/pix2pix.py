"""Pix2Pix training: conditional GAN with a U-Net generator, a PatchGAN discriminator and L1 loss.

Training follows the reference recipe (Isola et al. 2017): per batch, the discriminator is updated on
``(input, target)`` as real and ``(input, G(input))`` as fake, then the generator on the adversarial
loss plus ``lambda_l1 * L1(G(input), target)``; Adam (2e-4, beta1 0.5) for both networks; the
learning rate is constant for ``n_epochs`` epochs and decays linearly to 0 over ``n_epochs_decay``
more (``lr_policy: linear``), or is reduced on a plateau of a validation metric (``lr_policy:
plateau``). Lightning's manual optimisation drives the two optimisers, so schedulers are stepped
here at the end of each training epoch.

When a sample carries a ``valid`` channel (augmentation warps fill borders), the L1 loss ignores
the filled pixels.

The default models use ``architecture: PriorResidualUNet`` (a residual over a classical fill,
:mod:`cloudfree.models.prior_unet`) with ``lambda_gan: 0`` (no discriminator: it trains stably in
minutes on a CPU and is what PSNR/SSIM reward), ``loss_region: mask`` (the loss is taken over the
cloud/shadow pixels, the only ones the model changes) and ``lambda_ssim: 3``: L1 plus ``1 - SSIM``
in reflectance over the same pixels (:mod:`cloudfree.tasks.losses`; Zhao et al. 2017, "Loss
functions for image restoration with neural networks", found the mix better than either alone in
both PSNR and SSIM), so that errors over dark ground count as much as they do in SSIM.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from cloudfree.models import build_model
from cloudfree.models.layers import GANLoss
from cloudfree.tasks.base import CloudRemovalTask
from cloudfree.tasks.losses import masked_l1, masked_ssim_loss
from cloudfree.tasks.schedules import LR_POLICIES, make_schedulers

__all__ = ["LR_POLICIES", "Pix2PixTask", "make_schedulers", "masked_l1"]


class GANTaskMixin:
    """LR scheduling and variance logging shared by the GAN tasks (manual optimisation)."""

    lr_policy: str
    plateau: dict[str, Any]

    def step_schedulers(self) -> None:
        schedulers = self.lr_schedulers()  # type: ignore[attr-defined]
        schedulers = schedulers if isinstance(schedulers, list) else [schedulers]
        if self.lr_policy == "plateau":
            key = self.plateau.get("monitor", "val/psnr")
            value = self.trainer.callback_metrics.get(key)  # type: ignore[attr-defined]
            if value is None:  # no validation this epoch
                return
            for s in schedulers:
                s.step(float(value))
        else:
            for s in schedulers:
                s.step()

    @staticmethod
    def variance_ratio(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """var(generated) / var(target) over the batch: near 0 means flat output."""
        return fake.detach().float().var() / real.detach().float().var().clamp_min(1e-8)


class Pix2PixTask(GANTaskMixin, CloudRemovalTask):
    """Pix2Pix cloud removal: ``UNetGenerator`` (the release) + conditional ``PatchGANDiscriminator``.

    Args (besides those of :class:`CloudRemovalTask`):
        generator: ``UNetGenerator`` arguments (``ngf``, ``num_downs``, ``norm``, ``use_dropout`` ...);
            channel counts come from the bands.
        discriminator: ``PatchGANDiscriminator`` arguments (``ndf``, ``n_layers``, ``norm``).
        patch_size: training patch size (px), sets the generator depth unless given there.
        gan_mode: ``vanilla`` (BCE with logits) or ``lsgan``.
        lambda_l1: weight of the L1 loss (100).
        lr, beta1, beta2: Adam settings for both networks.
        lr_policy: ``linear`` (constant ``n_epochs`` then linear decay over ``n_epochs_decay``),
            ``plateau`` (``plateau`` = ReduceLROnPlateau args + ``monitor``) or ``constant``.
        architecture: the generator (``UNetGenerator`` or ``PriorResidualUNet``; closed registry).
        lambda_gan: weight of the adversarial loss; 0 trains the generator on L1 alone and builds
            no discriminator.
        loss_region: ``all`` (L1 over every valid pixel) or ``mask`` (over cloud/shadow pixels only).
        lambda_ssim: weight of ``1 - SSIM`` in reflectance over the same region
            (:func:`~cloudfree.tasks.losses.masked_ssim_loss`); 0 (the default) leaves it out.
        trainable: names of generator parameters to train, by prefix (``["ratio_gate."]``); the
            others are frozen (fine-tuning a branch added to a trained model); None: all.
        grad_clip: clip the generator's gradient norm to this before each step (0: no clipping).
            With or without it, a batch whose loss or gradient is not finite is skipped (logged as
            ``train/skipped_steps``) instead of writing NaN into the weights.
    """

    task_name = "pix2pix"

    def __init__(
        self,
        in_bands: Sequence[str] | str = "rgbn",
        out_bands: Sequence[str] | str | None = None,
        sar_bands: Sequence[str] | str = (),
        use_mask: bool = False,
        max_reflectance: float = 1.0,
        normalization: Mapping[str, Any] | None = None,
        sar_normalization: Mapping[str, Any] | None = None,
        input_order: Sequence[str] | None = None,
        n_preview: int = 4,
        generator: Mapping[str, Any] | None = None,
        discriminator: Mapping[str, Any] | None = None,
        patch_size: int = 256,
        gan_mode: str = "vanilla",
        lambda_l1: float = 100.0,
        lr: float = 2e-4,
        beta1: float = 0.5,
        beta2: float = 0.999,
        lr_policy: str = "linear",
        n_epochs: int = 100,
        n_epochs_decay: int = 100,
        plateau: Mapping[str, Any] | None = None,
        architecture: str = "UNetGenerator",
        lambda_gan: float = 1.0,
        loss_region: str = "all",
        grad_clip: float = 0.0,
        lambda_ssim: float = 0.0,
        trainable: Sequence[str] | None = None,
    ) -> None:
        super().__init__(
            in_bands, out_bands, sar_bands, use_mask, max_reflectance, normalization, sar_normalization,
            input_order, n_preview,
        )  # fmt: skip
        self.automatic_optimization = False
        if lr_policy not in LR_POLICIES:
            raise ValueError(f"unknown lr_policy {lr_policy!r}; expected one of {list(LR_POLICIES)}")
        if loss_region not in ("all", "mask"):
            raise ValueError(f"unknown loss_region {loss_region!r}; expected 'all' or 'mask'")
        gen_args = dict(generator or {})
        if architecture == "UNetGenerator":
            gen_args = {"patch_size": patch_size, **gen_args}
        gen_args |= {"in_channels": self.in_channels, "out_channels": self.out_channels}
        self.set_predictor(architecture, gen_args)
        self.lambda_gan, self.loss_region = float(lambda_gan), loss_region
        if grad_clip < 0:
            raise ValueError(f"grad_clip must be >= 0, got {grad_clip}")
        self.grad_clip, self.skipped_steps = float(grad_clip), 0
        self.discriminator = None
        if self.lambda_gan > 0:
            disc_args = {**dict(discriminator or {}), "in_channels": self.in_channels + self.out_channels}
            self.discriminator = build_model("PatchGANDiscriminator", disc_args)
        self.gan_loss = GANLoss(gan_mode)
        self.lambda_l1 = float(lambda_l1)
        if lambda_ssim < 0:
            raise ValueError(f"lambda_ssim must be >= 0, got {lambda_ssim}")
        self.lambda_ssim = float(lambda_ssim)
        self.lr, self.betas = float(lr), (float(beta1), float(beta2))
        self.lr_policy, self.plateau = lr_policy, dict(plateau or {})
        self.n_epochs, self.n_epochs_decay = int(n_epochs), int(n_epochs_decay)
        self.trainable = None if trainable is None else [str(t) for t in trainable]
        if self.trainable is not None:
            names = [n for n, _ in self.generator.named_parameters()]
            unmatched = [t for t in self.trainable if not any(n.startswith(t) for n in names)]
            if unmatched or not self.trainable:
                raise ValueError(f"trainable {self.trainable}: no generator parameter starts with {unmatched}")
            for name, param in self.generator.named_parameters():
                param.requires_grad_(any(name.startswith(t) for t in self.trainable))

    def configure_optimizers(self) -> Any:
        params = [p for p in self.generator.parameters() if p.requires_grad]
        optimizers = [torch.optim.Adam(params, lr=self.lr, betas=self.betas)]
        if self.discriminator is not None:
            optimizers.append(torch.optim.Adam(self.discriminator.parameters(), lr=self.lr, betas=self.betas))
        return optimizers, make_schedulers(optimizers, self.lr_policy, self.n_epochs, self.n_epochs_decay, self.plateau)

    def loss_weight(self, batch: Mapping[str, Any]) -> torch.Tensor | None:
        """Per-pixel weight ``(N, 1, H, W)`` of the L1 loss: valid pixels, and cloud/shadow ones for ``mask``."""
        valid = batch.get("valid")
        if self.loss_region == "all":
            return valid
        region = (batch["mask"] > 0).float()
        return region if valid is None else region * valid.to(region.dtype)

    def losses(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """Generator losses for one batch without updating anything (used by tests and training)."""
        x, y = self.build_input(batch), self.build_target(batch)
        fake = self.generator(x)
        gan = torch.zeros((), device=x.device)
        if self.discriminator is not None:
            gan = self.gan_loss(self.discriminator(torch.cat([x, fake], 1)), True)
        l1, ssim = self.pixel_losses(fake, y, batch)
        total = self.lambda_gan * gan + self.lambda_l1 * l1 + self.lambda_ssim * ssim
        return {"fake": fake, "gan": gan, "l1": l1, "ssim": ssim, "total": total}

    def pixel_losses(
        self, fake: torch.Tensor, y: torch.Tensor, batch: Mapping[str, Any]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(masked L1 in normalised units, masked 1 - SSIM in reflectance)``; the SSIM term is 0 when unused."""
        weight = self.loss_weight(batch)
        l1 = masked_l1(fake, y, weight)
        if self.lambda_ssim == 0:
            return l1, torch.zeros((), device=fake.device)
        return l1, masked_ssim_loss(self.to_reflectance(fake), self.to_reflectance(y), weight)

    def _clipped_step(self, opt: Any) -> None:
        """Step the generator's optimiser after clipping; skip the step when the gradient is not finite.

        A non-finite loss leaves no gradient (backward was not run), which counts as not finite too.
        """
        grads = [p.grad for p in self.generator.parameters() if p.grad is not None]
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])) if grads else None
        if norm is None or not torch.isfinite(norm):
            self.skipped_steps += 1
            opt.zero_grad()
        else:
            if self.grad_clip > 0:
                self.clip_gradients(opt, gradient_clip_val=self.grad_clip, gradient_clip_algorithm="norm")
            opt.step()
        self.log("train/skipped_steps", float(self.skipped_steps), batch_size=1)

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        x, y = self.build_input(batch), self.build_target(batch)
        fake = self.generator(x)
        n = x.shape[0]
        if self.discriminator is None:
            (opt_g,) = self._optimizer_list()
            loss_l1, loss_ssim = self.pixel_losses(fake, y, batch)
            loss_g = self.lambda_l1 * loss_l1 + self.lambda_ssim * loss_ssim
            opt_g.zero_grad()
            if torch.isfinite(loss_g):
                self.manual_backward(loss_g)
            self._clipped_step(opt_g)
            self.log("train/loss_l1", loss_l1.detach(), batch_size=n)
            if self.lambda_ssim:
                self.log("train/loss_ssim", loss_ssim.detach(), batch_size=n)
            self.log("train/loss_g", loss_g.detach(), prog_bar=True, batch_size=n)
            return
        opt_g, opt_d = self._optimizer_list()

        with self.toggled_optimizer(opt_d):
            pred_fake = self.discriminator(torch.cat([x, fake.detach()], 1))
            pred_real = self.discriminator(torch.cat([x, y], 1))
            loss_d = 0.5 * (self.gan_loss(pred_fake, False) + self.gan_loss(pred_real, True))
            opt_d.zero_grad()
            self.manual_backward(loss_d)
            opt_d.step()

        with self.toggled_optimizer(opt_g):
            loss_gan = self.gan_loss(self.discriminator(torch.cat([x, fake], 1)), True)
            loss_l1, loss_ssim = self.pixel_losses(fake, y, batch)
            loss_g = self.lambda_gan * loss_gan + self.lambda_l1 * loss_l1 + self.lambda_ssim * loss_ssim
            opt_g.zero_grad()
            if torch.isfinite(loss_g):
                self.manual_backward(loss_g)
            self._clipped_step(opt_g)

        self.log_dict(
            {
                "train/loss_d": loss_d.detach(),
                "train/loss_g_gan": loss_gan.detach(),
                "train/loss_l1": loss_l1.detach(),
                "train/fake_var_ratio": self.variance_ratio(fake, y),
            },
            batch_size=n,
        )
        self.log("train/loss_g", loss_g.detach(), prog_bar=True, batch_size=n)

    def _optimizer_list(self) -> list[Any]:
        opts = self.optimizers()
        return list(opts) if isinstance(opts, (list, tuple)) else [opts]

    def on_train_epoch_start(self) -> None:
        self._epoch_t0, self._epoch_samples = time.perf_counter(), 0

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        self._epoch_samples = getattr(self, "_epoch_samples", 0) + int(batch["cloudy"].shape[0])

    def on_train_epoch_end(self) -> None:
        self.step_schedulers()
        seconds = time.perf_counter() - getattr(self, "_epoch_t0", time.perf_counter())
        metrics = {k: float(v) for k, v in self.trainer.callback_metrics.items() if k.startswith(("val/", "train/"))}
        shown = " ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items()))
        print(
            f"epoch {self.current_epoch}: {self._epoch_samples} samples in {seconds:.0f} s "
            f"({self._epoch_samples / max(seconds, 1e-9):.1f} samples/s) {shown}",
            file=sys.stderr,
            flush=True,
        )
