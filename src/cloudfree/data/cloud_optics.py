"""The radiative model of the synthetic clouds: optical depth, shadow direction, and :class:`CloudPlan`.

:class:`~cloudfree.data.synthetic_clouds.CloudSimulator` draws a scene's parameters and fields; this
module holds what turns them into reflectance (see the radiative model in
:mod:`cloudfree.data.synthetic_clouds`): :func:`optical_depth` maps the cloud field to an optical
depth (thin ``THIN_TAU_MIN..THIN_TAU_MAX``, thick above), :func:`shadow_offset` places shadows
opposite the sun on any grid orientation, and :meth:`CloudPlan.apply` applies Beer-Lambert
transmittance with Angstrom-type spectral dependence to clouds and, in shadows, a multiplicative
darkening of the light the ground reflects (the atmosphere's path reflectance, which dominates the
blue at the top of the atmosphere, stays), on any window of the planned grid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from cloudfree import bands as bandcat
from cloudfree.masks import CLEAR, NODATA, SHADOW, THICK, THIN

REF_WAVELENGTH_NM = 550.0
THIN_TAU_MIN, THIN_TAU_MAX = 0.05, 1.2  # optical depth of thin cloud; thick cloud starts at THIN_TAU_MAX
SHADOW_MIN_OPACITY = 0.5  # a cloud casts a visible shadow where its visible opacity 1 - exp(-tau) exceeds this
DIFFUSE_BLUE = 0.4  # fraction of the light in B02 that reaches a shadowed pixel as diffuse sky light
PATH_EXPONENT = 2.5  # spectral slope of the atmosphere's path reflectance, (wavelength / 492.4 nm) ** -2.5
DARK_OBJECT_PERCENTILE = 1.0  # a band's path reflectance stays below 0.9 x this percentile of the scene


def band_wavelengths(bands: Sequence[str]) -> np.ndarray:
    """Centre wavelengths (nm) of optical bands; a band without one (Sentinel-1 VV/VH) is a BandError."""
    out = []
    for name in bands:
        entry = bandcat.band(name)
        if entry.wavelength_nm is None or entry.sensor != "S2":
            raise bandcat.BandError(
                f"band {name!r} has no optical wavelength; synthetic clouds need Sentinel-2 reflectance bands"
            )
        out.append(entry.wavelength_nm)
    return np.asarray(out, dtype=np.float32)


@dataclass
class CloudPlan:
    """Clouds and shadows planned for one scene grid ``(height, width)``; apply to any window of it.

    Attributes:
        bands: canonical band names the plan is for, in channel order.
        codes: ``(height, width)`` uint8 planned classes (0, 1 thick, 2 thin, 3 shadow) before the
            change check of :meth:`apply`; 255 where the grid is nodata.
        tau: ``(height, width)`` float32 cloud optical depth (0 outside clouds).
        brightness: ``(height, width)`` float32 visible reflectance of the cloud (0..1).
        shadow: ``(height, width)`` float32 opacity of the cloud casting a shadow on each shadow pixel.
        cloud_factor: ``(bands,)`` cloud reflectance relative to the visible (1, lower in SWIR, B10 cirrus).
        shadow_keep: ``(bands,)`` fraction of the ground-reflected light left under a fully opaque
            cloud's shadow.
        path: ``(bands,)`` the atmosphere's path reflectance (light scattered towards the sensor
            before it reaches the ground): a shadow does not darken it. The scene's dark levels
            cap it (:meth:`cap_path`: below 0.9 x the darkest percent of its pixels), so that over
            bottom-of-atmosphere (L2A) reflectance, where the darkest ground is near 0 in every
            band, shadows stay multiplicative. The whole scene's, so that any window gets the same.
        angstrom: Angstrom exponent of thin-cloud scattering.
        params: the drawn scalar parameters (recorded in output tags).
    """

    bands: tuple[str, ...]
    codes: np.ndarray
    tau: np.ndarray
    brightness: np.ndarray
    shadow: np.ndarray
    cloud_factor: np.ndarray
    shadow_keep: np.ndarray
    angstrom: float
    epsilon: float
    params: dict[str, Any] = field(default_factory=dict)
    path: np.ndarray | None = None

    def apply(
        self, clear: np.ndarray, row: int = 0, col: int = 0, valid: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Cloudy reflectance and mask codes of the window of ``clear`` whose top-left pixel is ``(row, col)``.

        Args:
            clear: ``(bands, h, w)`` clear reflectance (0..1) in :attr:`bands` order.
            row, col: position of the window on the planned grid.
            valid: ``(h, w)`` bool; default: pixels finite in every band.
        Returns:
            ``cloudy`` ``(bands, h, w)`` float32 reflectance (nodata pixels copied from ``clear``) and
            ``mask`` ``(h, w)`` uint8 codes: nonzero (and not 255) exactly where ``cloudy`` differs
            from ``clear`` by more than ``epsilon`` in some band.
        """
        if clear.ndim != 3 or clear.shape[0] != len(self.bands):
            raise ValueError(
                f"clear reflectance must be ({len(self.bands)}, h, w) for bands {self.bands}, got {clear.shape}"
            )
        _, h, w = clear.shape
        if row < 0 or col < 0 or row + h > self.codes.shape[0] or col + w > self.codes.shape[1]:
            raise ValueError(f"window at ({row}, {col}) of {h}x{w} lies outside the planned grid {self.codes.shape}")
        sl = (slice(row, row + h), slice(col, col + w))
        ref = clear.astype(np.float32, copy=False)
        valid = np.isfinite(ref).all(axis=0) if valid is None else valid.astype(bool, copy=False)
        codes = self.codes[sl]
        out = ref.copy()
        cloud = valid & ((codes == THICK) | (codes == THIN))
        if cloud.any():
            tau = self.tau[sl][cloud]
            bright = self.brightness[sl][cloud]
            wl = band_wavelengths(self.bands)
            for b in range(len(self.bands)):
                s = (wl[b] / REF_WAVELENGTH_NM) ** (-self.angstrom / (1.0 + tau))
                t = np.exp(-tau * s)
                out[b][cloud] = ref[b][cloud] * t + bright * self.cloud_factor[b] * (1.0 - t)
        shade = valid & (codes == SHADOW)
        if shade.any():
            opacity = self.shadow[sl][shade]
            path = np.zeros(len(self.bands), np.float32) if self.path is None else self.path
            for b in range(len(self.bands)):
                ground = ref[b][shade]
                reflected = np.maximum(ground - path[b], 0.0)  # the part of the signal the shadow dims
                out[b][shade] = np.where(ground > 0, ground - reflected * opacity * (1.0 - self.shadow_keep[b]), ground)
        with np.errstate(invalid="ignore"):
            changed = valid & (np.abs(out - ref) > self.epsilon).any(axis=0)
        out[:, ~changed] = ref[:, ~changed]
        mask = np.where(changed, codes, np.uint8(CLEAR)).astype(np.uint8)
        mask[~valid] = NODATA
        return out, mask

    def cap_path(self, dark: np.ndarray) -> CloudPlan:
        """This plan with :attr:`path` kept below 0.9 x ``dark`` ``(bands,)`` (:func:`dark_levels`)."""
        if self.path is None:
            return self
        capped = np.clip(np.minimum(self.path, 0.9 * np.asarray(dark, np.float32)), 0.0, None)
        return replace(self, path=capped.astype(np.float32))


def dark_levels(ref: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """``(bands,)`` the ``DARK_OBJECT_PERCENTILE`` percentile of each band of ``ref`` ``(bands, h, w)``
    over ``valid`` pixels (all finite ones by default); 0 where none is valid."""
    valid = np.isfinite(ref).all(axis=0) if valid is None else valid
    if not valid.any():
        return np.zeros(ref.shape[0], np.float32)
    return np.percentile(ref[:, valid], DARK_OBJECT_PERCENTILE, axis=1).astype(np.float32)


def shadow_offset(offset_px: float, sun_azimuth_deg: float, transform: Any = None) -> tuple[int, int]:
    """``(rows, cols)`` displacement of a shadow from its cloud, ``offset_px`` pixels opposite the sun.

    On the ground the shadow lies towards azimuth ``sun_azimuth + 180``: east ``-sin(az)``, north
    ``-cos(az)``. The grid's affine ``transform`` (``x = a*col + b*row + c``, ``y = d*col + e*row + f``)
    maps that direction into pixel space (its inverse applied to ``(east, north)``), so south-up,
    flipped or rotated grids are handled; ``None`` is north-up (``a > 0``, ``e < 0``, no rotation).
    """
    az = math.radians(sun_azimuth_deg)
    east, north = -math.sin(az), -math.cos(az)
    a, b, d, e = (1.0, 0.0, 0.0, -1.0) if transform is None else (transform.a, transform.b, transform.d, transform.e)
    det = a * e - b * d
    if abs(det) < 1e-30:
        raise ValueError(f"degenerate grid transform {transform}: cannot orient cloud shadows")
    dcol, drow = (e * east - b * north) / det, (-d * east + a * north) / det
    norm = math.hypot(dcol, drow)
    if norm == 0.0 or offset_px == 0.0:
        return 0, 0
    return round(offset_px * drow / norm), round(offset_px * dcol / norm)


def optical_depth(field_: np.ndarray, t_cloud: float, t_thick: float, tau_max: float) -> np.ndarray:
    """Cloud optical depth from the cloud field: 0 below ``t_cloud``, thin up to ``t_thick``, thick above."""
    tau = np.zeros(field_.shape, np.float32)
    thin = (field_ > t_cloud) & (field_ <= t_thick)
    if thin.any():
        u = (field_[thin] - t_cloud) / max(t_thick - t_cloud, 1e-12)
        tau[thin] = THIN_TAU_MIN + (THIN_TAU_MAX - THIN_TAU_MIN) * u**1.5
    thick = field_ > t_thick
    if thick.any():
        top = float(field_.max())
        v = (field_[thick] - t_thick) / max(top - t_thick, 1e-12)
        tau[thick] = THIN_TAU_MAX + (max(tau_max, THIN_TAU_MAX) - THIN_TAU_MAX) * np.clip(v, 0, 1) ** 0.6
    return tau
