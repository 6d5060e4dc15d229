"""Band-per-file products: BigEarthNet patches (real) and small generated band files (edge cases)."""

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

from cloudfree.bands import BandError
from cloudfree.errors import RasterReadError
from cloudfree.io.bandfiles import BandStack, find_band_files, parse_band_filename, read_band_files
from cloudfree.io.open import open_raster
from cloudfree.radiometry import Radiometry

S2_EXAMPLES = Path("bigearthnet_examples") / "BigEarthNet-S2-Example"
S1_EXAMPLES = Path("bigearthnet_examples") / "BigEarthNet-S1-Example"
PATCH = "S2A_MSIL2A_20170613T101031_87_48"
SNOW = "S2B_MSIL2A_20180204T94161_57_38"


def _read_file(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def _write_band(path: Path, data: np.ndarray, res: float, crs: str | None = "EPSG:32633", nodata=None) -> Path:
    profile = {
        "driver": "GTiff",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": str(data.dtype),
        "crs": crs,
        "transform": Affine(res, 0, 400000.0, 0, -res, 5300000.0),
        "nodata": nodata,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return path


def test_parse_band_filenames():
    assert parse_band_filename(f"{PATCH}_B8A.tif") == (PATCH, "B8A", None)
    assert parse_band_filename("T33UUP_20220105T101319_B02_10m.jp2") == ("T33UUP_20220105T101319", "B02", 10)
    assert parse_band_filename("x_VH.tif") == ("x", "VH", None)
    assert parse_band_filename("B1.tif") == ("", "B01", None)
    for other in ("T33UUP_20220105T101319_TCI_10m.jp2", "x_WVP_10m.jp2", "x_SCL_20m.jp2", "x_labels_metadata.json"):
        assert parse_band_filename(other) is None


def test_bigearthnet_patch_on_10m_grid(shared_data):
    folder = shared_data / S2_EXAMPLES / PATCH
    raster = read_band_files(folder)
    assert raster.shape == (12, 120, 120)
    assert raster.bands == ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")
    assert raster.data.dtype == np.uint16 and raster.radiometry is Radiometry.DN
    assert (raster.dn_offset == 0).all() and raster.valid.all()
    with rasterio.open(folder / f"{PATCH}_B02.tif") as src:
        assert raster.crs == src.crs and raster.crs.to_epsg() == 32633
        assert raster.transform == src.transform
    np.testing.assert_array_equal(raster.select(["B02"]).data[0], _read_file(folder / f"{PATCH}_B02.tif"))
    for band in ("B8A", "B11", "B01"):
        source = _read_file(folder / f"{PATCH}_{band}.tif").astype(np.float64)
        upsampled = raster.select([band]).data[0].astype(np.float64)
        assert abs(upsampled.mean() / source.mean() - 1) < 0.01
        factor = 120 // source.shape[0]
        block_means = upsampled.reshape(source.shape[0], factor, source.shape[1], factor).mean(axis=(1, 3))
        assert np.corrcoef(block_means.ravel(), source.ravel())[0, 1] > 0.95
    assert raster.tags["PRODUCT_ID"] == PATCH and raster.tags["CLOUDFREE_LAYOUT"] == "bandfiles"


def test_snow_patch_reads_fine(shared_data):
    raster = read_band_files(shared_data / S2_EXAMPLES / SNOW, "rgbn")
    assert raster.shape == (4, 120, 120) and raster.crs.to_epsg() == 32635 and raster.valid.all()
    refl = raster.to_reflectance()
    assert 0.25 < float(np.median(refl.data)) < 1.3  # bright snow, not nodata, not clipped


def test_window_reads_only_a_window_and_matches_full_read(shared_data):
    stack = BandStack(shared_data / S2_EXAMPLES / PATCH)
    full = stack.read()
    win = Window(30, 20, 50, 40)
    part = stack.read(select="B04,B8A,B01", window=win)
    assert part.bands == ("B04", "B8A", "B01") and part.shape == (3, 40, 50)
    np.testing.assert_array_equal(part.data, full.select(["B04", "B8A", "B01"]).data[:, 20:60, 30:80])
    assert part.transform == full.window(win).transform
    with pytest.raises(RasterReadError, match="outside"):
        stack.read(window=Window(100, 100, 40, 40))


def test_target_resolution_reference_band_and_nearest(shared_data):
    folder = shared_data / S2_EXAMPLES / PATCH
    at20 = BandStack(folder, resolution=20).read()
    assert at20.shape == (12, 60, 60) and at20.res == (20.0, 20.0)
    np.testing.assert_array_equal(at20.select(["B11"]).data[0], _read_file(folder / f"{PATCH}_B11.tif"))
    at60 = BandStack(folder, reference="B01", resampling="average").read()
    assert at60.shape == (12, 20, 20) and at60.transform == BandStack(folder).infos["B01"].transform
    nearest = BandStack(folder, resampling="nearest").read(select=["B8A"]).data[0]
    source = _read_file(folder / f"{PATCH}_B8A.tif")
    np.testing.assert_array_equal(nearest, np.repeat(np.repeat(source, 2, axis=0), 2, axis=1))


def test_sentinel1_pair_files_are_db(shared_data):
    folder = shared_data / S1_EXAMPLES / "S1A_IW_GRDH_1SDV_20170613T165043_33UUP_87_48"
    raster = read_band_files(folder)
    assert raster.bands == ("VV", "VH") and raster.radiometry is Radiometry.SAR_DB
    assert raster.shape == (2, 120, 120) and raster.crs.to_epsg() == 32633
    vv, vh = raster.data
    assert np.mean((vv > -35) & (vv < 5)) > 0.95 and vh.mean() < vv.mean()


def test_nodata_and_explicit_offsets(tmp_path):
    folder = tmp_path / "product"
    folder.mkdir()
    b02 = np.full((8, 8), 2000, np.uint16)
    b02[0, 0] = 0
    _write_band(folder / "p_B02.tif", b02, 10)
    _write_band(folder / "p_B11.tif", np.full((4, 4), 3000, np.uint16), 20)
    raster = read_band_files(folder, dn_offset={"B02": -1000, "B11": -1000})
    assert not raster.valid[0, 0] and raster.valid.sum() == 63
    refl = raster.to_reflectance()
    np.testing.assert_allclose(refl.data[:, 4, 4], [0.1, 0.2], atol=1e-6)


def test_baseline_from_esa_product_name(tmp_path):
    folder = tmp_path / "S2B_MSIL2A_20220105T101319_N0400_R022_T33UUP_20220105T131516"
    folder.mkdir()
    _write_band(folder / "T33UUP_20220105T101319_B02_10m.tif", np.full((4, 4), 1500, np.uint16), 10)
    raster = read_band_files(folder)
    assert (raster.dn_offset == -1000).all() and raster.tags["PROCESSING_BASELINE"] == "04.00"
    np.testing.assert_allclose(raster.to_reflectance().data, 0.05, atol=1e-6)


def test_bad_folders_are_named(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no bands here")
    with pytest.raises(RasterReadError, match=r"empty: no band files"):
        BandStack(empty)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    _write_band(mixed / "a_B02.tif", np.ones((4, 4), np.uint16), 10)
    _write_band(mixed / "b_B03.tif", np.ones((4, 4), np.uint16), 10)
    with pytest.raises(RasterReadError, match="2 products"):
        find_band_files(mixed)
    assert list(find_band_files(mixed, prefix="b")) == ["B03"]
    truncated = tmp_path / "trunc"
    truncated.mkdir()
    (truncated / "x_B02.tif").write_bytes(b"II*\x00garbage")
    with pytest.raises(RasterReadError, match=r"x_B02\.tif"):
        BandStack(truncated)
    other_crs = tmp_path / "crs"
    other_crs.mkdir()
    _write_band(other_crs / "x_B02.tif", np.ones((4, 4), np.uint16), 10)
    _write_band(other_crs / "x_B03.tif", np.ones((4, 4), np.uint16), 10, crs="EPSG:32632")
    with pytest.raises(RasterReadError, match="must share a CRS"):
        BandStack(other_crs)
    with pytest.raises(BandError, match=r"lacks band\(s\) \['B8A'\]"):
        BandStack({"B02": mixed / "a_B02.tif"}, bands="B02,B8A")


def test_open_raster_dispatches_band_files_and_names_unsupported_inputs(shared_data, tmp_path):
    folder = shared_data / S2_EXAMPLES / PATCH
    single = open_raster(folder / f"{PATCH}_B8A.tif")
    assert single.bands == ("B8A",) and single.shape == (1, 60, 60) and single.res == (20.0, 20.0)
    picked = open_raster(folder, "B8A,B11", resolution=20, select="B11")
    assert picked.bands == ("B11",) and picked.shape == (1, 60, 60)
    with pytest.raises(RasterReadError, match=r"folder is not a raster product; supported inputs: a GeoTIFF"):
        open_raster(tmp_path)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a raster")
    with pytest.raises(RasterReadError, match=r"notes\.txt: not a readable raster"):
        open_raster(notes)
    with pytest.raises(ValueError, match=r"\['resolution'\] do not apply to a geotiff input"):
        open_raster(shared_data / "madagascar_cloudy_l1c" / "S2_L1C_cloudy.tif", resolution=20)
