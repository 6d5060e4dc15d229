import numpy as np
import pytest
import torch

from cloudfree.data.augment import IGNORE_INDEX, PairedAugment, dihedral, dihedral_inverse


def _pattern(h: int = 32, w: int = 32) -> torch.Tensor:
    """An asymmetric piecewise-constant pattern (no dihedral symmetry), values 0..1."""
    x = torch.zeros(h, w)
    x[2:10, 3:20] = 1.0
    x[12:30, 22:28] = 0.5
    x[20:24, 1:5] = 0.25
    return x


def _sample(h: int = 32, w: int = 32) -> dict:
    p = _pattern(h, w)
    return {
        "cloudy": p.repeat(4, 1, 1),
        "clear": p.repeat(4, 1, 1),
        "sar": p.repeat(2, 1, 1),
        "prev_optical": p.repeat(4, 1, 1),
        "prev_sar": p.repeat(2, 1, 1),
        "image": p.repeat(3, 1, 1),
        "mask": (p > 0).float()[None],
        "labels": (p > 0).long(),
        "meta": {"scene": "s", "window": (0, 0, h, w)},
    }


def test_eight_dihedral_transforms_are_distinct_and_invertible():
    x = _pattern()[None]
    outs = [dihedral(x, k) for k in range(8)]
    for i in range(8):
        torch.testing.assert_close(dihedral_inverse(outs[i], i), x)
        for j in range(i):
            assert not torch.equal(outs[i], outs[j])
    with pytest.raises(ValueError, match=r"0\.\.7"):
        dihedral(x, 8)


@pytest.mark.parametrize("kwargs", [{}, {"shear": 15.0, "p": 1.0}, {"skew": 0.4, "p": 1.0}])
def test_every_key_gets_the_same_transform(kwargs):
    aug = PairedAugment(**kwargs)
    for seed in range(6):
        out = aug(_sample(), np.random.default_rng(seed))
        ref = out["cloudy"][0]
        for key in ("cloudy", "clear", "sar", "prev_optical", "prev_sar", "image"):
            for band in out[key]:
                torch.testing.assert_close(band, ref)
        torch.testing.assert_close(out["mask"][0], out["labels"].float().where(out["labels"] != IGNORE_INDEX, 0.0))
        assert out["meta"] == {"scene": "s", "window": (0, 0, 32, 32)}
        # nearest keeps the mask binary; bilinear images stay within the pattern's range
        assert set(out["mask"].unique().tolist()) <= {0.0, 1.0}
        assert float(ref.min()) >= 0.0 and float(ref.max()) <= 1.0


def test_dihedral_only_matches_the_reference_transform():
    aug = PairedAugment()
    rng = np.random.default_rng(3)
    params = aug.draw(32, 32, np.random.default_rng(3))
    out = aug(_sample(), rng)
    torch.testing.assert_close(out["clear"], dihedral(_sample()["clear"], params["k"]))
    torch.testing.assert_close(out["labels"], dihedral(_sample()["labels"], params["k"]))
    assert "valid" not in out  # no warp, nothing filled


def test_warps_fill_with_zero_and_mark_ignore():
    aug = PairedAugment(rotations_flips=False, shear=25.0, skew=0.5, p=1.0)
    sample = _sample()
    sample["image"] = torch.ones(3, 32, 32)
    sample["labels"] = torch.ones(32, 32, dtype=torch.long)
    out = aug(sample, np.random.default_rng(0))
    valid = out["valid"][0]
    assert out["valid"].shape == (1, 32, 32) and 0 < valid.mean() < 1
    filled = valid == 0
    assert (out["labels"][filled] == IGNORE_INDEX).all() and (out["labels"][~filled] == 1).all()
    # valid pixels hold only real data; everything the fill touched (fully or by interpolation) is invalid
    torch.testing.assert_close(out["image"][:, ~filled], torch.ones_like(out["image"][:, ~filled]))
    assert (out["image"][:, filled] < 1).all() and (out["image"] == 0).any()
    assert out["labels"].dtype == torch.long


def test_non_square_patches_keep_their_shape_and_draws_are_deterministic():
    aug = PairedAugment(shear=5.0, skew=0.1, p=0.5)
    for seed in range(10):
        out = aug(_sample(24, 40), np.random.default_rng(seed))
        assert out["cloudy"].shape == (4, 24, 40) and out["labels"].shape == (24, 40)
    a = aug(_sample(), np.random.default_rng(42))
    b = aug(_sample(), np.random.default_rng(42))
    for key in ("cloudy", "mask", "labels", "valid"):
        assert torch.equal(a[key], b[key])
    with pytest.raises(ValueError, match="skew"):
        PairedAugment(skew=2.0)
