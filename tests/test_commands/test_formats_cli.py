"""`cloudfree mask` and `cloudfree remove` (no flags: auto mask, auto method) read every input layout:
a SAFE zip and folder, a band-per-file folder (one scene, not a batch) and a SEN12MS-CR patch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cloudfree.cli import main
from cloudfree.io.geotiff import open_info
from tests.test_io.test_registry import band_folder, write
from tests.test_io.test_safe import ALL_OFFSETS, L1C, make_safe, zip_safe


def _georeferenced(path: Path, epsg: int) -> None:
    info = open_info(path)
    assert info.crs is not None and info.crs.to_epsg() == epsg
    assert info.descriptions and all(info.descriptions)


@pytest.mark.parametrize("layout", ["safe-zip", "safe-folder", "band-files"])
def test_mask_and_remove_read_products(tmp_path: Path, layout: str) -> None:
    if layout == "band-files":
        src = band_folder(tmp_path / "S2A_MSIL2A_20170613T101031_87_48", bands=("B02", "B03", "B04", "B08"))
    else:
        safe = make_safe(tmp_path / "src", offsets=ALL_OFFSETS)
        src = zip_safe(safe, tmp_path / f"{L1C}.zip") if layout == "safe-zip" else safe
    out = tmp_path / "out"
    assert main(["mask", str(src), "-o", str(out / "mask.tif"), "--quiet"]) == 0
    _georeferenced(out / "mask.tif", 32633)
    assert main(["remove", str(src), "-o", str(out / "clear.tif"), "--no-progress"]) == 0
    _georeferenced(out / "clear.tif", 32633)
    assert (out / "clear_provenance.tif").exists()
    assert sorted(p.name for p in out.iterdir()) == ["clear.tif", "clear_provenance.tif", "mask.tif"]


def test_remove_and_mask_take_bands_for_undescribed_sen12mscr(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    s12 = write(tmp_path / "ROIs1868_summer_s2_cloudy_19_p30.tif", rng.integers(500, 3000, (13, 48, 48), np.uint16))
    assert main(["mask", str(s12), "-o", str(tmp_path / "m.tif"), "--bands", "l1c13", "--quiet"]) == 0
    assert main(["remove", str(s12), "-o", str(tmp_path / "c.tif"), "--bands", "l1c13", "--no-progress"]) == 0
    assert open_info(tmp_path / "c.tif").count == 13  # the 13-band default keeps every band
