"""A config's ``data:`` section (``type: chips | single_pair | synthetic | timeseries``): checked, read, built.

:func:`check_data_config` refuses unknown keys per type (naming the valid ones) before anything is
read; :func:`build_datasets` reads the files a config names and returns the training and validation
datasets (:mod:`cloudfree.data.dataset`, :mod:`cloudfree.data.timeseries`) holding the given bands.

``data:`` keys (paths are relative to the current directory):

common
    ``bands`` (optical bands, default for ``model.in_bands``), ``patch`` (px), ``batch_size``,
    ``num_workers``, ``augment`` (``PairedAugment`` arguments: ``rotations_flips``, ``shear`` in
    degrees, ``skew`` 0..1, ``p``; ``null`` for none), ``val_batch_size``.
``type: chips``
    ``store`` (folder written by ``cloudfree prepare``), ``train_split`` (``train``),
    ``val_split`` (``val``; validation is skipped when the store has no such chips).
``type: single_pair``
    ``cloudy``, ``clear``, optional ``sar`` (VV, VH) and ``mask`` (class codes) rasters (anything
    :func:`cloudfree.io.open.open_raster` reads), ``cloudy_bands``/``clear_bands``/``sar_bands``
    (band names in file order, for files without band descriptions),
    ``reference`` (``clear``), ``samples_per_epoch``, ``val_samples`` (crops of the same pair,
    another seed, no augmentation; 0 for none). Without ``cloudy`` (SAR -> optical translation)
    the clear image stands in for it.
``type: synthetic``
    ``scenes`` (clear rasters; ``scene_bands`` as above), ``val_scenes`` (default: the same scenes, another seed),
    ``simulator`` (``CloudSimulator`` fields), ``samples_per_epoch``, ``val_samples``,
    ``scene_exponent`` (how scenes are drawn: ``SyntheticCloudDataset``; 1 = by area). A scene entry
    is a path, or a mapping ``{path, window: [row, col, height, width], exclude_mask: MASK.tif,
    exclude_buffer: px}`` that trains on one window of the scene only (hold the rest out) and/or
    treats the non-zero pixels of a cloud mask (grown by ``exclude_buffer`` pixels) as nodata,
    so that only the clear parts of a partly cloudy scene are used.
``type: timeseries``
    Multi-temporal samples t0 -> t1 (``prev_optical``, ``prev_sar``, ``sar``, ``clear``, ``cloudy``;
    :mod:`cloudfree.data.timeseries`) from ``root`` (a SEN12MS-CR-TS folder: consecutive time points
    with S1 and S2; ``max_cloud`` keeps only S2 images whose s2cloudless cloud fraction is at most
    this (0..1; one s2cloudless pass over the S2 files at start), ``max_gap_days`` drops pairs
    further apart) and/or ``sequences`` (a list of ``{prev_optical, prev_sar, sar, clear, cloudy,
    mask, scene, <role>_bands}`` mappings of files, aligned onto the ``clear`` grid; ``cloudy`` and
    ``mask`` optional). ``simulator`` (``CloudSimulator`` fields; ``false`` for none) makes the
    ``cloudy`` image where a sequence has no real one. ``samples_per_epoch`` (default: one crop per
    source when there is a ``root``, else 1000), ``max_nodata`` (0..1, default 0), ``val_root`` /
    ``val_sequences`` (held-out sources; default: the training sources, another seed, no
    augmentation), ``val_samples`` (16; 0 for none).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch.utils.data import Dataset

from cloudfree import bands as bandcat
from cloudfree.training.config import ConfigError

DATA_TYPES = ("chips", "single_pair", "synthetic", "timeseries")
VAL_SEED_OFFSET = 1_000_003

# The keys each data.type reads (the builders below); anything else is refused by check_data_config.
COMMON_KEYS = ("type", "bands", "patch", "batch_size", "val_batch_size", "num_workers", "augment")
DATA_KEYS: dict[str, tuple[str, ...]] = {
    "chips": ("store", "train_split", "val_split"),
    "single_pair": (
        "cloudy", "clear", "sar", "mask", "cloudy_bands", "clear_bands", "sar_bands", "reference",
        "samples_per_epoch", "val_samples",
    ),
    "synthetic": (
        "scenes", "scene_bands", "val_scenes", "simulator", "samples_per_epoch", "val_samples", "scene_exponent",
    ),
    "timeseries": (
        "root", "sequences", "max_cloud", "max_gap_days", "simulator", "samples_per_epoch", "max_nodata",
        "val_root", "val_sequences", "val_samples",
    ),
}  # fmt: skip


def _check_arguments(spec: Any, cls: type, where: str) -> None:
    """Refuse keys of a mapping that ``cls``'s constructor does not take (``where`` names the config key)."""
    import inspect

    if not isinstance(spec, Mapping):
        return
    params = inspect.signature(cls).parameters
    accepted = sorted(n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
    unknown = sorted(k for k in spec if k not in accepted)
    if unknown:
        raise ConfigError(f"unknown {where} key(s) {unknown}; {cls.__name__} takes {accepted}")


def check_data_config(cfg: Mapping[str, Any]) -> None:
    """Refuse an unknown ``data.type`` and keys that its builder does not read, listing the valid ones.

    ``augment`` and ``simulator`` mappings are checked against ``PairedAugment`` and ``CloudSimulator``.
    """
    import difflib

    from cloudfree.data.augment import PairedAugment
    from cloudfree.data.synthetic_clouds import CloudSimulator

    kind = cfg.get("type")
    if kind not in DATA_KEYS:
        raise ConfigError(f"unknown data.type {kind!r}; expected one of {list(DATA_TYPES)}")
    valid = sorted({*COMMON_KEYS, *DATA_KEYS[kind]})
    unknown = sorted(k for k in cfg if k not in valid)
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, valid, n=1)
            other = [t for t, keys in DATA_KEYS.items() if key in keys]
            if key == "root" and kind == "chips":
                hints.append("a chip store is data.store")
            elif close:
                hints.append(f"{key} -> {close[0]}?")
            elif other:
                hints.append(f"{key} belongs to data.type {' / '.join(other)}")
        hint = f" ({'; '.join(hints)})" if hints else ""
        raise ConfigError(f"unknown data key(s) {unknown} for data.type {kind!r}{hint}; valid keys: {valid}")
    _check_arguments(cfg.get("augment"), PairedAugment, "data.augment")
    _check_arguments(cfg.get("simulator"), CloudSimulator, "data.simulator")


def make_augment(spec: Mapping[str, Any] | bool | None) -> Any:
    """A ``PairedAugment`` from config arguments (``True``: rotations and flips only; falsy: none)."""
    from cloudfree.data.augment import PairedAugment

    if not spec:
        return None
    return PairedAugment() if spec is True else PairedAugment(**dict(spec))


def _read(path: str, bands: Any = None) -> Any:
    """Any input :func:`cloudfree.io.open.open_raster` reads (GeoTIFF, SAFE, band folders, SEN12MS-CR)."""
    from cloudfree.io.open import open_raster

    return open_raster(path, bandcat.resolve(bands) if bands else None)


def _scene(entry: str | Mapping[str, Any], bands: Any = None) -> Any:
    """One clear training scene: a path, or ``{path, window, exclude_mask, exclude_buffer}``."""
    from dataclasses import replace

    from rasterio.windows import Window
    from scipy import ndimage

    from cloudfree.io import read_mask

    if isinstance(entry, str):
        return _read(entry, bands)
    unknown = set(entry) - {"path", "window", "exclude_mask", "exclude_buffer"}
    if "path" not in entry or unknown:
        raise ValueError(
            f"data scene entry {dict(entry)} needs 'path' and may hold window, exclude_mask, exclude_buffer"
        )
    raster = _read(entry["path"], bands)
    if entry.get("exclude_mask"):
        cloud = read_mask(entry["exclude_mask"], like=raster) > 0
        buffer = int(entry.get("exclude_buffer", 0))
        if buffer > 0:
            cloud = ndimage.binary_dilation(cloud, iterations=buffer)
        raster = replace(raster, valid=raster.valid & ~cloud)
    if entry.get("window"):
        row, col, height, width = (int(v) for v in entry["window"])
        raster = raster.window(Window(col, row, width, height))
    return raster


def _single_pair(cfg: Mapping[str, Any], bands: tuple[str, ...], seed: int) -> tuple[Dataset, Dataset | None]:
    from cloudfree.data.dataset import SinglePairDataset
    from cloudfree.data.pairing import align_pair, mask_from_file

    if not cfg.get("clear"):
        raise ValueError("data.type single_pair needs data.clear (the clear GeoTIFF)")
    clear = _read(cfg["clear"], cfg.get("clear_bands"))
    cloudy = _read(cfg["cloudy"], cfg.get("cloudy_bands")) if cfg.get("cloudy") else clear
    sar = _read(cfg["sar"], cfg.get("sar_bands")) if cfg.get("sar") else None
    mask = mask_from_file(cfg["mask"]) if cfg.get("mask") else None
    patch = int(cfg.get("patch", 256))
    pair = align_pair(cloudy, clear, sar, mask, cfg.get("reference", "clear"), bands=bands, min_size=patch)
    train = SinglePairDataset(
        pair, patch, int(cfg.get("samples_per_epoch", 1000)), make_augment(cfg.get("augment")), seed, bands
    )
    n_val = int(cfg.get("val_samples", 16))
    val = SinglePairDataset(pair, patch, n_val, None, seed + VAL_SEED_OFFSET, bands) if n_val else None
    return train, val


def _synthetic(cfg: Mapping[str, Any], bands: tuple[str, ...], seed: int) -> tuple[Dataset, Dataset | None]:
    from cloudfree.data.synthetic_clouds import CloudSimulator
    from cloudfree.data.synthetic_dataset import SyntheticCloudDataset

    scenes = cfg.get("scenes") or []
    if isinstance(scenes, str):
        scenes = [scenes]
    if not scenes:
        raise ValueError("data.type synthetic needs data.scenes (a list of clear GeoTIFFs)")
    simulator = CloudSimulator(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in (cfg.get("simulator") or {}).items()}
    )
    patch = int(cfg.get("patch", 256))
    rasters = [_scene(p, cfg.get("scene_bands")) for p in scenes]
    train = SyntheticCloudDataset(
        rasters,
        patch,
        int(cfg.get("samples_per_epoch", 1000)),
        simulator,
        make_augment(cfg.get("augment")),
        seed,
        bands,
        scene_exponent=float(cfg.get("scene_exponent", 1.0)),
    )
    n_val = int(cfg.get("val_samples", 16))
    if not n_val:
        return train, None
    val_scenes = cfg.get("val_scenes")
    val_rasters = [_scene(p, cfg.get("scene_bands")) for p in val_scenes] if val_scenes else rasters
    return train, SyntheticCloudDataset(val_rasters, patch, n_val, simulator, None, seed + VAL_SEED_OFFSET, bands)


def _chips(cfg: Mapping[str, Any], bands: tuple[str, ...], seed: int) -> tuple[Dataset, Dataset | None]:
    from cloudfree.data.chip_index import read_index
    from cloudfree.data.dataset import ChipDataset

    if not cfg.get("store"):
        raise ValueError("data.type chips needs data.store (a folder written by `cloudfree prepare`)")
    store = cfg["store"]
    train = ChipDataset(store, cfg.get("train_split", "train"), bands, make_augment(cfg.get("augment")), seed)
    val_split = cfg.get("val_split", "val")
    has_val = bool(val_split) and any(r["split"] == val_split for r in read_index(store))
    return train, ChipDataset(store, val_split, bands, None, seed) if has_val else None


def _timeseries(cfg: Mapping[str, Any], bands: tuple[str, ...], seed: int) -> tuple[Dataset, Dataset | None]:
    from cloudfree.data.synthetic_clouds import CloudSimulator
    from cloudfree.data.timeseries import TimeSeriesDataset, load_sequence, series_steps

    patch = int(cfg.get("patch", 256))

    def sources(root_key: str, sequences_key: str) -> list[Any]:
        found: list[Any] = []
        if cfg.get(root_key):
            gap, cloud = cfg.get("max_gap_days"), cfg.get("max_cloud")
            found += series_steps(
                cfg[root_key],
                max_gap_days=None if gap is None else float(gap),
                max_cloud=None if cloud is None else float(cloud),
            )
        entries = cfg.get(sequences_key) or []
        if not isinstance(entries, list):
            raise ValueError(f"data.{sequences_key} must be a list of {{prev_optical, prev_sar, sar, clear}} mappings")
        return found + [load_sequence(entry, bands, patch) for entry in entries]

    train_sources = sources("root", "sequences")
    if not train_sources:
        raise ValueError(
            "data.type timeseries needs data.root (a SEN12MS-CR-TS folder) and/or data.sequences "
            "(a list of {prev_optical, prev_sar, sar, clear} files)"
        )
    spec = cfg.get("simulator", {})
    simulator = None
    if spec is not False:
        simulator = CloudSimulator(**{k: tuple(v) if isinstance(v, list) else v for k, v in (spec or {}).items()})
    n_train = cfg.get("samples_per_epoch", None if cfg.get("root") else 1000)
    max_nodata = float(cfg.get("max_nodata", 0.0))
    augment = make_augment(cfg.get("augment"))
    common = {"simulate": simulator, "bands": bands, "max_nodata": max_nodata}
    train = TimeSeriesDataset(
        train_sources, patch, None if n_train is None else int(n_train), augment=augment, seed=seed, **common
    )
    n_val = int(cfg.get("val_samples", 16))
    if not n_val:
        return train, None
    held_out = sources("val_root", "val_sequences") if cfg.get("val_root") or cfg.get("val_sequences") else []
    val = TimeSeriesDataset(held_out or train_sources, patch, n_val, seed=seed + VAL_SEED_OFFSET, **common)
    return train, val


BUILDERS = {"chips": _chips, "single_pair": _single_pair, "synthetic": _synthetic, "timeseries": _timeseries}


def build_datasets(cfg: Mapping[str, Any], bands: tuple[str, ...], seed: int = 0) -> tuple[Dataset, Dataset | None]:
    """Training and (optional) validation datasets of ``data.type``, returning ``bands`` in order."""
    check_data_config(cfg)
    return BUILDERS[cfg["type"]](cfg, tuple(bands), int(seed))
