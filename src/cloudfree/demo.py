"""The demo chain: a real clear scene -> synthetic clouds -> mask -> cloud removal -> metrics.

By default the scene is a real clear, georeferenced Sentinel-2 patch that an installed package
ships: BigEarthNet-S2 example ``S2A_MSIL2A_20170617T113321_4_55`` from ``bigearthnet-common``
(B02, B03, B04, B08 at 10 m, L2A DN, 120 x 120 px, UTM zone 29N; a window no default model was
trained on), so every output COG carries its CRS and transform. (The spyndex sample scene has no
known location, so it is not used for outputs.) Clouds are realistic simulated ones (cumulus,
stratiform sheets or haze with their shadows, :mod:`cloudfree.data.cloud_fields`). ``input=`` runs
the same chain on a user's own clear scene, which keeps its CRS and transform throughout. The ground
truth is the clear scene itself, so the metrics say how close the
result is to what the clouds hid, compared with leaving the cloudy input as it is.

Outputs in ``out_dir``: ``clear.tif`` (truth), ``cloudy.tif``, ``mask_truth.tif`` (simulator),
``mask.tif`` (what the mask model found), ``result.tif`` (cloud-free COG), ``demo.png``,
``metrics.json`` (``{"result": ..., "cloudy_input": ...}`` in the ``cloudfree evaluate`` structure,
both against the truth over the true cloud mask), ``provenance.tif`` (which pixels the model made),
``report.html`` (self-contained: before/after swipe, overlays, metrics) and ``summary.json``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cloudfree import bands as bandcat
from cloudfree.data.holdout import DEMO_PATCH, bigearthnet_package_patch, spyndex_scene  # noqa: F401 (re-export)
from cloudfree.data.synthetic_clouds import CloudSimulator
from cloudfree.evaluation.figures import stretch_limits, to_rgb
from cloudfree.evaluation.html_report import write_html_report
from cloudfree.evaluation.report import evaluate_rasters
from cloudfree.inference.automask import REMOVAL_DILATE_M, REMOVAL_HOLES_HA, dilation_px, hole_px
from cloudfree.inference.composite import cloud_of
from cloudfree.inference.mask_scene import mask_scene
from cloudfree.inference.removal import remove
from cloudfree.io import read_mask, read_raster, write_mask, write_raster
from cloudfree.io.atomic import atomic_path
from cloudfree.io.open import open_raster
from cloudfree.raster import Raster

# Default removal model per input band set; the mask model reads B02, B03, B04, B08.
REMOVAL_MODELS = (("default-l1c13", bandcat.resolve("l1c13")), ("default-rgbn", bandcat.resolve("rgbn")))
MASK_MODEL = "default-mask"


@dataclass
class DemoResult:
    """Paths written by the demo and its headline figures."""

    out_dir: Path
    files: dict[str, Path]
    metrics: dict[str, Any]
    mask_scores: dict[str, float]
    seconds: dict[str, float] = field(default_factory=dict)


def pick_removal_model(scene_bands: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """The default removal model whose input bands the scene holds (13 L1C bands first)."""
    for name, needed in REMOVAL_MODELS:
        if all(b in scene_bands for b in needed):
            return name, needed
    raise ValueError(
        f"the scene's bands {list(scene_bands)} hold neither the 13 L1C bands nor B02, B03, B04, B08 that the "
        f"default models need"
    )


def mask_scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """IoU, F1, precision and recall of cloud+shadow (codes 1-3) against the true mask, valid pixels only."""
    valid = (truth != 255) & (pred != 255)
    p, t = cloud_of(pred)[valid], cloud_of(truth)[valid]
    tp, fp, fn = float((p & t).sum()), float((p & ~t).sum()), float((~p & t).sum())
    return {
        "iou": tp / max(tp + fp + fn, 1.0),
        "f1": 2 * tp / max(2 * tp + fp + fn, 1.0),
        "precision": tp / max(tp + fp, 1.0),
        "recall": tp / max(tp + fn, 1.0),
        "true_cloud_fraction": float(t.mean()) if t.size else 0.0,
        "predicted_cloud_fraction": float(p.mean()) if p.size else 0.0,
    }


def write_demo_figure(
    cloudy: Raster,
    mask: np.ndarray,
    result: Raster,
    truth: Raster,
    path: Path,
    true_mask: np.ndarray | None = None,
    title: str | None = None,
) -> Path:
    """Panels cloudy / simulated mask / mask used / result / reference, true colour (B04, B03, B02).

    All RGB panels share ONE stretch, the reference's 2-98 % per band (so colours compare across
    panels and bright clouds saturate instead of darkening the ground); masks: black clear, white
    thick cloud, light blue thin cloud, orange shadow.
    """
    from matplotlib.figure import Figure

    rgb = ("B04", "B03", "B02")
    views = [r.to_reflectance().select(rgb) for r in (cloudy, result, truth)]
    limits = stretch_limits(views[2].data, truth.valid)
    colours = np.array([[0.1, 0.1, 0.1], [1.0, 1.0, 1.0], [0.55, 0.75, 1.0], [0.9, 0.45, 0.1]])

    def codes_rgb(codes: np.ndarray) -> np.ndarray:
        return colours[np.where(codes == 255, 0, codes).clip(0, 3)]

    panels = [("cloudy input (simulated clouds)", to_rgb(views[0].data, limits, cloudy.valid))]
    if true_mask is not None:
        panels.append(("simulated clouds (truth)", codes_rgb(true_mask)))
    panels += [
        ("mask used (default-mask model, grown 40 m)", codes_rgb(mask)),
        ("cloudfree result", to_rgb(views[1].data, limits, result.valid)),
        ("reference (the clear scene)", to_rgb(views[2].data, limits, truth.valid)),
    ]
    fig = Figure(figsize=(3.6 * len(panels), 4.2), dpi=110)
    axes = fig.subplots(1, len(panels))
    for ax, (title, image) in zip(axes, panels, strict=True):
        ax.imshow(image, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    fig.suptitle(f"{title or truth.source}; true colour (B04, B03, B02), reference 2-98 % stretch", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def run_demo(
    out_dir: str | os.PathLike[str],
    *,
    input: str | os.PathLike[str] | None = None,
    bands: str | None = None,
    coverage: float = 0.35,
    seed: int = 7,
    model: str | None = None,
    mask_model: str = MASK_MODEL,
    device: str | None = "cpu",
    progress: bool = True,
) -> DemoResult:
    """Run the whole chain and write its outputs to ``out_dir`` (see the module docstring)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    scene = (
        bigearthnet_package_patch(DEMO_PATCH)
        if input is None
        else open_raster(input, bands=bands)
        if bands
        else open_raster(input)
    )
    if not scene.valid.any():
        raise ValueError(f"{scene.source}: the scene holds no valid pixel")
    model_name, model_bands = (model, None) if model else pick_removal_model(scene.bands)
    if model_bands is not None:
        scene = scene.select(model_bands)
    files = {
        "clear": out / "clear.tif",
        "cloudy": out / "cloudy.tif",
        "mask_truth": out / "mask_truth.tif",
        "mask": out / "mask.tif",
        "result": out / "result.tif",
        "figure": out / "demo.png",
        "metrics": out / "metrics.json",
        "summary": out / "summary.json",
        "provenance": out / "provenance.tif",
        "report": out / "report.html",
    }
    write_raster(scene, files["clear"])
    simulator = CloudSimulator(cloud_type="mixed", coverage=coverage, thin_fraction=(0.2, 0.4))
    cloudy, truth_mask, _ = simulator.simulate_raster(scene, rng=seed)
    write_raster(cloudy, files["cloudy"], tags={"CLOUDFREE_SIMULATOR": simulator.describe(), "SEED": str(seed)})
    truth_mask = np.where(scene.valid, truth_mask, 255).astype(np.uint8)
    write_mask(truth_mask, scene, files["mask_truth"], description="simulated clouds: 0 clear 1 thick 2 thin 3 shadow")
    timings["prepare"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    # The own U-Net, not `auto`: it also learnt simulated clouds, while ukis-csmask (the default on real
    # scenes) finds only ~2 % of these simulated clouds (flat, texture-less cores: a simulator limit).
    # grown by the same 40 m as `remove --mask auto` (automask.REMOVAL_DILATE_M): edges the mask misses
    # would otherwise stay as bright rims and shadowed borders would darken the fill; small clear gaps
    # inside clouds are closed as `remove` does (REMOVAL_HOLES_HA)
    grow = dilation_px(scene.transform, scene.crs, REMOVAL_DILATE_M)
    holes = hole_px(scene.transform, scene.crs, REMOVAL_HOLES_HA)
    masked = mask_scene(files["cloudy"], files["mask"], method="unet", model=mask_model, device=device,
                        progress=progress, overwrite=True, dilate=grow, fill_holes=holes)  # fmt: skip
    timings["mask"] = time.perf_counter() - t0
    predicted_mask = read_mask(files["mask"])

    t0 = time.perf_counter()
    remove(files["cloudy"], files["result"], model=model_name, mask=files["mask"], device=device, progress=progress,
           provenance=files["provenance"])  # fmt: skip
    timings["remove"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    truth = read_raster(files["clear"])
    result = read_raster(files["result"])
    cloudy_back = read_raster(files["cloudy"])
    metrics = {
        "result": evaluate_rasters(result, truth, mask=truth_mask),
        "cloudy_input": evaluate_rasters(cloudy_back, truth, mask=truth_mask),
    }
    with atomic_path(files["metrics"]) as tmp:
        tmp.write_text(json.dumps(metrics, indent=2))
    scores = mask_scores(predicted_mask, truth_mask)
    write_demo_figure(cloudy_back, predicted_mask, result, truth, files["figure"], true_mask=truth_mask,
                      title=scene.tags.get("SOURCE", str(scene.source)))  # fmt: skip
    settings = {"scene": str(scene.source), "bands": ",".join(scene.bands), "removal model": model_name,
                "mask": f"{masked.method} ({masked.reason})", "simulated cloud cover": coverage,
                "seed": seed}  # fmt: skip
    write_html_report(files["report"], before=files["cloudy"], after=files["result"], reference=files["clear"],
                      mask=files["mask"], provenance=files["provenance"], metrics=metrics,
                      settings=settings)  # fmt: skip
    timings["evaluate"] = time.perf_counter() - t0
    summary = {
        "scene": scene.source,
        "bands": list(scene.bands),
        "removal_model": model_name,
        "mask_method": masked.method,
        "coverage_requested": coverage,
        "seed": seed,
        "mask_scores": scores,
        "seconds": timings,
        "files": {k: str(v) for k, v in files.items()},
    }
    with atomic_path(files["summary"]) as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
    return DemoResult(out, files, metrics, scores, timings)
