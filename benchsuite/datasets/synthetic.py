"""The embedded benchmark: background- and texture-biased images built from scikit-learn's handwritten digits.

No download: `sklearn.datasets.load_digits` ships 1797 8x8 digits. They are split once into disjoint train,
val and test pools (60/20/20, stratified), so test digits are never seen in training. Each image places one
digit, scaled and shifted at random, on a background; the digit's ink is the foreground mask, and the image
is the foreground where the mask is set and the background elsewhere (hard compositing), so the mask covers
the digit exactly. The train, val and test splits also keep each image's bias cue alone over the whole frame
(`TensorSplit.bias_images`: the background before the digit was pasted, or the texture before it was cut to the
digit's shape), from which CLAD builds its positives. Generation is vectorised, deterministic in the
dataset's `seed` (independent of the training seed: every run sees the same benchmark) and takes seconds;
the result is cached on disk.

Three benchmarks:
- SyntheticBackgrounds, after the Background Challenge (Xiao et al., ICLR 2021): each class has a
  background family (a hue and a stripe orientation and frequency), agreeing with the class in a share of
  training images; test variants Original ("test"), Mixed-Same, Mixed-Rand, Only-FG and Only-BG-T.
- SyntheticWaterbirds, after Waterbirds (Sagawa et al., ICLR 2020): digits 0-4 against 5-9 on two
  background families, aligned in 95% of training images; group-balanced val and test; group = 2y + place.
- SyntheticTexture, after the cue-conflict images of Geirhos et al. (ICLR 2019): the digit's strokes are
  filled with a texture agreeing with the class in training; evaluated on cue-aligned and cue-conflict images.
"""

from __future__ import annotations

import abc
import hashlib
import json
import math
import os
from functools import cached_property
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from benchsuite import records
from benchsuite.datasets.base import Dataset
from benchsuite.datasets.splits import TensorSplit
from benchsuite.errors import ConfigError
from benchsuite.registry import DATASETS

#: bump when the generator changes, so that stale caches are not reused
GENERATOR_VERSION = 2
#: the stored fields beyond the images: part of the cache file's name, so that a cache written before a field
#: was added is not loaded, while the images (GENERATOR_VERSION) stay the same
STORED_FIELDS = ("bias_images",)
_INK_THRESHOLD = 0.3  # digit intensity (0-1) above which a pixel is foreground


def cache_root(cache_dir: str | None = None) -> Path:
    """The suite's cache folder: `cache_dir`, else $BENCHSUITE_CACHE, else ~/.cache/benchsuite."""
    return Path(cache_dir or os.environ.get("BENCHSUITE_CACHE") or Path.home() / ".cache" / "benchsuite")


def _load_digits() -> tuple[Tensor, Tensor]:
    """scikit-learn's 1797 handwritten digits: images (n, 1, 8, 8) in [0, 1] and labels (n,)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16, torch.tensor(digits.target)


def _pool_indices(labels: Tensor, seed: int) -> dict[str, Tensor]:
    """Disjoint train/val/test pools (60/20/20, stratified by class) of the digit indices."""
    from sklearn.model_selection import train_test_split

    index = torch.arange(len(labels))
    train, rest = train_test_split(index, test_size=0.4, stratify=labels, random_state=seed)
    val, test = train_test_split(rest, test_size=0.5, stratify=labels[rest], random_state=seed)
    return {"train": train, "val": val, "test": test}


def _digit_pools(seed: int) -> dict[str, tuple[Tensor, Tensor]]:
    """The digit pools: (images, labels) per split, so that test digits are never seen in training."""
    images, labels = _load_digits()
    return {name: (images[i], labels[i]) for name, i in _pool_indices(labels, seed).items()}


def _hsv(hue: Tensor, saturation: float, value: float) -> Tensor:
    """(n,) hues in [0, 1) -> (n, 3) RGB colours."""
    k = (torch.tensor([5.0, 3.0, 1.0]) + hue.unsqueeze(1) * 6) % 6
    return value - value * saturation * torch.clamp(torch.minimum(k, 4 - k), 0, 1)


def _stripes(angle: Tensor, frequency: Tensor, phase: Tensor, size: int) -> Tensor:
    """(n, size, size) sinusoidal stripes in [0, 1] at the given angles, cycles per image and phases."""
    grid = torch.linspace(0, 1, size)
    y, x = torch.meshgrid(grid, grid, indexing="ij")
    along = x * torch.cos(angle).view(-1, 1, 1) + y * torch.sin(angle).view(-1, 1, 1)
    return 0.5 + 0.5 * torch.sin(2 * math.pi * frequency.view(-1, 1, 1) * along + phase.view(-1, 1, 1))


def _place_digits(digits: Tensor, size: int, scale_range: tuple[float, float], generator: torch.Generator) -> Tensor:
    """Scale (a share `scale_range` of the image side) and shift each 8x8 digit at random: (n, size, size) ink."""
    n = len(digits)
    low, high = scale_range
    scale = low + (high - low) * torch.rand(n, generator=generator)
    shift = (1 - scale).unsqueeze(1) * (2 * torch.rand(n, 2, generator=generator) - 1)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1 / scale
    theta[:, :, 2] = -shift / scale.unsqueeze(1)
    grid = F.affine_grid(theta, [n, 1, size, size], align_corners=False)
    return F.grid_sample(digits, grid, mode="bilinear", padding_mode="zeros", align_corners=False).squeeze(1)


def _to_uint8(images: Tensor) -> Tensor:
    return (images.clamp(0, 1) * 255).round().to(torch.uint8)


class _Family:
    """A family of patterns (a background or a texture per key): a hue, a stripe angle and a frequency.

    Instances of one family differ in phase, a little hue and brightness, and pixel noise, so a model must
    learn the family, not memorise one image.
    """

    def __init__(
        self,
        hues: list[float],
        angles: list[float],
        frequencies: list[float],
        noise: float,
        saturation: float = 0.85,
        value: float = 1.0,
        dark: float = 0.35,
        hue_jitter: float = 0.02,
    ) -> None:
        self.hues = torch.tensor(hues)
        self.angles = torch.tensor(angles)
        self.frequencies = torch.tensor(frequencies)
        self.noise = noise
        self.saturation = saturation
        self.value = value
        self.dark = dark
        self.hue_jitter = hue_jitter

    def draw(self, keys: Tensor, size: int, generator: torch.Generator) -> Tensor:
        """(n, 3, size, size) pattern instances of the families `keys`."""
        n = len(keys)
        hue = (self.hues[keys] + self.hue_jitter * torch.randn(n, generator=generator)) % 1
        brightness = 0.85 + 0.15 * torch.rand(n, generator=generator)
        phase = 2 * math.pi * torch.rand(n, generator=generator)
        stripes = _stripes(self.angles[keys], self.frequencies[keys], phase, size).unsqueeze(1)
        bright = _hsv(hue, self.saturation, self.value).view(n, 3, 1, 1)
        dark = _hsv(hue, self.saturation, self.dark).view(n, 3, 1, 1)
        pattern = (stripes * bright + (1 - stripes) * dark) * brightness.view(n, 1, 1, 1)
        return pattern + self.noise * torch.randn(n, 3, size, size, generator=generator)


def _ten_families(noise: float) -> _Family:
    return _Family(
        hues=[k / 10 for k in range(10)],
        angles=[k * math.pi / 10 for k in range(10)],
        frequencies=[2.0 + (3 * k) % 5 for k in range(10)],
        noise=noise,
    )


def _compose(ink: Tensor, foreground: Tensor, background: Tensor) -> tuple[Tensor, Tensor]:
    """Hard compositing: (uint8 images, bool masks) with the foreground exactly where the ink is."""
    mask = ink > _INK_THRESHOLD
    return _to_uint8(torch.where(mask.unsqueeze(1), foreground, background)), mask


def _other_key(keys: Tensor, num_keys: int, generator: torch.Generator) -> Tensor:
    """A key different from each of `keys`, uniformly among the others."""
    return (keys + torch.randint(1, num_keys, keys.shape, generator=generator)) % num_keys


def _agreeing(labels: Tensor, agreement: float, num_keys: int, generator: torch.Generator) -> Tensor:
    """Keys equal to the label with probability `agreement`, else uniformly one of the others."""
    agree = torch.rand(len(labels), generator=generator) < agreement
    return torch.where(agree, labels, _other_key(labels, num_keys, generator))


class _SyntheticDigits(Dataset):
    """Shared machinery: digit pools, sizes and the cache. Subclasses build the splits."""

    has_masks: ClassVar[bool] = True
    #: digit size range, as a share of the image side
    digit_scale: ClassVar[tuple[float, float]] = (0.55, 0.70)
    #: smallest train, val or test size (Waterbirds needs one image per group)
    min_split_size: ClassVar[int] = 1

    @classmethod
    def data_status(cls) -> tuple[str, str, Dataset | None]:
        return "embedded", "generated from scikit-learn's digits on first use, cached under $BENCHSUITE_CACHE", None

    def __init__(
        self,
        image_size: int,
        train_size: int,
        val_size: int,
        test_size: int,
        seed: int,
        cache_dir: str | None,
        **bias: float,
    ) -> None:
        self.image_size = image_size
        self.sizes = {"train": train_size, "val": val_size, "test": test_size}
        self.seed = seed
        self.cache_dir = cache_dir
        self.bias = bias
        name = type(self).__name__
        if image_size < 8:
            raise ConfigError(f"{name}.image_size = {image_size}: images must be at least 8 px, the digits' size.")
        for split, n in self.sizes.items():
            if n < self.min_split_size:
                raise ConfigError(f"{name}.{split}_size = {n}: a split needs at least {self.min_split_size} images.")
        for key, value in bias.items():
            if not 0 <= value <= 1:
                raise ConfigError(f"{name}.{key} = {value}: a share must lie in [0, 1].")

    def _cache_file(self) -> Path:
        settings = {
            "version": GENERATOR_VERSION, "image_size": self.image_size, "sizes": self.sizes, "seed": self.seed,
            "fields": list(STORED_FIELDS), **self.bias,
        }
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
        return cache_root(self.cache_dir) / f"{type(self).__name__}-v{GENERATOR_VERSION}-{digest}.pt"

    @cached_property
    def _splits(self) -> dict[str, TensorSplit]:
        file = self._cache_file()
        if file.exists():
            stored = torch.load(file, weights_only=True)
        else:
            generator = torch.Generator().manual_seed(self.seed)
            pools = _digit_pools(self.seed)
            stored = {name: split.tensors() for name, split in self.build(pools, generator).items()}
            records.write_atomic(file, lambda out: torch.save(stored, out), "dataset_cache")
        return {name: TensorSplit(**tensors) for name, tensors in stored.items()}

    @abc.abstractmethod
    def build(self, pools: dict[str, tuple[Tensor, Tensor]], generator: torch.Generator) -> dict[str, TensorSplit]:
        """Every split, generated from the digit pools with `generator`."""

    def sample(self, pool: tuple[Tensor, Tensor], n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """n digits drawn with replacement from a pool and placed at random: (ink (n, size, size), labels)."""
        images, labels = pool
        index = torch.randint(len(labels), (n,), generator=generator)
        return _place_digits(images[index], self.image_size, self.digit_scale, generator), labels[index]


def _white(n: int, size: int, generator: torch.Generator) -> Tensor:
    """Foregrounds of the background benchmarks: near-white digits (brightness 0.9-1.0)."""
    return (0.9 + 0.1 * torch.rand(n, 1, 1, 1, generator=generator)).expand(n, 3, size, size)


def _bias_groups(labels: Tensor, keys: Tensor) -> Tensor:
    """2 * label + (bias key differs from the label): even groups are bias-aligned, odd ones conflicting."""
    return 2 * labels + (keys != labels).long()


@DATASETS.register("SyntheticBackgrounds")
class SyntheticBackgrounds(_SyntheticDigits):
    """10 digits, each class on its own background family; Background Challenge test variants.

    Splits: train, val and test (the Background Challenge's Original) with backgrounds agreeing with the
    class in a share `background_agreement` of images (0.1 makes backgrounds independent of the class, the
    Mixed-Rand training control); from the test digits: mixed_same (a new background of the class's own
    family), mixed_rand (a background family drawn uniformly), only_fg (the digit on black; background label
    and group stay those of the Original image) and only_bg_t (the Original images' backgrounds alone,
    labelled by their family).
    Group = 2 * label + (background != label).
    """

    num_classes = 10
    num_groups = 20
    eval_splits = ("val", "test", "mixed_same", "mixed_rand", "only_fg", "only_bg_t")
    biased_split = "mixed_same"
    debiased_split = "mixed_rand"
    _FAMILIES = _ten_families(noise=0.05)

    def __init__(
        self,
        image_size: int = 32,
        train_size: int = 5000,
        val_size: int = 1000,
        test_size: int = 1000,
        background_agreement: float = 0.9,
        seed: int = 0,
        cache_dir: str | None = None,
    ) -> None:
        super().__init__(
            image_size, train_size, val_size, test_size, seed, cache_dir, background_agreement=background_agreement
        )

    def group_name(self, group: int) -> str:
        return f"digit {group // 2} / {'other' if group % 2 else 'own'} background"

    def build(self, pools: dict[str, tuple[Tensor, Tensor]], generator: torch.Generator) -> dict[str, TensorSplit]:
        size, families = self.image_size, self._FAMILIES

        def on_backgrounds(
            ink: Tensor, labels: Tensor, keys: Tensor, foreground: Tensor, backgrounds: Tensor, keep: bool = False
        ) -> TensorSplit:
            images, masks = _compose(ink, foreground, backgrounds)
            bias_images = _to_uint8(backgrounds) if keep else None
            return TensorSplit(images, labels, _bias_groups(labels, keys), keys, masks, bias_images)

        splits = {}
        for name in ("train", "val", "test"):
            ink, labels = self.sample(pools[name], self.sizes[name], generator)
            keys = _agreeing(labels, self.bias["background_agreement"], 10, generator)
            foreground, backgrounds = _white(len(ink), size, generator), families.draw(keys, size, generator)
            splits[name] = on_backgrounds(ink, labels, keys, foreground, backgrounds, keep=True)
        # The variants keep the Original test images' digits (same pixels, same masks) and change the background.
        for name, variant_keys in (
            ("mixed_same", labels),
            ("mixed_rand", torch.randint(10, labels.shape, generator=generator)),
        ):
            variant_backgrounds = families.draw(variant_keys, size, generator)
            splits[name] = on_backgrounds(ink, labels, variant_keys, foreground, variant_backgrounds)
        # Only-FG keeps the background label (and so the group) of the Original image whose background it lost.
        splits["only_fg"] = on_backgrounds(ink, labels, keys, foreground, torch.zeros_like(backgrounds))
        splits["only_bg_t"] = TensorSplit(
            _to_uint8(backgrounds), keys.clone(), _bias_groups(keys, keys), keys.clone(),
            torch.zeros_like(ink, dtype=torch.bool),
        )
        return splits


@DATASETS.register("SyntheticWaterbirds")
class SyntheticWaterbirds(_SyntheticDigits):
    """2 classes (digits 0-4 and 5-9, many shapes per class like bird species) on two background families.

    Training backgrounds ("places") agree with the label in a share `background_agreement` of images;
    val and test hold the 4 groups in equal numbers (a size not divisible by 4 is rounded down).
    Group = 2 * label + place; groups 0 and 3 are aligned.
    """

    num_classes = 2
    num_groups = 4
    eval_splits = ("val", "test")
    min_split_size = 4
    _PLACES = _Family(hues=[0.3, 0.6], angles=[0.0, math.pi / 2], frequencies=[3.0, 6.0], noise=0.05)

    def __init__(
        self,
        image_size: int = 32,
        train_size: int = 5000,
        val_size: int = 1000,
        test_size: int = 1000,
        background_agreement: float = 0.95,
        seed: int = 0,
        cache_dir: str | None = None,
    ) -> None:
        super().__init__(
            image_size, train_size, val_size, test_size, seed, cache_dir, background_agreement=background_agreement
        )

    @property
    def aligned_groups(self) -> frozenset[int]:
        return frozenset({0, 3})

    def group_name(self, group: int) -> str:
        return f"{'5-9' if group // 2 else '0-4'} on place {group % 2}"

    def build(self, pools: dict[str, tuple[Tensor, Tensor]], generator: torch.Generator) -> dict[str, TensorSplit]:
        splits = {}
        for name in ("train", "val", "test"):
            images, digits = pools[name]
            classes = (digits >= 5).long()
            if name == "train":
                ink, labels = self.sample((images, classes), self.sizes[name], generator)
                places = _agreeing(labels, self.bias["background_agreement"], 2, generator)
            else:  # group-balanced: a quarter of the split per (class, place)
                quarter = self.sizes[name] // 4
                parts = [self.sample((images[classes == y], classes[classes == y]), 2 * quarter, generator)
                         for y in (0, 1)]
                ink, labels = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
                places = torch.arange(len(labels)) % 2
            backgrounds = self._PLACES.draw(places, self.image_size, generator)
            images_, masks = _compose(ink, _white(len(ink), self.image_size, generator), backgrounds)
            splits[name] = TensorSplit(images_, labels, 2 * labels + places, places, masks, _to_uint8(backgrounds))
        return splits


@DATASETS.register("SyntheticTexture")
class SyntheticTexture(_SyntheticDigits):
    """10 digits whose strokes are filled with a texture (shape is the label, texture the bias) on plain gray.

    Training, val and test textures agree with the class in a share `texture_agreement` of images; from the
    test digits, cue_aligned (the class's own texture) and cue_conflict (another class's texture) images.
    `backgrounds` holds the texture family; group = 2 * label + (texture != label).
    """

    num_classes = 10
    num_groups = 20
    eval_splits = ("val", "test", "cue_aligned", "cue_conflict")
    biased_split = "cue_aligned"
    debiased_split = "cue_conflict"

    def __init__(
        self,
        image_size: int = 32,
        train_size: int = 5000,
        val_size: int = 1000,
        test_size: int = 1000,
        texture_agreement: float = 0.9,
        seed: int = 0,
        cache_dir: str | None = None,
    ) -> None:
        super().__init__(
            image_size, train_size, val_size, test_size, seed, cache_dir, texture_agreement=texture_agreement
        )

    def group_name(self, group: int) -> str:
        return f"digit {group // 2} / {'other' if group % 2 else 'own'} texture"

    def build(self, pools: dict[str, tuple[Tensor, Tensor]], generator: torch.Generator) -> dict[str, TensorSplit]:
        size, textures = self.image_size, _ten_families(noise=0.03)

        def textured(ink: Tensor, labels: Tensor, keys: Tensor, keep: bool = False) -> TensorSplit:
            gray = 0.5 + 0.03 * torch.randn(len(ink), 3, size, size, generator=generator)
            texture = textures.draw(keys, size, generator)
            images, masks = _compose(ink, texture, gray)
            bias_images = _to_uint8(texture) if keep else None
            return TensorSplit(images, labels, _bias_groups(labels, keys), keys, masks, bias_images)

        splits = {}
        for name in ("train", "val", "test"):
            ink, labels = self.sample(pools[name], self.sizes[name], generator)
            keys = _agreeing(labels, self.bias["texture_agreement"], 10, generator)
            splits[name] = textured(ink, labels, keys, keep=True)
        splits["cue_aligned"] = textured(ink, labels, labels)
        splits["cue_conflict"] = textured(ink, labels, _other_key(labels, 10, generator))
        return splits


def unbiased_digits(n: int, image_size: int, seed: int) -> tuple[Tensor, Tensor]:
    """n images of the training pool's digits, labelled by digit, with every cue independent of the label: the
    pretraining source of the embedded benchmarks (benchsuite/training/pretraining.py).

    Each digit is white or filled with one of the ten textures, on one of the ten background families, one of
    Waterbirds' two places or plain gray, each drawn uniformly and independently of the digit. Only training-pool
    digits are used, so no validation or test digit of any benchmark is ever seen. Returns (uint8 images
    (n, 3, size, size), labels (n,)).
    """
    generator = torch.Generator().manual_seed(seed)
    images, labels = _digit_pools(0)["train"]  # the benchmarks' own pools (their dataset seed 0)
    index = torch.randint(len(labels), (n,), generator=generator)
    ink = _place_digits(images[index], image_size, _SyntheticDigits.digit_scale, generator)
    families, places = _ten_families(noise=0.05), SyntheticWaterbirds._PLACES

    def one_of(*options: Tensor) -> Tensor:
        choice = torch.randint(len(options), (n,), generator=generator).view(n, 1, 1, 1)
        return torch.stack(options).gather(0, choice.expand(1, *options[0].shape)).squeeze(0)

    keys = torch.randint(10, (n,), generator=generator)
    gray = 0.5 + 0.03 * torch.randn(n, 3, image_size, image_size, generator=generator)
    background = one_of(
        families.draw(keys, image_size, generator),
        places.draw(torch.randint(2, (n,), generator=generator), image_size, generator),
        gray,
    )
    textures = _ten_families(noise=0.03).draw(torch.randint(10, (n,), generator=generator), image_size, generator)
    foreground = one_of(_white(n, image_size, generator).contiguous(), textures)
    composed, _ = _compose(ink, foreground, background)
    return composed, labels[index].clone()
