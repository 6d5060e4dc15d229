"""`cloudfree indices`: spyndex formulas on reflectance, streamed by windows to a georeferenced COG."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio

from cloudfree.cli import main
from cloudfree.evaluation.indices import compute_indices, plan_indices, standard_bands
from cloudfree.evaluation.scene import EvaluationInputError
from cloudfree.io import write_raster
from cloudfree.radiometry import Radiometry
from tests.fixtures import make_raster

BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")


def _dn_scene(tmp_path, height=40, width=600):
    """A DN scene wider than one 512 px window, with nodata in one corner."""
    raster = make_raster(height, width, BANDS, radiometry=Radiometry.DN, seed=3)
    raster.valid[:3, :4] = False
    return raster, write_raster(raster, tmp_path / "scene.tif")


def test_band_table_comes_from_spyndex():
    table = standard_bands()
    assert table["N"] == "B08" and table["N2"] == "B8A" and table["S2"] == "B12" and table["R"] == "B04"
    assert table["RE1"] == "B05" and table["S1"] == "B11" and table["VV"] == "VV"


def test_indices_match_hand_computed_values_and_keep_the_grid(tmp_path, capsys):
    raster, path = _dn_scene(tmp_path)
    out = tmp_path / "idx.tif"
    assert main(["indices", str(path), "-o", str(out), "--index", "ndvi,NBR,NDWI,EVI,NDMI"]) == 0
    refl = (raster.data.astype(np.float32) / np.float32(10000)).astype(np.float64)  # reflectance is float32
    b = dict(zip(BANDS, refl, strict=True))
    expected = {
        "NDVI": (b["B08"] - b["B04"]) / (b["B08"] + b["B04"]),
        "NBR": (b["B08"] - b["B12"]) / (b["B08"] + b["B12"]),
        "NDWI": (b["B03"] - b["B08"]) / (b["B03"] + b["B08"]),
        "EVI": 2.5 * (b["B08"] - b["B04"]) / (b["B08"] + 6 * b["B04"] - 7.5 * b["B02"] + 1),
        "NDMI": (b["B08"] - b["B11"]) / (b["B08"] + b["B11"]),
    }
    with rasterio.open(out) as src:
        assert src.descriptions == tuple(expected)
        assert src.crs == raster.crs and src.transform == raster.transform
        assert src.dtypes[0] == "float32" and np.isnan(src.nodata)
        assert set(json.loads(src.tags()["INDEX_FORMULAS"])) == set(expected)
        data = src.read()
    for k, (name, value) in enumerate(expected.items()):
        assert np.isnan(data[k, :3, :4]).all(), name
        np.testing.assert_allclose(data[k, 3:], value[3:], rtol=1e-5, atol=1e-6, err_msg=name)
    assert "NBR        (N-S2)/(N+S2)   [N=B08, S2=B12]" in capsys.readouterr().out


def test_dn_offset_is_applied(tmp_path):
    raster, path = _dn_scene(tmp_path, width=30)
    out = tmp_path / "ndvi.tif"
    assert main(["indices", str(path), "-o", str(out), "--index", "NDVI", "--dn-offset", "-1000"]) == 0
    red = (raster.data[2].astype(np.float64) - 1000) / 10000
    nir = (raster.data[3].astype(np.float64) - 1000) / 10000
    with rasterio.open(out) as src:
        np.testing.assert_allclose(src.read(1)[3:], ((nir - red) / (nir + red))[3:], rtol=1e-4)


def test_unknown_index_missing_band_and_existing_output_exit_2(tmp_path, capsys):
    _, path = _dn_scene(tmp_path, width=30)
    out = tmp_path / "x.tif"
    assert main(["indices", str(path), "-o", str(out), "--index", "NDVX"]) == 2
    err = capsys.readouterr().err
    assert "unknown spectral index 'NDVX'" in err and "NDVI" in err and err.count("\n") == 1
    assert main(["indices", str(path), "-o", str(out), "--index", "NDVI,NDREI"]) == 2
    err = capsys.readouterr().err
    assert "NDREI" in err and "B05 (RE1)" in err and "'B12'" in err and err.count("\n") == 1
    assert not out.exists() and not list(tmp_path.glob("*.part*"))
    out.write_bytes(b"keep")
    assert main(["indices", str(path), "-o", str(out), "--index", "NDVI"]) == 2
    assert "--overwrite" in capsys.readouterr().err and out.read_bytes() == b"keep"


def test_kernel_indices_are_refused_with_a_reason():
    with pytest.raises(EvaluationInputError, match="kernel"):
        plan_indices("kNDVI", ("B04", "B08"))


def test_compute_indices_handles_nan_and_zero_division():
    data = np.array([[[0.0, np.nan, 0.2]], [[0.0, 0.3, 0.4]]], np.float32)  # B04, B08
    (ndvi,) = compute_indices(data, ("B04", "B08"), plan_indices("NDVI", ("B04", "B08")))
    assert np.isnan(ndvi[0, 0]) and np.isnan(ndvi[0, 1]) and ndvi[0, 2] == pytest.approx(1 / 3)


def test_spyndex_sample_scene(tmp_path):
    """The real clear scene that ships with spyndex (B02, B03, B04, B08 DN at 10 m)."""
    import spyndex

    da = spyndex.datasets.open("sentinel")
    names = [str(b) for b in da.band.values]
    data = np.asarray(da.values, dtype=np.uint16)[:, :64, :64]
    raster = make_raster(64, 64, tuple(names), radiometry=Radiometry.DN).with_data(data)
    path = write_raster(raster, tmp_path / "spyndex.tif")
    out = tmp_path / "ndvi.tif"
    assert main(["indices", str(path), "-o", str(out), "--index", "NDVI,GNDVI"]) == 0
    with rasterio.open(out) as src:
        ndvi = src.read(1)
    assert np.isfinite(ndvi).all() and ndvi.min() >= -1 and ndvi.max() <= 1 and ndvi.std() > 0.01


def test_real_l1c_scene(tmp_path, shared_data):
    scene = shared_data / "madagascar_cloudy_l1c" / "S2_L1C_cloudy.tif"
    out = tmp_path / "idx.tif"
    assert main(["indices", str(scene), "-o", str(out), "--index", "NDVI,NBR,NDWI,NDREI"]) == 0
    with rasterio.open(scene) as a, rasterio.open(out) as b:
        assert (b.crs, b.transform, b.shape) == (a.crs, a.transform, a.shape)
        assert b.descriptions == ("NDVI", "NBR", "NDWI", "NDREI")
        ndvi = b.read(1)
    valid = np.isfinite(ndvi)
    assert valid.mean() > 0.9 and np.nanmin(ndvi) >= -1 and np.nanmax(ndvi) <= 1
