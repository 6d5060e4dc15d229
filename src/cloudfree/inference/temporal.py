"""Temporal baselines: fill a cloudy date from other dates of the same place, with no training.

Inputs are a *target* scene with its cloud mask and a *series* of other dates (each with an
optional mask; without one every valid pixel of that date counts as clear). Series members must
share the target's bands; one on another grid is reprojected onto the target's on the fly
(``rasterio.vrt.WarpedVRT``, bilinear). Dates come from the ``DATETIME`` tag, else the file name
(``2015-08-30`` or ``20150830``). An observation is *clear* where its date is valid and its mask
code is not cloud or shadow. All methods work on reflectance (each file with its own DN offset):

* ``gapfill`` - nearest clear date: each pixel takes the clear observation nearest in time to the
  target, adjusted per band by a linear radiometric fit ``target = gain * member + offset``
  (least squares over the pixels clear in both dates; gain 1, offset 0 with fewer than
  ``MIN_FIT_PIXELS`` such pixels).
* ``least-cloudy`` - dates are ranked by how much of the target's cloudy area they cover with
  cloud, shadow or nodata (fewest first; ties: nearer in time); each pixel takes the clear
  observation of the best-ranked date clear there, unadjusted. With a date clear under the whole
  target cloud, that date fills the gap alone.
* ``mosaic`` - the mean of all clear observations of the pixel (the target's own included).
* ``median`` - their median.

Pixels without any clear observation keep the target's values (``SceneSummary.extra["unfilled"]``
counts them). Only the target's cloud and shadow pixels are replaced, feathered like model output,
unless ``replace_all``. The pass runs through the streaming engine (tiles without overlap, since
every method is per pixel), so memory stays bounded; ``gapfill`` and ``least-cloudy`` read the
scenes once more beforehand, by windows, for their statistics (:mod:`.series` holds the
per-pixel methods, the statistics and the dates).

Side inputs: the target's mask must lie exactly on the target's grid and each series mask on its
own date's grid (refused otherwise, naming both grids); series members on other grids are
reprojected on purpose, and must have a CRS and overlap the target. On request the same pass
writes the provenance layer (``2 + k``: from member ``k``; 254: mosaic / median) and the mask of
what is left (cloudy, no clear date) for a model to fill.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.windows import Window

from cloudfree.inference.checks import check_reprojectable, check_same_grid
from cloudfree.inference.composite import (
    PROVENANCE_FIRST_DATE,
    PROVENANCE_ORIGINAL,
    PROVENANCE_SEVERAL_DATES,
    cloud_of,
    composite,
    default_dtype,
    feather_weights,
    mask_output,
    output_offset,
    output_tags,
    read_mask_window,
)
from cloudfree.inference.provenance import provenance_output
from cloudfree.inference.series import (
    METHODS,
    SEVERAL,
    _clear,
    acquisition_date,
    estimate,
    series_stats,
)
from cloudfree.inference.sources import InputSpec, Source, input_info
from cloudfree.inference.streaming import OutputSpec, SceneSummary, predict_scene
from cloudfree.io.geotiff import band_names_of, dn_offset_from_tags, infer_radiometry

__all__ = ["METHODS", "acquisition_date", "estimate", "fill_temporal", "series_stats"]


def fill_temporal(
    target: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    method: str,
    series: Sequence[str | os.PathLike[str]],
    mask: str | os.PathLike[str] | None = None,
    series_masks: Sequence[str | os.PathLike[str]] | None = None,
    replace_all: bool = False,
    dtype: str | None = None,
    feather: int = 4,
    write_mask: str | os.PathLike[str] | None = None,
    provenance: str | os.PathLike[str] | None = None,
    remaining_mask: str | os.PathLike[str] | None = None,
    tags: dict[str, Any] | None = None,
    tile: int = 512,
    progress: bool = True,
) -> SceneSummary:
    """Fill the target's cloudy pixels from the series with ``method``; write a COG to ``output``.

    Args:
        target: the cloudy scene; its bands are the output bands.
        output: destination COG (atomic).
        method: ``gapfill``, ``least-cloudy``, ``mosaic`` or ``median`` (see the module docstring).
        series: the other dates (same bands; reprojected onto the target's grid when needed, so
            they must have a CRS and overlap the target).
        mask: the target's cloud/shadow mask (codes or binary) on the target's grid (CRS,
            transform, shape); required unless ``replace_all``.
        series_masks: one mask per series member, in the same order, each on its member's grid.
        replace_all: output the estimate wherever it exists, not only under the mask.
        dtype: ``uint16`` (DN, target's offset) or ``float32`` reflectance; default from the target.
        feather: blending ramp (pixels) outside the mask.
        write_mask: also write the target mask that was used.
        provenance: also write the provenance layer (:mod:`.provenance`): 0 kept, ``2 + k`` from
            series member k, 254 mosaic / median, 255 nodata.
        remaining_mask: also write the mask of what is left (1 where the target is cloudy and no
            date was clear, else 0; 255 nodata), for a model to fill.
        tags: extra output tags.
        tile: processing tile (pixels); any size gives the same result.
    """
    if method not in METHODS:
        raise ValueError(f"unknown temporal method {method!r}; expected one of {list(METHODS)}")
    if not series:
        raise ValueError(f"--method {method} needs at least one other date (--series A.tif B.tif ...)")
    if mask is None and not replace_all:
        raise ValueError(f"--method {method} needs the target's cloud mask (--mask M.tif), or --replace-all")
    if series_masks is not None and len(series_masks) != len(series):
        raise ValueError(f"{len(series_masks)} series masks for {len(series)} series members; give one per member")
    tpath = Path(target)
    info = input_info(tpath)
    names = band_names_of(info, None)
    radiometry = infer_radiometry(names, info.dtype, info.tags)
    dtype = dtype or default_dtype(radiometry)
    if mask is not None:
        check_same_grid(mask, info, "--mask")
    member_infos = [check_reprojectable(p, info, "--series member") for p in series]
    for p, m_info in zip(series_masks or [], member_infos, strict=False):
        check_same_grid(p, m_info, f"--series-masks (for {m_info.path})")
    t_src = Source(InputSpec(tpath))
    members = [Source(InputSpec(Path(p), select=names), grid=info) for p in series]
    t_mask = Source(InputSpec(Path(mask), kind="mask"), grid=info) if mask is not None else None
    m_masks = [Source(InputSpec(Path(p), kind="mask"), grid=info) for p in series_masks or []] or [None] * len(series)
    t_date = acquisition_date(tpath)
    distance = [abs((acquisition_date(m.spec.path) - t_date).total_seconds()) for m in members]
    stats = series_stats(t_src, members, t_mask, m_masks)
    if method == "least-cloudy":
        ranking = sorted(range(len(members)), key=lambda j: (stats.gap_cover[j], distance[j]))
    else:
        ranking = sorted(range(len(members)), key=lambda j: distance[j])
    k, c = len(members), len(names)
    gain = stats.gain if method == "gapfill" else np.ones((k, c))
    offset = stats.offset if method == "gapfill" else np.zeros((k, c))
    n_masks = (t_mask is not None) + sum(m is not None for m in m_masks)
    unfilled = [0]

    def predict(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
        out = np.empty((x.shape[0], c + 1, *x.shape[2:]), np.float32)
        for i in range(x.shape[0]):
            obs = x[i, : (k + 1) * c].reshape(k + 1, c, *x.shape[2:])
            codes = list(x[i, (k + 1) * c : (k + 1) * c + n_masks])
            valids = x[i, (k + 1) * c + n_masks :] > 0.5
            t_codes = codes.pop(0) if t_mask is not None else None
            clear = [_clear(valids[0], t_codes)]
            clear += [_clear(valids[j + 1], codes.pop(0) if m_masks[j] is not None else None) for j in range(k)]
            adjusted = obs[1:] * gain[:, :, None, None].astype(np.float32) + offset[:, :, None, None].astype(np.float32)
            if method in ("mosaic", "median"):  # the target's own clear observations count too
                est, source = estimate(method, obs, np.stack(clear), ranking)
            else:
                est, source = estimate(method, adjusted, np.stack(clear[1:]), ranking)
            out[i, :c] = est
            out[i, c] = np.where(np.isfinite(est).all(axis=0), source, -1)  # -1: nothing clear
        return out

    off = output_offset(radiometry, _offsets(info, c), dtype)
    out_tags = output_tags(
        info,
        dtype,
        off,
        method=method,
        replaced="all pixels" if replace_all else "cloud and shadow pixels",
        extra={"CLOUDFREE_SERIES": [str(m.spec.path) for m in members], **(tags or {})},
    )

    def finalize(blended: np.ndarray, window: Window, raster: Any) -> list[np.ndarray]:
        source = np.rint(blended[c]).astype(np.int16)
        filled = source != -1
        refl = raster.to_reflectance().data
        est = np.where(filled[None], blended[:c], refl)
        if mask is not None:
            codes_m, rows = read_mask_window(str(mask), window, feather, info.height)
            codes = codes_m[rows]
            weight = feather_weights(cloud_of(codes_m), feather)[rows]
        else:
            codes = np.ones(filled.shape, np.uint8)
            weight = np.ones(filled.shape, np.float32)
        if replace_all:
            weight = np.ones_like(weight)
        weight = np.where(filled, weight, 0.0)
        left = cloud_of(codes) & raster.valid & ~filled
        unfilled[0] += int(left.sum()) if not replace_all else 0
        out = [composite(raster, est, weight, dtype, off)]
        if write_mask is not None:
            out.append(mask_output(codes, raster.valid))
        if provenance is not None:
            prov = np.where(source == SEVERAL, PROVENANCE_SEVERAL_DATES, PROVENANCE_FIRST_DATE + source)
            prov = np.where(weight > 0, prov, PROVENANCE_ORIGINAL)
            out.append(mask_output(prov, raster.valid))
        if remaining_mask is not None:
            out.append(mask_output(left if not replace_all else np.zeros_like(left), raster.valid))
        return out

    inputs: list[Any] = [t_src.spec, *[m.spec for m in members]]
    inputs += ([t_mask.spec] if t_mask else []) + [m.spec for m in m_masks if m is not None]
    extras = [OutputSpec(Path(write_mask), ("mask",), "uint8", 255)] if write_mask is not None else []
    if provenance is not None:
        extras.append(provenance_output(Path(provenance), series, {"CLOUDFREE_METHOD": method}))
    if remaining_mask is not None:
        extras.append(OutputSpec(Path(remaining_mask), ("mask",), "uint8", 255, {"CLOUDFREE_LAYER": "not filled"}))
    summary = predict_scene(
        inputs,
        output,
        predict,
        out_descriptions=names,
        out_dtype=dtype,
        tags=out_tags,
        tile=tile,
        overlap=0,
        batch_size=1,
        finalize=finalize,
        extra_outputs=extras,
        validity_channels=True,
        progress=progress,
        desc=f"{method} {tpath.name}",
    )
    summary.extra.update(
        method=method,
        ranking=[str(members[j].spec.path) for j in ranking],
        gap_cover=[float(v) for v in stats.gap_cover],
        gain=stats.gain.tolist(),
        offset=stats.offset.tolist(),
        fit_pixels=[int(v) for v in stats.fit_pixels],
        unfilled=unfilled[0],
    )
    return summary


def _offsets(info: Any, count: int) -> np.ndarray:
    offset = dn_offset_from_tags(info.tags, count)
    return np.zeros(count, np.float32) if offset is None else offset
