"""Build the task, data and Lightning ``Trainer`` from a config, and run (or resume) training.

What the config's sections become (see :mod:`cloudfree.training.config`):

* ``task`` + ``model`` + ``optim`` -> the task class from the closed registry, with ``model`` and
  ``optim`` as keyword arguments (unknown keys are refused, naming them); ``model.in_bands``
  defaults to ``data.bands`` and ``patch_size`` to ``data.patch``;
* ``data`` -> :class:`~cloudfree.training.datamodule.CloudDataModule`;
* ``trainer`` -> ``lightning.Trainer`` arguments, passed through (precision such as
  ``bf16-mixed``, accelerator, devices, strategy such as ``ddp``, ``deterministic`` ...); for the
  GAN tasks (manual optimisation) ``ddp`` becomes ``ddp_find_unused_parameters_true``, which their
  separate generator and discriminator updates need. ``max_steps`` counts optimiser steps, so a
  GAN batch (discriminator + generator update) counts 2;
* ``callbacks`` -> ModelCheckpoint every epoch into ``out_dir/checkpoints``: ``last.ckpt`` (the
  latest epoch's state, always) and the best ``save_top_k`` by ``val/psnr`` when there is
  validation (else the latest), EarlyStopping,
  ReduceLROnPlateau (given to the task as ``lr_policy: plateau``), the GAN health check, a learning
  rate monitor, and the RNG-state and dataset-epoch callbacks that make resuming exact;
* ``seed`` -> ``L.seed_everything(seed, workers=True)`` before anything random is drawn;
* TensorBoard logs in ``out_dir/logs``; the resolved config is saved as ``out_dir/config.yaml``.

Resuming (``resume="auto"`` or a path) hands the checkpoint to Lightning (``ckpt_path``) with
``weights_only=True``: checkpoints hold only tensors and plain data.
"""

from __future__ import annotations

import contextlib
import difflib
import inspect
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import TensorBoardLogger

from cloudfree.io.atomic import atomic_path
from cloudfree.tasks import task_class
from cloudfree.tasks.callbacks import GANHealthCheck, RNGStateCallback
from cloudfree.training.config import ConfigError, dump_config
from cloudfree.training.datamodule import CloudDataModule, EpochCallback
from cloudfree.training.export import CheckpointError, read_checkpoint

CHECKPOINT_DIR = "checkpoints"
DDP_NAMES = {"ddp": "ddp_find_unused_parameters_true", "ddp_spawn": "ddp_spawn_find_unused_parameters_true"}
LAST = "last.ckpt"


class LatestCheckpoint(ModelCheckpoint):
    """``last.ckpt``: the state after every epoch, whatever the ranked checkpoint did.

    Lightning's ``save_last`` writes last.ckpt only when the ranked checkpoint is saved (Lightning
    >= 2.2), so with a monitor it held the best epoch, and a resumed or exported "last" lost the
    epochs after it. Its own class gives it a state key of its own beside the ranked one.
    """

    def __init__(self, dirpath: str) -> None:
        super().__init__(
            dirpath=dirpath, filename=LAST.removesuffix(".ckpt"), monitor=None, save_top_k=1, every_n_epochs=1,
            save_on_train_epoch_end=True, enable_version_counter=False,
        )  # fmt: skip

    @property
    def state_key(self) -> str:
        return self._generate_state_key(filename=self.filename)


class StderrProgressBar(TQDMProgressBar):
    """Lightning's tqdm progress bars, written to stderr (stdout stays for results)."""

    def _stderr(self, make: Any) -> Any:
        with contextlib.redirect_stdout(sys.stderr):
            return make()

    def init_train_tqdm(self) -> Any:
        return self._stderr(super().init_train_tqdm)

    def init_validation_tqdm(self) -> Any:
        return self._stderr(super().init_validation_tqdm)

    def init_sanity_tqdm(self) -> Any:
        return self._stderr(super().init_sanity_tqdm)


def task_kwargs(config: Mapping[str, Any], cls: type) -> dict[str, Any]:
    """Keyword arguments of the task class from ``model`` + ``optim`` (+ defaults from ``data``)."""
    kwargs = {**dict(config["model"]), **dict(config["optim"])}
    params = inspect.signature(cls).parameters
    data = config["data"]
    if "in_bands" not in kwargs and data.get("bands") and "in_bands" in params:
        kwargs["in_bands"] = data["bands"]
    if "patch_size" in params and "patch_size" not in kwargs and data.get("patch"):
        kwargs["patch_size"] = int(data["patch"])
    plateau = config["callbacks"].get("reduce_lr_on_plateau")
    if plateau:
        if "lr_policy" not in params:
            raise ConfigError(f"task {config['task']!r} does not support callbacks.reduce_lr_on_plateau")
        kwargs["lr_policy"], kwargs["plateau"] = "plateau", dict(plateau)
    unknown = sorted(k for k in kwargs if k not in params)
    if unknown:
        raise ConfigError(f"task {config['task']!r} has no argument(s) {unknown}; it takes {sorted(params)}")
    return kwargs


CALLBACK_KEYS = ("checkpoint", "early_stopping", "reduce_lr_on_plateau", "gan_health")
PLATEAU_KEYS = ("monitor", "mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lr", "eps")


def check_callbacks(cb: Mapping[str, Any]) -> None:
    """Refuse unknown ``callbacks.`` sections and arguments their classes do not take."""
    unknown = sorted(k for k in cb if k not in CALLBACK_KEYS)
    if unknown:
        raise ConfigError(f"unknown callbacks key(s) {unknown}; valid: {list(CALLBACK_KEYS)}")
    for key, cls, fixed in (
        ("checkpoint", ModelCheckpoint, {"dirpath", "save_last", "save_on_train_epoch_end"}),
        ("early_stopping", EarlyStopping, set()),
        ("gan_health", GANHealthCheck, set()),
    ):
        spec = cb.get(key)
        if not isinstance(spec, Mapping):
            continue
        params = inspect.signature(cls).parameters
        accepted = sorted(n for n, p in params.items() if p.kind is not p.VAR_KEYWORD and n not in fixed)
        bad = sorted(k for k in spec if k not in accepted)
        if bad:
            raise ConfigError(f"unknown callbacks.{key} key(s) {bad}; {cls.__name__} takes {accepted}")
    plateau = cb.get("reduce_lr_on_plateau")
    if isinstance(plateau, Mapping) and (bad := sorted(k for k in plateau if k not in PLATEAU_KEYS)):
        raise ConfigError(f"unknown callbacks.reduce_lr_on_plateau key(s) {bad}; valid: {list(PLATEAU_KEYS)}")


def check_config(config: Mapping[str, Any], data: bool = True) -> None:
    """Every section's keys against what consumes it, before any data is read or Lightning is built.

    ``model``/``optim`` against the task's signature (nested architecture arguments when the task
    builds its networks), ``data`` against its type's keys, ``trainer`` against ``lightning.Trainer``,
    ``callbacks`` against the callback classes (``data=False``: the caller brings its own datasets).
    Raises :class:`ConfigError` listing the valid keys.
    """
    from cloudfree.training.data_config import check_data_config

    cls = task_class(config["task"])
    check_trainer_args(config["trainer"])
    check_callbacks(config["callbacks"])
    if data:
        check_data_config(config["data"])
    task_kwargs(config, cls)


def build_callbacks(config: Mapping[str, Any], task: L.LightningModule, has_val: bool, out_dir: Path) -> list:
    """Checkpointing, resume support, LR monitor, progress bar, early stopping and GAN health check."""
    cb = config["callbacks"]
    ckpt_args: dict[str, Any] = {"save_top_k": 1}
    if has_val:
        ckpt_args |= {"monitor": "val/psnr", "mode": "max", "save_top_k": 3}
    ckpt_args |= dict(cb.get("checkpoint") or {})
    if not has_val and str(ckpt_args.get("monitor", "")).startswith("val/"):
        del ckpt_args["monitor"]  # no validation: nothing to rank by, keep the latest
        ckpt_args.pop("mode", None)
        ckpt_args["save_top_k"] = 1
    ckpt_args |= {"dirpath": str(out_dir / CHECKPOINT_DIR), "save_last": False, "save_on_train_epoch_end": True}
    ckpt_args.setdefault("every_n_epochs", 1)
    ckpt_args.setdefault("filename", "epoch{epoch:03d}-step{step:07d}")
    ckpt_args.setdefault("auto_insert_metric_name", False)
    callbacks: list[L.Callback] = [
        ModelCheckpoint(**ckpt_args),
        LatestCheckpoint(ckpt_args["dirpath"]),
        RNGStateCallback(),
        EpochCallback(),
        LearningRateMonitor(logging_interval="epoch"),
    ]
    if config["trainer"].get("enable_progress_bar", True):
        callbacks.append(StderrProgressBar())
    if cb.get("early_stopping"):
        es = {"monitor": "val/psnr", "mode": "max", "patience": 10, **dict(cb["early_stopping"])}
        callbacks.append(EarlyStopping(**es))
    gan = cb.get("gan_health", {})
    if gan is not False and gan is not None and not getattr(task, "automatic_optimization", True):
        callbacks.append(GANHealthCheck(**dict(gan or {})))
    return callbacks


@dataclass
class TrainingRun:
    """Everything a run is made of (returned so tests and notebooks can inspect it)."""

    config: dict[str, Any]
    task: L.LightningModule
    datamodule: CloudDataModule
    trainer: L.Trainer
    out_dir: Path


def build_run(config: Mapping[str, Any], datamodule: CloudDataModule | None = None) -> TrainingRun:
    """Seed, build task, data, callbacks, logger and Trainer from a validated config."""
    config = dict(config)
    check_config(config, data=datamodule is None)
    L.seed_everything(int(config["seed"]), workers=True)
    cls = task_class(config["task"])
    task = cls(**task_kwargs(config, cls))
    if datamodule is None:
        datamodule = CloudDataModule.from_config(config["data"], task, int(config["seed"]))
    out_dir = Path(config["out_dir"])
    trainer_args = {"num_sanity_val_steps": 0, **dict(config["trainer"])}
    if trainer_args.get("strategy") in DDP_NAMES and not task.automatic_optimization:
        # a GAN step backpropagates through the generator and the discriminator separately, so each
        # backward leaves some parameters unused: DDP must be told to expect that
        trainer_args["strategy"] = DDP_NAMES[trainer_args["strategy"]]
    trainer = L.Trainer(
        **trainer_args,
        default_root_dir=str(out_dir),
        logger=TensorBoardLogger(save_dir=str(out_dir), name="logs"),
        callbacks=build_callbacks(config, task, datamodule.val_set is not None, out_dir),
    )
    return TrainingRun(config, task, datamodule, trainer, out_dir)


def resolve_resume(resume: str | None, out_dir: Path, task: str | None = None) -> str | None:
    """``None`` (fresh run), ``"auto"`` (``out_dir/checkpoints/last.ckpt`` if present) or a checkpoint path.

    The checkpoint is read once with ``weights_only=True`` before Lightning sees it, so a file that
    holds code, is not a cloudfree checkpoint, or (with ``task``) belongs to another task is refused
    with a :class:`~cloudfree.training.export.CheckpointError` naming it.
    """
    if not resume:
        return None
    if resume == "auto":
        last = out_dir / CHECKPOINT_DIR / LAST
        if not last.is_file():
            return None
        path = last
    else:
        path = Path(resume)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: checkpoint to resume from does not exist")
    ckpt = read_checkpoint(path)
    if task is not None and ckpt["cloudfree_task"] != task:
        raise CheckpointError(f"{path}: checkpoint of task {ckpt['cloudfree_task']!r}, the config trains {task!r}")
    return str(path)


def check_trainer_args(args: Mapping[str, Any]) -> None:
    """Refuse ``trainer.`` keys that ``lightning.Trainer`` does not take, before Lightning sees them."""
    params = inspect.signature(L.Trainer.__init__).parameters
    accepted = sorted(n for n, p in params.items() if n != "self" and p.kind is not p.VAR_KEYWORD)
    for reserved in ("callbacks", "logger", "default_root_dir"):
        if reserved in args:
            raise ConfigError(f"trainer.{reserved} is set by cloudfree; use the callbacks section / out_dir")
    unknown = sorted(k for k in args if k not in accepted)
    if unknown:
        hints = [f"{k} -> {m[0]}" for k in unknown if (m := difflib.get_close_matches(k, accepted, n=1))]
        hint = f" (did you mean {', '.join(hints)}?)" if hints else ""
        raise ConfigError(f"unknown trainer key(s) {unknown}{hint}; lightning.Trainer takes {accepted}")


def fit(run: TrainingRun, resume: str | None = None) -> Path:
    """Train (or resume) and return the path of ``last.ckpt``."""
    ckpt = resolve_resume(resume, run.out_dir, run.config.get("task"))
    run.out_dir.mkdir(parents=True, exist_ok=True)
    if run.trainer.is_global_zero:
        with atomic_path(run.out_dir / "config.yaml") as tmp:
            tmp.write_text(dump_config(run.config))
    run.trainer.fit(run.task, datamodule=run.datamodule, ckpt_path=ckpt, weights_only=True)
    return run.out_dir / CHECKPOINT_DIR / LAST


def train(config: Mapping[str, Any], resume: str | None = None) -> Path:
    """Build and run a config; the path of the last checkpoint."""
    return fit(build_run(config), resume)
