"""A SEN12MS-CR-TS patch folder as the inputs of the multi-temporal S1+S2 model.

SEN12MS-CR-TS stores one patch's time series as ``<ROI>/<scene>/<S1|S2>/<t>/<s1|s2>_<ROI>_<scene>_
ImgNo_<t>_<date>_patch_<n>.tif`` (:mod:`cloudfree.io.sen12mscr`). ``cloudfree remove FOLDER`` with
a folder holding exactly one such patch picks:

* the target ``t1``: ``--time T``, else the last time point with both S1 and S2;
* the earlier date ``t0``: ``--prev-time T``, else the nearest earlier time point with both S1 and
  S2 (the data set's S2 images may be cloudy: pass ``--prev-time`` to choose a clear one);

and runs the model on ``--input S2(t1) --prev S2(t0) --sar S1(t1) --prev-sar S1(t0)``. The files
carry no band descriptions: S2 bands are the data set's ``l1c13`` (set as ``--bands`` unless given),
S1 bands ``VV, VH`` in dB.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cloudfree.errors import CloudfreeError
from cloudfree.io.sen12mscr import find_time_series

S2_BANDS = "l1c13"


class SequenceError(CloudfreeError, ValueError):
    """A SEN12MS-CR-TS folder that does not name one patch with the requested time points."""


@dataclass(frozen=True)
class SequenceInputs:
    """The four files of one multi-temporal run, and which time points they are."""

    name: str
    time: int
    prev_time: int
    optical: Path
    prev: Path
    sar: Path
    prev_sar: Path


def is_sequence_folder(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a folder holding SEN12MS-CR-TS files."""
    p = Path(path)
    return p.is_dir() and bool(find_time_series(p))


def sequence_inputs(
    folder: str | os.PathLike[str], *, time: int | None = None, prev_time: int | None = None
) -> SequenceInputs:
    """Resolve ``folder`` (one SEN12MS-CR-TS patch) into the multi-temporal model's inputs."""
    series = find_time_series(folder)
    if len(series) != 1:
        names = [s.name for s in series][:10]
        raise SequenceError(f"{folder}: holds {len(series)} SEN12MS-CR-TS patches {names}; give one patch's folder")
    ts = series[0]
    both = [t for t in ts.times if t in ts.s1 and t in ts.s2]
    if not both:
        raise SequenceError(f"{folder}: patch {ts.name} has no time point with both S1 and S2 ({ts.missing()})")
    t1 = both[-1] if time is None else time
    if t1 not in both:
        raise SequenceError(f"{folder}: time point {t1} of {ts.name} lacks S1 or S2; time points with both: {both}")
    earlier = [t for t in both if t < t1]
    t0 = (earlier[-1] if earlier else None) if prev_time is None else prev_time
    if t0 is None:
        raise SequenceError(f"{folder}: no time point before {t1} with both S1 and S2 in {ts.name}; pass --prev-time")
    if t0 not in both or t0 == t1:
        raise SequenceError(f"{folder}: --prev-time {t0} must differ from {t1} and be one of {both}")
    return SequenceInputs(ts.name, t1, t0, ts.s2[t1].path, ts.s2[t0].path, ts.s1[t1].path, ts.s1[t0].path)
