"""Window-by-window output: a temporary tiled GTiff that becomes a COG when complete.

Scene inference produces its result tile by tile; holding the whole scene in memory is not an
option for a 10980 x 10980 x 13 scene. :class:`WindowedCOGWriter` opens a temporary tiled GTiff next
to the destination, accepts ``write(data, window)`` calls, and on a clean exit copies it to a
Cloud-Optimized GeoTIFF under a second temporary name that is then renamed onto the destination.
On an exception every temporary file is removed and the destination is left untouched.
"""

from __future__ import annotations

import functools
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile
from rasterio.windows import Window

from cloudfree import __version__
from cloudfree.io.atomic import temp_sibling
from cloudfree.io.geotiff import finalize_cog
from cloudfree.io.memory import release_free_memory


@functools.cache
def temporary_compression() -> dict[str, Any]:
    """Creation options of a temporary GTiff: ZSTD level 1 (about as fast to write and read back as no
    compression, a third smaller on disk: a full 13-band scene is ~3 GB uncompressed), or LZW where
    GDAL was built without ZSTD."""
    try:
        with warnings.catch_warnings(), MemoryFile() as mem:
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with mem.open(driver="GTiff", width=16, height=16, count=1, dtype="uint8", compress="zstd") as ds:
                ds.write(np.zeros((1, 16, 16), np.uint8))
            with mem.open() as ds:
                if (ds.compression and ds.compression.value.lower()) == "zstd":
                    return {"compress": "zstd", "zstd_level": 1}
    except Exception:  # any failure: a compression every GDAL has
        pass
    return {"compress": "lzw"}


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
        cog: convert to COG on close (default); False leaves a tiled DEFLATE GTiff.
        blocksize: internal tile size of the temporary GTiff.

    The temporary GTiff of a COG is compressed cheaply (:func:`temporary_compression`): the COG
    copy decompresses it once and recompresses with DEFLATE anyway. Blocks are compressed on
    ``GDAL_NUM_THREADS`` threads (default all CPUs). Write from one thread at a time.
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
            "BIGTIFF": "IF_SAFER",
            "num_threads": os.environ.get("GDAL_NUM_THREADS", "ALL_CPUS"),
            **(temporary_compression() if cog else {"compress": "deflate"}),
        }
        if min(height, width) >= 16:
            bs = min(blocksize, 16 * (min(height, width) // 16))
            self.profile.update(tiled=True, blockxsize=bs, blockysize=bs)
        self._tmp: Path | None = None
        self._dst: rasterio.io.DatasetWriter | None = None

    def __enter__(self) -> WindowedCOGWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = temp_sibling(self.path, "part")
        with warnings.catch_warnings():
            if self.profile["crs"] is None:  # an input without georeferencing: nothing for GDAL to lose
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
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
                    release_free_memory()  # the pass's freed arrays, before GDAL's COG copy needs memory
                    finalize_cog(self._tmp, self.path)
                else:
                    os.replace(self._tmp, self.path)
        finally:
            for leftover in (self._tmp, Path(str(self._tmp) + ".aux.xml")):
                if leftover.exists():
                    leftover.unlink()
