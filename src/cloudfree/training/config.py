"""Experiment configs: YAML files (read with ``yaml.safe_load``) plus ``a.b=value`` overrides.

A config has these top-level sections (anything else is refused, naming the key):

``task``
    registry name of the Lightning task (:func:`cloudfree.tasks.task_names`), e.g. ``pix2pix``.
``model``
    keyword arguments of the task: bands (``in_bands``, ``out_bands``, ``sar_bands``,
    ``use_mask``), normalisation, architecture arguments (``generator``, ``discriminator`` ...),
    loss weights. ``in_bands`` defaults to ``data.bands``.
``optim``
    optimiser and schedule arguments of the task (``lr``, ``beta1``, ``n_epochs``, ``n_epochs_decay``).
``data``
    ``type`` (``chips`` | ``single_pair`` | ``synthetic`` | ``timeseries``), paths, ``bands``, ``patch``,
    ``batch_size``, ``num_workers``, ``augment`` (see :mod:`cloudfree.training.datamodule`).
``trainer``
    arguments passed to ``lightning.Trainer`` (``max_epochs``/``max_steps``, ``precision``,
    ``accelerator``, ``devices``, ``strategy``, ``log_every_n_steps``, ``deterministic`` ...).
``callbacks``
    ``checkpoint`` (ModelCheckpoint arguments), ``early_stopping`` ({monitor, patience, mode}),
    ``reduce_lr_on_plateau`` ({monitor, patience, factor, mode}; tasks with ``lr_policy``),
    ``gan_health`` (GANHealthCheck arguments, or ``false``).
``seed``, ``out_dir``
    global seed (``L.seed_everything(seed, workers=True)``) and the run folder (checkpoints in
    ``out_dir/checkpoints``, TensorBoard logs in ``out_dir/logs``).

Overrides on the command line use dotted keys; values are parsed as YAML (plus ``1e-4`` style
numbers, which YAML 1.1 would read as strings), so ``optim.lr=1e-4``, ``trainer.max_steps=2``,
``data.bands=[B02,B03,B04]``, ``callbacks.early_stopping=null`` all do what they say. Relative
paths are taken from the current directory (run from the repository root for the shipped configs).
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from cloudfree.errors import CloudfreeError

SECTIONS = ("task", "model", "optim", "data", "trainer", "callbacks", "seed", "out_dir")

DEFAULTS: dict[str, Any] = {
    "model": {},
    "optim": {},
    "data": {"batch_size": 1, "num_workers": 0},
    "trainer": {"max_epochs": 1, "log_every_n_steps": 50},
    "callbacks": {"checkpoint": {}, "early_stopping": None, "reduce_lr_on_plateau": None, "gan_health": {}},
    "seed": 0,
    "out_dir": "runs/experiment",
}


# PyYAML follows YAML 1.1, where "1e-4" (no dot) is a string; configs mean a number.
_SCIENTIFIC = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def numbers(value: Any) -> Any:
    """``value`` with strings in scientific notation (``"1e-4"``) turned into floats, recursively."""
    if isinstance(value, str) and _SCIENTIFIC.match(value.strip()):
        return float(value)
    if isinstance(value, dict):
        return {k: numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [numbers(v) for v in value]
    return value


class ConfigError(CloudfreeError, ValueError):
    """A config file or override is malformed; the message names the file or key."""


def deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``update`` merged into a copy of ``base``; nested mappings merge, other values replace."""
    out = copy.deepcopy(dict(base))
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"optim.lr=1e-4"`` -> ``(["optim", "lr"], 0.0001)`` (the value is parsed as YAML)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not of the form key.path=value")
    key, raw = text.split("=", 1)
    path = [p for p in key.strip().split(".")]
    if not key.strip() or any(not p for p in path):
        raise ConfigError(f"override {text!r} has an empty key")
    try:
        value = numbers(yaml.safe_load(raw)) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {text!r}: value is not valid YAML ({exc})") from exc
    return path, value


def apply_overrides(config: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of ``config`` with each ``a.b=value`` override set (intermediate sections created)."""
    out = copy.deepcopy(dict(config))
    for text in overrides:
        path, value = parse_override(text)
        node = out
        for i, part in enumerate(path[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"override {text!r}: {'.'.join(path[: i + 1])} is not a section")
            node = child
        node[path[-1]] = value
    return out


def validate(config: Mapping[str, Any], source: str = "config") -> None:
    """Refuse unknown sections, a missing task and sections of the wrong type."""
    unknown = sorted(set(config) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"{source}: unknown config section(s) {unknown}; known: {list(SECTIONS)}")
    if not config.get("task"):
        raise ConfigError(f"{source}: no 'task' given (e.g. task: pix2pix)")
    for section in ("model", "optim", "data", "trainer", "callbacks"):
        if not isinstance(config.get(section), Mapping):
            raise ConfigError(f"{source}: section {section!r} must be a mapping, got {config.get(section)!r}")
    if not isinstance(config.get("seed"), int):
        raise ConfigError(f"{source}: seed must be an integer, got {config.get('seed')!r}")


def load_config(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Read a YAML config (``yaml.safe_load``), merge it over :data:`DEFAULTS`, apply overrides, validate."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: config file does not exist")
    try:
        raw = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML ({exc})") from exc
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{p}: a config must be a mapping of sections, got {type(raw).__name__}")
    config = apply_overrides(deep_merge(DEFAULTS, numbers(raw)), overrides)
    validate(config, str(p))
    return config


def dump_config(config: Mapping[str, Any]) -> str:
    """The resolved config as YAML (saved next to the checkpoints for the record)."""
    return yaml.safe_dump(dict(config), sort_keys=False)
