"""Expected failures end in one line ``cloudfree CMD: error: ...`` and exit 2, never a traceback.

Each case was a traceback with exit 1 before (issue 15 item 4): a pickle saved as model.safetensors,
an unexpected argument in a release's config.json, a typo in a ``trainer.`` key, ``train --resume``
on a checkpoint that holds code; ``export`` of such a checkpoint must not advise the unsafe
``weights_only=False``. Released files are readable by others (mode 0644 under umask 022).
"""

from __future__ import annotations

import json
import os
import pickle
import stat
from pathlib import Path

import pytest
import torch

from cloudfree.cli import main
from cloudfree.errors import CloudfreeError
from cloudfree.io import write_raster
from cloudfree.models.release import load_release
from tests.fixtures import make_raster
from tests.test_inference.releases import unet_release

REPO = Path(__file__).resolve().parents[2]


class Evil:
    """Unpickling this would run a shell command (it never must)."""

    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def one_line_error(capsys, command: str) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"cloudfree {command}: error:"), err
    assert "\n" not in err and "Traceback" not in err, err
    return err


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    return write_raster(make_raster(32, 32), tmp_path / "scene.tif")


def test_pickle_saved_as_safetensors(tmp_path: Path, scene: Path, capsys) -> None:
    release = unet_release(tmp_path / "rel")
    (release / "model.safetensors").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CloudfreeError, match=r"model\.safetensors"):
        load_release(release)
    assert main(["remove", str(scene), "--model", str(release), "-o", str(tmp_path / "o.tif"), "--replace-all"]) == 2
    assert "model.safetensors" in one_line_error(capsys, "remove")


@pytest.mark.parametrize(
    "edit",
    [
        lambda c: c["arguments"].update(bogus=1),
        lambda c: c.pop("out_bands"),
        lambda c: c.update(architecture="os.system"),
        lambda c: c["arguments"].update(ngf=8),  # weights no longer fit
    ],
    ids=["unexpected-argument", "missing-field", "unknown-architecture", "shape-mismatch"],
)
def test_bad_release_config(tmp_path: Path, scene: Path, capsys, edit) -> None:
    release = unet_release(tmp_path / "rel")
    config = json.loads((release / "config.json").read_text())
    edit(config)
    (release / "config.json").write_text(json.dumps(config))
    with pytest.raises(CloudfreeError, match=r"config\.json|model\.safetensors"):
        load_release(release)
    assert main(["remove", str(scene), "--model", str(release), "-o", str(tmp_path / "o.tif"), "--replace-all"]) == 2
    one_line_error(capsys, "remove")


def test_config_json_not_an_object(tmp_path: Path) -> None:
    release = unet_release(tmp_path / "rel")
    (release / "config.json").write_text("[1, 2]")
    with pytest.raises(CloudfreeError, match=r"config\.json"):
        load_release(release)


SYNTHETIC = "configs/pix2pix_synthetic_rgbn.yaml"


def test_trainer_key_typo_is_refused_with_the_valid_keys(tmp_path: Path, capsys) -> None:
    argv = ["train", "--config", str(REPO / SYNTHETIC), f"out_dir={tmp_path / 'o'}", "trainer.max_epoch=1"]
    assert main(argv) == 2
    err = one_line_error(capsys, "train")
    assert "max_epoch" in err and "max_epochs" in err


def _evil_checkpoint(path: Path) -> Path:
    torch.save({"state_dict": {}, "cloudfree_task": "pix2pix", "evil": Evil()}, path)
    return path


def test_export_of_a_malicious_checkpoint_does_not_advise_unsafe_loading(tmp_path: Path, capsys) -> None:
    ckpt = _evil_checkpoint(tmp_path / "evil.ckpt")
    assert main(["export", str(ckpt), "-o", str(tmp_path / "rel")]) == 2
    err = one_line_error(capsys, "export")
    assert "weights_only" not in err and "trusted source" not in err
    assert "system" in err  # the unpickler's own reason is kept
    assert "not a cloudfree checkpoint" in err and "evil.ckpt" in err
    assert not (tmp_path / "rel").exists()


def test_resume_from_a_malicious_checkpoint(tmp_path: Path, capsys) -> None:
    ckpt = _evil_checkpoint(tmp_path / "evil.ckpt")
    argv = ["train", "--config", str(REPO / SYNTHETIC), f"out_dir={tmp_path / 'o'}", "--resume", str(ckpt)]
    assert main(argv) == 2
    err = one_line_error(capsys, "train")
    assert "evil.ckpt" in err and "weights_only=False" not in err


def test_released_files_are_readable_by_others(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        release = unet_release(tmp_path / "rel")
    finally:
        os.umask(old)
    for name in ("model.safetensors", "config.json"):
        mode = stat.S_IMODE((release / name).stat().st_mode)
        assert mode == 0o644, (name, oct(mode))
