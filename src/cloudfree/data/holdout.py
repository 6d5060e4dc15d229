"""The ONE list of real clear training data and held-out windows for the default removal models.

Every real clear image the project can reach is used: the clear scenes and clear regions of the
samples in ``../shared/data`` (Sen1Floods11, the clear Slovenia dates, the BigEarthNet patches, the
Madagascar scene outside its s2cloudless mask; the SEN12MS-CR patch has no cloud-free training
crop, see below) and the
scene that ships with an installed package (spyndex's Sentinel-2 sample). Some windows are held
out: no training run sees them, and the evaluation (:mod:`cloudfree.evaluation.holdout`,
``bench/bench_quality.py``, the model cards) scores only on them.

Three readers use this module and nothing else:

* the configs ``configs/default_rgbn.yaml`` / ``default_l1c13.yaml``: their ``data.scenes`` and
  ``data.val_scenes`` are exactly :func:`training_entries` / :func:`validation_entries` (a test
  checks it; ``scripts/train_default_models.py --write-configs`` rewrites them);
* training: ``scripts/train_default_models.py`` calls :func:`prepare_training_inputs` to write the
  generated inputs the configs name under ``runs/scenes/`` (the spyndex scene as a GeoTIFF, the
  exclusion masks: real clouds + held-out rectangles);
* evaluation: :data:`HELD_OUT` and :func:`load_held_out`.

Windows are ``(row, col, height, width)`` in pixels of the file's own grid (10 m grid for
band-per-file products). Paths are relative to the data root (``../shared/data``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine
from rasterio.windows import Window

from cloudfree import bands as bandcat
from cloudfree.radiometry import Radiometry
from cloudfree.raster import Raster

WindowT = tuple[int, int, int, int]
SCENES_DIR = "runs/scenes"  # generated training inputs, relative to the repository root
BEN = "bigearthnet_examples/BigEarthNet-S2-Example/"
S1F = "sen1floods11_spain/Spain_7370579_S2Hand.tif"
MADAGASCAR = "madagascar_cloudy_l1c/S2_L1C_cloudy.tif"
MADAGASCAR_MASK = "madagascar_cloudy_l1c/s2cloudless_mask.tif"
SEN12MSCR = "sen12mscr_sample/ROIs1868_summer_s2_cloudy_19_p30.tif"
SLOVENIA = "slovenia_timeseries_l1c/S2_L1C_{}.tif"
SPYNDEX = "spyndex:sentinel"  # the installed package's sample scene
DEMO_PATCH = "S2A_MSIL2A_20170617T113321_4_55"  # held out; ships in bigearthnet-common


def data_root() -> Path:
    """``$CLOUDFREE_SAMPLE_DATA`` or ``../shared/data`` from the current directory."""
    return Path(os.environ.get("CLOUDFREE_SAMPLE_DATA", Path.cwd() / ".." / "shared" / "data")).resolve()


@dataclass(frozen=True)
class HeldOutWindow:
    """A real clear window no training run sees. ``window`` None = the whole file."""

    name: str
    path: str
    window: WindowT | None
    note: str
    cloud_mask: str | None = None  # real clouds inside the window: invalid for scoring


HELD_OUT: tuple[HeldOutWindow, ...] = (
    HeldOutWindow("spyndex_bottom", SPYNDEX, (200, 0, 100, 300), "spyndex sample scene rows 200-299 (4 bands, DN)"),
    HeldOutWindow("sen1floods11_bottom", S1F, (384, 0, 128, 512), "Sen1Floods11 chip rows 384-511 (L1C, 13 bands)"),
    HeldOutWindow(
        "slovenia_0830_bottom",
        SLOVENIA.format("2015-08-30"),
        (64, 0, 37, 100),
        "Slovenia 2015-08-30 rows 64-100 (L1C, 13 bands)",
    ),
    HeldOutWindow("bigearthnet_4_55", BEN + "S2A_MSIL2A_20170617T113321_4_55", None, "BigEarthNet patch 4_55 (L2A)"),
    HeldOutWindow(
        "madagascar_clear",
        MADAGASCAR,
        (384, 256, 128, 192),
        "Madagascar L1C rows 384-511, cols 256-447 (clear part of the cloudy scene, 13 bands)",
        MADAGASCAR_MASK,
    ),
)

# Training entries: (path, window, exclusion mask); rows of Slovenia 64.. and the held-out windows stay out.
_TRAIN_ALL = (
    (S1F, (0, 0, 296, 512), None),
    (SLOVENIA.format("2015-07-11"), (0, 0, 64, 100), None),
    (SLOVENIA.format("2015-08-30"), (0, 0, 64, 100), None),
    (SLOVENIA.format("2015-09-09"), (0, 0, 64, 100), None),
    (MADAGASCAR, None, f"{SCENES_DIR}/madagascar_exclude.tif"),
)
# The SEN12MS-CR patch is NOT trained on: s2cloudless leaves 27 % of it clear, in fragments with no
# cloud-free 64 x 64 px crop (the training patch), so it serves the real-cloud checks only.
_TRAIN_RGBN_ONLY = (  # no 13-band L1C data in these
    *(
        (BEN + p, None, None)
        for p in (
            "S2A_MSIL2A_20170613T101031_87_48",
            "S2A_MSIL2A_20170617T113321_36_85",
            "S2A_MSIL2A_20171221T112501_56_35",
            "S2B_MSIL2A_20170924T93020_69_24",
            "S2B_MSIL2A_20180204T94161_57_38",  # the last one is clear snow
        )
    ),
    (f"{SCENES_DIR}/spyndex_sentinel.tif", (0, 0, 192, 300), None),
)
# checkpoint selection only: Sen1Floods11 rows 304-375, between the training rows (0-295) and the
# held-out window (384-511) with 8 px gaps; no held-out window selects a model
VALIDATION = ((S1F, (304, 0, 72, 512)),)
EXCLUDE_BUFFER_PX = 6


def _entry(path: str, window: WindowT | None, exclude: str | None, shared: str) -> str | dict[str, Any]:
    full = path if path.startswith(SCENES_DIR) else f"{shared}/{path}"
    if window is None and exclude is None:
        return full
    entry: dict[str, Any] = {"path": full}
    if window is not None:
        entry["window"] = list(window)
    if exclude is not None:
        entry |= {"exclude_mask": exclude, "exclude_buffer": EXCLUDE_BUFFER_PX}
    return entry


def training_entries(bands: str, shared: str = "../shared/data") -> list[str | dict[str, Any]]:
    """``data.scenes`` of the default config for ``bands`` (``"rgbn"`` or ``"l1c13"``)."""
    rows = _TRAIN_ALL + (_TRAIN_RGBN_ONLY if bands == "rgbn" else ())
    return [_entry(p, w, e, shared) for p, w, e in rows]


def validation_entries(shared: str = "../shared/data") -> list[str | dict[str, Any]]:
    """``data.val_scenes`` of the default configs."""
    return [_entry(p, w, None, shared) for p, w in VALIDATION]


def bigearthnet_package_patch(patch: str = DEMO_PATCH, bands: tuple[str, ...] = ("B02", "B03", "B04", "B08")) -> Raster:
    """A georeferenced BigEarthNet-S2 example patch (L2A, 10 m bands, UTM) read from ``bigearthnet-common``.

    The package ships its examples as a ``.tar.bz2``; the band GeoTIFFs are read from the archive
    in memory (nothing is extracted to disk). Returns ``(bands, 120, 120)`` DN with the patch's CRS
    and transform.
    """
    import tarfile
    from importlib import resources

    import rasterio

    archive = resources.files("bigearthnet_common") / "BigEarthNet-S2-Example.tar.bz2"
    arrays, profile = [], None
    with resources.as_file(archive) as path, tarfile.open(path, "r:bz2") as tar:
        members = {m.name.rsplit("/", 1)[-1]: m for m in tar.getmembers() if m.isfile()}
        for band in bands:
            member = members.get(f"{patch}_{band}.tif")
            if member is None:
                raise ValueError(f"bigearthnet-common holds no band {band} of patch {patch!r}")
            data = tar.extractfile(member).read()  # type: ignore[union-attr]
            with rasterio.MemoryFile(data) as mem, mem.open() as src:
                arrays.append(src.read(1))
                profile = profile or {"crs": src.crs, "transform": src.transform}
    dn = np.stack(arrays).astype(np.uint16)
    assert profile is not None
    return Raster(
        data=dn,
        bands=tuple(bands),
        crs=profile["crs"],
        transform=profile["transform"],
        valid=(dn > 0).all(axis=0),
        radiometry=Radiometry.DN,
        nodata=0,
        source=f"bigearthnet-common example patch {patch}",
        tags={"SOURCE": f"BigEarthNet-S2 example patch {patch} (Sentinel-2 L2A, 10 m, DN), bigearthnet-common"},
    )


def spyndex_scene() -> Raster:
    """The clear Sentinel-2 sample shipped by ``spyndex``: 4 x 300 x 300 DN (B02, B03, B04, B08).

    It carries no georeference (the package says nothing about where it lies), so it is used for
    training and held-out scoring, not for outputs a user opens in a GIS. The DataArray has dims
    ``(band, x, y)``; it is transposed to ``(band, y, x)`` = (bands, rows, cols).
    """
    import spyndex

    da = spyndex.datasets.open("sentinel")
    names = tuple(bandcat.canonical(str(b)) for b in da.coords["band"].values)
    dn = np.asarray(da.transpose("band", "y", "x").values)
    if dn.min() < 0 or dn.max() > 65535:
        raise ValueError(f"spyndex sample holds values outside uint16 ({dn.min()}..{dn.max()})")
    dn = dn.astype(np.uint16)
    return Raster(
        data=dn,
        bands=names,
        crs=None,
        transform=Affine.identity(),
        valid=(dn > 0).all(axis=0),
        radiometry=Radiometry.DN,
        nodata=0,
        source="spyndex.datasets.open('sentinel')",
        tags={"SOURCE": "spyndex sample Sentinel-2 scene (B02, B03, B04, B08, 10 m, DN)"},
    )


def _open(path: str, root: Path) -> Raster:
    from cloudfree.io.open import open_raster

    return spyndex_scene() if path == SPYNDEX else open_raster(root / path)


def load_held_out(item: HeldOutWindow, root: Path | None = None) -> Raster:
    """The held-out window as a Raster (real clouds inside it, if any, are marked invalid)."""
    from cloudfree.io import read_mask

    root = root or data_root()
    raster = _open(item.path, root)
    if item.cloud_mask:
        cloud = read_mask(root / item.cloud_mask, like=raster) > 0
        raster = replace(raster, valid=raster.valid & ~cloud)
    if item.window is not None:
        row, col, height, width = item.window
        raster = raster.window(Window(col, row, width, height))
    return raster


def prepare_training_inputs(repo: Path, root: Path | None = None, log: Callable[[str], None] = print) -> None:
    """Write what the default configs name under ``runs/scenes/``: the spyndex scene and the exclusion mask.

    Exclusion mask (1 = never train here): Madagascar = its s2cloudless mask + the held-out rectangle.
    """
    from cloudfree.io import read_mask, write_mask, write_raster
    from cloudfree.io.open import open_raster

    root = root or data_root()
    out = repo / SCENES_DIR
    out.mkdir(parents=True, exist_ok=True)
    write_raster(spyndex_scene(), out / "spyndex_sentinel.tif", cog=False)
    mad = open_raster(root / MADAGASCAR)
    mask = (read_mask(root / MADAGASCAR_MASK, like=mad) > 0).astype(np.uint8)
    for item in HELD_OUT:
        if item.path == MADAGASCAR and item.window is not None:
            r, c, h, w = item.window
            mask[max(r - 8, 0) : r + h + 8, max(c - 8, 0) : c + w + 8] = 1
    write_mask(mask, mad, out / "madagascar_exclude.tif", cog=False)
    log(f"madagascar: {1 - mask.mean():.0%} of the scene usable for training")
