"""The removal pipeline on the real samples (real-data tier, ../shared/data through `shared_data`)."""

from __future__ import annotations

import numpy as np
import pytest

from cloudfree.cli import main
from cloudfree.errors import DataWarning
from cloudfree.inference.remover import Remover
from cloudfree.io import open_info, read_mask, read_raster, write_mask
from tests.test_inference.releases import multitemporal_release, trained_multitemporal_release


def test_no_flag_at_all_on_a_real_cloudy_scene(tmp_path, shared_data, capsys, monkeypatch):
    """`cloudfree remove real_cloudy.tif -o out.tif`: auto mask, auto method, provenance beside it."""
    src = shared_data / "slovenia_timeseries_l1c" / "S2_L1C_2015-07-31.tif"  # overcast, real clouds
    monkeypatch.chdir(tmp_path)
    with pytest.warns(DataWarning, match="no clear pixel in the mask"):  # overcast: nothing to fill from, and says so
        assert main(["remove", str(src), "-o", "out.tif"]) == 0
    err = capsys.readouterr().err
    assert "method model (single-date)" in err and "mask auto: csmask" in err
    info, ref = open_info(tmp_path / "out.tif"), open_info(src)
    assert info.crs == ref.crs and info.transform.almost_equals(ref.transform)
    # all 13 L1C bands: the default that uses them all, so no band is dropped
    assert info.tags["CLOUDFREE_MODEL"] == "default-l1c13" and "csmask" in info.tags["CLOUDFREE_MASK"]
    assert info.count == ref.count
    prov = read_mask(tmp_path / "out_provenance.tif")
    assert prov.shape == (ref.height, ref.width)
    # the date is overcast with no clear pixel: nodata (0 DN, provenance 255), never an invented constant
    assert (prov == 255).all()
    assert not read_raster(tmp_path / "out.tif").valid.any()


def test_auto_series_on_the_real_time_series_computes_the_other_masks(tmp_path, shared_data, capsys):
    folder = shared_data / "slovenia_timeseries_l1c"
    out = tmp_path / "filled.tif"
    rc = main(["remove", str(folder / "S2_L1C_2015-08-20.tif"), "-o", str(out), "--series",
               str(folder / "S2_L1C_2015-08-30.tif"), str(folder / "S2_L1C_2015-07-31.tif"), "--no-progress",
               "--write-mask", str(tmp_path / "used.tif")])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "method gapfill" in err and err.count("mask auto") == 3  # the target and both other dates
    prov = read_mask(tmp_path / "filled_provenance.tif")
    used = read_mask(tmp_path / "used.tif")
    cloudy = (used > 0) & (used < 255)
    # the gap comes mostly from 2015-08-30, the nearest clear date (its own few masked pixels from the other)
    assert cloudy.any() and (prov[cloudy] == 2).mean() > 0.9
    tags = open_info(tmp_path / "filled_provenance.tif").tags
    assert "S2_L1C_2015-08-30.tif" in tags["CLOUDFREE_PROVENANCE_DATES"]
    assert read_raster(out).bands == read_raster(folder / "S2_L1C_2015-08-20.tif").bands  # all 13 bands


def test_multitemporal_s1s2_on_sen1floods11(tmp_path, shared_data, capsys):
    """A tiny multi-temporal S1+S2 release trained here (25 steps on the chip itself, as the example
    config does) on the real Sen1Floods11 chip: S2 at t0 and S1 (NaN nodata) at both dates; the t1
    image is the same chip under a cloud block (the samples hold no S1+S2 pair of one place at two
    dates, so this shows the path runs, not that the model learnt temporal change)."""
    folder = shared_data / "sen1floods11_spain"
    s2, s1 = folder / "Spain_7370579_S2Hand.tif", folder / "Spain_7370579_S1Hand.tif"
    scene = read_raster(s2)
    mask = np.zeros((scene.height, scene.width), np.uint8)
    mask[100:220, 300:420] = 1
    write_mask(mask, scene, tmp_path / "mask.tif")
    rel, (first, last) = trained_multitemporal_release(tmp_path / "mt", s2, s1)
    assert last < first  # it trained
    out = tmp_path / "out.tif"
    args = ["remove", str(s2), "-o", str(out), "--model", str(rel), "--prev", str(s2), "--sar", str(s1),
            "--prev-sar", str(s1), "--mask", str(tmp_path / "mask.tif"), "--device", "cpu",
            "--no-progress"]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    info, ref = open_info(out), open_info(s2)
    assert info.crs.to_epsg() == 4326 and info.transform.almost_equals(ref.transform)
    result = read_raster(out)
    assert result.bands == ("B02", "B03", "B04", "B08") and result.data.dtype == np.uint16
    rgbn = scene.select("rgbn")
    far = np.ones_like(mask, bool)
    far[90:230, 290:430] = False
    np.testing.assert_array_equal(result.data[:, far], rgbn.data[:, far])
    inside = (mask > 0) & rgbn.valid
    assert (result.data[:, inside] != rgbn.data[:, inside]).mean() > 0.5
    # the same from Python
    Remover(rel, device="cpu", progress=False)(s2, tmp_path / "py.tif", mask=tmp_path / "mask.tif", prev=s2,
                                               sar=s1, prev_sar=s1)  # fmt: skip
    np.testing.assert_array_equal(read_raster(tmp_path / "py.tif").data, result.data)


def test_real_sen12mscr_files_in_the_ts_layout(tmp_path, shared_data, capsys):
    """The real SEN12MS-CR patch (no band descriptions, real clouds) linked into a SEN12MS-CR-TS
    patch folder as two time points; auto mask; the 13-band multi-temporal release (random weights)."""
    from cloudfree.bands import resolve

    src = shared_data / "sen12mscr_sample"
    patch = tmp_path / "ROIs1868" / "19"
    for t, day in ((0, "2018-06-01"), (1, "2018-06-13")):
        for sensor, name in (("s2", "ROIs1868_summer_s2_cloudy_19_p30.tif"), ("s1", "ROIs1868_summer_s1_19_p30.tif")):
            link = patch / sensor.upper() / str(t) / f"{sensor}_ROIs1868_19_ImgNo_{t}_{day}_patch_30.tif"
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(src / name)
    rel = multitemporal_release(tmp_path / "mt13", bands=resolve("l1c13"))
    out = tmp_path / "out.tif"
    rc = main(["remove", str(patch), "-o", str(out), "--model", str(rel), "--device", "cpu", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "target t=1, earlier date t=0" in err and "mask auto" in err
    info, ref = open_info(out), open_info(src / "ROIs1868_summer_s2_cloudy_19_p30.tif")
    assert info.count == 13 and info.crs == ref.crs and info.transform.almost_equals(ref.transform)
    assert (read_mask(tmp_path / "out_provenance.tif") == 1).any()
