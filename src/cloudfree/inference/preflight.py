"""Checks of one removal run's files, made before anything is read or loaded (:class:`~.remover.Remover`).

* :func:`check_outputs`: every output (the result, provenance layer, uncertainty, written mask) is
  never one of the run's inputs, exists only with ``overwrite``, and no two outputs are one file.
* :func:`check_side_inputs`: the side inputs against the scene's grid: a mask exactly on it, other
  dates and Sentinel-1 reprojectable onto it, and one ``--series-masks`` file per ``--series`` file,
  each exactly on its member's grid.

The single checks live in :mod:`.checks`; this module applies them to the files a run names, so that
a bad file fails in one line before any model loads.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from cloudfree.inference.checks import check_mask_file, check_output, check_reprojectable, check_same_grid
from cloudfree.io.geotiff import RasterInfo

PathLike = str | os.PathLike[str]


def check_outputs(outputs: Sequence[PathLike | None], inputs: Sequence[PathLike | None], *, overwrite: bool) -> None:
    """Refuse outputs that are inputs, exist without ``overwrite``, or name one file twice.

    ``outputs``: the main output first, then the optional ones (``None`` where not written);
    ``inputs``: every file the run reads (``None`` entries are ignored).
    """
    present = [p for p in outputs if p is not None]
    for target in present:
        check_output(target, inputs, overwrite=overwrite)
    if len({Path(p).resolve() for p in present}) != len(present):
        raise ValueError(f"outputs must be distinct files, got {[str(p) for p in present]}")


def check_side_inputs(
    info: RasterInfo,
    *,
    mask: Path | None,
    sar: PathLike | None,
    prev: PathLike | None,
    prev_sar: PathLike | None,
    series: Sequence[PathLike],
    series_masks: Sequence[PathLike] | None,
) -> None:
    """Check the side inputs of the scene described by ``info`` (its grid), in CLI terms.

    Masks must lie exactly on their raster's grid (``--mask`` on the scene's, each
    ``--series-masks`` file on its ``--series`` member's); ``--sar``, ``--prev``, ``--prev-sar`` and
    the ``--series`` members must be reprojectable onto the scene (CRS on both sides, overlapping
    footprints).
    """
    if mask is not None:
        check_same_grid(mask, info, "--mask")
        check_mask_file(mask, "--mask")
    for flag, path in (("--sar", sar), ("--prev", prev), ("--prev-sar", prev_sar)):
        if path is not None:
            check_reprojectable(path, info, flag)
    members = [check_reprojectable(p, info, "--series member") for p in series]
    if series_masks is not None:
        if len(series_masks) != len(series):
            raise ValueError(f"{len(series_masks)} --series-masks for {len(series)} --series files; give one per file")
        for p, m_info in zip(series_masks, members, strict=True):
            check_same_grid(p, m_info, f"--series-masks (for {m_info.path})")
            check_mask_file(p, "--series-masks")
