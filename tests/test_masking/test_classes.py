"""Mask codes and helpers: cloud fraction, binary merge, class schemes, remapping."""

from __future__ import annotations

import numpy as np
import pytest

from cloudfree.masks import (
    MaskCodeError,
    check_codes,
    class_codes,
    class_names,
    cloud_fraction,
    codes_to_index,
    fold,
    fractions,
    index_to_codes,
    remap,
    to_binary,
)

MASK = np.array([[0, 1, 2, 3], [255, 255, 0, 1]], dtype=np.uint8)


def test_cloud_fraction_counts_valid_pixels_only():
    assert cloud_fraction(MASK) == pytest.approx(4 / 6)
    assert cloud_fraction(np.array([[0, 1], [1, 1]], np.uint8)) == 0.75  # binary 0/1 mask
    assert cloud_fraction(np.full((3, 3), 255, np.uint8)) == 0.0
    shares = fractions(MASK)
    assert shares == pytest.approx({"clear": 2 / 6, "thick_cloud": 2 / 6, "thin_cloud": 1 / 6, "shadow": 1 / 6})


def test_binary_merge_keeps_nodata():
    np.testing.assert_array_equal(to_binary(MASK), [[0, 1, 1, 1], [255, 255, 0, 1]])
    np.testing.assert_array_equal(to_binary(MASK, include_shadow=False), [[0, 1, 1, 0], [255, 255, 0, 1]])


def test_schemes_fold_and_index_round_trip():
    assert class_codes("full") == (0, 1, 2, 3)
    assert class_names(class_codes("cloud_shadow")) == ("clear", "cloud", "shadow")
    assert class_names(class_codes("full")) == ("clear", "thick_cloud", "thin_cloud", "shadow")
    np.testing.assert_array_equal(fold(MASK, "cloud_shadow"), [[0, 1, 1, 3], [255, 255, 0, 1]])
    np.testing.assert_array_equal(fold(MASK, "cloud"), [[0, 1, 1, 0], [255, 255, 0, 1]])
    codes = class_codes("cloud_shadow")
    index = codes_to_index(fold(MASK, "cloud_shadow"), codes)
    np.testing.assert_array_equal(index, [[0, 1, 1, 2], [255, 255, 0, 1]])
    np.testing.assert_array_equal(index_to_codes(np.array([[0, 1, 2]]), codes), [[0, 1, 3]])
    with pytest.raises(MaskCodeError, match="unknown class scheme 'five'"):
        class_codes("five")


def test_remap_reference_labels_and_check_codes():
    labels = np.array([[0, 1, 2], [7, -1, 2]], dtype=np.int16)  # 0 clear, 1 cloud, 2 shadow
    np.testing.assert_array_equal(remap(labels, {0: 0, 1: 1, 2: 3}), [[0, 1, 3], [255, 255, 3]])
    assert check_codes(MASK).dtype == np.uint8
    with pytest.raises(MaskCodeError, match=r"unexpected mask codes \[7\]"):
        check_codes(np.array([[0, 7]]), "m.tif")
