"""Sentinel-2 and Sentinel-1 band catalogue: canonical names, aliases, resolution, wavelength.

Canonical Sentinel-2 names are ESA's (``B01``..``B12`` with ``B8A`` after ``B08``). Every name a
user or a file gives is resolved through :func:`canonical`, which accepts the short form (``B1``),
Sen1Floods11's ``B1``..``B12`` naming, ``B08A``, STAC/common names (``blue``, ``nir``, ``nir08``,
``swir16`` ...) and is case-insensitive. Band sets (``rgb``, ``fcc``, ``rgbn``, ``l1c13``,
``l2a12``, ``s1``) expand to tuples of canonical names.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cloudfree.errors import CloudfreeError


class BandError(CloudfreeError, ValueError):
    """A band name or band set is unknown, or two band lists do not match."""


@dataclass(frozen=True)
class Band:
    """One band: canonical name, sensor, native ground resolution (m), centre wavelength (nm)."""

    name: str
    sensor: str  # "S2" or "S1"
    resolution_m: int
    wavelength_nm: float | None
    common_name: str | None = None


# ESA order (L1C has all 13; L2A drops B10).
S2_BANDS: tuple[Band, ...] = (
    Band("B01", "S2", 60, 442.7, "coastal"),
    Band("B02", "S2", 10, 492.4, "blue"),
    Band("B03", "S2", 10, 559.8, "green"),
    Band("B04", "S2", 10, 664.6, "red"),
    Band("B05", "S2", 20, 704.1, "rededge1"),
    Band("B06", "S2", 20, 740.5, "rededge2"),
    Band("B07", "S2", 20, 782.8, "rededge3"),
    Band("B08", "S2", 10, 832.8, "nir"),
    Band("B8A", "S2", 20, 864.7, "nir08"),
    Band("B09", "S2", 60, 945.1, "nir09"),
    Band("B10", "S2", 60, 1373.5, "cirrus"),
    Band("B11", "S2", 20, 1613.7, "swir16"),
    Band("B12", "S2", 20, 2202.4, "swir22"),
)
S1_BANDS: tuple[Band, ...] = (
    Band("VV", "S1", 10, None),
    Band("VH", "S1", 10, None),
)
CATALOGUE: dict[str, Band] = {b.name: b for b in S2_BANDS + S1_BANDS}

_EXTRA_ALIASES = {
    "B08A": "B8A",
    "NIR08": "B8A",
    "RE1": "B05",
    "RE2": "B06",
    "RE3": "B07",
    "SWIR1": "B11",
    "SWIR2": "B12",
    "WVP": "B09",
    "WATERVAPOUR": "B09",
    "NIR": "B08",
}


def _build_aliases() -> dict[str, str]:
    aliases: dict[str, str] = {}
    for band in S2_BANDS:
        aliases[band.name] = band.name
        if band.name[1] == "0":  # B01 -> B1
            aliases["B" + band.name[2]] = band.name
        if band.common_name:
            aliases[band.common_name.upper()] = band.name
    for band in S1_BANDS:
        aliases[band.name] = band.name
    aliases.update(_EXTRA_ALIASES)
    return aliases


ALIASES: dict[str, str] = _build_aliases()

BAND_SETS: dict[str, tuple[str, ...]] = {
    "rgb": ("B04", "B03", "B02"),
    "fcc": ("B08", "B04", "B03"),
    "rgbn": ("B02", "B03", "B04", "B08"),
    "10m": ("B02", "B03", "B04", "B08"),
    "nir_swir_re": ("B08", "B11", "B05"),
    "l1c13": tuple(b.name for b in S2_BANDS),
    "l2a12": tuple(b.name for b in S2_BANDS if b.name != "B10"),
    "s1": ("VV", "VH"),
}


def canonical(name: str) -> str:
    """Return the canonical name of one band (``"b1"`` -> ``"B01"``, ``"nir"`` -> ``"B08"``).

    Raises :class:`BandError` naming the input when it is not a known band.
    """
    key = name.strip().upper().replace("_", "").replace("-", "")
    if key in ALIASES:
        return ALIASES[key]
    raise BandError(
        f"unknown band name {name!r}; expected a Sentinel-2 band (B01..B12, B8A, or common names "
        f"such as blue, nir, swir16) or Sentinel-1 VV/VH"
    )


def resolve(spec: str | Iterable[str]) -> tuple[str, ...]:
    """Expand a band set name, a comma-separated list or an iterable of names to canonical names.

    ``resolve("rgbn")`` -> ``("B02", "B03", "B04", "B08")``; ``resolve("B4,B3,B2")`` ->
    ``("B04", "B03", "B02")``; names in a list may themselves be band-set names.
    """
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out: list[str] = []
    for item in items:
        item = item.strip()
        if not item:
            continue
        if item.lower() in BAND_SETS:
            out.extend(BAND_SETS[item.lower()])
        else:
            out.append(canonical(item))
    if not out:
        raise BandError(f"empty band specification {spec!r}")
    if len(set(out)) != len(out):
        raise BandError(f"band specification {spec!r} names a band twice: {out}")
    return tuple(out)


def band(name: str) -> Band:
    """Catalogue entry for one band name (any alias)."""
    return CATALOGUE[canonical(name)]


def is_sar(name: str) -> bool:
    """True for Sentinel-1 bands."""
    return band(name).sensor == "S1"


def require_same(expected: Sequence[str], actual: Sequence[str], what: str) -> None:
    """Raise :class:`BandError` unless the two band lists are identical, naming both sides."""
    if tuple(expected) != tuple(actual):
        raise BandError(f"{what}: band mismatch, expected {list(expected)} but got {list(actual)}")


def indices_of(available: Sequence[str], wanted: Sequence[str], source: str = "raster") -> list[int]:
    """Positions of ``wanted`` bands in ``available`` (both canonical), or a BandError naming the gap."""
    missing = [b for b in wanted if b not in available]
    if missing:
        raise BandError(f"{source} lacks band(s) {missing}; it has {list(available)}")
    return [list(available).index(b) for b in wanted]
