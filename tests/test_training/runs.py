"""Tiny training runs for the training tests: configs with small widths and in-memory real samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cloudfree.tasks import task_class
from cloudfree.training.config import DEFAULTS, deep_merge, validate
from cloudfree.training.datamodule import CloudDataModule
from cloudfree.training.trainer import TrainingRun, build_run, task_kwargs
from tests.test_training.realdata import real_samples

QUIET = {"enable_progress_bar": False, "enable_model_summary": False, "log_every_n_steps": 1}
MODELS: dict[str, dict[str, Any]] = {
    "pix2pix": {"in_bands": ["B02", "B03", "B04", "B08"], "use_mask": True, "sar_bands": ["VV", "VH"],
                "generator": {"ngf": 4}, "discriminator": {"ndf": 4}},
    "cyclegan": {"in_bands": [], "sar_bands": ["VV", "VH"], "out_bands": ["B04", "B03", "B02"], "pool_size": 3,
                 "generator": {"ngf": 4, "n_blocks": 1}, "discriminator": {"ndf": 4}},
}  # fmt: skip


def tiny_config(task: str, out_dir: Path, epochs: int, **trainer: Any) -> dict[str, Any]:
    config = deep_merge(
        DEFAULTS,
        {
            "task": task,
            "seed": 3,
            "out_dir": str(out_dir),
            "model": {**MODELS[task], "patch_size": 32},
            "optim": {"n_epochs": 1, "n_epochs_decay": 2},
            "trainer": {"max_epochs": epochs, **QUIET, **trainer},
        },
    )
    validate(config)
    return config


def tiny_run(config: dict[str, Any], shared: Path, n_train: int = 4, n_val: int = 2) -> TrainingRun:
    cls = task_class(config["task"])
    probe = cls(**task_kwargs(config, cls))
    train = real_samples(shared, probe.data_bands, n_train)
    val = real_samples(shared, probe.data_bands, n_val) if n_val else None
    return build_run(config, datamodule=CloudDataModule(train, val, batch_size=2, seed=config["seed"]))
