"""A small STAC archive built from the real samples in ../shared/data, served by the test server.

Sentinel-2: the five Slovenia L1C dates become items of MGRS tile 33TVL (the 100 km square that
holds their UTM 33N coordinates), each band written as its own single-band COG at its native
resolution (10, 20 or 60 m), as Earth Search publishes them. Constructed parts, stated plainly:

* the grid is re-stamped from the files' 9.995 x 9.997 m pixels at 465181.05 / 5080254.63 to the
  exact 10 m Sentinel-2 grid at 465180 / 5080260 (under 6 m); the pixel values are untouched;
* scene cloud covers are tile-level values chosen for the mining tests (the chip's own s2cloudless
  masks say 0 % or 100 %; a tile-level figure differs from a 1 km chip's);
* the radiometric offsets: 2015-07-11 is published with ``raster:bands`` offset -0.1 / scale 1e-4
  and DN + 1000 in the file, 2015-07-31 with ``s2:processing_baseline`` 04.00 (no raster:bands) and
  DN + 1000, 2015-08-20 with ``earthsearch:boa_offset_applied`` true (raw DN, although its
  raster:bands claims -0.1), the others baseline 02.01 with raw DN. So every item's reflectance is
  the source DN / 10000 and the offset paths can be checked against the source pixels.

Sentinel-1: the Sen1Floods11 VV/VH chip (dB) is converted to linear power and published as an RTC
item (float32, nodata -32768, as Planetary Computer's ``sentinel-1-rtc``) relocated over the
Slovenia scene (its grid moved, the values untouched), twice (2015-07-30 and 2015-07-12), and once
at its true place in Spain on 2015-07-31 (a footprint that must never match Slovenia).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds

from cloudfree.bands import S2_BANDS

SLOVENIA = "slovenia_timeseries_l1c"
S2_TRANSFORM = Affine(10.0, 0.0, 465180.0, 0.0, -10.0, 5080260.0)
S2_SHAPE = (101, 100)
TILE = "33TVL"
COMMON = {b.name: b.common_name for b in S2_BANDS}
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"

# date -> (tile cloud cover %, offset style, relative orbit)
SCENES: dict[str, tuple[float, str, int]] = {
    "2015-07-11": (0.4, "raster_bands", 122),
    "2015-07-31": (38.0, "baseline_04", 122),
    "2015-08-20": (71.0, "boa_applied", 79),
    "2015-08-30": (0.9, "baseline_02", 79),
    "2015-09-09": (0.0, "baseline_02", 122),
}


@dataclass
class Archive:
    """Items and the files behind them (``/data/<name>`` -> local path)."""

    s2_items: list[dict[str, Any]]
    s1_items: list[dict[str, Any]]
    files: dict[str, Path]
    source: dict[str, Path] = field(default_factory=dict)  # date -> source GeoTIFF
    s1_source: Path | None = None

    @property
    def items(self) -> list[dict[str, Any]]:
        return self.s2_items + self.s1_items

    def collections(self) -> list[dict[str, Any]]:
        return [
            {
                "type": "Collection",
                "id": cid,
                "stac_version": "1.0.0",
                "description": cid,
                "license": "proprietary",
                "extent": {
                    "spatial": {"bbox": [[-180, -90, 180, 90]]},
                    "temporal": {"interval": [["2015-06-23T00:00:00Z", None]]},
                },
                "links": [],
            }
            for cid in sorted({it["collection"] for it in self.items})
        ]


def _write_cog(path: Path, data: np.ndarray, crs: str, transform: Affine, nodata: float, description: str) -> None:
    """A single-band tiled GeoTIFF with small (32 px) internal tiles, so that AOI reads are partial."""
    profile = {
        "driver": "GTiff",
        "tiled": True,
        "blockxsize": 32,
        "blockysize": 32,
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": str(data.dtype),
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
        "compress": "DEFLATE",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
        dst.set_band_description(1, description)


def _polygon(bounds: tuple[float, float, float, float]) -> dict[str, Any]:
    w, s, e, n = bounds
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def _s2_item(date: str, base_url: str, root: Path, source: Path, files: dict[str, Path]) -> dict[str, Any]:
    cloud, style, orbit = SCENES[date]
    day = date.replace("-", "")
    item_id = f"S2A_{TILE}_{day}_0_L1C"
    with rasterio.open(source) as src:
        dn = src.read()
        names = src.descriptions
        acquired = src.tags()["DATETIME"] + "Z"
    shifted = style in ("raster_bands", "baseline_04")
    assets: dict[str, Any] = {}
    for i, name in enumerate(names):
        band = next(b for b in S2_BANDS if b.name == name)
        factor = band.resolution_m // 10
        height, width = -(-S2_SHAPE[0] // factor), -(-S2_SHAPE[1] // factor)
        transform = S2_TRANSFORM * Affine.scale(factor)
        plane = dn[i].astype(np.float32)
        if factor > 1:  # the coarser band as ESA publishes it: the 10 m DN averaged onto its own grid
            coarse = np.zeros((height, width), np.float32)
            reproject(
                plane,
                coarse,
                src_transform=S2_TRANSFORM,
                src_crs="EPSG:32633",
                src_nodata=0,
                dst_transform=transform,
                dst_crs="EPSG:32633",
                dst_nodata=0,
                resampling=Resampling.average,
            )
            plane = coarse
        out = np.where(plane > 0, np.rint(plane) + (1000 if shifted else 0), 0).astype(np.uint16)
        key = COMMON[name]
        fname = f"{item_id}_{name}.tif"
        _write_cog(root / fname, out, "EPSG:32633", transform, 0, name)
        files[f"/data/{fname}"] = root / fname
        asset: dict[str, Any] = {
            "href": f"{base_url}/data/{fname}",
            "type": COG_TYPE,
            "title": f"{key} ({name}) - {band.resolution_m}m",
            "roles": ["data", "reflectance"],
            "eo:bands": [{"name": key, "common_name": key, "center_wavelength": band.wavelength_nm / 1000}],
            "gsd": band.resolution_m,
            "proj:shape": [height, width],
            "proj:transform": list(transform)[:6],
        }
        if style in ("raster_bands", "boa_applied"):
            asset["raster:bands"] = [
                {
                    "nodata": 0,
                    "data_type": "uint16",
                    "spatial_resolution": band.resolution_m,
                    "scale": 0.0001,
                    "offset": -0.1,
                }
            ]
        assets[key] = asset
    assets["thumbnail"] = {"href": f"{base_url}/data/{item_id}_thumb.png", "type": "image/png", "roles": ["thumbnail"]}
    bounds = transform_bounds("EPSG:32633", "EPSG:4326", 465180, 5079250, 466180, 5080260)
    props: dict[str, Any] = {
        "datetime": acquired,
        "platform": "sentinel-2a",
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "eo:cloud_cover": cloud,
        "proj:epsg": 32633,
        "mgrs:utm_zone": 33,
        "mgrs:latitude_band": "T",
        "mgrs:grid_square": "VL",
        "grid:code": f"MGRS-{TILE}",
        "sat:relative_orbit": orbit,
        "sat:orbit_state": "descending",
        "s2:processing_baseline": "04.00" if style == "baseline_04" else "02.01",
        "s2:product_uri": f"S2A_MSIL1C_{day}T100008_N0201_R{orbit:03d}_T{TILE}_{day}T100008.SAFE",
    }
    if style == "boa_applied":
        props["earthsearch:boa_offset_applied"] = True
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [
            "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
            "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
            "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
        ],
        "id": item_id,
        "collection": "sentinel-2-l1c",
        "bbox": list(bounds),
        "geometry": _polygon(bounds),
        "properties": props,
        "assets": assets,
        "links": [],
    }


def _s1_item(
    when: str,
    item_id: str,
    transform: Affine,
    state: str,
    base_url: str,
    root: Path,
    source: Path,
    files: dict[str, Path],
) -> dict[str, Any]:
    with rasterio.open(source) as src:
        db = src.read()
        shape = (src.height, src.width)
    linear = np.where(np.isfinite(db), np.power(10.0, db / 10.0), -32768).astype(np.float32)
    assets = {}
    for i, pol in enumerate(("VV", "VH")):
        fname = f"{item_id}_{pol.lower()}.tif"
        _write_cog(root / fname, linear[i], "EPSG:4326", transform, -32768, pol)
        files[f"/data/{fname}"] = root / fname
        assets[pol.lower()] = {
            "href": f"{base_url}/data/{fname}",
            "type": COG_TYPE,
            "title": f"{pol}: vertical transmit, {pol[1].lower()} receive",
            "roles": ["data"],
            "raster:bands": [{"nodata": -32768, "data_type": "float32", "unit": "natural"}],
            "proj:shape": list(shape),
            "proj:transform": list(transform)[:6],
        }
    west, north = transform.c, transform.f
    bounds = (west, north + transform.e * shape[0], west + transform.a * shape[1], north)
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": ["https://stac-extensions.github.io/sar/v1.0.0/schema.json"],
        "id": item_id,
        "collection": "sentinel-1-rtc",
        "bbox": list(bounds),
        "geometry": _polygon(bounds),
        "properties": {
            "datetime": when,
            "platform": "SENTINEL-1A",
            "constellation": "Sentinel-1",
            "sar:polarizations": ["VV", "VH"],
            "sar:product_type": "GRD",
            "sar:instrument_mode": "IW",
            "sat:orbit_state": state,
            "sat:relative_orbit": 117,
            "proj:epsg": 4326,
        },
        "assets": assets,
        "links": [],
    }


def build_archive(shared_data: Path, root: Path, base_url: str) -> Archive:
    """Write the COG assets under ``root`` and return the items pointing at ``base_url``/data."""
    root.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    sources = {d: shared_data / SLOVENIA / f"S2_L1C_{d}.tif" for d in SCENES}
    s2 = [_s2_item(d, base_url, root, sources[d], files) for d in SCENES]
    s1_source = shared_data / "sen1floods11_spain" / "Spain_7370579_S1Hand.tif"
    with rasterio.open(s1_source) as src:
        spain_transform = src.transform
    over_slovenia = Affine(spain_transform.a, 0.0, 14.545, 0.0, spain_transform.e, 45.885)
    s1 = [
        _s1_item(
            "2015-07-30T16:54:32Z",
            "S1A_IW_GRDH_1SDV_20150730T165432_rtc",
            over_slovenia,
            "ascending",
            base_url,
            root,
            s1_source,
            files,
        ),
        _s1_item(
            "2015-07-12T05:02:11Z",
            "S1A_IW_GRDH_1SDV_20150712T050211_rtc",
            over_slovenia,
            "descending",
            base_url,
            root,
            s1_source,
            files,
        ),
        _s1_item(
            "2015-07-31T18:10:00Z",
            "S1A_IW_GRDH_1SDV_20150731T181000_rtc",
            spain_transform,
            "ascending",
            base_url,
            root,
            s1_source,
            files,
        ),
    ]
    (root / "items.json").write_text(json.dumps({"type": "FeatureCollection", "features": s2 + s1}))
    return Archive(s2_items=s2, s1_items=s1, files=files, source=sources, s1_source=s1_source)
