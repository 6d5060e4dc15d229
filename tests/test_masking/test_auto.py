"""The auto mask choice: method and ukis-csmask model from the bands and product level an input has."""

from __future__ import annotations

import pytest

from cloudfree import bands as bandcat
from cloudfree.masking.auto import MaskMethodError, choose_method, csmask_model_of, product_level

SIX = ("B02", "B03", "B04", "B08", "B11", "B12")


@pytest.mark.parametrize(
    ("names", "level", "method"),
    [
        (SIX, "L1C", "csmask-4+6band-L1C"),
        (SIX, "L2A", "csmask-4+6band-L2A"),
        (SIX, None, "csmask-4+6band-L1C"),
        (bandcat.resolve("rgbn"), "L2A", "csmask-4band-L2A"),
        (("B02", "B03", "B04", "B08", "B11"), "L1C", "csmask-4band-L1C"),  # one SWIR band is not enough
        (bandcat.resolve("l1c13"), "L1C", "csmask-4+6band-L1C"),
        (("SCL",), "L2A", "scl"),
    ],
)
def test_choice_per_band_set_and_level(names, level, method):
    chosen, reason = choose_method(names, level)
    assert chosen == method
    assert reason and "\n" not in reason
    if level is None:
        assert "assumed" in reason


def test_unknown_level_says_it_assumes_l1c_and_known_level_is_named():
    assert "L2A input" in choose_method(SIX, "L2A")[1]
    assert "Level-1C assumed" in choose_method(SIX, None)[1]


def test_own_model_only_when_its_release_allows_it():
    assert choose_method(SIX, "L1C", unet_eligible=True)[0] == "unet"
    assert choose_method(SIX, "L1C", unet_eligible=False)[0].startswith("csmask")


def test_s2cloudless_when_csmask_cannot_run_and_error_when_nothing_fits():
    names = ("B01", "B02", "B04", "B05", "B08", "B8A", "B09", "B10", "B11", "B12")
    assert choose_method(names, "L1C")[0] == "s2cloudless"
    with pytest.raises(MaskMethodError, match="no mask method fits bands"):
        choose_method(("B04", "B03"), "L1C")


@pytest.mark.parametrize(
    ("names", "tags", "name", "level"),
    [
        (SIX, {"BOA_ADD_OFFSET": "-1000"}, "x.tif", "L2A"),
        (SIX, {"RADIO_ADD_OFFSET": "-1000"}, "x.tif", "L1C"),
        (SIX, {"PRODUCT_ID": "S2B_MSIL2A_20180204T94161_57_38"}, "x.tif", "L2A"),
        (SIX, {}, "S2A_MSIL1C_20200101.tif", "L1C"),
        (bandcat.resolve("l1c13"), {}, "x.tif", "L1C"),
        (bandcat.resolve("l2a12"), {}, "x.tif", "L2A"),
        (SIX, {}, "x.tif", None),
    ],
)
def test_product_level_from_tags_name_and_band_set(names, tags, name, level):
    assert product_level(names, tags, name)[0] == level


def test_given_level_wins_and_is_checked():
    assert product_level(SIX, {"BOA_ADD_OFFSET": "0"}, given="l1c")[0] == "L1C"
    with pytest.raises(MaskMethodError, match="L1C or L2A"):
        product_level(SIX, {}, given="L3")


def test_model_names_round_trip():
    assert csmask_model_of("csmask-4band-L2A").in_bands == ("B02", "B03", "B04", "B08")
    with pytest.raises(MaskMethodError):
        csmask_model_of("csmask-5band-L1C")


def test_ensemble_name_round_trips():
    model = csmask_model_of("csmask-4+6band-L2A")
    assert model.ensemble and model.bands == 6 and model.level == "L2A" and model.name == "csmask-4+6band-L2A"
