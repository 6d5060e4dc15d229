"""The demo chain and the packaged default models, end to end on real scenes shipped by installed packages."""

import json

import numpy as np
import pytest
import rasterio

from cloudfree.cli import main
from cloudfree.data.holdout import spyndex_scene
from cloudfree.demo import pick_removal_model
from cloudfree.masking.predict import MaskModel
from cloudfree.models.release import WEIGHTS_DIR, load_release

DEFAULTS = ("default-mask", "default-rgbn", "default-l1c13")


@pytest.mark.parametrize("name", DEFAULTS)
def test_default_models_are_packaged_small_and_load_by_name(name):
    folder = WEIGHTS_DIR / name
    assert {p.name for p in folder.iterdir()} >= {"model.safetensors", "config.json", "MODEL_CARD.md"}
    assert (folder / "model.safetensors").stat().st_size < 6e6
    model, config = load_release(name)
    assert config.name == name and not model.training
    card = (folder / "MODEL_CARD.md").read_text()
    # held-out metrics (removal models) or the distilled mask model's distance to its teachers
    assert "## Metrics on held-out real scenes" in card or "## How close to the teacher" in card
    assert "## Known limits" in card


def test_spyndex_scene_is_the_real_clear_sample():
    scene = spyndex_scene()
    assert scene.bands == ("B02", "B03", "B04", "B08") and scene.shape == (4, 300, 300)
    refl = scene.to_reflectance().data
    assert 0.02 < np.median(refl[0]) < 0.1 < np.median(refl[3]) < 0.4  # vegetation: NIR well above blue
    assert pick_removal_model(scene.bands)[0] == "default-rgbn"
    with pytest.raises(ValueError, match="hold neither"):
        pick_removal_model(("B02", "B03"))


def test_default_mask_does_not_depend_on_tile_size():
    """The mask model has no global pooling: the tile size must not change the mask."""
    from cloudfree.data.synthetic_clouds import CloudSimulator

    cloudy, _, _ = CloudSimulator(coverage=0.4).simulate_raster(spyndex_scene(), rng=3)
    model = MaskModel.load("default-mask", "cpu")
    small = model.predict_raster(cloudy, tile=64, overlap=16)
    large = model.predict_raster(cloudy, tile=256, overlap=32)
    assert (small == large).mean() > 0.95


def test_demo_writes_georeferenced_outputs_and_beats_the_cloudy_input(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    for name in ("clear.tif", "cloudy.tif", "mask_truth.tif", "mask.tif", "result.tif", "demo.png", "metrics.json"):
        assert (out / name).exists(), name
        assert str(out / name) in printed
    with rasterio.open(out / "clear.tif") as ref, rasterio.open(out / "result.tif") as res:
        assert res.crs == ref.crs and res.transform == ref.transform
        assert res.descriptions == ref.descriptions == ("B02", "B03", "B04", "B08")
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"result", "cloudy_input"}
    for part in metrics.values():
        assert set(part) >= {"all", "cloudy", "clear"}
        assert set(part["all"]) >= {"psnr", "ssim", "sam", "mae", "rmse", "per_band"}
    assert metrics["result"]["cloudy"]["psnr"] > metrics["cloudy_input"]["cloudy"]["psnr"]
    assert metrics["result"]["cloudy"]["mae"] < metrics["cloudy_input"]["cloudy"]["mae"]


def test_demo_on_a_users_georeferenced_scene_keeps_its_crs(shared_data, tmp_path):
    scene = shared_data / "sen1floods11_spain" / "Spain_7370579_S2Hand.tif"
    out = tmp_path / "mine"
    assert main(["demo", "--input", str(scene), "--out", str(out), "--quiet", "--coverage", "0.3"]) == 0
    with rasterio.open(scene) as src, rasterio.open(out / "result.tif") as res:
        assert res.crs == src.crs and res.transform == src.transform
        assert res.count == 13  # the 13-band default model was picked
    assert main(["demo", "--input", str(scene), "--out", str(out), "--coverage", "1.5"]) == 2


def test_demo_is_georeferenced_warning_free_and_unbiased_at_the_last_row_and_column(tmp_path):
    """Issue 15 item 7: real georeference, no warning reaches the user, no blue last row/column."""
    import warnings

    from rasterio.errors import NotGeoreferencedWarning

    out = tmp_path / "demo"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["demo", "--out", str(out), "--quiet"]) == 0
    bad = [w for w in caught if issubclass(w.category, (NotGeoreferencedWarning, RuntimeWarning))]
    assert not bad, [str(w.message) for w in bad]
    for name in ("clear.tif", "cloudy.tif", "mask.tif", "result.tif"):
        with rasterio.open(out / name) as src:
            assert src.crs is not None and src.crs.to_epsg() == 32629, name
            assert not src.transform.is_identity
    with rasterio.open(out / "result.tif") as res, rasterio.open(out / "clear.tif") as ref:
        err = res.read().astype(float) / 1e4 - ref.read().astype(float) / 1e4
    for edge in (err[:, -1, :], err[:, :, -1]):  # mean signed error per band on the last row / column
        assert np.abs(edge.mean(axis=1)).max() < 0.02, edge.mean(axis=1)
