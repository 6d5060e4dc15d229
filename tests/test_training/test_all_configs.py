"""Typed configuration end to end (issue 12 item 5): every shipped config's sections are checked
against what consumes them, unknown keys are refused with the valid ones, and one tiny CPU fit per
task kind runs from a shipped config on generated rasters (no ../shared needed)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from cloudfree.cli import main
from cloudfree.io import write_mask, write_raster
from cloudfree.radiometry import Radiometry
from cloudfree.training.config import ConfigError, load_config
from cloudfree.training.trainer import check_config
from tests.fixtures import make_raster

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_config_passes_the_key_checks(path: Path) -> None:
    check_config(load_config(path))


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("data.root=chips/", r"unknown data key\(s\) \['root'\] for data.type 'chips' \(a chip store is data.store\)"),
        ("data.stor=chips/", r"stor -> store\?.*valid keys: \['augment', 'bands'"),
        ("trainer.max_epoch=3", r"max_epoch -> max_epochs.*lightning.Trainer takes"),
        ("data.augment.flip=true", r"unknown data.augment key\(s\) \['flip'\]; PairedAugment takes"),
        ("callbacks.checkpoint.every_n_epoch=2", r"ModelCheckpoint takes .*'every_n_epochs'"),
        ("callbacks.early_stop={patience: 2}", r"unknown callbacks key\(s\) \['early_stop'\]"),
        ("model.lamda_l1=10", r"no argument\(s\) \['lamda_l1'\]"),
        ("trainer.callbacks=[]", r"trainer.callbacks is set by cloudfree"),
    ],
)
def test_unknown_keys_are_refused_with_the_valid_ones(override: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        check_config(load_config(REPO / "configs/pix2pix_sen12mscr.yaml", [override]))


def test_cli_refuses_unknown_keys_before_reading_data(tmp_path: Path, capsys) -> None:
    argv = ["train", "--config", str(REPO / "configs/pix2pix_sen12mscr.yaml"), f"out_dir={tmp_path / 'o'}"]
    assert main([*argv, "data.root=chips/"]) == 2  # the README's example, which did nothing before
    err = capsys.readouterr().err.strip()
    assert err.startswith("cloudfree train: error: unknown data key(s) ['root']") and "\n" not in err
    assert "'store'" in err
    assert main([*argv, "model.generator.ngff=4", "data.store=" + str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "ngff" in err and "ngf" in err and "\n" not in err
    assert not (tmp_path / "o").exists()


# -- one tiny fit per task kind ----------------------------------------------------------------------


def _sar(seed: int):
    r = make_raster(48, 48, bands=("B02", "B03"), seed=seed)
    data = (-25.0 + 20.0 * (r.data / 0.4)).astype(np.float32)
    return replace(r, data=data, bands=("VV", "VH"), radiometry=Radiometry.SAR_DB)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    """Generated 48x48 rasters in the real layouts: RGBN reflectance, S1 dB, a cloud mask."""
    d = tmp_path_factory.mktemp("data")
    out = {
        "clear": write_raster(make_raster(48, 48, seed=1), d / "clear.tif"),
        "cloudy": write_raster(make_raster(48, 48, seed=2), d / "cloudy.tif"),
        "prev": write_raster(make_raster(48, 48, seed=3), d / "prev.tif"),
        "sar": write_raster(_sar(4), d / "sar.tif"),
        "prev_sar": write_raster(_sar(5), d / "prev_sar.tif"),
    }
    mask = np.zeros((48, 48), np.uint8)
    mask[10:30, 5:25] = 1
    out["mask"] = write_mask(mask, make_raster(48, 48), d / "mask.tif")
    return {k: str(v) for k, v in out.items()}


COMMON = [
    "trainer.max_steps=2",
    "trainer.max_epochs=1",
    "trainer.limit_val_batches=1",
    "trainer.log_every_n_steps=1",
    "trainer.accelerator=cpu",
    "trainer.devices=1",
    "trainer.precision=32",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "callbacks.early_stopping=null",
]
SMALL = {"patch": 32, "batch_size": 2, "num_workers": 0, "samples_per_epoch": 4, "val_samples": 2}


def _kinds(f: dict[str, str]) -> dict[str, tuple[str, dict, list[str]]]:
    """task kind -> (shipped config, data section on generated files, tiny model overrides)."""
    synthetic = {"type": "synthetic", "bands": "rgbn", "scenes": [f["clear"]], **SMALL}
    return {
        "pix2pix": ("pix2pix_synthetic_rgbn.yaml", synthetic, ["model.generator.ngf=4", "model.discriminator.ndf=4"]),
        "cyclegan": (
            "cyclegan_s1_to_rgb.yaml",
            {"type": "single_pair", "bands": "rgb", "clear": f["clear"], "sar": f["sar"], **SMALL},
            ["model.generator.ngf=4", "model.generator.n_blocks=1", "model.discriminator.ndf=4", "model.pool_size=0"],
        ),
        "diffusion": (
            "diffusion_rgbn.yaml",
            synthetic,
            [
                "model.base_channels=8",
                "model.channel_mults=[1, 2]",
                "model.num_res_blocks=1",
                "model.groups=4",
                "model.attention=false",
                "model.val_steps=2",
            ],
        ),
        "fusion": (
            "dsen2cr_sen12mscr.yaml",
            {"type": "single_pair", "bands": "rgbn", **{k: f[k] for k in ("cloudy", "clear", "sar", "mask")}, **SMALL},
            ["model.in_bands=rgbn", "model.feature_size=8", "model.num_layers=1"],
        ),
        "multitemporal": (
            "multitemporal_s1s2.yaml",
            {
                "type": "timeseries",
                "bands": "rgbn",
                "sequences": [
                    {"prev_optical": f["prev"], "prev_sar": f["prev_sar"], "sar": f["sar"], "clear": f["clear"]}
                ],
                **SMALL,
            },
            ["model.in_bands=rgbn", "model.features=8", "model.num_blocks=1"],
        ),
        "segmentation": ("mask_unet_rgbn.yaml", synthetic, ["model.encoder_depth=3"]),
    }


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["pix2pix", "cyclegan", "diffusion", "fusion", "multitemporal", "segmentation"])
def test_tiny_fit_per_task_kind(kind: str, files: dict[str, str], tmp_path: Path) -> None:
    config, data, model = _kinds(files)[kind]
    out = tmp_path / "run"
    argv = ["train", "--config", str(REPO / "configs" / config), f"out_dir={out}", f"data={json.dumps(data)}"]
    assert main([*argv, *COMMON, *model]) == 0
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] >= 1 and ckpt["cloudfree_task"] == load_config(REPO / "configs" / config)["task"]
