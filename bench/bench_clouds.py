"""Simulated clouds against real ones: object sizes, edge softness, brightness per band.

Real clouds: the Madagascar L1C scene with its s2cloudless mask, the overcast Slovenia dates
(2015-07-31, 2015-08-20) with their CLM masks, the SEN12MS-CR patch with an s2cloudless mask made
here. Simulated: ``CloudSimulator(cloud_type=...)`` (cumulus, stratus, haze, mixed) over the clear
Sen1Floods11 chip (10 m) and over the clear part of the Madagascar scene (its own ~70 m grid),
several seeds each. Per source it prints:

* cloud cover; connected cloud objects (8-connected): count, equivalent diameter (m) median / p90 /
  largest, share of the cloud area in objects wider than 1 km;
* edge softness: the visible brightness (mean of B02, B03, B04) at 1, 2, 4 px inside the mask
  edge as a fraction of the contrast between 3 px outside and the interior (>= 6 px inside): a
  hard-edged cloud is ~1 already at 1 px, a soft one rises gradually;
* median reflectance inside the clouds per band (B02, B04, B08, B10 cirrus, B11, B12);
* **shadow darkening per band**: the median of a shadow's core (2 px in from its edge, 6 px or
  more from any cloud) over the median of the clear ring 4-12 px around it. Real shadows: the
  auto mask's (``cloudfree mask --method auto``: ukis-csmask) on Madagascar and the SEN12MS-CR
  patch (top-of-atmosphere L1C); simulated: ``HELD_OUT_SIMULATOR``'s over the Sen1Floods11 chip
  and the Madagascar grid (L1C; over L2A the path reflectance is capped near 0 and shadows dim
  every band alike, see ``tests/test_data/test_synthetic_clouds.py``). For the real scenes also
  the default path's output over the same core (``cloudfree remove`` with no flag) over the same
  ring: 1 when a restored shadow has the level of the ground around it.

    python bench/bench_clouds.py [--seeds 4]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cloudfree.data.holdout import MADAGASCAR, MADAGASCAR_MASK, S1F, SEN12MSCR, SLOVENIA, data_root
from cloudfree.data.synthetic_clouds import CloudSimulator
from cloudfree.io import read_mask
from cloudfree.io.open import open_raster
from cloudfree.raster import Raster
from common import print_table, save_json

BANDS = ("B02", "B04", "B08", "B10", "B11", "B12")


def pixel_metres(raster: Raster) -> float:
    """Ground size of a pixel (m); degrees converted at the scene's latitude."""
    t = raster.transform
    size = math.sqrt(abs(t.a * t.e - t.b * t.d))
    if raster.crs is not None and raster.crs.is_geographic:
        lat = t.f + t.e * raster.height / 2
        return size * 111_320.0 * math.sqrt(math.cos(math.radians(lat)))
    return size


def cloud_stats(refl: Raster, cloud: np.ndarray, metres: float) -> dict[str, float]:
    """The statistics of the module docstring for one cloud mask ``(h, w)`` bool over ``refl``."""
    valid = refl.valid
    cloud = cloud & valid
    row: dict[str, float] = {"pixel_m": metres, "cover": float(cloud[valid].mean())}
    labels, n = ndimage.label(cloud, structure=np.ones((3, 3)))
    areas = np.bincount(labels.ravel())[1:] if n else np.zeros(0)
    diam = 2.0 * np.sqrt(areas / math.pi) * metres
    row |= {
        "objects": float(n),
        "diam_median_m": float(np.median(diam)) if n else 0.0,
        "diam_p90_m": float(np.percentile(diam, 90)) if n else 0.0,
        "diam_max_m": float(diam.max()) if n else 0.0,
        "area_in_gt1km": float(areas[diam > 1000].sum() / max(areas.sum(), 1)) if n else 0.0,
    }
    vis = refl.select(("B02", "B03", "B04")).data.mean(axis=0)
    inside = ndimage.distance_transform_edt(cloud)
    outside = ndimage.distance_transform_edt(~cloud)
    ok = valid & np.isfinite(vis)
    core = ok & (inside >= 6)
    ring_out = ok & (outside > 2.5) & (outside <= 3.5)
    if core.sum() > 20 and ring_out.sum() > 20:
        lo, hi = float(np.median(vis[ring_out])), float(np.median(vis[core]))
        for d in (1, 2, 4):
            ring = ok & (inside > d - 0.5) & (inside <= d + 0.5)
            row[f"edge_{d}px"] = (float(np.median(vis[ring])) - lo) / max(hi - lo, 1e-6) if ring.any() else math.nan
    for b in BANDS:
        if b in refl.bands and cloud.any():
            row[f"{b}_median"] = float(np.median(refl.select((b,)).data[0][cloud & ok]))
    return row


def real_sources(root: Path) -> list[tuple[str, Raster, np.ndarray]]:
    from cloudfree.masking.s2cloudless_adapter import S2Cloudless

    out = []
    mad = open_raster(root / MADAGASCAR)
    out.append(("real madagascar (s2cloudless)", mad, read_mask(root / MADAGASCAR_MASK, like=mad) == 1))
    for date in ("2015-07-31", "2015-08-20"):
        r = open_raster(root / SLOVENIA.format(date))
        clm = read_mask(root / f"slovenia_timeseries_l1c/CLM_{date}.tif", like=r)
        out.append((f"real slovenia {date} (CLM)", r, clm == 1))
    s12 = open_raster(root / SEN12MSCR, bands="l1c13")
    _, mask = S2Cloudless(level="L1C")(s12)
    out.append(("real sen12mscr (s2cloudless)", s12, mask.data[0] == 1))
    return out


def simulated_sources(root: Path, seeds: int) -> list[tuple[str, Raster, np.ndarray]]:
    out = []
    s1f = open_raster(root / S1F)
    mad = open_raster(root / MADAGASCAR)
    for kind in ("cumulus", "stratus", "haze", "mixed"):
        sim = CloudSimulator(cloud_type=kind, coverage=(0.2, 0.6))
        for name, scene in (("sen1floods11 10 m", s1f), ("madagascar grid", mad)):
            for seed in range(seeds):
                cloudy, mask, _ = sim.simulate_raster(scene, rng=seed)
                out.append((f"sim {kind} / {name}", cloudy, np.isin(mask, (1, 2))))
    return out


SHADOW_BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")


def shadow_ratios(refl: Raster, codes: np.ndarray, restored: Raster | None = None) -> dict[str, float]:
    """Per band: median of the shadow core over median of the clear ring around it (see the docstring)."""
    ok = refl.valid
    shadow = (codes == 3) & ok
    cloud = np.isin(codes, (1, 2))
    core = ndimage.binary_erosion(shadow, iterations=2) & ~ndimage.binary_dilation(cloud, iterations=6)
    ring = (
        ndimage.binary_dilation(shadow, iterations=12) & ~ndimage.binary_dilation(shadow, iterations=3)
        & (codes == 0) & ok & ~ndimage.binary_dilation(cloud, iterations=6)
    )  # fmt: skip
    row: dict[str, float] = {"shadow_core_px": float(core.sum())}
    if core.sum() < 50 or ring.sum() < 50:
        return row
    for b in SHADOW_BANDS:
        if b in refl.bands:
            band = refl.select((b,)).data[0]
            ring_level = float(np.median(band[ring]))
            row[f"{b}_shadow"] = float(np.median(band[core])) / ring_level
            if restored is not None and b in restored.bands:
                row[f"{b}_restored"] = float(np.median(restored.select((b,)).data[0][core])) / ring_level
    return row


def shadow_rows(root: Path, seeds: int) -> list[dict[str, float | str]]:
    """Real shadows (auto mask, and the default path's restoration) against simulated ones."""
    import tempfile

    from cloudfree.evaluation.holdout import HELD_OUT_SIMULATOR
    from cloudfree.inference.automask import auto_mask
    from cloudfree.inference.removal import remove

    per: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, path, bands in (("madagascar", MADAGASCAR, None), ("sen12mscr", SEN12MSCR, "l1c13")):
            raster = open_raster(root / path, bands=bands)
            mask, _ = auto_mask(root / path, Path(tmp) / f"{name}_mask.tif", progress=False, bands=bands)
            out = Path(tmp) / f"{name}_out.tif"
            remove(root / path, out, bands=bands, progress=False, log=lambda _: None)
            restored = open_raster(out).to_reflectance()
            codes = read_mask(mask, like=raster)
            per[f"real {name} (auto mask, L1C)"] = [shadow_ratios(raster.to_reflectance(), codes, restored)]
    scenes = [("sen1floods11 (L1C)", open_raster(root / S1F))]
    scenes += [("madagascar grid (L1C)", open_raster(root / MADAGASCAR))]
    for name, scene in scenes:
        for seed in range(seeds):
            cloudy, codes, _ = HELD_OUT_SIMULATOR.simulate_raster(scene, rng=seed)
            per.setdefault(f"sim {name}", []).append(shadow_ratios(cloudy.to_reflectance(), codes))
    rows: list[dict[str, float | str]] = []
    for name, items in per.items():
        keys = sorted({k for r in items for k in r}, key=lambda k: (not k.endswith("px"), k))
        rows.append({"source": name, **{k: float(np.nanmean([r.get(k, math.nan) for r in items])) for k in keys}})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3, help="simulations per cloud type and scene")
    args = parser.parse_args()
    root = data_root()
    rows: dict[str, list[dict[str, float]]] = {}
    for name, raster, cloud in real_sources(root) + simulated_sources(root, args.seeds):
        refl = raster.to_reflectance()
        rows.setdefault(name, []).append(cloud_stats(refl, cloud, pixel_metres(refl)))
    table = []
    for name, items in rows.items():
        keys = items[0].keys()
        table.append({"source": name, **{k: float(np.nanmean([r.get(k, math.nan) for r in items])) for k in keys}})
    size_keys = ("pixel_m", "cover", "objects", "diam_median_m", "diam_p90_m", "diam_max_m", "area_in_gt1km")
    edge_keys = ("edge_1px", "edge_2px", "edge_4px")
    band_keys = tuple(f"{b}_median" for b in BANDS)
    for title, keys in (
        ("Cloud objects (8-connected), real vs simulated", size_keys),
        ("Edge softness: brightness d px inside the edge / full contrast (hard edge ~1 at 1 px)", edge_keys),
        ("Median reflectance inside clouds", band_keys),
    ):
        print_table(title, [{"source": r["source"], **{k: r.get(k, math.nan) for k in keys}} for r in table])
    shadows = shadow_rows(root, args.seeds)
    columns = ["shadow_core_px"] + [f"{b}_{kind}" for kind in ("shadow", "restored") for b in SHADOW_BANDS]
    print_table(
        "Shadow darkening: median of the shadow core / median of the clear ring around it (restored: the output's)",
        [{"source": r["source"], **{k: r.get(k, math.nan) for k in columns}} for r in shadows],
    )
    save_json("clouds", {"seeds": args.seeds, "rows": table, "shadows": shadows})


if __name__ == "__main__":
    main()
