import numpy as np
import pytest

from cloudfree import radiometry as rad


def test_baseline_offset_from_metadata_strings():
    assert rad.offset_for_baseline("04.00") == -1000
    assert rad.offset_for_baseline("N0400") == -1000
    assert rad.offset_for_baseline("05.09") == -1000
    assert rad.offset_for_baseline("03.01") == 0
    assert rad.offset_for_baseline("02.14") == 0
    with pytest.raises(ValueError, match="baseline"):
        rad.parse_baseline("recent")


def test_dn_reflectance_round_trip_with_offset():
    dn = np.array([[[1000, 2000], [11000, 1]]], dtype=np.uint16)
    refl = rad.dn_to_reflectance(dn, offset=-1000)
    np.testing.assert_allclose(refl, [[[0.0, 0.1], [1.0, -0.0999]]], atol=1e-6)
    back = rad.reflectance_to_dn(refl, offset=-1000)
    # reflectance 0 -> DN 1000; the negative one clips to 1 (0 is nodata)
    np.testing.assert_array_equal(back, [[[1000, 2000], [11000, 1]]])


def test_per_band_offsets():
    dn = np.full((2, 1, 1), 3000, np.uint16)
    refl = rad.dn_to_reflectance(dn, offset=np.array([0.0, -1000.0]))
    np.testing.assert_allclose(refl[:, 0, 0], [0.3, 0.2])


def test_sar_linear_db_and_invalid_fill():
    lin = np.array([[[1.0, 0.1], [np.nan, -1.0]]], dtype=np.float32)
    db = rad.linear_to_db(lin)
    assert np.isfinite(db).all()
    assert db[0, 0, 0] == pytest.approx(0.0) and db[0, 0, 1] == pytest.approx(-10.0)
    # invalid pixels take their nearest valid neighbour's value
    assert db[0, 1, 0] == pytest.approx(0.0)
    np.testing.assert_allclose(rad.db_to_linear(np.array([0.0, -10.0])), [1.0, 0.1], rtol=1e-6)
    with pytest.raises(ValueError, match="no valid"):
        rad.fill_invalid_linear(np.zeros((1, 2, 2)))


def test_sar_clipping_and_unit_scaling():
    db = np.array([[[-30.0, 5.0]], [[-40.0, -16.25]]], dtype=np.float32)
    clipped = rad.clip_sar_db(db)
    np.testing.assert_allclose(clipped, [[[-25, 0]], [[-32.5, -16.25]]])
    np.testing.assert_allclose(rad.sar_db_to_unit(db), [[[0, 1]], [[0, 0.5]]])


def test_sen12mscr_protocol():
    np.testing.assert_allclose(rad.clip_sen12mscr(np.array([0, 5000, 12000])), [0, 0.5, 1.0])
