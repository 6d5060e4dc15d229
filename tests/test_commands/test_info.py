"""`cloudfree info` through the CLI entry point: real files, SAFE zips, folders, bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest

from cloudfree.cli import main
from tests.fixtures import write_geotiff
from tests.test_io.test_safe import ALL_OFFSETS, make_safe, zip_safe

MADAGASCAR = "madagascar_cloudy_l1c"


def _json(capsys, *argv: str) -> dict:
    assert main(["info", *map(str, argv), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_madagascar_with_mask_text_and_json(shared_data, capsys):
    scene = shared_data / MADAGASCAR / "S2_L1C_cloudy.tif"
    mask = shared_data / MADAGASCAR / "s2cloudless_mask.tif"
    assert main(["info", str(scene), "--mask", str(mask)]) == 0
    text = capsys.readouterr().out
    assert "856 x 512 px" in text and "EPSG:4326" in text and "13 band(s)" in text
    assert "cloud       45.64 %" in text and "DN offset 0 for all bands" in text
    info = _json(capsys, scene, "--mask", mask)
    assert [b["name"] for b in info["bands"]][8:11] == ["B8A", "B09", "B10"]
    assert info["bands"][0]["native_resolution_m"] == 60 and info["bands"][1]["native_resolution_m"] == 10
    assert info["crs"] == "EPSG:4326" and info["resolution_units"] == "degree" and info["dtype"] == "uint16"
    assert info["radiometry"] == "dn" and info["dn_offset"] == [0.0] * 13 and info["nodata"] == 0
    assert info["valid_fraction"] == pytest.approx(1.0) and info["cloud_fraction"] == pytest.approx(0.4564, abs=1e-3)
    assert info["bands"][1]["min"] >= 1 and info["bands"][1]["mean"] == pytest.approx(1935.16, abs=0.1)


def test_every_shared_folder(shared_data, capsys):
    for folder in sorted(p for p in shared_data.iterdir() if p.is_dir()):
        info = _json(capsys, folder)
        assert info["layout"] == "folder" and info["items"], folder
        assert not [item for item in info["items"] if "error" in item], folder
    floods = _json(capsys, shared_data / "sen1floods11_spain")
    layouts = {item["path"].rsplit("_", 1)[-1]: item for item in floods["items"]}
    assert layouts["S1Hand.tif"]["nodata"] == "nan" and layouts["S1Hand.tif"]["radiometry"] == "sar_db"
    assert layouts["LabelHand.tif"]["value_counts"] == {"-1": 99, "0": 192010, "1": 70035}
    sample = _json(capsys, shared_data / "sen12mscr_sample")
    assert sample["sen12mscr_triplets"][0]["missing"] == ["s2"] and sample["sen12mscr_triplets"][0]["s2"] is None
    unlabeled = _json(capsys, shared_data / "cloud_labels_6band" / "S2_6band_reflectance.tif")
    assert unlabeled["crs"] is None and unlabeled["resolution_units"] == "pixel"
    assert unlabeled["bands"][0]["min"] >= 0 and unlabeled["bands"][-1]["max"] <= 1.3


def test_band_files_and_sentinel1_products(shared_data, capsys):
    root = shared_data / "bigearthnet_examples"
    s2 = _json(capsys, root / "BigEarthNet-S2-Example" / "S2B_MSIL2A_20180204T94161_57_38")
    assert s2["layout"] == "bandfiles" and s2["count"] == 12 and s2["crs"] == "EPSG:32635"
    assert s2["resolution"] == [10.0, 10.0] and s2["bands"][8]["name"] == "B8A"
    s1 = _json(capsys, root / "BigEarthNet-S1-Example" / "S1A_IW_GRDH_1SDV_20180204T043253_35VPK_57_38")
    assert [b["name"] for b in s1["bands"]] == ["VV", "VH"] and s1["radiometry"] == "sar_db"


def test_safe_zip_reports_offsets_and_baseline(tmp_path, capsys):
    archive = zip_safe(make_safe(tmp_path / "src", offsets=ALL_OFFSETS), tmp_path / "product.zip")
    info = _json(capsys, archive, "--bands", "rgbn")
    assert info["layout"] == "safe" and [b["name"] for b in info["bands"]] == ["B02", "B03", "B04", "B08"]
    assert info["dn_offset"] == [-1000.0] * 4 and info["tags"]["PROCESSING_BASELINE"] == "04.00"
    assert info["tags"]["PROCESSING_LEVEL"] == "L1C" and info["crs"] == "EPSG:32633"
    assert main(["info", str(archive)]) == 0
    assert "DN offset -1000 for all bands" in capsys.readouterr().out


def test_file_without_band_names_needs_bands(tmp_path, capsys):
    path = tmp_path / "unnamed.tif"
    write_geotiff(path, np.full((4, 8, 8), 1200, np.uint16))
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unnamed.tif" in err and "--bands" in err
    info = _json(capsys, path, "--bands", "rgbn")
    assert [b["name"] for b in info["bands"]] == ["B02", "B03", "B04", "B08"] and info["radiometry"] == "dn"


def test_bad_inputs_exit_2_with_one_line(shared_data, tmp_path, capsys):
    scene = shared_data / MADAGASCAR / "S2_L1C_cloudy.tif"
    truncated = tmp_path / "truncated.tif"
    truncated.write_bytes(b"II*\x00garbage")
    probability = shared_data / MADAGASCAR / "s2cloudless_probability.tif"
    small_mask = tmp_path / "small_mask.tif"
    write_geotiff(small_mask, np.zeros((1, 8, 8), np.uint8), ("mask",))
    cases = [
        ([str(tmp_path / "missing.tif")], "does not exist"),
        ([str(truncated)], "truncated.tif"),
        ([str(scene), "--mask", str(small_mask)], "mask is 8x8 px but"),
        ([str(scene), "--mask", str(probability)], "a mask holds integer codes"),
        ([str(shared_data / MADAGASCAR), "--mask", str(small_mask)], "applies to one raster"),
    ]
    for argv, message in cases:
        assert main(["info", *argv]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err


def test_help_and_no_torch_import(shared_data, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["info", "--help"])
    assert exit_info.value.code == 0
    assert "cloudfree info S2_L1C_cloudy.tif --mask" in capsys.readouterr().out
    code = (
        "import sys; from cloudfree.cli import main; "
        f"rc = main(['info', {str(shared_data / MADAGASCAR / 'S2_L1C_cloudy.tif')!r}, '--json']); "
        "assert rc == 0; assert 'torch' not in sys.modules, 'info imported torch'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["count"] == 13
