"""The split family: one contract, `Split`, and its two kinds, images held in memory or decoded from a source.

A split is N items, each a uint8 image with its label, group and, where the data has them, a background label,
a foreground mask and a bias-cue image. Every caller (methods, evaluation, training) sees `Split`: `len`,
`labels`, `groups`, `backgrounds`, `has_masks`, `has_bias_images`, `image_shape`, `take(index)` (the items at
`index` as a batch dict), `subset(index)` (a view, repeats allowed, that copies no image), `batches` and
`num_batches`. Images stay uint8 (N, C, H, W) tensors on the CPU until a batch reaches the training device,
where the method augments and normalises the whole batch at once.

- `TensorSplit` holds everything in memory (the embedded datasets, CIFAR); its `batches` iterate by index
  without a DataLoader, which on small images is several times faster than collating single items. Its
  subsets are `IndexedSplit` views.
- `FileSplit` keeps the labels, groups and background labels in memory and an image source (files on disk, or
  encoded bytes in a Hugging Face dataset: datasets.decoding) from which `take(index)` decodes and sizes the
  images (`Preprocess`): real datasets at paper scale (CelebA's 200k images, ImageNet-9) do not fit in memory.
  Its `batches` hand whole index batches to a torch DataLoader with `ImageLoading.num_workers` workers, each
  decoding a batch at a time; batches arrive in the order the in-memory kind would give them. The run's root
  builds the `ImageLoading` and hands it down (`Dataset.use`); a split used on its own decodes with
  ImageLoading's defaults.

An image that cannot be decoded raises `UnreadableImage` (datasets.decoding); a DataLoader worker hands it back
as a value, so it crosses the process boundary as that one paragraph rather than as torch's re-raised worker
traceback.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Iterator
from dataclasses import dataclass, fields

import gin
import torch
from torch import Tensor
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from benchsuite.datasets.decoding import ImageSource, MaskSource, Preprocess, UnreadableImage

Batch = dict[str, Tensor]


def _check_lengths(n: int, **values) -> None:
    """Every given per-item value (None: absent) has n entries."""
    for name, value in values.items():
        if value is not None and len(value) != n:
            raise ValueError(f"{name} has {len(value)} entries for {n} images")


class Split(abc.ABC):
    """N items of a dataset split (the contract; see the module doc). labels, groups: (N,) int64; backgrounds:
    (N,) int64 or None."""

    labels: Tensor
    groups: Tensor
    backgrounds: Tensor | None

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @property
    @abc.abstractmethod
    def has_masks(self) -> bool: ...

    @property
    @abc.abstractmethod
    def has_bias_images(self) -> bool: ...

    @property
    @abc.abstractmethod
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the images that `take` gives."""

    @abc.abstractmethod
    def take(self, index: Tensor) -> Batch:
        """The items at `index` as a batch dict: image, label, group and, where present, background, mask and
        bias_image."""

    @abc.abstractmethod
    def subset(self, index: Tensor) -> Split:
        """The items at `index`, repeats allowed (JTT's upsampling), as a view that copies no image."""

    def image_sources(self) -> list[ImageSource | MaskSource]:
        """The sources its images and masks are decoded from (none when they are held in memory)."""
        return []

    def use(self, loading: ImageLoading) -> None:  # noqa: B027  a no-op unless the split decodes
        """Decode batches as `loading` says (splits that decode nothing ignore it)."""

    def _batch(self, index: Tensor, images: Tensor, masks: Tensor | None, bias_images: Tensor | None) -> Batch:
        """The batch dict of the items at `index`, given their images and, where present, masks and bias images."""
        batch = {"image": images, "label": self.labels[index], "group": self.groups[index]}
        if self.backgrounds is not None:
            batch["background"] = self.backgrounds[index]
        if masks is not None:
            batch["mask"] = masks
        if bias_images is not None:
            batch["bias_image"] = bias_images
        return batch

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


# -- held in memory -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TensorSplit(Split):
    """A split held in memory.

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
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        _check_lengths(len(self.images), **self.tensors())

    def tensors(self) -> dict[str, Tensor | None]:
        """The fields by name, as the split is stored (and rebuilt with `TensorSplit(**tensors)`)."""
        return {field.name: getattr(self, field.name) for field in fields(self)}

    def __len__(self) -> int:
        return len(self.images)

    @property
    def has_masks(self) -> bool:
        return self.masks is not None

    @property
    def has_bias_images(self) -> bool:
        return self.bias_images is not None

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def take(self, index: Tensor) -> Batch:
        masks = None if self.masks is None else self.masks[index]
        bias_images = None if self.bias_images is None else self.bias_images[index]
        return self._batch(index, self.images[index], masks, bias_images)

    def subset(self, index: Tensor) -> IndexedSplit:
        return IndexedSplit(self, index)


@dataclass(frozen=True)
class IndexedSplit(Split):
    """A view of the in-memory `base` at `index`: batches gather from the base split, so upsampling costs no
    memory."""

    base: TensorSplit
    index: Tensor

    def __len__(self) -> int:
        return len(self.index)

    def take(self, index: Tensor) -> Batch:
        return self.base.take(self.index[index])

    def subset(self, index: Tensor) -> IndexedSplit:
        return IndexedSplit(self.base, self.index[index])

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

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.base.image_shape


# -- decoded from a source ----------------------------------------------------------------------------------

@gin.register
class ImageLoading:
    """How file-backed splits decode: `num_workers` DataLoader worker processes (None: one per CPU core, at most
    8; 0 decodes in the training process) and `prefetch_factor` batches prepared ahead by each worker. These
    bindings change speed only, so they are left out of the run id. Registered with gin, so the class stays
    plain Python: the run's root (and the `data` command) builds it once as gin binds it (`from_gin`) and hands
    it to the dataset (`Dataset.use`); a split used on its own decodes with `ImageLoading()`, the defaults."""

    def __init__(self, num_workers: int | None = None, prefetch_factor: int = 2) -> None:
        if num_workers is None:
            num_workers = min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor

    @classmethod
    def from_gin(cls) -> ImageLoading:
        """The loading as the parsed gin config binds it (`ImageLoading.num_workers = 0`)."""
        return gin.get_configurable(cls)()


class FileSplit(Split):
    """A split decoded from `images` on demand. labels, groups, backgrounds: (N,) int64 in memory; masks: a
    mask source or None; `index` selects (and may repeat) rows of the sources, so subsets copy nothing;
    loading: how `batches` decode (None: ImageLoading's defaults)."""

    def __init__(
        self,
        images: ImageSource,
        labels: Tensor,
        groups: Tensor,
        backgrounds: Tensor | None = None,
        masks: MaskSource | None = None,
        preprocess: Preprocess | None = None,
        index: Tensor | None = None,
        loading: ImageLoading | None = None,
    ) -> None:
        n = len(images)
        _check_lengths(n, labels=labels, groups=groups, backgrounds=backgrounds, masks=masks)
        self.source = images
        self.mask_source = masks
        self.preprocess = preprocess if preprocess is not None else Preprocess()
        self.loading = loading
        self._labels, self._groups, self._backgrounds = labels.long(), groups.long(), backgrounds
        self.index = torch.arange(n) if index is None else index.long()
        self.labels = self._labels[self.index]
        self.groups = self._groups[self.index]
        self.backgrounds = None if backgrounds is None else backgrounds.long()[self.index]

    def __len__(self) -> int:
        return len(self.index)

    @property
    def has_masks(self) -> bool:
        return self.mask_source is not None

    @property
    def has_bias_images(self) -> bool:
        return False  # real datasets store no background-alone image per training image

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (3, self.preprocess.size, self.preprocess.size)

    def image_sources(self) -> list[ImageSource | MaskSource]:
        return [source for source in (self.source, self.mask_source) if source is not None]

    def use(self, loading: ImageLoading) -> None:
        self.loading = loading

    def take(self, index: Tensor) -> Batch:
        """Decode and size the items at `index`: image (uint8), label, group and, where present, background, mask."""
        index = torch.as_tensor(index, dtype=torch.long)
        rows = self.index[index].tolist()
        images = torch.stack([self.preprocess(self.source.read(row)) for row in rows])
        masks = None
        if self.mask_source is not None:
            masks = torch.cat(
                [self.preprocess(self.mask_source.read(row).to(torch.uint8), nearest=True) for row in rows]
            ).bool()
        return self._batch(index, images, masks, None)

    def subset(self, index: Tensor) -> FileSplit:
        """The items at `index`, repeats allowed, sharing this split's sources and loading."""
        return FileSplit(
            self.source, self._labels, self._groups, self._backgrounds, self.mask_source, self.preprocess,
            self.index[torch.as_tensor(index, dtype=torch.long)], self.loading,
        )

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        shard: tuple[int, int] | None = None,
    ) -> Iterator[Batch]:
        indices = list(
            self.index_batches(batch_size, shuffle=shuffle, generator=generator, drop_last=drop_last, shard=shard)
        )
        loading = self.loading if self.loading is not None else ImageLoading()
        if loading.num_workers == 0 or len(indices) <= 1:
            yield from map(self.take, indices)
            return
        loader = DataLoader(
            _BatchTaker(self),
            batch_size=None,  # each sampled item is already a whole index batch
            sampler=indices,
            num_workers=min(loading.num_workers, len(indices)),
            prefetch_factor=loading.prefetch_factor,
            pin_memory=torch.cuda.is_available(),
        )
        for batch in loader:
            if _UNREADABLE in batch:
                raise UnreadableImage(*batch[_UNREADABLE])
            yield batch


#: the key of the one-entry batch by which a worker reports an unreadable file: (path, reason, dataset)
_UNREADABLE = "unreadable"


class _BatchTaker(TorchDataset):
    """A map-style torch dataset whose items are whole batches: item `index` (a tensor) is split.take(index),
    or {_UNREADABLE: (path, reason, dataset)} when a file cannot be decoded."""

    def __init__(self, split: FileSplit) -> None:
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: Tensor) -> Batch:
        try:
            return self.split.take(index)
        except UnreadableImage as error:
            return {_UNREADABLE: (error.path, error.reason, error.dataset)}
