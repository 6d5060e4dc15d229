"""From the rows an input holds to the float32 channel stack tiles are cut from, and what hooks see of it.

For each batch of tiles the engine builds one float32 array ``(C, h, w)`` over the columns the
batch covers (never a whole full-width strip): the channels of every input in
order (DN as reflectance 0..1 when asked, SAR in dB, masks as codes), then, when the pipeline asks
for them, one 0/1 validity channel per raster input. :func:`stack_strip` writes each input
straight into its place in that one array (the reflectance conversion computes into it; no
per-input temporaries, no concatenation), with the very operations of
:meth:`cloudfree.raster.Raster.to_reflectance`, so the values are the same bits.
:func:`view` gives ``predict``, ``skip`` and ``fill`` their view of stacked tiles: an array (list
inputs) or a dict of named inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cloudfree.inference.sources import MASK, Source, as_float
from cloudfree.radiometry import Radiometry, dn_to_reflectance
from cloudfree.raster import Raster


def stack_strip(
    sources: Sequence[Source], rasters: Sequence[Raster], to_reflectance: bool, validity: bool
) -> tuple[np.ndarray, np.ndarray, list[slice]]:
    """The stack of ``rasters`` (a strip's rows, any columns), the first input's ``(h, w)`` validity and the
    channel slice of each input.

    Args:
        sources: the inputs (their kind: raster or mask).
        rasters: each input's rows of the strip, ``(C_i, h, w)`` in its own units.
        to_reflectance: DN inputs as reflectance (``(DN + offset) / 10000``, 0 at nodata).
        validity: append one 0/1 channel per raster input.

    Returns ``(x, valid, slices)``: ``x`` float32 ``(C, h, w)``; ``slices`` one per input, then the
    validity channels' slice (past the end of ``x`` when ``validity`` is False).
    """
    counts = [r.data.shape[0] for r in rasters]
    valids = [r.valid for s, r in zip(sources, rasters, strict=True) if s.spec.kind != MASK]
    h, w = rasters[0].data.shape[1:]
    x = np.empty((sum(counts) + (len(valids) if validity else 0), h, w), np.float32)
    slices, c = [], 0
    for src, raster, n in zip(sources, rasters, counts, strict=True):
        dst = x[c : c + n]
        if src.spec.kind == MASK:
            dst[...] = raster.data
        elif to_reflectance and raster.radiometry is Radiometry.DN:
            dn_to_reflectance(raster.data, raster.dn_offset, out=dst)
            dst[:, ~raster.valid] = 0.0
        else:
            dst[...] = as_float(raster, to_reflectance)
        slices.append(slice(c, c + n))
        c += n
    if validity:
        for k, v in enumerate(valids):
            x[c + k] = v
    slices.append(slice(c, c + len(valids)))
    return x, valids[0], slices


def view(
    x: np.ndarray, slices: list[slice], names: list[str], named: bool, validity: bool, batched: bool = False
) -> Any:
    """What ``predict``/``skip``/``fill`` see of stacked channels ``x`` (``(C, S, S)``, or ``(N, C, S, S)``
    when ``batched``): the channels as an array (list inputs) or ``{name: channels}`` (named inputs),
    with the validity channels (``"valid"``) when ``validity``."""
    if not named:
        stop = slices[-1].stop if validity else slices[-1].start
        return x[:, :stop] if batched else x[:stop]
    take = (lambda s: x[:, s]) if batched else (lambda s: x[s])
    out = {name: take(s) for name, s in zip(names, slices[:-1], strict=True)}
    if validity:
        out["valid"] = take(slices[-1])
    return out
