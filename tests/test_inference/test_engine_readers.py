"""The engine reads every format through the reader registry; named inputs, halo, skip, one read per row."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from scipy import ndimage

from cloudfree.errors import RasterReadError
from cloudfree.inference.sources import InputSpec
from cloudfree.inference.streaming import predict_scene
from cloudfree.io import read_raster, write_raster
from tests.fixtures import make_raster
from tests.test_io.test_registry import band_folder, write
from tests.test_io.test_safe import ALL_OFFSETS, L1C, make_safe, zip_safe


def first_band(x, valid):
    return x[:, :1]


def first_band_scene(src, out, *, tile: int, overlap: int, band: str = "B02"):
    """The engine over ``src`` with the first input band as the model; its summary."""
    return predict_scene(src, out, first_band, out_descriptions=[band], tile=tile, overlap=overlap, progress=False)


def check_cog(path, crs_epsg, transform, descriptions):
    with rasterio.open(path) as ds:
        assert ds.crs.to_epsg() == crs_epsg and ds.transform.almost_equals(transform)
        assert ds.descriptions == tuple(descriptions)
        assert ds.profile.get("tiled") or ds.driver == "GTiff"


def test_safe_zip_band_folder_and_sen12mscr_through_the_engine(tmp_path):
    archive = zip_safe(make_safe(tmp_path / "src", offsets=ALL_OFFSETS), tmp_path / f"{L1C}.zip")
    summary = first_band_scene(InputSpec(archive, select="rgbn"), tmp_path / "safe.tif", tile=32, overlap=8)
    check_cog(tmp_path / "safe.tif", 32633, Affine(10, 0, 300000, 0, -10, 5400000), ["B02"])
    out = read_raster(tmp_path / "safe.tif", "B02")
    assert out.data.mean() == pytest.approx((1000 + 100 + 59 - 1000) / 10000, abs=1e-5)  # B02 DN, offset -1000
    assert summary.extra["rows_read"] == {"input0": 60}

    folder = band_folder(tmp_path / "S2A_MSIL2A_20170613T101031_87_48")
    first_band_scene(folder, tmp_path / "bands.tif", tile=16, overlap=4)
    check_cog(tmp_path / "bands.tif", 32633, Affine(10, 0, 500000, 0, -10, 5100000), ["B02"])

    s12 = write(tmp_path / "ROIs1868_summer_s2_cloudy_19_p30.tif", np.full((13, 24, 24), 900, np.uint16))
    first_band_scene(InputSpec(s12, select="rgbn", bands="l1c13"), tmp_path / "s12.tif", tile=16, overlap=4)
    assert read_raster(tmp_path / "s12.tif", "B02").data.max() == pytest.approx(0.09)


def test_real_sen12mscr_and_bigearthnet(shared_data, tmp_path):
    patch = shared_data / "sen12mscr_sample" / "ROIs1868_summer_s2_cloudy_19_p30.tif"
    with rasterio.open(patch) as ds:
        crs, transform = ds.crs, ds.transform
    first_band_scene(InputSpec(patch, select="rgbn", bands="l1c13"), tmp_path / "a.tif", tile=128, overlap=16)
    check_cog(tmp_path / "a.tif", crs.to_epsg(), transform, ["B02"])
    ben = shared_data / "bigearthnet_examples" / "BigEarthNet-S2-Example" / "S2A_MSIL2A_20170613T101031_87_48"
    first_band_scene(ben, tmp_path / "b.tif", tile=64, overlap=8, band="B01")
    out = read_raster(tmp_path / "b.tif", "B01")
    assert out.shape == (1, 120, 120) and out.crs is not None and out.valid.all()


def test_named_inputs_mask_and_finalize_inputs(tmp_path):
    r = make_raster(50, 70, seed=3)
    write_raster(r, tmp_path / "opt.tif")
    sar = make_raster(50, 70, bands=("VV", "VH"), seed=4)
    sar.data[:] = -12.0
    write_raster(sar, tmp_path / "sar.tif")
    mask = np.zeros((1, 50, 70), np.uint8)
    mask[0, 10:20, 5:30] = 1
    write(tmp_path / "mask.tif", mask, ("mask",))
    seen = {}

    def predict(x, valid):
        seen["keys"] = sorted(x)
        assert x["optical"].shape[1:] == (4, 32, 32) and x["sar"].shape[1] == 2 and x["mask"].shape[1] == 1
        return np.concatenate([x["optical"][:, :1], x["sar"][:, :1], x["mask"]], axis=1)

    def finalize(blended, window, raster, inputs):
        assert set(inputs) == {"optical", "sar", "mask"} and inputs["mask"].data.dtype == np.uint8
        np.testing.assert_array_equal(blended[2], inputs["mask"].data[0])
        return blended

    summary = predict_scene(
        {"optical": tmp_path / "opt.tif", "sar": tmp_path / "sar.tif", "mask": tmp_path / "mask.tif"},
        tmp_path / "out.tif",
        predict,
        out_descriptions=["B02", "VV", "mask"],
        tile=32,
        overlap=8,
        finalize=finalize,
        progress=False,
    )
    assert seen["keys"] == ["mask", "optical", "sar"]
    out = read_raster(tmp_path / "out.tif", ["B02", "VV", "B03"], radiometry="reflectance")
    np.testing.assert_allclose(out.data[0], r.data[0], atol=1e-6)
    np.testing.assert_allclose(out.data[1], -12.0)
    np.testing.assert_array_equal(out.data[2], mask[0])
    assert summary.extra["rows_read"] == {"optical": 50, "sar": 50, "mask": 50}  # every row read once


def test_halo_gives_seamless_neighbourhood_filters(tmp_path):
    r = make_raster(90, 77, bands=("B04",), seed=5)
    write_raster(r, tmp_path / "in.tif")

    def smooth(x, valid):
        return ndimage.uniform_filter(x, size=(1, 1, 5, 5), mode="mirror")  # numpy reflect = scipy mirror

    predict_scene(
        tmp_path / "in.tif",
        tmp_path / "out.tif",
        smooth,
        out_descriptions=["B02"],
        tile=32,
        overlap=0,
        halo=2,
        progress=False,
    )
    expected = ndimage.uniform_filter(r.data[0], size=5, mode="mirror")  # numpy reflect = scipy mirror
    np.testing.assert_allclose(read_raster(tmp_path / "out.tif").data[0], expected, atol=1e-6)


def test_skip_fills_tiles_without_predicting(tmp_path):
    r = make_raster(64, 64, bands=("B04",), seed=6)
    r.data[:, :32] = 0.05
    write_raster(r, tmp_path / "in.tif")
    calls = []

    def predict(x, valid):
        calls.append(len(x))
        return x * 2

    summary = predict_scene(
        tmp_path / "in.tif",
        tmp_path / "out.tif",
        predict,
        out_descriptions=["B02"],
        tile=32,
        overlap=0,
        skip=lambda x, valid: bool((x < 0.06).all()),
        fill=lambda x, valid: x,
        progress=False,
    )
    out = read_raster(tmp_path / "out.tif").data[0]
    np.testing.assert_allclose(out[:32], 0.05)
    np.testing.assert_allclose(out[32:], 2 * r.data[0, 32:], atol=1e-6)
    assert sum(calls) == 2 and summary.extra["skipped_tiles"] == 2
    with pytest.raises(ValueError, match="skip= needs fill="):
        predict_scene(tmp_path / "in.tif", tmp_path / "x.tif", predict, out_descriptions=["B04"], skip=bool)


def test_all_nodata_input_is_refused_and_nothing_written(tmp_path):
    data = np.zeros((4, 40, 40), np.uint16)
    write(tmp_path / "empty.tif", data, ("B02", "B03", "B04", "B08"), nodata=0)
    with pytest.raises(RasterReadError, match=r"empty\.tif: every pixel is nodata"):
        first_band_scene(tmp_path / "empty.tif", tmp_path / "out.tif", tile=16, overlap=4)
    assert not (tmp_path / "out.tif").exists() and list(tmp_path.iterdir()) == [tmp_path / "empty.tif"]


def test_inf_input_pixels_are_nodata_in_the_output(tmp_path):
    data = np.full((2, 20, 20), 0.3, np.float32)
    data[0, 3, 4] = np.inf
    data[1, 5, 6] = -np.inf
    write(tmp_path / "in.tif", data, ("B04", "B08"))
    predict_scene(
        tmp_path / "in.tif",
        tmp_path / "out.tif",
        lambda x, v: x,
        out_descriptions=["B04", "B08"],
        tile=16,
        overlap=4,
        progress=False,
        extra_outputs=(),
    )
    out = read_raster(tmp_path / "out.tif")
    assert np.isnan(out.data[:, 3, 4]).all() and np.isnan(out.data[:, 5, 6]).all()
    assert np.isfinite(out.data).sum() == 2 * (400 - 2)


def test_input_info_is_a_drop_in_for_open_info(tmp_path):
    from cloudfree.inference.sources import input_info
    from cloudfree.io.metadata import band_names_of, dn_offset_from_tags, infer_radiometry

    archive = zip_safe(make_safe(tmp_path / "src", offsets=ALL_OFFSETS), tmp_path / f"{L1C}.zip")
    info = input_info(archive, "rgbn")
    names = band_names_of(info, None)
    assert names == ("B02", "B03", "B04", "B08") and (info.height, info.width) == (60, 60)
    assert infer_radiometry(names, info.dtype, info.tags).value == "dn"
    assert (dn_offset_from_tags(info.tags, 4) == -1000).all() and info.crs.to_epsg() == 32633
    s12 = write(tmp_path / "ROIs1868_summer_s2_cloudy_19_p30.tif", np.full((13, 8, 8), 900, np.uint16))
    assert band_names_of(input_info(s12, "l1c13", dn_offset=-1000), None)[8] == "B8A"
    assert (dn_offset_from_tags(input_info(s12, dn_offset=-1000).tags, 13) == -1000).all()


def test_mask_on_another_grid_is_warped_once_with_nodata_outside(tmp_path):
    r = make_raster(40, 40, seed=8)  # 10 m, origin (500000, 5100000)
    write_raster(r, tmp_path / "opt.tif")
    coarse = np.ones((1, 20, 10), np.uint8)  # 20 m, covers only the left half
    profile = {"driver": "GTiff", "width": 10, "height": 20, "count": 1, "dtype": "uint8", "crs": "EPSG:32633"}
    profile["transform"] = Affine(20, 0, 500000, 0, -20, 5100000)
    with rasterio.open(tmp_path / "mask.tif", "w", **profile) as dst:
        dst.write(coarse)
    predict_scene(
        {"optical": tmp_path / "opt.tif", "mask": tmp_path / "mask.tif"},
        tmp_path / "out.tif",
        lambda x, v: x["mask"],
        out_descriptions=["mask"],
        out_dtype="uint8",
        nodata=None,
        tile=16,
        overlap=4,
        progress=False,
    )
    with rasterio.open(tmp_path / "out.tif") as ds:
        out = ds.read(1)
    assert (out[:, :20] == 1).all() and (out[:, 20:] == 255).all()
