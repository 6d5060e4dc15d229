"""HTML tables of the report: metrics (``metrics.json`` shapes, nested any depth) and settings.

A dict whose values include subsets (dicts with ``per_band``) becomes one table of subsets x
metrics plus a collapsible per-band table; ``indices`` and ``severity`` entries become their own
tables; other nested dicts are walked with their key as a heading; scalars are listed.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

METRICS = ("psnr", "ssim", "sam", "mae", "rmse")
UNITS = {"psnr": "PSNR (dB)", "ssim": "SSIM", "sam": "SAM (deg)", "mae": "MAE", "rmse": "RMSE"}


def fmt(value: Any) -> str:
    """A cell: numbers with 4 significant decimals, ``None`` / NaN as an en dash, inf as infinity."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "&ndash;"
    if isinstance(value, float):
        return "&infin;" if math.isinf(value) else f"{value:.4f}"
    if isinstance(value, (dict, list)):
        return html.escape(json.dumps(value))
    return html.escape(str(value))


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th{' class=key' if i == 0 else ''}>{html.escape(h)}</th>" for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(f"<td{' class=key' if i == 0 else ''}>{fmt(c)}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _is_subset(value: Any) -> bool:
    return isinstance(value, dict) and "per_band" in value


def _subset_tables(result: dict) -> str:
    subsets = [k for k, v in result.items() if _is_subset(v)]
    pixels = result.get("pixels", {})
    rows = [[s, *[result[s].get(m) for m in METRICS], pixels.get(s, "")] for s in subsets]
    out = _table(["subset", *[UNITS[m] for m in METRICS], "pixels"], rows)
    for s in subsets:
        per_band = result[s]["per_band"]
        band_rows = [[b, *[v.get(m) for m in ("psnr", "ssim", "mae", "rmse")]] for b, v in per_band.items()]
        out += f"<details><summary>per band: {html.escape(s)}</summary>"
        out += _table(["band", "PSNR (dB)", "SSIM", "MAE", "RMSE"], band_rows) + "</details>"
    return out


def _indices_table(indices: dict) -> str:
    rows = [
        [name, subset, a.get("rmse"), a.get("bias"), a.get("r"), a.get("n_pixels")]
        for name, by in indices.items()
        for subset, a in by.items()
    ]
    return "<h4>Spectral-index agreement</h4>" + _table(
        ["index", "subset", "RMSE", "bias", "Pearson r", "pixels"], rows
    )


def _severity_table(severity: dict) -> str:
    rows = [
        [subset, s.get("overall_accuracy"), s.get("kappa"), s.get("burned_iou"), s.get("n_pixels")]
        for subset, s in severity.items()
    ]
    return "<h4>Burn-severity agreement</h4>" + _table(
        ["subset", "overall accuracy", "kappa", "burned IoU", "pixels"], rows
    )


def metric_tables(metrics: dict[str, Any], heading: str = "") -> str:
    """HTML for a metrics dict (see the module docstring)."""
    out = f"<h3>{html.escape(heading)}</h3>" if heading else ""
    if any(_is_subset(v) for v in metrics.values()):
        out += _subset_tables(metrics)
    scalars = []
    for key, value in metrics.items():
        if _is_subset(value) or key == "pixels":
            continue
        if key == "indices" and isinstance(value, dict):
            out += _indices_table(value)
        elif key == "severity" and isinstance(value, dict):
            out += _severity_table(value)
        elif key == "ndvi_diff" and isinstance(value, dict):
            out += "<h4>Mean absolute NDVI difference</h4>" + _table(
                ["subset", "|dNDVI|"], list(map(list, value.items()))
            )
        elif isinstance(value, dict):
            out += metric_tables(value, f"{heading} / {key}" if heading else key)
        else:
            scalars.append([key, value])
    if scalars:
        out += _table(["key", "value"], scalars)
    return out


def settings_table(settings: dict[str, Any]) -> str:
    if not settings:
        return "<p class='note'>No settings recorded.</p>"
    return _table(["setting", "value"], [[k, v] for k, v in settings.items()])
