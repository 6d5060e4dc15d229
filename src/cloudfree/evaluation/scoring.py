"""Score a prediction against a reference by windows, under one protocol, with optional index and
burn-severity agreement: :func:`score_pair` (one pair of files -> a list of image results).

An *image* is the protocol's averaging unit: the whole file, or each 256 x 256 patch for
``sen12mscr`` (:mod:`cloudfree.evaluation.protocols`). Each image is walked in 512 px blocks with a
5 px halo (SSIM context), so memory is bounded by a block, never by the scene. An image result is::

    {"image": name, "window": [col, row, width, height],
     "<subset>": {"psnr", "ssim", "sam", "mae", "rmse", "per_band": {...}},   # all / cloudy / clear ...
     "indices": {"NDVI": {"<subset>": {"rmse", "bias", "r", "mae", "n_pixels"}}, ...},
     "severity": {"<subset>": {"overall_accuracy", "kappa", "burned_iou", "iou": {...}, "n_pixels"}},
     "pixels": {"<subset>": n}}

Indices and NBR are computed from reflectance ((DN + offset) / 10000) whatever the protocol's
scaling, since they are physical quantities. Severity maps are the USGS classes of dNBR(pre,
prediction) and dNBR(pre, reference) (:mod:`cloudfree.evaluation.burn`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from rasterio.windows import Window

from cloudfree.evaluation.accumulators import ImageMetrics, IndexAgreement, SeverityAgreement, window_maps
from cloudfree.evaluation.burn import choose_nir, classify, nbr, parse_thresholds
from cloudfree.evaluation.indices import IndexPlan, compute_indices, plan_indices, split_names
from cloudfree.evaluation.protocols import Protocol, get_protocol, scale, subsets
from cloudfree.evaluation.scene import (
    BLOCK,
    EvaluationInputError,
    MaskSource,
    check_same_grid,
    halo_windows,
    open_imagery,
    physical,
)
from cloudfree.io.open import RasterSource

NDVI_BANDS = ("B04", "B08")


@dataclass
class PairInputs:
    """The opened and checked inputs of one scoring run."""

    pred: RasterSource
    ref: RasterSource
    bands: tuple[str, ...]
    mask: MaskSource | None = None
    pre: RasterSource | None = None
    plans: list[IndexPlan] = field(default_factory=list)
    nir: str | None = None


def open_pair(
    pred: str | os.PathLike[str],
    ref: str | os.PathLike[str],
    *,
    mask: str | os.PathLike[str] | None = None,
    pre: str | os.PathLike[str] | None = None,
    indices: str | Sequence[str] | None = None,
    bands: str | Sequence[str] | None = None,
    dn_offset: float | None = None,
    nir: str = "auto",
) -> PairInputs:
    """Open every input, check each is on the reference's grid, plan indices and NBR (before any pixel)."""
    p, r = open_imagery(pred, bands, dn_offset), open_imagery(ref, bands, dn_offset)
    check_same_grid(r, p, "prediction")
    common = tuple(b for b in r.bands if b in p.bands)
    if not common:
        raise EvaluationInputError(f"{pred} ({list(p.bands)}) and {ref} ({list(r.bands)}) share no band")
    out = PairInputs(p, r, common)
    if mask is not None:
        out.mask = MaskSource(mask)
        check_same_grid(r, out.mask, "mask")
    names = split_names(indices) if indices else []
    if not indices and all(b in common for b in NDVI_BANDS):
        names = ["NDVI"]  # always reported when the bands are there (ndvi_diff)
    out.plans = plan_indices(names, common, f"the bands {pred} and {ref} share") if names else []
    if pre is not None:
        out.pre = open_imagery(pre, bands, dn_offset)
        check_same_grid(r, out.pre, "pre-fire image")
        out.nir = choose_nir(out.pre.bands, common, nir=nir, sources=[str(pre), f"{pred} and {ref}"])
    return out


def _images(inputs: PairInputs, protocol: Protocol) -> list[Window]:
    h, w = inputs.ref.height, inputs.ref.width
    if protocol.patch is None:
        return [Window(0, 0, w, h)]
    step = protocol.patch
    return [Window(c, r, min(step, w - c), min(step, h - r)) for r in range(0, h, step) for c in range(0, w, step)]


def _offset(win: Window, image: Window) -> Window:
    return Window(win.col_off + image.col_off, win.row_off + image.row_off, win.width, win.height)


def score_pair(
    inputs: PairInputs,
    protocol: str | Protocol = "cloudfree",
    *,
    thresholds: Sequence[float] | str | None = None,
    name: str | None = None,
    block: int = BLOCK,
) -> list[dict]:
    """Image results (module docstring) of ``inputs`` under ``protocol``, streamed by windows."""
    proto = protocol if isinstance(protocol, Protocol) else get_protocol(protocol)
    if proto.mask_required and inputs.mask is None:
        raise EvaluationInputError(f"the {proto.name} protocol needs the target's cloud mask (--mask / --mask-dir)")
    bounds = parse_thresholds(thresholds)
    bands = inputs.bands
    results = []
    for image in _images(inputs, proto):
        metrics: dict[str, ImageMetrics] = {}
        agree: dict[str, dict[str, IndexAgreement]] = {plan.name: {} for plan in inputs.plans}
        severity: dict[str, SeverityAgreement] = {}
        for hw in halo_windows(int(image.height), int(image.width), block):
            read, core = _offset(hw.read, image), _offset(hw.core, image)
            pr, rr = inputs.pred.read(select=bands, window=read), inputs.ref.read(select=bands, window=read)
            p, r = scale(pr, proto), scale(rr, proto)
            valid = np.isfinite(p).all(0) & np.isfinite(r).all(0)
            smap, sam = window_maps(p, r, valid)
            rows, cols = hw.inner
            p, r, valid, smap, sam = (
                p[:, rows, cols],
                r[:, rows, cols],
                valid[rows, cols],
                smap[:, rows, cols],
                sam[rows, cols],
            )
            mask = inputs.mask.read(window=core) if inputs.mask is not None else None
            sel = subsets(valid, mask, proto)
            for key, s in sel.items():
                metrics.setdefault(key, ImageMetrics(bands)).add(p, r, s, smap, sam)
            if inputs.plans or inputs.pre is not None:
                pp, rp = physical(pr.window(_inner(hw))), physical(rr.window(_inner(hw)))
            if inputs.plans:
                ip, ir = compute_indices(pp, bands, inputs.plans), compute_indices(rp, bands, inputs.plans)
                for k, plan in enumerate(inputs.plans):
                    for key, s in sel.items():
                        agree[plan.name].setdefault(key, IndexAgreement()).add(ip[k], ir[k], s)
            if inputs.pre is not None:
                pre = inputs.pre.read(select=[inputs.nir, "B12"], window=core)
                before = nbr(physical(pre), pre.bands, inputs.nir)
                cp = classify(before - nbr(pp, bands, inputs.nir), bounds)
                cr = classify(before - nbr(rp, bands, inputs.nir), bounds)
                for key, s in sel.items():
                    severity.setdefault(key, SeverityAgreement()).add(cp, cr, s)
        result: dict = {"image": name or str(inputs.pred.path), "window": [int(v) for v in image.flatten()]}
        result.update({key: acc.result() for key, acc in metrics.items()})
        if agree:
            result["indices"] = {idx: {k: a.result() for k, a in by.items()} for idx, by in agree.items()}
        if severity:
            result["severity"] = {key: acc.result() for key, acc in severity.items()}
        result["pixels"] = {key: acc.n for key, acc in metrics.items()}
        results.append(result)
    return results


def _inner(hw) -> Window:
    rows, cols = hw.inner
    return Window(cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start)
