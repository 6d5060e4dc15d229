"""`cloudfree remove` through the CLI: single scenes, temporal methods, batches (skip, continue, exit codes)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from cloudfree.cli import main
from cloudfree.io import open_info, read_raster, write_raster
from tests.fixtures import make_raster
from tests.test_inference.releases import identity_release


def test_remove_one_scene(tmp_path, shared_data, capsys):
    src = shared_data / "slovenia_timeseries_l1c" / "S2_L1C_2015-09-09.tif"
    rel = identity_release(tmp_path / "id")
    rc = main(
        [
            "remove",
            str(src),
            "-o",
            str(tmp_path / "out.tif"),
            "--model",
            str(rel),
            "--tile",
            "64",
            "--overlap",
            "16",
            "--device",
            "cpu",
            "--no-progress",
        ]
    )
    assert rc == 0
    np.testing.assert_array_equal(read_raster(tmp_path / "out.tif").data, read_raster(src, select="rgbn").data)
    assert "wrote" in capsys.readouterr().err


def test_remove_temporal_method(tmp_path, shared_data):
    folder = shared_data / "slovenia_timeseries_l1c"
    rc = main(
        [
            "remove",
            str(folder / "S2_L1C_2015-07-31.tif"),
            "-o",
            str(tmp_path / "filled.tif"),
            "--method",
            "median",
            "--series",
            str(folder / "S2_L1C_2015-07-11.tif"),
            str(folder / "S2_L1C_2015-08-30.tif"),
            "--mask",
            str(folder / "CLM_2015-07-31.tif"),
            "--series-masks",
            str(folder / "CLM_2015-07-11.tif"),
            str(folder / "CLM_2015-08-30.tif"),
            "--no-progress",
        ]
    )
    assert rc == 0
    out = read_raster(tmp_path / "filled.tif")
    a, b = (read_raster(folder / f"S2_L1C_{d}.tif").data.astype(np.float64) for d in ("2015-07-11", "2015-08-30"))
    # the whole date is cloud: every pixel is the median (= mean) of the two clear dates, within DN rounding
    assert np.abs(out.data - (a + b) / 2).max() <= 1.0
    assert open_info(tmp_path / "filled.tif").tags["CLOUDFREE_METHOD"] == "median"


def test_bad_input_exits_2_with_one_line(tmp_path, capsys):
    rc = main(["remove", str(tmp_path / "missing.tif"), "-o", str(tmp_path / "o.tif"), "--model", "x"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "missing.tif" in err[0]
    rc = main(
        ["remove", str(tmp_path / "missing.tif"), "-o", str(tmp_path / "o.tif"), "--tile", "32", "--overlap", "32"]
    )
    assert rc == 2


def test_batch_skips_done_scenes_and_continues_past_a_bad_one(tmp_path, capsys):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    for i in range(2):
        write_raster(make_raster(20, 24, seed=i), scenes / f"s{i}.tif")
    write_raster(make_raster(20, 24, bands=("B02", "B03", "B04")), scenes / "bad.tif")  # lacks B08
    rel = identity_release(tmp_path / "id")
    out = tmp_path / "out"
    args = [
        "remove",
        str(scenes / "*.tif"),
        "-o",
        f"{out}{os.sep}",
        "--model",
        str(rel),
        "--tile",
        "16",
        "--overlap",
        "4",
        "--device",
        "cpu",
        "--mask",
        "threshold",
        "--no-progress",
    ]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "bad.tif" in err and "B08" in err and "2 written" in err and "1 failed" in err
    assert sorted(p.name for p in out.iterdir()) == ["s0.tif", "s0_provenance.tif", "s1.tif", "s1_provenance.tif"]
    np.testing.assert_array_equal(read_raster(out / "s1.tif").data, read_raster(scenes / "s1.tif").data)
    (scenes / "bad.tif").unlink()
    stamp = (out / "s0.tif").stat().st_mtime_ns
    assert main(args) == 0
    assert "0 written, 2 skipped" in capsys.readouterr().err
    assert (out / "s0.tif").stat().st_mtime_ns == stamp
    # a folder as input, --overwrite redoes everything
    assert (
        main(
            [
                "remove",
                str(scenes),
                "-o",
                str(out),
                "--model",
                str(rel),
                "--tile",
                "16",
                "--overlap",
                "4",
                "--overwrite",
                "--mask",
                "threshold",
                "--no-progress",
            ]
        )
        == 0
    )
    assert "2 written" in capsys.readouterr().err


def test_batch_refuses_a_single_mask_for_many_scenes(tmp_path, capsys):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    for i in range(2):
        write_raster(make_raster(20, 24, seed=i), scenes / f"s{i}.tif")
    rc = main(["remove", str(scenes), "-o", str(tmp_path / "out"), "--mask", str(scenes / "s0.tif"), "--model", "m"])
    assert rc == 2 and "folder of masks" in capsys.readouterr().err


def test_cli_mask_dilate_default_is_the_library_default():
    import argparse

    from cloudfree.commands import remove as remove_cmd
    from cloudfree.inference.automask import REMOVAL_DILATE_M

    parser = argparse.ArgumentParser()
    remove_cmd.add_arguments(parser)
    assert parser.parse_args(["x.tif", "-o", "y.tif"]).mask_dilate == REMOVAL_DILATE_M


def test_cli_mask_holes_default_is_the_library_default():
    import argparse

    from cloudfree.commands import remove as remove_cmd
    from cloudfree.inference.automask import REMOVAL_HOLES_HA
    from cloudfree.inference.model_pass import RemovalOptions

    parser = argparse.ArgumentParser()
    remove_cmd.add_arguments(parser)
    assert parser.parse_args(["x.tif", "-o", "y.tif"]).mask_holes == REMOVAL_HOLES_HA == RemovalOptions().mask_holes_ha
    with pytest.raises(ValueError, match="--mask-holes"):
        RemovalOptions(mask_holes_ha=-1).check()
