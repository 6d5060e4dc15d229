"""Random cloud-density fields ``(h, w)`` float32 in 0..1 for the cloud simulator, one per cloud type.

Real Sentinel-2 clouds come in a few recognisable forms, each drawn here as a smooth field that
:mod:`cloudfree.data.synthetic_clouds` thresholds at the quantile giving the requested coverage
(so coverage stays exact whatever the type):

* ``cumulus``: fields of separate convective cells. Cell centres are scattered uniformly, their
  diameters are log-uniform over a factor ~5 around ``size_px`` (many small cells, a few large
  ones, as real cumulus size distributions are roughly power laws), each cell is a Gaussian bump,
  and the sum is modulated by fine ``1/f`` noise so edges are ragged ("cauliflower") rather than
  round; a light Gaussian smoothing removes pixel-scale fragments (bench/bench_clouds.py showed
  a median object of 1-2 px without it, against tens of pixels in real masks). At 10 m cumulus
  cells are tens to a few hundred pixels across.
* ``stratus``: stratiform sheets, a very smooth ``1/f^beta`` field (``beta`` 3..3.8) whose
  structures are ``size_px`` and larger; thresholded it gives large sheets with holes and soft,
  irregular margins, from partial to total cover.
* ``haze``: the same very smooth field with only semi-transparent optical depths (the simulator
  codes all of it thin): the ground shows through everywhere.
* ``field``: the former single multi-scale ``1/f`` field (kept for reproducibility of old seeds).

The fields are hand-written (FFT filtering and Gaussian filtering from scipy) because no
maintained library provides seeded, quantile-controllable cloud fields.
"""

from __future__ import annotations

import itertools

import numpy as np
import scipy.fft
from scipy import ndimage

CLOUD_TYPES = ("cumulus", "stratus", "haze", "field")
MIXED_WEIGHTS = {"cumulus": 0.45, "stratus": 0.35, "haze": 0.2}  # "mixed": one type drawn per scene


def spectral_noise(shape: tuple[int, int], rng: np.random.Generator, beta: float, feature_px: float) -> np.ndarray:
    """Smooth random field ``(h, w)`` float32 in 0..1 with power spectrum ``(f^2 + f0^2)^(-beta/2)``.

    ``beta`` ~ 2..3.5 (larger = smoother, more cloud-like); ``f0 = 1 / feature_px`` flattens the
    spectrum below that frequency, so the largest structures are about ``feature_px`` pixels wide.
    """
    h, w = shape
    white = rng.standard_normal((h, w), dtype=np.float32)
    spectrum = scipy.fft.rfft2(white)
    fy = np.fft.fftfreq(h).astype(np.float32)[:, None]
    fx = np.fft.rfftfreq(w).astype(np.float32)[None, :]
    spectrum *= (fy**2 + fx**2 + np.float32(1.0 / feature_px) ** 2) ** np.float32(-beta / 4.0)
    out = scipy.fft.irfft2(spectrum, s=(h, w)).astype(np.float32)
    lo, hi = float(out.min()), float(out.max())
    return (out - lo) / max(hi - lo, 1e-12)


def _normalise(field_: np.ndarray) -> np.ndarray:
    lo, hi = float(field_.min()), float(field_.max())
    return ((field_ - lo) / max(hi - lo, 1e-12)).astype(np.float32)


def cumulus_field(shape: tuple[int, int], rng: np.random.Generator, size_px: float, coverage: float) -> np.ndarray:
    """Scattered convective cells ``(h, w)`` in 0..1; ``size_px`` the typical cell diameter (pixels).

    The number of cells grows with the requested coverage, so a 5 % field has a few isolated cells
    and a 60 % field many merging ones.
    """
    h, w = shape
    size_px = max(float(size_px), 3.0)
    density = 0.6 + 2.5 * float(np.clip(coverage, 0.0, 1.0))  # cells per (size_px)^2 of area
    n_cells = max(1, int(rng.poisson(density * h * w / size_px**2)) + 1)
    sizes = size_px * np.exp(rng.uniform(np.log(0.35), np.log(1.8), n_cells))
    rows, cols = rng.uniform(0, h, n_cells), rng.uniform(0, w, n_cells)
    out = np.zeros(shape, np.float32)
    edges = np.quantile(sizes, [0.0, 0.33, 0.66, 1.0])
    for lo, hi in itertools.pairwise(edges):  # three size octaves, one Gaussian filter each
        pick = (sizes >= lo) & (sizes <= hi)
        if not pick.any():
            continue
        impulses = np.zeros(shape, np.float32)
        r = np.clip(rows[pick].astype(int), 0, h - 1)
        c = np.clip(cols[pick].astype(int), 0, w - 1)
        np.add.at(impulses, (r, c), sizes[pick] ** 2)  # amplitude ~ area, so big cells have thick cores
        sigma = float(np.mean(sizes[pick])) / 3.0
        out += ndimage.gaussian_filter(impulses, sigma, mode="constant") / max(sigma**2, 1e-6)
    texture = spectral_noise(shape, rng, 2.9, max(size_px / 1.5, 2.0))
    field_ = _normalise(out) * (0.3 + 1.4 * texture)
    return _normalise(ndimage.gaussian_filter(field_, max(1.5, size_px / 40.0)))  # no pixel-scale fragments


def stratus_field(shape: tuple[int, int], rng: np.random.Generator, size_px: float, beta: float) -> np.ndarray:
    """Stratiform sheets ``(h, w)`` in 0..1: a smooth large-scale field with a little fine texture."""
    sheet = spectral_noise(shape, rng, float(np.clip(beta + 0.4, 3.0, 3.8)), max(float(size_px), 8.0))
    texture = spectral_noise(shape, rng, 3.0, max(float(size_px) / 8.0, 2.0))
    return _normalise(ndimage.gaussian_filter(sheet + 0.12 * texture, max(1.5, float(size_px) / 100.0)))


def haze_field(shape: tuple[int, int], rng: np.random.Generator, size_px: float) -> np.ndarray:
    """Very smooth veil ``(h, w)`` in 0..1 (thresholded and coded thin by the simulator)."""
    return spectral_noise(shape, rng, 3.6, max(float(size_px), 8.0))


def cloud_field(
    kind: str,
    shape: tuple[int, int],
    rng: np.random.Generator,
    *,
    cumulus_px: float,
    sheet_px: float,
    feature_px: float,
    beta: float,
    coverage: float,
) -> np.ndarray:
    """The density field of one cloud type (see the module docstring)."""
    if kind == "cumulus":
        return cumulus_field(shape, rng, cumulus_px, coverage)
    if kind == "stratus":
        return stratus_field(shape, rng, sheet_px, beta)
    if kind == "haze":
        return haze_field(shape, rng, sheet_px)
    if kind == "field":
        return spectral_noise(shape, rng, beta, feature_px)
    raise ValueError(f"unknown cloud type {kind!r}; expected one of {[*CLOUD_TYPES, 'mixed']}")


def choose_type(kind: str, rng: np.random.Generator) -> str:
    """``kind`` itself, or for ``"mixed"`` one type drawn with :data:`MIXED_WEIGHTS`."""
    if kind != "mixed":
        if kind not in CLOUD_TYPES:
            raise ValueError(f"unknown cloud type {kind!r}; expected one of {[*CLOUD_TYPES, 'mixed']}")
        return kind
    names = list(MIXED_WEIGHTS)
    p = np.array([MIXED_WEIGHTS[n] for n in names])
    return names[int(rng.choice(len(names), p=p / p.sum()))]
