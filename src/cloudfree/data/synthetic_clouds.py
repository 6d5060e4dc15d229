"""Physically based synthetic clouds and cloud shadows over clear Sentinel-2 reflectance, with exact masks.

A clear scene becomes a cloudy one in two steps, so that a whole scene can be processed by windows:

1. :meth:`CloudSimulator.plan` draws the scene's parameters and per-pixel fields on the full grid:
   a cloud-density field of one cloud type (:mod:`cloudfree.data.cloud_fields`: cumulus cell
   fields, stratiform sheets, semi-transparent haze, or ``mixed``: one of them per scene) is
   thresholded at the quantile that gives the requested ``coverage`` of the valid pixels; the part above a second
   quantile is thick cloud, the rim between the two is thin cloud (``thin_fraction`` of the
   cloud). The field sets a cloud optical depth ``tau`` (thin ``0.05..1.2``, thick ``1.2..tau_max``).
   The same field, drawn on a canvas larger than the scene, is shifted along the sun azimuth by
   ``cloud_height_px * tan(sun_zenith)`` to place each cloud's shadow (clouds just outside the
   scene cast shadows into it). With the grid's affine ``transform`` the direction follows the
   grid's orientation (a south-up or rotated grid gets its shadows on the right side); without
   one the grid is taken as north-up.
2. :meth:`CloudPlan.apply` turns clear reflectance ``(bands, h, w)`` of any window into cloudy
   reflectance and mask codes (0 clear, 1 thick, 2 thin, 3 shadow, 255 nodata).

Radiative model, per band ``b`` of centre wavelength ``lambda_b`` (from the band catalogue):

* cloud: Beer-Lambert transmittance ``t_b = exp(-tau * s_b)`` with an Angstrom-type spectral
  dependence ``s_b = (lambda_b / 550 nm) ** (-angstrom / (1 + tau))``: thin cloud and haze scatter
  more in the blue than in the SWIR, thick clouds (large ``tau``) are spectrally flat and opaque.
  ``cloudy = clear * t_b + R_b * (1 - t_b)`` where the cloud reflectance ``R_b`` is bright and
  flat up to B09 (``thick_reflectance``, 0.35..0.75, with texture), lower in B11 and B12 (water and
  ice absorb in the SWIR) and ``cirrus_reflectance`` in the cirrus band B10, where the ground is
  dark, so thin cloud shows there.
* shadow: the light the ground reflects is dimmed, the atmosphere's path reflectance ``P_b`` is
  not: ``clear - (clear - P_b) * w * (1 - keep_b)`` with ``w`` the opacity of the cloud that casts
  it and ``keep_b`` the light left in full shadow (``shadow_keep``, 0.35..0.8, raised in the blue
  by diffuse sky light, ``~lambda^-2``). ``P_b`` (``path_reflectance`` in B02, 0.05..0.11,
  ``~lambda^-2.5``) is most of the blue signal at the top of the atmosphere: real L1C shadows (the
  auto mask's on Madagascar and SEN12MS-CR, ``bench/bench_clouds.py``) keep 92-95 % of the blue of
  the ground around them and 60-77 % of the SWIR. It stays below 0.9 x the darkest percent of the
  scene's clear pixels, so over L2A (bottom of atmosphere) shadows stay nearly multiplicative.
  Only where no cloud covers the pixel.

The mask is exactly the set of pixels whose value changed by more than ``epsilon`` in some band
(a planned pixel that would change less, e.g. a shadow on black water, is left unchanged and
clear). Nodata pixels stay as they are, with mask 255. Everything is drawn from one
``numpy.random.Generator``, so a seed reproduces the result exactly.

The cloud field is hand-written (a few lines of FFT filtering) because no maintained library
provides seeded, quantile-controlled 1/f noise fields; the radiative transfer is a deliberate
first-order approximation (no adjacency effect, no multiple scattering between cloud and ground).
Haze (``cloud_type="haze"``) is thin everywhere (optical depth below the thick limit), so the
ground shows through it and the mask codes it 2; it casts no visible shadow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from cloudfree import bands as bandcat
from cloudfree.data.cloud_fields import choose_type, cloud_field, spectral_noise
from cloudfree.data.cloud_optics import (
    DIFFUSE_BLUE,
    PATH_EXPONENT,
    SHADOW_MIN_OPACITY,
    CloudPlan,
    band_wavelengths,
    dark_levels,
    optical_depth,
    shadow_offset,
)
from cloudfree.masks import CLEAR, NODATA, SHADOW, THICK, THIN
from cloudfree.radiometry import Radiometry
from cloudfree.raster import Raster

RangeLike = float | tuple[float, float]
SWIR_BANDS = {"B11": "swir16_factor", "B12": "swir22_factor"}


LAST_DRAWN = "path_reflectance"  # drawn after the fields and textures (added later; keeps old seeds' clouds)


def _draw(value: RangeLike, rng: np.random.Generator) -> float:
    """A fixed value, or a uniform draw from a ``(low, high)`` range."""
    if isinstance(value, (tuple, list)):
        low, high = float(value[0]), float(value[1])
        return low if low == high else float(rng.uniform(low, high))
    return float(value)


@dataclass
class CloudSimulator:
    """Draws clouds and shadows; every parameter is a value or a ``(low, high)`` range drawn per scene.

    Attributes:
        coverage: fraction of valid pixels that become cloud (thick + thin), 0..1.
        thin_fraction: fraction of the cloud pixels that are thin cloud (the rims of clouds), 0..1.
        thick_reflectance: visible reflectance of thick cloud tops (0.35..0.75; real cloud masks in
            ../shared/data have medians of 0.15-0.3 because they include thin edges).
        cirrus_reflectance: cloud reflectance in the cirrus band B10 (low clouds are dark there: 0.001-0.02
            measured on the real scenes; high cirrus is bright).
        swir16_factor, swir22_factor: cloud reflectance in B11 / B12 relative to the visible.
        angstrom: spectral exponent of thin-cloud scattering (0 flat .. 2 strongly blue).
        tau_max: optical depth in the densest part of thick clouds.
        cloud_type: ``cumulus``, ``stratus``, ``haze``, ``field`` (the former single 1/f field) or
            ``mixed`` (one of cumulus / stratus / haze drawn per scene).
        cumulus_px: typical cumulus cell diameter in pixels (0.3-2 km: 30-200 px at 10 m).
        sheet_px: size of stratiform sheet / haze structures in pixels.
        feature_px: size of the largest cloud structures in pixels (``field`` type).
        beta: spectral slope of the cloud field (larger = smoother).
        shadows: whether clouds cast shadows.
        sun_azimuth_deg: sun azimuth, degrees clockwise from north (shadows fall the opposite way).
        sun_zenith_deg: sun zenith angle in degrees.
        cloud_height_px: cloud height above ground in pixels; the shadow is displaced by
            ``cloud_height_px * tan(sun_zenith)`` pixels.
        shadow_keep: fraction of the (NIR/SWIR) ground-reflected light left in the shadow of an
            opaque cloud.
        path_reflectance: the atmosphere's path reflectance in B02 (other bands follow
            ``(wavelength / 492.4 nm) ** -2.5``), which a shadow does not dim: 0.05-0.11 at the top of
            the atmosphere (L1C); over L2A the darkest clear pixels cap it near 0 (``CloudPlan.path``).
            Drawn after every other random choice, so a seed's clouds do not depend on it.
        epsilon: smallest reflectance change that counts as changed (mask = changed pixels).
    """

    coverage: RangeLike = (0.1, 0.6)
    thin_fraction: RangeLike = (0.1, 0.5)
    thick_reflectance: RangeLike = (0.35, 0.75)
    cirrus_reflectance: RangeLike = (0.005, 0.08)
    swir16_factor: RangeLike = (0.7, 1.0)
    swir22_factor: RangeLike = (0.5, 0.8)
    angstrom: RangeLike = (0.8, 1.6)
    tau_max: RangeLike = (8.0, 30.0)
    cloud_type: str = "mixed"
    cumulus_px: RangeLike = (10.0, 120.0)
    sheet_px: RangeLike = (64.0, 512.0)
    feature_px: RangeLike = (32.0, 128.0)
    beta: RangeLike = (2.6, 3.4)
    shadows: bool = True
    sun_azimuth_deg: RangeLike = (0.0, 360.0)
    sun_zenith_deg: RangeLike = (20.0, 60.0)
    cloud_height_px: RangeLike = (5.0, 25.0)
    shadow_keep: RangeLike = (0.35, 0.8)
    path_reflectance: RangeLike = (0.05, 0.11)
    epsilon: float = 2e-4

    def __post_init__(self) -> None:
        for name in ("coverage", "thin_fraction"):
            value = getattr(self, name)
            lows_highs = value if isinstance(value, (tuple, list)) else (value, value)
            if not all(0.0 <= float(v) <= 1.0 for v in lows_highs):
                raise ValueError(f"{name} must lie in 0..1, got {value}")

    def draw_params(self, rng: np.random.Generator) -> dict[str, float]:
        """One scene's scalar parameters, drawn in a fixed order (so a seed reproduces them)."""
        names = [f for f in self.__dataclass_fields__ if f not in ("shadows", "epsilon", "cloud_type", LAST_DRAWN)]
        return {name: _draw(getattr(self, name), rng) for name in names}

    def plan(
        self,
        height: int,
        width: int,
        bands: Sequence[str],
        valid: np.ndarray | None = None,
        rng: np.random.Generator | int | None = None,
        transform: Any = None,
    ) -> CloudPlan:
        """Plan clouds and shadows for a ``height x width`` grid of ``bands`` (valid: ``(h, w)`` bool).

        ``transform``: the grid's affine transform (rasterio ``Affine``), used for the shadow
        direction; ``None`` means north-up (rows towards south, columns towards east).
        """
        names = tuple(bandcat.canonical(b) for b in bands)
        wl = band_wavelengths(names)
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        valid = np.ones((height, width), bool) if valid is None else valid.astype(bool, copy=False)
        p = self.draw_params(rng)
        kind = choose_type(self.cloud_type, rng)
        if kind == "haze":
            p["thin_fraction"] = 1.0
        # shadow displacement in pixels; the shadow lies opposite the sun
        offset = p["cloud_height_px"] * math.tan(math.radians(p["sun_zenith_deg"])) if self.shadows else 0.0
        dy, dx = shadow_offset(offset, p["sun_azimuth_deg"], transform)
        p.update(shadow_offset_rows=dy, shadow_offset_cols=dx)
        canvas = (height + abs(dy), width + abs(dx))
        oy, ox = max(dy, 0), max(dx, 0)  # image position on the canvas
        field_ = cloud_field(
            kind, canvas, rng, cumulus_px=p["cumulus_px"], sheet_px=p["sheet_px"], feature_px=p["feature_px"],
            beta=p["beta"], coverage=p["coverage"],
        )  # fmt: skip
        texture = spectral_noise((height, width), rng, 2.0, max(p["feature_px"] / 4.0, 2.0))

        inside = field_[oy : oy + height, ox : ox + width]
        values = inside[valid]
        if values.size == 0 or p["coverage"] <= 0.0:
            t_cloud = t_thick = np.inf
        else:
            below_all = float(values.min()) - 1e-6  # threshold that makes every valid pixel cloud
            t_cloud = below_all if p["coverage"] >= 1.0 else float(np.quantile(values, 1.0 - p["coverage"]))
            thick_share = p["coverage"] * (1.0 - p["thin_fraction"])
            t_thick = below_all if thick_share >= 1.0 else float(np.quantile(values, 1.0 - thick_share))
            t_thick = max(t_thick, t_cloud)
        tau = optical_depth(field_, t_cloud, t_thick, p["tau_max"])

        cloud_tau = tau[oy : oy + height, ox : ox + width]
        codes = np.zeros((height, width), np.uint8)
        codes[inside > t_cloud] = THIN
        codes[inside > t_thick] = THICK
        shadow = np.zeros((height, width), np.float32)
        if self.shadows and (dy or dx):
            source = tau[oy - dy : oy - dy + height, ox - dx : ox - dx + width]
            opacity = (1.0 - np.exp(-source)).astype(np.float32)
            shade = (opacity >= SHADOW_MIN_OPACITY) & (codes == CLEAR)
            codes[shade] = SHADOW
            shadow[shade] = opacity[shade]
        codes[~valid] = NODATA

        factor = np.ones(len(names), np.float32)
        for i, name in enumerate(names):
            if name in SWIR_BANDS:
                factor[i] = p[SWIR_BANDS[name]]
            elif name == "B10":
                factor[i] = p["cirrus_reflectance"] / p["thick_reflectance"]
        diffuse = np.minimum(DIFFUSE_BLUE * (wl / 492.4) ** -2.0, 0.9)
        keep = (p["shadow_keep"] + (1.0 - p["shadow_keep"]) * diffuse).astype(np.float32)
        brightness = (p["thick_reflectance"] * (0.85 + 0.15 * texture)).astype(np.float32)
        p[LAST_DRAWN] = _draw(self.path_reflectance, rng)  # last: the clouds of a seed stay as they were
        path = (p[LAST_DRAWN] * (wl / 492.4) ** -PATH_EXPONENT).astype(np.float32)
        return CloudPlan(
            bands=names,
            codes=codes,
            tau=np.ascontiguousarray(cloud_tau, dtype=np.float32),
            brightness=brightness,
            shadow=shadow,
            cloud_factor=factor,
            shadow_keep=keep,
            path=path,
            angstrom=p["angstrom"],
            epsilon=self.epsilon,
            params={**p, "cloud_type": kind},
        )

    def simulate(
        self,
        clear: np.ndarray,
        bands: Sequence[str],
        rng: np.random.Generator | int | None = None,
        valid: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Cloudy ``(bands, h, w)`` float32 reflectance and ``(h, w)`` uint8 mask codes from clear reflectance."""
        if clear.ndim != 3:
            raise ValueError(f"clear reflectance must be (bands, height, width), got {clear.shape}")
        valid = np.isfinite(clear).all(axis=0) if valid is None else valid
        plan = self.plan(clear.shape[1], clear.shape[2], bands, valid, rng)
        return plan.cap_path(dark_levels(clear, valid)).apply(clear, valid=valid)

    def __call__(
        self, clear: np.ndarray, bands: tuple[str, ...], rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """The dataset hook: ``simulate(clear, bands, rng) -> (cloudy, mask)`` (see :meth:`simulate`)."""
        return self.simulate(clear, bands, rng)

    def as_hook(self) -> CloudSimulator:
        """This simulator as the ``simulate=`` hook of ``SyntheticCloudDataset`` (a picklable callable)."""
        return self

    def simulate_raster(
        self, raster: Raster, rng: np.random.Generator | int | None = None
    ) -> tuple[Raster, np.ndarray, CloudPlan]:
        """Clouds over a whole in-memory Raster; the result keeps its grid, bands, radiometry and dtype.

        DN input gives DN output with the same offsets (``(DN + offset) / 10000`` round trip).
        Returns ``(cloudy raster, mask (h, w) uint8, plan)``.
        """
        check_optical(raster)
        refl = raster.to_reflectance()
        plan = self.plan(raster.height, raster.width, raster.bands, raster.valid, rng, transform=raster.transform)
        plan = plan.cap_path(dark_levels(refl.data, raster.valid))
        cloudy, mask = plan.apply(refl.data, valid=raster.valid)
        out = refl.with_data(cloudy)
        if raster.radiometry is Radiometry.DN:
            out = out.to_dn(offset=raster.dn_offset, dtype=raster.data.dtype.type)
            out.nodata = raster.nodata
        return out, mask, plan

    def describe(self) -> dict[str, Any]:
        """The simulator's settings as plain data (for tags and logs)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def check_optical(raster: Raster) -> None:
    """Refuse rasters that are not Sentinel-2 reflectance or DN, naming the file and what it holds."""
    if raster.radiometry not in (Radiometry.DN, Radiometry.REFLECTANCE):
        raise ValueError(
            f"{raster.source}: synthetic clouds need Sentinel-2 reflectance or DN, got {raster.radiometry.value} data"
        )
    try:
        band_wavelengths(raster.bands)
    except bandcat.BandError as exc:
        raise bandcat.BandError(f"{raster.source}: {exc}") from exc
