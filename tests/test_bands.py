import pytest

from cloudfree import bands


def test_aliases_resolve_to_esa_names():
    assert bands.canonical("B1") == "B01"
    assert bands.canonical("b08a") == "B8A"
    assert bands.canonical("nir08") == "B8A"
    assert bands.canonical("nir") == "B08"
    assert bands.canonical("swir16") == "B11"
    assert bands.canonical("Blue") == "B02"
    assert bands.canonical("vv") == "VV"


def test_band_sets_and_lists():
    assert bands.resolve("rgb") == ("B04", "B03", "B02")
    assert bands.resolve("fcc") == ("B08", "B04", "B03")
    assert bands.resolve("rgbn") == ("B02", "B03", "B04", "B08")
    assert len(bands.resolve("l1c13")) == 13 and bands.resolve("l1c13")[8] == "B8A"
    assert "B10" not in bands.resolve("l2a12") and len(bands.resolve("l2a12")) == 12
    assert bands.resolve("B4,B3,B2") == ("B04", "B03", "B02")
    assert bands.resolve("rgb,B08") == ("B04", "B03", "B02", "B08")
    assert bands.resolve(["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12"]) == (
        bands.resolve("l1c13")
    )


def test_catalogue_facts():
    assert bands.band("B8A").resolution_m == 20
    assert bands.band("B10").resolution_m == 60
    assert bands.band("B02").wavelength_nm == pytest.approx(492.4)
    assert bands.is_sar("VH") and not bands.is_sar("B04")


def test_unknown_and_duplicate_names_raise_naming_the_input():
    with pytest.raises(bands.BandError, match="'B13'"):
        bands.canonical("B13")
    with pytest.raises(bands.BandError, match="twice"):
        bands.resolve("B02,blue")
    with pytest.raises(bands.BandError, match=r"expected \['B02'\] but got \['B03'\]"):
        bands.require_same(["B02"], ["B03"], "pair")
