"""`cloudfree burn`: dNBR and USGS severity classes on a simulated scar of known extent and on real scenes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from affine import Affine

from cloudfree.cli import main
from cloudfree.evaluation.burn import BURNED, DEFAULT_THRESHOLDS, classify, parse_thresholds
from cloudfree.evaluation.scene import EvaluationInputError
from cloudfree.io import read_raster, write_raster
from tests.test_evaluation.burnscar import burn, disc, expected_dnbr, vegetated_scene


def test_classify_uses_the_key_and_benson_bounds():
    d = np.array([-0.3, -0.251, -0.1005, -0.1, 0.099, 0.1, 0.269, 0.27, 0.439, 0.44, 0.659, 0.66, 1.2, np.nan])
    assert classify(d).tolist() == [1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 0]
    assert classify(d, parse_thresholds("-0.5,-0.4,0.5,0.6,0.7,0.8"))[5] == 3


def test_thresholds_are_checked():
    assert parse_thresholds(None) == DEFAULT_THRESHOLDS
    for bad in ("0.1,0.2", "0.1,0.1,0.2,0.3,0.4,0.5", "a,b,c,d,e,f"):
        with pytest.raises(EvaluationInputError, match="thresholds"):
            parse_thresholds(bad)


def test_simulated_scar_is_found_with_its_extent(tmp_path, capsys):
    pre = vegetated_scene(70, 600)  # wider than one 512 px window
    scar = disc(70, 600, 25, centre=(35, 500))
    post = burn(pre, scar)
    write_raster(pre, tmp_path / "pre.tif")
    write_raster(post, tmp_path / "post.tif")
    out = tmp_path / "dnbr.tif"
    assert main(["burn", "--pre", str(tmp_path / "pre.tif"), "--post", str(tmp_path / "post.tif"), "-o", str(out)]) == 0
    with rasterio.open(out) as a, rasterio.open(tmp_path / "dnbr_severity.tif") as b:
        assert a.descriptions == ("dNBR",) and b.descriptions == ("burn_severity",)
        assert a.crs == pre.crs and a.transform == pre.transform == b.transform
        assert b.dtypes[0] == "uint8" and b.nodata == 0
        assert json.loads(b.tags()["THRESHOLDS"]) == list(DEFAULT_THRESHOLDS)
        dnbr, classes = a.read(1), b.read(1)
    np.testing.assert_allclose(dnbr, expected_dnbr(pre, post), atol=1e-5)
    burned = np.isin(classes, BURNED)
    assert (burned == scar).all()  # the known extent, exactly
    assert (classes[scar] == 7).all() and (classes[~scar] == 3).all()
    assert "7 high severity" in capsys.readouterr().out


def test_b8a_is_used_when_b08_is_missing(tmp_path):
    pre = vegetated_scene(30, 30).select(["B8A", "B12"])
    post = burn(pre, disc(30, 30, 8))
    write_raster(pre, tmp_path / "pre.tif")
    write_raster(post, tmp_path / "post.tif")
    args = ["burn", "--pre", str(tmp_path / "pre.tif"), "--post", str(tmp_path / "post.tif"), "-o"]
    assert main([*args, str(tmp_path / "d.tif"), "--classes", str(tmp_path / "c.tif")]) == 0
    with rasterio.open(tmp_path / "d.tif") as src:
        np.testing.assert_allclose(src.read(1), expected_dnbr(pre, post, "B8A"), atol=1e-5)
        assert "B8A" in src.tags()["NBR"]


def test_grid_mismatch_missing_band_and_existing_output_exit_2(tmp_path, capsys):
    pre = vegetated_scene(30, 30)
    write_raster(pre, tmp_path / "pre.tif")
    shifted = pre.with_data(pre.data, transform=pre.transform * Affine.translation(1, 0))
    write_raster(shifted, tmp_path / "shifted.tif")
    write_raster(pre.select(["B02", "B03", "B04", "B08"]), tmp_path / "rgbn.tif")
    base = ["burn", "--pre", str(tmp_path / "pre.tif"), "-o", str(tmp_path / "out.tif"), "--post"]
    assert main([*base, str(tmp_path / "shifted.tif")]) == 2
    err = capsys.readouterr().err
    assert "shifted.tif" in err and "pre.tif" in err and "grid" in err and err.count("\n") == 1
    assert main([*base, str(tmp_path / "rgbn.tif")]) == 2
    err = capsys.readouterr().err
    assert "B12" in err and "rgbn.tif" in err and err.count("\n") == 1
    assert main([*base, str(tmp_path / "pre.tif"), "--thresholds=1,2"]) == 2
    assert not (tmp_path / "out.tif").exists() and not list(tmp_path.glob("*part*"))
    (tmp_path / "out.tif").write_bytes(b"keep")
    assert main([*base, str(tmp_path / "pre.tif")]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_real_l1c_series_with_a_simulated_scar(tmp_path, shared_data):
    """Real Slovenia dates (clear before, clear after): a scar burnt into the later date is recovered."""
    folder = shared_data / "slovenia_timeseries_l1c"
    pre = read_raster(folder / "S2_L1C_2015-07-11.tif")
    after = read_raster(folder / "S2_L1C_2015-08-30.tif")
    scar = disc(pre.height, pre.width, 30)
    post = burn(after, scar)
    write_raster(post, tmp_path / "post.tif")
    out = tmp_path / "dnbr.tif"
    assert (
        main(
            [
                "burn",
                "--pre",
                str(folder / "S2_L1C_2015-07-11.tif"),
                "--post",
                str(tmp_path / "post.tif"),
                "-o",
                str(out),
            ]
        )
        == 0
    )
    with rasterio.open(tmp_path / "dnbr_severity.tif") as src:
        burned = np.isin(src.read(1), BURNED)
    iou = (burned & scar).sum() / (burned | scar).sum()
    assert iou > 0.8, iou
    # the unburnt real change between the dates is mostly classed unburned
    assert burned[~scar].mean() < 0.1


def _cloudy(scene, cloud: np.ndarray, dn: int = 5000):
    """``scene`` with a bright cloud (every band at reflectance 0.5) where ``cloud``."""
    data = scene.data.copy()
    data[:, cloud] = dn
    return scene.with_data(data)


def test_cloud_is_excluded_by_a_given_mask_not_mapped_as_burned(tmp_path, capsys):
    """A cloud lowers NBR as a fire does; the post date's mask excludes it (cloud and shadow, class 0)."""
    from cloudfree.io import write_mask

    pre = vegetated_scene(40, 60)
    cloud = disc(40, 60, 9, centre=(20, 15))
    shadow = disc(40, 60, 5, centre=(20, 45))
    post = _cloudy(pre, cloud)
    write_raster(pre, tmp_path / "pre.tif")
    write_raster(post, tmp_path / "post.tif")
    codes = np.where(cloud, 1, np.where(shadow, 3, 0)).astype(np.uint8)
    write_mask(codes, post, tmp_path / "post_mask.tif")
    base = ["burn", "--pre", str(tmp_path / "pre.tif"), "--post", str(tmp_path / "post.tif"), "--pre-mask", "none"]

    assert main([*base, "--post-mask", "none", "-o", str(tmp_path / "raw.tif")]) == 0
    with rasterio.open(tmp_path / "raw_severity.tif") as src:
        assert np.isin(src.read(1)[cloud], BURNED).all()  # unmasked: the cloud reads as burned ground

    capsys.readouterr()
    assert main([*base, "--post-mask", str(tmp_path / "post_mask.tif"), "-o", str(tmp_path / "d.tif")]) == 0
    with rasterio.open(tmp_path / "d.tif") as a, rasterio.open(tmp_path / "d_severity.tif") as b:
        dnbr, classes = a.read(1), b.read(1)
    excluded = cloud | shadow
    assert (classes[excluded] == 0).all() and np.isnan(dnbr[excluded]).all()
    assert (classes[~excluded] == 3).all()  # the rest is unburned, as before
    assert f"excluded as cloud: {int(excluded.sum())} px" in capsys.readouterr().out


def test_burn_masks_are_checked_before_any_work(tmp_path, capsys):
    """A mask of other values than mask codes, or on another grid, stops with exit 2 and one line."""
    from cloudfree.io import write_mask

    pre = vegetated_scene(30, 30)
    write_raster(pre, tmp_path / "pre.tif")
    write_raster(pre, tmp_path / "post.tif")
    write_mask(np.full((30, 30), 100, np.uint8), pre, tmp_path / "percent.tif")
    shifted = pre.with_data(pre.data, transform=pre.transform * Affine.translation(2, 0))
    write_mask(np.zeros((30, 30), np.uint8), shifted, tmp_path / "shifted_mask.tif")
    base = ["burn", "--pre", str(tmp_path / "pre.tif"), "--post", str(tmp_path / "post.tif"), "--pre-mask", "none"]
    for mask, words in (("percent.tif", ("--post-mask", "100", "mask codes")), ("shifted_mask.tif", ("grid",))):
        assert main([*base, "--post-mask", str(tmp_path / mask), "-o", str(tmp_path / "o.tif")]) == 2
        err = capsys.readouterr().err
        assert mask in err and all(w in err for w in words) and err.count("\n") == 1, err
        assert not (tmp_path / "o.tif").exists() and not (tmp_path / "o_severity.tif").exists()


def test_real_overcast_post_date_is_excluded_by_the_auto_mask(tmp_path, shared_data, capsys):
    """Default (auto masks): the overcast Slovenia date is excluded instead of read as a fire.

    Unmasked, the same pair read as 60 % "moderate-high severity".
    """
    folder = shared_data / "slovenia_timeseries_l1c"
    args = ["burn", "--pre", str(folder / "S2_L1C_2015-07-11.tif"), "--post", str(folder / "S2_L1C_2015-08-20.tif")]
    assert main([*args, "-o", str(tmp_path / "d.tif")]) == 0
    with rasterio.open(tmp_path / "d_severity.tif") as src:
        classes = src.read(1)
    assert (classes == 0).mean() > 0.95 and np.isin(classes, BURNED).mean() < 0.01
    captured = capsys.readouterr()
    assert "--post-mask auto: csmask" in captured.err and "excluded as cloud" in captured.out
