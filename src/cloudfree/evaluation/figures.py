"""Evaluation figures: side-by-side views, error map, per-band histograms.

Drawn with matplotlib's object API (``Figure`` with its default Agg canvas), so no pyplot state
or display backend is involved.

* ``comparison.png``: rows true colour (B04, B03, B02) and false colour (B08, B04, B03), columns
  cloudy input (when given), prediction and reference, all with one shared stretch: per display
  band, the 2nd..98th percentile of the reference's valid pixels, so that brightness differences
  between panels are real and not a stretch artefact.
* ``error.png``: mean absolute reflectance error over the bands, with the mask outline.
* ``histograms.png``: per-band reflectance histograms of prediction and reference (and input).

Rasters larger than ``max_side`` pixels are decimated for display only.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from cloudfree.inference.composite import cloud_of

COMBOS = {"true colour (B04, B03, B02)": ("B04", "B03", "B02"), "false colour (B08, B04, B03)": ("B08", "B04", "B03")}


def _decimate(a: np.ndarray, step: int) -> np.ndarray:
    return a[..., ::step, ::step]


def stretch_limits(ref: np.ndarray, valid: np.ndarray, low: float = 2.0, high: float = 98.0) -> np.ndarray:
    """``(bands, 2)`` display limits: percentiles of each band over valid pixels."""
    if not valid.any():
        return np.tile([0.0, 1.0], (ref.shape[0], 1))
    lims = np.percentile(ref[:, valid], [low, high], axis=1).T
    lims[:, 1] = np.maximum(lims[:, 1], lims[:, 0] + 1e-6)
    return lims


def to_rgb(data: np.ndarray, limits: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``(h, w, 3)`` float 0..1 image of three bands with the given limits; nodata black."""
    rgb = (data - limits[:, :1, None]) / (limits[:, 1:, None] - limits[:, :1, None])
    rgb = np.clip(np.nan_to_num(rgb), 0.0, 1.0).transpose(1, 2, 0)
    rgb[~valid] = 0.0
    return rgb


def write_figures(
    pred: np.ndarray,
    ref: np.ndarray,
    bands: Sequence[str],
    valid: np.ndarray,
    out_dir: str | os.PathLike[str],
    *,
    cloudy: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    max_side: int = 1024,
) -> list[Path]:
    """Write the three figures for reflectance arrays ``(bands, h, w)``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    step = max(1, int(np.ceil(max(valid.shape) / max_side)))
    pred, ref, valid = _decimate(pred, step), _decimate(ref, step), _decimate(valid, step)
    cloudy = _decimate(cloudy, step) if cloudy is not None else None
    mask = _decimate(mask, step) if mask is not None else None
    names = list(bands)
    paths = []

    combos = {t: c for t, c in COMBOS.items() if all(b in names for b in c)}
    if not combos:  # any three bands will do
        combos = {f"bands {tuple(names[:3])}": tuple(names[:3])} if len(names) >= 3 else {names[0]: (names[0],) * 3}
    panels = [("input (cloudy)", cloudy)] if cloudy is not None else []
    panels += [("prediction", pred), ("reference", ref)]
    fig = Figure(figsize=(4 * len(panels), 4 * len(combos)))
    axes = fig.subplots(len(combos), len(panels), squeeze=False)
    for row, (title, combo) in enumerate(combos.items()):
        idx = [names.index(b) for b in combo]
        limits = stretch_limits(ref[idx], valid)
        for col, (label, data) in enumerate(panels):
            ax = axes[row, col]
            ax.imshow(to_rgb(data[idx], limits, valid))
            ax.set_title(f"{label}\n{title}", fontsize=9)
            ax.axis("off")
    fig.tight_layout()
    paths.append(out / "comparison.png")
    fig.savefig(paths[-1], dpi=100)

    err = np.abs(pred - ref).mean(axis=0)
    err[~valid] = np.nan
    fig = Figure(figsize=(6, 5))
    ax = fig.subplots()
    vmax = float(np.nanpercentile(err, 99)) if np.isfinite(err).any() else 1.0
    im = ax.imshow(err, cmap="magma", vmin=0.0, vmax=max(vmax, 1e-6))
    if mask is not None and cloud_of(mask).any():
        ax.contour(cloud_of(mask).astype(float), levels=[0.5], colors="cyan", linewidths=0.6)
    fig.colorbar(im, ax=ax, label="mean |prediction - reference| (reflectance)")
    ax.set_title("absolute error" + (" (cyan: mask)" if mask is not None else ""))
    ax.axis("off")
    fig.tight_layout()
    paths.append(out / "error.png")
    fig.savefig(paths[-1], dpi=100)

    ncols = min(4, len(names))
    nrows = int(np.ceil(len(names) / ncols))
    fig = Figure(figsize=(3.2 * ncols, 2.6 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, band in enumerate(names):
        ax = axes[i // ncols, i % ncols]
        series = [("reference", ref[i][valid]), ("prediction", pred[i][valid])]
        if cloudy is not None:
            series.append(("input", cloudy[i][valid]))
        finite = np.concatenate([s[np.isfinite(s)] for _, s in series])
        hi = float(np.percentile(finite, 99.5)) if finite.size else 1.0
        for label, values in series:
            ax.hist(values[np.isfinite(values)], bins=64, range=(0.0, max(hi, 1e-3)), histtype="step", label=label)
        ax.set_title(band, fontsize=9)
    for j in range(len(names), nrows * ncols):
        axes[j // ncols, j % ncols].axis("off")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    paths.append(out / "histograms.png")
    fig.savefig(paths[-1], dpi=100)
    return paths
