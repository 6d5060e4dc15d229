"""A chip store's files on disk: ``store.json``, the ``index.csv`` table, and the folder swap.

What :class:`~cloudfree.data.chips.ChipStore` writes and every reader of a store
(:mod:`cloudfree.data.dataset`, :mod:`cloudfree.data.pix2pix_export`, ``cloudfree prepare``) reads:
:func:`read_store_info`, :func:`read_index` (typed rows of :data:`INDEX_COLUMNS`), and
:func:`replace_dir`, the rename that puts a finished staging folder in place of a store.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cloudfree import masks as classes
from cloudfree.data.pairing import MASK_NODATA
from cloudfree.errors import CloudfreeError
from cloudfree.io.atomic import temp_sibling

INDEX = "index.csv"
STORE_INFO = "store.json"
STORE_FORMAT = "cloudfree-chips"
INDEX_COLUMNS = (
    "scene", "split", "row", "col", "height", "width", "left", "bottom", "right", "top", "crs",
    "cloud_fraction", "nodata_fraction", "cloudy", "clear", "sar", "mask",
)  # fmt: skip
_INT_COLUMNS = ("row", "col", "height", "width")
_FLOAT_COLUMNS = ("left", "bottom", "right", "top", "cloud_fraction", "nodata_fraction")
CHIP_DTYPES = ("float32", "uint16")


class ChipStoreError(CloudfreeError, ValueError):
    """A chip store cannot be read, or a pair does not fit the store it is added to."""


def chip_cloud_fraction(codes: np.ndarray) -> float:
    """Cloud fraction of a class-code mask (``masks.cloud_fraction``); NaN when no pixel is valid."""
    return classes.cloud_fraction(codes) if (codes != MASK_NODATA).any() else math.nan


def read_store_info(store_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``store.json`` of a chip store (bands, dtype, patch ...)."""
    path = Path(store_dir) / STORE_INFO
    if not path.is_file():
        raise ChipStoreError(f"{store_dir}: not a chip store (no {STORE_INFO}); make one with `cloudfree prepare`")
    info = json.loads(path.read_text())
    if info.get("format") != STORE_FORMAT:
        raise ChipStoreError(f"{path}: format {info.get('format')!r} is not {STORE_FORMAT!r}")
    return info


def read_index(store_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Rows of a store's ``index.csv`` with typed values (ints, floats; NaN / '' when absent)."""
    path = Path(store_dir) / INDEX
    if not path.is_file():
        raise ChipStoreError(f"{store_dir}: not a chip store (no {INDEX}); make one with `cloudfree prepare`")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = set(INDEX_COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise ChipStoreError(f"{path}: index lacks columns {sorted(missing)}")
        rows = []
        for raw in reader:
            row: dict[str, Any] = dict(raw)
            for key in _INT_COLUMNS:
                row[key] = int(raw[key])
            for key in _FLOAT_COLUMNS:
                row[key] = float(raw[key]) if raw[key] != "" else math.nan
            rows.append(row)
    return rows


def write_index(rows: Sequence[dict[str, Any]], path: Path) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=INDEX_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            out = dict(row)
            for key in _FLOAT_COLUMNS:
                out[key] = "" if isinstance(row[key], float) and math.isnan(row[key]) else repr(float(row[key]))
            writer.writerow(out)


def link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def replace_dir(staging: Path, final: Path) -> None:
    """Put the finished folder ``staging`` in place of ``final`` by renames (the old one is then deleted)."""
    if not final.exists():
        os.replace(staging, final)
        return
    old = temp_sibling(final, "old")
    os.replace(final, old)
    try:
        os.replace(staging, final)
    except OSError:
        os.replace(old, final)
        raise
    shutil.rmtree(old, ignore_errors=True)
