"""Periodic-artifact score of a filled area: energy at a decoder's up-sampling periods (2/4/8/16 px).

Transposed-convolution decoders stamp a regular grid (a "checkerboard") into generated pixels at
the periods of their up-sampling steps. The score, per band, is the largest power of the
high-passed filled area at those periods (along rows and columns, where a grid concentrates its
energy) divided by the median power of all frequencies at the same radius: a ratio of about 1-10
for natural imagery (no preferred direction at that frequency), hundreds for a checkerboard. It is
the reference measure of ``/work/shared/tools/look_real_clouds.py`` ("natural imagery < 10").
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

PERIODS_PX = (2, 4, 8, 16)
NATURAL_MAX = 10.0  # natural imagery scores below this


def periodic_score(image: np.ndarray, area: np.ndarray, periods: tuple[int, ...] = PERIODS_PX) -> float:
    """Largest peak-over-median power ratio at ``periods`` over the bands of ``image`` inside ``area``.

    Args:
        image: ``(bands, h, w)`` reflectance (NaN treated as 0).
        area: ``(h, w)`` bool, the pixels to analyse (e.g. the pixels a model replaced); the rest is
            zeroed after high-pass filtering (a Gaussian of sigma 3 px is subtracted).
    Returns:
        The score (dimensionless); 0 for an empty area.
    """
    if image.ndim != 3 or image.shape[1:] != area.shape:
        raise ValueError(f"image must be (bands, h, w) matching area {area.shape}, got {image.shape}")
    if not area.any():
        return 0.0
    a = np.nan_to_num(image.astype(np.float64))
    hp = (a - ndimage.gaussian_filter(a, (0, 3, 3))) * area[None]
    h, w = area.shape
    cy, cx = h // 2, w // 2
    yy, xx = np.ogrid[:h, :w]
    radius = np.hypot((yy - cy) / h, (xx - cx) / w)
    best = 0.0
    for band in hp:
        power = np.abs(np.fft.fftshift(np.fft.fft2(band))) ** 2
        for per in periods:
            fy, fx = round(h / per), round(w / per)
            peaks = [0.0]
            if cy + fy + 1 < h:
                peaks.append(float(power[cy + fy - 1 : cy + fy + 2, cx - 1 : cx + 2].max()))
            if cx + fx + 1 < w:
                peaks.append(float(power[cy - 1 : cy + 2, cx + fx - 1 : cx + fx + 2].max()))
            ring = power[np.abs(radius - 1.0 / per) < 0.01]
            if ring.size:
                best = max(best, max(peaks) / max(float(np.median(ring)), 1e-30))
    return best
