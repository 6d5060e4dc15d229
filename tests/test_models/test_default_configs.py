"""The default removal configs train on exactly the one list in cloudfree.data.holdout, never on held-out windows."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cloudfree.data.holdout import HELD_OUT, training_entries, validation_entries

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _boxes(entry):
    path = entry if isinstance(entry, str) else entry["path"]
    window = None if isinstance(entry, str) else entry.get("window")
    return path, window


def _overlap(a, b) -> bool:
    if a is None or b is None:
        return True
    r0, c0, h0, w0 = a
    r1, c1, h1, w1 = b
    return r0 < r1 + h1 and r1 < r0 + h0 and c0 < c1 + w1 and c1 < c0 + w0


@pytest.mark.parametrize("bands", ["rgbn", "l1c13"])
def test_config_scenes_are_the_holdout_module_lists(bands):
    cfg = yaml.safe_load((CONFIGS / f"default_{bands}.yaml").read_text())
    assert cfg["data"]["scenes"] == training_entries(bands)
    assert cfg["data"]["val_scenes"] == validation_entries()
    assert cfg["model"]["architecture"] == "PriorResidualUNet"


@pytest.mark.parametrize("bands", ["rgbn", "l1c13"])
def test_no_training_entry_overlaps_a_held_out_window(bands):
    for entry in training_entries(bands):
        path, window = _boxes(entry)
        for item in HELD_OUT:
            if (item.path in path and not isinstance(entry, dict)) or (
                isinstance(entry, dict) and item.path in path and "exclude_mask" not in entry
            ):
                assert not _overlap(window, item.window), (path, window, item.name)
            if isinstance(entry, dict) and "exclude_mask" in entry and item.path in path:
                assert "madagascar" in path  # the held-out rectangle is burnt into its exclusion mask
