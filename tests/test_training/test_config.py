"""Config loading: YAML through safe_load, dotted overrides parsed as YAML, specific errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudfree.tasks import task_class
from cloudfree.training.config import ConfigError, apply_overrides, load_config, parse_override
from cloudfree.training.trainer import task_kwargs

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))
OURS = [p for p in CONFIGS if p.name.startswith(("pix2pix_", "cyclegan_"))]


def test_overrides_are_parsed_as_yaml() -> None:
    assert parse_override("optim.lr=1e-4") == (["optim", "lr"], 1e-4)
    assert parse_override("data.bands=[B02, B03]") == (["data", "bands"], ["B02", "B03"])
    assert parse_override("callbacks.early_stopping=null") == (["callbacks", "early_stopping"], None)
    assert parse_override("trainer.precision=bf16-mixed") == (["trainer", "precision"], "bf16-mixed")
    assert parse_override("optim.lr=2E+3") == (["optim", "lr"], 2000.0)
    assert parse_override("name=e5") == (["name"], "e5")
    cfg = apply_overrides({"a": {"b": 1}}, ["a.c.d=2", "a.b=3"])
    assert cfg == {"a": {"b": 3, "c": {"d": 2}}}
    for bad in ("novalue", "=3", "a..b=1"):
        with pytest.raises(ConfigError):
            parse_override(bad)
    with pytest.raises(ConfigError, match=r"a\.b is not a section"):
        apply_overrides({"a": {"b": 1}}, ["a.b.c=2"])


def test_load_merges_defaults_and_refuses_unknown_sections(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("task: pix2pix\nmodel: {in_bands: rgb}\noptim: {lr: 2e-4}\n")
    cfg = load_config(path, ["trainer.max_steps=2", "seed=7"])
    assert cfg["trainer"]["max_steps"] == 2 and cfg["seed"] == 7 and cfg["data"]["batch_size"] == 1
    assert cfg["optim"]["lr"] == 2e-4
    path.write_text("task: pix2pix\nmodle: {}\n")
    with pytest.raises(ConfigError, match=r"unknown config section\(s\) \['modle'\]"):
        load_config(path)
    path.write_text("model: {}\n")
    with pytest.raises(ConfigError, match="no 'task'"):
        load_config(path)
    with pytest.raises(FileNotFoundError, match=r"missing\.yaml"):
        load_config(tmp_path / "missing.yaml")


def test_yaml_is_read_safely(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text("task: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


def test_unknown_task_arguments_are_named(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("task: pix2pix\nmodel: {in_bands: rgb, lambda_ll: 5}\n")
    cfg = load_config(path)
    with pytest.raises(ConfigError, match=r"no argument\(s\) \['lambda_ll'\]"):
        task_kwargs(cfg, task_class("pix2pix"))


@pytest.mark.parametrize("path", OURS, ids=[p.name for p in OURS])
def test_shipped_configs_build_their_task(path: Path) -> None:
    """Every shipped Pix2Pix / CycleGAN config loads and its task builds (tiny widths for speed)."""
    cfg = load_config(path, ["model.generator.ngf=2", "model.discriminator.ndf=2"])
    cls = task_class(cfg["task"])
    task = cls(**task_kwargs(cfg, cls))
    assert task.task_name == cfg["task"]
    assert task.data_bands  # bands resolved through the catalogue


@pytest.mark.parametrize("path", OURS, ids=[p.name for p in OURS])
def test_shipped_config_scenes_exist(shared_data: Path, path: Path) -> None:
    """The scenes a shipped config names are in ../shared/data (the real-data tier)."""
    cfg = load_config(path)
    if cfg["data"]["type"] != "chips":  # chip stores are made by `cloudfree prepare`; scenes must exist
        for key in ("cloudy", "clear", "sar", "mask"):
            if cfg["data"].get(key):
                assert (REPO / cfg["data"][key]).resolve().is_file(), cfg["data"][key]
        for scene in cfg["data"].get("scenes", []):
            assert (REPO / scene).resolve().is_file(), scene


def test_all_configs_are_present() -> None:
    names = {p.name for p in OURS}
    assert {
        "pix2pix_sen12mscr.yaml",
        "pix2pix_single_pair.yaml",
        "pix2pix_synthetic_rgbn.yaml",
        "cyclegan_s1_to_rgb.yaml",
        "cyclegan_s1_to_nir_swir_re.yaml",
        "cyclegan_s1_to_rgbn.yaml",
        "cyclegan_cloudy_to_clear.yaml",
    } <= names
