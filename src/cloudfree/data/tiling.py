"""Regular window grids over an image, for cutting training chips.

:func:`sliding_windows` lays ``patch x patch`` windows every ``stride`` pixels. With ``cover=True``
the last row and column of windows are shifted back so that they end exactly at the image edge:
every pixel lies in at least one window and no window reaches outside the image (chips are never
padded, unlike scene inference, which pads; see ``cloudfree.inference``). Windows are
``rasterio.windows.Window`` objects, so ``rasterio.windows.transform`` / ``bounds`` /
``from_bounds`` convert them to and from georeferenced chips.
"""

from __future__ import annotations

from rasterio.windows import Window

from cloudfree.errors import CloudfreeError


class TilingError(CloudfreeError, ValueError):
    """The image cannot be cut into windows of the requested size."""


def offsets(length: int, patch: int, stride: int, cover: bool = True) -> list[int]:
    """Start offsets of windows of ``patch`` pixels every ``stride`` along an axis of ``length`` pixels.

    With ``cover`` the last window ends at ``length`` (shifted back when the stride does not fit).
    """
    if patch < 1 or stride < 1:
        raise TilingError(f"patch and stride must be positive, got patch {patch} and stride {stride}")
    if length < patch:
        raise TilingError(f"an axis of {length} px is smaller than the patch of {patch} px")
    if cover and stride > patch:
        raise TilingError(f"stride {stride} > patch {patch} leaves gaps; windows cannot cover the image")
    starts = list(range(0, length - patch + 1, stride))
    if cover and starts[-1] + patch < length:
        starts.append(length - patch)
    return starts


def sliding_windows(height: int, width: int, patch: int, stride: int | None = None, cover: bool = True) -> list[Window]:
    """``patch x patch`` windows over a ``height x width`` image, row by row.

    Args:
        height, width: image size in pixels.
        patch: window size in pixels (square windows).
        stride: step between windows in pixels (default ``patch``: no overlap); must be <= patch with
            ``cover=True``.
        cover: shift the last row/column back to the image edge so the windows cover every pixel.

    Raises:
        TilingError: image smaller than the patch, non-positive sizes, or stride > patch with cover.
    """
    stride = patch if stride is None else stride
    try:
        rows = offsets(height, patch, stride, cover)
        cols = offsets(width, patch, stride, cover)
    except TilingError as exc:
        raise TilingError(f"cannot cut {height}x{width} px into {patch} px windows: {exc}") from None
    return [Window(c, r, patch, patch) for r in rows for c in cols]
