"""s2cloudless adapter: exact reproduction of the shipped reference, windowed scenes, L2A and band checks."""

from __future__ import annotations

import builtins

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from cloudfree import cli
from cloudfree.bands import BandError
from cloudfree.io import read_mask, read_raster, write_raster
from cloudfree.io.open import open_raster
from cloudfree.masking.s2cloudless_adapter import (
    MissingExtraError,
    ProductLevelError,
    S2Cloudless,
    product_level,
)

MADAGASCAR = "madagascar_cloudy_l1c"


@pytest.fixture(scope="module")
def scene(shared_data):
    return read_raster(shared_data / MADAGASCAR / "S2_L1C_cloudy.tif")


def test_reproduces_the_reference_mask_exactly(scene, shared_data):
    assert scene.bands[10] == "B10" and scene.data.dtype == np.uint16 and float(scene.dn_offset.max()) == 0.0
    prob, mask = S2Cloudless()(scene)
    reference = read_mask(shared_data / MADAGASCAR / "s2cloudless_mask.tif")
    reference_prob = read_mask(shared_data / MADAGASCAR / "s2cloudless_probability.tif")
    np.testing.assert_array_equal(mask.data[0], reference)
    np.testing.assert_allclose(prob.data[0], reference_prob, atol=1e-6)
    assert 0.4 < mask.data[0].mean() < 0.5  # the documented ~46 % cloud
    assert mask.same_grid(scene) and prob.crs == scene.crs and mask.bands == ("mask",)


def test_cli_windows_with_halo_equal_the_whole_scene(scene, tmp_path, capsys):
    crop = scene.window(Window(100, 300, 120, 100))
    src = write_raster(crop, tmp_path / "crop.tif")
    expected_prob, expected = S2Cloudless(average_over=4, dilation_size=2)(read_raster(src))
    out, prob = tmp_path / "mask.tif", tmp_path / "prob.tif"
    args = ["mask", str(src), "-o", str(out), "--method", "s2cloudless", "--tile", "48", "--quiet"]
    code = cli.main([*args, "--average-over", "4", "--dilation-size", "2", "--probability", str(prob)])
    assert code == 0
    assert "cloud fraction" in capsys.readouterr().out
    with rasterio.open(out) as m, rasterio.open(prob) as p:
        assert m.crs == crop.crs and m.transform.almost_equals(crop.transform) and m.dtypes[0] == "uint8"
        assert m.nodata == 255 and (m.width, m.height) == (120, 100)
        np.testing.assert_array_equal(m.read(1), expected.data[0])
        np.testing.assert_array_equal(p.read(1), expected_prob.data[0])


def test_missing_bands_and_l2a_are_refused(scene, shared_data):
    without_b10 = scene.select([b for b in scene.bands if b != "B10"])
    with pytest.raises(BandError, match=r"bands \['B10'\] are missing.*Level-2A"):
        S2Cloudless().probability(without_b10)
    with pytest.raises(BandError, match=r"\['B01', 'B05', 'B8A', 'B09', 'B10', 'B11', 'B12'\] are missing"):
        S2Cloudless().probability(scene.select("rgbn"))
    tagged = scene.window(Window(0, 0, 32, 32))
    tagged.tags = {"PRODUCT_TYPE": "S2MSI2A", "PRODUCT": "S2B_MSIL2A_20200101"}
    with pytest.raises(ProductLevelError, match="Level-2A"):
        S2Cloudless().probability(tagged)
    with pytest.raises(ProductLevelError, match="Level-2A"):
        S2Cloudless(level="L2A").probability(scene.window(Window(0, 0, 32, 32)))
    assert product_level(scene.tags) == "L1C"
    assert product_level({"BOA_ADD_OFFSET": "-1000"}) == "L2A"
    # a real L2A product: BigEarthNet patch (12 bands, no B10)
    patch = shared_data / "bigearthnet_examples/BigEarthNet-S2-Example/S2A_MSIL2A_20170613T101031_87_48"
    l2a = open_raster(patch)
    assert "B10" not in l2a.bands
    with pytest.raises((BandError, ProductLevelError), match="Level-2A"):
        S2Cloudless().probability(l2a)


def test_cli_refuses_l2a_and_wrong_bands_without_output(shared_data, tmp_path, capsys):
    patch = shared_data / "bigearthnet_examples/BigEarthNet-S2-Example/S2A_MSIL2A_20170613T101031_87_48"
    src = write_raster(open_raster(patch), tmp_path / "l2a.tif")
    out = tmp_path / "mask.tif"
    assert cli.main(["mask", str(src), "-o", str(out), "--method", "s2cloudless", "--quiet"]) == 2
    assert "B10" in capsys.readouterr().err
    six = shared_data / "cloud_labels_6band/S2_6band_reflectance.tif"
    assert cli.main(["mask", str(six), "-o", str(out), "--method", "s2cloudless", "--quiet"]) == 2
    assert "s2cloudless needs bands" in capsys.readouterr().err
    s1f = shared_data / "sen1floods11_spain/Spain_7370579_S2Hand.tif"
    assert cli.main(["mask", str(s1f), "-o", str(out), "--method", "s2cloudless", "--level", "L2A", "--quiet"]) == 2
    assert "Level-2A" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["l2a.tif"]


def test_missing_package_names_the_extra(scene, monkeypatch):
    from cloudfree.masking import s2cloudless_adapter

    s2cloudless_adapter._detector.cache_clear()
    s2cloudless_adapter._classifier.cache_clear()
    real_import = builtins.__import__

    def no_s2cloudless(name, *args, **kwargs):
        if name.startswith("s2cloudless"):
            raise ImportError("No module named 's2cloudless'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_s2cloudless)
    with pytest.raises(MissingExtraError, match=r"pip install cloudfree\[s2cloudless\]"):
        S2Cloudless().probability(scene.window(Window(0, 0, 8, 8)))
    monkeypatch.undo()
    s2cloudless_adapter._detector.cache_clear()
    s2cloudless_adapter._classifier.cache_clear()
