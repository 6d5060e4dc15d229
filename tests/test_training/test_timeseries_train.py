"""`cloudfree train --config configs/multitemporal_s1s2.yaml` runs on the real Sen1Floods11 sequence
(data.type timeseries), and `cloudfree export` of its checkpoint loads with load_release."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from cloudfree.cli import main
from cloudfree.models.release import load_release
from cloudfree.training.config import load_config
from cloudfree.training.data_config import build_datasets
from cloudfree.training.export import load_task

REPO = Path(__file__).resolve().parents[2]
CONFIG = "configs/multitemporal_s1s2.yaml"
TINY = [
    "trainer.max_steps=2",
    "trainer.limit_val_batches=1",
    "trainer.log_every_n_steps=1",
    "trainer.enable_model_summary=false",
    "trainer.accelerator=cpu",
    "data.patch=32",
    "data.batch_size=2",
    "data.num_workers=0",
    "data.samples_per_epoch=4",
    "data.val_samples=2",
    "model.features=8",
    "model.num_blocks=1",
]


def test_multitemporal_config_trains_exports_and_reloads(
    shared_data: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(REPO)  # the config's ../shared/data paths are relative to the repository root
    out = tmp_path / "run"
    assert main(["train", "--config", CONFIG, f"out_dir={out}", *TINY]) == 0
    last = out / "checkpoints" / "last.ckpt"
    assert capsys.readouterr().out.strip() == str(last)
    ckpt = torch.load(last, weights_only=True)
    assert ckpt["global_step"] == 2 and ckpt["cloudfree_task"] == "multitemporal"
    assert ckpt["hyper_parameters"]["input_order"] == ["prev_optical", "prev_sar", "sar"]
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["data"]["type"] == "timeseries" and resolved["data"]["patch"] == 32

    release = tmp_path / "release"
    assert main(["export", str(last), "-o", str(release)]) == 0
    model, config = load_release(release)
    assert config.architecture == "multitemporalfusion" and len(config.in_bands) == 13
    assert config.sar_bands == ("VV", "VH") and config.extra["input_order"] == ["prev_optical", "prev_sar", "sar"]

    # the released network on a real batch of the config's data gives what the trained task gives
    cfg = load_config(CONFIG, TINY)
    task = load_task(last)
    train, _ = build_datasets(cfg["data"], task.data_bands, seed=cfg["seed"])
    batch = torch.utils.data.default_collate([train[0], train[1]])
    x = task.build_input(batch)
    assert x.shape == (2, 13 + 2 + 2, 32, 32)
    with torch.no_grad():
        got = model(x)
        assert torch.equal(got, task.predictor()(x))
    assert got.shape == (2, 13, 32, 32) and torch.isfinite(got).all()


def test_bad_sequence_exits_2_with_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    missing = tmp_path / "nowhere.tif"
    bad = [f"data.sequences=[{{prev_optical: {missing}, prev_sar: a.tif, sar: b.tif, clear: {missing}}}]"]
    assert main(["train", "--config", CONFIG, f"out_dir={tmp_path / 'o'}", *TINY, *bad]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cloudfree train: error:") and "nowhere.tif" in err and "\n" not in err
    assert main(["train", "--config", CONFIG, f"out_dir={tmp_path / 'o'}", *TINY, "data.sequences=null"]) == 2
    assert "needs data.root" in capsys.readouterr().err
    assert not (tmp_path / "o" / "checkpoints").exists()
