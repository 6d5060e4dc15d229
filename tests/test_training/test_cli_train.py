"""`cloudfree train --config FILE key=value ...` on CPU: a short run with overrides writes checkpoints,
logs and the resolved config; bf16-mixed works on CPU; bad configs exit 2 with one line."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from cloudfree.cli import main

REPO = Path(__file__).resolve().parents[2]
TINY = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.log_every_n_steps=1",
    "trainer.enable_model_summary=false",
    "data.patch=32",
    "data.batch_size=2",
    "data.num_workers=0",
    "data.samples_per_epoch=4",
    "data.val_samples=2",
    "model.generator.ngf=4",
    "model.discriminator.ndf=4",
]


def test_train_synthetic_config_two_steps(shared_data: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(REPO)  # config paths are relative to the repository root
    out = tmp_path / "run"
    code = main(["train", "--config", "configs/pix2pix_synthetic_rgbn.yaml", "--out-dir", str(out), *TINY,
                 "optim.lr=1e-3"])  # fmt: skip
    assert code == 0
    last = out / "checkpoints" / "last.ckpt"
    assert capsys.readouterr().out.strip() == str(last)
    ckpt = torch.load(last, weights_only=True)
    assert ckpt["global_step"] == 4  # 2 batches x (discriminator + generator step)
    assert ckpt["hyper_parameters"]["lr"] == 1e-3 and ckpt["hyper_parameters"]["use_mask"] is True
    assert ckpt["hyper_parameters"]["in_bands"] == "rgbn"
    assert list((out / "logs").rglob("events.out.tfevents.*"))
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["data"]["patch"] == 32 and resolved["out_dir"] == str(out)
    # resume 'auto' continues from last.ckpt for one more epoch
    assert main(["train", "--config", "configs/pix2pix_synthetic_rgbn.yaml", "--out-dir", str(out), *TINY,
                 "trainer.max_epochs=2", "--resume", "auto"]) == 0  # fmt: skip
    assert torch.load(last, weights_only=True)["global_step"] == 8


def test_train_bf16_mixed_on_cpu_cyclegan(shared_data: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    out = tmp_path / "bf16"
    code = main(["train", "--config", "configs/cyclegan_s1_to_rgb.yaml", "--out-dir", str(out), *TINY,
                 "trainer.precision=bf16-mixed", "trainer.accelerator=cpu", "model.generator.n_blocks=1"])  # fmt: skip
    assert code == 0
    state = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_bad_configs_exit_2_with_a_reason(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "task: pix2pix\nmodel: {in_bands: rgb}\ndata: {type: chips, store: " + str(tmp_path / "none") + "}\n"
    )
    assert main(["train", "--config", str(bad), f"out_dir={tmp_path / 'o'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cloudfree train: error:") and "none" in err and "\n" not in err
    assert main(["train", "--config", str(bad), "model.in_bands=[B02, BX]"]) == 2
    assert "BX" in capsys.readouterr().err
    bad.write_text("task: pixtopix\n")
    assert main(["train", "--config", str(bad)]) == 2
    assert "unknown task 'pixtopix'" in capsys.readouterr().err
    assert main(["train", "--config", str(bad), "optim.lr"]) == 2
    assert "key.path=value" in capsys.readouterr().err
