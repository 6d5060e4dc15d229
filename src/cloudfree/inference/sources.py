"""Inputs of the streaming engine: any readable input, opened once, read by windows of one grid.

An input is a path plus which of its bands to use (:class:`InputSpec`). Every input is opened
through the reader registry (:func:`cloudfree.io.open.open_source`: GeoTIFF/COG, SAFE folder or
zip, band-per-file folder, SEN12MS-CR patch, fetched pair folder); masks through
:func:`cloudfree.io.open.open_layer` (a labelled raster, codes never converted). The first input
defines the output grid; an input on another grid (Sentinel-1 in another CRS, a coarser mask) is
put onto it once with ``source.on_grid`` (one ``WarpedVRT`` per file, built once; bilinear for
rasters, nearest for masks). Inputs are given as a list (stacked channel-wise, the historical
form) or as a mapping of names (``{"optical": ..., "sar": ..., "mask": ...}``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np
from rasterio.enums import Resampling
from rasterio.windows import Window

from cloudfree import bands as bandcat
from cloudfree.errors import RasterReadError
from cloudfree.io.metadata import RADIOMETRY_TAG, RasterInfo
from cloudfree.io.open import open_layer, open_source
from cloudfree.io.warp import Grid
from cloudfree.masks import NODATA
from cloudfree.radiometry import Radiometry
from cloudfree.raster import Raster

MASK = "mask"


@dataclass(frozen=True)
class InputSpec:
    """One input of a scene prediction.

    Attributes:
        path: the input (any layout the reader registry knows).
        select: bands to use, in channel order (names, aliases or a band set); default all.
        bands: names of a file's bands in file order when its band descriptions do not name them
            (for products, the bands to keep).
        kind: ``"raster"`` (optical or SAR bands) or ``"mask"`` (one band of class codes, never
            converted, not counted in validity).
        radiometry: state the convention of the values (trusted; default: from the product,
            checked against the values).
        dn_offset: override the DN offset(s) (default: from the product metadata or tags, else 0).
        resampling: used only when the input is not on the first input's grid.
    """

    path: Path
    select: str | tuple[str, ...] | None = None
    bands: str | tuple[str, ...] | None = None
    kind: str = "raster"
    radiometry: Radiometry | None = None
    dn_offset: float | tuple[float, ...] | None = None
    resampling: Resampling | str | None = None


InputLike = Union[str, os.PathLike, InputSpec, tuple]  # noqa: UP007 (runtime alias)


def _spec(item: InputLike, name: str | None = None) -> InputSpec:
    if isinstance(item, InputSpec):
        return item
    if isinstance(item, tuple):
        path, spec = item
        if isinstance(spec, str) and spec == MASK:
            return InputSpec(Path(path), kind=MASK)
        return InputSpec(Path(path), select=spec if spec is None or isinstance(spec, str) else tuple(spec))
    is_mask = name is not None and (name == MASK or name.endswith("_" + MASK))
    return InputSpec(Path(item), kind=MASK if is_mask else "raster")


def as_specs(src: InputLike | Sequence[InputLike]) -> list[InputSpec]:
    """Normalise ``src`` (a path, an InputSpec, ``(path, band spec)`` or a list of them) to InputSpecs.

    In ``(path, spec)`` the spec selects bands (``"rgbn"``, ``"B04,B03,B02"``, ``["VV", "VH"]``);
    the literal ``"mask"`` marks a mask file.
    """
    items = [src] if isinstance(src, (str, os.PathLike, InputSpec, tuple)) else list(src)
    if not items:
        raise ValueError("predict_scene needs at least one input file")
    out = [_spec(item) for item in items]
    if out[0].kind == MASK:
        raise ValueError(f"{out[0].path}: the first input defines the output grid and must be a raster, not a mask")
    return out


def as_named(src: Mapping[str, InputLike]) -> dict[str, InputSpec]:
    """Named inputs (``{"optical": path, "sar": (path, ["VV", "VH"]), "mask": path}``) as InputSpecs.

    The first entry defines the grid. A plain path under ``"mask"`` or ``"<x>_mask"`` is a mask.
    """
    if not src:
        raise ValueError("predict_scene needs at least one input")
    named = {str(k): _spec(v, str(k)) for k, v in src.items()}
    first = next(iter(named))
    if named[first].kind == MASK:
        raise ValueError(f"input {first!r}: the first input defines the output grid and must be a raster, not a mask")
    return named


def _resampling_name(value: Resampling | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.name


class Source:
    """A windowed reader of one input on the output grid (``grid``: the first input's grid or info)."""

    def __init__(self, spec: InputSpec, grid: Grid | RasterInfo | None = None) -> None:
        self.spec = spec
        if spec.kind not in ("raster", MASK):
            raise ValueError(f"{spec.path}: input kind must be 'raster' or 'mask', got {spec.kind!r}")
        if spec.kind == MASK:
            base = open_layer(spec.path)
            self.file_bands: tuple[str, ...] = base.bands
            self.bands: tuple[str, ...] = (MASK,)
        else:
            base = self._open(spec)
            self.file_bands = tuple(base.bands)
            self.bands = self.file_bands if spec.select is None else bandcat.resolve(spec.select)
            bandcat.indices_of(self.file_bands, self.bands, str(spec.path))
        self.info = RasterInfo(
            path=str(spec.path),
            count=len(self.file_bands),
            height=base.height,
            width=base.width,
            dtype=base.dtype,
            crs=base.crs,
            transform=base.transform,
            nodata=base.nodata,
            descriptions=self.file_bands,
            tags=_resolved_tags(base),
        )
        self._base = base
        target = None if grid is None else Grid.of(grid)
        self.aligned = target is None or target.same_as(base.grid)
        self.grid = base.grid if target is None else target
        self.source = base if self.aligned else base.on_grid(self.grid, _resampling_name(spec.resampling))

    @staticmethod
    def _open(spec: InputSpec) -> Any:
        options = {"dn_offset": spec.dn_offset, "radiometry": spec.radiometry}
        try:
            return open_source(spec.path, spec.bands, **options)
        except RasterReadError as exc:
            # No descriptions: a selection naming exactly as many bands as the file holds names them.
            if spec.bands is None and spec.select is not None and "carry no descriptions" in str(exc):
                return open_source(spec.path, bandcat.resolve(spec.select), **options)
            raise

    @property
    def channels(self) -> int:
        return len(self.bands)

    def read(self, window: Window) -> Raster:
        """The input's pixels in ``window`` of the output grid, as a Raster in the input's own units."""
        if self.spec.kind == MASK:
            raster = self.source.read(window=window)
            data = raster.data
            if not self.aligned:  # outside the reprojected mask's footprint: nodata, never "clear"
                data = np.where(raster.valid[None], data, np.asarray(NODATA, data.dtype))
            return Raster(
                data=data,
                bands=(MASK,),
                crs=raster.crs,
                transform=raster.transform,
                valid=np.ones(raster.data.shape[1:], bool),
                radiometry=Radiometry.LABEL,
                source=str(self.spec.path),
            )
        return self.source.read(select=self.bands, window=window)

    def close(self) -> None:
        """Close the input's files."""
        if self.source is not self._base:
            self.source.close()
        self._base.close()


def _resolved_tags(source: Any) -> dict[str, str]:
    """The source's tags plus its resolved radiometry and DN offsets (what a product states in its metadata)."""
    tags = {str(k): str(v) for k, v in source.tags.items()}
    tags[RADIOMETRY_TAG] = source.radiometry.value
    if source.radiometry is Radiometry.DN:
        tags["CLOUDFREE_DN_OFFSET"] = json.dumps([float(x) for x in source.dn_offset])
    return tags


def input_info(
    path: str | os.PathLike[str],
    bands: str | Sequence[str] | None = None,
    *,
    dn_offset: float | Sequence[float] | None = None,
    radiometry: Radiometry | str | None = None,
) -> RasterInfo:
    """What an input of any layout holds, as the :class:`RasterInfo` a GeoTIFF would give.

    A drop-in for ``open_info(path)`` before a pipeline runs: ``descriptions`` are the resolved band
    names, ``tags`` carry the resolved radiometry (``CLOUDFREE_RADIOMETRY``) and DN offsets
    (``CLOUDFREE_DN_OFFSET``), so ``band_names_of(info, None)``, ``infer_radiometry`` and
    ``dn_offset_from_tags`` give the product's values for SAFE, band folders and SEN12MS-CR too.
    Raises the reader's one-line errors (missing bands, radiometry that cannot be right ...).
    """
    offset: float | tuple[float, ...] | None = None
    if dn_offset is not None:
        offset = float(dn_offset) if np.ndim(dn_offset) == 0 else tuple(float(x) for x in dn_offset)  # type: ignore[union-attr]
    names = None if bands is None else bandcat.resolve(bands)
    radio = None if radiometry is None else Radiometry(radiometry)
    spec = InputSpec(Path(path), bands=names, dn_offset=offset, radiometry=radio)
    source = Source(spec)
    source.close()
    return source.info


def as_float(raster: Raster, to_reflectance: bool = True) -> np.ndarray:
    """Float32 model-input values ``(bands, h, w)``: DN as reflectance 0..1 when ``to_reflectance``, else as is.

    Non-finite values (invalid pixels) become NaN, never +-inf; DN nodata becomes 0 reflectance.
    """
    if to_reflectance and raster.radiometry is Radiometry.DN:
        return raster.to_reflectance().data
    data = raster.data.astype(np.float32, copy=False)
    if np.issubdtype(data.dtype, np.floating) and np.isinf(data).any():
        data = np.where(np.isinf(data), np.float32(np.nan), data)
    return data
