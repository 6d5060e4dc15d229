"""STAC search through pystac-client: catalogue presets, AOI files, cloud filter, paging.

Presets name the big public Sentinel catalogues and their collections; any other STAC API is used by
its URL. Planetary Computer asset URLs need a SAS token: its preset passes
``planetary_computer.sign_inplace`` as pystac-client's ``modifier``, so every item comes back with
signed hrefs (tokens expire after about an hour: mine and fetch soon after searching).

The cloud filter is sent to the server (STAC ``query`` extension, or CQL2 ``filter`` when only that
is offered) and applied again to the results, so a catalogue that ignores both still gives the right
answer. Sentinel-1 collections get no cloud filter.

pystac-client (and planetary-computer for its preset) are imported only here, lazily: they come with
``pip install cloudfree[stac]``.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from cloudfree.acquisition import missing_extra
from cloudfree.acquisition.items import Item, cloud_cover, is_sar
from cloudfree.errors import CloudfreeError


class CatalogError(CloudfreeError, OSError):
    """A STAC API could not be opened or searched (URL and reason in the message)."""


@dataclass(frozen=True)
class Catalog:
    """A STAC API: URL, its Sentinel-2 and Sentinel-1 collections, and how asset URLs are signed."""

    name: str
    url: str
    optical: tuple[str, ...]
    sar: tuple[str, ...]
    signer: str | None = None  # "planetary-computer" or None


PRESETS: dict[str, Catalog] = {
    "earth-search": Catalog(
        "earth-search",
        "https://earth-search.aws.element84.com/v1",
        optical=("sentinel-2-l2a", "sentinel-2-c1-l2a", "sentinel-2-l1c"),
        sar=("sentinel-1-grd",),
    ),
    "planetary-computer": Catalog(
        "planetary-computer",
        "https://planetarycomputer.microsoft.com/api/stac/v1",
        optical=("sentinel-2-l2a",),
        sar=("sentinel-1-rtc", "sentinel-1-grd"),
        signer="planetary-computer",
    ),
    "cdse": Catalog(
        "cdse",
        "https://stac.dataspace.copernicus.eu/v1",
        optical=("sentinel-2-l2a", "sentinel-2-l1c"),
        sar=("sentinel-1-grd",),
    ),
}
COLLECTION_SHORTHANDS = {"s2": "optical", "optical": "optical", "s1": "sar", "sar": "sar"}


def resolve_catalog(spec: str) -> Catalog:
    """A preset by name (``earth-search``, ``planetary-computer``, ``cdse``) or any ``http(s)`` URL."""
    key = spec.strip().lower()
    if key in PRESETS:
        return PRESETS[key]
    if key.startswith(("http://", "https://")):
        signer = "planetary-computer" if "planetarycomputer.microsoft.com" in key else None
        return Catalog(spec, spec.rstrip("/"), optical=("sentinel-2-l2a",), sar=("sentinel-1-grd",), signer=signer)
    raise ValueError(f"unknown catalog {spec!r}; use one of {sorted(PRESETS)} or the URL of a STAC API")


def resolve_collections(catalog: Catalog, names: Sequence[str] | None) -> list[str]:
    """Collection ids: ``s2``/``optical`` and ``s1``/``sar`` expand to the preset's first collection."""
    if not names:
        return [catalog.optical[0]]
    out: list[str] = []
    for name in names:
        group = COLLECTION_SHORTHANDS.get(name.lower())
        out.append(getattr(catalog, group)[0] if group else name)
    return list(dict.fromkeys(out))


def modifier_for(catalog: Catalog) -> Callable[[Any], Any] | None:
    """The pystac-client ``modifier`` signing asset hrefs, or None for open catalogues."""
    if catalog.signer != "planetary-computer":
        return None
    try:
        with warnings.catch_warnings():  # its pydantic models emit deprecation noise on import
            warnings.simplefilter("ignore", DeprecationWarning)
            import planetary_computer
    except ImportError as exc:
        raise missing_extra("planetary-computer (to sign Planetary Computer asset URLs)") from exc
    return planetary_computer.sign_inplace


def open_client(catalog: Catalog, headers: dict[str, str] | None = None, timeout: float = 60.0) -> Any:
    """A ``pystac_client.Client`` on the catalogue (with its signing modifier)."""
    try:
        from pystac_client import Client
        from pystac_client.exceptions import APIError
    except ImportError as exc:
        raise missing_extra("pystac-client") from exc
    try:
        return Client.open(catalog.url, headers=headers, modifier=modifier_for(catalog), timeout=timeout)
    except (APIError, OSError) as exc:
        raise CatalogError(f"{catalog.url}: cannot open the STAC API ({exc})") from exc


def _lonlat_checked(geometry: dict[str, Any], source: str) -> dict[str, Any]:
    flat = json.dumps(geometry.get("coordinates", []))
    numbers = [float(x) for x in flat.replace("[", " ").replace("]", " ").replace(",", " ").split()]
    xs, ys = numbers[0::2], numbers[1::2]
    if not xs or min(xs) < -180 or max(xs) > 180 or min(ys) < -90 or max(ys) > 90:
        raise ValueError(f"{source}: AOI coordinates are not longitude/latitude in degrees (GeoJSON is WGS84)")
    return geometry


def load_aoi(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The AOI geometry (WGS84 GeoJSON) of a Feature, FeatureCollection or bare geometry file.

    Several polygons of a FeatureCollection become one MultiPolygon. A legacy ``crs`` member other
    than WGS84 is honoured by reprojecting to longitude/latitude.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: AOI file does not exist")
    try:
        obj = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: AOI is not valid GeoJSON ({exc})") from exc
    crs = ((obj.get("crs") or {}).get("properties") or {}).get("name") if isinstance(obj, dict) else None
    if obj.get("type") == "FeatureCollection":
        geoms = [f.get("geometry") for f in obj.get("features", []) if f.get("geometry")]
    elif obj.get("type") == "Feature":
        geoms = [obj.get("geometry")] if obj.get("geometry") else []
    else:
        geoms = [obj] if "coordinates" in obj else []
    if not geoms:
        raise ValueError(f"{p}: AOI holds no geometry (expected a GeoJSON Feature, FeatureCollection or geometry)")
    if any(g["type"] not in ("Polygon", "MultiPolygon") for g in geoms):
        raise ValueError(f"{p}: AOI geometries must be Polygon or MultiPolygon, got {[g['type'] for g in geoms]}")
    if len(geoms) == 1:
        geometry = geoms[0]
    else:
        polys = [g["coordinates"] for g in geoms if g["type"] == "Polygon"]
        polys += [c for g in geoms if g["type"] == "MultiPolygon" for c in g["coordinates"]]
        geometry = {"type": "MultiPolygon", "coordinates": polys}
    if crs and not any(tag in crs.upper() for tag in ("CRS84", "4326")):
        from rasterio.warp import transform_geom

        geometry = transform_geom(crs, "EPSG:4326", geometry)
    return _lonlat_checked(geometry, str(p))


def bbox_geometry(bbox: Sequence[float]) -> dict[str, Any]:
    """A WGS84 polygon from ``(west, south, east, north)`` in degrees."""
    if len(bbox) != 4:
        raise ValueError(f"bbox needs 4 numbers west,south,east,north; got {list(bbox)}")
    w, s, e, n = (float(v) for v in bbox)
    if not (w < e and s < n):
        raise ValueError(f"bbox {list(bbox)} is empty: expected west < east and south < north")
    return _lonlat_checked({"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}, "bbox")


def parse_date(text: str) -> datetime:
    """``2022-06-01`` or an ISO 8601 time, as a UTC-aware datetime (naive times are UTC)."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        try:
            when = datetime.combine(date.fromisoformat(text.strip()), datetime.min.time())
        except ValueError as exc:
            raise ValueError(f"cannot read date {text!r}; expected YYYY-MM-DD or an ISO 8601 time") from exc
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def _is_sar_collection(catalog: Catalog, collection: str) -> bool:
    return collection in catalog.sar or "sentinel-1" in collection.lower()


def search(
    catalog: Catalog,
    *,
    intersects: dict[str, Any],
    start: str,
    end: str,
    collections: Sequence[str] | None = None,
    max_cloud: float | None = None,
    limit: int | None = None,
    page_size: int = 100,
    client: Any | None = None,
) -> list[Item]:
    """Items (GeoJSON dicts, hrefs signed where needed) intersecting the AOI between ``start`` and ``end``.

    Args:
        catalog: from :func:`resolve_catalog`.
        intersects: AOI geometry, WGS84.
        start, end: dates (``YYYY-MM-DD``, inclusive) or ISO times.
        collections: collection ids or ``s2`` / ``s1``; default the catalogue's Sentinel-2 collection.
        max_cloud: keep optical items with ``eo:cloud_cover`` <= this (percent).
        limit: stop after this many items (all by default).
        page_size: items per page requested from the API.
    """
    if parse_date(start) > parse_date(end):
        raise ValueError(f"--start {start} is after --end {end}")
    cols = resolve_collections(catalog, collections)
    client = client or open_client(catalog)
    kwargs: dict[str, Any] = {}
    if max_cloud is not None and not any(_is_sar_collection(catalog, c) for c in cols):
        from pystac_client.conformance import ConformanceClasses

        if client.conforms_to(ConformanceClasses.QUERY):
            kwargs["query"] = {"eo:cloud_cover": {"lte": max_cloud}}
        elif client.conforms_to(ConformanceClasses.FILTER):
            kwargs["filter"] = {"op": "<=", "args": [{"property": "eo:cloud_cover"}, max_cloud]}
            kwargs["filter_lang"] = "cql2-json"
    from pystac_client.exceptions import APIError

    try:
        found = client.search(
            collections=cols, intersects=intersects, datetime=f"{start}/{end}", limit=page_size, **kwargs
        )
        items: list[Item] = []
        for item in found.items_as_dicts():
            cc = cloud_cover(item)
            if max_cloud is not None and not is_sar(item) and cc is not None and cc > max_cloud:
                continue
            items.append(item)
            if limit is not None and len(items) >= limit:
                break
    except (APIError, OSError) as exc:
        raise CatalogError(f"{catalog.url}: search failed ({exc})") from exc
    return items


def save_items_json(items: Sequence[Item], path: str | os.PathLike[str]) -> Path:
    """Write items as a GeoJSON FeatureCollection (atomically)."""
    from cloudfree.io.atomic import atomic_path

    final = Path(path)
    with atomic_path(final) as tmp:
        tmp.write_text(json.dumps({"type": "FeatureCollection", "features": list(items)}))
    return final
