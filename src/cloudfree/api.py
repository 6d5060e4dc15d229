"""The Python API at the top level: ``cloudfree.open_raster``, ``load_release``, ``remove_clouds``, ``mask_clouds``.

``remove_clouds`` and ``mask_clouds`` take what a user has and return the same kind:

- a path (any input the reader registry knows: GeoTIFF/COG, SAFE folder or zip, band-file folder,
  SEN12MS-CR patch ...) -> the path of the written COG (``output``; default: ``<name>_cloudfree.tif``
  or ``<name>_mask.tif`` beside the input, never overwritten without ``overwrite=True``);
- a :class:`~cloudfree.raster.Raster` -> a Raster on the same grid;
- an ``xarray.DataArray`` as ``rioxarray.open_rasterio`` makes it ``(band, y, x)`` -> a DataArray
  with the same CRS and transform and the output band names (band coordinate and ``long_name``).
  Band names come from the ``band`` coordinate when it holds names, else the ``long_name``
  attribute, else ``bands=``.

Both are thin wrappers over the scene pipelines (:func:`cloudfree.inference.removal.remove`, the
scene masking entry point); in-memory inputs go through a temporary GeoTIFF, so every path checks
bands, radiometry and georeferencing the same way. Heavy modules (torch, rioxarray) are imported
only when a function runs: ``import cloudfree`` stays light.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from cloudfree.errors import OutputExistsError
from cloudfree.io.atomic import temp_directory
from cloudfree.raster import Raster

__all__ = ["load_release", "mask_clouds", "open_raster", "remove_clouds"]


def open_raster(path: str | os.PathLike[str], bands: Any = None, **options: Any) -> Raster:
    """Read any supported input into a :class:`Raster` ``(bands, height, width)``; see
    :func:`cloudfree.io.open.open_raster` (``select=``, ``window=``, ``dn_offset=``, ``radiometry=`` ...)."""
    from cloudfree.io.open import open_raster as _open_raster

    return _open_raster(path, bands, **options)


def load_release(name_or_path: str | os.PathLike[str], device: str = "cpu") -> tuple[Any, Any]:
    """A released model (packaged name such as ``"default-rgbn"`` or a folder) as ``(nn.Module, ReleaseConfig)``."""
    from cloudfree.models.release import load_release as _load_release

    return _load_release(name_or_path, device)


def remove_clouds(
    image: Any,
    output: str | os.PathLike[str] | None = None,
    *,
    bands: Any = None,
    overwrite: bool = False,
    **options: Any,
) -> Any:
    """Remove clouds from ``image`` (path, Raster or DataArray); returns the same kind.

    ``options`` go to :func:`cloudfree.inference.removal.remove` (``model``, ``mask``, ``sar``,
    ``replace_all``, ``tile``, ``device`` ...); ``progress`` defaults to False here.
    """
    from cloudfree.inference.removal import remove

    def run(src: Path, dst: Path) -> None:
        remove(src, dst, **{"progress": False, **options})

    return _apply(image, output, "cloudfree", run, bands, overwrite)


def mask_clouds(
    image: Any,
    output: str | os.PathLike[str] | None = None,
    *,
    bands: Any = None,
    overwrite: bool = False,
    **options: Any,
) -> Any:
    """Cloud and shadow mask of ``image`` (path, Raster or DataArray): uint8 codes 0 clear, 1 thick,
    2 thin, 3 shadow, 255 nodata, on the input's grid; returns the same kind as ``image``.

    ``options`` go to :func:`cloudfree.inference.mask_scene.mask_scene` (``method`` (default
    ``auto``), ``dilate``, ``level``, ``model``, ``device`` ...).
    """
    from cloudfree.inference.mask_scene import mask_scene

    def run(src: Path, dst: Path) -> None:
        mask_scene(src, dst, **{"progress": False, **options})

    return _apply(image, output, "mask", run, bands, overwrite)


def _apply(image: Any, output: Any, suffix: str, run: Any, bands: Any, overwrite: bool) -> Any:
    if isinstance(image, (str, os.PathLike)):
        src = Path(image)
        dst = Path(output) if output is not None else src.parent / f"{src.name.split('.')[0]}_{suffix}.tif"
        if dst.exists() and not overwrite:
            raise OutputExistsError(f"{dst}: exists; pass overwrite=True to replace it")
        if bands is not None:
            raise ValueError("bands= applies to in-memory inputs; a file states its own band names (or use InputSpec)")
        run(src, dst)
        return dst
    from cloudfree.io.geotiff import write_raster
    from cloudfree.io.open import open_raster as read_any

    is_array = _is_dataarray(image)
    raster = from_dataarray(image, bands) if is_array else image
    if not isinstance(raster, Raster):
        raise TypeError(f"expected a path, a cloudfree Raster or an xarray.DataArray, got {type(image).__name__}")
    with temp_directory("api") as tmp:
        src, dst = Path(tmp) / "input.tif", Path(tmp) / f"{suffix}.tif"
        write_raster(raster, src, cog=False)
        run(src, dst)
        result = read_any(dst)  # in memory: nothing refers to the temporary files afterwards
    if output is not None:
        write_raster(result, output)
    return to_dataarray(result) if is_array else result


def _is_dataarray(obj: Any) -> bool:
    return type(obj).__name__ == "DataArray" and hasattr(obj, "dims")


def from_dataarray(da: Any, bands: Any = None) -> Raster:
    """A ``(band, y, x)`` DataArray (rioxarray) as a :class:`Raster`: names, CRS, transform, nodata kept."""
    import rioxarray  # noqa: F401 (registers the .rio accessor)

    from cloudfree import bands as bandcat
    from cloudfree.io.metadata import RADIOMETRY_TAG, infer_radiometry
    from cloudfree.radiometry import Radiometry, check_values
    from cloudfree.raster import valid_of

    if da.ndim == 2:
        da = da.expand_dims("band")
    if da.ndim != 3:
        raise ValueError(f"expected a (band, y, x) DataArray, got dims {da.dims}")
    names = _band_names(da, bands)
    resolved = tuple(bandcat.canonical(n) for n in names)
    data = np.asarray(da.values)
    nodata = da.rio.nodata
    attrs = {str(k): str(v) for k, v in da.attrs.items()}
    tagged = attrs.get(RADIOMETRY_TAG)  # a file's tag: declared, but checked like the readers do
    radiometry = Radiometry(tagged) if tagged else infer_radiometry(resolved, str(data.dtype), {})
    valid = valid_of(data, None if nodata is None else float(nodata))
    if radiometry in (Radiometry.DN, Radiometry.REFLECTANCE):
        sample = data[:, valid] if np.issubdtype(data.dtype, np.floating) else None
        check_values(radiometry, str(data.dtype), sample, source="DataArray", bands=resolved)
    return Raster(
        data=data,
        bands=resolved,
        crs=da.rio.crs,
        transform=da.rio.transform(),
        valid=valid,
        radiometry=radiometry,
        nodata=None if nodata is None else float(nodata),
        source=str(da.name or "DataArray"),
    )


def _band_names(da: Any, bands: Any) -> tuple[str, ...]:
    from cloudfree import bands as bandcat

    if bands is not None:
        names = bandcat.resolve(bands)
    elif "band" in da.coords and all(isinstance(v, str) for v in da.coords["band"].values.tolist()):
        names = tuple(da.coords["band"].values.tolist())
    elif "long_name" in da.attrs and not isinstance(da.attrs["long_name"], str):
        names = tuple(da.attrs["long_name"])
    elif "long_name" in da.attrs and da.sizes[da.dims[0]] == 1:
        names = (da.attrs["long_name"],)
    else:
        raise ValueError(
            "the DataArray's bands carry no names (no band-name coordinate, no long_name attribute); "
            "pass bands=, e.g. bands='rgbn' or bands='l1c13'"
        )
    if len(names) != da.sizes[da.dims[0]]:
        raise ValueError(f"{len(names)} band names {list(names)} for {da.sizes[da.dims[0]]} bands")
    return tuple(names)


def to_dataarray(raster: Raster) -> Any:
    """A :class:`Raster` as a rioxarray DataArray ``(band, y, x)``: band coordinate and ``long_name``
    are the band names; CRS, transform and nodata written the rioxarray way."""
    import rioxarray  # noqa: F401
    import xarray as xr

    t = raster.transform
    xs = t.c + t.a * (np.arange(raster.width) + 0.5)
    ys = t.f + t.e * (np.arange(raster.height) + 0.5)
    da = xr.DataArray(
        raster.data,
        dims=("band", "y", "x"),
        coords={"band": list(raster.bands), "y": ys, "x": xs},
        attrs={"long_name": tuple(raster.bands), "CLOUDFREE_RADIOMETRY": raster.radiometry.value},
        name=Path(raster.source).stem if raster.source != "<memory>" else None,
    )
    da = da.rio.write_transform(t)
    if raster.crs is not None:
        da = da.rio.write_crs(raster.crs)
    if raster.nodata is not None:
        da = da.rio.write_nodata(raster.nodata)
    return da
