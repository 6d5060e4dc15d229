"""``trainable``: fine-tuning one branch added to a trained model, the rest frozen."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from cloudfree.tasks.pix2pix import Pix2PixTask
from cloudfree.training.datamodule import CloudDataModule
from tests.test_training.realdata import SampleList

GENERATOR = {"ngf": 4, "depth": 2, "mask_encoding": "opacity", "thick_residual": False, "ratio_box": 5}


def _task(**kwargs: object) -> Pix2PixTask:
    return Pix2PixTask(in_bands="rgbn", use_mask=True, patch_size=16, lambda_gan=0.0, loss_region="mask",
                       architecture="PriorResidualUNet", generator=GENERATOR, lr=1e-2, **kwargs)  # fmt: skip


def _samples() -> SampleList:
    gen = torch.Generator().manual_seed(0)
    samples = []
    for _ in range(4):
        clear = 0.1 + 0.2 * torch.rand(4, 16, 16, generator=gen)
        labels = torch.zeros(16, 16, dtype=torch.long)
        labels[4:12, 4:12] = 3  # shadow: the see-through pixels the gate acts on
        mask = (labels > 0).float()[None]
        cloudy = torch.where(mask > 0, clear * 0.4, clear)
        samples.append({"cloudy": cloudy, "clear": clear, "mask": mask, "labels": labels})
    return SampleList(samples)


def test_only_the_named_branch_trains() -> None:
    L.seed_everything(0)
    task = _task(trainable=["ratio_gate."])
    before = {k: v.clone() for k, v in task.generator.state_dict().items()}
    (opt,), _ = task.configure_optimizers()
    assert sum(p.numel() for g in opt.param_groups for p in g["params"]) == sum(
        p.numel() for p in task.generator.ratio_gate.parameters()
    )
    trainer = L.Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0)  # fmt: skip
    trainer.fit(task, datamodule=CloudDataModule(_samples(), None, batch_size=2))
    after = task.generator.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"ratio_gate.weight", "ratio_gate.bias"}


def test_trainable_names_must_match_a_parameter() -> None:
    with pytest.raises(ValueError, match="no generator parameter starts with"):
        _task(trainable=["no_such_branch."])
    with pytest.raises(ValueError, match="trainable"):
        _task(trainable=[])
    assert all(p.requires_grad for p in _task().generator.parameters())


def test_last_checkpoint_is_the_latest_epoch_even_when_an_earlier_one_ranks_best(tmp_path) -> None:
    """Lightning's ``save_last`` alone wrote last.ckpt only when the ranked checkpoint was saved."""
    from cloudfree.training.config import DEFAULTS, deep_merge, validate
    from cloudfree.training.trainer import build_run, fit

    config = deep_merge(DEFAULTS, {
        "task": "pix2pix", "seed": 3, "out_dir": str(tmp_path),
        "model": {"in_bands": "rgbn", "use_mask": True, "patch_size": 16, "lambda_gan": 0.0, "loss_region": "mask",
                  "architecture": "PriorResidualUNet", "generator": GENERATOR},
        "optim": {"lr": 1e-2, "n_epochs": 3, "n_epochs_decay": 1},
        # ranked by the training loss's *maximum*: the first epoch ranks best, the later ones do not
        "callbacks": {"checkpoint": {"monitor": "train/loss_l1", "mode": "max", "save_top_k": 1}},
        "trainer": {"max_epochs": 3, "enable_progress_bar": False, "enable_model_summary": False},
    })  # fmt: skip
    validate(config)
    run = build_run(config, datamodule=CloudDataModule(_samples(), None, batch_size=2, seed=3))
    last = fit(run)
    state = torch.load(last, map_location="cpu", weights_only=True)
    assert state["epoch"] == 2 and state["global_step"] == run.trainer.global_step == 6
