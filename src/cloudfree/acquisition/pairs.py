"""Self-supervised pair mining: clear and cloudy Sentinel-2 scenes of one tile, nearest Sentinel-1.

A scene is *clear* when its scene cloud cover (``eo:cloud_cover``) is at most ``max_clear_cloud``
(1 % by default) and *cloudy* when it lies in ``cloudy_range`` (5..50 % by default: thick enough to
learn from, clear enough that the pair still shares most of the ground). Each cloudy scene is paired
with the clear scenes of the **same MGRS tile** acquired within ``max_days`` of it, nearest first.

Ranking is deterministic. Clear candidates of one cloudy scene are ordered by
``(|time gap|, clear cloud cover, clear acquisition time, clear id)``: nearest in time, then the less
cloudy, then the earlier, then the id. ``rank`` 0 is the best; ``one_per_cloudy`` keeps only it.

For every optical scene the Sentinel-1 item nearest in time whose footprint intersects the optical
footprint is attached when within ``max_s1_days``, ordered by ``(|gap|, time, id)``.

Each row carries what ``cloudfree fetch`` needs: band -> href maps, per-band DN offsets read from the
item (with their source), the clear scene's native grid, and the Sentinel-1 VV/VH hrefs.
Footprints are intersected with shapely (part of the ``[stac]`` extra).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cloudfree.acquisition import items as it
from cloudfree.acquisition import missing_extra

PAIR_COLUMNS = (
    "pair_id", "tile", "rank", "gap_days",
    "cloudy_id", "cloudy_datetime", "cloudy_cloud_cover", "cloudy_collection",
    "clear_id", "clear_datetime", "clear_cloud_cover", "clear_collection",
    "cloudy_assets", "cloudy_dn_offset", "cloudy_offset_source", "cloudy_grid",
    "clear_assets", "clear_dn_offset", "clear_offset_source", "clear_grid",
    "cloudy_s1_id", "cloudy_s1_datetime", "cloudy_s1_gap_days", "cloudy_s1_orbit_state", "cloudy_s1_assets",
    "cloudy_s1_unit",
    "clear_s1_id", "clear_s1_datetime", "clear_s1_gap_days", "clear_s1_orbit_state", "clear_s1_assets",
    "clear_s1_unit",
)  # fmt: skip
SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True)
class PairRules:
    """Thresholds of pair mining (cloud cover in percent, gaps in days)."""

    max_clear_cloud: float = 1.0
    cloudy_range: tuple[float, float] = (5.0, 50.0)
    max_days: float = 30.0
    max_s1_days: float = 3.0
    one_per_cloudy: bool = False

    def __post_init__(self) -> None:
        lo, hi = self.cloudy_range
        if not 0 <= lo <= hi <= 100:
            raise ValueError(f"cloudy range {lo}..{hi} % is not an interval within 0..100")
        if self.max_clear_cloud >= lo:
            raise ValueError(
                f"clear threshold {self.max_clear_cloud} % must be below the cloudy range's lower end {lo} %, "
                f"or one scene could be both"
            )
        if self.max_days < 0 or self.max_s1_days < 0:
            raise ValueError("time windows (max days) must not be negative")


@dataclass
class MiningResult:
    """Pair rows (ordered by tile, cloudy time, rank) and the items that were left out, with why."""

    rows: list[dict[str, Any]]
    skipped: list[str] = field(default_factory=list)


def split_items(items: Iterable[it.Item]) -> tuple[list[it.Item], list[it.Item]]:
    """(optical, Sentinel-1) items, each list de-duplicated by id."""
    optical: dict[str, it.Item] = {}
    sar: dict[str, it.Item] = {}
    for item in items:
        (sar if it.is_sar(item) else optical).setdefault(it.item_id(item), item)
    return list(optical.values()), list(sar.values())


def _days(a: it.Item, b: it.Item) -> float:
    """Signed gap ``b - a`` in days."""
    return (it.acquired(b) - it.acquired(a)).total_seconds() / SECONDS_PER_DAY


def _shape(item: it.Item) -> Any:
    try:
        from shapely.geometry import shape
    except ImportError as exc:
        raise missing_extra("shapely (to intersect footprints)") from exc
    return shape(it.footprint(item))


def nearest_s1(optical: it.Item, s1_items: Sequence[it.Item], max_days: float) -> tuple[it.Item, float] | None:
    """The Sentinel-1 item nearest in time to ``optical`` whose footprint intersects it, with the gap (days)."""
    if not s1_items:
        return None
    area = _shape(optical)
    candidates = []
    for s1 in s1_items:
        gap = _days(optical, s1)
        if abs(gap) <= max_days and area.intersects(_shape(s1)):
            candidates.append((abs(gap), it.acquired(s1), it.item_id(s1), s1, gap))
    if not candidates:
        return None
    best = min(candidates, key=lambda c: c[:3])
    return best[3], best[4]


def _grid_json(item: it.Item, assets: dict[str, str]) -> str:
    for band in ("B02", "B03", "B04", "B08", *sorted(assets)):
        if band in assets:
            grid = it.native_grid(item, assets[band])
            if grid is not None:
                return grid.to_json()
    return ""


def _member(item: it.Item, prefix: str) -> dict[str, Any]:
    assets = it.optical_band_assets(item)
    offsets, source = it.dn_offsets(item, sorted(assets))
    return {
        f"{prefix}_id": it.item_id(item),
        f"{prefix}_datetime": it.acquired(item).isoformat().replace("+00:00", "Z"),
        f"{prefix}_cloud_cover": it.cloud_cover(item),
        f"{prefix}_collection": item.get("collection", ""),
        f"{prefix}_assets": json.dumps({b: it.asset_href(item, k) for b, k in sorted(assets.items())}),
        f"{prefix}_dn_offset": json.dumps(offsets),
        f"{prefix}_offset_source": source,
        f"{prefix}_grid": _grid_json(item, assets),
    }


def _s1_member(found: tuple[it.Item, float] | None, prefix: str) -> dict[str, Any]:
    if found is None:
        return {f"{prefix}_s1_{k}": None for k in ("id", "datetime", "gap_days", "orbit_state", "assets", "unit")}
    s1, gap = found
    pols = it.sar_band_assets(s1)
    return {
        f"{prefix}_s1_id": it.item_id(s1),
        f"{prefix}_s1_datetime": it.acquired(s1).isoformat().replace("+00:00", "Z"),
        f"{prefix}_s1_gap_days": round(gap, 4),
        f"{prefix}_s1_orbit_state": s1["properties"].get("sat:orbit_state", ""),
        f"{prefix}_s1_assets": json.dumps({p: it.asset_href(s1, k) for p, k in sorted(pols.items())}),
        f"{prefix}_s1_unit": it.sar_unit(s1),
    }


def mine_pairs(
    optical_items: Iterable[it.Item], s1_items: Iterable[it.Item] = (), rules: PairRules | None = None
) -> MiningResult:
    """Pair cloudy with clear scenes of the same tile (see the module docstring for the rules)."""
    rules = rules or PairRules()
    optical, _ = split_items(optical_items)
    _, s1 = split_items(s1_items)
    result = MiningResult(rows=[])
    by_tile: dict[str, list[it.Item]] = {}
    for item in optical:
        tile, cc = it.mgrs_tile(item), it.cloud_cover(item)
        if tile is None:
            result.skipped.append(f"{it.item_id(item)}: no MGRS tile in its properties or id")
        elif cc is None:
            result.skipped.append(f"{it.item_id(item)}: no eo:cloud_cover")
        else:
            by_tile.setdefault(tile, []).append(item)
    lo, hi = rules.cloudy_range
    used_ids: set[str] = set()
    s1_match: dict[str, tuple[it.Item, float] | None] = {}

    def s1_for(item: it.Item) -> tuple[it.Item, float] | None:
        if it.item_id(item) not in s1_match:
            s1_match[it.item_id(item)] = nearest_s1(item, s1, rules.max_s1_days)
        return s1_match[it.item_id(item)]

    for tile in sorted(by_tile):
        scenes = sorted(by_tile[tile], key=lambda x: (it.acquired(x), it.item_id(x)))
        clear = [x for x in scenes if it.cloud_cover(x) <= rules.max_clear_cloud]  # type: ignore[operator]
        cloudy = [x for x in scenes if lo <= it.cloud_cover(x) <= hi]  # type: ignore[operator]
        for target in cloudy:
            ranked = sorted(
                (
                    (abs(_days(target, c)), it.cloud_cover(c), it.acquired(c), it.item_id(c), c)
                    for c in clear
                    if abs(_days(target, c)) <= rules.max_days
                ),
                key=lambda r: r[:4],
            )
            if rules.one_per_cloudy:
                ranked = ranked[:1]
            for rank, (*_, match) in enumerate(ranked):
                base = f"{tile}_{it.acquired(target):%Y%m%d}_{it.acquired(match):%Y%m%d}"
                pair_id, n = base, 1
                while pair_id in used_ids:
                    n += 1
                    pair_id = f"{base}_{n}"
                used_ids.add(pair_id)
                row: dict[str, Any] = {
                    "pair_id": pair_id,
                    "tile": tile,
                    "rank": rank,
                    "gap_days": round(_days(target, match), 4),
                }
                row |= _member(target, "cloudy") | _member(match, "clear")
                row |= _s1_member(s1_for(target), "cloudy") | _s1_member(s1_for(match), "clear")
                result.rows.append({k: row.get(k) for k in PAIR_COLUMNS})
    return result
