"""Reading STAC Item dicts: tile, dates, cloud cover, band assets, DN offsets and native grid.

Items are plain GeoJSON dicts (as returned by a STAC API, or saved by ``cloudfree search``), so this
module needs neither pystac nor a network. It knows the property names of the big catalogues:

* MGRS tile from ``s2:mgrs_tile``, ``grid:code`` (``MGRS-33TVL``), ``mgrs:utm_zone`` +
  ``mgrs:latitude_band`` + ``mgrs:grid_square``, or the product id (``_T33TVL_``, ``S2A_33TVL_...``);
* processing baseline from ``s2:processing_baseline``, ``processing:version`` or ``_N0400_`` in
  the product id / ``s2:product_uri``;
* band assets by key or ``eo:bands`` name (``B02``, ``blue``, CDSE's ``B02_10m``), preferring
  GeoTIFF over JPEG2000 and the finest resolution; Sentinel-1 ``vv`` / ``vh``.

The DN offset of a band (reflectance = (DN + offset) / 10000) comes from the item only, in this
order: ``earthsearch:boa_offset_applied: true`` means Earth Search already removed it (0; its
``raster:bands`` then still claim -0.1, see Element84/earth-search#9); else the asset's
``raster:bands`` ``offset / scale``; else ``-1000`` for processing baseline >= 04.00; else 0 with the
source recorded as ``unknown``. Never from the acquisition date.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from affine import Affine

from cloudfree.acquisition.grids import Grid
from cloudfree.bands import S2_BANDS
from cloudfree.errors import CloudfreeError
from cloudfree.radiometry import QUANTIFICATION, offset_for_baseline

Item = dict[str, Any]

# Strict asset-name -> band map: ESA names (B02, B2) and the STAC common names. Deliberately not the
# full alias table: Earth Search's ``wvp`` asset is the L2A water-vapour product, not band B09.
_ASSET_BANDS: dict[str, str] = {}
for _b in S2_BANDS:
    _ASSET_BANDS[_b.name.lower()] = _b.name
    _ASSET_BANDS[("b" + _b.name[2:]) if _b.name[1] == "0" else _b.name.lower()] = _b.name
    if _b.common_name:
        _ASSET_BANDS[_b.common_name] = _b.name
_ASSET_BANDS["b08a"] = "B8A"
_RES_SUFFIX = re.compile(r"^(?P<name>.+?)_(?P<res>\d+)m$")


class ItemError(CloudfreeError, ValueError):
    """An item lacks what is needed (the message names the item and the property or asset)."""


def load_items(path: str | os.PathLike[str]) -> list[Item]:
    """Items from a JSON file: a FeatureCollection, a list of items, one item, or one item per line."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: items file does not exist")
    text = p.read_text()
    try:
        obj: Any = json.loads(text)
    except json.JSONDecodeError:
        try:
            obj = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise ItemError(f"{p}: not a JSON FeatureCollection or newline-delimited items ({exc})") from exc
    if isinstance(obj, dict) and obj.get("type") == "FeatureCollection":
        obj = obj.get("features", [])
    elif isinstance(obj, dict):
        obj = [obj]
    if not isinstance(obj, list) or not all(isinstance(it, dict) and "id" in it for it in obj):
        raise ItemError(f"{p}: expected STAC items (a FeatureCollection of Features with an 'id')")
    for it in obj:
        if "properties" not in it:
            raise ItemError(f"{p}: item {it['id']!r} has no 'properties'")
    return obj


def item_id(item: Item) -> str:
    return str(item["id"])


def acquired(item: Item) -> datetime:
    """Acquisition time (UTC, timezone-aware) from ``datetime`` or ``start_datetime``."""
    props = item["properties"]
    text = props.get("datetime") or props.get("start_datetime")
    if not text:
        raise ItemError(f"item {item_id(item)!r} has no datetime")
    when = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def is_sar(item: Item) -> bool:
    """True for Sentinel-1 items (SAR extension, collection, platform or id)."""
    props = item["properties"]
    if "sar:polarizations" in props or "sar:instrument_mode" in props:
        return True
    text = f"{item.get('collection', '')} {props.get('platform', '')} {props.get('constellation', '')}".lower()
    return "sentinel-1" in text or item_id(item).upper().startswith(("S1A_", "S1B_", "S1C_", "S1D_"))


def mgrs_tile(item: Item) -> str | None:
    """The MGRS tile (``33TVL``) of a Sentinel-2 item, or None when no property or id names one."""
    props = item["properties"]
    if props.get("s2:mgrs_tile"):
        tile = str(props["s2:mgrs_tile"]).upper()
        return tile[1:] if len(tile) == 6 and tile.startswith("T") else tile
    code = str(props.get("grid:code", ""))
    if code.upper().startswith("MGRS-"):
        return code[5:].upper()
    zone, band, square = props.get("mgrs:utm_zone"), props.get("mgrs:latitude_band"), props.get("mgrs:grid_square")
    if zone and band and square:
        return f"{int(zone):02d}{band}{square}".upper()
    for text in (item_id(item), str(props.get("s2:product_uri", ""))):
        match = re.search(r"_T(\d{2}[C-X][A-Z]{2})_", text) or re.match(r"S2[A-D]_(\d{1,2}[C-X][A-Z]{2})_\d{8}", text)
        if match:
            tile = match.group(1)
            return tile if len(tile) == 5 else "0" + tile
    return None


def cloud_cover(item: Item) -> float | None:
    """Scene cloud cover in percent (``eo:cloud_cover``), or None."""
    value = item["properties"].get("eo:cloud_cover")
    return None if value is None else float(value)


def processing_baseline(item: Item) -> str | None:
    """Processing baseline (``"04.00"``) from the properties or the product id, or None."""
    props = item["properties"]
    for key in ("s2:processing_baseline", "processing:version", "sentinel:processing_baseline"):
        if props.get(key):
            return str(props[key])
    for text in (str(props.get("s2:product_uri", "")), item_id(item)):
        match = re.search(r"_N(\d{2})(\d{2})_", text)
        if match:
            return f"{match.group(1)}.{match.group(2)}"
    return None


def _is_raster(asset: dict[str, Any]) -> bool:
    kind = str(asset.get("type", "")).lower()
    roles = asset.get("roles") or ["data"]
    return ("tiff" in kind or "jp2" in kind or kind == "") and "data" in roles


def _asset_band(key: str, asset: dict[str, Any]) -> tuple[str, int] | None:
    """(canonical band, resolution m) an asset holds, or None for non-band assets."""
    names = [key.lower()]
    eo = asset.get("eo:bands") or []
    if len(eo) == 1:
        names += [str(eo[0].get("name", "")).lower(), str(eo[0].get("common_name", "")).lower()]
    for name in names:
        res = int(asset.get("gsd") or 0)
        match = _RES_SUFFIX.match(name)
        if match:
            name, res = match.group("name"), int(match.group("res"))
        if name in _ASSET_BANDS:
            return _ASSET_BANDS[name], res
    return None


def optical_band_assets(item: Item) -> dict[str, str]:
    """Canonical band name -> asset key (GeoTIFF before JPEG2000, then the finest resolution)."""
    best: dict[str, tuple[tuple[int, int], str]] = {}
    for key, asset in item.get("assets", {}).items():
        if not _is_raster(asset) or key.endswith("-jp2"):
            continue
        found = _asset_band(key, asset)
        if found is None:
            continue
        band, res = found
        rank = (0 if "tiff" in str(asset.get("type", "tiff")).lower() else 1, res or 999)
        if band not in best or rank < best[band][0]:
            best[band] = (rank, key)
    return {band: key for band, (_, key) in best.items()}


def sar_band_assets(item: Item) -> dict[str, str]:
    """``VV`` / ``VH`` -> asset key of a Sentinel-1 item."""
    out = {}
    for key, asset in item.get("assets", {}).items():
        if key.lower() in ("vv", "vh") and _is_raster(asset):
            out[key.upper()] = key
    return out


def sar_unit(item: Item) -> str:
    """``"db"`` when the VV asset's ``raster:bands`` unit says decibels, else ``"linear"`` (power)."""
    key = sar_band_assets(item).get("VV")
    rb = (item.get("assets", {}).get(key or "", {}).get("raster:bands") or [{}])[0]
    return "db" if str(rb.get("unit", "")).lower() in ("db", "decibel", "decibels") else "linear"


def asset_href(item: Item, key: str) -> str:
    try:
        return str(item["assets"][key]["href"])
    except KeyError as exc:
        raise ItemError(
            f"item {item_id(item)!r} has no asset {key!r}; it has {sorted(item.get('assets', {}))}"
        ) from exc


def band_hrefs(item: Item, bands: list[str] | tuple[str, ...]) -> dict[str, str]:
    """Band -> href for the wanted bands, or an ItemError naming the item and the missing bands."""
    assets = optical_band_assets(item)
    missing = [b for b in bands if b not in assets]
    if missing:
        raise ItemError(f"item {item_id(item)!r} has no asset for band(s) {missing}; it has bands {sorted(assets)}")
    return {b: asset_href(item, assets[b]) for b in bands}


def dn_offsets(item: Item, bands: list[str] | tuple[str, ...]) -> tuple[dict[str, float], str]:
    """Per-band DN offsets of ``bands`` and where they came from (see the module docstring)."""
    props = item["properties"]
    if props.get("earthsearch:boa_offset_applied") is True:
        return {b: 0.0 for b in bands}, "earthsearch:boa_offset_applied"
    assets = optical_band_assets(item)
    baseline = processing_baseline(item)
    offsets: dict[str, float] = {}
    sources: set[str] = set()
    for band in bands:
        rb = (item.get("assets", {}).get(assets.get(band, ""), {}).get("raster:bands") or [{}])[0]
        if "offset" in rb or "scale" in rb:
            scale = float(rb.get("scale", 1.0 / QUANTIFICATION))
            if abs(scale * QUANTIFICATION - 1.0) > 1e-6:
                raise ItemError(
                    f"item {item_id(item)!r} band {band}: raster:bands scale {scale} is not 1/10000, so the DN are "
                    f"not Sentinel-2 reflectance x 10000"
                )
            offsets[band] = float(rb.get("offset", 0.0)) / scale
            sources.add("raster:bands")
        elif baseline is not None:
            offsets[band] = offset_for_baseline(baseline)
            sources.add(f"processing baseline {baseline}")
        else:
            offsets[band] = 0.0
            sources.add("unknown")
    return {b: round(v, 6) for b, v in offsets.items()}, "+".join(sorted(sources))


def native_grid(item: Item, asset_key: str) -> Grid | None:
    """The grid of one asset from ``proj:*`` (asset first, then item), or None when not published."""
    props = item["properties"]
    asset = item.get("assets", {}).get(asset_key, {})
    epsg = asset.get("proj:epsg", props.get("proj:epsg"))
    code = asset.get("proj:code", props.get("proj:code"))
    transform = asset.get("proj:transform", props.get("proj:transform"))
    shape = asset.get("proj:shape", props.get("proj:shape"))
    crs = f"EPSG:{int(epsg)}" if epsg else (str(code) if code else None)
    if crs is None or not transform or not shape:
        return None
    return Grid(crs, Affine(*transform[:6]), int(shape[0]), int(shape[1]))


def footprint(item: Item) -> dict[str, Any]:
    """The item's footprint geometry (WGS84 GeoJSON), from ``geometry`` or ``bbox``."""
    if item.get("geometry"):
        return item["geometry"]
    if item.get("bbox"):
        w, s, e, n = item["bbox"][:4] if len(item["bbox"]) == 4 else [item["bbox"][i] for i in (0, 1, 3, 4)]
        return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}
    raise ItemError(f"item {item_id(item)!r} has neither geometry nor bbox")


def summarize(item: Item) -> dict[str, Any]:
    """One flat table row: id, datetime, collection, tile, cloud cover, baseline, platform, orbit, assets."""
    props = item["properties"]
    data_assets = {k: a.get("href") for k, a in item.get("assets", {}).items() if _is_raster(a)}
    return {
        "id": item_id(item),
        "datetime": acquired(item).isoformat().replace("+00:00", "Z"),
        "collection": item.get("collection", ""),
        "tile": mgrs_tile(item) or "",
        "cloud_cover": cloud_cover(item),
        "processing_baseline": processing_baseline(item) or "",
        "platform": props.get("platform", ""),
        "relative_orbit": props.get("sat:relative_orbit", props.get("s2:relative_orbit", props.get("sentinel:orbit"))),
        "orbit_state": props.get("sat:orbit_state", ""),
        "polarizations": ",".join(props.get("sar:polarizations", [])),
        "assets": json.dumps(data_assets),
    }
