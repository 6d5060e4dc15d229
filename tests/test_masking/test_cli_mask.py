"""`cloudfree mask`: default auto method, printed choice, exit 2 on bad input, batches of files."""

from __future__ import annotations

import numpy as np
import rasterio

from cloudfree.cli import main
from tests.test_masking.scenes import cloud_square_scene, write_scene


def test_default_method_prints_and_tags_its_choice(tmp_path, capsys):
    src = write_scene(cloud_square_scene()[0], tmp_path / "scene.tif")
    assert main(["mask", str(src), "-o", str(tmp_path / "m.tif"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "mask: csmask-4+6band-L1C, because" in out
    with rasterio.open(tmp_path / "m.tif") as ds:
        assert ds.tags()["CLOUDFREE_MASK_METHOD"] == "csmask-4+6band-L1C"
        assert "6- and 4-band" in ds.tags()["CLOUDFREE_MASK_REASON"]


def test_bad_input_exits_2_with_one_line(tmp_path, capsys):
    assert main(["mask", str(tmp_path / "missing.tif"), "-o", str(tmp_path / "m.tif")]) == 2
    assert "missing.tif" in capsys.readouterr().err
    raster, _ = cloud_square_scene(size=64)
    rgb = raster.select(("B04", "B03"))
    src = write_scene(rgb, tmp_path / "two_bands.tif")
    assert main(["mask", str(src), "-o", str(tmp_path / "m.tif"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no mask method fits bands" in err and len(err.splitlines()) == 1
    assert main(["mask", str(src), "-o", str(tmp_path / "m.tif"), "--method", "magic"]) == 2
    assert main(["mask", str(src), "-o", str(tmp_path / "m.tif"), "--method", "scl"]) == 2
    assert "SCL" in capsys.readouterr().err
    assert not (tmp_path / "m.tif").exists()


def test_unnamed_bands_need_bands_option(tmp_path, capsys):
    raster, _ = cloud_square_scene(size=64)
    path = tmp_path / "plain.tif"
    with rasterio.open(
        path, "w", driver="GTiff", height=64, width=64, count=6, dtype="float32", crs=raster.crs,
        transform=raster.transform,
    ) as ds:  # fmt: skip
        ds.write(raster.data)
    assert main(["mask", str(path), "-o", str(tmp_path / "m.tif"), "--quiet"]) == 2
    assert "--bands" in capsys.readouterr().err
    bands = "B02,B03,B04,B08,B11,B12"
    assert main(["mask", str(path), "-o", str(tmp_path / "m.tif"), "--quiet", "--bands", bands]) == 0


def test_batch_of_two_files_skips_finished_and_reports_failures(tmp_path, capsys):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    raster, _ = cloud_square_scene()
    write_scene(raster, scenes / "a.tif")
    write_scene(raster.select(("B02", "B03", "B04", "B08")), scenes / "b.tif")
    out = tmp_path / "masks"
    assert main(["mask", str(scenes), "-o", f"{out}/", "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.tif", "b.tif"]
    with rasterio.open(out / "b.tif") as ds:
        assert ds.tags()["CLOUDFREE_MASK_METHOD"] == "csmask-4band-L1C"
        assert set(np.unique(ds.read(1))) <= {0, 1, 3}
    capsys.readouterr()
    write_scene(raster.select(("B04", "B03")), scenes / "c.tif")  # cannot be masked
    assert main(["mask", str(scenes / "*.tif"), "-o", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "0 written, 2 skipped (already done), 1 failed" in err and "c.tif" in err


def test_masker_factory_is_picklable_and_masks_a_job(tmp_path):
    import pickle
    from types import SimpleNamespace

    import pytest

    from cloudfree.inference.mask_scene import MaskerFactory
    from cloudfree.masking.auto import MaskMethodError

    factory = pickle.loads(pickle.dumps(MaskerFactory(dilate=1)))
    process = factory()
    src = write_scene(cloud_square_scene()[0], tmp_path / "a.tif")
    job = SimpleNamespace(name="a.tif", output=str(tmp_path / "out.tif"), inputs={"optical": str(src)})
    summary = process(job)
    assert summary["method"] == "csmask-4+6band-L1C" and 0 < summary["cloud_fraction"] < 1
    pickle.dumps(summary)
    with pytest.raises(MaskMethodError, match="optical"):
        process(SimpleNamespace(name="x", output=str(tmp_path / "x.tif"), inputs={"sar": "s.tif"}))
