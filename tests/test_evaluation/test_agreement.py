"""`evaluate --indices / --pre`: index and burn-severity agreement by hand, data-set mode, real scenes."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from cloudfree.cli import main
from cloudfree.evaluation.burn import BURNED, classify
from cloudfree.evaluation.scoring import open_pair, score_pair
from cloudfree.io import read_raster, write_mask, write_raster
from cloudfree.radiometry import Radiometry
from tests.fixtures import make_raster
from tests.test_evaluation.burnscar import burn, disc, expected_dnbr, vegetated_scene


def _ndvi(raster):
    red = raster.data[raster.bands.index("B04")].astype(np.float64)
    nir = raster.data[raster.bands.index("B08")].astype(np.float64)
    return (nir - red) / (nir + red)


def test_index_agreement_matches_numpy(tmp_path):
    ref = make_raster(40, 40, ("B04", "B08", "B12"), radiometry=Radiometry.DN, seed=1)  # independent bands
    noise = np.random.default_rng(5).integers(-150, 150, ref.data.shape)
    pred = ref.with_data((ref.data + noise).astype(np.uint16))  # correlated with the reference
    write_raster(pred, tmp_path / "p.tif")
    write_raster(ref, tmp_path / "r.tif")
    (res,) = score_pair(open_pair(tmp_path / "p.tif", tmp_path / "r.tif", indices="NDVI,NBR"), block=16)
    for name, fn in (("NDVI", _ndvi), ("NBR", _nbr)):
        p, r = (fn or _nbr)(pred), (fn or _nbr)(ref)
        got = res["indices"][name]["all"]
        assert got["rmse"] == pytest.approx(np.sqrt(((p - r) ** 2).mean()), rel=1e-4)
        assert got["bias"] == pytest.approx((p - r).mean(), abs=1e-6)
        assert got["r"] == pytest.approx(np.corrcoef(p.ravel(), r.ravel())[0, 1], abs=1e-4)
        assert got["r"] > 0.3
        assert got["n_pixels"] == 1600


def _nbr(raster):
    n = raster.data[raster.bands.index("B08")].astype(np.float64)
    s = raster.data[raster.bands.index("B12")].astype(np.float64)
    return (n - s) / (n + s)


def _kappa(a: np.ndarray, b: np.ndarray) -> float:
    classes = np.union1d(a, b)
    cm = np.array([[np.sum((a == i) & (b == j)) for j in classes] for i in classes], float)
    n = cm.sum()
    po, pe = np.trace(cm) / n, (cm.sum(0) * cm.sum(1)).sum() / n**2
    return (po - pe) / (1 - pe)


def test_severity_agreement_on_simulated_scars_of_known_extent(tmp_path, capsys):
    """Prediction burnt in one disc, reference in a shifted one: OA, kappa and burned IoU by hand."""
    pre = vegetated_scene(60, 60)
    scar_pred, scar_ref = disc(60, 60, 15, (30, 27)), disc(60, 60, 15, (30, 33))
    pred, ref = burn(pre, scar_pred), burn(pre, scar_ref)
    for name, raster in (("pre", pre), ("pred", pred), ("ref", ref)):
        write_raster(raster, tmp_path / f"{name}.tif")
    out = tmp_path / "e"
    args = ["evaluate", str(tmp_path / "pred.tif"), str(tmp_path / "ref.tif"), "--pre", str(tmp_path / "pre.tif")]
    assert main([*args, "--indices", "NBR", "--out", str(out), "--no-figures"]) == 0
    severity = json.loads((out / "metrics.json").read_text())["severity"]["all"]
    cp, cr = classify(expected_dnbr(pre, pred)), classify(expected_dnbr(pre, ref))
    assert severity["overall_accuracy"] == pytest.approx((cp == cr).mean(), abs=1e-6)
    assert severity["kappa"] == pytest.approx(_kappa(cp.ravel(), cr.ravel()), abs=1e-5)
    iou = (scar_pred & scar_ref).sum() / (scar_pred | scar_ref).sum()
    assert np.array_equal(np.isin(cp, BURNED), scar_pred)
    assert severity["burned_iou"] == pytest.approx(iou, abs=1e-6)
    assert severity["iou"]["high severity"] == pytest.approx(iou, abs=1e-6)
    assert "severity" in capsys.readouterr().out


def test_pre_on_another_grid_exits_2(tmp_path, capsys):
    a = vegetated_scene(20, 20)
    write_raster(a, tmp_path / "a.tif")
    write_raster(vegetated_scene(20, 22), tmp_path / "pre.tif")
    args = ["evaluate", str(tmp_path / "a.tif"), str(tmp_path / "a.tif"), "--pre", str(tmp_path / "pre.tif")]
    assert main([*args, "--out", str(tmp_path / "e")]) == 2
    assert "pre.tif: the pre-fire image is not on the grid" in capsys.readouterr().err


def test_dataset_mode_writes_per_image_rows_mean_and_std(tmp_path, capsys):
    for folder in ("pred", "ref", "masks"):
        (tmp_path / folder).mkdir()
    maes = []
    for k in range(3):
        ref = vegetated_scene(24, 24, seed=k)
        pred = ref.with_data(ref.data + np.uint16(100 * (k + 1)))  # MAE 0.01, 0.02, 0.03
        maes.append(0.01 * (k + 1))
        mask = np.zeros((24, 24), np.uint8)
        mask[:12] = 1
        name = f"ROIs1_summer_s2_{k}_p{k}.tif"
        write_raster(pred, tmp_path / "pred" / name.replace("_s2_", "_s2_cloudy_"))  # SEN12MS-CR naming
        write_raster(ref, tmp_path / "ref" / name)
        write_mask(mask, ref, tmp_path / "masks" / name)
    out = tmp_path / "e"
    args = ["evaluate", str(tmp_path / "pred"), str(tmp_path / "ref"), "--mask-dir", str(tmp_path / "masks")]
    assert main([*args, "--indices", "NDVI", "--out", str(out)]) == 0
    rows = list(csv.DictReader((out / "per_image.csv").open()))
    assert len(rows) == 3 and rows[0]["image"].startswith("ROIs1_summer_s2_cloudy_0")
    assert [float(r["all.mae"]) for r in rows] == pytest.approx(maes, rel=1e-4)
    assert float(rows[0]["cloudy.mae"]) == pytest.approx(0.01, rel=1e-4) and "indices.NDVI.clear.r" in rows[0]
    stats = {r["statistic"]: r for r in csv.DictReader((out / "summary.csv").open())}
    assert float(stats["mean"]["all.mae"]) == pytest.approx(np.mean(maes), rel=1e-4)
    assert float(stats["std"]["all.mae"]) == pytest.approx(np.std(maes), rel=1e-4)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images"] == 3 and summary["protocol"] == "cloudfree" and "per_band" in summary["mean"]["all"]
    (tmp_path / "ref" / "ROIs1_summer_s2_2_p2.tif").unlink()
    assert main([*args, "--out", str(tmp_path / "e2")]) == 2
    err = capsys.readouterr().err
    assert "no reference for 1 of 3" in err and "ROIs1_summer_s2_cloudy_2_p2.tif" in err


def test_real_scenes_index_and_severity_agreement(tmp_path, shared_data):
    """Real Slovenia dates: a cloudy date scored against a clear one, and a burn scar on real ground."""
    folder = shared_data / "slovenia_timeseries_l1c"
    clear, later = folder / "S2_L1C_2015-08-30.tif", folder / "S2_L1C_2015-09-09.tif"
    (res,) = score_pair(open_pair(later, clear, indices="NDVI,NBR,NDWI"))
    ndvi = res["indices"]["NDVI"]["all"]
    assert 0.5 < ndvi["r"] <= 1 and ndvi["rmse"] < 0.2 and ndvi["n_pixels"] == 101 * 100
    pre = read_raster(folder / "S2_L1C_2015-07-11.tif")
    scar = disc(pre.height, pre.width, 30)
    write_raster(burn(read_raster(clear), scar), tmp_path / "post_ref.tif")
    write_raster(burn(read_raster(later), scar), tmp_path / "post_pred.tif")
    inputs = open_pair(tmp_path / "post_pred.tif", tmp_path / "post_ref.tif", pre=folder / "S2_L1C_2015-07-11.tif")
    (res,) = score_pair(inputs)
    severity = res["severity"]["all"]
    assert severity["burned_iou"] > 0.8 and severity["overall_accuracy"] > 0.5


def test_band_file_folder_is_one_pair_not_a_data_set(tmp_path, shared_data):
    """A BigEarthNet band-per-file product folder is read as one raster (20 m bands resampled)."""
    folder = next((shared_data / "bigearthnet_examples" / "BigEarthNet-S2-Example").iterdir())
    out = tmp_path / "e"
    assert main(["evaluate", str(folder), str(folder), "--out", str(out), "--no-figures"]) == 0
    result = json.loads((out / "metrics.json").read_text())
    assert result["all"]["mae"] == 0.0 and result["all"]["psnr"] is None and "B8A" in result["all"]["per_band"]
