"""The base of datasets read from disk: root resolution, split lookup, sizes, and bias-aligned groups.

A subclass names its `DataSource` (folder under the data root, layout, where it is published) and
implements `load`, which reads the metadata and returns every split; images are decoded later, batch by
batch (FileSplit), except for small datasets that load into memory (CIFAR). Loading happens once, on the
first `split` call, and checks the whole layout first: a missing or malformed dataset fails before any
training with one paragraph (roots.DataSource.error), never as a silent partial dataset.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import ClassVar

import torch

from benchsuite.datasets.base import Dataset, Split
from benchsuite.datasets.files import FileSplit
from benchsuite.datasets.images import IMAGENET_MEAN, IMAGENET_STD, Preprocess
from benchsuite.datasets.roots import DataSource
from benchsuite.errors import ConfigError

AnySplit = Split | FileSplit


class DiskDataset(Dataset):
    """A registered dataset read from a folder. root: the folder (None: $BENCHSUITE_DATA/<source.subdir>);
    preprocess: the geometry applied as images are read; mean, std: normalisation of the [0, 1] images."""

    data_source: ClassVar[DataSource]
    #: whether the dataset has a spurious attribute: then the bias-aligned groups are those that hold the
    #: majority of their class in the training split (Waterbirds: landbirds on land, waterbirds on water)
    spurious: ClassVar[bool] = False

    def __init__(
        self,
        root: str | None = None,
        preprocess: Preprocess | None = None,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        self.root = root
        self.preprocess = preprocess if preprocess is not None else Preprocess()
        self.mean = tuple(mean)
        self.std = tuple(std)
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ConfigError(
                f"{type(self).__name__}.mean = {self.mean}, .std = {self.std}: give three channel values each, "
                "with positive stds."
            )

    @cached_property
    def path(self) -> Path:
        """The dataset's folder (checked to exist)."""
        return self.data_source.resolve(self.root)

    @property
    def split_names(self) -> tuple[str, ...]:
        return ("train", *self.eval_splits)

    @cached_property
    def _splits(self) -> dict[str, AnySplit]:
        return self.load()

    @abc.abstractmethod
    def load(self) -> dict[str, AnySplit]:
        """Every split (train and each evaluation split), after checking the layout."""

    def split(self, name: str) -> AnySplit:
        if name not in self.split_names:
            raise ConfigError(
                f"{self.registered_name} has no split '{name}'. Its splits: {', '.join(self.split_names)}."
            )
        return self._splits[name]

    def split_sizes(self) -> dict[str, int]:
        return {name: len(self.split(name)) for name in self.split_names}

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (3, self.preprocess.size, self.preprocess.size)

    @cached_property
    def aligned_groups(self) -> frozenset[int] | None:
        if not self.spurious:
            return None
        train = self.split("train")
        counts = torch.zeros(self.num_classes, self.num_groups, dtype=torch.long)
        counts.index_put_((train.labels, train.groups), torch.ones_like(train.labels), accumulate=True)
        return frozenset(int(counts[c].argmax()) for c in range(self.num_classes) if counts[c].sum() > 0)
