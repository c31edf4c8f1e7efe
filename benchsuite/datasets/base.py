"""What a dataset provides: named splits (datasets.splits) of uint8 images with labels, groups, background
labels and masks, and the bias metrics' settings.

A dataset supplies its splits (`_splits`, built or loaded once); `split(name)` is the one way to get one, and
rejects an unknown name before anything is built. The run's root hands the dataset how file-backed splits
decode (`use(image_loading)`). The `data` command asks each dataset where its data stands (`data_status`).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from benchsuite.datasets.splits import ImageLoading, Split
from benchsuite.errors import ConfigError


def sizes_text(sizes: Mapping[str, int]) -> str:
    """Split sizes on one line: 'train 4795, val 1199, test 5794'."""
    return ", ".join(f"{name} {n}" for name, n in sizes.items())


def problem_of(error: ConfigError) -> str:
    """The error's what-and-where, without the layout and the how-to that every missing dataset repeats
    (datasets.locating.DataSource.error)."""
    return str(error).split(" Expected layout:")[0].split(" The official data")[0]


class Dataset(abc.ABC):
    """A registered dataset. Subclasses set the class attributes and supply their splits (`_splits`).

    `eval_splits` are evaluated at every evaluation (validation first; model selection reads it). Bias
    metrics: a background benchmark names the splits whose accuracy is "biased" and "debiased"
    (Mixed-Same and Mixed-Rand); a dataset with a spurious attribute lists the bias-aligned groups of its
    test split in `aligned_groups`, and biased / debiased accuracy are the test accuracies on the aligned
    and on the other groups.
    """

    registered_name: ClassVar[str]
    num_classes: ClassVar[int]
    num_groups: ClassVar[int]
    eval_splits: ClassVar[tuple[str, ...]] = ("val", "test")
    biased_split: ClassVar[str | None] = None
    debiased_split: ClassVar[str | None] = None
    has_masks: ClassVar[bool] = False
    #: per-channel mean and std of the [0, 1] images, used to normalise batches on the device
    mean: ClassVar[tuple[float, ...]] = (0.5, 0.5, 0.5)
    std: ClassVar[tuple[float, ...]] = (0.5, 0.5, 0.5)

    #: how file-backed splits decode, handed down by the run's root (`use`); None: ImageLoading's defaults
    image_loading: ImageLoading | None = None
    #: whether its images are decoded from files or encoded bytes, which `data --verify` checks
    verifiable: ClassVar[bool] = False

    @property
    def aligned_groups(self) -> frozenset[int] | None:
        return None

    @property
    def split_names(self) -> tuple[str, ...]:
        return ("train", *self.eval_splits)

    @property
    @abc.abstractmethod
    def _splits(self) -> Mapping[str, Split]:
        """Every split by name ('train' and each of `eval_splits`), built or loaded on first use (a
        cached_property in the datasets); read through `split`."""

    def split(self, name: str) -> Split:
        """The split `name` ('train' or one of `eval_splits`)."""
        if name not in self.split_names:  # checked before the splits are built, so that a typo costs no loading
            raise ConfigError(
                f"{self.registered_name} has no split '{name}'. Its splits: {', '.join(self.split_names)}."
            )
        split = self._splits[name]
        if self.image_loading is not None:
            split.use(self.image_loading)
        return split

    def use(self, image_loading: ImageLoading) -> Dataset:
        """Decode the file-backed splits as `image_loading` says (built once by the run's root); returns self."""
        self.image_loading = image_loading
        return self

    def split_sizes(self) -> dict[str, int]:
        return {name: len(self.split(name)) for name in self.split_names}

    def group_name(self, group: int) -> str:
        return str(group)

    def data_details(self) -> dict | None:
        """What the run record says about the data read (datasets read from disk: datasets.from_disk), or None."""
        return None

    def data_location(self) -> Path | None:
        """The folder or file the data is read from, or None where it is not read from disk."""
        return None

    def notes(self) -> list[str]:
        """Sentences on the choices made in finding the data (which folder of several; which parts present)."""
        return []

    @classmethod
    def data_status(cls) -> tuple[str, str, Dataset | None]:
        """For the `data` command: (status, details, the dataset built when its data was found). Status: 'found',
        'missing', 'embedded' (generated), 'configure' (needs a gin binding first), 'hub' (not looked up
        offline) or '-' (a dataset the suite does not read from disk)."""
        return "-", "not read from disk by the suite (a plugin's dataset?)", None

    def found_status(self) -> tuple[str, str, Dataset | None]:
        """data_status for a dataset built from gin: its split sizes, location and notes once its metadata is
        read, or what is missing."""
        try:
            sizes = self.split_sizes()
        except ConfigError as error:
            return "missing", problem_of(error), None
        notes = "".join(f"; {note}" for note in self.notes())
        return "found", f"{sizes_text(sizes)}  ({self.data_location()}){notes}", self

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.split("train").image_shape
