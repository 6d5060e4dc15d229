"""Multi-temporal training samples (date t0 -> date t1) for the SAR-optical fusion model.

A sample rebuilds Sentinel-2 at ``t1`` from Sentinel-2 at an earlier date ``t0`` and Sentinel-1 at
both dates. Keys (docs/ARCHITECTURE.md), float32 tensors, values not normalised:

* ``prev_optical`` ``(C, H, W)`` reflectance at t0; ``prev_sar`` ``(2, H, W)`` VV, VH in dB at t0;
* ``sar`` ``(2, H, W)`` dB at t1; ``clear`` ``(C, H, W)`` reflectance at t1 (the target);
* ``cloudy`` ``(C, H, W)`` at t1: the real cloudy observation when the sequence has one, else the
  clear crop under synthetic clouds from the ``simulate`` hook (absent when there is neither);
* ``mask`` ``(1, H, W)`` 0/1 and ``labels`` ``(H, W)`` int64 class codes, when known (the real
  cloudy image's mask file, or the simulator's mask);
* ``meta``: scene, window ``(row, col, height, width)``, ``path`` (t1 clear file), ``prev_path``,
  ``dates`` (t0, t1 as ISO strings, "" when the files do not say) and band names.

Two sources, mixed freely:

* :class:`AlignedSequence` (:func:`load_sequence`): explicitly named files, each read with
  :func:`cloudfree.io.open.open_raster` and aligned onto the ``clear`` grid with
  :func:`~cloudfree.data.pairing.align_pair` (reprojection, DN -> reflectance, linear SAR -> dB,
  crop to the common valid area). ``align_pair`` takes one cloudy/clear/SAR/mask set, so it runs
  twice: t0 optical + t1 SAR onto ``clear``, then the cloudy image, its mask and the t0 SAR onto
  that result; the first result is cut to the second's window (the grids differ by whole pixels).
  Held in memory, like ``SinglePairDataset``'s pair.
* :class:`SeriesStep` (:func:`series_steps`): two consecutive time points of a SEN12MS-CR-TS patch
  (:func:`cloudfree.io.sen12mscr.find_time_series`) that both have S1 and S2, optionally only
  (almost) cloud-free S2 (``max_cloud``, via s2cloudless) at most ``max_gap_days`` apart. The data
  set is too large to hold, so the files are read by window per sample; their grids must agree.
  Its S2 images are the t0 and t1 targets, so ``cloudy`` is always simulated for this source.

Crops of ``patch`` px and everything random come from ``default_rng([seed, epoch, index])`` (see
:mod:`cloudfree.data.dataset`); ``augment`` (``PairedAugment``) transforms every image key alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from rasterio.windows import Window

from cloudfree import bands as bandcat
from cloudfree.data import dataset as base
from cloudfree.data.pairing import PairingError, align_pair, mask_from_file, scene_id
from cloudfree.data.series_steps import OPTICAL, SeriesStep, s2cloudless_fraction, series_steps  # noqa: F401
from cloudfree.data.synthetic_dataset import SimulateHook
from cloudfree.io.sen12mscr import S2_BANDS
from cloudfree.radiometry import Radiometry
from cloudfree.raster import Raster

REQUIRED = ("prev_optical", "prev_sar", "sar", "clear")
OPTIONAL = ("cloudy", "mask")
ENTRY_KEYS = (*REQUIRED, *OPTIONAL, "scene", *(f"{role}_bands" for role in (*REQUIRED, "cloudy")))
CROP_TRIES = 20  # lazily read crops: redraws allowed before a source counts as too full of nodata


def _date(raster: Raster) -> str:
    return str(raster.tags.get("DATETIME", ""))[:10]


@dataclass
class AlignedSequence:
    """One t0 -> t1 sequence held in memory, every member on the ``clear`` grid.

    ``members``: ``prev_optical``, ``clear`` (and optional ``cloudy``) float32 reflectance
    ``(C, H, W)`` with the same bands; ``prev_sar``, ``sar`` ``(2, H, W)`` dB; optional ``mask``
    ``(1, H, W)`` uint8 class codes of the cloudy image.
    """

    members: dict[str, Raster]
    scene: str = "sequence"

    def __post_init__(self) -> None:
        missing = [role for role in REQUIRED if role not in self.members]
        if missing:
            raise ValueError(f"sequence {self.scene}: missing member(s) {missing}")
        clear = self.members["clear"]
        for role, member in self.members.items():
            if not member.same_grid(clear):
                raise PairingError(f"{role} {member.source} is not on the grid of clear {clear.source}")
            if role in OPTICAL:
                bandcat.require_same(clear.bands, member.bands, f"{role} {member.source} vs clear {clear.source}")

    @property
    def bands(self) -> tuple[str, ...]:
        return self.members["clear"].bands

    @property
    def valid(self) -> np.ndarray:
        """``(H, W)`` bool: True where every member holds data."""
        valid = np.ones(self.members["clear"].shape[1:], dtype=bool)
        for member in self.members.values():
            valid &= member.valid
        return valid

    @property
    def source(self) -> str:
        return " + ".join(f"{role} {m.source}" for role, m in self.members.items())

    @property
    def dates(self) -> tuple[str, str]:
        return _date(self.members["prev_optical"]), _date(self.members["clear"])

    def select(self, wanted: str | Sequence[str]) -> AlignedSequence:
        """The sequence with only (and in the order of) the ``wanted`` optical bands."""
        members = {r: m.select(wanted) if r in OPTICAL else m for r, m in self.members.items()}
        return replace(self, members=members)

    def read(self, window: Window) -> dict[str, Raster]:
        return {role: member.window(window) for role, member in self.members.items()}


def load_sequence(
    entry: Mapping[str, Any], bands: str | Sequence[str] | None = None, min_size: int = 1
) -> AlignedSequence:
    """Read and align one explicit sequence ``{prev_optical, prev_sar, sar, clear, cloudy?, mask?}``.

    Paths are anything :func:`~cloudfree.io.open.open_raster` reads; ``<role>_bands`` names a
    file's bands in file order (for files without band descriptions), ``scene`` names the
    sequence. ``bands`` keeps these optical bands; ``min_size`` is the smallest side (px) the
    common valid area may have. Errors name the entry's files.
    """
    from cloudfree.io.open import open_raster

    unknown = sorted(set(entry) - set(ENTRY_KEYS))
    missing = [role for role in REQUIRED if not entry.get(role)]
    if unknown or missing:
        raise ValueError(
            f"sequence {dict(entry)}: missing {missing}, unknown {unknown}; a sequence has {list(REQUIRED)}, "
            f"optional {list(OPTIONAL)}, scene and <role>_bands"
        )
    if entry.get("mask") and not entry.get("cloudy"):
        raise ValueError(f"sequence with clear {entry['clear']}: a mask belongs to the cloudy image; give cloudy too")

    scene = str(entry.get("scene") or scene_id(entry["clear"]))

    def read(role: str) -> Raster:
        names = entry.get(f"{role}_bands")
        raster = open_raster(str(entry[role]), bandcat.resolve(names) if names else None)
        if role in OPTICAL and raster.radiometry not in (Radiometry.DN, Radiometry.REFLECTANCE):
            raise bandcat.BandError(
                f"sequence {scene}: {role} {raster.source} holds {raster.radiometry.value} data {list(raster.bands)}; "
                "expected Sentinel-2 DN or reflectance"
            )
        if role not in OPTICAL and not {"VV", "VH"} <= set(raster.bands):
            raise bandcat.BandError(
                f"sequence {scene}: {role} {raster.source} has bands {list(raster.bands)}; expected Sentinel-1 VV, VH"
            )
        return raster.select(bands) if bands is not None and role in OPTICAL else raster

    clear, prev = read("clear"), read("prev_optical")
    wanted = bands if bands is not None else clear.bands
    first = align_pair(prev, clear, read("sar"), None, "clear", bands=wanted, min_size=min_size, scene=scene)
    cloudy = read("cloudy") if entry.get("cloudy") else first.clear
    mask = mask_from_file(entry["mask"]) if entry.get("mask") else None
    second = align_pair(cloudy, first.clear, read("prev_sar"), mask, "clear", bands=wanted, min_size=min_size)
    col, row = ~first.clear.transform * (second.clear.transform.c, second.clear.transform.f)
    win = Window(round(col), round(row), second.clear.width, second.clear.height)
    members = {
        "prev_optical": first.cloudy.window(win),
        "prev_sar": second.sar,
        "sar": first.sar.window(win),  # type: ignore[union-attr]
        "clear": second.clear,
    }
    if entry.get("cloudy"):
        members["cloudy"] = second.cloudy
    if second.mask is not None:
        members["mask"] = second.mask
    return AlignedSequence(members, scene)  # type: ignore[arg-type]


class TimeSeriesDataset(base.SeededDataset):
    """Random ``patch`` px crops of t0 -> t1 sequences (see the module docstring for the keys).

    Args:
        sources: :class:`AlignedSequence` and/or :class:`SeriesStep` items.
        patch: crop size in pixels.
        samples_per_epoch: length of the dataset, each sample from a source drawn uniformly;
            ``None``: one crop of each source per epoch (sample ``i`` from source ``i``).
        simulate: cloud simulator hook ``simulate(clear, bands, rng) -> (cloudy, mask)`` (as for
            ``SyntheticCloudDataset``) used where a source has no real cloudy image.
        augment: paired augmentation ``augment(sample, rng)``, applied to every image key.
        seed: base seed; sample ``i`` of epoch ``e`` comes from ``default_rng([seed, e, i])``.
        bands: optical bands (default: the first in-memory sequence's, else ``l1c13``).
        max_nodata: maximum fraction of invalid pixels in a crop (invalid pixels hold 0).
    """

    def __init__(
        self,
        sources: Sequence[AlignedSequence | SeriesStep],
        patch: int,
        samples_per_epoch: int | None = None,
        simulate: SimulateHook | None = None,
        augment: base.Augment | None = None,
        seed: int = 0,
        bands: str | Sequence[str] | None = None,
        max_nodata: float = 0.0,
    ) -> None:
        if not sources:
            raise ValueError("TimeSeriesDataset needs at least one sequence or SEN12MS-CR-TS time step")
        if simulate is not None and not callable(simulate):
            raise TypeError(f"simulate must be a callable (clear, bands, rng) -> (cloudy, mask), got {simulate!r}")
        in_memory = [s for s in sources if isinstance(s, AlignedSequence)]
        default = in_memory[0].bands if in_memory else bandcat.resolve(S2_BANDS)
        self.bands = bandcat.resolve(bands) if bands is not None else tuple(default)
        self.sources = [s.select(self.bands) if isinstance(s, AlignedSequence) else s for s in sources]
        self.patch, self.max_nodata = int(patch), float(max_nodata)
        self.samples_per_epoch = None if samples_per_epoch is None else int(samples_per_epoch)
        self.simulate, self.augment, self.seed, self.epoch = simulate, augment, int(seed), 0
        self.samplers = [
            base.CropSampler(s.valid, self.patch, self.max_nodata, s.source) if isinstance(s, AlignedSequence) else None
            for s in self.sources
        ]

    def __len__(self) -> int:
        return len(self.sources) if self.samples_per_epoch is None else self.samples_per_epoch

    def _crop(self, which: int, rng: np.random.Generator) -> tuple[dict[str, Raster], int, int]:
        source, sampler, p = self.sources[which], self.samplers[which], self.patch
        if isinstance(source, AlignedSequence):
            row, col = sampler.draw(rng)  # type: ignore[union-attr]
            return source.read(Window(col, row, p, p)), row, col
        height, width = source.shape()
        if height < p or width < p:
            raise ValueError(f"{source.scene}: {height}x{width} px is smaller than the patch of {p} px")
        for _ in range(CROP_TRIES):
            row, col = int(rng.integers(height - p + 1)), int(rng.integers(width - p + 1))
            members = source.read(Window(col, row, p, p), self.bands)
            invalid = ~np.logical_and.reduce([m.valid for m in members.values()])
            if invalid.mean() <= self.max_nodata:
                return members, row, col
        raise ValueError(
            f"{source.source}: no {p}x{p} px crop with at most {self.max_nodata:.0%} nodata in {CROP_TRIES} "
            "random tries; use a smaller patch or allow more nodata (max_nodata)"
        )

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = self._rng(index)
        which = index if self.samples_per_epoch is None else int(rng.integers(len(self.sources)))
        members, row, col = self._crop(which, rng)
        valid = np.logical_and.reduce([m.valid for m in members.values()])
        sample: dict[str, Any] = {
            role: base.as_tensor(base.zero_invalid(members[role].data, valid)) for role in REQUIRED
        }
        codes = None
        if "cloudy" in members:
            sample["cloudy"] = base.as_tensor(base.zero_invalid(members["cloudy"].data, valid))
            codes = members["mask"].data[0] if "mask" in members else None
        elif self.simulate is not None:
            clear = sample["clear"].numpy()
            cloudy, codes = (np.asarray(a) for a in self.simulate(clear.copy(), self.bands, rng))
            if cloudy.shape != clear.shape or codes.shape != clear.shape[1:]:
                raise ValueError(
                    f"cloud simulator {self.simulate!r} returned cloudy {cloudy.shape} and mask {codes.shape}; "
                    f"expected {clear.shape} and {clear.shape[1:]}"
                )
            sample["cloudy"] = base.as_tensor(cloudy)
        if codes is not None:
            sample |= base.mask_targets(codes, valid)
        source = self.sources[which]
        sample["meta"] = {
            "scene": source.scene,
            "window": (row, col, self.patch, self.patch),
            "path": members["clear"].source,
            "prev_path": members["prev_optical"].source,
            "dates": source.dates,
            "bands": self.bands,
        }
        return self._finish(sample, rng)
