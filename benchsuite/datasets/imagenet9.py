"""ImageNet-9 and the Background Challenge (Xiao, Engstrom, Ilyas, Madry, ICLR 2021).

Training on IN-9L (the 9 super-classes of ImageNet, all their images: in9l/train and in9l/val, class
folders 00_dog ... 08_fish); testing on the Background Challenge's variants of IN-9's validation images,
each bg_challenge/<variant>/val/<class>/: original ("test"), mixed_same, mixed_rand, only_fg, no_fg,
only_bg_t and only_bg_b. Foreground masks: bg_challenge/fg_mask/val/<class>/<image stem>.npy for the
original images; training masks (which CLAD needs; its authors made them with GrabCut or U2-Net) from a
folder named by `train_masks` that mirrors in9l/train with one .npy or .png mask per image.

Groups are the classes. The background label is the class whose image the background came from: the class
itself on every variant but Mixed-Rand, whose file names do not say it (no background label there).
Biased / debiased accuracy are Mixed-Same / Mixed-Rand, and bg_gap their difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from benchsuite.datasets.disk import DiskDataset
from benchsuite.datasets.files import FileSplit, ImageFiles, MaskFiles
from benchsuite.datasets.folders import class_folders, images_by_class
from benchsuite.datasets.images import IMAGENET_MEAN, IMAGENET_STD, Preprocess
from benchsuite.datasets.roots import DataSource
from benchsuite.errors import ConfigError
from benchsuite.registry import DATASETS

VARIANTS = ("original", "mixed_same", "mixed_rand", "only_fg", "no_fg", "only_bg_t", "only_bg_b")
#: variants whose backgrounds come from an image of the same class
_OWN_BACKGROUND = ("original", "mixed_same", "only_fg", "no_fg", "only_bg_t", "only_bg_b")


@DATASETS.register("ImageNet9")
class ImageNet9(DiskDataset):
    """IN-9L for training, the Background Challenge's variants for testing; fg masks where present."""

    num_classes = 9
    num_groups = 9
    biased_split = "mixed_same"
    debiased_split = "mixed_rand"
    data_source = DataSource(
        "ImageNet9", "imagenet9",
        "https://github.com/MadryLab/backgrounds_challenge/releases (backgrounds_challenge_data.tar.gz for the "
        "test variants and fg_mask, in9l.tar.gz for IN-9L)",
        "<root>/in9l/{train,val}/<class>/*.JPEG and <root>/bg_challenge/<variant>/val/<class>/*.JPEG for the "
        f"variants {', '.join(VARIANTS)}, with <root>/bg_challenge/fg_mask/val/<class>/<stem>.npy",
    )

    def __init__(
        self,
        root: str | None = None,
        train_dir: str = "in9l",
        challenge_dir: str = "bg_challenge",
        variants: Sequence[str] = VARIANTS,
        train_masks: str | None = None,
        preprocess: Preprocess | None = None,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        super().__init__(root, preprocess, mean, std)
        unknown = [v for v in variants if v not in VARIANTS]
        if unknown or "original" not in variants:
            problem = f"unknown {', '.join(unknown)}" if unknown else "original is missing"
            raise ConfigError(
                f"ImageNet9.variants = {tuple(variants)}: {problem}. Valid variants: "
                f"{', '.join(VARIANTS)} (original is the test split and must be listed)."
            )
        self.train_dir = train_dir
        self.challenge_dir = challenge_dir
        self.variants = tuple(variants)
        self.train_masks = train_masks
        self.has_masks = train_masks is not None
        others = [v for v in self.variants if v != "original"]
        self.eval_splits = ("val", "test", *others)
        if "mixed_same" not in others or "mixed_rand" not in others:
            self.biased_split = self.debiased_split = None

    def _masks(self, folder: Path, paths: list[Path], image_root: Path, what: str) -> MaskFiles:
        """The mask of every image: folder/<class>/<stem>.npy or .png, all present."""
        masks = []
        for path in paths:
            stem = folder / path.relative_to(image_root).parent / path.stem
            found = next((stem.with_suffix(s) for s in (".npy", ".png") if stem.with_suffix(s).is_file()), None)
            if found is None:
                raise self.data_source.error(
                    folder, f"{what} has no mask for the image '{path}' (looked for {stem}.npy and .png)"
                )
            masks.append(found)
        return MaskFiles(masks)

    def _split(self, folder: Path, classes: list[str], own_background: bool, masks: Path | None = None,
               what: str = "") -> FileSplit:
        paths, labels = images_by_class(folder, classes, self.data_source)
        labels_t = torch.tensor(labels, dtype=torch.long)
        mask_files = None if masks is None else self._masks(masks, paths, folder, what)
        return FileSplit(
            ImageFiles(paths), labels_t, labels_t.clone(), labels_t.clone() if own_background else None, mask_files,
            preprocess=self.preprocess,
        )

    def load(self) -> dict[str, FileSplit]:
        train_root, challenge = self.path / self.train_dir, self.path / self.challenge_dir
        classes = class_folders(train_root / "train", self.data_source)
        if len(classes) != self.num_classes:
            raise self.data_source.error(
                train_root / "train", f"{len(classes)} class folders instead of ImageNet-9's {self.num_classes}"
            )
        train_masks = None if self.train_masks is None else self.data_source.require(
            self.path / self.train_masks, "the training mask folder (ImageNet9.train_masks)"
        )
        splits = {
            "train": self._split(train_root / "train", classes, True, train_masks, "ImageNet9.train_masks"),
            "val": self._split(train_root / "val", classes, True),
        }
        fg_mask = challenge / "fg_mask" / "val"
        for variant in self.variants:
            masks = fg_mask if variant == "original" and fg_mask.is_dir() else None
            splits["test" if variant == "original" else variant] = self._split(
                challenge / variant / "val", classes, variant in _OWN_BACKGROUND, masks, "fg_mask/val"
            )
        return splits
