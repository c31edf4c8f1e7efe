"""Decoding and sizing images as the papers do, on uint8 tensors (torchvision.io and transforms.v2).

`Preprocess` is the deterministic part of the papers' input pipelines, applied when an image is read:
an optional centre crop of the raw image (CelebA's 178 px face crop, JTT), a resize, and a centre crop to
the network's input size (ImageNet's resize 256 -> crop 224). Random augmentation happens later, on the
device, on whole batches (benchsuite.training.augment). Foreground masks go through the same geometry with nearest
interpolation, so they stay aligned with their images.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import gin
import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from torch import Tensor
from torchvision.io import ImageReadMode, decode_image, read_file
from torchvision.transforms import InterpolationMode

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
