"""The HTML report: self-contained, decimated, and rendered by headless Chromium without errors."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
from PIL import Image

from cloudfree.cli import main
from cloudfree.evaluation.html_report import write_html_report
from cloudfree.io import write_mask, write_raster
from cloudfree.radiometry import Radiometry
from tests.fixtures import make_raster
from tests.test_evaluation import browser

BANDS = ("B02", "B03", "B04", "B08", "B12")


def _scene(tmp_path, height=60, width=80):
    before = make_raster(height, width, BANDS, radiometry=Radiometry.DN, seed=1)
    after = make_raster(height, width, BANDS, radiometry=Radiometry.DN, seed=2)
    mask = np.zeros((height, width), np.uint8)
    mask[10:30, 10:40], mask[35:45, 50:70] = 1, 3
    prov = np.where(mask > 0, 1, 0).astype(np.uint8)
    prov[40:, :10] = 2
    paths = {
        "before": write_raster(before, tmp_path / "before.tif"),
        "after": write_raster(after, tmp_path / "after.tif"),
        "reference": write_raster(before, tmp_path / "reference.tif"),
        "mask": write_mask(mask, before, tmp_path / "mask.tif"),
        "provenance": write_mask(prov, before, tmp_path / "prov.tif", description="provenance"),
    }
    return paths


METRICS = {
    "all": {"psnr": 31.2, "ssim": 0.91, "sam": 3.1, "mae": 0.01, "rmse": 0.02, "per_band": {"B02": {"psnr": 30.0}}},
    "cloudy": {"psnr": None, "ssim": 0.8, "sam": 4.0, "mae": 0.03, "rmse": 0.04, "per_band": {}},
    "indices": {"NDVI": {"all": {"rmse": 0.05, "bias": -0.01, "r": 0.93, "n_pixels": 10}}},
    "severity": {"all": {"overall_accuracy": 0.9, "kappa": 0.8, "burned_iou": 0.7, "n_pixels": 10}},
    "scaling": "reflectance",
}


def _uris(page: str) -> dict:
    return json.loads(re.search(r"const IMAGES = (\{.*?\});\n", page, re.S).group(1).replace("<\\/", "</"))


def test_report_is_self_contained_with_all_sections(tmp_path):
    p = _scene(tmp_path)
    out = write_html_report(tmp_path / "r.html", metrics=METRICS, settings={"model": "default-rgbn"}, **p)
    page = out.read_text()
    assert "http://" not in page and "https://" not in page and "<link" not in page and 'src="http' not in page
    assert "<script src" not in page and page.count("data:image/png;base64,") >= 10
    for text in (
        "Index maps",
        "NDVI of after",
        "NBR of before",
        "Spectral-index agreement",
        "Burn-severity agreement",
        "0.9300",
        "default-rgbn",
        "show-mask",
        "show-provenance",
        "series date 0",
        "&ndash;",
    ):
        assert text in page, text
    images = _uris(page)
    assert set(images["true"]) == set(images["false"]) == {"before", "after", "reference"}
    assert set(images["overlays"]) == {"mask", "provenance"}


def test_large_rasters_are_decimated(tmp_path):
    big = make_raster(300, 2000, BANDS, radiometry=Radiometry.DN)
    path = write_raster(big, tmp_path / "big.tif")
    out = write_html_report(tmp_path / "r.html", before=path, after=path, max_side=250)
    uri = _uris(out.read_text())["true"]["after"]
    png = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert png.size == (250, 38)


def test_report_command_refusals_exit_2(tmp_path, capsys):
    p = _scene(tmp_path, 20, 20)
    base = ["report", "--before", str(p["before"]), "--after", str(p["after"])]
    (tmp_path / "bad.json").write_text("[1, 2")
    assert main([*base, "--metrics", str(tmp_path / "bad.json"), "-o", str(tmp_path / "r.html")]) == 2
    assert "bad.json: the metrics file is not readable JSON" in capsys.readouterr().err
    (tmp_path / "r.html").write_text("keep")
    assert main([*base, "-o", str(tmp_path / "r.html")]) == 2
    assert "--overwrite" in capsys.readouterr().err and (tmp_path / "r.html").read_text() == "keep"
    sar = make_raster(20, 20, ("VV", "VH"), radiometry=Radiometry.SAR_DB)
    write_raster(sar, tmp_path / "sar.tif")
    assert (
        main(
            [
                "report",
                "--before",
                str(tmp_path / "sar.tif"),
                "--after",
                str(tmp_path / "sar.tif"),
                "-o",
                str(tmp_path / "s.html"),
            ]
        )
        == 2
    )
    assert "true colour" in capsys.readouterr().err


def test_report_renders_in_headless_chromium(tmp_path):
    browser.require_chromium()
    p = _scene(tmp_path, 120, 160)
    out = write_html_report(tmp_path / "r.html", metrics=METRICS, settings={"seed": 0}, **p)

    def toggle(page):
        sizes = page.evaluate("['img-left', 'img-right'].map((id) => document.getElementById(id).naturalWidth)")
        assert sizes == [160, 160]
        page.locator("#viewer").screenshot(path=str(tmp_path / "plain.png"))
        page.check("#show-mask")
        page.fill("#swipe", "20")
        page.check("input[value=false]")

    errors, requests, shot = browser.load(out, tmp_path / "shot.png", toggle)
    assert errors == [] and requests == []
    assert shot.std() > 20  # not blank
    plain = np.asarray(Image.open(tmp_path / "plain.png").convert("RGB")).astype(float)
    assert plain.std() > 20


def test_evaluate_html_on_real_scenes_renders(tmp_path, shared_data):
    browser.require_chromium()
    folder = shared_data / "slovenia_timeseries_l1c"
    out = tmp_path / "eval"
    args = ["evaluate", str(folder / "S2_L1C_2015-09-09.tif"), str(folder / "S2_L1C_2015-08-30.tif")]
    assert (
        main(
            [
                *args,
                "--mask",
                str(folder / "CLM_2015-07-31.tif"),
                "--indices",
                "NDVI,NBR",
                "--out",
                str(out),
                "--input",
                str(folder / "S2_L1C_2015-07-31.tif"),
                "--html",
            ]
        )
        == 0
    )
    errors, requests, shot = browser.load(out / "report.html", tmp_path / "shot.png")
    assert errors == [] and requests == [] and shot.std() > 20
    assert "Spectral-index agreement" in (out / "report.html").read_text()
