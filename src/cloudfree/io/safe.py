"""Sentinel-2 ``.SAFE`` products (folder or ``.zip``), Level-1C and Level-2A, read through GDAL.

A SAFE product holds one JPEG 2000 file per band under ``GRANULE/<granule>/IMG_DATA/`` (L1C:
``T33UUP_20220105T101319_B02.jp2``; L2A: ``R10m/..._B02_10m.jp2``, ``R20m/``, ``R60m/``) and a product
metadata file, ``MTD_MSIL1C.xml`` or ``MTD_MSIL2A.xml``, that states the processing level, the
processing baseline, the quantification value (10000) and, from baseline 04.00 on, the DN offset of
each band (``RADIO_ADD_OFFSET`` / ``BOA_ADD_OFFSET``, -1000, keyed by ``band_id`` in ESA order).

A zipped product is read in place: the metadata with :mod:`zipfile`, the band files through GDAL's
``/vsizip/`` file system, so nothing is extracted. Each band is taken at its native resolution
(L2A ships resampled copies too) and the bands are resolved onto one grid by
:class:`~cloudfree.io.bandfiles.BandStack` (finest band's grid by default). The resulting rasters
carry ``dn_offset`` per band and tags with product id, level, processing baseline and sensing time.

The metadata is parsed with :mod:`xml.etree.ElementTree`, which does not fetch external entities;
Python's bundled expat (>= 2.4) refuses entity-expansion bombs.
"""

from __future__ import annotations

import os
import posixpath
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rasterio.windows import Window

from cloudfree import bands as bandcat
from cloudfree.errors import RasterReadError
from cloudfree.io.bandfiles import BandStack, parse_band_filename
from cloudfree.radiometry import QUANTIFICATION, Radiometry, parse_baseline
from cloudfree.raster import Raster

MTD_FILES = {"MTD_MSIL1C.xml": "L1C", "MTD_MSIL2A.xml": "L2A"}
IMAGE_SUFFIXES = (".jp2", ".tif", ".tiff")


@dataclass(frozen=True)
class SafeMetadata:
    """What the product metadata file states (``source`` names that file for error messages)."""

    source: str
    level: str  # "L1C" or "L2A"
    product_id: str
    processing_baseline: str
    sensing_time: str | None
    spacecraft: str | None
    quantification: float
    offsets: dict[str, float] = field(default_factory=dict)  # canonical band -> DN offset

    def offset(self, band: str) -> float:
        """DN offset of one band; required from baseline 04.00 on, 0 before it when not stated."""
        if band in self.offsets:
            return self.offsets[band]
        if parse_baseline(self.processing_baseline) >= (4, 0):
            kind = "RADIO_ADD_OFFSET" if self.level == "L1C" else "BOA_ADD_OFFSET"
            raise RasterReadError(
                f"{self.source}: processing baseline {self.processing_baseline} but the metadata lacks "
                f"{kind} for band {band} (band_id {bandcat.BAND_SETS['l1c13'].index(band)})"
            )
        return 0.0


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _texts(root: ET.Element, name: str) -> list[ET.Element]:
    return [el for el in root.iter() if _local(el.tag) == name]


def _text(root: ET.Element, name: str) -> str | None:
    found = _texts(root, name)
    return found[0].text.strip() if found and found[0].text else None


def parse_metadata(xml: bytes, source: str, level_hint: str | None = None) -> SafeMetadata:
    """Parse ``MTD_MSIL1C.xml`` / ``MTD_MSIL2A.xml`` content; ``source`` names the file in errors."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise RasterReadError(f"{source}: product metadata is not valid XML ({exc})") from exc
    root_tag = _local(root.tag)
    product_type = _text(root, "PRODUCT_TYPE") or ""
    if "Level-2A" in root_tag or product_type.endswith("2A"):
        level = "L2A"
    elif "Level-1C" in root_tag or product_type.endswith("1C"):
        level = "L1C"
    elif level_hint:
        level = level_hint
    else:
        raise RasterReadError(f"{source}: cannot tell the processing level (neither Level-1C nor Level-2A)")
    baseline = _text(root, "PROCESSING_BASELINE")
    if baseline is None:
        raise RasterReadError(f"{source}: product metadata lacks PROCESSING_BASELINE")
    quant_name = "QUANTIFICATION_VALUE" if level == "L1C" else "BOA_QUANTIFICATION_VALUE"
    quant = _text(root, quant_name)
    if quant is None:
        raise RasterReadError(f"{source}: product metadata lacks {quant_name}")
    if float(quant) != QUANTIFICATION:
        raise RasterReadError(
            f"{source}: {quant_name} is {quant}; cloudfree's reflectance conversion expects {QUANTIFICATION:g}"
        )
    band_ids = {
        el.get("bandId"): bandcat.canonical(el.get("physicalBand", ""))
        for el in _texts(root, "Spectral_Information")
        if el.get("bandId") is not None and el.get("physicalBand")
    }
    offsets: dict[str, float] = {}
    for el in _texts(root, "RADIO_ADD_OFFSET" if level == "L1C" else "BOA_ADD_OFFSET"):
        band_id = el.get("band_id", "")
        if band_id in band_ids:
            band = band_ids[band_id]
        elif band_id.isdigit() and int(band_id) < len(bandcat.BAND_SETS["l1c13"]):
            band = bandcat.BAND_SETS["l1c13"][int(band_id)]
        else:
            raise RasterReadError(f"{source}: offset with unknown band_id {band_id!r}")
        offsets[band] = float(el.text or "nan")
    product_id = _text(root, "PRODUCT_URI") or Path(posixpath.dirname(source)).name
    return SafeMetadata(
        source=source,
        level=level,
        product_id=product_id.removesuffix(".SAFE"),
        processing_baseline=baseline,
        sensing_time=_text(root, "PRODUCT_START_TIME") or _text(root, "DATATAKE_SENSING_START"),
        spacecraft=_text(root, "SPACECRAFT_NAME"),
        quantification=float(quant),
        offsets=offsets,
    )


@dataclass(frozen=True)
class _Location:
    """A SAFE product on disk or inside a zip: GDAL path of its root, member files, metadata name."""

    path: str
    gdal_root: str
    members: tuple[str, ...]  # paths relative to the SAFE root, "/"-separated
    mtd_name: str
    zip_root: str | None = None  # folder of the SAFE root inside the zip ("" at the top)

    def read_bytes(self, rel: str) -> bytes:
        if self.zip_root is None:
            return (Path(self.gdal_root) / rel).read_bytes()
        with zipfile.ZipFile(self.path) as zf:
            return zf.read(posixpath.join(self.zip_root, rel) if self.zip_root else rel)


def _locate(path: str | os.PathLike[str]) -> _Location:
    p = Path(path)
    if p.is_file() and p.name in MTD_FILES:
        p = p.parent
    if p.is_dir():
        mtd = [name for name in MTD_FILES if (p / name).is_file()]
        if not mtd:
            raise RasterReadError(
                f"{p}: SAFE folder without product metadata (expected MTD_MSIL1C.xml or MTD_MSIL2A.xml)"
            )
        granules = p / "GRANULE"
        members = tuple(f.relative_to(p).as_posix() for f in sorted(granules.rglob("*")) if f.is_file())
        return _Location(str(p), str(p), members, mtd[0])
    if not p.is_file():
        raise RasterReadError(f"{p}: does not exist")
    try:
        with zipfile.ZipFile(p) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")]
    except (zipfile.BadZipFile, OSError) as exc:
        raise RasterReadError(f"{p}: not a readable zip archive of a SAFE product ({exc})") from exc
    mtd_members = [n for n in names if posixpath.basename(n) in MTD_FILES and n.count("/") <= 1]
    if len(mtd_members) != 1:
        found = "none" if not mtd_members else str(mtd_members)
        raise RasterReadError(
            f"{p}: expected one SAFE product metadata file (MTD_MSIL1C.xml or MTD_MSIL2A.xml) at the top of the "
            f"zip or of its .SAFE folder; found {found}"
        )
    zip_root = posixpath.dirname(mtd_members[0])
    prefix = zip_root + "/" if zip_root else ""
    members = tuple(n[len(prefix) :] for n in names if n.startswith(prefix))
    gdal_root = f"/vsizip/{p.resolve()}" + (f"/{zip_root}" if zip_root else "")
    return _Location(str(p), gdal_root, members, posixpath.basename(mtd_members[0]), zip_root)


def _band_files(loc: _Location, granule: str | None) -> tuple[str, dict[str, str]]:
    """The granule used and ``{band: GDAL path}`` of its bands, each at its native resolution."""
    images = [m for m in loc.members if m.startswith("GRANULE/") and "/IMG_DATA/" in m]
    granules = sorted({m.split("/")[1] for m in images})
    if not granules:
        raise RasterReadError(f"{loc.path}: no band images under GRANULE/*/IMG_DATA")
    if granule is None:
        if len(granules) > 1:
            raise RasterReadError(f"{loc.path}: holds {len(granules)} granules {granules}; pass granule= to pick one")
        granule = granules[0]
    elif granule not in granules:
        raise RasterReadError(f"{loc.path}: no granule {granule!r}; it has {granules}")
    candidates: dict[str, list[tuple[float, str]]] = {}
    for member in images:
        if member.split("/")[1] != granule or not member.lower().endswith(IMAGE_SUFFIXES):
            continue
        parsed = parse_band_filename(posixpath.basename(member))
        if parsed is None or bandcat.is_sar(parsed[1]):
            continue
        _, band, res = parsed
        native = bandcat.band(band).resolution_m
        candidates.setdefault(band, []).append((abs((res or native) - native) + (res or native) / 1e3, member))
    if not candidates:
        raise RasterReadError(f"{loc.path}: granule {granule} holds no Sentinel-2 band image (B01..B12, B8A)")
    return granule, {band: f"{loc.gdal_root}/{min(options)[1]}" for band, options in candidates.items()}


def open_safe(
    path: str | os.PathLike[str],
    bands: str | Sequence[str] | None = None,
    *,
    granule: str | None = None,
    resolution: float | None = None,
    reference: str | None = None,
    resampling: str = "bilinear",
) -> BandStack:
    """A lazy source over a SAFE folder, its ``.zip`` or its ``MTD_MSIL*.xml``: bands on one grid.

    Offsets, processing baseline, level and sensing time come from the product metadata; see
    :class:`~cloudfree.io.bandfiles.BandStack` for ``bands`` (keep these), ``resolution``,
    ``reference`` and ``resampling``.
    """
    loc = _locate(path)
    meta = parse_metadata(loc.read_bytes(loc.mtd_name), f"{loc.path}/{loc.mtd_name}", MTD_FILES[loc.mtd_name])
    granule, files = _band_files(loc, granule)
    tags: dict[str, Any] = {
        "PRODUCT_ID": meta.product_id,
        "PROCESSING_LEVEL": meta.level,
        "PROCESSING_BASELINE": meta.processing_baseline,
        "QUANTIFICATION_VALUE": f"{meta.quantification:g}",
        "GRANULE": granule,
    }
    if meta.sensing_time:
        tags["SENSING_TIME"] = meta.sensing_time
    if meta.spacecraft:
        tags["SPACECRAFT"] = meta.spacecraft
    if bands is not None:
        bandcat.indices_of(tuple(files), bandcat.resolve(bands), loc.path)
    kept = files if bands is None else {b: files[b] for b in bandcat.resolve(bands)}
    return BandStack(
        kept,
        bands,
        resolution=resolution,
        reference=reference,
        resampling=resampling,
        nodata=0,
        dn_offset={band: meta.offset(band) for band in kept},
        radiometry=Radiometry.DN,
        tags=tags,
        layout="safe",
        source=loc.path,
    )


def read_safe(
    path: str | os.PathLike[str],
    select: str | Sequence[str] | None = None,
    *,
    window: Window | None = None,
    **options: Any,
) -> Raster:
    """Read a SAFE product's bands (``select``, default all in ESA order) within ``window`` of its grid."""
    return open_safe(path, **options).read(select=select, window=window)


class SafeReader:
    """Registry entry: a ``.SAFE`` folder, its ``.zip`` or its ``MTD_MSIL*.xml`` (L1C or L2A)."""

    name = "safe"
    options = frozenset({"resolution", "reference", "resampling", "granule", "dn_offset", "radiometry"})

    @staticmethod
    def matches(path: Path) -> bool:
        if path.is_dir():
            return path.suffix.upper() == ".SAFE" or any((path / name).is_file() for name in MTD_FILES)
        return path.suffix.lower() == ".zip" or path.name in MTD_FILES

    @staticmethod
    def open(path: Path, bands: str | Sequence[str] | None, **options: Any) -> BandStack:
        dn_offset, radiometry = options.pop("dn_offset", None), options.pop("radiometry", None)
        source = open_safe(path, bands, **options)
        if radiometry is not None:
            source.radiometry = Radiometry(radiometry)
        if dn_offset is not None:
            source.dn_offset[:] = dn_offset
        return source
