"""Synthetic clouds and shadows over real clear Sentinel-2 scenes: exact masks, coverage, physics, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from cloudfree import cli
from cloudfree.bands import BandError
from cloudfree.data.cloud_optics import dark_levels
from cloudfree.data.synthetic_clouds import CloudSimulator, spectral_noise
from cloudfree.io import read_raster
from cloudfree.masks import NODATA, SHADOW, THICK, THIN

S1F = "sen1floods11_spain/Spain_7370579_S2Hand.tif"


@pytest.fixture(scope="module")
def clear13(shared_data):
    """A 160 x 160 px window of the clear Sen1Floods11 L1C chip, 13 bands, reflectance."""
    raster = read_raster(shared_data / S1F, window=Window(200, 100, 160, 160))
    assert raster.bands[1] == "B02" and raster.bands[10] == "B10" and raster.bands[12] == "B12"
    assert raster.valid.all()
    return raster.to_reflectance()


def _changed(a: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    return (np.abs(a - b) > eps).any(axis=0)


def test_mask_is_exactly_the_changed_pixels(clear13):
    sim = CloudSimulator(coverage=0.4, thin_fraction=0.4, cloud_height_px=10.0)
    for seed in (0, 1, 2):
        cloudy, mask = sim.simulate(clear13.data, clear13.bands, np.random.default_rng(seed))
        assert cloudy.shape == clear13.data.shape and cloudy.dtype == np.float32
        assert mask.shape == clear13.data.shape[1:] and mask.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, THICK, THIN, SHADOW}
        assert {THICK, THIN, SHADOW} <= set(np.unique(mask).tolist())
        changed = _changed(cloudy, clear13.data, sim.epsilon)
        np.testing.assert_array_equal(changed, mask != 0)
        np.testing.assert_array_equal(cloudy[:, mask == 0], clear13.data[:, mask == 0])  # bit-exact outside


@pytest.mark.parametrize("coverage", [0.1, 0.3, 0.6])
def test_coverage_within_tolerance(clear13, coverage):
    sim = CloudSimulator(coverage=coverage, thin_fraction=(0.1, 0.6))
    for seed in range(4):
        _, mask = sim.simulate(clear13.data, clear13.bands, seed)
        cloud = np.isin(mask, (THICK, THIN)).mean()
        assert abs(cloud - coverage) <= 0.03, (seed, cloud)


def test_coverage_counts_valid_pixels_only_and_nodata_stays(clear13):
    data = clear13.data.copy()
    data[:, :40, :] = np.nan  # a quarter of the window is nodata
    sim = CloudSimulator(coverage=0.5, thin_fraction=0.3)
    cloudy, mask = sim.simulate(data, clear13.bands, 5)
    assert (mask[:40] == NODATA).all() and not (mask[40:] == NODATA).any()
    assert np.isnan(cloudy[:, :40]).all()
    cloud = np.isin(mask[40:], (THICK, THIN)).mean()
    assert abs(cloud - 0.5) <= 0.03


def test_seeded_and_reproducible(clear13):
    sim = CloudSimulator()
    a_img, a_mask = sim.simulate(clear13.data, clear13.bands, np.random.default_rng(11))
    b_img, b_mask = sim.simulate(clear13.data, clear13.bands, np.random.default_rng(11))
    c_img, c_mask = sim.simulate(clear13.data, clear13.bands, np.random.default_rng(12))
    np.testing.assert_array_equal(a_img, b_img)
    np.testing.assert_array_equal(a_mask, b_mask)
    assert not np.array_equal(a_mask, c_mask) and not np.array_equal(a_img, c_img)
    assert sim.draw_params(np.random.default_rng(3)) == sim.draw_params(np.random.default_rng(3))


def test_thick_clouds_bright_flat_and_darker_in_swir(clear13):
    sim = CloudSimulator(coverage=0.5, thin_fraction=0.2, thick_reflectance=0.6, shadows=False)
    plan = sim.plan(160, 160, clear13.bands, rng=4)
    cloudy, mask = plan.apply(clear13.data)
    core = (mask == THICK) & (plan.tau > 8)
    assert core.sum() > 200
    visible = [clear13.bands.index(b) for b in ("B02", "B03", "B04", "B08")]
    means = cloudy[visible][:, core].mean(axis=1)
    assert np.all((means > 0.45) & (means < 0.7)), means  # bright, 0.6 with texture
    assert means.max() - means.min() < 0.03  # spectrally flat
    b04, b12 = clear13.bands.index("B04"), clear13.bands.index("B12")
    assert cloudy[b12][core].mean() < 0.8 * cloudy[b04][core].mean()


def test_thin_clouds_raise_blue_more_than_swir_and_show_in_cirrus(clear13):
    # high thin cirrus (bright in B10; low clouds are dark there, the default range)
    sim = CloudSimulator(coverage=0.5, thin_fraction=1.0, angstrom=1.5, shadows=False, cirrus_reflectance=0.3)
    cloudy, mask = sim.simulate(clear13.data, clear13.bands, 3)
    thin = mask == THIN
    assert thin.mean() > 0.45 and not (mask == THICK).any()
    rise = {b: float((cloudy[i] - clear13.data[i])[thin].mean()) for i, b in enumerate(clear13.bands)}
    assert rise["B02"] > rise["B04"] > rise["B11"] > 0
    assert rise["B02"] > 2 * rise["B12"]
    b10 = clear13.bands.index("B10")
    assert (cloudy[b10][thin] > clear13.data[b10][thin]).all()  # cirrus band: ground dark, cloud visible
    assert rise["B10"] > 5 * float(clear13.data[b10].mean())


def test_shadows_darken_and_lie_along_the_sun_azimuth(clear13):
    # sun in the east (azimuth 90): shadows fall west of their clouds, at height * tan(45 deg) = 12 px
    sim = CloudSimulator(
        coverage=0.15,
        thin_fraction=0.2,
        sun_azimuth_deg=90.0,
        sun_zenith_deg=45.0,
        cloud_height_px=12.0,
        shadow_keep=0.4,
    )
    plan = sim.plan(160, 160, clear13.bands, rng=7)
    assert (plan.params["shadow_offset_rows"], plan.params["shadow_offset_cols"]) == (0, -12)
    cloudy, mask = plan.apply(clear13.data)
    shadow = mask == SHADOW
    assert shadow.sum() > 100
    ratio = cloudy[:, shadow] / clear13.data[:, shadow]
    assert (ratio <= 1.0 + 1e-6).all() and ratio.mean() < 0.8
    b02, b08 = clear13.bands.index("B02"), clear13.bands.index("B08")
    assert ratio[b02].mean() > ratio[b08].mean()  # diffuse sky light: blue darkened less
    rows, cols = np.nonzero(shadow)
    src = cols + 12 < 160  # the casting cloud lies 12 px east of each shadow pixel
    assert np.isin(mask[rows[src], cols[src] + 12], (THICK, THIN)).all()


def test_shadows_dim_the_ground_light_not_the_path_reflectance(clear13):
    """Top of atmosphere (L1C) the path reflectance, most of the blue, is not shaded; over L2A the
    scene's dark levels cap it near 0, so shadows stay multiplicative there."""
    sim = CloudSimulator(coverage=0.15, thin_fraction=0.2, cloud_height_px=12.0, shadow_keep=0.5)
    b02, b08 = clear13.bands.index("B02"), clear13.bands.index("B08")
    cloudy, mask = sim.simulate(clear13.data, clear13.bands, np.random.default_rng(7))
    plan = sim.plan(160, 160, clear13.bands, rng=7).cap_path(dark_levels(clear13.data))
    assert 0.05 <= plan.params["path_reflectance"] <= 0.11
    path, shadow = plan.path, mask == SHADOW
    assert shadow.sum() > 100 and path[b02] > 2 * path[b08] > 0  # ~lambda^-2.5
    assert (path <= 0.9 * np.percentile(clear13.data.reshape(13, -1), 1, axis=1) + 1e-7).all()
    ground, dimmed = clear13.data[:, shadow], cloudy[:, shadow]
    w = plan.shadow[shadow]
    expected = ground - np.maximum(ground - path[:, None], 0) * w * (1 - plan.shadow_keep[:, None])
    np.testing.assert_allclose(dimmed, expected, rtol=1e-5, atol=1e-6)
    # the blue keeps far more than a multiplicative shadow would leave it
    assert np.median(dimmed[b02] / ground[b02]) > np.median(1 - w * (1 - plan.shadow_keep[b02])) + 0.1
    # the same scene with its dark ground near 0 in every band (bottom of atmosphere): multiplicative
    boa = np.clip(clear13.data - np.percentile(clear13.data.reshape(13, -1), 1, axis=1)[:, None, None], 0, None)
    boa_cloudy, boa_mask = sim.simulate(boa, clear13.bands, np.random.default_rng(7))
    sh = (boa_mask == SHADOW) & (boa[b02] > 0.01)
    ratio = boa_cloudy[b02, sh] / boa[b02, sh]
    np.testing.assert_allclose(ratio, 1 - plan.shadow[sh] * (1 - plan.shadow_keep[b02]), atol=0.02)


def test_the_path_reflectance_is_drawn_last_so_a_seed_keeps_its_clouds(clear13):
    plain = CloudSimulator(coverage=0.3, path_reflectance=0.0).plan(160, 160, clear13.bands, rng=3)
    drawn = CloudSimulator(coverage=0.3).plan(160, 160, clear13.bands, rng=3)
    np.testing.assert_array_equal(plain.codes, drawn.codes)
    np.testing.assert_array_equal(plain.tau, drawn.tau)
    np.testing.assert_array_equal(plain.shadow, drawn.shadow)
    assert not plain.path.any() and drawn.path.all()


def test_windowed_application_equals_whole(clear13):
    sim = CloudSimulator(coverage=0.4)
    plan = sim.plan(160, 160, clear13.bands, rng=9)
    whole_img, whole_mask = plan.apply(clear13.data)
    top_img, top_mask = plan.apply(clear13.data[:, :70], row=0)
    bot_img, bot_mask = plan.apply(clear13.data[:, 70:], row=70)
    np.testing.assert_array_equal(np.concatenate([top_img, bot_img], axis=1), whole_img)
    np.testing.assert_array_equal(np.concatenate([top_mask, bot_mask], axis=0), whole_mask)


def test_dataset_hook_signature_and_any_band_set(clear13):
    hook = CloudSimulator(coverage=0.3).as_hook()
    rgb = clear13.select("rgb")
    cloudy, mask = hook(rgb.data, rgb.bands, np.random.default_rng(0))
    assert cloudy.shape == rgb.data.shape and mask.shape == rgb.data.shape[1:]
    np.testing.assert_array_equal(_changed(cloudy, rgb.data, 2e-4), mask != 0)


def test_sar_and_unknown_bands_are_refused(shared_data):
    sar = np.zeros((2, 16, 16), np.float32)
    with pytest.raises(BandError, match=r"'VV' has no optical wavelength"):
        CloudSimulator().simulate(sar, ("VV", "VH"), 0)
    s1 = read_raster(shared_data / "sen1floods11_spain/Spain_7370579_S1Hand.tif", bands=("VV", "VH"))
    with pytest.raises(ValueError, match=r"Spain_7370579_S1Hand\.tif.*reflectance or DN"):
        CloudSimulator().simulate_raster(s1, 0)
    with pytest.raises(ValueError, match=r"coverage must lie in 0\.\.1"):
        CloudSimulator(coverage=1.5)


def test_dn_raster_round_trip_keeps_radiometry(shared_data):
    raster = read_raster(shared_data / "slovenia_timeseries_l1c/S2_L1C_2015-07-11.tif", dn_offset=-1000)
    cloudy, mask, _ = CloudSimulator(coverage=0.4, feature_px=30.0).simulate_raster(raster, 2)
    assert cloudy.data.dtype == raster.data.dtype == np.uint16
    np.testing.assert_array_equal(cloudy.dn_offset, raster.dn_offset)
    assert cloudy.same_grid(raster) and cloudy.bands == raster.bands
    np.testing.assert_array_equal((cloudy.data != raster.data).any(axis=0), (mask != 0) & (mask != NODATA))


def test_spectral_noise_is_normalised_and_smooth():
    field = spectral_noise((64, 80), np.random.default_rng(0), beta=3.0, feature_px=32.0)
    assert field.shape == (64, 80) and field.dtype == np.float32
    assert field.min() == 0.0 and field.max() == 1.0
    lag1 = np.corrcoef(field[:, :-1].ravel(), field[:, 1:].ravel())[0, 1]
    assert lag1 > 0.8  # neighbours are strongly correlated (white noise: ~0)


def test_cli_simulate_clouds_keeps_georeferencing_and_radiometry(shared_data, tmp_path, capsys):
    src = shared_data / S1F
    out = tmp_path / "cloudy.tif"
    code = cli.main(["simulate-clouds", str(src), "-o", str(out), "--coverage", "0.3", "--seed", "1", "--block", "200"])
    assert code == 0
    assert "cloud and shadow" in capsys.readouterr().out
    mask_file = tmp_path / "cloudy_mask.tif"
    with rasterio.open(src) as a, rasterio.open(out) as b, rasterio.open(mask_file) as m:
        assert b.crs == a.crs and b.transform == a.transform and (b.width, b.height) == (a.width, a.height)
        assert b.dtypes[0] == a.dtypes[0] == "int16" and b.nodata == a.nodata
        assert b.descriptions[:3] == ("B01", "B02", "B03") and b.count == 13
        assert m.crs == a.crs and m.transform == a.transform and m.dtypes[0] == "uint8" and m.nodata == 255
        tags = b.tags()
        assert tags["CLOUDFREE_RADIOMETRY"] == "dn" and json.loads(tags["CLOUDFREE_SIMULATION"])["seed"] == 1
        before, after, mask = a.read(), b.read(), m.read(1)
    np.testing.assert_array_equal((before != after).any(axis=0), np.isin(mask, (THICK, THIN, SHADOW)))
    assert set(np.unique(mask)) <= {0, 1, 2, 3}
    assert abs(np.isin(mask, (THICK, THIN)).mean() - 0.3) <= 0.03
    # the same seed writes the same file contents
    again = tmp_path / "again.tif"
    assert cli.main(["simulate-clouds", str(src), "-o", str(again), "--coverage", "0.3", "--seed", "1"]) == 0
    with rasterio.open(again) as c:
        np.testing.assert_array_equal(c.read(), after)


def test_cli_simulate_clouds_bad_input_fails_cleanly(shared_data, tmp_path, capsys):
    out = tmp_path / "x.tif"
    sar = shared_data / "sen1floods11_spain/Spain_7370579_S1Hand.tif"
    assert cli.main(["simulate-clouds", str(sar), "-o", str(out), "--bands", "VV,VH"]) == 2
    assert "no optical wavelength" in capsys.readouterr().err
    assert cli.main(["simulate-clouds", str(shared_data / S1F), "-o", str(out), "--coverage", "2"]) == 2
    assert "coverage must lie in 0..1" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_haze_is_thin_everywhere_and_the_ground_shows_through(clear13):
    sim = CloudSimulator(cloud_type="haze", coverage=0.6, shadows=False)
    cloudy, mask = sim.simulate(clear13.data, clear13.bands, 4)
    assert not (mask == THICK).any() and (mask == THIN).mean() > 0.5
    b04 = clear13.bands.index("B04")
    thin = mask == THIN
    corr = np.corrcoef(cloudy[b04][thin], clear13.data[b04][thin])[0, 1]
    assert corr > 0.5  # the ground's pattern is still there under the haze


def test_cumulus_objects_grow_with_the_cell_size(clear13):
    from scipy import ndimage

    def median_object(px: float) -> float:
        sizes = []
        for seed in range(3):
            sim = CloudSimulator(cloud_type="cumulus", coverage=0.3, cumulus_px=px, shadows=False)
            _, mask = sim.simulate(clear13.data, clear13.bands, seed)
            labels, _ = ndimage.label(np.isin(mask, (THICK, THIN)))
            sizes += list(np.bincount(labels.ravel())[1:])
        return float(np.median(sizes))

    assert median_object(60.0) > 3 * median_object(8.0)
    assert median_object(8.0) >= 4  # no pixel-scale speckle


def test_shadow_direction_follows_the_grid_orientation():
    from affine import Affine

    from cloudfree.data.synthetic_clouds import shadow_offset

    # sun in the east: shadows fall west = towards lower columns on a north-up grid
    assert shadow_offset(10.0, 90.0, Affine(10, 0, 0, 0, -10, 0)) == (0, -10)
    # the same on a grid flipped east-west (columns grow westwards): towards higher columns
    assert shadow_offset(10.0, 90.0, Affine(-10, 0, 0, 0, -10, 0)) == (0, 10)
    # sun in the south: shadows fall north = up on a north-up grid, down on a south-up grid
    assert shadow_offset(10.0, 180.0, Affine(10, 0, 0, 0, -10, 0)) == (-10, 0)
    assert shadow_offset(10.0, 180.0, Affine(10, 0, 0, 0, 10, 0)) == (10, 0)
