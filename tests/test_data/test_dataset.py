import numpy as np
import pytest
import torch
from rasterio.windows import Window
from torch.utils.data import DataLoader

from cloudfree.bands import BandError
from cloudfree.data.augment import PairedAugment, dihedral
from cloudfree.data.chips import build_chips
from cloudfree.data.dataset import ChipDataset, SinglePairDataset
from cloudfree.data.pairing import align_pair, mask_from_file
from cloudfree.data.synthetic_dataset import SyntheticCloudDataset
from cloudfree.io import read_raster
from tests.fixtures import make_raster
from tests.test_data.pair_helpers import floods, slovenia, slovenia_mask


@pytest.fixture(scope="module")
def pair(shared_data):
    cloudy = read_raster(slovenia(shared_data, "2015-07-31"))
    clear = read_raster(slovenia(shared_data, "2015-08-30"))
    return align_pair(cloudy, clear, mask=mask_from_file(slovenia_mask(shared_data, "2015-07-31")))


@pytest.fixture(scope="module")
def store(pair, tmp_path_factory):
    out = tmp_path_factory.mktemp("chips") / "store"
    build_chips(pair, out, patch=32, cloud_range=None)
    return out


def test_chip_dataset_samples_follow_the_contract(store, pair):
    ds = ChipDataset(store, "train")
    assert len(ds) > 0 and ds.bands == pair.bands
    sample = ds[0]
    assert set(sample) == {"cloudy", "clear", "mask", "labels", "meta"}
    assert sample["cloudy"].shape == (13, 32, 32) and sample["cloudy"].dtype == torch.float32
    assert sample["labels"].dtype == torch.int64 and sample["labels"].shape == (32, 32)
    assert sample["mask"].shape == (1, 32, 32) and set(sample["mask"].unique().tolist()) == {1.0}
    row, col, h, w = sample["meta"]["window"]
    np.testing.assert_array_equal(sample["clear"].numpy(), pair.clear.window(Window(col, row, w, h)).data)
    assert sample["meta"]["scene"] == "S2_L1C_2015-07-31" and sample["meta"]["path"].endswith("_cloudy.tif")
    rgb = ChipDataset(store, "val", bands="rgb")[0]
    assert rgb["cloudy"].shape == (3, 32, 32)
    np.testing.assert_array_equal(rgb["cloudy"].numpy(), ChipDataset(store, "val")[0]["cloudy"].numpy()[[3, 2, 1]])
    batch = next(iter(DataLoader(ds, batch_size=2)))
    assert batch["cloudy"].shape == (2, 13, 32, 32) and len(batch["meta"]["scene"]) == 2


def test_chip_dataset_errors_name_the_store(store, tmp_path):
    with pytest.raises(BandError, match=r"chip store .* lacks band"):
        ChipDataset(store, "train", bands=("VV",))
    with pytest.raises(ValueError, match="no chips in split 'holdout'"):
        ChipDataset(store, "holdout")
    with pytest.raises(ValueError, match="not a chip store"):
        ChipDataset(tmp_path, "train")


def test_chip_dataset_augments_all_images_alike(store):
    ds = ChipDataset(store, "train", augment=PairedAugment(), seed=5)
    plain = ChipDataset(store, "train")[1]
    params = PairedAugment().draw(32, 32, np.random.default_rng([5, 0, 1]))
    sample = ds[1]
    torch.testing.assert_close(sample["cloudy"], dihedral(plain["cloudy"], params["k"]))
    torch.testing.assert_close(sample["clear"], dihedral(plain["clear"], params["k"]))
    assert torch.equal(ds[1]["cloudy"], sample["cloudy"])


def test_single_pair_dataset_is_deterministic_per_index_and_epoch(pair):
    ds = SinglePairDataset(pair, patch=32, samples_per_epoch=20, seed=7, bands="rgbn")
    assert len(ds) == 20
    a, b = ds[3], ds[3]
    assert torch.equal(a["cloudy"], b["cloudy"]) and a["meta"]["window"] == b["meta"]["window"]
    windows = {ds[i]["meta"]["window"] for i in range(20)}
    assert len(windows) > 10
    row, col, h, w = a["meta"]["window"]
    expected = pair.select("rgbn").cloudy.window(Window(col, row, w, h)).data
    np.testing.assert_array_equal(a["cloudy"].numpy(), expected)
    assert a["mask"].shape == (1, 32, 32) and a["meta"]["bands"] == ("B02", "B03", "B04", "B08")
    ds.set_epoch(1)
    assert {ds[i]["meta"]["window"] for i in range(20)} != windows
    ds.set_epoch(0)
    assert ds[3]["meta"]["window"] == a["meta"]["window"]
    with pytest.raises(IndexError):
        ds[20]


def test_single_pair_crops_avoid_nodata_and_carry_sar(shared_data):
    clear = read_raster(floods(shared_data, "S2Hand"), select="rgbn")
    cloudy = clear.with_data(clear.data.copy(), valid=clear.valid.copy())
    cloudy.valid[:, 200:300] = False  # a nodata stripe through the middle
    sar = read_raster(floods(shared_data, "S1Hand"))
    pair = align_pair(cloudy, clear, sar=sar)
    ds = SinglePairDataset(pair, patch=64, samples_per_epoch=40, seed=0)
    for i in range(40):
        s = ds[i]
        row, col, h, w = s["meta"]["window"]
        assert pair.valid[row : row + h, col : col + w].all()
        assert s["sar"].shape == (2, 64, 64) and torch.isfinite(s["sar"]).all()
    with pytest.raises(ValueError, match="smaller than the patch"):
        SinglePairDataset(pair, patch=1024)


def _hook(clear: np.ndarray, bands: tuple[str, ...], rng: np.random.Generator):
    """A simple cloud: a bright disc at a random place, blended into every band."""
    _, h, w = clear.shape
    cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(4, h // 2)
    yy, xx = np.mgrid[0:h, 0:w]
    cloud = ((yy - cy) ** 2 + (xx - cx) ** 2) <= r * r
    cloudy = clear.copy()
    cloudy[:, cloud] = 0.7 * 0.9 + 0.3 * clear[:, cloud]
    return cloudy, cloud.astype(np.uint8)


def test_synthetic_cloud_dataset_uses_the_hook(shared_data):
    clear_scenes = [
        read_raster(slovenia(shared_data, "2015-08-30")),
        read_raster(floods(shared_data, "S2Hand")),
    ]
    ds = SyntheticCloudDataset(clear_scenes, patch=48, samples_per_epoch=12, simulate=_hook, seed=1, bands="rgbn")
    sample = ds[0]
    assert sample["cloudy"].shape == sample["clear"].shape == (4, 48, 48)
    cloud = sample["mask"][0] > 0
    assert cloud.any()
    assert (sample["cloudy"][:, cloud] > sample["clear"][:, cloud]).float().mean() > 0.9
    torch.testing.assert_close(sample["cloudy"][:, ~cloud], sample["clear"][:, ~cloud])
    # segmentation targets: the hook's class codes, consistent with the binary mask
    assert sample["labels"].dtype == torch.int64
    assert torch.equal(sample["labels"] > 0, cloud)
    assert float(sample["clear"].max()) < 1.5  # reflectance, not DN
    assert torch.equal(ds[0]["cloudy"], sample["cloudy"])
    assert {ds[i]["meta"]["scene"] for i in range(12)} == {"S2_L1C_2015-08-30", "Spain_7370579_S2Hand"}
    with pytest.raises(ValueError, match="returned cloudy"):
        SyntheticCloudDataset(clear_scenes, 48, 2, simulate=lambda c, b, r: (c[:2], c[0]))[0]
    with pytest.raises(BandError):
        SyntheticCloudDataset([make_raster(bands=("B02", "B03"))], 16, 2, simulate=_hook, bands="rgbn")


def test_scene_exponent_evens_out_scene_sizes():
    small, large = make_raster(20, 20, seed=1), make_raster(80, 116, seed=2)  # 1 and 61 * 97 crop positions
    counts = np.array([1.0, 61 * 97])

    def weights(exponent: float) -> np.ndarray:
        ds = SyntheticCloudDataset([small, large], 20, 8, simulate=_hook, seed=0, scene_exponent=exponent)
        return ds.weights

    np.testing.assert_allclose(weights(1.0), counts / counts.sum())  # the default: by crop positions
    np.testing.assert_allclose(weights(0.0), [0.5, 0.5])  # every scene alike
    np.testing.assert_allclose(weights(0.3), counts**0.3 / (counts**0.3).sum())
    ds = SyntheticCloudDataset([small, large], 20, 400, simulate=_hook, seed=0, scene_exponent=0.0)
    whole_small = torch.from_numpy(small.to_reflectance().data.astype(np.float32))
    n_small = sum(torch.allclose(ds[i]["clear"], whole_small) for i in range(400))  # its only crop
    assert 150 < n_small < 250  # about half each (by area: 1 in 5918)
    with pytest.raises(ValueError, match="scene_exponent"):
        SyntheticCloudDataset([small], 20, 2, simulate=_hook, scene_exponent=1.5)
