"""Flat tables of items and pairs as CSV (standard library) or Parquet (pyarrow, optional extra).

Rows are dicts of strings, numbers or None; nested values (asset hrefs, offsets, grids) are stored
as JSON text so that both formats hold the same columns. Files are written to a temporary sibling
and renamed, so a reader never sees half a table.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cloudfree.acquisition import missing_extra
from cloudfree.io.atomic import atomic_path

TABLE_SUFFIXES = (".csv", ".parquet")


def _columns(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None) -> list[str]:
    if columns is not None:
        return list(columns)
    out: list[str] = []
    for row in rows:
        out += [k for k in row if k not in out]
    return out


def write_table(
    rows: Sequence[dict[str, Any]], path: str | os.PathLike[str], columns: Sequence[str] | None = None
) -> Path:
    """Write ``rows`` to ``path`` (``.csv`` or ``.parquet``) atomically; returns the path."""
    final = Path(path)
    suffix = final.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(f"{final}: unsupported table format {suffix!r}; use one of {list(TABLE_SUFFIXES)}")
    cols = _columns(rows, columns)
    with atomic_path(final) as tmp:
        if suffix == ".csv":
            with open(tmp, "w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
                writer.writeheader()
                for row in rows:
                    writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in cols})
        else:
            try:
                import pyarrow as pa
                import pyarrow.parquet as pq
            except ImportError as exc:
                raise missing_extra("pyarrow (for Parquet tables)") from exc
            table = (
                pa.Table.from_pylist([{k: row.get(k) for k in cols} for row in rows])
                if rows
                else pa.table({k: pa.array([], pa.string()) for k in cols})
            )
            pq.write_table(table, tmp)
    return final


def read_table(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Rows of a ``.csv`` (all values strings, empty for missing) or ``.parquet`` table."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: table does not exist")
    suffix = p.suffix.lower()
    if suffix == ".csv":
        with open(p, newline="") as fh:
            return list(csv.DictReader(fh))
    if suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise missing_extra("pyarrow (for Parquet tables)") from exc
        return pq.read_table(p).to_pylist()
    raise ValueError(f"{p}: unsupported table format {suffix!r}; use one of {list(TABLE_SUFFIXES)}")
