"""The removal pipeline on generated rasters (core tier): grid checks, safe outputs, band notice and
--keep-bands, load once, auto method, provenance, multi-temporal S1+S2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from cloudfree.cli import main
from cloudfree.inference import loading
from cloudfree.inference.checks import GridMismatchError
from cloudfree.inference.methods import choose_method
from cloudfree.inference.remover import Remover, RemoverFactory
from cloudfree.io import open_info, read_mask, read_raster, write_mask, write_raster
from cloudfree.radiometry import Radiometry
from cloudfree.raster import Raster
from tests.fixtures import make_raster
from tests.test_inference.releases import identity_release, multitemporal_release, unet_release

BANDS6 = ("B01", "B02", "B03", "B04", "B08", "B11")


def _scene(tmp_path: Path, name: str = "scene.tif", bands=("B02", "B03", "B04", "B08"), seed: int = 1, h=40, w=48):
    r = make_raster(h, w, bands, radiometry=Radiometry.DN, seed=seed)
    r.data[:] += 100
    path = write_raster(r, tmp_path / name)
    mask = np.zeros((h, w), np.uint8)
    mask[10:22, 12:30] = 1
    write_mask(mask, r, tmp_path / f"{Path(name).stem}_mask.tif")
    return path, tmp_path / f"{Path(name).stem}_mask.tif", read_raster(path), mask


def _cli(*args) -> list[str]:
    return ["remove", *map(str, args), "--device", "cpu", "--tile", "32", "--overlap", "8", "--no-progress"]


def _moved(raster: Raster, dx: float = 0.0, crs: str | None = None) -> Raster:
    from rasterio.crs import CRS

    t = raster.transform
    return (
        raster.with_data(raster.data, transform=Affine(t.a, t.b, t.c + dx, t.d, t.e, t.f))
        if crs is None
        else (Raster(raster.data, raster.bands, CRS.from_string(crs), t, raster.valid, raster.radiometry))
    )


# -- issue 15 item 1: grid checks ------------------------------------------------------------
def test_a_mask_on_another_grid_is_refused_naming_both_grids(tmp_path, capsys):
    scene, _, r, mask = _scene(tmp_path)
    rel = identity_release(tmp_path / "id")
    write_mask(mask, _moved(r, dx=50_000.0), tmp_path / "far_mask.tif")  # same size, 50 km east
    write_mask(mask, _moved(r, crs="EPSG:32634"), tmp_path / "utm34_mask.tif")  # same size, other CRS
    for bad in ("far_mask.tif", "utm34_mask.tif"):
        rc = main(_cli(scene, "-o", tmp_path / "out.tif", "--model", rel, "--mask", tmp_path / bad))
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1, err
        assert bad in err[0] and "scene.tif" in err[0] and "another grid" in err[0]
        assert "EPSG:32633" in err[0]  # both grids are named
    assert not (tmp_path / "out.tif").exists()


def test_sar_and_series_must_overlap_and_series_masks_follow_their_date(tmp_path):
    scene, mask_path, r, mask = _scene(tmp_path)
    s1 = Raster(np.full((2, 40, 48), -12.0, np.float32), ("VV", "VH"), r.crs, r.transform, r.valid, Radiometry.SAR_DB)
    write_raster(_moved(s1, dx=100_000.0), tmp_path / "s1_far.tif")
    write_raster(_moved(r, dx=100_000.0), tmp_path / "other_far.tif")
    write_raster(r, tmp_path / "2020-01-01.tif")
    write_mask(mask, _moved(r, dx=20.0), tmp_path / "member_mask_shifted.tif")
    rem = Remover(identity_release(tmp_path / "id"), device="cpu", progress=False)
    with pytest.raises(GridMismatchError, match="does not overlap"):
        rem(scene, tmp_path / "o.tif", method="gapfill", mask=mask_path, series=[tmp_path / "other_far.tif"])
    with pytest.raises(GridMismatchError, match="another grid"):
        rem(scene, tmp_path / "o.tif", method="gapfill", mask=mask_path, series=[tmp_path / "2020-01-01.tif"],
            series_masks=[tmp_path / "member_mask_shifted.tif"])  # fmt: skip
    from tests.test_inference.releases import sar_release

    with pytest.raises(GridMismatchError, match="does not overlap"):
        Remover(sar_release(tmp_path / "sar"), device="cpu", progress=False)(
            scene, tmp_path / "o.tif", mask=mask_path, sar=tmp_path / "s1_far.tif"
        )


def test_inputs_are_validated_before_the_model_loads(tmp_path, monkeypatch):
    scene, _, r, mask = _scene(tmp_path)
    write_mask(mask, _moved(r, dx=30.0), tmp_path / "shifted.tif")

    def no_load(*a, **k):
        raise AssertionError("the model was loaded before the inputs were checked")

    monkeypatch.setattr(loading, "load_model", no_load)
    with pytest.raises(GridMismatchError):
        Remover(unet_release(tmp_path / "u"), device="cpu")(scene, tmp_path / "o.tif", mask=tmp_path / "shifted.tif")


# -- issue 15 item 3: outputs ----------------------------------------------------------------
def test_existing_output_needs_overwrite_and_an_input_is_never_replaced(tmp_path, capsys):
    scene, mask_path, _, _ = _scene(tmp_path)
    rel = identity_release(tmp_path / "id")
    out = tmp_path / "out.tif"
    assert main(_cli(scene, "-o", out, "--model", rel, "--mask", mask_path)) == 0
    stamp = out.stat().st_mtime_ns
    capsys.readouterr()
    assert main(_cli(scene, "-o", out, "--model", rel, "--mask", mask_path)) == 2
    assert "already exists" in capsys.readouterr().err and out.stat().st_mtime_ns == stamp
    assert main(_cli(scene, "-o", out, "--model", rel, "--mask", mask_path, "--overwrite")) == 0
    before = scene.read_bytes()
    for target in (scene, mask_path):
        assert main(_cli(scene, "-o", target, "--model", rel, "--mask", mask_path, "--overwrite")) == 2
        assert "is the input" in capsys.readouterr().err
    assert scene.read_bytes() == before


def test_dropped_bands_are_noted_and_keep_bands_carries_them(tmp_path, capsys):
    scene, mask_path, r, mask = _scene(tmp_path, bands=BANDS6)
    rel = unet_release(tmp_path / "u")
    assert main(_cli(scene, "-o", tmp_path / "four.tif", "--model", rel, "--mask", mask_path)) == 0
    err = capsys.readouterr().err
    assert "has 6 bands" in err and "B01, B11" in err and "--keep-bands" in err
    assert read_raster(tmp_path / "four.tif").bands == ("B02", "B03", "B04", "B08")
    assert main(_cli(scene, "-o", tmp_path / "all.tif", "--model", rel, "--mask", mask_path, "--keep-bands")) == 0
    out = read_raster(tmp_path / "all.tif")
    assert out.bands == BANDS6 and out.data.dtype == np.uint16
    for b in ("B01", "B11"):  # carried through bit-identical, clouds included
        np.testing.assert_array_equal(out.select((b,)).data, r.select((b,)).data)
    cloudy = mask > 0
    assert (out.select(("B04",)).data[0][cloudy] != r.select(("B04",)).data[0][cloudy]).mean() > 0.9


# -- issue 12 item 3: load once, run many ------------------------------------------------------
def test_a_batch_loads_the_model_once(tmp_path, monkeypatch, capsys):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    for i in range(3):
        _scene(scenes, f"s{i}.tif", seed=i)
    for p in scenes.glob("*_mask.tif"):
        p.rename(tmp_path / p.name)
    masks = tmp_path / "masks"
    masks.mkdir()
    for i in range(3):
        (tmp_path / f"s{i}_mask.tif").rename(masks / f"s{i}.tif")
    calls = []
    real = loading.load_model
    monkeypatch.setattr(loading, "load_model", lambda *a, **k: calls.append(a) or real(*a, **k))
    rel = unet_release(tmp_path / "u")
    rc = main(_cli(scenes, "-o", f"{tmp_path / 'out'}/", "--model", rel, "--mask", masks))
    assert rc == 0, capsys.readouterr().err
    assert len(calls) == 1
    assert sorted(p.name for p in (tmp_path / "out").glob("s?.tif")) == ["s0.tif", "s1.tif", "s2.tif"]
    # the same from Python: one Remover, many scenes; and the factory pickles
    import pickle

    from cloudfree.inference.batch import SceneJob

    factory = pickle.loads(pickle.dumps(RemoverFactory(str(rel), Remover(rel).options, mask="threshold")))
    process = factory()
    for i in range(2):
        job = SceneJob(f"s{i}", str(tmp_path / "py" / f"s{i}.tif"), {"optical": str(scenes / f"s{i}.tif")})
        assert process(job)["outputs"][0].endswith(f"s{i}.tif")
    assert len(calls) == 2  # one more Remover, one more load, for two scenes


def test_diffusers_is_not_imported_for_a_non_diffusion_release(tmp_path):
    scene, mask_path, _, _ = _scene(tmp_path)
    rel = unet_release(tmp_path / "u")
    code = (
        "import sys; from cloudfree.inference.removal import remove; "
        f"remove({str(scene)!r}, {str(tmp_path / 'o.tif')!r}, model={str(rel)!r}, mask={str(mask_path)!r}, "
        "tile=32, overlap=8, device='cpu', progress=False); print('diffusers' in sys.modules)"
    )
    env = {"PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


# -- issue 11 items 4 and 5: auto method, provenance --------------------------------------------
def test_choose_method():
    from tests.test_inference.releases import RGBN  # noqa: F401

    assert choose_method("gapfill", series=True).model is False
    with pytest.raises(ValueError, match="--series"):
        choose_method("median", series=False)
    with pytest.raises(ValueError, match="not both"):
        choose_method("auto", series=True, sar=True)


def test_auto_series_fills_from_dates_then_the_model_and_says_so(tmp_path, capsys):
    target, mask_path, r, mask = _scene(tmp_path, "T_2020-06-10.tif", seed=1)
    member, member_mask_path, m, _ = _scene(tmp_path, "M_2020-06-01.tif", seed=1)  # the same ground
    r.data[:, mask > 0] = 8000  # ... under a bright cloud on the target date
    write_raster(r, target)
    member_mask = np.zeros_like(mask)
    member_mask[10:16, 12:20] = 1  # the member is cloudy over part of the target's gap
    write_mask(member_mask, m, member_mask_path)
    rel = identity_release(tmp_path / "id")
    out = tmp_path / "out.tif"
    rc = main(_cli(target, "-o", out, "--model", rel, "--mask", mask_path, "--series", member,
                   "--series-masks", member_mask_path))  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "method gapfill+model" in err and "no clear date" in err
    prov = read_mask(tmp_path / "out_provenance.tif")
    gap = mask > 0
    left = gap & (member_mask > 0)
    from scipy import ndimage

    beyond = ndimage.distance_transform_edt(~left) > 4  # the model's feathered edge is the model's too
    assert (prov[left] == 1).all() and (prov[gap & beyond] == 2).all()
    assert set(np.unique(prov[~gap])) <= {0, 1, 2}  # feathered edges only
    info = open_info(out)
    assert "gapfill + model" in info.tags["CLOUDFREE_METHOD"] and "--series" in info.tags["CLOUDFREE_METHOD_REASON"]
    assert open_info(tmp_path / "out_provenance.tif").crs == info.crs
    # filled from the member (the same ground, so the radiometric fit is the identity): its DN
    data = read_raster(out).data
    inner = np.zeros_like(gap)
    inner[12:20, 22:28] = True
    assert np.abs(data[:, inner].astype(int) - m.data[:, inner].astype(int)).max() <= 2


def test_provenance_of_a_model_run_and_no_provenance(tmp_path):
    scene, mask_path, r, mask = _scene(tmp_path)
    r.valid[:3, :3] = False
    r.data[:, :3, :3] = 0
    write_raster(r, scene)
    rel = unet_release(tmp_path / "u")
    assert main(_cli(scene, "-o", tmp_path / "out.tif", "--model", rel, "--mask", mask_path, "--feather", "2")) == 0
    prov = read_mask(tmp_path / "out_provenance.tif")
    assert (prov[mask > 0] == 1).all() and prov[0, 0] == 255 and (prov[30:, 40:] == 0).all()
    tags = open_info(tmp_path / "out_provenance.tif").tags
    assert "generated by the model" in tags["CLOUDFREE_PROVENANCE_CODES"]
    assert main(_cli(scene, "-o", tmp_path / "o2.tif", "--model", rel, "--mask", mask_path, "--no-provenance")) == 0
    assert not (tmp_path / "o2_provenance.tif").exists()


# -- issue 14 item 1: multi-temporal S1+S2 ----------------------------------------------------
def test_multitemporal_release_runs_with_prev_and_sar_on_other_grids(tmp_path, capsys):
    t1, mask_path, r, mask = _scene(tmp_path, "T1.tif", seed=1)
    prev = make_raster(20, 24, radiometry=Radiometry.DN, seed=3)  # 20 m grid covering T1
    prev = prev.with_data(prev.data + 100, transform=Affine(20.0, 0, 500000.0, 0, -20.0, 5100000.0))
    write_raster(prev, tmp_path / "T0.tif")
    rng = np.random.default_rng(0)
    for name in ("S1_T0.tif", "S1_T1.tif"):
        db = rng.uniform(-20, -5, (2, 44, 52)).astype(np.float32)
        s1 = Raster(db, ("VV", "VH"), r.crs, Affine(10.0, 0, 499980.0, 0, -10.0, 5100020.0),
                    np.ones((44, 52), bool), Radiometry.SAR_DB)  # fmt: skip
        write_raster(s1, tmp_path / name)
    rel = multitemporal_release(tmp_path / "mt")
    args = _cli(t1, "-o", tmp_path / "out.tif", "--model", rel, "--mask", mask_path, "--prev", tmp_path / "T0.tif",
                "--sar", tmp_path / "S1_T1.tif", "--prev-sar", tmp_path / "S1_T0.tif")  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    assert "multi-temporal S1+S2" in capsys.readouterr().err
    out, info = read_raster(tmp_path / "out.tif"), open_info(tmp_path / "out.tif")
    assert info.crs == r.crs and info.transform.almost_equals(r.transform) and out.bands == r.bands
    np.testing.assert_array_equal(out.data[:, 30:, 40:], r.data[:, 30:, 40:])
    assert (out.data[:, mask > 0] != r.data[:, mask > 0]).mean() > 0.9
    assert "S1_T0.tif" in info.tags["CLOUDFREE_PREV_SAR"]
    no_prev_sar = [a for a in args if a not in ("--prev-sar", str(tmp_path / "S1_T0.tif"))]
    assert main([*no_prev_sar, "--overwrite"]) == 2
    assert "earlier Sentinel-1 (--prev-sar)" in capsys.readouterr().err


def _ts_file(folder: Path, sensor: str, t: int, day: str, data: np.ndarray) -> Path:
    """One SEN12MS-CR-TS file as the data set ships it: no band descriptions."""
    import rasterio

    path = folder / sensor.upper() / str(t) / f"{sensor}_ROIs1868_100_ImgNo_{t}_{day}_patch_17.tif"
    path.parent.mkdir(parents=True, exist_ok=True)
    grid = Affine(10, 0, 600000, 0, -10, 5000000)
    profile = dict(driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                   dtype=data.dtype.name, crs="EPSG:32631", transform=grid)  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def test_a_sen12mscr_ts_patch_folder_runs_the_multitemporal_model(tmp_path, capsys):
    from cloudfree.bands import resolve

    l1c13 = resolve("l1c13")
    rng = np.random.default_rng(0)
    patch = tmp_path / "ROIs1868" / "100"
    for t, day in ((0, "2018-01-03"), (1, "2018-01-15"), (2, "2018-01-27")):
        _ts_file(patch, "s2", t, day, rng.integers(500, 4000, (13, 32, 32)).astype(np.uint16))
        _ts_file(patch, "s1", t, day, rng.uniform(-20, -5, (2, 32, 32)).astype(np.float32))
    rel = multitemporal_release(tmp_path / "mt13", bands=l1c13)
    out = tmp_path / "out.tif"
    rc = main(_cli(patch, "-o", out, "--model", rel, "--mask", "threshold", "--prev-time", "0"))
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "target t=2, earlier date t=0" in err
    info = open_info(out)
    assert info.count == 13 and info.crs.to_epsg() == 32631 and "ImgNo_0" in info.tags["CLOUDFREE_PREV"]
    assert "ImgNo_2" in info.tags["CLOUDFREE_SAR"]
    assert main(_cli(patch, "-o", tmp_path / "o2.tif", "--model", rel, "--time", "0")) == 2
    assert "no time point before 0" in capsys.readouterr().err
