from cloudfree.evaluation.model_card import write_model_card
from cloudfree.models.identity import IdentityModel
from cloudfree.models.release import ReleaseConfig, save_release
from cloudfree.normalization import Normalization


def test_model_card_states_data_recipe_metrics_and_limits(tmp_path):
    bands = ("B02", "B03", "B04", "B08")
    config = ReleaseConfig(name="m", kind="removal", architecture="identitymodel",
                           arguments={"in_channels": 4, "out_channels": 4}, in_bands=bands, out_bands=bands,
                           normalization=Normalization.fixed(bands).to_dict())  # fmt: skip
    save_release(IdentityModel(4, 4), config, tmp_path)
    train_cfg = tmp_path / "train.yaml"
    train_cfg.write_text(
        "task: pix2pix\ndata: {scenes: [{path: a.tif, window: [0, 0, 64, 64]}, b.tif], patch: 64,"
        " val_scenes: [{path: d/v.tif, window: [64, 0, 64, 64]}]}\n"
        "callbacks: {checkpoint: {monitor: val/ssim}}\n"
    )
    metrics = {"seeds": 2, "scenes": {"s": {"cloud_cover": 0.3, "cloudy_pixels": {
        "model": {"psnr": 30.0, "ssim": 0.9, "sam": 2.0, "mae": 0.01, "rmse": 0.02},
        "cloudy_input": {"psnr": 10.0, "ssim": 0.2, "sam": 9.0, "mae": 0.3, "rmse": 0.4}}}}}  # fmt: skip
    card = write_model_card(tmp_path, config, metrics, train_cfg).read_text()
    assert "`a.tif` (window [0, 0, 64, 64])" in card and "`b.tif`" in card
    assert "30.00 / 10.00" in card and "## Known limits" in card
    assert "best `val/ssim` (simulated clouds on the validation window v.tif [64, 0, 64, 64]" in card
    training = {"minutes": 20.0, "samples": 800, "samples_per_s": 0.7, "threads": 1, "released": "last"}
    card = write_model_card(tmp_path, config, metrics, train_cfg, training).read_text()
    assert "the last checkpoint of the final run is released" in card and "best `val/ssim`" not in card
    assert "time budget 20 min (800 samples of 64 px" in card


def test_model_card_says_what_the_release_does_under_thick_cloud_and_shadow():
    from cloudfree.evaluation.model_card import _thick_cloud

    bands = ("B02", "B03", "B04", "B08")
    args = {"in_channels": 5, "out_channels": 4, "mask_encoding": "opacity", "thick_residual": False}
    norm = Normalization.fixed(bands).to_dict()
    config = ReleaseConfig(name="m", kind="removal", architecture="priorresidualunet", arguments=args,
                           in_bands=bands, out_bands=bands, normalization=norm)  # fmt: skip
    assert "IS the smooth classical fill" in _thick_cloud(config) and "box" not in _thick_cloud(config)
    config.arguments.update(thick_refill_levels=4, ratio_box=31)
    text = _thick_cloud(config)
    assert "about 16 px into the thick cloud" in text and "over a 31 px box" in text
