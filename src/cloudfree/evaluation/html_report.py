"""One self-contained HTML report a person opens: :func:`write_html_report`.

The page holds everything inline (PNG images as base64 data URIs, style and script), so it opens
offline and can be mailed as one file: a before/after swipe viewer in true colour (B04/B03/B02) and
false colour (B08/B04/B03) with the image on each side selectable (before, after, reference), the
cloud mask and the provenance map as toggleable overlays with legends, index maps (NDVI, and NBR
when B12 is present) of every image with a colour bar, the metric tables (the ``metrics.json`` of
``cloudfree evaluate`` or any dict of such results), and the run's settings. Rasters are read
decimated to ``max_side`` pixels (:mod:`cloudfree.evaluation.display`); the inputs need not share a
grid with each other for display, but overlays are drawn stretched over the "after" image.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from cloudfree.evaluation import display
from cloudfree.evaluation.html_assets import CSS, SCRIPT
from cloudfree.evaluation.html_tables import metric_tables, settings_table
from cloudfree.evaluation.scene import EvaluationInputError
from cloudfree.io.atomic import atomic_path
from cloudfree.io.open import open_source

INDEX_MAPS = {"NDVI": ("B08", "B04"), "NBR": ("B08", "B12")}


def _images(paths: dict[str, str], max_side: int) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]]]:
    """Colour composites per colour mode and the raw bands of each image for the index maps."""
    bands = {name: open_source(path).bands for name, path in paths.items()}
    out: dict[str, Any] = {}
    raw: dict[str, dict[str, np.ndarray]] = {name: {} for name in paths}
    for mode, combo in (("true", display.TRUE_COLOUR), ("false", display.FALSE_COLOUR)):
        names = [n for n in paths if all(b in bands[n] for b in combo)]
        if not names:
            continue
        arrays = {n: display.read_bands(paths[n], combo, max_side) for n in names}
        for n, arr in arrays.items():
            raw[n].update({b: arr[i] for i, b in enumerate(combo)})
        clear = [arr for n, arr in arrays.items() if n != "before"] or list(arrays.values())
        stretch = display.stretch_of(clear)  # clouds in "before" would darken everything
        out[mode] = {n: display.composite(arr, stretch) for n, arr in arrays.items()}
    for name, path in paths.items():
        extra = [b for b in ("B08", "B04", "B12") if b in bands[name] and b not in raw[name]]
        if extra:
            arr = display.read_bands(path, extra, max_side)
            raw[name].update({b: arr[i] for i, b in enumerate(extra)})
    if not out:
        raise EvaluationInputError(
            f"the report shows true colour (B04, B03, B02) or false colour (B08, B04, B03); "
            f"the images have { ({n: list(b) for n, b in bands.items()}) }"
        )
    return out, raw


def _index_figures(raw: dict[str, dict[str, np.ndarray]]) -> str:
    parts = []
    for index, (nir, other) in INDEX_MAPS.items():
        figs = []
        for name, arrays in raw.items():
            if nir in arrays and other in arrays:
                with np.errstate(divide="ignore", invalid="ignore"):
                    values = (arrays[nir] - arrays[other]) / (arrays[nir] + arrays[other])
                uri = display.colour_map(values)
                mean = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
                figs.append(
                    f'<figure><img alt="{index} of {name}" src="{uri}"><figcaption>{index} of {html.escape(name)} '
                    f"(mean {mean:.3f})</figcaption></figure>"
                )
        if figs:
            bar = display.colour_bar()
            parts.append(
                f"<h3>{index}</h3><div class='grid'>{''.join(figs)}</div><div class='bar' style='background: {bar}'>"
                "</div><div class='bar-labels'><span>-1</span><span>0</span><span>+1</span></div>"
            )
    return "".join(parts) or "<p class='note'>No index map: the images lack B04/B08 or B08/B12.</p>"


def _legend(colours: dict[int, tuple[int, int, int, int]], names: dict[int, str]) -> str:
    items = []
    for code, (r, g, b, _) in sorted(colours.items()):
        label = names.get(code, f"series date {code - 2}" if 2 <= code < 255 else str(code))
        items.append(f"<span class='box' style='background: rgb({r},{g},{b})'></span>{html.escape(label)}")
    return "".join(items)


def write_html_report(
    path: str | os.PathLike[str],
    *,
    before: str | os.PathLike[str],
    after: str | os.PathLike[str],
    reference: str | os.PathLike[str] | None = None,
    mask: str | os.PathLike[str] | None = None,
    provenance: str | os.PathLike[str] | None = None,
    metrics: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    max_side: int = 1024,
    title: str = "cloudfree report",
) -> Path:
    """Write the report to ``path`` (atomically) and return it.

    Args:
        before, after, reference: rasters (any layout cloudfree reads) shown in the swipe viewer.
        mask: cloud mask codes (0 clear, 1 thick, 2 thin, 3 shadow, 255 nodata; or binary).
        provenance: provenance codes (0 original, 1 model, 2 + k series date k, 255 nodata).
        metrics: a ``metrics.json`` dict, or a dict of them (e.g. ``{"result": ..., "cloudy_input": ...}``).
        settings: the run's options, shown as a table.
        max_side: display size limit in pixels (rasters are read decimated).
    """
    paths = {"before": str(before), "after": str(after)}
    if reference is not None:
        paths["reference"] = str(reference)
    images, raw = _images(paths, max_side)
    overlays: dict[str, str] = {}
    toggles, legends = [], []
    for name, file, names in (
        ("mask", mask, display.MASK_NAMES),
        ("provenance", provenance, {1: "model", 255: "nodata"}),
    ):
        if file is None:
            continue
        codes = display.read_codes(file, max_side)
        colours = display.MASK_COLOURS if name == "mask" else display.provenance_colours(codes)
        overlays[name] = display.colour_codes(codes, colours)
        toggles.append(f"<label><input type='checkbox' id='show-{name}'> {name} overlay</label>")
        legends.append(f"<div class='legend'><b>{name}</b>{_legend(colours, names)}</div>")
    names = list(paths)
    right = "reference" if "reference" in paths and "after" not in images.get("true", {}) else "after"
    payload = images | {"overlays": overlays, "default_left": "before", "default_right": right}
    options = "".join(f"<option value='{n}'>{n}</option>" for n in names)
    modes = "".join(
        f"<label><input type='radio' name='colour' value='{m}'{' checked' if m == 'true' else ''}> {m} colour</label>"
        for m in ("true", "false")
        if m in images
    )
    sources = "".join(f"<li>{n}: <code>{html.escape(p)}</code></li>" for n, p in paths.items())
    body = f"""<h1>{html.escape(title)}</h1>
<p class="note">Drag the slider to compare; the left image is drawn over the right one up to the handle.
True colour B04/B03/B02, false colour B08/B04/B03, one 2-98 % stretch per channel (from the cloud-free
images) shared by all images.</p>
<div class="controls">{modes}
<label>left <select id="left">{options.replace("value='before'", "value='before' selected")}</select></label>
<label>right <select id="right">{options.replace(f"value='{right}'", f"value='{right}' selected")}</select></label>
{"".join(toggles)}</div>
<div class="viewer" id="viewer"><img id="img-right" alt="right image"><img id="img-left" class="layer" alt="left image">
<img id="ov-mask" class="layer hidden" alt=""><img id="ov-provenance" class="layer hidden" alt="">
<div class="handle" id="handle"></div><span class="tag" id="tag-left" style="left:6px"></span>
<span class="tag" id="tag-right" style="right:6px"></span></div>
<input type="range" id="swipe" min="0" max="100" value="50" aria-label="swipe position">
{"".join(legends)}
<ul class="note">{sources}</ul>
<h2>Index maps</h2>{_index_figures(raw)}
<h2>Metrics</h2>{metric_tables(metrics) if metrics else "<p class='note'>No metrics given.</p>"}
<h2>Settings</h2>{settings_table(settings or {})}"""
    data = json.dumps(payload).replace("</", "<\\/")
    page = (
        f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><style>{CSS}</style></head>"
        f"<body>{body}\n<script>const IMAGES = {data};\n{SCRIPT}</script></body></html>\n"
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out
