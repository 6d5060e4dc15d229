"""Regression test for periodic (checkerboard) artifacts in the filled area (issue 11, item 7).

The score (``cloudfree.evaluation.artifacts.periodic_score``) is the power at the up-sampling
periods 2/4/8/16 px over the median power at that frequency; natural imagery scores under 10.
The transposed-convolution Pix2Pix defaults released before scored 1690 (default-rgbn, spyndex) and
4263 / 1755 (default-rgbn / default-l1c13, Madagascar with its s2cloudless mask); this test fails
on them.
"""

from __future__ import annotations

import numpy as np
import pytest

from cloudfree.data.holdout import spyndex_scene
from cloudfree.data.synthetic_clouds import CloudSimulator
from cloudfree.evaluation.artifacts import NATURAL_MAX, periodic_score
from cloudfree.inference.removal import remove
from cloudfree.io import read_mask, read_raster, write_mask, write_raster
from cloudfree.io.open import open_raster

LIMIT = 2 * NATURAL_MAX  # natural imagery < 10; checkerboard decoders score in the hundreds or thousands


def _filled_score(model: str, cloudy, mask: np.ndarray, tmp_path) -> float:
    write_raster(cloudy, tmp_path / "cloudy.tif", cog=False)
    write_mask(mask, cloudy, tmp_path / "mask.tif", cog=False)
    remove(tmp_path / "cloudy.tif", tmp_path / "out.tif", model=model, mask=tmp_path / "mask.tif", progress=False)
    out = read_raster(tmp_path / "out.tif").to_reflectance()
    return periodic_score(out.data, np.isin(mask, (1, 2, 3)))


def test_score_separates_natural_imagery_from_a_checkerboard():
    scene = spyndex_scene().to_reflectance()
    area = np.zeros(scene.valid.shape, bool)
    area[50:250, 50:250] = True
    assert periodic_score(scene.data, area) < NATURAL_MAX
    rows, cols = np.indices(area.shape)
    for period in (4, 8):  # the regular grid a transposed convolution stamps, 0.01 reflectance
        grid = 0.01 * (np.cos(2 * np.pi * rows / period) + np.cos(2 * np.pi * cols / period))
        assert periodic_score(scene.data + grid[None], area) > 100, period


def test_default_rgbn_fill_of_the_spyndex_scene_has_no_periodic_artifacts(tmp_path):
    cloudy, mask, _ = CloudSimulator(cloud_type="stratus", coverage=0.5).simulate_raster(spyndex_scene(), rng=5)
    score = _filled_score("default-rgbn", cloudy, mask, tmp_path)
    assert score < LIMIT, score


@pytest.mark.parametrize("model", ["default-rgbn", "default-l1c13"])
def test_default_fill_of_real_madagascar_clouds_has_no_periodic_artifacts(shared_data, tmp_path, model):
    scene = open_raster(shared_data / "madagascar_cloudy_l1c/S2_L1C_cloudy.tif")
    mask = read_mask(shared_data / "madagascar_cloudy_l1c/s2cloudless_mask.tif").astype(np.uint8)
    score = _filled_score(model, scene, mask, tmp_path)
    assert score < LIMIT, score
