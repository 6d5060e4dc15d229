"""Train -> export -> reload gives identical outputs; `cloudfree export`; refusing bad checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from cloudfree.cli import main
from cloudfree.models.release import load_release
from cloudfree.normalization import Normalization
from cloudfree.training.export import CheckpointError, export_release, load_task
from cloudfree.training.trainer import fit
from tests.test_training.realdata import batch_of, real_samples
from tests.test_training.runs import tiny_config, tiny_run


@pytest.mark.parametrize("task", ["pix2pix", "cyclegan"])
def test_train_export_reload_same_output(task: str, shared_data: Path, tmp_path: Path) -> None:
    run = tiny_run(tiny_config(task, tmp_path / "run", epochs=1), shared_data)
    last = fit(run)
    out, config = export_release(last, tmp_path / "release", name="tiny")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
    model, loaded = load_release(out)
    assert loaded == config and loaded.name == "tiny" and loaded.extra["task"] == task
    batch = batch_of(real_samples(shared_data, run.task.data_bands, 2))
    trained = run.task.eval()
    x = trained.build_input(batch)
    with torch.no_grad():
        expected = trained.predictor()(x)
        got = model(x)
    assert torch.equal(got, expected)
    assert got.shape == (2, len(loaded.out_bands), 32, 32)
    # the checkpoint rebuilds the same task too (weights-only load)
    with torch.no_grad():
        assert torch.equal(load_task(last).predictor()(x), expected)
    # what a user of the release needs to feed it and read its output
    assert loaded.norm == Normalization.fixed(run.task.data_bands)
    if task == "cyclegan":
        assert loaded.in_bands == () and loaded.sar_bands == ("VV", "VH") and loaded.architecture == "ResnetGenerator"
    else:
        assert loaded.uses_mask and loaded.architecture == "UNetGenerator"


def test_cli_export_and_bad_checkpoints(shared_data: Path, tmp_path: Path, capsys) -> None:
    last = fit(tiny_run(tiny_config("pix2pix", tmp_path / "run", epochs=1), shared_data, n_train=2))
    assert main(["export", str(last), "-o", str(tmp_path / "rel"), "--name", "p2p"]) == 0
    assert "UNetGenerator" in capsys.readouterr().out
    raw = json.loads((tmp_path / "rel" / "config.json").read_text())
    assert raw["name"] == "p2p" and raw["in_bands"] == ["B02", "B03", "B04", "B08"]
    model, _ = load_release(tmp_path / "rel")
    assert model.in_channels == 7  # 4 optical + VV, VH + mask

    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint")
    assert main(["export", str(junk), "-o", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert "junk.ckpt" in err and "not a cloudfree checkpoint" in err and "Unsupported operand" in err
    assert not (tmp_path / "bad").exists()

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "cloudfree_task": "pix2pix", "x": Evil()}, evil)
    with pytest.raises(CheckpointError, match="not a cloudfree checkpoint, or an untrusted one"):
        load_task(evil)
    assert main(["export", str(tmp_path / "missing.ckpt"), "-o", str(tmp_path / "bad")]) == 2
    assert "missing.ckpt: checkpoint does not exist" in capsys.readouterr().err
