"""Cloud and shadow masks of whole scenes: every mask method on the streaming engine, one ``auto`` choice.

:func:`mask_scene` reads a scene, decides the method (``auto``: :func:`cloudfree.masking.auto.choose_method`
from its bands and product level; it says which and why), and writes a uint8 COG of mask codes on
the input's grid (0 clear, 1 thick, 2 thin, 3 shadow, 255 nodata), tagged with the method, the
reason and the model version.

* ``csmask-*`` (ukis-csmask) and ``unet`` run through
  :func:`cloudfree.inference.streaming.predict_scene`: overlapping tiles, class probabilities
  blended across tiles, argmax, snow and dark-water guards (:mod:`cloudfree.masking.guards`) per
  finished window. ukis-csmask works at about 30 m: tiles are ``256 * f`` input pixels (``f =
  round(30 m / resolution)``, 3 at 10 m, 1 when the resolution is unknown or coarse), reduced by
  block means and the probabilities expanded back by repetition, so the mask has no shift. The
  tile overlap (``32 * f`` px) is the context the networks need at tile edges.
* ``s2cloudless`` runs by windows with the halo its averaging and dilation need
  (:func:`cloudfree.masking.s2cloudless_adapter.s2cloudless_scene`; exact whole-scene result).
* ``scl`` maps the input's Sen2Cor SCL band (:func:`cloudfree.masking.guards.scl_to_codes`).
* ``dilate > 0`` adds a second windowed pass with a halo of ``dilate`` px over the first pass's
  mask (exact: the same as dilating the whole scene at once); ``fill_holes > 0`` then sets enclosed
  clear patches up to that many pixels to cloud in the same pass (its halo grows by
  :func:`cloudfree.masking.guards.hole_halo`; a patch reaching the window's edge is kept).

Memory is bounded by one strip of tiles (engine) or one window plus halo, never the scene.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudfree import bands as bandcat
from cloudfree.errors import OutputExistsError, RasterReadError
from cloudfree.inference.mask_runners import _csmask, _s2cloudless, _unet, _windowed
from cloudfree.inference.sources import input_info
from cloudfree.io.geotiff import RasterInfo, band_names_of, open_info
from cloudfree.masking import guards
from cloudfree.masking.auto import METHODS, SCL_BAND, MaskMethodError, choose_method, csmask_model_of, product_level
from cloudfree.masks import MaskSummary

__all__ = ["METHODS", "MaskerFactory", "OutputExistsError", "SceneMaskSummary", "mask_scene"]


@dataclass
class SceneMaskSummary(MaskSummary):
    """What :func:`mask_scene` wrote, plus the chosen ``method`` and the ``reason`` for it."""

    reason: str = ""
    tags: dict[str, str] = field(default_factory=dict)


def file_band_names(info: RasterInfo, bands: str | None) -> tuple[str, ...]:
    """Canonical band names of the file (``--bands`` or descriptions); a band described ``SCL`` keeps that name."""
    if bands is None and any((d or "").strip().upper() == SCL_BAND for d in info.descriptions):
        return tuple(
            SCL_BAND if (d or "").strip().upper() == SCL_BAND else bandcat.canonical(d or "") for d in info.descriptions
        )
    return band_names_of(info, bands)


def mask_scene(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    method: str = "auto",
    dilate: int = 0,
    fill_holes: int = 0,
    bands: str | None = None,
    dn_offset: float | None = None,
    overwrite: bool = False,
    progress: bool = True,
    level: str | None = None,
    model: str | os.PathLike[str] | None = None,
    device: str | None = None,
    tile: int | None = None,
    overlap: int | None = None,
    batch_size: int = 4,
    guards_on: bool = True,
    s2cloudless: dict[str, Any] | None = None,
    probability: str | os.PathLike[str] | None = None,
) -> SceneMaskSummary:
    """Mask a scene file into ``output`` (uint8 COG of codes on the input grid, written atomically).

    Args:
        source: Sentinel-2 GeoTIFF (DN or reflectance 0..1) with named bands (or ``bands``).
        output: mask file to write; refused if it exists unless ``overwrite``.
        method: ``auto`` (default), ``csmask``, ``unet``, ``s2cloudless`` or ``scl``.
        dilate: grow cloud and shadow by this many pixels (a disk) after masking.
        fill_holes: then set enclosed clear patches of at most this many pixels to cloud
            (:func:`cloudfree.masking.guards.fill_holes`).
        bands, dn_offset: the file's band names when undescribed; its DN offset (default: tags).
        overwrite: replace an existing output.
        progress: tqdm bars on stderr.
        level: ``L1C`` / ``L2A`` when the file's tags and name do not tell.
        model, device: ``unet`` only: release directory or packaged name, torch device.
        tile, overlap: engine tile side and overlap in input pixels (ukis-csmask: fixed 256 * f and
            32 * f; unet: default 256 and 32).
        batch_size: tiles per model call.
        guards_on: apply the snow and dark-water guards (default True).
        s2cloudless: ``s2cloudless`` only: ``threshold``, ``average_over``, ``dilation_size``
            (the package's defaults 0.4, 1, 1); ``tile`` is its window side (default 1024).
        probability: ``s2cloudless`` only: also write its cloud probability (float32) here.

    Returns a :class:`SceneMaskSummary` (``.method``, ``.reason``, class fractions, seconds).
    """
    src, dst = Path(source), Path(output)
    if method not in METHODS and not method.startswith("csmask-"):
        raise MaskMethodError(f"unknown mask method {method!r}; expected one of {list(METHODS)}")
    if dilate < 0:
        raise MaskMethodError(f"--dilate must be >= 0 pixels, got {dilate}")
    if fill_holes < 0:
        raise MaskMethodError(f"--fill-holes must be >= 0 pixels, got {fill_holes}")
    if dst.exists() and not overwrite:
        raise OutputExistsError(f"{dst}: exists; pass --overwrite to replace it")
    if dst.resolve() == src.resolve():
        raise OutputExistsError(f"{dst}: the mask would overwrite its input")
    try:  # any layout: GeoTIFF, SAFE, band files, SEN12MS-CR
        info = input_info(src, bands, dn_offset=dn_offset)
    except (bandcat.BandError, RasterReadError):  # e.g. a GeoTIFF holding the L2A SCL band, unknown to the
        info = open_info(src)  # band catalogue; open_info raises the file's own error if it is unreadable
    names = file_band_names(info, bands)
    lvl, how = product_level(names, info.tags, src.name, level)
    chosen, reason = _resolve(method, names, lvl, model, probability is not None)
    if SCL_BAND in names and chosen != "scl" and method == "auto":
        # The band catalogue (cloudfree.bands) does not know SCL yet, so the engine cannot read the
        # spectral bands of a file that also holds one: use the SCL band the product carries.
        chosen, reason = "scl", "the input carries the Sen2Cor SCL band (spectral methods cannot read it yet)"
    post = bool(dilate or fill_holes)
    target = dst if not post else dst.with_name(f".{dst.stem}.raw{dst.suffix}")
    tags = {
        "CLOUDFREE_RADIOMETRY": "label",
        "CLOUDFREE_MASK_METHOD": chosen,
        "CLOUDFREE_MASK_REASON": reason,
        "CLOUDFREE_PRODUCT_LEVEL": f"{lvl or 'unknown'} ({how})",
        "CLOUDFREE_MASK_DILATE_PX": str(dilate),
        "CLOUDFREE_MASK_FILL_HOLES_PX": str(fill_holes),
        "CLOUDFREE_CLASSES": "0 clear, 1 thick, 2 thin, 3 shadow, 255 nodata",
    }
    summary = SceneMaskSummary(dst, chosen, info.height, info.width, 0.0, reason=reason, tags=tags)
    t0 = time.perf_counter()
    try:
        if chosen.startswith("csmask-"):
            _csmask(src, target, names, chosen, info, summary, bands, dn_offset, tile, batch_size, guards_on, progress)
        elif chosen == "unet":
            _unet(src, target, names, model, device, summary, bands, dn_offset, (tile, overlap), batch_size, guards_on,
                  progress)  # fmt: skip
        elif chosen == "s2cloudless":
            _s2cloudless(src, target, level, summary, bands, dn_offset, progress, s2cloudless, tile, probability)
        else:
            _windowed(src, target, names.index(SCL_BAND), 0, lambda a: guards.scl_to_codes(a), summary, progress)
        if post:
            summary.counts.clear()
            halo = dilate + guards.hole_halo(fill_holes)
            _windowed(target, dst, 0, halo, lambda a: guards.fill_holes(guards.dilate(a, dilate), fill_holes), summary,
                      progress, tags)  # fmt: skip
    finally:
        if post and target.exists():
            target.unlink()
    summary.seconds = time.perf_counter() - t0
    return summary


def _resolve(
    method: str, names: tuple[str, ...], lvl: str | None, model: Any, probability_given: bool = False
) -> tuple[str, str]:
    if method == "auto" and model is not None:
        return "unet", f"a mask model was given ({model})"
    if method == "auto":
        return choose_method(names, lvl, unet_eligible=_unet_auto_eligible())
    if method == "csmask":
        chosen, reason = choose_method([b for b in names if b != SCL_BAND], lvl)
        if not chosen.startswith("csmask-"):
            raise MaskMethodError(f"ukis-csmask needs bands B02,B03,B04,B08 (+B11,B12); the input has {list(names)}")
        return chosen, reason + " (--method csmask)"
    if method.startswith("csmask-"):
        model = csmask_model_of(method)
        return model.name, f"--method {method}"
    if method != "s2cloudless" and probability_given:
        raise MaskMethodError("--probability is written by --method s2cloudless only")
    if method == "scl" and SCL_BAND not in names:
        raise MaskMethodError(f"--method scl needs a band described 'SCL' (Sen2Cor L2A); the input has {list(names)}")
    return method, f"--method {method}"


def _unet_auto_eligible() -> bool:
    """True when the packaged default mask model's release allows ``auto`` to pick it."""
    import json

    from cloudfree.models.release import WEIGHTS_DIR

    cfg = WEIGHTS_DIR / "default-mask" / "config.json"
    if not cfg.is_file():
        return False
    return bool(json.loads(cfg.read_text()).get("extra", {}).get("auto_eligible", False))


@dataclass(frozen=True)
class MaskerFactory:
    """Picklable worker factory for batches (``cloudfree.executors.run_batch``): masks one scene per job.

    ``MaskerFactory(method="auto", dilate=0, ...)()`` returns ``process(job) -> dict`` where ``job``
    has ``.name``, ``.output`` and ``.inputs["optical"]``; the summary dict holds the method, the
    reason and the cloud fraction.
    """

    method: str = "auto"
    dilate: int = 0
    fill_holes: int = 0
    bands: str | None = None
    dn_offset: float | None = None
    level: str | None = None
    model: str | None = None
    overwrite: bool = False
    guards_on: bool = True
    device: str | None = None

    def __call__(self):
        def process(job: Any) -> dict[str, Any]:
            inputs: Mapping[str, str] = job.inputs
            if "optical" not in inputs:
                raise MaskMethodError(f"{job.name}: a mask job needs an 'optical' input, got {sorted(inputs)}")
            s = mask_scene(
                inputs["optical"],
                job.output,
                method=self.method,
                dilate=self.dilate,
                fill_holes=self.fill_holes,
                bands=self.bands,
                dn_offset=self.dn_offset,
                level=self.level,
                model=self.model,
                overwrite=self.overwrite,
                progress=False,
                guards_on=self.guards_on,
                device=self.device,
            )
            return {"name": job.name, "method": s.method, "reason": s.reason, "cloud_fraction": s.cloud_fraction}

        return process
