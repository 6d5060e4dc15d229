"""Reading remote COG assets through GDAL's HTTP reader, with retries and clear errors.

``rasterio.open`` on an ``http(s)`` URL reads through GDAL's ``/vsicurl/`` with HTTP Range requests,
so only the header and the tiles of the requested window travel. :class:`RemoteBand` opens one
single-band asset, warps it onto a target grid with a ``WarpedVRT`` (only the source tiles under
the window are fetched) and reads windows of it.

Failures are sorted by HTTP status: 401/403 raise :class:`AssetAuthError`, 404
:class:`AssetMissingError` (both name the item, the asset and the URL); 5xx, 429, connection resets
and dropped transfers are transient and retried with exponential backoff, first by GDAL itself
(``GDAL_HTTP_MAX_RETRY`` / ``GDAL_HTTP_RETRY_DELAY``) and then here, re-opening the file (GDAL does
not retry a transfer cut mid-body). When GDAL's message carries no status, a one-byte ranged GET
tells it. GDAL's ``/vsicurl/`` cache is disabled (``CPL_VSIL_CURL_NON_CACHED``) so that a retry
never sees a cached failure.
"""

from __future__ import annotations

import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from cloudfree.acquisition.grids import Grid
from cloudfree.errors import CloudfreeError

T = TypeVar("T")
_STATUS = re.compile(r"HTTP (?:response )?code:?\s*(\d{3})", re.IGNORECASE)
_NOT_RASTER = ("not recognized as", "not a supported file format", "Not a TIFF")


class FetchError(CloudfreeError, OSError):
    """An asset could not be read after all retries (item, asset, URL and last reason in the message)."""


class AssetAuthError(CloudfreeError, PermissionError):
    """The server refused the asset (HTTP 401/403): credentials missing or a signature expired."""


class AssetMissingError(CloudfreeError, FileNotFoundError):
    """The asset does not exist on the server (HTTP 404)."""


@dataclass(frozen=True)
class RetryPolicy:
    """Python-level retries after GDAL's own: ``attempts`` tries, sleeping ``delay * 2**i`` seconds."""

    attempts: int = 4
    delay: float = 1.0
    gdal_retries: int = 3


def gdal_options(policy: RetryPolicy) -> dict[str, str]:
    """GDAL configuration for remote COG reads; variables the user set in the environment win."""
    defaults = {
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",  # no directory listing per open
        "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.TIF,.TIFF,.jp2,.JP2",  # no probing of side files
        "CPL_VSIL_CURL_NON_CACHED": "/vsicurl/:/vsis3/",  # a retry must not see a cached failure
        "GDAL_HTTP_MAX_RETRY": str(policy.gdal_retries),
        "GDAL_HTTP_RETRY_DELAY": str(max(policy.delay, 0.01)),
        "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
        "GDAL_HTTP_TIMEOUT": "120",
        "GDAL_HTTP_CONNECTTIMEOUT": "30",
    }
    return {k: v for k, v in defaults.items() if k not in os.environ}


def gdal_path(href: str) -> str:
    """The path GDAL opens: URLs as they are (rasterio uses /vsicurl/), ``s3://`` as ``/vsis3/``."""
    if href.startswith("s3://"):
        return "/vsis3/" + href[5:]
    return href


def probe_status(href: str, timeout: float = 15.0) -> int | None:
    """HTTP status of a one-byte ranged GET of ``href`` (None when not HTTP or unreachable)."""
    if not href.startswith(("http://", "https://")):
        return None
    request = urllib.request.Request(href, headers={"Range": "bytes=0-0"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return None


def with_retries(fn: Callable[[], T], *, what: str, href: str, policy: RetryPolicy, reset: Callable[[], None]) -> T:
    """Run ``fn`` (a read of ``href``), retrying transient failures; ``reset`` is called before a retry."""
    last = ""
    for attempt in range(policy.attempts):
        try:
            return fn()
        except RasterioIOError as exc:
            reset()
            match = _STATUS.search(str(exc))
            status = int(match.group(1)) if match else probe_status(href)
            if status in (401, 403):
                raise AssetAuthError(
                    f"{what}: access denied (HTTP {status}) for {href}; the URL needs credentials or a fresh "
                    f"signature (Planetary Computer tokens expire: search and mine-pairs again)"
                ) from exc
            if status in (404, 410):
                raise AssetMissingError(f"{what}: asset not found (HTTP {status}) at {href}") from exc
            if (status is None or status < 400) and any(text in str(exc) for text in _NOT_RASTER):
                raise FetchError(f"{what}: {href} is not a readable raster ({exc})") from exc
            last = f"HTTP {status}" if status and status >= 400 else f"connection failed or dropped ({exc})"
            if attempt + 1 < policy.attempts:
                time.sleep(policy.delay * 2**attempt)
    raise FetchError(f"{what}: failed after {policy.attempts} attempts reading {href}: {last}")


class RemoteBand:
    """One single-band asset warped onto ``grid``; ``read(window)`` returns ``(h, w)`` arrays.

    Args:
        href: asset URL (``http(s)://``, ``s3://``) or local path.
        grid: target grid.
        what: ``"item <id> asset <band>"`` for error messages.
        resampling: GDAL resampling name (``bilinear``, ``nearest``, ``cubic`` ...).
        nodata: source nodata when the file declares none (0 for Sentinel-2 DN).
    """

    def __init__(
        self, href: str, grid: Grid, what: str, policy: RetryPolicy, resampling: str = "bilinear", nodata: float = 0
    ) -> None:
        self.href, self.grid, self.what, self.policy = href, grid, what, policy
        self.resampling = Resampling[resampling]
        self.nodata = nodata
        self._src: Any = None
        self._vrt: Any = None

    def _open(self) -> None:
        if self._vrt is None:
            self._src = rasterio.open(gdal_path(self.href))
            if self._src.count != 1:
                count = self._src.count
                self.close()
                raise FetchError(f"{self.what}: expected a single-band asset at {self.href}, it has {count} bands")
            src_nodata = self._src.nodata if self._src.nodata is not None else self.nodata
            self._vrt = WarpedVRT(
                self._src,
                crs=self.grid.crs,
                transform=self.grid.transform,
                width=self.grid.width,
                height=self.grid.height,
                resampling=self.resampling,
                src_nodata=src_nodata,
                nodata=self.nodata,
            )

    def read(self, window: Window) -> np.ndarray:
        def attempt() -> np.ndarray:
            self._open()
            return self._vrt.read(1, window=window)

        return with_retries(attempt, what=self.what, href=self.href, policy=self.policy, reset=self.close)

    def close(self) -> None:
        for handle in (self._vrt, self._src):
            if handle is not None:
                handle.close()
        self._vrt = self._src = None


def read_native(href: str, what: str, policy: RetryPolicy, fn: Callable[[Any], T]) -> T:
    """Open ``href`` and apply ``fn(dataset)`` with retries (for header reads and native windows)."""

    def attempt() -> T:
        with rasterio.open(gdal_path(href)) as src:
            return fn(src)

    return with_retries(attempt, what=what, href=href, policy=policy, reset=lambda: None)
