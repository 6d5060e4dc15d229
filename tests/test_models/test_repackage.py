"""scripts/train_default_models.py --repackage-installed: weight-free arguments added, nothing else changed."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file

from cloudfree.models import release as release_module

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train_default_models.py"


def _script():
    spec = importlib.util.spec_from_file_location("train_default_models", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def sandbox(tmp_path, monkeypatch):
    """A repository root and a weights folder in tmp_path holding a copy of default-rgbn; no evaluation."""
    script = _script()
    weights = tmp_path / "weights"
    shutil.copytree(release_module.WEIGHTS_DIR / "default-rgbn", weights / "default-rgbn")
    (weights / "default-rgbn" / "training.json").write_text(json.dumps({"minutes": 5.0, "note": "first run"}))
    config = yaml.safe_load((SCRIPT.parents[1] / "configs" / "default_rgbn.yaml").read_text())
    (tmp_path / "configs").mkdir()
    monkeypatch.setattr(script, "ROOT", tmp_path)
    monkeypatch.setattr(release_module, "WEIGHTS_DIR", weights)
    import cloudfree.evaluation.holdout as holdout
    import cloudfree.evaluation.model_card as model_card

    monkeypatch.setattr(holdout, "evaluate_removal_model", lambda release, **kw: {"scenes": {}})
    monkeypatch.setattr(
        model_card, "write_model_card", lambda release, *a: (Path(release) / "MODEL_CARD.md").write_text("card")
    )

    def with_generator(**changes):
        config["model"]["generator"] = {**config["model"]["generator"], **changes}
        (tmp_path / "configs" / "default_rgbn.yaml").write_text(yaml.safe_dump(config))

    return script, weights / "default-rgbn", with_generator


def test_repackage_adds_weight_free_arguments_and_keeps_the_weights(sandbox):
    script, installed, with_generator = sandbox
    before = load_file(str(installed / "model.safetensors"))
    with_generator(fill_bands=[2])
    script.repackage_installed("rgbn", "cpu", seeds=1)
    config = json.loads((installed / "config.json").read_text())
    assert config["arguments"]["fill_bands"] == [2]
    after = load_file(str(installed / "model.safetensors"))
    assert before.keys() == after.keys() and all(before[k].equal(after[k]) for k in before)
    training = json.loads((installed / "training.json").read_text())
    assert training["note"].startswith("first run; re-packaged") and "fill_bands" in training["note"]
    model, _ = release_module.load_release(installed)
    assert model.fill_bands == [2]


def test_repackage_refuses_a_changed_trained_argument(sandbox):
    script, installed, with_generator = sandbox
    with_generator(ngf=16)
    with pytest.raises(SystemExit, match="retrain instead"):
        script.repackage_installed("rgbn", "cpu", seeds=1)
    assert "fill_bands" not in json.loads((installed / "config.json").read_text())["arguments"]
