"""Cloud removal over a whole scene: :func:`remove`, the Python face of ``cloudfree remove``.

:func:`remove` builds a :class:`~cloudfree.inference.remover.Remover` for one scene; to run many
scenes with one model load, build the Remover once and call it per scene (or use
:class:`~cloudfree.inference.remover.RemoverFactory` with a batch runner). The pieces:

* :mod:`.checks` - side inputs on the right grid, outputs that harm nothing;
* :mod:`.methods` - ``method="auto"``: other dates, then Sentinel-1, then the single-date model;
* :mod:`.automask` - ``mask="auto"``: the mask pipeline's choice for the scene;
* :mod:`.model_pass` / :mod:`.runner` - a released model streamed over the scene;
* :mod:`.temporal` - the temporal fill and baselines;
* :mod:`.provenance` - which pixels are original, from which date, or generated.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from cloudfree.inference.automask import REMOVAL_DILATE_M, REMOVAL_HOLES_HA, auto_mask
from cloudfree.inference.loading import DEFAULT_MODEL, default_device, resolve_model
from cloudfree.inference.model_pass import RemovalOptions, band_offsets
from cloudfree.inference.remover import AUTO, THRESHOLD, Remover, RemoverFactory
from cloudfree.inference.runner import ModelRunner
from cloudfree.inference.streaming import SceneSummary

__all__ = [
    "AUTO",
    "DEFAULT_MODEL",
    "THRESHOLD",
    "ModelRunner",
    "RemovalOptions",
    "Remover",
    "RemoverFactory",
    "auto_mask",
    "band_offsets",
    "default_device",
    "remove",
    "resolve_model",
]

PathLike = str | os.PathLike[str]


def remove(
    input: PathLike,
    output: PathLike,
    *,
    model: PathLike | None = None,
    method: str = AUTO,
    mask: PathLike | None = AUTO,
    sar: PathLike | None = None,
    prev: PathLike | None = None,
    prev_sar: PathLike | None = None,
    series: Sequence[PathLike] = (),
    series_masks: Sequence[PathLike] | None = None,
    replace_all: bool = False,
    keep_bands: bool = False,
    tile: int = 256,
    overlap: int = 32,
    batch_size: int | None = None,
    device: str | None = None,
    dtype: str | None = None,
    steps: int | None = None,
    samples: int | None = None,
    uncertainty: PathLike | None = None,
    write_mask: PathLike | None = None,
    provenance: PathLike | None = None,
    threshold: float = 0.05,
    feather: int = 4,
    seed: int = 0,
    bands: str | None = None,
    dn_offset: float | None = None,
    overwrite: bool = True,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    mask_dilate_m: float = REMOVAL_DILATE_M,
    mask_holes_ha: float = REMOVAL_HOLES_HA,
) -> SceneSummary:
    """Remove clouds from ``input``; write a georeferenced COG to ``output``.

    Args:
        input: Sentinel-2 GeoTIFF holding (at least) the model's input and output bands.
        output: destination COG (written atomically); never one of the inputs.
        model: release name (packaged default) or directory; default ``default-rgbn`` when packaged.
        method: ``auto`` (other dates, then Sentinel-1, then the single-date model; see
            :mod:`.methods`), ``model``, or a temporal baseline (``gapfill``, ``least-cloudy``,
            ``mosaic``, ``median``).
        mask: cloud/shadow mask file exactly on the input's grid (codes 0 clear, 1-3 cloud/shadow,
            255 nodata; or binary 0/1), ``"auto"`` (the mask pipeline), or ``"threshold"`` /
            ``None`` (the model's own estimate; not for mask-channel models).
        sar: Sentinel-1 VV, VH (dB, or linear power tagged ``sar_linear``) at the input's date, for
            SAR-capable releases; reprojected onto the input's grid when needed.
        prev, prev_sar: the earlier Sentinel-2 image and its Sentinel-1, for the multi-temporal
            S1+S2 release; reprojected onto the input's grid when needed.
        series, series_masks: other dates of the same place (and their masks, each on its own
            file's grid; computed with the auto mask when not given) for the temporal fill.
        replace_all: output the estimate everywhere instead of only under the mask.
        keep_bands: carry the input's bands that the model does not produce through unchanged.
        tile, overlap, batch_size: streaming tiles (pixels) and tiles per forward pass (default: 2 on
            CPU, 8 on a GPU).
        device: ``cpu`` or ``cuda`` (default: cuda when available).
        dtype: ``uint16`` (DN with the input's DN offset) or ``float32`` (reflectance); default:
            uint16 for DN inputs, float32 for reflectance inputs.
        steps, samples, seed: diffusion sampling steps, samples per tile (mean = estimate), seed.
        uncertainty: write the diffusion spread (std over samples, reflectance) here.
        write_mask: write the mask that was used here (uint8 codes, 255 nodata).
        provenance: write the provenance layer here (``"auto"``: ``<output stem>_provenance.tif``).
        threshold: mean absolute reflectance difference above which the maskless fallback says cloud.
        feather: width in pixels of the blending ramp outside the mask.
        bands, dn_offset: band names (file order) and DN offset for files that lack them.
        overwrite: replace an existing output (the Python default; the CLI asks for ``--overwrite``).
        progress: tqdm progress bars on stderr.
        log: receives the decisions (method, mask, notes); default: stderr.
        mask_dilate_m: with ``mask="auto"``, grow cloud and shadow by this many metres (40; 0: off).
        mask_holes_ha: with ``mask="auto"``, then set clear patches enclosed by cloud of up to this
            many hectares (at least 64 px) to cloud (4; 0: off).
    """
    options = RemovalOptions(
        tile=tile, overlap=overlap, batch_size=batch_size, device=device, dtype=dtype, steps=steps, samples=samples,
        seed=seed, feather=feather, threshold=threshold, replace_all=replace_all, keep_bands=keep_bands, bands=bands,
        dn_offset=dn_offset, progress=progress, mask_dilate_m=mask_dilate_m, mask_holes_ha=mask_holes_ha,
    )  # fmt: skip
    return Remover(model, options, log=log)(
        input, output, method=method, mask=mask, sar=sar, prev=prev, prev_sar=prev_sar, series=series,
        series_masks=series_masks, uncertainty=uncertainty, write_mask=write_mask, provenance=provenance,
        overwrite=overwrite,
    )  # fmt: skip
