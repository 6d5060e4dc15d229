"""The packaged default removal model is chosen from the scene's bands."""

from __future__ import annotations

from cloudfree import bands as bandcat
from cloudfree.inference import loading


def test_thirteen_band_scene_gets_the_l1c13_default() -> None:
    assert loading.default_model_for(bandcat.resolve("l1c13")) == "default-l1c13"


def test_four_band_or_l2a_scene_gets_the_rgbn_default() -> None:
    assert loading.default_model_for(("B02", "B03", "B04", "B08")) == "default-rgbn"
    assert loading.default_model_for(bandcat.resolve("l2a12")) == "default-rgbn"  # no B10


def test_an_explicit_model_is_kept() -> None:
    assert loading.resolve_model("my-release") == "my-release"
