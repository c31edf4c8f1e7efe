"""What a dataset provides: named splits of uint8 images with labels, groups, background labels and masks.

Images stay uint8 (N, C, H, W) tensors on the CPU until a batch reaches the training device, where the
method augments and normalises the whole batch at once. A split that fits in memory is a `Split`; its
`batches` iterate by index without a DataLoader, which on small images is several times faster than
collating single items.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import ClassVar

import torch
from torch import Tensor

Batch = dict[str, Tensor]


class _Batches(abc.ABC):
    """Batch iteration by index for anything with `__len__` and `take(index)`."""

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def take(self, index: Tensor) -> Batch:
        """The items at `index` as a batch dict."""

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        shard: tuple[int, int] | None = None,
    ) -> Iterator[Batch]:
        indices = self.index_batches(batch_size, shuffle=shuffle, generator=generator, drop_last=drop_last, shard=shard)
        for index in indices:
            yield self.take(index)

    def index_batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        shard: tuple[int, int] | None = None,
    ) -> Iterator[Tensor]:
        """The index tensors of the batches that `batches` takes, in order (file-backed splits decode them in
        worker processes). With `shard = (rank, world)` each global batch is cut into `world` contiguous
        slices and only slice `rank` is yielded, so that a process of a distributed run decodes only its part.
        """
        order = torch.randperm(len(self), generator=generator) if shuffle else torch.arange(len(self))
        stop = len(self) - len(self) % batch_size if drop_last else len(self)
        for start in range(0, stop, batch_size):
            index = order[start : start + batch_size]
            if shard is not None:
                rank, world = shard
                if len(index) % world:
                    raise ValueError(
                        f"A batch of {len(index)} items cannot be split evenly over {world} processes; make "
                        "Trainer.batch_size a multiple of the number of processes (GPUs)."
                    )
                part = len(index) // world
                index = index[rank * part : (rank + 1) * part]
            yield index

    def num_batches(self, batch_size: int, drop_last: bool = False) -> int:
        return len(self) // batch_size if drop_last else -(-len(self) // batch_size)


@dataclass(frozen=True)
class Split(_Batches):
    """One split held in memory.

    images: (N, C, H, W) uint8. labels, groups: (N,) int64. backgrounds: (N,) int64 background label,
    or None where the data has none. masks: (N, H, W) bool foreground masks, or None. bias_images:
    (N, C, H, W) uint8, the image's bias cue alone over the whole frame (the background without the
    object, as ImageNet-9's Only-BG-T; the texture that fills a shape), or None; CLAD builds its positives
    from them.
    """

    images: Tensor
    labels: Tensor
    groups: Tensor
    backgrounds: Tensor | None = None
    masks: Tensor | None = None
    bias_images: Tensor | None = None

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        for field in fields(self):
            value = getattr(self, field.name)
            if value is not None and len(value) != n:
                raise ValueError(f"{field.name} has {len(value)} entries for {n} images")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def has_masks(self) -> bool:
        return self.masks is not None

    @property
    def has_bias_images(self) -> bool:
        return self.bias_images is not None

    def take(self, index: Tensor) -> Batch:
        """The items at `index` as a batch dict: image, label, group and, where present, background, mask and
        bias_image."""
        batch = {"image": self.images[index], "label": self.labels[index], "group": self.groups[index]}
        if self.backgrounds is not None:
            batch["background"] = self.backgrounds[index]
        if self.masks is not None:
            batch["mask"] = self.masks[index]
        if self.bias_images is not None:
            batch["bias_image"] = self.bias_images[index]
        return batch

    def subset(self, index: Tensor) -> IndexedSplit:
        """The items at `index`, repeats allowed (JTT's upsampling), as a view that copies no image."""
        return IndexedSplit(self, index)


@dataclass(frozen=True)
class IndexedSplit(_Batches):
    """A view of `base` at `index`: batches gather from the base split, so upsampling costs no memory."""

    base: Split
    index: Tensor

    def __len__(self) -> int:
        return len(self.index)

    def take(self, index: Tensor) -> Batch:
        return self.base.take(self.index[index])

    @property
    def labels(self) -> Tensor:
        return self.base.labels[self.index]

    @property
    def groups(self) -> Tensor:
        return self.base.groups[self.index]

    @property
    def backgrounds(self) -> Tensor | None:
        return None if self.base.backgrounds is None else self.base.backgrounds[self.index]

    @property
    def has_masks(self) -> bool:
        return self.base.has_masks

    @property
    def has_bias_images(self) -> bool:
        return self.base.has_bias_images


class Dataset(abc.ABC):
    """A registered dataset. Subclasses set the class attributes and implement `split`.

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

    @property
    def aligned_groups(self) -> frozenset[int] | None:
        return None

    @abc.abstractmethod
    def split(self, name: str) -> Split:
        """The split `name` ('train' or one of `eval_splits`)."""

    def group_name(self, group: int) -> str:
        return str(group)

    def data_details(self) -> dict | None:
        """What the run record says about the data read (datasets read from disk: datasets.disk), or None."""
        return None

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.split("train").images.shape[1:])
