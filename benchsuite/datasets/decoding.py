"""Decoding and sizing images as the papers do, on uint8 tensors (torchvision.io and transforms.v2).

`Preprocess` is the deterministic part of the papers' input pipelines, applied when an image is read:
an optional centre crop of the raw image (CelebA's 178 px face crop, JTT), a resize, and a centre crop to
the network's input size (ImageNet's resize 256 -> crop 224). Random augmentation happens later, on the
device, on whole batches (benchsuite.training.augment). Foreground masks go through the same geometry with nearest
interpolation, so they stay aligned with their images.

Image sources (`ImageFiles`, `MaskFiles`; the Hugging Face adapter's own) decode one row at a time for the
file-backed splits (datasets.splits). An image that cannot be decoded (a damaged or truncated file) raises
`UnreadableImage`, a ConfigError whose one paragraph names the file, the decoder's reason and the
`data --verify` command that lists every such file.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import gin
import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from torch import Tensor
from torchvision.io import ImageReadMode, decode_image, read_file
from torchvision.transforms import InterpolationMode

from benchsuite.errors import ConfigError

#: torchvision 0.29 deprecates its decoders in favour of TorchCodec, which the suite does not depend on; they
#: still work, and the warning would otherwise repeat for every image in every DataLoader worker
_DEPRECATION = "The image decoding and encoding capabilities of TorchVision"

#: ImageNet's per-channel mean and std (torchvision's pretrained weights expect them)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@gin.configurable
class Preprocess:
    """Geometry applied to every image as it is read: pre_crop, resize, then centre crop to `size`.

    size: the side of the square network input. resize: None resizes straight to size x size; an int
    resizes first (the shorter side to `resize` if keep_aspect, else the whole image to resize x resize)
    and then centre-crops `size` (ImageNet evaluation: 256 then 224). pre_crop: a centre square of this
    side cut from the raw image first (CelebA, JTT's code: 178), or None.
    """

    def __init__(
        self, size: int = 224, resize: int | None = 256, keep_aspect: bool = True, pre_crop: int | None = None
    ) -> None:
        if size < 1 or (resize is not None and resize < size) or (pre_crop is not None and pre_crop < 1):
            raise ValueError(
                f"Preprocess(size={size}, resize={resize}, pre_crop={pre_crop}): sizes must be positive and "
                "resize at least size."
            )
        self.size = size
        self.resize = resize
        self.keep_aspect = keep_aspect
        self.pre_crop = pre_crop

    def __repr__(self) -> str:
        return (f"Preprocess(size={self.size}, resize={self.resize}, keep_aspect={self.keep_aspect}, "
                f"pre_crop={self.pre_crop})")

    def __call__(self, image: Tensor, nearest: bool = False) -> Tensor:
        """(C, H, W) -> (C, size, size); `nearest` for masks."""
        mode = InterpolationMode.NEAREST if nearest else InterpolationMode.BILINEAR
        antialias = not nearest
        if self.pre_crop is not None:
            image = TF.center_crop(image, [self.pre_crop, self.pre_crop])
        if self.resize is None:
            return TF.resize(image, [self.size, self.size], interpolation=mode, antialias=antialias)
        target = [self.resize] if self.keep_aspect else [self.resize, self.resize]
        image = TF.resize(image, target, interpolation=mode, antialias=antialias)
        return TF.center_crop(image, [self.size, self.size])


def decode_rgb(data: Tensor) -> Tensor:
    """Encoded bytes (a 1-D uint8 tensor: JPEG, PNG, ...) -> uint8 (3, H, W); grayscale is expanded to RGB."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_DEPRECATION)
        return decode_image(data, mode=ImageReadMode.RGB)


def read_rgb(path: str | Path) -> Tensor:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_DEPRECATION)
        return decode_rgb(read_file(str(path)))


def read_mask(path: str | Path) -> Tensor:
    """A foreground mask file -> bool (1, H, W): a .npy array (the Background Challenge's fg_mask) or an image;
    any non-zero value (in any channel) is foreground."""
    path = Path(path)
    if path.suffix == ".npy":
        array = torch.from_numpy(np.load(path, allow_pickle=False))
        if array.ndim == 3:  # (H, W, C) masks: foreground where any channel is set
            array = array.abs().amax(dim=-1)
        return (array != 0).unsqueeze(0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_DEPRECATION)
        image = decode_image(read_file(str(path)), mode=ImageReadMode.GRAY)
    return image != 0


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
