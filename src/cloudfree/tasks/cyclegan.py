"""CycleGAN training: unpaired translation between domain A (the model input) and domain B (clear optical).

After Zhu et al. (2017) and their reference code. Two ResNet generators (``G_AB``: A -> B, the
release; ``G_BA``: B -> A) and two PatchGAN discriminators are trained with the least-squares GAN
loss, cycle consistency ``lambda_cycle * (|G_BA(G_AB(a)) - a| + |G_AB(G_BA(b)) - b|)`` and, when A
and B hold the same bands, the identity loss ``lambda_identity * lambda_cycle * (|G_AB(b) - b| +
|G_BA(a) - a|)``. Discriminators see generated images drawn from a history of 50 (image pool).

Domain A is what :meth:`CloudRemovalTask.build_input` makes: Sentinel-1 VV/VH (``sar_bands`` with no
``in_bands``: SAR -> optical translation) or cloudy optical bands (cloudy -> clear). Domain B is the
``clear`` optical image in ``out_bands``. Samples of a batch are used as unpaired: nothing pairs a
with b except the batch they came in (``shuffle_pairs`` rolls B over the batch to break even that).
Validation still scores ``G_AB(a)`` against the co-registered clear image where the data has one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from cloudfree.models import build_model
from cloudfree.models.layers import GANLoss
from cloudfree.tasks.base import CloudRemovalTask
from cloudfree.tasks.pix2pix import GANTaskMixin
from cloudfree.tasks.schedules import LR_POLICIES, make_schedulers


class ImagePool:
    """History of generated images (Shrivastava et al. 2017): with probability 0.5 a new image is
    swapped for a stored one, so discriminators also see older generator outputs.

    Draws come from the global torch RNG (saved in checkpoints by ``RNGStateCallback``); the stored
    images travel in checkpoints through :meth:`state` / :meth:`load`.
    """

    def __init__(self, size: int = 50) -> None:
        self.size = int(size)
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Images ``(N, C, H, W)`` -> as many images, some from the history."""
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand(()).item() > 0.5:
                idx = int(torch.randint(0, self.size, ()).item())
                out.append(self.images[idx].to(image.device, copy=True))
                self.images[idx] = image.clone()
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state(self) -> list[torch.Tensor]:
        return [t.detach().cpu() for t in self.images]

    def load(self, images: Sequence[torch.Tensor], device: torch.device) -> None:
        self.images = [t.to(device) for t in images]


class CycleGANTask(GANTaskMixin, CloudRemovalTask):
    """CycleGAN: ``ResnetGenerator`` A -> B (the release), B -> A, PatchGAN discriminators for both domains.

    Args (besides those of :class:`CloudRemovalTask`; ``use_mask`` is not supported):
        generator: ``ResnetGenerator`` arguments (``ngf``, ``n_blocks``, ``norm`` ...).
        discriminator: ``PatchGANDiscriminator`` arguments (``ndf``, ``n_layers``, ``norm``).
        patch_size: training patch size (px): 9 residual blocks from 256 px, else 6.
        gan_mode: ``lsgan`` (reference) or ``vanilla``.
        lambda_cycle: cycle-consistency weight (10).
        lambda_identity: identity weight relative to ``lambda_cycle`` (0.5); used only when domains
            A and B have the same bands (cloudy -> clear without SAR), else ignored.
        pool_size: image pool size (50).
        shuffle_pairs: roll domain B over the batch so that no a is seen with its own b.
        lr, beta1, beta2, lr_policy, n_epochs, n_epochs_decay, plateau: as :class:`Pix2PixTask`.
    """

    task_name = "cyclegan"

    def __init__(
        self,
        in_bands: Sequence[str] | str = (),
        out_bands: Sequence[str] | str | None = "rgb",
        sar_bands: Sequence[str] | str = "s1",
        use_mask: bool = False,
        max_reflectance: float = 1.0,
        normalization: Mapping[str, Any] | None = None,
        sar_normalization: Mapping[str, Any] | None = None,
        input_order: Sequence[str] | None = None,
        n_preview: int = 4,
        generator: Mapping[str, Any] | None = None,
        discriminator: Mapping[str, Any] | None = None,
        patch_size: int = 256,
        gan_mode: str = "lsgan",
        lambda_cycle: float = 10.0,
        lambda_identity: float = 0.5,
        pool_size: int = 50,
        shuffle_pairs: bool = False,
        lr: float = 2e-4,
        beta1: float = 0.5,
        beta2: float = 0.999,
        lr_policy: str = "linear",
        n_epochs: int = 100,
        n_epochs_decay: int = 100,
        plateau: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            in_bands, out_bands, sar_bands, use_mask, max_reflectance, normalization, sar_normalization,
            input_order, n_preview,
        )  # fmt: skip
        if self.use_mask:
            raise ValueError("CycleGAN has no cloud-mask channel: domain B (clear) has no mask to cycle back to")
        if lr_policy not in LR_POLICIES:
            raise ValueError(f"unknown lr_policy {lr_policy!r}; expected one of {list(LR_POLICIES)}")
        self.automatic_optimization = False
        gen = {"patch_size": patch_size, **dict(generator or {})}
        self.set_predictor(
            "ResnetGenerator", {**gen, "in_channels": self.in_channels, "out_channels": self.out_channels}, "g_ab"
        )
        self.g_ba = build_model(
            "ResnetGenerator", {**gen, "in_channels": self.out_channels, "out_channels": self.in_channels}
        )
        disc = dict(discriminator or {})
        self.d_a = build_model("PatchGANDiscriminator", {**disc, "in_channels": self.in_channels})
        self.d_b = build_model("PatchGANDiscriminator", {**disc, "in_channels": self.out_channels})
        self.gan_loss = GANLoss(gan_mode)
        self.lambda_cycle = float(lambda_cycle)
        same_domain = not self.sar_bands and self.in_bands == self.out_bands
        self.lambda_identity = float(lambda_identity) if same_domain else 0.0
        self.pool_a, self.pool_b = ImagePool(pool_size), ImagePool(pool_size)
        self.shuffle_pairs = bool(shuffle_pairs)
        self.lr, self.betas = float(lr), (float(beta1), float(beta2))
        self.lr_policy, self.plateau = lr_policy, dict(plateau or {})
        self.n_epochs, self.n_epochs_decay = int(n_epochs), int(n_epochs_decay)

    def configure_optimizers(self) -> Any:
        gens = list(self.g_ab.parameters()) + list(self.g_ba.parameters())
        discs = list(self.d_a.parameters()) + list(self.d_b.parameters())
        opt_g = torch.optim.Adam(gens, lr=self.lr, betas=self.betas)
        opt_d = torch.optim.Adam(discs, lr=self.lr, betas=self.betas)
        optimizers = [opt_g, opt_d]
        return optimizers, make_schedulers(optimizers, self.lr_policy, self.n_epochs, self.n_epochs_decay, self.plateau)

    def domains(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised ``real_a`` ``(N, in_channels, H, W)`` and ``real_b`` ``(N, out_channels, H, W)``."""
        real_a, real_b = self.build_input(batch), self.build_target(batch)
        if self.shuffle_pairs and real_b.shape[0] > 1:
            real_b = torch.roll(real_b, 1, dims=0)
        return real_a, real_b

    def generator_losses(self, real_a: torch.Tensor, real_b: torch.Tensor) -> dict[str, torch.Tensor]:
        """Generator-side losses and the generated images of one batch."""
        fake_b, fake_a = self.g_ab(real_a), self.g_ba(real_b)
        out = {"fake_a": fake_a, "fake_b": fake_b}
        out["gan"] = self.gan_loss(self.d_b(fake_b), True) + self.gan_loss(self.d_a(fake_a), True)
        cycle = torch.abs(self.g_ba(fake_b) - real_a).mean() + torch.abs(self.g_ab(fake_a) - real_b).mean()
        out["cycle"] = self.lambda_cycle * cycle
        idt = real_a.new_zeros(())
        if self.lambda_identity > 0:
            idt = torch.abs(self.g_ab(real_b) - real_b).mean() + torch.abs(self.g_ba(real_a) - real_a).mean()
        out["identity"] = self.lambda_identity * self.lambda_cycle * idt
        out["total"] = out["gan"] + out["cycle"] + out["identity"]
        return out

    def discriminator_loss(self, disc: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return 0.5 * (self.gan_loss(disc(real), True) + self.gan_loss(disc(fake.detach()), False))

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        opt_g, opt_d = self.optimizers()
        real_a, real_b = self.domains(batch)
        n = real_a.shape[0]

        with self.toggled_optimizer(opt_g):
            g = self.generator_losses(real_a, real_b)
            opt_g.zero_grad()
            self.manual_backward(g["total"])
            opt_g.step()

        with self.toggled_optimizer(opt_d):
            loss_d_a = self.discriminator_loss(self.d_a, real_a, self.pool_a.query(g["fake_a"]))
            loss_d_b = self.discriminator_loss(self.d_b, real_b, self.pool_b.query(g["fake_b"]))
            opt_d.zero_grad()
            self.manual_backward(loss_d_a + loss_d_b)
            opt_d.step()

        self.log_dict(
            {
                "train/loss_d": (loss_d_a + loss_d_b).detach() / 2,
                "train/loss_d_a": loss_d_a.detach(),
                "train/loss_d_b": loss_d_b.detach(),
                "train/loss_g_gan": g["gan"].detach(),
                "train/loss_cycle": g["cycle"].detach(),
                "train/loss_identity": g["identity"].detach(),
                "train/fake_var_ratio": self.variance_ratio(g["fake_b"], real_b),
            },
            batch_size=n,
        )
        self.log("train/loss_g", g["total"].detach(), prog_bar=True, batch_size=n)

    def on_train_epoch_end(self) -> None:
        self.step_schedulers()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["image_pools"] = {"a": self.pool_a.state(), "b": self.pool_b.state()}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        pools = checkpoint.get("image_pools", {})
        self.pool_a.load(pools.get("a", []), self.device)
        self.pool_b.load(pools.get("b", []), self.device)
