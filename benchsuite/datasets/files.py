"""Splits whose images stay on disk: decoded when a batch is taken, in DataLoader workers for throughput.

Real datasets at paper scale (CelebA's 200k images, ImageNet-9) do not fit in memory as uint8 tensors, so
a `FileSplit` keeps only the labels, groups and background labels in memory and an image source (files on
disk, or encoded bytes in a Hugging Face dataset) from which `take(index)` decodes and sizes the images
(`Preprocess`). It offers the same interface as the in-memory `Split`: `take`, `batches`, `subset`,
`labels`, `groups`. `batches` hands whole index batches to a torch DataLoader with `ImageLoading.num_workers`
workers, each decoding a batch at a time; batches arrive in the order `Split.batches` would give them.
Images stay uint8 until they reach the device.

An image that cannot be decoded (a damaged or truncated file) raises `UnreadableImage`, a ConfigError whose
one paragraph names the file, the decoder's reason and the `data --verify` command that lists every such
file; a DataLoader worker hands it back as a value, so it crosses the process boundary as that paragraph
rather than as torch's re-raised worker traceback.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

import gin
import torch
from torch import Tensor
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from benchsuite.datasets.base import Batch, _Batches
from benchsuite.datasets.images import Preprocess, read_mask, read_rgb
from benchsuite.errors import ConfigError

#: the C++ source location that torchvision's decoders put before their reason ("decode_jpeg, /path/x.cpp:171, ")
_DECODER_PREFIX = re.compile(r"^\w+, \S+:\d+, ")


def decoder_reason(error: Exception) -> str:
    """The decoder's reason for failing, on one line, without the source location."""
    text = " ".join(str(error).split()) or type(error).__name__
    return _DECODER_PREFIX.sub("", text).rstrip(".")


class UnreadableImage(ConfigError):
    """A listed image that cannot be decoded; the message is the one paragraph that the run prints. path: the
    image's file (or its row, for images stored in a Hugging Face table)."""

    def __init__(self, path: str, reason: str, dataset: str = "") -> None:
        self.path, self.reason, self.dataset = path, reason, dataset
        command = f"python -m benchsuite data --verify{' ' + dataset if dataset else ''}"
        super().__init__(
            f"The image '{path}' cannot be decoded: {reason}. The dataset's copy is damaged (an interrupted "
            f"download or extraction, or a disk error); list every unreadable file with `{command}` (with the "
            "same --gin files if they bind the dataset's root) and replace them from the official archive."
        )

    def __reduce__(self):  # picklable with its three fields, for worker processes
        return (UnreadableImage, (self.path, self.reason, self.dataset))


@gin.configurable
class ImageLoading:
    """How file-backed splits decode: `num_workers` DataLoader worker processes (None: one per CPU core, at most
    8; 0 decodes in the training process) and `prefetch_factor` batches prepared ahead by each worker. These
    bindings change speed only, so they are left out of the run id."""

    def __init__(self, num_workers: int | None = None, prefetch_factor: int = 2) -> None:
        if num_workers is None:
            num_workers = min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor


class ImageSource(Protocol):
    """Items that decode to uint8 (3, H, W) images."""

    def __len__(self) -> int: ...

    def read(self, row: int) -> Tensor: ...


class MaskSource(Protocol):
    """Items that decode to bool (1, H, W) foreground masks."""

    def __len__(self) -> int: ...

    def read(self, row: int) -> Tensor: ...


class ImageFiles:
    """Image files on disk (JPEG, PNG, ...), read and decoded with torchvision.io; `dataset` names the registered
    dataset in the error for a file that cannot be decoded."""

    def __init__(self, paths: Sequence[str | Path], dataset: str = "") -> None:
        self.paths = [str(path) for path in paths]
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.paths)

    def decode(self, path: str) -> Tensor:
        return read_rgb(path)

    def read(self, row: int) -> Tensor:
        path = self.paths[row]
        try:
            return self.decode(path)
        except (RuntimeError, ValueError, OSError) as error:  # what torchvision's decoders and np.load raise
            raise UnreadableImage(path, decoder_reason(error), self.dataset) from None


class MaskFiles(ImageFiles):
    """Foreground mask files on disk (.npy arrays or images)."""

    def decode(self, path: str) -> Tensor:
        return read_mask(path)



class FileSplit(_Batches):
    """A split decoded from `images` on demand. labels, groups, backgrounds: (N,) int64 in memory; masks: a
    mask source or None; `index` selects (and may repeat) rows of the sources, so subsets copy nothing."""

    def __init__(
        self,
        images: ImageSource,
        labels: Tensor,
        groups: Tensor,
        backgrounds: Tensor | None = None,
        masks: MaskSource | None = None,
        preprocess: Preprocess | None = None,
        index: Tensor | None = None,
    ) -> None:
        n = len(images)
        for name, value in (("labels", labels), ("groups", groups), ("backgrounds", backgrounds), ("masks", masks)):
            if value is not None and len(value) != n:
                raise ValueError(f"{name} has {len(value)} entries for {n} images")
        self.source = images
        self.mask_source = masks
        self.preprocess = preprocess if preprocess is not None else Preprocess()
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

    def take(self, index: Tensor) -> Batch:
        """Decode and size the items at `index`: image (uint8), label, group and, where present, background, mask."""
        index = torch.as_tensor(index, dtype=torch.long)
        rows = self.index[index].tolist()
        batch = {
            "image": torch.stack([self.preprocess(self.source.read(row)) for row in rows]),
            "label": self.labels[index],
            "group": self.groups[index],
        }
        if self.backgrounds is not None:
            batch["background"] = self.backgrounds[index]
        if self.mask_source is not None:
            masks = [self.preprocess(self.mask_source.read(row).to(torch.uint8), nearest=True) for row in rows]
            batch["mask"] = torch.cat(masks).bool()
        return batch

    def subset(self, index: Tensor) -> FileSplit:
        """The items at `index`, repeats allowed (JTT's upsampling), sharing this split's sources."""
        return FileSplit(
            self.source, self._labels, self._groups, self._backgrounds, self.mask_source, self.preprocess,
            self.index[torch.as_tensor(index, dtype=torch.long)],
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
        loading = ImageLoading()
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
