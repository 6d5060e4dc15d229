"""Exact resume: a run stopped after k steps (checkpoint at the epoch end) and resumed from its
checkpoint ends with the same weights as an uninterrupted run (deterministic settings)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cloudfree.training.trainer import fit, resolve_resume
from tests.test_training.runs import tiny_config, tiny_run


@pytest.mark.parametrize("task", ["pix2pix", "cyclegan"])
def test_killed_and_resumed_run_matches_uninterrupted(task: str, shared_data: Path, tmp_path: Path) -> None:
    full = tiny_run(tiny_config(task, tmp_path / "full", epochs=2, deterministic=True), shared_data)
    fit(full)
    part = tiny_run(tiny_config(task, tmp_path / "part", epochs=1, deterministic=True), shared_data)
    last = fit(part)  # "killed" after epoch 1 = 2 batches (k = 4 optimiser steps)
    assert part.trainer.global_step == 4 and last.is_file()
    # the checkpoint holds only tensors and plain data: it loads with weights_only=True
    ckpt = torch.load(last, weights_only=True)
    assert ckpt["cloudfree_task"] == task and ckpt["epoch"] == 0
    resumed = tiny_run(tiny_config(task, tmp_path / "part", epochs=2, deterministic=True), shared_data)
    fit(resumed, resume="auto")
    assert resumed.trainer.global_step == full.trainer.global_step == 8
    a, b = full.task.state_dict(), resumed.task.state_dict()
    assert a.keys() == b.keys()
    worst = max((a[k].double() - b[k].double()).abs().max().item() for k in a if a[k].numel())
    assert worst <= 1e-6
    # and the run did train: weights moved away from the initialisation
    init = tiny_run(tiny_config(task, tmp_path / "init", epochs=1), shared_data).task.state_dict()
    assert any(not torch.equal(init[k], a[k]) for k in a if k.endswith("weight"))


def test_resume_paths(tmp_path: Path) -> None:
    assert resolve_resume(None, tmp_path) is None
    assert resolve_resume("auto", tmp_path) is None  # nothing yet: a fresh run
    with pytest.raises(FileNotFoundError, match=r"nope\.ckpt"):
        resolve_resume(str(tmp_path / "nope.ckpt"), tmp_path)
