"""Text report of ``cloudfree info``: the JSON-ready dicts of :mod:`cloudfree.commands.info` as aligned lines.

:func:`format_text` renders one source (layout, size in px, resolution in CRS units, CRS, dtype,
radiometry with DN offsets, valid-data and cloud fractions in %, value counts of label layers,
per-band min/mean/max in the file's own units, tags) or a folder (its items indented, then the
SEN12MS-CR triplets and SEN12MS-CR-TS series found in it).
"""

from __future__ import annotations

from typing import Any


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def format_text(info: dict[str, Any], indent: str = "") -> str:
    """Human-readable report of :func:`~cloudfree.commands.info.describe` / ``describe_folder`` output."""
    if "error" in info:
        return f"{indent}{info['path']}\n{indent}  error: {info['error']}"
    if info.get("layout") == "folder":
        parts = [f"{indent}{info['path']}: folder with {len(info['items'])} raster item(s)"]
        parts += [format_text(item, indent + "  ") for item in info["items"]]
        if "sen12mscr_summary" in info:
            parts.append(f"{indent}  SEN12MS-CR triplets: " + f"\n{indent}    ".join(info["sen12mscr_summary"]))
        for ts in info.get("sen12mscr_ts", []):
            gaps = f", missing {', '.join(ts['missing'])}" if ts["missing"] else ""
            parts.append(f"{indent}  SEN12MS-CR-TS {ts['patch']}: {len(ts['times'])} time points{gaps}")
        return "\n".join(parts)
    pad = indent + "  "
    lines = [f"{indent}{info['path']}"]
    lines.append(f"{pad}layout      {info['layout']}")
    lines.append(f"{pad}size        {info['height']} x {info['width']} px (height x width), {info['count']} band(s)")
    res = info["resolution"]
    lines.append(f"{pad}resolution  {_fmt(res[0])} x {_fmt(res[1])} {info['resolution_units']}")
    lines.append(f"{pad}CRS         {info['crs'] or 'none'}")
    lines.append(f"{pad}dtype       {info['dtype']}, nodata {info['nodata']}")
    radiometry = info["radiometry"]
    if info["dn_offset"] is not None:
        offsets = sorted(set(info["dn_offset"]))
        shown = f"{offsets[0]:g} for all bands" if len(offsets) == 1 else ", ".join(f"{o:g}" for o in info["dn_offset"])
        radiometry += f" (reflectance = (DN + offset) / 10000; DN offset {shown})"
    lines.append(f"{pad}radiometry  {radiometry}")
    lines.append(f"{pad}valid data  {100 * info['valid_fraction']:.2f} % of pixels")
    if "cloud_fraction" in info:
        lines.append(f"{pad}cloud       {100 * info['cloud_fraction']:.2f} % of valid mask pixels ({info['mask']})")
    if "value_counts" in info:
        total = max(1, sum(info["value_counts"].values()))
        counts = ", ".join(f"{k}: {100 * v / total:.2f} %" for k, v in info["value_counts"].items())
        lines.append(f"{pad}values      {counts}")
    lines.append(f"{pad}bands       name    native       min        mean         max")
    for band in info["bands"]:
        native = f"{band['native_resolution_m']} m" if band["native_resolution_m"] else "-"
        if "mean" in band:
            stats = f"{_fmt(band['min']):>9} {_fmt(band['mean']):>11} {_fmt(band['max']):>11}"
        else:
            stats = "   (no valid pixel)"
        lines.append(f"{pad}            {band['name']:<7} {native:>6} {stats}")
    for key, value in info["tags"].items():
        lines.append(f"{pad}tag         {key}={value}")
    return "\n".join(lines)
