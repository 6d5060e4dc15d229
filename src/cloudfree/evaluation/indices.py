"""Spectral indices of any scene, from the catalogue of spyndex (Awesome Spectral Indices).

:func:`plan_indices` turns index names (``"NDVI,NBR,NDWI"``) into :class:`IndexPlan` s for the bands
a raster holds, mapping cloudfree band names to spyndex's standard band symbols through spyndex's
own Sentinel-2A band table (``B`` = B02, ``G`` = B03, ``R`` = B04, ``RE1..3`` = B05..B07,
``N`` = B08, ``N2`` = B8A, ``WV`` = B09, ``S1`` = B11, ``S2`` = B12, ``A`` = B01; radar indices use
``VV`` / ``VH`` in linear power). Constants take spyndex's defaults (``L`` = 1, ``g`` = 2.5 ...);
wavelength constants (``lambdaN`` ...) take the Sentinel-2A centre wavelength in nm. An unknown
index, a missing band or a constant without a default is refused with one line naming it.

:func:`compute_indices` evaluates the plans on reflectance ``(bands, h, w)`` (0..1, NaN where not
valid) with ``spyndex.computeIndex`` and returns float32 ``(indices, h, w)``, NaN where an input is
NaN or the formula divides by zero. :func:`write_indices` streams a whole scene to a COG by windows.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import spyndex

from cloudfree import bands as bandcat
from cloudfree.evaluation.scene import EvaluationInputError, block_windows, open_imagery, physical
from cloudfree.io.writer import WindowedCOGWriter

RADAR = ("VV", "VH", "HH", "HV")


@cache
def standard_bands() -> dict[str, str]:
    """spyndex standard band symbol -> cloudfree band name (``{"N": "B08", "S2": "B12", ...}``)."""
    out: dict[str, str] = {}
    for symbol in spyndex.bands:
        s2 = getattr(spyndex.bands[symbol], "sentinel2a", None)
        if s2 is not None:
            out[symbol] = bandcat.canonical(s2.band)
    for symbol in RADAR:
        try:
            out[symbol] = bandcat.canonical(symbol)
        except bandcat.BandError:
            continue
    return out


def _constant(symbol: str) -> float | None:
    if symbol.startswith("lambda") and symbol[6:] in spyndex.bands:
        s2 = getattr(spyndex.bands[symbol[6:]], "sentinel2a", None)
        return float(s2.wavelength) if s2 is not None else None
    value = spyndex.constants[symbol].default
    return None if value is None else float(value)


@dataclass(frozen=True)
class IndexPlan:
    """One index ready to compute: its spyndex name and formula, the bands and constants it takes."""

    name: str
    formula: str
    bands: dict[str, str]  # spyndex symbol -> cloudfree band name
    constants: dict[str, float]


def resolve_name(name: str) -> str:
    """spyndex's spelling of an index name (exact, else case-insensitive), or a one-line error."""
    if name in spyndex.indices:
        return name
    folded = [key for key in spyndex.indices if key.lower() == name.lower()]
    if len(folded) == 1:
        return folded[0]
    close = difflib.get_close_matches(name, list(spyndex.indices), n=4, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else "; e.g. NDVI, NBR, NDWI, EVI, SAVI, NDMI"
    raise EvaluationInputError(f"unknown spectral index {name!r} (spyndex knows {len(spyndex.indices)} indices){hint}")


def split_names(spec: str | Sequence[str]) -> list[str]:
    """``"NDVI,NBR"`` or ``["NDVI", "NBR"]`` -> spyndex names, without duplicates."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [resolve_name(item.strip()) for item in items if item.strip()]
    if not names:
        raise EvaluationInputError(f"no spectral index named in {spec!r}")
    return list(dict.fromkeys(names))


def plan_indices(spec: str | Sequence[str], available: Sequence[str], source: str = "input") -> list[IndexPlan]:
    """Plans for the indices in ``spec`` computed from ``available`` bands (cloudfree names)."""
    table = standard_bands()
    plans = []
    for name in split_names(spec):
        index = spyndex.indices[name]
        needs: dict[str, str] = {}
        constants: dict[str, float] = {}
        missing: list[str] = []
        for symbol in index.bands:
            if symbol in table:
                band = table[symbol]
                needs[symbol] = band
                if band not in available:
                    missing.append(f"{band} ({symbol})")
            elif symbol in spyndex.constants:
                value = _constant(symbol)
                if value is None:
                    raise EvaluationInputError(f"index {name} needs the constant {symbol!r}, which has no default")
                constants[symbol] = value
            else:
                raise EvaluationInputError(
                    f"index {name} needs {symbol!r}, which is not a Sentinel band (kernel and "
                    f"other-sensor indices are not supported)"
                )
        if missing:
            raise EvaluationInputError(
                f"index {name} = {index.formula} needs band(s) {', '.join(missing)}; {source} has {list(available)}"
            )
        plans.append(IndexPlan(name, index.formula, needs, constants))
    return plans


def bands_needed(plans: Sequence[IndexPlan]) -> tuple[str, ...]:
    """The distinct cloudfree bands the plans read, in catalogue order."""
    wanted = {band for plan in plans for band in plan.bands.values()}
    order = list(bandcat.CATALOGUE)
    return tuple(sorted(wanted, key=order.index))


def compute_indices(data: np.ndarray, bands: Sequence[str], plans: Sequence[IndexPlan]) -> np.ndarray:
    """Float32 ``(len(plans), h, w)`` from physical values ``data`` ``(bands, h, w)`` (reflectance 0..1)."""
    position = {band: i for i, band in enumerate(bands)}
    out = np.empty((len(plans), *data.shape[1:]), np.float32)
    for k, plan in enumerate(plans):
        params = {symbol: data[position[band]].astype(np.float64) for symbol, band in plan.bands.items()}
        params.update(plan.constants)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            value = np.asarray(spyndex.computeIndex(plan.name, params), dtype=np.float32)
        out[k] = np.where(np.isfinite(value), value, np.nan)
    return out


def write_indices(
    source_path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    spec: str | Sequence[str],
    *,
    bands: str | Sequence[str] | None = None,
    dn_offset: float | None = None,
    overwrite: bool = False,
) -> tuple[Path, list[IndexPlan]]:
    """Write the indices of a scene as a float32 COG (NaN nodata), one band per index, by windows.

    CRS and transform are the input's; band descriptions are the index names; the tag
    ``INDEX_FORMULAS`` holds each formula. Nothing is written when an index cannot be computed.
    """
    out = Path(output)
    source = open_imagery(source_path, bands, dn_offset)
    plans = plan_indices(spec, source.bands, str(source.path))
    if out.exists() and not overwrite:
        raise EvaluationInputError(f"{out}: exists; pass --overwrite to replace it")
    if out.resolve() == Path(source_path).resolve():
        raise EvaluationInputError(f"{out}: the output would replace the input")
    needed = bands_needed(plans)
    tags = {
        "INDEX_FORMULAS": {p.name: p.formula for p in plans},
        "INDEX_SOURCE": str(source.path),
        "RADIOMETRY": "spectral index of reflectance (DN converted with offsets); SAR in linear power",
    }
    with WindowedCOGWriter(
        out,
        height=source.height,
        width=source.width,
        crs=source.crs,
        transform=source.transform,
        descriptions=[p.name for p in plans],
        dtype="float32",
        nodata=float("nan"),
        tags=tags,
    ) as writer:
        for window in block_windows(source.height, source.width):
            raster = source.read(select=needed, window=window)
            writer.write(compute_indices(physical(raster), raster.bands, plans), window)
    return out, plans
