"""Shared imagery options (--bands, --dn-offset, --radiometry) in info, prepare and simulate-clouds."""

from __future__ import annotations

import json

import numpy as np

from cloudfree.cli import main
from cloudfree.io import read_raster
from tests.test_io.test_registry import write
from tests.test_io.test_safe import ALL_OFFSETS, L1C, make_safe, zip_safe

RGBN = ("B02", "B03", "B04", "B08")


def test_simulate_reads_a_safe_zip_and_refuses_to_overwrite(tmp_path, capsys):
    archive = zip_safe(make_safe(tmp_path / "src", offsets=ALL_OFFSETS), tmp_path / f"{L1C}.zip")
    out = tmp_path / "cloudy.tif"
    assert main(["simulate-clouds", str(archive), "-o", str(out), "--bands", "rgbn", "--coverage", "0.3"]) == 0
    cloudy = read_raster(out)
    assert cloudy.bands == RGBN and cloudy.crs.to_epsg() == 32633 and (cloudy.dn_offset == -1000).all()
    assert main(["simulate-clouds", str(archive), "-o", str(out), "--bands", "rgbn"]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert main(["simulate-clouds", str(archive), "-o", str(out), "--bands", "rgbn", "--overwrite"]) == 0


def test_float_dn_needs_radiometry_in_every_command(tmp_path, capsys):
    rng = np.random.default_rng(0)
    scene = write(tmp_path / "float_dn.tif", rng.uniform(300, 3000, (4, 40, 40)).astype(np.float32), RGBN)
    other = write(tmp_path / "float_dn2.tif", rng.uniform(300, 3000, (4, 40, 40)).astype(np.float32), RGBN)
    out = tmp_path / "cloudy.tif"
    assert main(["simulate-clouds", str(scene), "-o", str(out)]) == 2
    assert "float_dn.tif: band B02 is float but holds DN-like values" in capsys.readouterr().err
    assert main(["simulate-clouds", str(scene), "-o", str(out), "--radiometry", "dn"]) == 0
    store = tmp_path / "chips"
    argv = ["prepare", "--cloudy", str(scene), "--clear", str(other), "--out", str(store), "--patch", "16"]
    assert main(argv) == 2
    assert main([*argv, "--radiometry", "dn", "--dn-offset", "-1000"]) == 0
    assert main(["info", str(scene), "--radiometry", "dn", "--dn-offset", "-1000", "--json"]) == 0


def test_info_dn_offset_and_bands(tmp_path, capsys):
    data = np.full((13, 8, 8), 1500, np.uint16)
    path = write(tmp_path / "nodesc.tif", data)
    assert main(["info", str(path)]) == 2
    capsys.readouterr()
    assert main(["info", str(path), "--bands", "l1c13", "--dn-offset", "-1000", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["dn_offset"] == [-1000.0] * 13 and info["bands"][8]["name"] == "B8A"
