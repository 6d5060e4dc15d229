"""Every folder of ../shared/data read through cloudfree's readers, checked against its README."""

from pathlib import Path

import numpy as np
import pytest

from cloudfree.bands import BAND_SETS
from cloudfree.io.open import open_raster, open_source
from cloudfree.io.sen12mscr import find_triplets
from cloudfree.masks import cloud_fraction
from cloudfree.radiometry import Radiometry

FOLDERS = {
    "madagascar_cloudy_l1c",
    "slovenia_timeseries_l1c",
    "sen1floods11_spain",
    "sen12mscr_sample",
    "bigearthnet_examples",
    "cloud_labels_6band",
}
SLOVENIA_DATES = ("2015-07-11", "2015-07-31", "2015-08-20", "2015-08-30", "2015-09-09")
OVERCAST = {"2015-07-31", "2015-08-20"}


def _items(root: Path) -> list[Path]:
    """Every raster file, plus every band-file product folder (BigEarthNet), under ``root``."""
    files = [p for p in root.rglob("*.tif") if "bigearthnet_examples" not in p.relative_to(root).parts]
    products = [p for p in (root / "bigearthnet_examples").glob("*/*") if p.is_dir()]
    return sorted(files) + sorted(products)


def test_every_folder_and_item_is_readable(shared_data):
    assert {p.name for p in shared_data.iterdir() if p.is_dir()} == FOLDERS
    items = _items(shared_data)
    assert len(items) == 3 + 10 + 3 + 2 + 12 + 2
    for item in items:
        raster = open_source(item).read()
        assert raster.count >= 1 and raster.valid.any(), item


def test_madagascar_l1c_and_s2cloudless_masks(shared_data):
    folder = shared_data / "madagascar_cloudy_l1c"
    scene = open_raster(folder / "S2_L1C_cloudy.tif")
    assert scene.shape == (13, 856, 512) and scene.bands == BAND_SETS["l1c13"]
    assert scene.data.dtype == np.uint16 and scene.nodata == 0 and scene.crs.to_epsg() == 4326
    assert scene.radiometry is Radiometry.DN and (scene.dn_offset == 0).all()
    assert 0.05 < float(np.median(scene.to_reflectance().data[1][scene.valid])) < 0.5
    mask = open_raster(folder / "s2cloudless_mask.tif")
    prob = open_raster(folder / "s2cloudless_probability.tif")
    for layer in (mask, prob):
        assert layer.radiometry is Radiometry.LABEL and layer.same_grid(scene)
    assert set(np.unique(mask.data)) == {0, 1}
    assert cloud_fraction(mask.data[0]) == pytest.approx(0.46, abs=0.02)
    p = prob.data[0]
    assert p.min() >= 0 and p.max() <= 1 and p[mask.data[0] == 1].mean() > p[mask.data[0] == 0].mean() + 0.3


def test_slovenia_time_series_dates_and_masks(shared_data):
    folder = shared_data / "slovenia_timeseries_l1c"
    first = None
    for day in SLOVENIA_DATES:
        scene = open_raster(folder / f"S2_L1C_{day}.tif")
        assert scene.shape == (13, 101, 100) and scene.data.dtype == np.uint16 and scene.crs.to_epsg() == 32633
        assert scene.tags["DATETIME"].startswith(day) and scene.res == pytest.approx((10, 10), abs=0.01)
        first = first or scene
        assert scene.same_grid(first)
        clm = open_raster(folder / f"CLM_{day}.tif")
        assert clm.same_grid(scene)
        fraction = cloud_fraction(clm.data[0])
        assert fraction > 0.9 if day in OVERCAST else fraction < 0.1


def test_sen1floods11_chip(shared_data):
    folder = shared_data / "sen1floods11_spain"
    s2 = open_raster(folder / "Spain_7370579_S2Hand.tif")
    assert s2.bands == BAND_SETS["l1c13"] and s2.data.dtype == np.int16 and s2.nodata == 0
    assert s2.shape == (13, 512, 512) and s2.crs.to_epsg() == 4326 and s2.res[0] == pytest.approx(9e-5, rel=0.01)
    s1 = open_raster(folder / "Spain_7370579_S1Hand.tif")
    assert s1.bands == ("VV", "VH") and s1.radiometry is Radiometry.SAR_DB and s1.same_grid(s2)
    assert np.isnan(s1.nodata) and s1.valid.sum() == np.isfinite(s1.data).all(axis=0).sum()
    assert np.mean((s1.data[:, s1.valid] > -35) & (s1.data[:, s1.valid] < 5)) > 0.95
    labels = open_raster(folder / "Spain_7370579_LabelHand.tif")  # -1 is nodata by the data set's convention
    assert labels.radiometry is Radiometry.LABEL and labels.same_grid(s2)
    assert set(np.unique(labels.data)) == {-1, 0, 1}
    assert (~labels.valid).sum() == (labels.data[0] == -1).sum() > 0
    assert 0.1 < labels.data[0][labels.valid].mean() < 0.5  # some water, mostly dry


def test_sen12mscr_sample_patch(shared_data):
    folder = shared_data / "sen12mscr_sample"
    cloudy = open_raster(folder / "ROIs1868_summer_s2_cloudy_19_p30.tif")
    assert cloudy.bands == BAND_SETS["l1c13"] and cloudy.shape == (13, 256, 256) and cloudy.data.dtype == np.uint16
    assert cloudy.crs.to_epsg() == 32631 and cloudy.res == (10.0, 10.0)
    s1 = open_raster(folder / "ROIs1868_summer_s1_19_p30.tif")
    assert s1.bands == ("VV", "VH") and s1.same_grid(cloudy) and s1.radiometry is Radiometry.SAR_DB
    assert np.mean((s1.data > -35) & (s1.data < 5)) > 0.95
    assert [t.missing for t in find_triplets(folder)] == [("s2",)]


def _patch_id(folder: Path) -> str:
    """BigEarthNet-MM pairs S1 and S2 patches by the trailing ``<row>_<col>`` of their names."""
    return "_".join(folder.name.rsplit("_", 2)[-2:])


def test_bigearthnet_patches_and_s1_pairs(shared_data):
    root = shared_data / "bigearthnet_examples"
    s2_patches = sorted((root / "BigEarthNet-S2-Example").iterdir())
    s1_patches = {_patch_id(p): p for p in (root / "BigEarthNet-S1-Example").iterdir()}
    assert len(s2_patches) == 6 and len(s1_patches) == 6
    for folder in s2_patches:
        s2 = open_raster(folder)
        assert s2.shape == (12, 120, 120) and s2.bands == BAND_SETS["l2a12"] and s2.data.dtype == np.uint16
        assert 32601 <= s2.crs.to_epsg() <= 32660 and s2.res == (10.0, 10.0) and (s2.dn_offset == 0).all()
        refl = s2.to_reflectance()
        assert 0 < float(np.median(refl.data)) < 1
        s1 = open_raster(s1_patches[_patch_id(folder)])
        assert s1.bands == ("VV", "VH") and s1.data.dtype == np.float32 and s1.same_grid(s2)
        assert np.mean((s1.data > -35) & (s1.data < 10)) > 0.95


def test_cloud_labels_without_georeferencing(shared_data):
    folder = shared_data / "cloud_labels_6band"
    refl = open_raster(folder / "S2_6band_reflectance.tif")
    assert refl.bands == ("B02", "B03", "B04", "B08", "B11", "B12") and refl.shape == (6, 512, 512)
    assert refl.crs is None and refl.radiometry is Radiometry.REFLECTANCE and refl.data.dtype == np.float32
    assert refl.data.min() >= 0.0 and refl.data.max() <= 1.3
    labels = open_raster(folder / "labels.tif")
    assert labels.crs is None and labels.shape == (1, 512, 512)
    assert set(np.unique(labels.data)) == {0, 1, 2}
