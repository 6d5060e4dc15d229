"""The chip store: aligned pairs cut into small georeferenced GeoTIFF chips, with an index table.

Layout of a store folder::

    store.json                               bands, dtype, patch, radiometry of the chips
    index.csv                                one row per chip (INDEX_COLUMNS)
    <split>/<scene>_<row>_<col>_cloudy.tif   optical chips: float32 reflectance (NaN nodata) or
    <split>/<scene>_<row>_<col>_clear.tif      uint16 DN (0 nodata, CLOUDFREE_DN_OFFSET tag)
    <split>/<scene>_<row>_<col>_sar.tif      VV, VH in dB, float32 (when the pair has Sentinel-1)
    <split>/<scene>_<row>_<col>_mask.tif     uint8 class codes, 255 nodata (when the pair has a mask)

``row``/``col`` are the chip's pixel offsets in the aligned pair's grid; ``left .. top`` its bounds
in ``crs``; chip paths are relative to the store. ``cloud_fraction`` is the share of valid mask
pixels coded 1, 2 or 3 (empty without a mask); ``nodata_fraction`` the share of pixels invalid in
any member.

Writes are transactional: :class:`ChipStore` builds the new store in a hidden sibling folder (the
files of an existing store are hard-linked into it, never modified) and swaps it in by renaming
when every pair succeeded; on any error the staging folder is deleted and the store is unchanged.
Several pairs accumulate in one store; adding a scene again replaces its chips.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from tqdm import tqdm

from cloudfree.bands import BandError
from cloudfree.data.chip_index import (  # noqa: F401 (the store's file API, re-exported)
    CHIP_DTYPES,
    INDEX,
    INDEX_COLUMNS,
    STORE_FORMAT,
    STORE_INFO,
    ChipStoreError,
    chip_cloud_fraction,
    link_or_copy,
    read_index,
    read_store_info,
    replace_dir,
    write_index,
)
from cloudfree.data.pairing import MASK_NODATA, AlignedPair
from cloudfree.data.splits import SPLITS, check_fractions, split_windows
from cloudfree.data.tiling import sliding_windows
from cloudfree.errors import DataWarning
from cloudfree.io import write_mask, write_raster
from cloudfree.io.atomic import remove_stale_temporaries, temp_sibling


@dataclass
class PairReport:
    """What :meth:`ChipStore.add_pair` did: chips written per split, windows skipped per reason."""

    scene: str
    chips: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    skipped: dict[str, int] = field(default_factory=lambda: {"nodata": 0, "cloud_fraction": 0, "split_boundary": 0})

    def __str__(self) -> str:
        chips = ", ".join(f"{k} {v}" for k, v in self.chips.items())
        skipped = ", ".join(f"{k} {v}" for k, v in self.skipped.items() if v) or "none"
        return f"{self.scene}: {sum(self.chips.values())} chips ({chips}); skipped: {skipped}"


class ChipStore:
    """Transactional writer of a chip store (see module docstring); use as a context manager.

    Args:
        out_dir: the store folder; created, or extended when it already holds a store.
        dtype: ``"float32"`` (reflectance) or ``"uint16"`` (DN with the source's offsets) for optical chips.
    """

    def __init__(self, out_dir: str | os.PathLike[str], dtype: str = "float32") -> None:
        if dtype not in CHIP_DTYPES:
            raise ValueError(f"chip dtype must be one of {CHIP_DTYPES}, got {dtype!r}")
        self.final = Path(out_dir)
        self.dtype = dtype
        self.staging: Path | None = None
        self.rows: list[dict[str, Any]] = []
        self.info: dict[str, Any] = {"format": STORE_FORMAT, "version": 1, "dtype": dtype}
        self._added: set[str] = set()
        self._requested: set[str] = set()  # splits asked for with a fraction > 0

    # -- transaction -------------------------------------------------------------------------------
    def __enter__(self) -> ChipStore:
        final = self.final
        remove_stale_temporaries(final)  # after a kill -9: a store moved aside goes back first
        existing = final.is_dir() and (final / INDEX).is_file()
        if final.exists() and not existing and (not final.is_dir() or any(final.iterdir())):
            raise ChipStoreError(f"{final}: exists and is not a chip store (no {INDEX}); choose another --out")
        final.parent.mkdir(parents=True, exist_ok=True)
        if existing:
            info = read_store_info(final)
            if info.get("dtype") != self.dtype:
                raise ChipStoreError(f"{final}: store holds {info.get('dtype')} chips, cannot add {self.dtype} chips")
            self.info = info
            self.rows = read_index(final)
        self.staging = temp_sibling(final, "staging")
        try:
            if existing:
                shutil.copytree(final, self.staging, copy_function=link_or_copy)
            else:
                self.staging.mkdir()
        except BaseException:
            shutil.rmtree(self.staging, ignore_errors=True)
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self.staging is not None
        try:
            if exc_type is None:
                self._commit()
        finally:
            if self.staging.exists():
                shutil.rmtree(self.staging, ignore_errors=True)

    def _commit(self) -> None:
        assert self.staging is not None
        self._warn_empty_splits()
        (self.staging / STORE_INFO).write_text(json.dumps(self.info, indent=2))
        write_index(self.rows, self.staging / INDEX)
        replace_dir(self.staging, self.final)

    def empty_splits(self) -> list[str]:
        """Splits asked for (fraction > 0) that hold no chip in the store, when it holds any."""
        counts = {name: 0 for name in SPLITS}
        for row in self.rows:
            counts[row["split"]] = counts.get(row["split"], 0) + 1
        if not any(counts.values()):
            return []
        return [name for name in SPLITS if name in self._requested and counts[name] == 0]

    def _warn_empty_splits(self) -> None:
        empty = self.empty_splits()
        if empty:
            counts = {name: sum(1 for r in self.rows if r["split"] == name) for name in SPLITS}
            held = ", ".join(f"{n} {name}" for name, n in counts.items())
            warnings.warn(
                f"{self.final}: the {' and '.join(empty)} split(s) are empty ({held} chips): the pairs' common "
                "area is too small for the split layout; add pairs, use a smaller --patch, or change --split",
                DataWarning,
                stacklevel=3,
            )

    # -- adding pairs --------------------------------------------------------------------------------
    def _check_fits(self, pair: AlignedPair, patch: int) -> None:
        if "bands" in self.info and tuple(self.info["bands"]) != pair.bands:
            raise BandError(
                f"{pair.sources}: bands {list(pair.bands)} differ from the chip store {self.final}'s "
                f"bands {self.info['bands']}"
            )
        if "patch" in self.info and int(self.info["patch"]) != patch:
            raise ChipStoreError(
                f"{self.final}: store holds {self.info['patch']} px chips, cannot add {patch} px chips"
            )
        self.info.update(
            bands=list(pair.bands), patch=patch, radiometry="reflectance" if self.dtype == "float32" else "dn"
        )

    def _remove_scene(self, scene: str) -> None:
        assert self.staging is not None
        keep = []
        for row in self.rows:
            if row["scene"] != scene:
                keep.append(row)
                continue
            for key in ("cloudy", "clear", "sar", "mask"):
                if row[key]:
                    with contextlib.suppress(FileNotFoundError):
                        (self.staging / row[key]).unlink()
        self.rows = keep

    def add_pair(
        self,
        pair: AlignedPair,
        patch: int,
        stride: int | None = None,
        cloud_range: tuple[float, float] | None = (0.05, 0.30),
        max_nodata: float = 0.0,
        split: Sequence[float] = (0.8, 0.1, 0.1),
        seed: int = 0,
        progress: bool = False,
    ) -> PairReport:
        """Cut ``pair`` into chips and add them to the store (replacing earlier chips of its scene).

        Args:
            pair: an aligned pair (``align_pair``); ``pair.scene`` names its chips.
            patch: chip size in pixels; stride: step between chips (default ``patch``).
            cloud_range: keep chips whose cloud fraction lies in ``[low, high]`` (needs a mask); None keeps all.
            max_nodata: keep chips with at most this fraction of invalid pixels (0: fully valid only).
            split: (train, val, test) fractions; spatially disjoint blocks (:mod:`cloudfree.data.splits`).
            seed: seed of the split layout (combined with the scene id).
        """
        assert self.staging is not None, "use ChipStore as a context manager"
        if pair.scene in self._added:
            raise ChipStoreError(f"scene id {pair.scene!r} is given twice; scene ids must be unique")
        if cloud_range is not None:
            low, high = cloud_range
            if not 0 <= low <= high <= 1:
                raise ValueError(f"cloud range must satisfy 0 <= low <= high <= 1, got {cloud_range}")
            if pair.mask is None:
                raise ValueError(f"{pair.sources}: filtering by cloud fraction needs a cloud mask (--mask)")
        if not 0 <= max_nodata <= 1:
            raise ValueError(f"max nodata fraction must be within 0..1, got {max_nodata}")
        check_fractions(split)
        self._requested |= {name for name, fraction in zip(SPLITS, split, strict=False) if fraction > 0}
        self._check_fits(pair, patch)
        self._remove_scene(pair.scene)
        self._added.add(pair.scene)

        windows = sliding_windows(pair.height, pair.width, patch, stride, cover=(stride or patch) <= patch)
        layout = split_windows(windows, pair.height, pair.width, split, seed=[seed, _scene_seed(pair.scene)])
        report = PairReport(pair.scene)
        report.skipped["split_boundary"] = len(layout.dropped)
        valid = pair.valid
        todo = [(name, win) for name in SPLITS for win in layout.windows[name]]
        for name, win in tqdm(todo, desc=pair.scene, unit="chip", disable=not progress, leave=False):
            r, c, h, w = int(win.row_off), int(win.col_off), int(win.height), int(win.width)
            nodata = 1.0 - float(valid[r : r + h, c : c + w].mean())
            if nodata > max_nodata:
                report.skipped["nodata"] += 1
                continue
            chip = pair.window(win)
            cloud = chip_cloud_fraction(chip.mask.data[0]) if chip.mask is not None else math.nan
            if cloud_range is not None and not (cloud_range[0] <= cloud <= cloud_range[1]):
                report.skipped["cloud_fraction"] += 1
                continue
            self.rows.append(self._write_chip(chip, name, r, c, cloud, nodata))
            report.chips[name] += 1
        return report

    def _write_chip(self, chip: AlignedPair, split: str, row: int, col: int, cloud: float, nodata: float) -> dict:
        assert self.staging is not None
        stem = f"{split}/{chip.scene}_{row}_{col}"
        paths = {key: "" for key in ("cloudy", "clear", "sar", "mask")}
        for key in ("cloudy", "clear"):
            raster = chip.members()[key]
            paths[key] = f"{stem}_{key}.tif"
            write_raster(raster.to_dn() if self.dtype == "uint16" else raster, self.staging / paths[key], cog=False)
        if chip.sar is not None:
            paths["sar"] = f"{stem}_sar.tif"
            write_raster(chip.sar, self.staging / paths["sar"], dtype="float32", cog=False)
        if chip.mask is not None:
            paths["mask"] = f"{stem}_mask.tif"
            write_mask(chip.mask.data[0], chip.clear, self.staging / paths["mask"], nodata=MASK_NODATA, cog=False)
        left, bottom, right, top = chip.clear.bounds
        return {
            "scene": chip.scene, "split": split, "row": row, "col": col, "height": chip.height, "width": chip.width,
            "left": left, "bottom": bottom, "right": right, "top": top,
            "crs": chip.crs.to_string() if chip.crs is not None else "",
            "cloud_fraction": cloud, "nodata_fraction": nodata, **paths,
        }  # fmt: skip


def _scene_seed(scene: str) -> int:
    return zlib.crc32(scene.encode())


def build_chips(
    pair: AlignedPair,
    out_dir: str | os.PathLike[str],
    patch: int,
    stride: int | None = None,
    cloud_range: tuple[float, float] | None = (0.05, 0.30),
    max_nodata: float = 0.0,
    split: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    scene_id: str | None = None,
    dtype: str = "float32",
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Add one pair's chips to the store at ``out_dir`` (created if needed) and return the store's index rows.

    See :meth:`ChipStore.add_pair` for the arguments; ``scene_id`` overrides ``pair.scene``.
    """
    if scene_id is not None:
        pair = AlignedPair(pair.cloudy, pair.clear, pair.sar, pair.mask, scene=scene_id)
    with ChipStore(out_dir, dtype=dtype) as store:
        store.add_pair(pair, patch, stride, cloud_range, max_nodata, split, seed, progress)
    return store.rows
