"""Window-by-window output: a temporary tiled GTiff that becomes a COG when complete.

Scene inference produces its result tile by tile; holding the whole scene in memory is not an
option for a 10980 x 10980 x 13 scene. :class:`WindowedCOGWriter` opens a temporary tiled GTiff next
to the destination, accepts ``write(data, window)`` calls, and on a clean exit copies it to a
Cloud-Optimized GeoTIFF under a second temporary name that is then renamed onto the destination.
On an exception every temporary file is removed and the destination is left untouched.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from cloudfree import __version__
from cloudfree.io.atomic import temp_sibling
from cloudfree.io.geotiff import finalize_cog


class WindowedCOGWriter:
    """Context manager writing ``(bands, h, w)`` windows of one output raster.

    Args:
        path: final destination (``.tif``).
        height, width: raster size in pixels.
        crs, transform: georeferencing, copied from the input.
        descriptions: one name per band (``("B02", ...)`` or ``("mask",)``).
        dtype: numpy dtype name of the output.
        nodata: nodata value written in the header.
        tags: dataset tags (model name, version, radiometry ...); non-strings are JSON-encoded.
        cog: convert to COG on close (default); False leaves a tiled GTiff.
        blocksize: internal tile size of the temporary GTiff.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        height: int,
        width: int,
        crs: CRS | None,
        transform: Affine,
        descriptions: Sequence[str],
        dtype: str,
        nodata: float | None,
        tags: dict[str, Any] | None = None,
        cog: bool = True,
        blocksize: int = 256,
    ) -> None:
        self.path = Path(path)
        self.cog = cog
        self.descriptions = tuple(descriptions)
        self.tags = {"CLOUDFREE_VERSION": __version__}
        for key, value in (tags or {}).items():
            self.tags[key] = value if isinstance(value, str) else json.dumps(value)
        self.profile: dict[str, Any] = {
            "driver": "GTiff",
            "height": height,
            "width": width,
            "count": len(self.descriptions),
            "dtype": dtype,
            "crs": crs,
            "transform": transform,
            "nodata": nodata,
            "compress": "deflate",
            "BIGTIFF": "IF_SAFER",
        }
        if min(height, width) >= 16:
            bs = min(blocksize, 16 * (min(height, width) // 16))
            self.profile.update(tiled=True, blockxsize=bs, blockysize=bs)
        self._tmp: Path | None = None
        self._dst: rasterio.io.DatasetWriter | None = None

    def __enter__(self) -> WindowedCOGWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = temp_sibling(self.path, "part")
        self._dst = rasterio.open(self._tmp, "w", **self.profile)
        self._dst.descriptions = self.descriptions
        return self

    def write(self, data: np.ndarray, window: Window) -> None:
        """Write ``data`` of shape ``(bands, window.height, window.width)`` at ``window``."""
        assert self._dst is not None, "use WindowedCOGWriter as a context manager"
        if data.shape != (len(self.descriptions), int(window.height), int(window.width)):
            raise ValueError(f"window data {data.shape} does not fit {window} with {len(self.descriptions)} bands")
        self._dst.write(data.astype(self.profile["dtype"], copy=False), window=window)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._dst is not None and self._tmp is not None
        try:
            if exc_type is None:
                self._dst.update_tags(**self.tags)
            self._dst.close()
            if exc_type is None:
                if self.cog:
                    finalize_cog(self._tmp, self.path)
                else:
                    os.replace(self._tmp, self.path)
        finally:
            for leftover in (self._tmp, Path(str(self._tmp) + ".aux.xml")):
                if leftover.exists():
                    leftover.unlink()
