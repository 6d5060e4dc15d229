"""`cloudfree evaluate` and evaluate_rasters: exact JSON structure, CSV, figures, protocols, refusals."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from cloudfree.cli import main
from cloudfree.evaluation import evaluate_rasters
from cloudfree.io import read_raster, write_mask, write_raster
from cloudfree.radiometry import Radiometry
from tests.fixtures import make_raster

METRIC_KEYS = {"psnr", "ssim", "sam", "mae", "rmse", "per_band"}


def test_evaluate_writes_the_exact_json_csv_and_figures(tmp_path, shared_data, capsys):
    folder = shared_data / "slovenia_timeseries_l1c"
    ref = folder / "S2_L1C_2015-08-30.tif"
    pred = read_raster(ref)
    mask = np.zeros((pred.height, pred.width), np.uint8)
    mask[20:60, 30:70] = 1
    data = pred.data.copy()
    data[:, mask == 1] += 100  # +0.01 reflectance under the mask only
    write_raster(pred.with_data(data), tmp_path / "pred.tif")
    write_mask(mask, pred, tmp_path / "mask.tif")
    out = tmp_path / "eval"
    rc = main(
        [
            "evaluate",
            str(tmp_path / "pred.tif"),
            str(ref),
            "--mask",
            str(tmp_path / "mask.tif"),
            "--input",
            str(folder / "S2_L1C_2015-07-31.tif"),
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    result = json.loads((out / "metrics.json").read_text())
    assert set(result) == {"all", "cloudy", "clear", "ndvi_diff", "scaling", "protocol", "images"}
    for subset in ("all", "cloudy", "clear"):
        assert set(result[subset]) == METRIC_KEYS
        assert list(result[subset]["per_band"]) == list(pred.bands)
        assert set(result[subset]["per_band"]["B02"]) == {"psnr", "ssim", "mae", "rmse"}
    assert result["cloudy"]["mae"] == pytest.approx(0.01, abs=1e-6)
    assert result["cloudy"]["psnr"] == pytest.approx(40.0, abs=1e-3)
    assert result["clear"]["mae"] == 0.0 and result["clear"]["psnr"] is None  # identical: infinite -> null
    assert result["clear"]["ssim"] < 1.0 or result["clear"]["ssim"] == pytest.approx(1.0)
    assert "data_range 1.0" in result["scaling"]
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert len(rows) == 3 * (1 + 13) and rows[0]["subset"] == "all" and int(rows[0]["n_pixels"]) == 101 * 100
    for name in ("comparison.png", "error.png", "histograms.png"):
        assert (out / name).stat().st_size > 1000
    assert "PSNR" in capsys.readouterr().out


def test_evaluate_rasters_without_mask_and_sen12mscr_protocol(shared_data):
    src = shared_data / "sen12mscr_sample" / "ROIs1868_summer_s2_cloudy_19_p30.tif"
    ref = read_raster(src, bands="l1c13", select="rgbn")
    noisy = ref.data.astype(np.int32) + 200
    pred = ref.with_data(np.clip(noisy, 0, 65535).astype(np.uint16))
    result = evaluate_rasters(pred, ref)
    assert set(result) == {"all", "ndvi_diff", "scaling", "pixels"}
    clipped = evaluate_rasters(pred, ref, protocol="sen12mscr")
    assert "SEN12MS-CR" in clipped["scaling"]
    # clipping at 10000 DN can only shrink errors
    assert clipped["all"]["mae"] <= result["all"]["mae"] + 1e-9
    assert result["all"]["mae"] == pytest.approx(0.02, abs=1e-6)


def test_evaluate_refuses_mismatched_rasters(tmp_path):
    a = make_raster(20, 20)
    b = make_raster(20, 21)
    with pytest.raises(ValueError, match="20x21"):
        evaluate_rasters(a, b)
    c = make_raster(20, 20, bands=("B11", "B12"))
    with pytest.raises(ValueError, match="share no band"):
        evaluate_rasters(a, c)
    with pytest.raises(ValueError, match="mask"):
        evaluate_rasters(a, a, mask=np.zeros((5, 5), np.uint8))
    d = make_raster(20, 20, radiometry=Radiometry.DN)
    r = evaluate_rasters(d, d, mask=np.full((20, 20), 255, np.uint8))
    assert math.isnan(r["cloudy"]["psnr"]) and r["pixels"]["clear"] == 0
