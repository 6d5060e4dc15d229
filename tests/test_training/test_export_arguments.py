"""export_release(arguments=...): architecture arguments that do not change the weights can be set
at export (the default models' ``thick_residual``); ones that do are refused."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch

from cloudfree.models.release import load_release
from cloudfree.tasks.pix2pix import Pix2PixTask
from cloudfree.training.datamodule import CloudDataModule
from cloudfree.training.export import export_release
from tests.test_training.realdata import SampleList


def _checkpoint(tmp_path: Path) -> Path:
    L.seed_everything(0)
    generator = {"ngf": 4, "depth": 2, "mask_encoding": "opacity"}
    task = Pix2PixTask(in_bands="rgbn", use_mask=True, patch_size=16, lambda_gan=0.0, loss_region="mask",
                       architecture="PriorResidualUNet", generator=generator)  # fmt: skip
    gen = torch.Generator().manual_seed(0)
    samples = []
    for _ in range(2):
        clear = 0.1 + 0.2 * torch.rand(4, 16, 16, generator=gen)
        mask = torch.zeros(1, 16, 16)
        mask[:, 4:12, 4:12] = 1.0
        cloudy = torch.where(mask > 0, 0.7, clear)
        samples.append({"cloudy": cloudy, "clear": clear, "mask": mask, "labels": mask[0].long()})
    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0)  # fmt: skip
    trainer.fit(task, datamodule=CloudDataModule(SampleList(samples), None, batch_size=2))
    path = tmp_path / "tiny.ckpt"
    trainer.save_checkpoint(path)
    return path


def test_export_sets_a_weight_free_argument_and_refuses_one_that_changes_the_weights(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path)
    out, config = export_release(ckpt, tmp_path / "gated", arguments={"thick_residual": False})
    assert config.arguments["thick_residual"] is False and config.arguments["ngf"] == 4
    model, loaded = load_release(out)
    assert loaded.arguments["thick_residual"] is False and model.thick_residual is False
    plain, _ = load_release(export_release(ckpt, tmp_path / "plain")[0])
    assert plain.thick_residual is True
    for a, b in zip(model.state_dict().values(), plain.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(RuntimeError):  # more filters: the checkpoint's weights do not fit
        export_release(ckpt, tmp_path / "wider", arguments={"ngf": 8})
