"""Distributed training: `cloudfree train ... trainer.strategy=ddp trainer.devices=2 trainer.accelerator=cpu`.

A tiny Pix2Pix fit on synthetic clouds over a generated clear scene runs as two DDP processes
(gloo on CPU). Lightning's ``ddp`` strategy relaunches the command line once per extra device, so
the command runs as a subprocess (``python -m cloudfree train``; in-process it would relaunch
pytest). Checked: one set of checkpoints, logs and config written (rank 0 only), the result on
stdout once, the checkpoint exports to a release that loads, and ``--resume auto`` continues the
DDP run for one more epoch.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from cloudfree.io import write_raster
from cloudfree.radiometry import Radiometry
from tests.fixtures import make_raster

REPO = Path(__file__).resolve().parents[2]
TINY = [
    "trainer.limit_val_batches=1",
    "trainer.log_every_n_steps=1",
    "trainer.enable_model_summary=false",
    "trainer.enable_progress_bar=false",
    "data.patch=32",
    "data.batch_size=2",
    "data.num_workers=0",
    "data.samples_per_epoch=8",
    "data.val_samples=2",
    "model.generator.ngf=4",
    "model.discriminator.ndf=4",
    "trainer.strategy=ddp",
    "trainer.devices=2",
    "trainer.accelerator=cpu",
]


def train(config: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "cloudfree", "train", "--config", str(config), "--out-dir", str(out), *TINY, *extra]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.slow
def test_ddp_two_cpu_processes_rank_zero_writes_and_resumes(tmp_path: Path) -> None:
    scene = make_raster(96, 96, seed=5, radiometry=Radiometry.DN)
    scene_path = write_raster(scene, tmp_path / "clear.tif")
    config = yaml.safe_load((REPO / "configs" / "pix2pix_synthetic_rgbn.yaml").read_text())
    config["data"]["scenes"] = [str(scene_path)]
    config["callbacks"]["gan_health"] = None
    (tmp_path / "ddp.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "run"

    first = train(tmp_path / "ddp.yaml", out, "trainer.max_epochs=1")
    last = out / "checkpoints" / "last.ckpt"
    assert first.stdout.strip() == str(last)  # printed by rank 0 only
    ckpts = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert "last.ckpt" in ckpts and len(ckpts) == 2, ckpts  # last + the epoch's, no rank-1 duplicates
    assert not list(out.rglob(".*tmp*")), "temporary files left behind"
    assert [p.name for p in (out / "logs").iterdir()] == ["version_0"]
    assert yaml.safe_load((out / "config.yaml").read_text())["trainer"]["strategy"] == "ddp"
    step = torch.load(last, weights_only=True)["global_step"]
    # 8 samples over 2 ranks in batches of 2: 2 batches per rank, 2 optimiser steps per GAN batch
    assert step == 4

    release = tmp_path / "release"
    from cloudfree.cli import main

    assert main(["export", str(last), "-o", str(release)]) == 0
    from cloudfree.models.release import load_release

    net, cfg = load_release(release, device="cpu")
    assert cfg.in_bands == ("B02", "B03", "B04", "B08")
    x = torch.zeros(1, net_in_channels(net), 32, 32)
    assert torch.isfinite(net(x)).all()

    train(tmp_path / "ddp.yaml", out, "trainer.max_epochs=2", "--resume", "auto")
    assert torch.load(last, weights_only=True)["global_step"] == 2 * step
    assert [p.name for p in (out / "logs").iterdir()] == ["version_0", "version_1"]


def net_in_channels(net: torch.nn.Module) -> int:
    first = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    return int(first.in_channels)
