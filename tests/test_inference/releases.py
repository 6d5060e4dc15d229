"""Tiny releases saved in a test's tmp folder: identity, a random U-Net, a diffusion denoiser, DSen2-CR."""

from __future__ import annotations

from pathlib import Path

import torch

from cloudfree.models import build_model
from cloudfree.models.release import ReleaseConfig, save_release
from cloudfree.normalization import Normalization

RGBN = ("B02", "B03", "B04", "B08")


def save(folder: Path, architecture: str, arguments: dict, *, kind: str = "removal", **config) -> Path:
    torch.manual_seed(0)
    model = build_model(architecture, arguments)
    bands = config.pop("in_bands", RGBN)
    norm = config.pop("norm", Normalization.fixed(bands))
    cfg = ReleaseConfig(
        name=folder.name,
        kind=kind,
        architecture=architecture,
        arguments=arguments,
        in_bands=bands,
        out_bands=config.pop("out_bands", bands),
        normalization=norm.to_dict(),
        **config,
    )
    return save_release(model, cfg, folder)


def identity_release(folder: Path, bands=RGBN) -> Path:
    """Identity with identity normalisation: the output is the input reflectance, unclipped."""
    n = len(bands)
    return save(
        folder,
        "identitymodel",
        {"in_channels": n, "out_channels": n},
        in_bands=bands,
        norm=Normalization.identity(bands),
    )


def unet_release(folder: Path) -> Path:
    """A random, tiny Pix2Pix generator (3 levels: tiles must be multiples of 8)."""
    return save(folder, "unetgenerator", {"in_channels": 4, "out_channels": 4, "ngf": 4, "num_downs": 3})


def diffusion_release(folder: Path) -> Path:
    args = {
        "in_channels": 8,
        "out_channels": 4,
        "base_channels": 8,
        "channel_mults": [1, 1],
        "num_res_blocks": 1,
        "attention": False,
        "groups": 4,
    }
    return save(
        folder,
        "diffusionunet",
        args,
        kind="diffusion",
        extra={"scheduler": {"num_train_timesteps": 50}, "input_order": ["optical"]},
    )


def sar_release(folder: Path) -> Path:
    from cloudfree.normalization import Normalization as N

    sar = N(("VV", "VH"), (-25.0, -32.5), (25.0, 32.5), "fixed", (0.0, 1.0))
    return save(
        folder,
        "dsen2cr",
        {"optical_channels": 4, "sar_channels": 2, "feature_size": 8, "num_layers": 1},
        sar_bands=("VV", "VH"),
        sar_normalization=sar.to_dict(),
    )


def multitemporal_release(folder: Path, bands=RGBN) -> Path:
    """A random, tiny multi-temporal S1+S2 model (prev_optical, prev_sar, sar) through the release format."""
    from cloudfree.tasks.base import sar_db_normalization

    n = len(bands)
    return save(
        folder,
        "multitemporalfusion",
        {"optical_channels": n, "sar_channels": 2, "out_channels": n, "features": 4, "num_blocks": 1},
        in_bands=bands,
        sar_bands=("VV", "VH"),
        sar_normalization=sar_db_normalization(("VV", "VH")).to_dict(),
        extra={"input_order": ["prev_optical", "prev_sar", "sar"]},
    )


def trained_multitemporal_release(folder: Path, s2: Path, s1: Path, steps: int = 25) -> tuple[Path, list[float]]:
    """A tiny multi-temporal S1+S2 model trained here (``steps`` Adam steps on random 64 px crops of a
    co-registered S2 + S1 pair used as both dates, as configs/multitemporal_s1s2.yaml does), released
    through the release format. Returns the release and the losses of the first and last steps."""
    import numpy as np

    from cloudfree.io import read_raster
    from cloudfree.tasks.fusion import MultiTemporalTask

    torch.manual_seed(0)
    optical = read_raster(s2, select=RGBN).to_reflectance().data
    sar = read_raster(s1).data.astype(np.float32)
    task = MultiTemporalTask(in_bands=RGBN, features=4, num_blocks=1, lr=3e-3)
    opt = task.configure_optimizers()
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(steps):
        corners = rng.integers(0, np.array(optical.shape[1:]) - 64, (4, 2))
        crops = {k: torch.from_numpy(np.stack([a[:, r : r + 64, c : c + 64] for r, c in corners]))
                 for k, a in (("optical", optical), ("sar", sar))}  # fmt: skip
        batch = {"prev_optical": crops["optical"], "clear": crops["optical"], "prev_sar": crops["sar"],
                 "sar": crops["sar"]}  # fmt: skip
        loss = task.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return save_release(task.predictor().eval(), task.release_config(folder.name), folder), [losses[0], losses[-1]]
