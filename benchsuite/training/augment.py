"""Batched image augmentation on the training device, one random draw per image (kornia).

A batch arrives as uint8 (B, C, H, W) on the device and leaves as float32 in [0, 1] with the same H, W.
kornia draws every parameter per image (same_on_batch=False): each image of a batch gets its own crop, flip
and jitter, as a per-item transform in a DataLoader would. torchvision's v2 transforms applied to a batch
tensor draw once for the whole batch, which would give both views of SimCLR the same crop across the batch.

Colour operations need RGB: on a single-channel batch ContrastiveAugment jitters brightness and contrast only
and skips saturation, hue and grayscale.
"""

from __future__ import annotations

from collections.abc import Sequence

import gin
import kornia.augmentation as K
import torch
from torch import Tensor, nn


def to_unit_float(images: Tensor) -> Tensor:
    """uint8 images -> float32 in [0, 1] on the same device."""
    if images.dtype != torch.uint8:
        raise TypeError(f"expected uint8 images, got {images.dtype}")
    return images.float().div_(255.0)


def normalize(x: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """(x - mean) / std per channel of a float (B, C, H, W) batch."""
    shape = (1, -1, 1, 1)
    mean_t = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(shape)
    std_t = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(shape)
    return (x - mean_t) / std_t


class _SizedAugment(nn.Module):
    """Base of augmentations whose geometric op must know the input size: one cached op per (H, W)."""

    def __init__(self) -> None:
        super().__init__()
        # a plain dict, not a ModuleDict: kornia ops hold no state, and the sizes seen must not change the
        # module's state_dict (checkpoints restore into a freshly built module)
        self._geometric: dict[tuple[int, int], nn.Module] = {}

    def make_geometric(self, size: tuple[int, int]) -> nn.Module:
        raise NotImplementedError

    def geometric(self, size: tuple[int, int]) -> nn.Module:
        if size not in self._geometric:
            self._geometric[size] = self.make_geometric(size)
        return self._geometric[size]


@gin.configurable
class ContrastiveAugment(_SizedAugment):
    """SimCLR's recipe (Chen et al. 2020): random resized crop to the input size, horizontal flip, colour
    jitter (brightness, contrast, saturation, hue) applied with probability jitter_p, random grayscale."""

    def __init__(
        self,
        crop_scale: tuple[float, float] = (0.08, 1.0),
        flip_p: float = 0.5,
        jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.1),
        jitter_p: float = 0.8,
        grayscale_p: float = 0.2,
        crop_ratio: tuple[float, float] = (3 / 4, 4 / 3),
    ) -> None:
        super().__init__()
        self.crop_scale = tuple(crop_scale)
        self.crop_ratio = tuple(crop_ratio)
        brightness, contrast, saturation, hue = jitter
        self.flip = K.RandomHorizontalFlip(p=flip_p)
        self.colour = nn.Sequential(
            K.ColorJitter(brightness, contrast, saturation, hue, p=jitter_p),
            K.RandomGrayscale(p=grayscale_p),
        )
        self.mono = K.ColorJitter(brightness, contrast, 0.0, 0.0, p=jitter_p)

    def make_geometric(self, size: tuple[int, int]) -> nn.Module:
        # "resample": one batched affine warp; kornia's default "slice" crops and resizes image by image, which
        # took a third of the augmentation's time on the CPU (benchmarks/README.md)
        return K.RandomResizedCrop(size, scale=self.crop_scale, ratio=self.crop_ratio, cropping_mode="resample")

    def forward(self, images: Tensor) -> Tensor:
        # outside autocast: the output stays float32 whatever the training step's precision
        with torch.autocast(images.device.type, enabled=False):
            x = to_unit_float(images)
            x = self.flip(self.geometric(tuple(x.shape[-2:]))(x))
            x = self.colour(x) if x.shape[1] == 3 else self.mono(x)
            return x.clamp_(0.0, 1.0)


@gin.configurable
class SupervisedAugment(_SizedAugment):
    """The standard supervised recipe: random crop of the input size from the image zero-padded by `padding`
    pixels on every side, then a horizontal flip with probability flip_p."""

    def __init__(self, padding: int = 4, flip_p: float = 0.5) -> None:
        super().__init__()
        self.padding = padding
        self.flip = K.RandomHorizontalFlip(p=flip_p)

    def make_geometric(self, size: tuple[int, int]) -> nn.Module:
        return K.RandomCrop(size, padding=self.padding, fill=0.0)

    def forward(self, images: Tensor) -> Tensor:
        with torch.autocast(images.device.type, enabled=False):
            x = to_unit_float(images)
            return self.flip(self.geometric(tuple(x.shape[-2:]))(x))


@gin.configurable
class NoAugment(nn.Module):
    """No augmentation: uint8 images -> float32 in [0, 1]."""

    def forward(self, images: Tensor) -> Tensor:
        return to_unit_float(images)
