"""Learning-rate schedules and stopping in real (tiny) runs: constant-then-linear decay per epoch,
ReduceLROnPlateau from the callbacks section, early stopping, the GAN health check being installed."""

from __future__ import annotations

from pathlib import Path

import pytest
from lightning.pytorch.callbacks import EarlyStopping
from torch.optim.lr_scheduler import LambdaLR, ReduceLROnPlateau

from cloudfree.tasks.callbacks import GANHealthCheck, GANHealthWarning
from cloudfree.training.config import ConfigError
from cloudfree.training.trainer import fit
from tests.test_training.runs import tiny_config, tiny_run


def test_linear_decay_follows_epochs(shared_data: Path, tmp_path: Path) -> None:
    config = tiny_config("pix2pix", tmp_path / "lin", epochs=3, limit_val_batches=0)
    config["optim"] |= {"lr": 1e-3, "n_epochs": 1, "n_epochs_decay": 3}
    seen: list[float] = []
    run = tiny_run(config, shared_data, n_train=2)
    original = run.task.on_train_epoch_start
    run.task.on_train_epoch_start = lambda: (seen.append(run.trainer.optimizers[0].param_groups[0]["lr"]), original())
    fit(run)
    assert seen == pytest.approx([1e-3, 0.75e-3, 0.5e-3])  # 1, then 1 - k/(n_epochs_decay + 1)
    assert all(isinstance(s.scheduler, LambdaLR) for s in run.trainer.lr_scheduler_configs)
    assert any(isinstance(c, GANHealthCheck) for c in run.trainer.callbacks)


def test_plateau_and_early_stopping_from_callbacks(shared_data: Path, tmp_path: Path) -> None:
    config = tiny_config("pix2pix", tmp_path / "plateau", epochs=3)
    # an improvement must exceed 1e9 dB: every epoch after the first is a plateau -> LR halves each time
    plateau = {"monitor": "val/psnr", "mode": "max", "factor": 0.5, "patience": 0, "threshold": 1e9}
    config["callbacks"] |= {
        "reduce_lr_on_plateau": plateau | {"threshold_mode": "abs"},
        "early_stopping": {"monitor": "val/psnr", "mode": "max", "patience": 5},
    }
    run = tiny_run(config, shared_data, n_train=2)
    assert run.task.lr_policy == "plateau"
    fit(run)
    (sched, _) = (c.scheduler for c in run.trainer.lr_scheduler_configs)
    assert isinstance(sched, ReduceLROnPlateau)
    assert sched.best > 0  # stepped with the validation metric (a PSNR in dB)
    assert [opt.param_groups[0]["lr"] for opt in run.trainer.optimizers] == pytest.approx([5e-5, 5e-5])
    stopper = next(c for c in run.trainer.callbacks if isinstance(c, EarlyStopping))
    assert stopper.monitor == "val/psnr" and stopper.patience == 5 and stopper.wait_count >= 0


def test_gan_health_check_reads_the_logged_losses_during_training(shared_data: Path, tmp_path: Path) -> None:
    """Wiring check: with a threshold no real loss can pass, the callback must warn during fit."""
    config = tiny_config("pix2pix", tmp_path / "health", epochs=1, limit_val_batches=0)
    config["callbacks"]["gan_health"] = {"d_loss_threshold": 1e9, "patience": 2}
    run = tiny_run(config, shared_data, n_train=4, n_val=0)
    with pytest.warns(GANHealthWarning, match="discriminator loss .* for 2 checks"):
        fit(run)


def test_plateau_needs_a_task_that_supports_it(tmp_path: Path) -> None:
    from cloudfree.training.trainer import task_kwargs

    config = tiny_config("pix2pix", tmp_path, epochs=1)
    config["callbacks"]["reduce_lr_on_plateau"] = {"monitor": "val/psnr"}

    class NoPolicy:
        def __init__(self, in_bands=None) -> None: ...

    config["model"] = {}
    with pytest.raises(ConfigError, match=r"does not support callbacks\.reduce_lr_on_plateau"):
        task_kwargs(config, NoPolicy)
