"""Dataloaders for training from a config's ``data:`` section.

The datasets are built by :mod:`cloudfree.training.data_config` (``data:`` keys, checked, read,
turned into datasets of :mod:`cloudfree.data.dataset`); this module wires them into dataloaders.
Samples always carry the task's :attr:`~cloudfree.tasks.base.CloudRemovalTask.data_bands`, in that order.

Randomness: datasets draw from ``(seed, epoch, index)`` and the training loader shuffles with its
own generator seeded from ``(seed, epoch)``; :class:`EpochCallback` sets the epoch before each
epoch's loader starts, so resumed and uninterrupted runs see the same samples in the same order
(the global RNG is left to the model: dropout, image pools). Validation always uses epoch 0.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from cloudfree.training.data_config import build_datasets


def hash_seed(seed: int, epoch: int) -> int:
    """A 63-bit seed from (seed, epoch), independent of Python's hash randomisation."""
    return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1, np.uint64)[0] >> 1)


def check_sample(sample: Mapping[str, Any], needs: Mapping[str, bool], source: str) -> None:
    """Refuse data that lacks what the task uses (SAR, cloud mask), naming the key."""
    for key, needed in needs.items():
        if needed and key not in sample:
            raise ValueError(f"{source}: the task uses {key!r} but the samples have only {sorted(sample)}")


class EpochShuffleSampler(Sampler[int]):
    """Random permutation of ``range(n)`` that depends only on ``(seed, epoch)`` (``set_epoch``)."""

    def __init__(self, n: int, seed: int = 0) -> None:
        self.n, self.seed, self.epoch = int(n), int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(hash_seed(self.seed, self.epoch))
        yield from torch.randperm(self.n, generator=generator).tolist()


class CloudDataModule(L.LightningDataModule):
    """Train / validation dataloaders around two datasets of dict samples.

    Build it from a config with :meth:`from_config`, or directly from datasets (tests, notebooks).
    """

    def __init__(
        self,
        train_set: Dataset,
        val_set: Dataset | None = None,
        batch_size: int = 1,
        val_batch_size: int | None = None,
        num_workers: int = 0,
        needs: Mapping[str, bool] | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.train_set, self.val_set = train_set, val_set
        self.seed = int(seed)
        self.sampler = EpochShuffleSampler(len(train_set), self.seed)  # type: ignore[arg-type]
        self.generator = torch.Generator()  # the loader's base seed; keeps data loading off the global RNG
        self.set_epoch(0)
        self.batch_size, self.val_batch_size = int(batch_size), int(val_batch_size or batch_size)
        self.num_workers = int(num_workers)
        if needs:
            check_sample(train_set[0], needs, "training data")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], task: Any, seed: int = 0) -> CloudDataModule:
        """Datasets of ``cfg`` (the ``data:`` section) holding ``task.data_bands``."""
        train, val = build_datasets(cfg, task.data_bands, seed)
        needs = {"sar": bool(task.sar_bands), "mask": bool(task.use_mask)}
        return cls(
            train, val, cfg.get("batch_size", 1), cfg.get("val_batch_size"), cfg.get("num_workers", 0), needs, seed
        )

    def set_epoch(self, epoch: int) -> None:
        """Shuffle order and dataset draws of training epoch ``epoch`` (a function of seed and epoch only)."""
        self.sampler.set_epoch(epoch)
        self.generator.manual_seed(hash_seed(self.seed, epoch))
        if hasattr(self.train_set, "set_epoch"):
            self.train_set.set_epoch(epoch)

    def _loader(self, dataset: Dataset, batch_size: int, shuffle: bool) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=self.sampler if shuffle else None,
            generator=self.generator,
            num_workers=self.num_workers,
            drop_last=shuffle and len(dataset) > batch_size,  # type: ignore[arg-type]
            pin_memory=torch.cuda.is_available(),
        )

    def train_dataloader(self) -> DataLoader:
        # Lightning creates the first epoch's iterator before any epoch hook, after restoring the
        # epoch counter of a resumed run: set the epoch here for that first iterator.
        self.set_epoch(self.trainer.current_epoch if self.trainer is not None else 0)
        return self._loader(self.train_set, self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader(self.val_set, self.val_batch_size, shuffle=False) if self.val_set is not None else []


class EpochCallback(L.Callback):
    """Before each training epoch, ``set_epoch`` on the datamodule: shuffle order and dataset draws."""

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        datamodule = trainer.datamodule
        if hasattr(datamodule, "set_epoch"):
            datamodule.set_epoch(trainer.current_epoch)
