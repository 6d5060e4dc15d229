import json

import pytest
import torch

from cloudfree.models.identity import IdentityModel
from cloudfree.models.release import ReleaseConfig, load_release, save_release
from cloudfree.normalization import Normalization, NormalizationMismatch


def _config(**kw):
    base = dict(
        name="id",
        kind="removal",
        architecture="identitymodel",
        arguments={"in_channels": 4, "out_channels": 4},
        in_bands=("B02", "B03", "B04", "B08"),
        out_bands=("B02", "B03", "B04", "B08"),
        normalization=Normalization.fixed(["B02", "B03", "B04", "B08"]).to_dict(),
    )
    base.update(kw)
    return ReleaseConfig(**base)


def test_round_trip_and_checks(tmp_path):
    cfg = _config()
    save_release(IdentityModel(4, 4), cfg, tmp_path / "rel")
    assert sorted(p.name for p in (tmp_path / "rel").iterdir()) == ["config.json", "model.safetensors"]
    model, loaded = load_release(tmp_path / "rel")
    assert loaded == cfg
    x = torch.rand(1, 4, 8, 8)
    assert torch.equal(model(x), x)
    loaded.check_inputs(("B02", "B03", "B04", "B08"), Normalization.fixed(["B02", "B03", "B04", "B08"]))
    with pytest.raises(NormalizationMismatch, match=r"expects bands \['B02', 'B03', 'B04', 'B08'\] but .* \['B04'"):
        loaded.check_inputs(("B04", "B03", "B02", "B08"))


def test_refuses_foreign_or_unknown_configs(tmp_path):
    save_release(IdentityModel(4, 4), _config(), tmp_path / "rel")
    cfg = json.loads((tmp_path / "rel" / "config.json").read_text())
    cfg["architecture"] = "os.system"
    (tmp_path / "rel" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=r"unknown model architecture 'os\.system'"):
        load_release(tmp_path / "rel")
    cfg["format"] = "other"
    (tmp_path / "rel" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="not a cloudfree release"):
        load_release(tmp_path / "rel")
    with pytest.raises(FileNotFoundError, match="neither a release directory"):
        load_release(tmp_path / "nothing")


def test_half_precision_release_loads_into_float32(tmp_path):
    from cloudfree.models.pix2pix import UNetGenerator

    net = UNetGenerator(4, 4, ngf=8, patch_size=32).eval()
    cfg = _config(
        architecture="unetgenerator", arguments={"in_channels": 4, "out_channels": 4, "ngf": 8, "patch_size": 32}
    )
    save_release(net, cfg, tmp_path / "half", half=True)
    save_release(net, cfg, tmp_path / "full")
    half_size = (tmp_path / "half" / "model.safetensors").stat().st_size
    assert half_size < 0.6 * (tmp_path / "full" / "model.safetensors").stat().st_size
    model, _ = load_release(tmp_path / "half")
    assert all(p.dtype == torch.float32 for p in model.parameters())
    x = torch.rand(1, 4, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), net(x), atol=2e-2)
