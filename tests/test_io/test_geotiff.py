import warnings

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

from cloudfree.io import RasterReadError, read_mask, read_raster, write_raster
from cloudfree.io.writer import WindowedCOGWriter
from cloudfree.radiometry import Radiometry
from tests.fixtures import make_raster


def test_reads_madagascar_l1c_with_names_and_georeferencing(shared_data):
    r = read_raster(shared_data / "madagascar_cloudy_l1c" / "S2_L1C_cloudy.tif")
    assert r.shape == (13, 856, 512)
    assert r.bands[8] == "B8A" and r.bands[10] == "B10"
    assert r.crs.to_epsg() == 4326
    assert r.radiometry is Radiometry.DN and r.data.dtype == np.uint16
    assert (r.dn_offset == 0).all()
    refl = r.to_reflectance()
    assert refl.data.dtype == np.float32 and 0 < np.median(refl.data[1][refl.valid]) < 1


def test_sen1floods11_naming_and_windowed_read(shared_data):
    path = shared_data / "sen1floods11_spain" / "Spain_7370579_S2Hand.tif"
    full = read_raster(path)
    assert full.bands[0] == "B01" and full.bands[-1] == "B12"
    win = Window(100, 50, 64, 32)
    part = read_raster(path, window=win, select="rgb")
    assert part.shape == (3, 32, 64)
    np.testing.assert_array_equal(part.data, full.select("rgb").data[:, 50:82, 100:164])
    assert part.transform == full.window(win).transform


def test_sar_file_is_db_with_nan_invalid(shared_data):
    s1 = read_raster(shared_data / "sen1floods11_spain" / "Spain_7370579_S1Hand.tif")
    assert s1.bands == ("VV", "VH") and s1.radiometry is Radiometry.SAR_DB
    assert s1.valid.sum() == np.isfinite(s1.data).all(axis=0).sum()


def test_file_without_descriptions_needs_explicit_bands(shared_data):
    path = shared_data / "sen12mscr_sample" / "ROIs1868_summer_s2_cloudy_19_p30.tif"
    with pytest.raises(RasterReadError, match="no descriptions"):
        read_raster(path)
    assert read_raster(path, bands="l1c13").bands[-1] == "B12"
    with pytest.raises(RasterReadError, match="13 bands but 4"):
        read_raster(path, bands="rgbn")


def test_write_cog_round_trip_keeps_everything(tmp_path):
    r = make_raster(70, 90)
    r.valid[0, :5] = False
    out = write_raster(r.to_dn(offset=-1000), tmp_path / "out.tif")
    assert not list(tmp_path.glob(".*"))
    back = read_raster(out)
    assert back.bands == r.bands and back.crs == r.crs and back.transform == r.transform
    np.testing.assert_array_equal(back.valid, r.valid)
    assert (back.dn_offset == -1000).all()
    np.testing.assert_allclose(back.to_reflectance().data[:, r.valid], r.data[:, r.valid], atol=6e-5)
    with rasterio.open(out) as src:
        assert src.profile["tiled"] is True or src.height < 256


def test_bad_inputs_are_named(tmp_path):
    bad = tmp_path / "truncated.tif"
    bad.write_bytes(b"II*\x00garbage")
    with pytest.raises(RasterReadError, match=r"truncated\.tif"):
        read_raster(bad)
    with pytest.raises(RasterReadError, match="does not exist"):
        read_raster(tmp_path / "missing.tif")
    r = make_raster(10, 10)
    with pytest.raises(RasterReadError, match="exactly one band"):
        read_mask(write_raster(r, tmp_path / "multi.tif"))


def test_windowed_writer_is_atomic(tmp_path):
    r = make_raster(64, 64)
    dest = tmp_path / "w.tif"
    with (
        pytest.raises(RuntimeError),
        WindowedCOGWriter(
            dest,
            height=64,
            width=64,
            crs=r.crs,
            transform=r.transform,
            descriptions=r.bands,
            dtype="float32",
            nodata=None,
        ) as w,
    ):
        w.write(r.data[:, :32], Window(0, 0, 64, 32))
        raise RuntimeError("boom")
    assert not dest.exists() and list(tmp_path.iterdir()) == []
    with WindowedCOGWriter(
        dest,
        height=64,
        width=64,
        crs=r.crs,
        transform=r.transform,
        descriptions=r.bands,
        dtype="float32",
        nodata=None,
        tags={"model": "x"},
    ) as w:
        w.write(r.data[:, :32], Window(0, 0, 64, 32))
        w.write(r.data[:, 32:], Window(0, 32, 64, 32))
    back = read_raster(dest)
    np.testing.assert_array_equal(back.data, r.data)
    assert back.tags["model"] == "x"


def test_cog_copy_cache_is_bounded_sized_to_the_source_and_restored(tmp_path, monkeypatch):
    from rasterio.env import get_gdal_config

    from cloudfree.io.cog import COPY_CACHE_MIN_BYTES, cog_copy_cache, finalize_cog

    monkeypatch.delenv("GDAL_CACHEMAX", raising=False)
    r = make_raster(64, 64)
    small = write_raster(r, tmp_path / "small.tif", cog=False)
    assert cog_copy_cache(small) == {"GDAL_CACHEMAX": COPY_CACHE_MIN_BYTES}
    # a wide float32 13-band source: 4 rows of its 256 px blocks exceed the minimum
    wide = tmp_path / "wide.tif"
    profile = dict(driver="GTiff", width=20000, height=256, count=13, dtype="float32", tiled=True,
                   blockxsize=256, blockysize=256, sparse_ok=True)  # fmt: skip
    with rasterio.open(wide, "w", **profile):
        pass
    assert cog_copy_cache(wide) == {"GDAL_CACHEMAX": 4 * 256 * 20000 * 13 * 4}
    monkeypatch.setenv("GDAL_CACHEMAX", "64MB")  # the user's choice wins
    assert cog_copy_cache(wide) == {}
    monkeypatch.delenv("GDAL_CACHEMAX")
    before = get_gdal_config("GDAL_CACHEMAX")
    finalize_cog(small, tmp_path / "final.tif")
    assert get_gdal_config("GDAL_CACHEMAX") == before
    assert read_raster(tmp_path / "final.tif").bands == r.bands


def test_windowed_writer_is_quiet_for_an_input_without_georeferencing(tmp_path):
    """A file with no CRS has an identity transform; rasterio's warning that GDAL may drop it is noise."""
    r = make_raster(32, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with WindowedCOGWriter(
            tmp_path / "plain.tif", height=32, width=32, crs=None, transform=Affine.identity(),
            descriptions=r.bands, dtype="float32", nodata=None,
        ) as w:  # fmt: skip
            w.write(r.data, Window(0, 0, 32, 32))
    with rasterio.open(tmp_path / "plain.tif") as src:
        assert src.crs is None and src.count == len(r.bands)


@pytest.mark.parametrize(
    ("count", "hint"), [(4, "--bands rgbn' (B02,B03,B04,B08)"), (13, "--bands l1c13'"), (7, "B04,B03")]
)
def test_file_without_descriptions_gets_a_hint_for_its_band_count(tmp_path, count, hint):
    path = tmp_path / f"plain{count}.tif"
    with rasterio.open(path, "w", driver="GTiff", width=8, height=8, count=count, dtype="uint16") as dst:
        dst.write(np.ones((count, 8, 8), np.uint16))
    with pytest.raises(RasterReadError, match=f"its {count} band") as info:
        read_raster(path)
    assert hint in str(info.value)
