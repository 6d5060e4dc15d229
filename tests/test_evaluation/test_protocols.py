"""Evaluation protocols checked against values computed by hand, and windowed = whole-image scoring."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from cloudfree.cli import main
from cloudfree.evaluation import evaluate_rasters
from cloudfree.evaluation.dataset import aggregate
from cloudfree.evaluation.scoring import open_pair, score_pair
from cloudfree.io import write_mask, write_raster
from cloudfree.radiometry import Radiometry
from tests.fixtures import make_raster

BANDS = ("B04", "B08")


def _dn(data: np.ndarray, offset: float = 0.0):
    raster = make_raster(data.shape[1], data.shape[2], BANDS, radiometry=Radiometry.DN)
    return raster.with_data(data.astype(np.uint16), dn_offset=np.full(len(BANDS), offset, np.float32))


def _psnr(mse: float) -> float:
    return 10 * math.log10(1 / mse)


@pytest.mark.parametrize(("height", "width"), [(40, 50), (33, 17)])  # 33 = 2 x 16 + 1: a 1-row last block
def test_windowed_scoring_equals_whole_image_metrics(tmp_path, height, width):
    pred, ref = make_raster(height, width, seed=1), make_raster(height, width, seed=2)
    pred.valid[:2, :3] = False
    mask = np.zeros((height, width), np.uint8)
    mask[10:30, 5:25] = 1
    mask[0, :] = 255
    write_raster(pred, tmp_path / "p.tif")
    write_raster(ref, tmp_path / "r.tif")
    write_mask(mask, ref, tmp_path / "m.tif")
    whole = evaluate_rasters(pred, ref, mask)
    inputs = open_pair(tmp_path / "p.tif", tmp_path / "r.tif", mask=tmp_path / "m.tif")
    (streamed,) = score_pair(inputs, "cloudfree", block=16)  # 12 windows with halos
    for subset in ("all", "cloudy", "clear"):
        for key in ("psnr", "ssim", "sam", "mae", "rmse"):
            assert streamed[subset][key] == pytest.approx(whole[subset][key], rel=1e-6), (subset, key)
        for band in pred.bands:
            for key in ("psnr", "ssim", "mae", "rmse"):
                got, want = streamed[subset]["per_band"][band][key], whole[subset]["per_band"][band][key]
                assert got == pytest.approx(want, rel=1e-6), (subset, band, key)
        assert streamed["pixels"][subset] == whole["pixels"][subset]


def test_sen12mscr_clips_dn_and_averages_per_256_patch(tmp_path):
    """Two patches: error 0.01 on the left, 0.03 on the right; above 10000 DN both sides clip to 1."""
    ref = np.full((2, 256, 512), 3000, np.uint16)
    pred = ref.copy()
    pred[:, :, :256] += 100
    pred[:, :, 256:] += 300
    ref[:, :8, :8], pred[:, :8, :8] = 10500, 12000  # clipped: no error there
    write_raster(_dn(pred, -1000), tmp_path / "p.tif")  # the offset is ignored by this protocol
    write_raster(_dn(ref, -1000), tmp_path / "r.tif")
    rc = main(
        [
            "evaluate",
            str(tmp_path / "p.tif"),
            str(tmp_path / "r.tif"),
            "--protocol",
            "sen12mscr",
            "--out",
            str(tmp_path / "e"),
            "--no-figures",
        ]
    )
    assert rc == 0
    result = json.loads((tmp_path / "e" / "metrics.json").read_text())
    n = 256 * 256
    left_mae = 0.01 * (n - 64) / n
    right_mae = 0.03
    left_mse, right_mse = 0.01**2 * (n - 64) / n, 0.03**2
    assert result["images"] == 2
    assert result["all"]["mae"] == pytest.approx((left_mae + right_mae) / 2, rel=1e-5)
    assert result["all"]["rmse"] == pytest.approx((math.sqrt(left_mse) + math.sqrt(right_mse)) / 2, rel=1e-5)
    assert result["all"]["psnr"] == pytest.approx((_psnr(left_mse) + _psnr(right_mse)) / 2, rel=1e-5)
    assert "SEN12MS-CR" in result["scaling"]
    assert (tmp_path / "e" / "per_image.csv").read_text().count("\n") == 1 + 2


def test_allclear_scores_only_the_targets_clear_pixels_with_offset_and_clip(tmp_path):
    ref = np.full((2, 12, 12), 3000, np.uint16)
    pred = ref + 200  # 0.02 everywhere ...
    pred[:, :, :4] = ref[:, :, :4] + 900  # ... and 0.09 under the target's clouds
    target_mask = np.zeros((12, 12), np.uint8)
    target_mask[:, :4] = 1
    target_mask[0, 4:] = 3  # shadow: not clear either
    pred[:, 11, 11] = 12000  # reflectance 1.1 clipped to 1 vs 0.2: error 0.8
    write_raster(_dn(pred, -1000), tmp_path / "p.tif")
    r = write_raster(_dn(ref, -1000), tmp_path / "r.tif")
    write_mask(target_mask, _dn(ref), tmp_path / "m.tif")
    inputs = open_pair(tmp_path / "p.tif", r, mask=tmp_path / "m.tif")
    (res,) = score_pair(inputs, "allclear")
    clear = 11 * 8
    mae = (0.02 * (clear - 1) + (1.0 - 0.2)) / clear
    assert set(res) >= {"target_clear"} and "all" not in res
    assert res["pixels"]["target_clear"] == clear
    assert res["target_clear"]["mae"] == pytest.approx(mae, rel=1e-5)
    with pytest.raises(ValueError, match="mask"):
        score_pair(open_pair(tmp_path / "p.tif", r), "allclear")


@pytest.mark.parametrize(("protocol", "expected_mae"), [("dsen2cr", 0.05), ("cloudfree", 0.06)])
def test_dsen2cr_clips_without_offset_and_cloudfree_does_not_clip(tmp_path, protocol, expected_mae):
    """Reference 9500 DN, prediction 10500 DN with offset -1000 in the tags.

    dsen2cr: min(DN, 10000) / 10000 -> 1.0 vs 0.95: 0.05.  cloudfree: (DN - 1000)/10000 unclipped:
    0.95 vs 0.85 in the cloud, 0.06 elsewhere (pred 9000 + 600).
    """
    ref = np.full((2, 12, 12), 9500, np.uint16)
    pred = np.full((2, 12, 12), 10100, np.uint16)
    pred[:, :6] = 10500
    mask = np.zeros((12, 12), np.uint8)
    mask[:6] = 1
    write_raster(_dn(pred, -1000), tmp_path / "p.tif")
    r = write_raster(_dn(ref, -1000), tmp_path / "r.tif")
    write_mask(mask, _dn(ref), tmp_path / "m.tif")
    (res,) = score_pair(open_pair(tmp_path / "p.tif", r, mask=tmp_path / "m.tif"), protocol)
    if protocol == "dsen2cr":
        assert res["cloudy"]["mae"] == pytest.approx(0.05, rel=1e-5)
        assert res["clear"]["mae"] == pytest.approx(0.05, rel=1e-5)  # 10100 clips to 10000 too
        assert res["all"]["mae"] == pytest.approx(expected_mae, rel=1e-5)
    else:
        assert res["cloudy"]["mae"] == pytest.approx(0.10, rel=1e-5)
        assert res["clear"]["mae"] == pytest.approx(0.06, rel=1e-5)
        assert res["all"]["mae"] == pytest.approx(0.08, rel=1e-5)
    assert res["pixels"] == {"all": 144, "cloudy": 72, "clear": 72}


def test_aggregate_mean_std_and_infinite_psnr():
    rows = [
        {"image": "a", "window": [0, 0, 1, 1], "all": {"mae": 1.0, "psnr": 20.0}, "pixels": {"all": 4}},
        {"image": "b", "window": [0, 0, 1, 1], "all": {"mae": 3.0, "psnr": math.inf}, "pixels": {"all": 6}},
    ]
    summary = aggregate(rows)
    assert summary["images"] == 2 and summary["mean"]["all"]["mae"] == 2.0 and summary["std"]["all"]["mae"] == 1.0
    assert summary["mean"]["all"]["psnr"] == math.inf and summary["mean"]["pixels"]["all"] == 10


def test_unknown_protocol_and_grid_mismatch_exit_2(tmp_path, capsys):
    a, b = make_raster(20, 20), make_raster(20, 21)
    write_raster(a, tmp_path / "a.tif")
    write_raster(b, tmp_path / "b.tif")
    write_mask(np.zeros((20, 21), np.uint8), b, tmp_path / "m.tif")
    base = ["evaluate", str(tmp_path / "a.tif")]
    assert main([*base, str(tmp_path / "b.tif"), "--out", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err
    assert "a.tif" in err and "b.tif" in err and "20x21" in err and err.count("\n") == 1
    assert main([*base, str(tmp_path / "a.tif"), "--mask", str(tmp_path / "m.tif"), "--out", str(tmp_path / "e")]) == 2
    assert "m.tif: the mask is not on the grid" in capsys.readouterr().err
    assert main([*base, str(tmp_path / "a.tif"), "--indices", "NBR", "--out", str(tmp_path / "e")]) == 2
    assert "B12" in capsys.readouterr().err
    assert main([*base, str(tmp_path / "a.tif"), "--protocol", "allclear", "--out", str(tmp_path / "e")]) == 2
    assert "mask" in capsys.readouterr().err
    assert not (tmp_path / "e" / "metrics.json").exists()


def test_sen12mscr_protocol_on_the_real_patch(tmp_path, shared_data):
    """The real SEN12MS-CR patch as shipped (13 bands DN) against itself + 300 DN, by hand."""
    from cloudfree.io.open import open_raster

    patch = shared_data / "sen12mscr_sample" / "ROIs1868_summer_s2_cloudy_19_p30.tif"
    ref = open_raster(patch)
    pred = ref.with_data(np.clip(ref.data.astype(np.int64) + 300, 0, 65535).astype(np.uint16))
    write_raster(pred, tmp_path / "pred.tif")
    out = tmp_path / "e"
    assert main(["evaluate", str(tmp_path / "pred.tif"), str(patch), "--protocol", "sen12mscr", "--out", str(out)]) == 0
    result = json.loads((out / "metrics.json").read_text())
    p = np.clip(pred.data.astype(np.float64), 0, 10000) / 10000
    r = np.clip(ref.data.astype(np.float64), 0, 10000) / 10000
    valid = ref.valid
    assert result["images"] == 1 and result["all"]["mae"] == pytest.approx(np.abs(p - r)[:, valid].mean(), rel=1e-5)
    assert result["all"]["psnr"] == pytest.approx(_psnr(((p - r)[:, valid] ** 2).mean()), rel=1e-5)
    assert list(result["all"]["per_band"]) == list(ref.bands) and len(ref.bands) == 13
