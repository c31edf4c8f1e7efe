"""The base of datasets read from disk: finding their folder, loading once with the layout checked, the groups
each evaluation split must hold, the manifest and record details, and bias-aligned groups.

A subclass names its `DataSource` (folder names under the data root, layout, where it is published) and
implements `load`, which reads the metadata and returns every split; images are decoded later, batch by
batch (a FileSplit), except for small datasets that load into memory (CIFAR). Loading happens once, on the
first `split` call, and checks the whole layout first: a missing or malformed dataset fails before any
training with one paragraph (locating.DataSource.error), never as a silent partial dataset. After loading,
every evaluation split must hold every group the dataset defines (a group missing there would silently drop
out of the worst-group metrics) unless `allow_missing_groups` is bound, in which case `data_details` (the
run record's "data") lists the missing ones, with the folder used, notes on choices made and the manifest.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import ClassVar

import torch

from benchsuite.datasets.base import Dataset
from benchsuite.datasets.decoding import IMAGENET_MEAN, IMAGENET_STD, ImageFiles, Preprocess
from benchsuite.datasets.locating import DataSource, Location
from benchsuite.datasets.manifest import Manifest, manifest
from benchsuite.datasets.splits import Split
from benchsuite.errors import ConfigError


class DiskDataset(Dataset):
    """A registered dataset read from a folder. root: the folder (None: looked for under $BENCHSUITE_DATA by
    the names of `data_source`); preprocess: the geometry applied as images are read; mean, std: normalisation
    of the [0, 1] images; allow_missing_groups: evaluate even if an evaluation split lacks some groups (the
    record lists them) instead of stopping."""

    data_source: ClassVar[DataSource]
    #: whether the dataset has a spurious attribute: then the bias-aligned groups are those that hold the
    #: majority of their class in the training split (Waterbirds: landbirds on land, waterbirds on water)
    spurious: ClassVar[bool] = False
    verifiable = True

    def __init__(
        self,
        root: str | None = None,
        preprocess: Preprocess | None = None,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        allow_missing_groups: bool = False,
    ) -> None:
        self.root = root
        self.allow_missing_groups = allow_missing_groups
        self.preprocess = preprocess if preprocess is not None else Preprocess()
        self.mean = tuple(mean)
        self.std = tuple(std)
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ConfigError(
                f"{type(self).__name__}.mean = {self.mean}, .std = {self.std}: give three channel values each, "
                "with positive stds."
            )

    @cached_property
    def location(self) -> Location:
        return self.data_source.locate(self.root)

    @property
    def path(self) -> Path:
        """The dataset's folder (found by `data_source.locate`)."""
        return self.location.path

    @cached_property
    def _splits(self) -> dict[str, Split]:
        self.metadata_files: list[Path] = []
        splits = self.load()
        self.missing_groups = self._missing_groups(splits)
        return splits

    @abc.abstractmethod
    def load(self) -> dict[str, Split]:
        """Every split (train and each evaluation split), after checking the layout; the metadata files read
        are appended to `self.metadata_files` (for the manifest)."""

    def data_location(self) -> Path:
        return self.path

    @classmethod
    def data_status(cls) -> tuple[str, str, Dataset | None]:
        return cls().found_status()

    def notes(self) -> list[str]:
        return [self.location.note] if self.location.note else []

    def _missing_groups(self, splits: dict[str, Split]) -> dict[str, list[str]]:
        """{evaluation split: names of the groups it lacks}; an error unless allow_missing_groups."""
        missing = {}
        for name in self.eval_splits:
            present = set(splits[name].groups.tolist())
            absent = [self.group_name(g) for g in range(self.num_groups) if g not in present]
            if absent:
                missing[name] = absent
        if missing and not self.allow_missing_groups:
            listed = "; ".join(f"{name} lacks {', '.join(groups)}" for name, groups in missing.items())
            raise self.data_source.error(
                self.path,
                f"evaluation split(s) lack group(s) that the dataset defines ({listed}), so their worst-group "
                f"and per-group metrics would silently leave them out; complete the data, or bind "
                f"{self.registered_name}.allow_missing_groups = True to evaluate without them (the run record's "
                "data.missing_groups then lists them)",
            )
        return missing

    def image_files(self) -> list[str]:
        """Every image and mask file that the splits decode (none for in-memory splits)."""
        files: list[str] = []
        for split in self._splits.values():
            for source in split.image_sources():
                if isinstance(source, ImageFiles):
                    files += source.paths
        return files

    def manifest(self) -> Manifest:
        """The manifest of everything the run reads (benchsuite.datasets.manifest)."""
        images = self.image_files()  # loads the dataset first, which lists the metadata files read
        return manifest(self.path, [*self.metadata_files, *images])

    def data_details(self) -> dict:
        read = self.manifest()  # loads the dataset first, which sets missing_groups
        return {
            "path": str(self.path),
            "notes": self.notes(),
            "missing_groups": self.missing_groups,
            "manifest": read.as_record(),
        }

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
