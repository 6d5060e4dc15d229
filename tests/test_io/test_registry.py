"""The reader registry: every format through one entry, files opened once, radiometry checked, inf = nodata."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import rasterio
from affine import Affine

from cloudfree.cli import main
from cloudfree.errors import CloudfreeError, RasterReadError
from cloudfree.io.open import READERS, detect_layout, is_product, open_raster, open_source
from cloudfree.io.warp import Grid
from cloudfree.radiometry import Radiometry, RadiometryError
from tests.fixtures import write_geotiff as write
from tests.test_io.test_safe import ALL_OFFSETS, L2A, make_safe, zip_safe


def band_folder(root, bands=("B02", "B03", "B04", "B08", "B11")):
    """A BigEarthNet-like folder: 10 m bands 40 px, 20 m bands 20 px, uint16 DN."""
    root.mkdir(parents=True)
    for i, band in enumerate(bands):
        res = 20 if band in ("B11", "B12", "B8A", "B05") else 10
        n = 400 // res
        data = (1000 + 100 * i + np.arange(n * n).reshape(1, n, n) % 500).astype(np.uint16)
        profile = {"driver": "GTiff", "width": n, "height": n, "count": 1, "dtype": "uint16", "crs": "EPSG:32633"}
        profile["transform"] = Affine(res, 0, 500000, 0, -res, 5100000)
        with rasterio.open(root / f"S2A_MSIL2A_20170613T101031_87_48_{band}.tif", "w", **profile) as dst:
            dst.write(data)
    return root


def test_registry_is_closed_and_ordered():
    assert list(READERS) == ["safe", "bandfiles", "stac-pair", "sen12mscr", "bandfile", "geotiff"]
    for name, cls in READERS.items():
        assert cls.name == name and callable(cls.matches) and callable(cls.open)


def test_every_generated_layout(tmp_path):
    safe = make_safe(tmp_path / "p", offsets=ALL_OFFSETS)
    archive = zip_safe(safe, tmp_path / "l1c.zip")
    l2a = make_safe(tmp_path / "q", level="L2A", product=L2A, offsets=ALL_OFFSETS)
    folder = band_folder(tmp_path / "S2A_MSIL2A_20170613T101031_87_48")
    pair = tmp_path / "pairs" / "p0001"
    pair.mkdir(parents=True)
    dn = np.full((4, 20, 20), 1500, np.uint16)
    for member in ("cloudy", "clear"):
        write(pair / f"{member}.tif", dn, ("B02", "B03", "B04", "B08"), {"CLOUDFREE_RADIOMETRY": "dn"})
    s12 = write(tmp_path / "ROIs1868_summer_s2_cloudy_19_p30.tif", np.full((13, 16, 16), 900, np.uint16))
    tif = write(tmp_path / "scene.tif", dn, ("B02", "B03", "B04", "B08"))
    expected = {
        safe: ("safe", 13),
        archive: ("safe", 13),
        l2a: ("safe", 12),
        folder: ("bandfiles", 5),
        pair: ("stac-pair", 4),
        s12: ("sen12mscr", 13),
        tif: ("geotiff", 4),
    }
    for path, (layout, count) in expected.items():
        assert detect_layout(path) == layout, path
        with open_source(path) as source:
            raster = source.read()
            assert raster.count == count and raster.crs.to_epsg() == 32633, path
            assert source.grid == Grid.of(raster)
    assert is_product(safe) and is_product(archive) and is_product(folder) and is_product(pair)
    assert not is_product(tmp_path) and not is_product(tmp_path / "missing")


def test_product_onto_another_grid_is_one_warp(tmp_path):
    folder = band_folder(tmp_path / "S2A_MSIL2A_20170613T101031_87_48")
    with open_source(folder) as source:
        target = Grid(source.crs, Affine(20, 0, 500000, 0, -20, 5100000), 20, 20)
        moved = source.on_grid(target)
        a = moved.read(window=rasterio.windows.Window(0, 0, 20, 10))
        b = moved.read(window=rasterio.windows.Window(0, 10, 20, 10))
        assert a.shape == (5, 10, 20) and b.transform.f == 5100000 - 200
        readers = dict(moved._readers)
        moved.read(window=rasterio.windows.Window(0, 0, 20, 20))
        assert all(moved._readers[k] is readers[k] for k in readers)  # built once, reused
        moved.close()


def test_float_dn_uint8_and_reflectance_tagged_dn_are_refused(tmp_path):
    names = ("B02", "B03", "B04", "B08")
    rng = np.random.default_rng(0)
    float_dn = write(tmp_path / "float_dn.tif", rng.uniform(271, 5363, (4, 30, 30)).astype(np.float32), names)
    eight = write(tmp_path / "eight.tif", rng.integers(0, 255, (4, 30, 30)).astype(np.uint8), names)
    refl = rng.uniform(0.01, 0.6, (4, 30, 30)).astype(np.float32)
    tagged = write(tmp_path / "tagged.tif", refl, names, {"CLOUDFREE_RADIOMETRY": "dn"})
    with pytest.raises(RadiometryError, match=r"float_dn\.tif: band B02 is float but holds DN-like values"):
        open_raster(float_dn)
    with pytest.raises(RadiometryError, match=r"eight\.tif: uint8 data cannot be Sentinel-2 DN"):
        open_raster(eight)
    with pytest.raises(RadiometryError, match=r"tagged\.tif: declared DN but every band holds reflectance-like"):
        open_raster(tagged)
    assert issubclass(RadiometryError, CloudfreeError) and issubclass(RadiometryError, ValueError)
    # stated explicitly: read as said, converted explicitly
    as_dn = open_raster(float_dn, radiometry="dn")
    assert as_dn.radiometry is Radiometry.DN and as_dn.to_reflectance().data.max() < 0.6
    assert open_raster(tagged, radiometry="reflectance").data.max() < 0.61
    for path in (float_dn, eight, tagged):
        assert main(["info", str(path)]) == 2
    assert main(["info", str(float_dn), "--radiometry", "dn"]) == 0


def test_cli_error_is_one_line(tmp_path, capsys):
    data = np.full((4, 10, 10), 3000.0, np.float32)
    path = write(tmp_path / "x.tif", data, ("B02", "B03", "B04", "B08"))
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "x.tif" in err and "B02" in err and "--radiometry" in err


def test_non_finite_values_are_nodata(tmp_path, capsys):
    data = np.full((2, 10, 10), 0.2, np.float32)
    data[0, 0, :5] = np.inf
    data[1, 1, :3] = -np.inf
    data[0, 2, 0] = np.nan
    path = write(tmp_path / "inf.tif", data, ("B04", "B08"))
    raster = open_raster(path)
    assert raster.valid.sum() == 100 - 9
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["valid_fraction"] == pytest.approx(0.91)
    assert all(np.isfinite(b["mean"]) and b["max"] == pytest.approx(0.2) for b in info["bands"])


def test_unknown_option_and_folder_are_named(tmp_path):
    tif = write(tmp_path / "a.tif", np.ones((1, 4, 4), np.uint16), ("B02",))
    with pytest.raises(RasterReadError, match=r"\['granule'\] do not apply to a geotiff input"):
        open_source(tif, granule="x")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RasterReadError, match="folder is not a raster product"):
        open_source(empty)


def test_real_samples_through_the_registry(shared_data, tmp_path):
    cases = {
        shared_data / "madagascar_cloudy_l1c" / "S2_L1C_cloudy.tif": ("geotiff", 13),
        shared_data / "sen12mscr_sample" / "ROIs1868_summer_s2_cloudy_19_p30.tif": ("sen12mscr", 13),
        shared_data / "sen12mscr_sample" / "ROIs1868_summer_s1_19_p30.tif": ("sen12mscr", 2),
        shared_data / "bigearthnet_examples" / "BigEarthNet-S2-Example" / "S2A_MSIL2A_20170613T101031_87_48": (
            "bandfiles",
            12,
        ),
        shared_data / "cloud_labels_6band" / "S2_6band_reflectance.tif": ("geotiff", 6),
        shared_data / "cloud_labels_6band" / "labels.tif": ("geotiff", 1),
    }
    for path, (layout, count) in cases.items():
        assert detect_layout(path) == layout
        with open_source(path) as source:
            assert len(source.bands) == count, path
    copy = tmp_path / "copy"
    shutil.copytree(shared_data / "bigearthnet_examples" / "BigEarthNet-S2-Example", copy)
    assert not is_product(copy) and is_product(copy / "S2A_MSIL2A_20170613T101031_87_48")
