"""Removal runs the model only on tiles near a cloud: which tiles, how many, and the same bytes as a
run that predicts every tile (the composite never uses a skipped tile's estimate)."""

from __future__ import annotations

import numpy as np
import pytest

from cloudfree.inference import model_pass
from cloudfree.inference.cloud_tiles import tiles_needing_model
from cloudfree.inference.grid import TileGrid
from cloudfree.inference.removal import remove
from cloudfree.io import read_raster, write_mask, write_raster
from cloudfree.radiometry import Radiometry
from tests.fixtures import make_raster
from tests.test_inference.releases import unet_release


def test_tiles_needing_model_grow_each_tile_by_the_feather(tmp_path):
    like = make_raster(100, 120, seed=1)
    mask = np.zeros((100, 120), np.uint8)
    mask[50, 58] = 1  # one cloudy pixel
    mask[:3, :3] = 255  # mask nodata is not cloud
    path = write_mask(mask, like, tmp_path / "mask.tif")
    grid = TileGrid(100, 120, 32, 8)  # starts 0, 24, 48, 68 (rows) and 0, 24, 48, 72, 88 (cols)
    assert tiles_needing_model(path, grid, 0) == {(24, 48), (48, 48)}
    assert tiles_needing_model(path, grid, 4) == {(r, c) for r in (24, 48) for c in (24, 48)}
    for margin in (0, 3, 9, 40):  # against a direct check of every grown tile
        lo = {t: (max(0, t.row - margin), max(0, t.col - margin)) for t in grid}
        expected = {
            (t.row, t.col)
            for t in grid
            if (mask[lo[t][0] : t.row + 32 + margin, lo[t][1] : t.col + 32 + margin] == 1).any()
        }
        assert tiles_needing_model(path, grid, margin) == expected


def _dn_scene_with_a_small_cloud(tmp_path, h=160, w=176):
    r = make_raster(h, w, radiometry=Radiometry.DN, seed=7)
    r.data[:] += 1000
    r.data[:, :6, :9] = 0
    r.valid[:6, :9] = False
    path = write_raster(r, tmp_path / "scene.tif")
    mask = np.zeros((h, w), np.uint8)
    mask[70:78, 100:106] = 1  # a small cloud near tile edges
    mask[77:80, 60:63] = 3
    return path, write_mask(mask, r, tmp_path / "mask.tif")


@pytest.mark.parametrize("feather", [0, 4])
def test_removal_runs_the_model_only_near_clouds_and_writes_the_same_bytes(tmp_path, monkeypatch, feather):
    scene, mask = _dn_scene_with_a_small_cloud(tmp_path)
    rel = unet_release(tmp_path / "unet")
    tiles_run = []
    real_call = model_pass.ModelRunner.__call__

    def counting(self, x, valid):
        tiles_run.append(x.shape[0])
        return real_call(self, x, valid)

    monkeypatch.setattr(model_pass.ModelRunner, "__call__", counting)
    kw = dict(model=rel, mask=mask, tile=32, overlap=8, batch_size=4, feather=feather, device="cpu", progress=False,
              write_mask=None)  # fmt: skip
    skipped = remove(scene, tmp_path / "skip.tif", provenance=tmp_path / "skip_prov.tif", **kw)
    ran = sum(tiles_run)
    grid = TileGrid(160, 176, 32, 8)
    assert ran == skipped.extra["model_tiles"] == len(tiles_needing_model(mask, grid, feather)) < grid.n_tiles / 4
    assert skipped.extra["skipped_tiles"] == grid.n_tiles - ran

    monkeypatch.setattr(model_pass.ModelPass, "_skip_clear", lambda self, *a, **k: None)
    tiles_run.clear()
    full = remove(scene, tmp_path / "full.tif", provenance=tmp_path / "full_prov.tif", **kw)
    assert sum(tiles_run) == full.extra["model_tiles"] == grid.n_tiles
    for a, b in (("skip.tif", "full.tif"), ("skip_prov.tif", "full_prov.tif")):
        assert (tmp_path / a).read_bytes() == (tmp_path / b).read_bytes()
    out, src = read_raster(tmp_path / "full.tif"), read_raster(scene)
    assert not np.array_equal(out.data[:, 70:78, 100:106], src.data[:, 70:78, 100:106])  # the model did fill


def test_default_batch_is_small_on_cpu_and_larger_on_a_gpu():
    """Same time per tile on CPU in batches of 2 as of 8, a quarter of the activations (see CPU_BATCH)."""
    from cloudfree.inference.model_pass import CPU_BATCH, GPU_BATCH, ModelPass, RemovalOptions

    def batch(device: str, size: int | None = None) -> int:
        return ModelPass(None, None, RemovalOptions(batch_size=size), device=device, log=print).batch_size  # type: ignore[arg-type]

    assert (batch("cpu"), batch("cuda"), batch("cuda:1")) == (CPU_BATCH, GPU_BATCH, GPU_BATCH) == (2, 8, 8)
    assert batch("cpu", 5) == 5
