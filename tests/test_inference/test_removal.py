"""Model-driven removal: compositing exactness, georeferencing, dtypes, diffusion uncertainty, SAR, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from cloudfree.bands import BandError
from cloudfree.inference import loading
from cloudfree.inference.checks import GridMismatchError
from cloudfree.inference.removal import remove
from cloudfree.io import open_info, read_mask, read_raster, write_mask, write_raster
from cloudfree.radiometry import Radiometry
from tests.fixtures import make_raster
from tests.test_inference.releases import diffusion_release, identity_release, sar_release, unet_release


def _dn_scene(tmp_path, h=48, w=56, offset=-1000.0):
    """A DN raster recording a baseline-04.00 offset, with a nodata block and a square cloud mask."""
    r = make_raster(h, w, radiometry=Radiometry.DN, seed=5)
    r.data[:] += 1000
    r.dn_offset = np.full(4, offset, np.float32)
    r.data[:, :4, :6] = 0
    r.valid[:4, :6] = False
    path = write_raster(r, tmp_path / "scene.tif")
    mask = np.zeros((h, w), np.uint8)
    mask[18:30, 20:34] = 1
    mask[40:44, 5:9] = 3  # shadow counts too
    write_mask(mask, r, tmp_path / "mask.tif")
    return read_raster(path), mask


def test_identity_keeps_every_pixel_and_the_georeferencing(tmp_path, shared_data):
    folder = shared_data / "madagascar_cloudy_l1c"
    src, mask = folder / "S2_L1C_cloudy.tif", folder / "s2cloudless_mask.tif"
    rel = identity_release(tmp_path / "identity")
    summary = remove(
        src, tmp_path / "out.tif", model=rel, mask=mask, write_mask=tmp_path / "used.tif", progress=False, device="cpu"
    )
    out, inp = read_raster(tmp_path / "out.tif"), read_raster(src, select="rgbn")
    assert out.data.dtype == np.uint16 and out.bands == ("B02", "B03", "B04", "B08")
    np.testing.assert_array_equal(out.data, inp.data)
    np.testing.assert_array_equal(out.valid, inp.valid)
    info, ref = open_info(tmp_path / "out.tif"), open_info(src)
    assert info.crs.to_epsg() == 4326 and info.transform.almost_equals(ref.transform) and info.nodata == 0
    assert info.tags["CLOUDFREE_MODEL"] == "identity" and info.tags["CLOUDFREE_RADIOMETRY"] == "dn"
    assert json.loads(info.tags["CLOUDFREE_DN_OFFSET"]) == [0.0] * 4 and "CLOUDFREE_MODEL_VERSION" in info.tags
    used = read_mask(tmp_path / "used.tif")
    np.testing.assert_array_equal(used[inp.valid], read_mask(mask)[inp.valid])
    assert summary.tiles == 12


def test_float32_output_is_reflectance(tmp_path, shared_data):
    src = shared_data / "slovenia_timeseries_l1c" / "S2_L1C_2015-08-30.tif"
    remove(
        src,
        tmp_path / "out.tif",
        model=identity_release(tmp_path / "id"),
        dtype="float32",
        tile=64,
        overlap=16,
        progress=False,
        device="cpu",
        threshold=0.01,
        mask="threshold",
    )
    out = read_raster(tmp_path / "out.tif")
    assert out.radiometry is Radiometry.REFLECTANCE and out.crs.to_epsg() == 32633
    np.testing.assert_array_equal(out.data, read_raster(src, select="rgbn").to_reflectance().data)


def test_only_masked_pixels_change_and_clear_dn_are_bit_identical(tmp_path):
    scene, mask = _dn_scene(tmp_path)
    remove(
        tmp_path / "scene.tif",
        tmp_path / "out.tif",
        model=unet_release(tmp_path / "unet"),
        mask=tmp_path / "mask.tif",
        tile=32,
        overlap=8,
        feather=3,
        progress=False,
        device="cpu",
    )
    out = read_raster(tmp_path / "out.tif")
    assert json.loads(open_info(tmp_path / "out.tif").tags["CLOUDFREE_DN_OFFSET"]) == [-1000.0] * 4
    far = ndimage.distance_transform_edt(mask == 0) > 3
    np.testing.assert_array_equal(out.data[:, far], scene.data[:, far])  # bit-identical DN, offset kept
    cloudy = (mask > 0) & scene.valid
    assert (out.data[:, cloudy] != scene.data[:, cloudy]).mean() > 0.9
    ring = ~far & (mask == 0) & scene.valid  # the feathered edge lies between input and estimate
    assert (out.data[:, ring] != scene.data[:, ring]).mean() > 0.5
    assert (out.data[:, ~scene.valid] == 0).all() and not out.valid[:4, :6].any()


def test_replace_all_and_the_threshold_fallback(tmp_path):
    scene, _ = _dn_scene(tmp_path)
    rel = unet_release(tmp_path / "unet")
    remove(
        tmp_path / "scene.tif",
        tmp_path / "all.tif",
        model=rel,
        mask="threshold",
        replace_all=True,
        tile=32,
        overlap=8,
        progress=False,
        device="cpu",
    )
    changed = (read_raster(tmp_path / "all.tif").data != scene.data).any(axis=0)
    assert changed[scene.valid].mean() > 0.95
    # threshold above any difference: nothing is cloud, the output is the input
    remove(
        tmp_path / "scene.tif",
        tmp_path / "none.tif",
        model=rel,
        mask="threshold",
        threshold=10.0,
        tile=32,
        overlap=8,
        write_mask=tmp_path / "m0.tif",
        progress=False,
        device="cpu",
    )
    np.testing.assert_array_equal(read_raster(tmp_path / "none.tif").data, scene.data)
    m0 = read_mask(tmp_path / "m0.tif")
    assert (m0[scene.valid] == 0).all() and (m0[~scene.valid] == 255).all()
    remove(
        tmp_path / "scene.tif",
        tmp_path / "every.tif",
        model=rel,
        mask="threshold",
        threshold=0.0,
        tile=32,
        overlap=8,
        write_mask=tmp_path / "m1.tif",
        progress=False,
        device="cpu",
    )
    assert (read_mask(tmp_path / "m1.tif")[scene.valid] == 1).all()


def test_diffusion_mean_and_uncertainty(tmp_path):
    scene, mask = _dn_scene(tmp_path, 40, 40)
    rel = diffusion_release(tmp_path / "diff")
    remove(
        tmp_path / "scene.tif",
        tmp_path / "out.tif",
        model=rel,
        mask=tmp_path / "mask.tif",
        steps=2,
        samples=3,
        uncertainty=tmp_path / "std.tif",
        tile=32,
        overlap=8,
        feather=2,
        progress=False,
        device="cpu",
        seed=1,
    )
    std = read_raster(tmp_path / "std.tif")
    assert std.data.dtype == np.float32 and std.bands == ("B02", "B03", "B04", "B08")
    assert open_info(tmp_path / "std.tif").tags["CLOUDFREE_LAYER"].startswith("uncertainty")
    far = ndimage.distance_transform_edt(mask == 0) > 2
    assert (std.data[:, far & scene.valid] == 0).all()
    assert (std.data[:, (mask > 0) & scene.valid] > 0).all()
    with pytest.raises(ValueError, match="diffusion"):
        remove(
            tmp_path / "scene.tif",
            tmp_path / "x.tif",
            model=identity_release(tmp_path / "id"),
            uncertainty=tmp_path / "s.tif",
            progress=False,
        )


def test_sar_optical_model_on_sen1floods11(tmp_path, shared_data):
    folder = shared_data / "sen1floods11_spain"
    s2, s1 = folder / "Spain_7370579_S2Hand.tif", folder / "Spain_7370579_S1Hand.tif"
    rel = sar_release(tmp_path / "dsen2cr")
    remove(
        s2,
        tmp_path / "out.tif",
        model=rel,
        sar=s1,
        replace_all=True,
        tile=256,
        overlap=32,
        progress=False,
        device="cpu",
    )
    out, inp = read_raster(tmp_path / "out.tif"), read_raster(s2, select="rgbn")
    assert out.crs.to_epsg() == 4326 and out.transform.almost_equals(inp.transform)
    assert out.data.dtype == np.uint16 and out.bands == ("B02", "B03", "B04", "B08")
    np.testing.assert_array_equal(out.valid, inp.valid)
    with pytest.raises(ValueError, match="--sar"):
        remove(s2, tmp_path / "x.tif", model=rel, progress=False)
    with pytest.raises(ValueError, match="no Sentinel-1"):
        remove(s2, tmp_path / "x.tif", model=identity_release(tmp_path / "id"), sar=s1, progress=False)


def test_bad_inputs_are_refused_and_leave_nothing(tmp_path, monkeypatch):
    r = make_raster(40, 40, bands=("B02", "B03", "B04"))
    write_raster(r, tmp_path / "rgb.tif")
    rel = identity_release(tmp_path / "id")
    with pytest.raises(BandError, match="B08"):
        remove(tmp_path / "rgb.tif", tmp_path / "out.tif", model=rel, progress=False)
    write_mask(np.zeros((10, 10), np.uint8), make_raster(10, 10), tmp_path / "small_mask.tif")
    _dn_scene(tmp_path)
    with pytest.raises(ValueError, match="multiples of 8"):
        remove(tmp_path / "scene.tif", tmp_path / "out.tif", model=unet_release(tmp_path / "u"), tile=36,
               mask=tmp_path / "mask.tif", progress=False)  # fmt: skip
    with pytest.raises(GridMismatchError, match="on another grid"):
        remove(
            tmp_path / "scene.tif", tmp_path / "out.tif", model=rel, mask=tmp_path / "small_mask.tif", progress=False
        )
    monkeypatch.setattr(loading, "WEIGHTS_DIR", tmp_path / "no-weights")
    with pytest.raises(ValueError, match="--model"):
        remove(tmp_path / "scene.tif", tmp_path / "out.tif", progress=False)
    assert not (tmp_path / "out.tif").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_mask_auto_uses_the_mask_pipeline(tmp_path, shared_data):
    """`auto` masks through the mask pipeline's own auto choice (ukis-csmask on this L1C scene) and
    finds the overcast date's real clouds."""
    src = shared_data / "slovenia_timeseries_l1c" / "S2_L1C_2015-07-31.tif"  # overcast
    rel = identity_release(tmp_path / "id")
    remove(src, tmp_path / "out.tif", model=rel, mask="auto", tile=64, overlap=16,
           write_mask=tmp_path / "used.tif", progress=False, device="cpu")  # fmt: skip
    assert "csmask" in open_info(tmp_path / "out.tif").tags["CLOUDFREE_METHOD"]
    used = read_mask(tmp_path / "used.tif")
    assert set(np.unique(used)) <= {0, 1, 2, 3, 255} and np.isin(used, (1, 2, 3)).mean() > 0.5


def test_sar_only_translation_and_outputs_beyond_the_inputs(tmp_path, shared_data):
    """A CycleGAN-style S1 -> S2 release (no optical input) and one predicting bands it does not take."""
    from cloudfree.normalization import Normalization
    from tests.test_inference.releases import save

    folder = shared_data / "sen1floods11_spain"
    s2, s1 = folder / "Spain_7370579_S2Hand.tif", folder / "Spain_7370579_S1Hand.tif"
    sar = Normalization(("VV", "VH"), (-25.0, -32.5), (25.0, 32.5), "fixed", (0.0, 1.0))
    rgb = ("B04", "B03", "B02")
    sar_only = save(tmp_path / "s1_to_rgb", "resnetgenerator", {"in_channels": 2, "out_channels": 3, "ngf": 4,
                    "n_blocks": 1}, in_bands=(), out_bands=rgb, norm=Normalization.fixed(rgb),
                    sar_bands=("VV", "VH"), sar_normalization=sar.to_dict())  # fmt: skip
    remove(s2, tmp_path / "s1.tif", model=sar_only, sar=s1, replace_all=True, tile=128, overlap=16,
           progress=False, device="cpu")  # fmt: skip
    out = read_raster(tmp_path / "s1.tif")
    assert out.bands == rgb and out.crs.to_epsg() == 4326

    wider = ("B02", "B03", "B04", "B08", "B11")
    more = save(tmp_path / "more", "unetgenerator", {"in_channels": 4, "out_channels": 5, "ngf": 4, "num_downs": 3},
                out_bands=wider, norm=Normalization.fixed(wider))  # fmt: skip
    remove(s2, tmp_path / "more.tif", model=more, replace_all=True, tile=64, overlap=8, progress=False, device="cpu")
    assert read_raster(tmp_path / "more.tif").bands == wider


def test_dilation_in_metres_becomes_whole_pixels_of_the_grid():
    from affine import Affine
    from rasterio.crs import CRS

    from cloudfree.inference.automask import dilation_px

    def info(res: float, epsg: int) -> tuple[Affine, CRS]:
        return Affine(res, 0, 0, 0, -res, 0), CRS.from_epsg(epsg)

    assert dilation_px(*info(10.0, 32631), 40.0) == 4
    assert dilation_px(*info(20.0, 32631), 40.0) == 2
    assert dilation_px(*info(60.0, 32631), 40.0) == 1  # never less than one pixel
    assert dilation_px(*info(10.0, 32631), 0.0) == 0
    assert dilation_px(*info(0.0006659, 4326), 40.0) == 1  # ~74 m on a lat/lon grid
    assert dilation_px(*info(9.0e-5, 4326), 40.0) == 4  # ~10 m


def test_hole_area_in_hectares_becomes_a_pixel_count_of_the_grid():
    from affine import Affine
    from rasterio.crs import CRS

    from cloudfree.inference.automask import MIN_HOLE_PX, hole_px

    def info(res: float, epsg: int) -> tuple[Affine, CRS]:
        return Affine(res, 0, 0, 0, -res, 0), CRS.from_epsg(epsg)

    assert hole_px(*info(10.0, 32631), 4.0) == 400
    assert hole_px(*info(20.0, 32631), 4.0) == 100
    assert hole_px(*info(60.0, 32631), 4.0) == MIN_HOLE_PX  # coarse grids: at least 64 px
    assert hole_px(*info(10.0, 32631), 0.0) == 0
    assert hole_px(*info(9.0e-5, 4326), 4.0) == 399  # ~10 m on a lat/lon grid


def test_sizes_on_the_ground_on_a_grid_without_crs_or_in_feet():
    """No CRS (identity transform, no pixel size): 10 m pixels assumed, not 1 m; feet are converted."""
    from affine import Affine
    from rasterio.crs import CRS

    from cloudfree.inference.automask import ASSUMED_PIXEL_M, dilation_px, hole_px, pixel_metres

    assert pixel_metres(Affine.identity(), None) == (ASSUMED_PIXEL_M, ASSUMED_PIXEL_M) == (10.0, 10.0)
    assert dilation_px(Affine.identity(), None, 40.0) == 4  # was 40 px
    assert hole_px(Affine.identity(), None, 4.0) == 400  # was 40000 px
    feet = CRS.from_epsg(2263)  # NAD83 / New York Long Island, US survey feet
    assert dilation_px(Affine(10.0, 0, 0, 0, -10.0, 0), feet, 40.0) == 14  # 10 ft = 3.048 m
    assert hole_px(Affine(10.0, 0, 0, 0, -10.0, 0), feet, 4.0) == 4306


def test_auto_mask_on_a_file_without_crs_says_what_it_assumed(tmp_path, monkeypatch):
    """The growth on a file with no georeferencing is sized for 10 m pixels, and the summary says so."""
    import rasterio

    import cloudfree.inference.mask_scene as mask_scene_module
    from cloudfree.inference.automask import auto_mask

    src = tmp_path / "no_crs.tif"
    with rasterio.open(src, "w", driver="GTiff", width=32, height=32, count=4, dtype="float32") as dst:
        dst.write(np.full((4, 32, 32), 0.1, dtype=np.float32))
        for i, band in enumerate(("B02", "B03", "B04", "B08"), start=1):
            dst.set_band_description(i, band)
    seen = {}

    class Summary:
        method, reason = "stub", "a stand-in for the mask method"

    def fake_mask_scene(input_path, out, **kwargs):
        seen.update(kwargs)
        return Summary()

    monkeypatch.setattr(mask_scene_module, "mask_scene", fake_mask_scene)
    _, how = auto_mask(src, tmp_path / "m.tif", progress=False, dilate_m=40.0, holes_ha=4.0)
    assert seen["dilate"] == 4 and seen["fill_holes"] == 400
    assert "grown by 4 px (40 m)" in how and "no CRS, so 10 m pixels are assumed" in how


def test_auto_mask_for_removal_is_grown_by_the_dilation(tmp_path, shared_data):
    """`--mask auto` grows cloud and shadow by --mask-dilate metres (4 px at 10 m), and says so."""
    src = shared_data / "sen12mscr_sample" / "ROIs1868_summer_s2_cloudy_19_p30.tif"
    rel = identity_release(tmp_path / "id")
    used = {}
    for metres in (0.0, 40.0):
        out = tmp_path / f"out{metres:g}.tif"
        remove(src, out, model=rel, mask="auto", bands="l1c13", write_mask=tmp_path / f"used{metres:g}.tif",
               mask_dilate_m=metres, progress=False, device="cpu")  # fmt: skip
        used[metres] = read_mask(tmp_path / f"used{metres:g}.tif")
    grown, raw = np.isin(used[40.0], (1, 2, 3)), np.isin(used[0.0], (1, 2, 3))
    assert (grown >= raw).all() and grown.sum() > raw.sum() * 1.05
    how = open_info(tmp_path / "out40.tif").tags["CLOUDFREE_MASK"]
    assert "grown by 4 px (40 m)" in how and "enclosed clear patches up to 400 px (4 ha) set to cloud" in how
