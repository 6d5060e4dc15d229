"""One streaming pass of a released model over a scene: single-date, SAR-optical or multi-temporal.

Inputs go to the engine (:func:`~cloudfree.inference.streaming.predict_scene`) as named groups
stacked on the scene's grid (:class:`~cloudfree.inference.runner.ChannelLayout`); Sentinel-1 and an
earlier date on other grids are reprojected onto it on the fly. :class:`~.runner.ModelRunner` feeds
the model; ``finalize`` composites (:mod:`.composite`): only cloud and shadow pixels are replaced,
with a feathered edge, clear pixels keep their input values exactly. The mask is a file (or the
``auto`` mask made before), or, without one, the model's own estimate: cloud where the mean absolute
difference between estimate and input over the output bands exceeds ``threshold`` (reflectance).
With a mask, the model runs only on tiles within ``feather`` px of a cloud or shadow pixel
(:mod:`.cloud_tiles`; the other tiles' output is the input, and the bytes written are the same).

The same pass writes, on request, the provenance layer (:mod:`.provenance`), the diffusion spread
(std over samples, reflectance; 0 where the input is kept) and the mask used. With
``keep_bands`` the output holds every band of the scene in file order, the ones the model does
not produce carried through unchanged (bit-identical for DN output).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from cloudfree.inference.automask import REMOVAL_DILATE_M, REMOVAL_HOLES_HA
from cloudfree.inference.background import SceneBackground, scene_background
from cloudfree.inference.checks import warn_no_ground
from cloudfree.inference.cloud_tiles import SkipClearTiles, tiles_needing_model
from cloudfree.inference.composite import (
    OUTPUT_DTYPES,
    cloud_of,
    composite,
    default_dtype,
    feather_weights,
    mask_output,
    output_offset,
    output_tags,
    read_mask_window,
)
from cloudfree.inference.grid import TileGrid
from cloudfree.inference.provenance import model_provenance, provenance_output
from cloudfree.inference.runner import ChannelLayout, ModelRunner
from cloudfree.inference.sources import InputSpec, input_info
from cloudfree.inference.streaming import OutputSpec, SceneSummary, predict_scene
from cloudfree.io.geotiff import RADIOMETRY_TAG, RasterInfo, dn_offset_from_tags, infer_radiometry, open_info, read_mask
from cloudfree.models.release import ReleaseConfig
from cloudfree.radiometry import Radiometry

#: Default tiles per forward pass. On CPU a default model takes the same time per tile in batches of
#: 2 as of 8 (bench: ~0.2 s per 256 px tile either way on 2 cores) with a quarter of the activation
#: memory (~150 MB instead of ~500 MB for default-l1c13); a GPU wants larger batches.
CPU_BATCH = 2
GPU_BATCH = 8


@dataclass(frozen=True)
class RemovalOptions:
    """Settings of a removal run that do not depend on the scene (picklable).

    Attributes:
        tile, overlap: streaming tiles and their overlap (pixels).
        batch_size: tiles per forward pass; default (None) :data:`CPU_BATCH` on CPU, :data:`GPU_BATCH` on a GPU.
        device: ``cpu`` / ``cuda`` (default: cuda when available).
        dtype: ``uint16`` (DN with the input's DN offset) or ``float32`` reflectance; default: the input's kind.
        steps, samples, seed: diffusion sampling (default: the release's recorded values, else 20 and 1).
        feather: width in pixels of the blending ramp outside the mask.
        threshold: the maskless fallback's reflectance difference.
        replace_all: output the estimate everywhere, not only under the mask.
        keep_bands: carry the scene's bands that the model does not produce through unchanged.
        bands, dn_offset: band names of the scene in file order / its DN offset, for files that lack them.
        progress: tqdm progress bars on stderr.
        mask_dilate_m: ``--mask auto`` grows cloud and shadow by this many metres (see
            :mod:`cloudfree.inference.automask`); masks given as files are used as they are.
        mask_holes_ha: ``--mask auto`` then sets clear patches enclosed by cloud of up to this many
            hectares to cloud.
    """

    tile: int = 256
    overlap: int = 32
    batch_size: int | None = None
    device: str | None = None
    dtype: str | None = None
    steps: int | None = None
    samples: int | None = None
    seed: int = 0
    feather: int = 4
    threshold: float = 0.05
    replace_all: bool = False
    keep_bands: bool = False
    bands: str | None = None
    dn_offset: float | None = None
    progress: bool = True
    mask_dilate_m: float = REMOVAL_DILATE_M
    mask_holes_ha: float = REMOVAL_HOLES_HA

    def check(self) -> None:
        if self.tile < 1 or not 0 <= self.overlap < self.tile:
            raise ValueError(f"--overlap must be in 0..{self.tile - 1} for --tile {self.tile}")
        if self.dtype is not None and self.dtype not in OUTPUT_DTYPES:
            raise ValueError(f"output dtype must be one of {list(OUTPUT_DTYPES)}, got {self.dtype!r}")
        if (self.batch_size is not None and self.batch_size < 1) or self.feather < 0:
            raise ValueError("--batch-size must be >= 1 and --feather >= 0")
        if self.mask_dilate_m < 0:
            raise ValueError(f"--mask-dilate must be >= 0 metres, got {self.mask_dilate_m}")
        if self.mask_holes_ha < 0:
            raise ValueError(f"--mask-holes must be >= 0 hectares, got {self.mask_holes_ha}")


def primary_bands(config: ReleaseConfig, names: tuple[str, ...], *, keep_bands: bool) -> tuple[str, ...]:
    """The scene's bands read as the first input: model inputs, output-only bands, then (``keep_bands``) the rest."""
    primary = tuple(config.in_bands) + tuple(b for b in config.out_bands if b not in config.in_bands)
    return primary + tuple(b for b in names if b not in primary) if keep_bands else primary


def band_offsets(info: RasterInfo, names: tuple[str, ...], wanted: tuple[str, ...], override: float | None = None):
    """DN offsets of the ``wanted`` bands: ``override``, else the file's tags, else 0."""
    if override is not None:
        return np.full(len(wanted), override, np.float32)
    offset = dn_offset_from_tags(info.tags, len(names))
    offset = np.zeros(len(names), np.float32) if offset is None else offset
    return offset[[names.index(b) for b in wanted]]


class ModelPass:
    """A loaded model + options, run over one scene by :meth:`__call__`."""

    @property
    def batch_size(self) -> int:
        """Tiles per forward pass: the option, else :data:`GPU_BATCH` on a GPU and :data:`CPU_BATCH` on CPU."""
        if self.opt.batch_size is not None:
            return self.opt.batch_size
        return GPU_BATCH if str(self.device).startswith("cuda") else CPU_BATCH

    def __init__(
        self, net: nn.Module, config: ReleaseConfig, options: RemovalOptions, *, device: str, log: Callable[[str], None]
    ) -> None:
        self.net, self.config, self.opt, self.device, self.log = net, config, options, device, log

    def __call__(
        self,
        src: Path,
        names: tuple[str, ...],
        output: Path,
        *,
        mask: Path | None,
        mask_how: str,
        choice: Any,
        sar: Any = None,
        prev: Any = None,
        prev_sar: Any = None,
        uncertainty: Any = None,
        write_mask: Any = None,
        provenance: Path | None = None,
        base: Path | None = None,
        keep_bands: bool = False,
        tags: dict[str, Any] | None = None,
        no_ground: bool = False,
    ) -> SceneSummary:
        """Run the model over ``src``; write ``output`` and the extra layers asked for. ``no_ground``: no
        clear pixel and no other date or SAR (:func:`.checks.warn_without_clear_ground`): the model does
        not run, and what it would have filled is nodata (provenance 255), never a constant."""
        opt, config = self.opt, self.config
        info = input_info(src, opt.bands, dn_offset=opt.dn_offset)
        radiometry = Radiometry(infer_radiometry(names, info.dtype, info.tags))
        dtype = opt.dtype or default_dtype(radiometry)
        primary = primary_bands(config, names, keep_bands=keep_bands)
        out_names = tuple(b for b in names if b in primary) if keep_bands else tuple(config.out_bands)
        layout = ChannelLayout()
        inputs = [InputSpec(src, select=primary, bands=names if opt.bands else None, dn_offset=opt.dn_offset)]
        layout.add("primary", len(primary))
        for group, path, select in (
            ("sar", sar, config.sar_bands),
            ("prev_optical", prev, config.in_bands),
            ("prev_sar", prev_sar, config.sar_bands),
        ):
            if path is not None:  # --bands names the earlier Sentinel-2 image's bands too
                names_of = names if opt.bands and group == "prev_optical" else None
                inputs.append(InputSpec(Path(path), select=tuple(select), bands=names_of))
                layout.add(group, len(select))
                if group != "prev_optical" and open_info(path).tags.get(RADIOMETRY_TAG) == Radiometry.SAR_LINEAR.value:
                    layout.sar_linear.add(group)
        if config.uses_mask:
            inputs.append(InputSpec(Path(mask), kind="mask"))  # type: ignore[arg-type]
            layout.add("mask", 1)
        background = self._background(inputs[0], inputs[-1]) if config.uses_mask and not no_ground else None
        if background is None and self._uses_background() and not no_ground and choice.variant == "single-date":
            # the mask has clear pixels, but only where the scene is nodata: nothing to fill from either
            warn_no_ground(src.name, "no clear pixel where the scene has data")
            no_ground = True
        runner = ModelRunner(self.net, config, layout, device=self.device, steps=opt.steps, samples=opt.samples,
                             seed=opt.seed, with_std=uncertainty is not None, background=background)  # fmt: skip
        offset = output_offset(radiometry, band_offsets(info, names, out_names, opt.dn_offset), dtype)
        how = "replace-all" if opt.replace_all else f"mask {mask_how}"
        run_tags = output_tags(
            info, dtype, offset, method=f"model ({choice.variant}; {how})", model=config.name,
            model_version=config.version, replaced="all pixels" if opt.replace_all else "cloud and shadow pixels",
            extra={"CLOUDFREE_METHOD_REASON": choice.reason, "CLOUDFREE_MASK": mask_how,
                   **{k: str(v) for k, v in (("CLOUDFREE_SAR", sar), ("CLOUDFREE_PREV", prev),
                                             ("CLOUDFREE_PREV_SAR", prev_sar)) if v is not None}, **(tags or {})},
        )  # fmt: skip
        extras = []
        if uncertainty is not None:
            extras.append(OutputSpec(Path(uncertainty), tuple(config.out_bands), "float32",
                                     tags=run_tags | {RADIOMETRY_TAG: Radiometry.REFLECTANCE.value,
                                                      "CLOUDFREE_LAYER": "uncertainty (std)"}))  # fmt: skip
        if write_mask is not None:
            extras.append(OutputSpec(Path(write_mask), ("mask",), "uint8", 255, {"CLOUDFREE_LAYER": "mask used"}))
        if provenance is not None:
            dates = [prev] if prev is not None else _dates_of(base)
            extras.append(
                provenance_output(Path(provenance), dates, {"CLOUDFREE_METHOD": run_tags["CLOUDFREE_METHOD"]})
            )
        finalize = self._finalize(info, out_names, dtype, offset, mask, uncertainty, write_mask, provenance, base,
                                  no_ground=no_ground)  # fmt: skip
        hooks = self._skip_clear(mask, info, primary, with_std=uncertainty is not None, skip_all=no_ground)
        summary = predict_scene(inputs, output, runner, out_descriptions=out_names, out_dtype=dtype, tags=run_tags,
                                tile=opt.tile, overlap=opt.overlap, batch_size=self.batch_size, finalize=finalize,
                                extra_outputs=extras, progress=opt.progress, desc=f"remove {src.name}",
                                skip=hooks and hooks.skip, fill=hooks and hooks.fill)  # fmt: skip
        summary.extra["model_tiles"] = summary.tiles - summary.extra["skipped_tiles"]
        return summary

    def _uses_background(self) -> bool:
        """Whether the pass builds the prior over the scene-wide background (opacity releases, a mask)."""
        return self.config.arguments.get("mask_encoding") == "opacity" and not self.opt.replace_all

    def _background(self, optical: InputSpec, mask: InputSpec) -> SceneBackground | None:
        """The scene-wide clear-sky background (:mod:`.background`) for models that use it, else None
        (also when no valid pixel is clear)."""
        if not self._uses_background():
            return None
        spec = InputSpec(optical.path, select=tuple(self.config.in_bands), bands=optical.bands,
                         dn_offset=optical.dn_offset)  # fmt: skip
        return scene_background(spec, mask)

    def _skip_clear(
        self, mask: Path | None, info: RasterInfo, primary: tuple[str, ...], *, with_std: bool, skip_all: bool = False
    ):
        """Hooks that skip the model on tiles the composite cannot use (no cloud within ``feather`` px;
        :mod:`.cloud_tiles`), or None: without a mask file, with ``replace_all``, and for diffusion
        models (their noise is drawn tile after tile: skipping would change every later tile).
        ``skip_all``: no tile runs the model (a pass with no clear ground, whose fill is nodata)."""
        opt, config = self.opt, self.config
        if mask is None or opt.replace_all or (config.kind == "diffusion" and not skip_all):
            return None
        grid = TileGrid(info.height, info.width, opt.tile, opt.overlap)
        needed = set() if skip_all else tiles_needing_model(mask, grid, opt.feather)
        out_channels = [primary.index(b) for b in config.out_bands]
        return SkipClearTiles(needed, out_channels, extra=len(out_channels) if with_std else 0)

    def _finalize(self, info, out_names, dtype, offset, mask, uncertainty, write_mask, provenance, base, *,
                  no_ground: bool = False) -> Any:  # fmt: skip
        opt, config = self.opt, self.config
        model_bands = tuple(config.out_bands)
        n_out = len(model_bands)
        kept_bands = tuple(b for b in out_names if b not in model_bands)
        order = [(model_bands + kept_bands).index(b) for b in out_names]
        off = None if offset is None else dict(zip(out_names, np.asarray(offset), strict=True))

        def offsets(bands: tuple[str, ...]) -> np.ndarray | None:
            return None if off is None else np.asarray([off[b] for b in bands], np.float32)

        def finalize(blended: np.ndarray, window, raster) -> list[np.ndarray]:
            orig = raster if raster.bands == model_bands else raster.select(model_bands)  # no copy when in order
            estimate, std = blended[:n_out], blended[n_out:]
            if mask is not None:
                codes_m, rows = read_mask_window(str(mask), window, opt.feather, info.height)
                weight, codes = feather_weights(cloud_of(codes_m), opt.feather)[rows], codes_m[rows]
            elif opt.replace_all:
                weight, codes = np.ones(orig.valid.shape, np.float32), np.ones(orig.valid.shape, np.uint8)
            else:
                diff = np.abs(estimate - orig.to_reflectance().data).mean(axis=0)
                cloud = (diff > opt.threshold) & orig.valid
                weight, codes = feather_weights(cloud, opt.feather), cloud.astype(np.uint8)
            if opt.replace_all:
                weight = np.ones_like(weight)
            main = composite(orig, estimate, weight, dtype, offsets(model_bands))
            if no_ground:  # nothing on this date to fill from: nodata where the estimate would enter
                main[:, weight > 0] = 0 if np.issubdtype(main.dtype, np.integer) else np.nan
            if kept_bands:
                kept = raster.select(kept_bands)
                still = composite(kept, kept.to_reflectance().data, np.zeros_like(weight), dtype, offsets(kept_bands))
                main = np.concatenate([main, still])[order]
            out = [main]
            if uncertainty is not None:
                out.append(np.where(no_ground & (weight > 0), np.nan, std * weight[None]).astype(np.float32))
            if write_mask is not None:
                out.append(mask_output(codes, orig.valid))
            if provenance is not None:
                prior = read_mask(base, window=window) if base is not None else None
                out.append(model_provenance(weight, orig.valid & ~(no_ground & (weight > 0)), base=prior))
            return out

        return finalize


def _dates_of(base: Path | None) -> list[str]:
    """The dates named by an earlier provenance layer (temporal fill), in code order."""
    if base is None:
        return []
    return json.loads(open_info(base).tags.get("CLOUDFREE_PROVENANCE_DATES", "[]"))
