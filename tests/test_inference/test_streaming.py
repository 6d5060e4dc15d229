"""The streaming engine: seamless tiled identity, georeferencing, multi-input, extra outputs, errors."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.warp import Resampling, calculate_default_transform, reproject

from cloudfree.inference.grid import TileGrid
from cloudfree.inference.streaming import InputSpec, OutputSpec, predict_scene
from cloudfree.io import open_info, read_mask, read_raster, write_raster
from cloudfree.radiometry import Radiometry
from tests.fixtures import make_raster


def identity(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    return x


@pytest.mark.parametrize(
    ("h", "w", "tile", "overlap"), [(17, 23, 64, 16), (64, 64, 64, 16), (150, 97, 64, 16), (97, 150, 32, 5)]
)
def test_tiled_identity_reproduces_input_bit_for_bit(tmp_path, h, w, tile, overlap):
    r = make_raster(h, w, seed=h)
    write_raster(r, tmp_path / "in.tif")
    summary = predict_scene(
        tmp_path / "in.tif",
        tmp_path / "out.tif",
        identity,
        out_descriptions=r.bands,
        tile=tile,
        overlap=overlap,
        batch_size=3,
        progress=False,
    )
    out = read_raster(tmp_path / "out.tif")
    assert out.data.dtype == np.float32
    np.testing.assert_array_equal(out.data, r.data)
    assert out.bands == r.bands and out.transform == r.transform and out.crs == r.crs
    assert summary.tiles == len(list(TileGrid(h, w, tile, overlap)))
    assert [p.name for p in tmp_path.iterdir()] and sorted(p.name for p in tmp_path.iterdir()) == ["in.tif", "out.tif"]


def test_blending_is_seamless_for_a_tile_dependent_model(tmp_path):
    """A model whose output carries a per-tile bias: the blend turns tile steps into smooth ramps."""
    r = make_raster(150, 150, bands=("B04",), seed=3)
    r.data[:] = 0.5
    write_raster(r, tmp_path / "flat.tif")
    rng = np.random.default_rng(0)

    def biased(x, valid):
        return x + rng.uniform(-0.05, 0.05, size=(x.shape[0], 1, 1, 1)).astype(np.float32)

    predict_scene(
        tmp_path / "flat.tif",
        tmp_path / "out.tif",
        biased,
        out_descriptions=("B04",),
        tile=64,
        overlap=32,
        progress=False,
    )
    out = read_raster(tmp_path / "out.tif").data[0]
    # Biases differ by up to 0.1 between tiles; a hard seam would jump by that much in one pixel.
    assert np.abs(np.diff(out, axis=0)).max() < 0.02
    assert np.abs(np.diff(out, axis=1)).max() < 0.02


def test_nodata_stays_nodata_and_predict_sees_validity(tmp_path):
    r = make_raster(40, 50, seed=2, radiometry=Radiometry.DN)
    r.data[:, 5:9, 10:20] = 0
    r.valid[5:9, 10:20] = False
    write_raster(r, tmp_path / "dn.tif")
    seen = []

    def record(x, valid):
        seen.append(valid.copy())
        return x

    predict_scene(
        tmp_path / "dn.tif", tmp_path / "out.tif", record, out_descriptions=r.bands, tile=32, overlap=8, progress=False
    )
    out = read_raster(tmp_path / "out.tif")
    assert np.isnan(out.data[:, 5:9, 10:20]).all()
    np.testing.assert_array_equal(out.valid, r.valid)
    assert not all(v.all() for v in seen)
    # DN inputs reach predict as reflectance (DN / 10000 with the file's zero offset)
    np.testing.assert_allclose(out.data[:, out.valid], r.data[:, r.valid] / 10000.0, rtol=1e-6)


def test_madagascar_epsg4326_georeferencing_survives(tmp_path, shared_data):
    src = shared_data / "madagascar_cloudy_l1c" / "S2_L1C_cloudy.tif"
    predict_scene(
        (src, "rgbn"),
        tmp_path / "out.tif",
        identity,
        out_descriptions=("B02", "B03", "B04", "B08"),
        tile=256,
        overlap=32,
        progress=False,
        tags={"CLOUDFREE_MODEL": "identity"},
    )
    info, ref = open_info(tmp_path / "out.tif"), open_info(src)
    assert info.crs == ref.crs and info.crs.to_epsg() == 4326
    assert info.transform.almost_equals(ref.transform) and (info.height, info.width) == (856, 512)
    assert info.descriptions == ("B02", "B03", "B04", "B08")
    assert info.tags["CLOUDFREE_MODEL"] == "identity" and np.isnan(info.nodata)
    with rasterio.open(tmp_path / "out.tif") as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
    out = read_raster(tmp_path / "out.tif")
    inp = read_raster(src, select="rgbn").to_reflectance()
    np.testing.assert_array_equal(out.valid, inp.valid)
    np.testing.assert_array_equal(out.data[:, out.valid], inp.data[:, inp.valid])


def test_slovenia_utm_with_mask_input_finalize_and_extra_output(tmp_path, shared_data):
    folder = shared_data / "slovenia_timeseries_l1c"
    src, clm = folder / "S2_L1C_2015-07-31.tif", folder / "CLM_2015-07-31.tif"
    channels = []

    def predict(x, valid):
        channels.append(x.shape[1])
        return x  # 13 reflectance bands + the mask channel, blended

    def finalize(blended, window, raster):
        assert raster.data.dtype == np.uint16 and raster.bands[0] == "B01"
        refl, mask = blended[:13], blended[13:]
        return refl, (mask > 0.5).astype(np.uint8)

    predict_scene(
        [src, (clm, "mask")],
        tmp_path / "out.tif",
        predict,
        out_descriptions=read_raster(src).bands,
        tile=64,
        overlap=16,
        finalize=finalize,
        progress=False,
        extra_outputs=[OutputSpec(tmp_path / "mask.tif", ("mask",), "uint8", 255)],
    )
    assert channels and set(channels) == {14}
    info = open_info(tmp_path / "out.tif")
    assert info.crs.to_epsg() == 32633 and info.transform.almost_equals(open_info(src).transform)
    np.testing.assert_array_equal(read_mask(tmp_path / "mask.tif"), read_mask(clm))
    assert open_info(tmp_path / "mask.tif").nodata == 255


def test_sen1floods11_s2_and_s1_stacked_and_reprojected(tmp_path, shared_data):
    folder = shared_data / "sen1floods11_spain"
    s2, s1 = folder / "Spain_7370579_S2Hand.tif", folder / "Spain_7370579_S1Hand.tif"
    # Put the S1 chip on a UTM grid: the engine must warp it back onto the S2 grid on the fly.
    with rasterio.open(s1) as ds:
        dst_crs = "EPSG:32630"
        transform, w, h = calculate_default_transform(ds.crs, dst_crs, ds.width, ds.height, *ds.bounds)
        profile = ds.profile | {"crs": dst_crs, "transform": transform, "width": w, "height": h}
        with rasterio.open(tmp_path / "s1_utm.tif", "w", **profile) as out:
            for b in (1, 2):
                reproject(rasterio.band(ds, b), rasterio.band(out, b), resampling=Resampling.bilinear)
            out.descriptions = ds.descriptions
    got = {}

    def predict(x, valid):
        got.setdefault("x", x[0].copy())
        return x[:, 13:15]

    predict_scene(
        [(s2, "l1c13"), InputSpec(tmp_path / "s1_utm.tif")],
        tmp_path / "sar.tif",
        predict,
        out_descriptions=("VV", "VH"),
        tile=512,
        overlap=0,
        progress=False,
    )
    warped = read_raster(tmp_path / "sar.tif")
    direct = read_raster(s1)
    both = warped.valid & direct.valid & np.isfinite(warped.data).all(0)
    assert both.mean() > 0.8
    # Two bilinear resamplings: close to the original backscatter in dB, not identical.
    assert np.median(np.abs(warped.data[:, both] - direct.data[:, both])) < 1.0
    assert got["x"].shape == (15, 512, 512)


def test_bad_predict_output_leaves_no_file(tmp_path):
    r = make_raster(40, 40)
    write_raster(r, tmp_path / "in.tif")
    with pytest.raises(ValueError, match="predict returned"):
        predict_scene(
            tmp_path / "in.tif",
            tmp_path / "out.tif",
            lambda x, v: x[:, :, :5],
            out_descriptions=r.bands,
            tile=32,
            overlap=8,
            progress=False,
        )
    with pytest.raises(ValueError, match="channels"):
        predict_scene(
            tmp_path / "in.tif",
            tmp_path / "out.tif",
            identity,
            out_descriptions=("B02",),
            tile=32,
            overlap=8,
            progress=False,
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif"]


def test_missing_input_and_mask_first_are_refused(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        predict_scene(tmp_path / "nope.tif", tmp_path / "out.tif", identity, out_descriptions=("B02",), progress=False)
    with pytest.raises(ValueError, match="must be a raster"):
        predict_scene(
            [(tmp_path / "m.tif", "mask")], tmp_path / "out.tif", identity, out_descriptions=("B02",), progress=False
        )
