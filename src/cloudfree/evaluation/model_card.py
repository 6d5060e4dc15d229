"""Model cards for released models: what a model is, what it was trained on, how well it does.

``write_model_card`` writes ``MODEL_CARD.md`` next to ``config.json`` from the release config, the
training config (data, recipe) and the held-out metrics of :mod:`cloudfree.evaluation.holdout`.
"""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from cloudfree.io.atomic import atomic_path
from cloudfree.models.release import ReleaseConfig


def _thick_cloud(config: ReleaseConfig) -> str:
    """What the release does under thick cloud, from its architecture arguments."""
    if config.arguments.get("thick_residual", True) is False:
        text = (
            "Under thick cloud its output IS the smooth classical fill (push-pull over a scene-wide clear-sky"
            " background): the network works only where the ground shows, under thin cloud and shadow"
        )
        levels = int(config.arguments.get("thick_refill_levels", 0) or 0)
        if levels:
            text += (
                f"; what it restores under a thin rim is carried about {2**levels} px into the thick cloud"
                " next to it (a correction of the fill, no weights)"
            )
        box = int(config.arguments.get("ratio_box", 0) or 0)
        if box:
            text += (
                f". Under shadow it blends in, by a learned gate, the classical estimate signal x mean(fill) /"
                f" mean(signal) over a {box} px box: the shadowed ground gets the level of its surroundings, so a"
                " shadow over ground unlike its surroundings (a field edge, water) takes their level, and thin"
                " cloud darker in blue than its surroundings (over snow) can be taken for shadow"
            )
        return text
    return "Under thick cloud it starts from a smooth classical fill (push-pull) and adds what it learnt"


LIMITS = {
    "removal": [
        "Trained for minutes on a shared 2-core CPU (budget above) on simulated clouds over the few real"
        " clear scenes available: a small model, not a production one. {thick}; it cannot know what the"
        " cloud hid, so large thick clouds come out smooth, without the fields, roads or rivers they covered.",
        "Mask channel encoded by opacity (1 thick cloud, 0.5 thin cloud or shadow): under thin cloud,"
        " haze and shadow it restores the ground from the attenuated signal; under thick cloud it never"
        " reads the input (the classical prior stands in for it), so a real cloud is filled from its"
        " surroundings, not 'seen through'. Real masks (ukis-csmask, s2cloudless) label all cloud thick,"
        " so on real scenes only shadows and SCL's thin cirrus are read through. Results follow the"
        " mask: `cloudfree remove --mask auto` grows it by 40 m (`--mask-dilate`) because cloud edges a"
        " mask misses would stay as bright rims.",
        "Real clouds differ from the simulated ones it was trained on (bench/bench_clouds.py compares"
        " object sizes, edge softness and brightness); on real cloudy scenes there is no clear reference"
        " here, so the real-scene quality is judged by eye (look_real_clouds) and by the held-out"
        " windows with simulated clouds below.",
        "Reflectance above 1.0 is clipped by the input normalisation.",
    ],
    "mask": [
        "Trained on synthetic clouds (thick, thin rims, shadows cast along a random sun azimuth) only:"
        " real cirrus sheets, haze and shadows of real clouds are harder (see the real-label scores).",
        "Uses only B02, B03, B04, B08: no cirrus (B10) or SWIR evidence, so bright surfaces (snow,"
        " salt, bright roofs) can be confused with cloud and dark water with shadow.",
        "Shadows are learnt from north-up images.",
        "Real clouds are the weak point: the model scores well on simulated clouds but misses most"
        " clouds of the independent real tile above; prefer `cloudfree mask --method s2cloudless` on"
        " Level-1C scenes, or pass your own mask to `cloudfree remove --mask`.",
    ],
}


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _table(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["(none)"]
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(r[c]) for c in cols) + " |" for r in rows]
    return lines


def _three(a: dict[str, float], b: dict[str, float] | None, c: dict[str, float], key: str, digits: int) -> str:
    """``model / biharmonic / input`` (``model / input`` when there is no biharmonic figure)."""
    return " / ".join(f"{d[key]:.{digits}f}" for d in (a, b, c) if d is not None)


def _metric_section(metrics: dict[str, Any]) -> list[str]:
    if "scenes" in metrics:
        rows = []
        for scene, m in metrics["scenes"].items():
            model, base = m["cloudy_pixels"]["model"], m["cloudy_pixels"]["cloudy_input"]
            bih = m["cloudy_pixels"].get("biharmonic")  # absent in metrics written before the peer was added
            rows.append(
                {
                    "held-out window": scene,
                    "cloud cover": m["cloud_cover"],
                    "PSNR model / biharmonic / input (dB)": _three(model, bih, base, "psnr", 2),
                    "SSIM model / biharmonic / input": _three(model, bih, base, "ssim", 3),
                    "SAM model / biharmonic / input (deg)": _three(model, bih, base, "sam", 2),
                }
            )
        return [
            f"Cloud and shadow pixels only, mean over {metrics['seeds']} simulations of realistic clouds"
            " (cumulus / stratus / haze with shadows) per window, against the clear truth; 'biharmonic' is"
            " scikit-image's `inpaint_biharmonic` (the classical peer), 'input' the no-change baseline."
            " Removal runs through `cloudfree remove` with the true mask. Windows: `cloudfree.data.holdout.HELD_OUT`.",
            "",
            *_table(rows),
        ]
    rows = [{"held-out scene": s, **m} for s, m in metrics["simulated"].items()]
    real = metrics["real_labels_cloud_labels_6band"]
    return [
        f"Simulated clouds over held-out scenes (mean over {metrics['seeds']} simulations):",
        "",
        *_table(rows),
        "",
        "Real, independently labelled tile `cloud_labels_6band` (evaluation only, never used for training or tuning):",
        "",
        *_table(
            [
                {
                    "cloud IoU": real["cloud"]["iou"],
                    "cloud F1": real["cloud"]["f1"],
                    "shadow IoU": real["shadow"]["iou"],
                    "shadow F1": real["shadow"]["f1"],
                    "pixel accuracy": real["pixel_accuracy"],
                }
            ]
        ),
    ]


def write_model_card(
    release_dir: str | os.PathLike[str],
    config: ReleaseConfig,
    metrics: dict[str, Any],
    training_config: str | os.PathLike[str],
    training: dict[str, Any] | None = None,
) -> Path:
    """Write ``MODEL_CARD.md`` into ``release_dir``.

    ``training``: what the run actually did (``minutes``, ``samples``, ``samples_per_s``, ``threads``),
    written by ``scripts/train_default_models.py``; it overrides the config's ``max_time``.
    """
    release = Path(release_dir)
    train_cfg = yaml.safe_load(Path(training_config).read_text())
    data, trainer = train_cfg.get("data", {}), train_cfg.get("trainer", {})
    monitor = ((train_cfg.get("callbacks") or {}).get("checkpoint") or {}).get("monitor", "val/psnr")
    val_windows = ", ".join(
        f"{Path(e['path']).name} {e.get('window', '')}" if isinstance(e, dict) else Path(str(e)).name
        for e in data.get("val_scenes", [])
    )
    size_mb = (release / "model.safetensors").stat().st_size / 1e6
    scenes = []
    for entry in data.get("scenes", []):
        if isinstance(entry, dict):
            extra = ", ".join(f"{k} {v}" for k, v in entry.items() if k != "path")
            scenes.append(f"- `{entry['path']}` ({extra})")
        else:
            scenes.append(f"- `{entry}`")
    lines = [
        f"# {config.name}",
        "",
        f"- kind: {config.kind}; architecture `{config.architecture}` {config.arguments}",
        f"- inputs: {', '.join(config.in_bands)} ({config.radiometry})"
        + (" + cloud/shadow mask channel" if config.uses_mask else ""),
        f"- outputs: {', '.join(config.out_bands)}",
        f"- weights: `model.safetensors`, float16, {size_mb:.1f} MB; cloudfree {config.version}",
        f"- trained: {datetime.now(UTC).strftime('%Y-%m-%d')} on {platform.machine()} CPU, time budget"
        + (
            f" {training['minutes']:.0f} min ({training.get('samples', 0)} samples of {data.get('patch')} px,"
            f" {training.get('samples_per_s', 0):.1f} samples/s on {training.get('threads', 1)} thread(s) of a"
            " shared, heavily loaded 2-core machine)"
            if training
            else f" {trainer.get('max_time', 'n/a')}"
        )
        + f", config `{Path(training_config).name}` (run `python scripts/train_default_models.py` to reproduce)"
        + (f"; {training['note']}" if training and training.get("note") else ""),
        "",
        "## Training data",
        "",
        f"Simulated clouds and shadows (`cloudfree.data.synthetic_clouds`, settings {data.get('simulator')})"
        f" drawn on the fly over {data.get('patch')} px crops of these real clear Sentinel-2 scenes"
        " (paths relative to the repository root; windows `[row, col, height, width]`; the list and the"
        " held-out windows are `cloudfree.data.holdout`; `runs/scenes/` files are written by the training"
        " script: the spyndex scene, and the Madagascar exclusion mask = its s2cloudless clouds + the"
        " held-out rectangle):",
        "",
        *scenes,
        "",
        f"Task `{train_cfg.get('task')}`, model {train_cfg.get('model')}, optimiser {train_cfg.get('optim')},"
        f" batch {data.get('batch_size')}, augmentation {data.get('augment')}; "
        + (
            "the last checkpoint of the final run is released"
            f" (its `{monitor}` on the validation window {val_windows} varied by noise only)."
            if training and training.get("released") == "last"
            else f"the checkpoint with the best `{monitor}` (simulated clouds on the validation window"
            f" {val_windows}, not a held-out one) is released."
        ),
        "",
        "## Metrics on held-out real scenes",
        "",
        *_metric_section(metrics),
        "",
        "## Known limits",
        "",
        *[f"- {text.replace('{thick}', _thick_cloud(config))}" for text in LIMITS.get(config.kind, [])],
        "",
    ]
    path = release / "MODEL_CARD.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines))
    return path
