"""The top-level Python API: cloudfree.remove_clouds / mask_clouds / open_raster / load_release."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import rasterio
import rioxarray

import cloudfree
from cloudfree.api import OutputExistsError, from_dataarray, to_dataarray
from cloudfree.io import write_raster
from cloudfree.radiometry import Radiometry, RadiometryError
from tests.fixtures import make_raster
from tests.test_inference.releases import identity_release as _identity


def identity_release(tmp_path):
    return _identity(tmp_path / "identity")


def dn_scene(tmp_path, name="scene.tif"):
    r = make_raster(48, 56, radiometry=Radiometry.DN, seed=1)
    write_raster(r, tmp_path / name)
    return r, tmp_path / name


def test_import_is_light_and_names_are_there():
    code = (
        "import sys, cloudfree; "
        "print('torch' in sys.modules, 'rasterio' in sys.modules, callable(cloudfree.remove_clouds))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False", "True"]
    assert {"open_raster", "load_release", "remove_clouds", "mask_clouds", "Raster"} <= set(dir(cloudfree))


def test_remove_clouds_on_a_path_a_raster_and_a_dataarray(tmp_path):
    release = identity_release(tmp_path)
    r, path = dn_scene(tmp_path)
    out = cloudfree.remove_clouds(path, tmp_path / "out.tif", model=release, replace_all=True)
    assert out == tmp_path / "out.tif"
    back = cloudfree.open_raster(out)
    assert back.bands == r.bands and back.crs == r.crs and back.transform == r.transform
    with pytest.raises(OutputExistsError, match=r"out\.tif: exists"):
        cloudfree.remove_clouds(path, out, model=release, replace_all=True)
    assert cloudfree.remove_clouds(path, model=release, replace_all=True) == tmp_path / "scene_cloudfree.tif"

    result = cloudfree.remove_clouds(r, model=release, replace_all=True)
    assert isinstance(result, cloudfree.Raster) and result.bands == r.bands and result.transform == r.transform

    da = rioxarray.open_rasterio(path)
    assert "long_name" in da.attrs
    cleaned = cloudfree.remove_clouds(da, model=release, replace_all=True)
    assert type(cleaned).__name__ == "DataArray" and list(cleaned.coords["band"].values) == list(r.bands)
    assert cleaned.rio.crs == da.rio.crs and cleaned.rio.transform() == da.rio.transform()
    np.testing.assert_allclose(cleaned.values.astype(float), da.values.astype(float), atol=1)


def test_dataarray_band_names_and_radiometry(tmp_path):
    r, path = dn_scene(tmp_path)
    da = rioxarray.open_rasterio(path)
    raster = from_dataarray(da)
    assert raster.bands == r.bands and raster.radiometry is Radiometry.DN and raster.crs == r.crs
    np.testing.assert_array_equal(raster.data, r.data)
    round_trip = from_dataarray(to_dataarray(raster))
    assert round_trip.bands == r.bands and round_trip.transform == r.transform
    nameless = da.copy()
    nameless.attrs.pop("long_name")
    with pytest.raises(ValueError, match="carry no names"):
        from_dataarray(nameless)
    assert from_dataarray(nameless, bands="rgbn").bands == ("B02", "B03", "B04", "B08")
    floats = nameless.astype("float32")
    assert from_dataarray(floats, bands="rgbn").radiometry is Radiometry.DN  # tagged DN, and DN-like: fine
    floats.attrs.pop("CLOUDFREE_RADIOMETRY")
    with pytest.raises(RadiometryError, match="DN-like values"):
        from_dataarray(floats, bands="rgbn")


def test_mask_clouds_on_a_path_and_a_dataarray(tmp_path):
    r, path = dn_scene(tmp_path)
    out = cloudfree.mask_clouds(path, tmp_path / "mask.tif")
    with rasterio.open(out) as ds:
        assert ds.count == 1 and ds.dtypes[0] == "uint8" and ds.crs == r.crs and ds.transform == r.transform
    da = rioxarray.open_rasterio(path)
    mask = cloudfree.mask_clouds(da)
    assert mask.shape == (1, 48, 56) and mask.rio.crs == da.rio.crs and set(np.unique(mask.values)) <= {0, 1, 2, 3, 255}


def test_load_release(tmp_path):
    model, config = cloudfree.load_release(identity_release(tmp_path))
    assert config.in_bands == ("B02", "B03", "B04", "B08") and not model.training
