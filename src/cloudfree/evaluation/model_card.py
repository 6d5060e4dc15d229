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

LIMITS = {
    "removal": [
        "Trained on synthetic clouds and shadows over a handful of real clear scenes on a CPU for minutes:"
        " a small demonstration model, not a production one. Under thick clouds it can only"
        " interpolate plausible texture from the surroundings; it cannot know what the cloud hid.",
        "It expects the cloud/shadow mask as an input channel; results follow the mask's quality.",
        "Trained on 64 px patches at 10-70 m; structures larger than a few hundred metres under a"
        " cloud are filled from their surroundings only.",
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


def _metric_section(metrics: dict[str, Any]) -> list[str]:
    if "scenes" in metrics:
        rows = []
        for scene, m in metrics["scenes"].items():
            model, base = m["cloudy_pixels"]["model"], m["cloudy_pixels"]["cloudy_input"]
            rows.append(
                {
                    "held-out scene": scene,
                    "cloud cover": m["cloud_cover"],
                    "PSNR model / input (dB)": f"{model['psnr']:.2f} / {base['psnr']:.2f}",
                    "SSIM model / input": f"{model['ssim']:.3f} / {base['ssim']:.3f}",
                    "SAM model / input (deg)": f"{model['sam']:.2f} / {base['sam']:.2f}",
                    "MAE model / input": f"{model['mae']:.4f} / {base['mae']:.4f}",
                }
            )
        return [
            f"Cloudy pixels only, mean over {metrics['seeds']} cloud simulations per scene, against the clear"
            " truth; 'input' is the no-change baseline (the cloudy scene as it is). Removal runs through"
            " `cloudfree remove` with the true mask.",
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
) -> Path:
    """Write ``MODEL_CARD.md`` into ``release_dir``."""
    release = Path(release_dir)
    train_cfg = yaml.safe_load(Path(training_config).read_text())
    data, trainer = train_cfg.get("data", {}), train_cfg.get("trainer", {})
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
        f" {trainer.get('max_time', 'n/a')}, config `{Path(training_config).name}`"
        " (run `python scripts/train_default_models.py` to reproduce)",
        "",
        "## Training data",
        "",
        f"Synthetic clouds and shadows (`cloudfree.data.synthetic_clouds`, settings {data.get('simulator')})"
        f" drawn on the fly over {data.get('patch')} px crops of these real clear Sentinel-2 scenes"
        " (paths relative to the repository root; windows `[row, col, height, width]`):",
        "",
        *scenes,
        "",
        f"Task `{train_cfg.get('task')}`, model {train_cfg.get('model')}, optimiser {train_cfg.get('optim')},"
        f" batch {data.get('batch_size')}, augmentation {data.get('augment')}; the last checkpoint is released.",
        "",
        "## Metrics on held-out real scenes",
        "",
        *_metric_section(metrics),
        "",
        "## Known limits",
        "",
        *[f"- {text}" for text in LIMITS.get(config.kind, [])],
        "",
    ]
    path = release / "MODEL_CARD.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines))
    return path
