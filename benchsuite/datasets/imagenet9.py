"""ImageNet-9 and the Background Challenge (Xiao, Engstrom, Ilyas, Madry, ICLR 2021).

Training on IN-9L (the 9 super-classes of ImageNet, all their images: in9l/train and in9l/val, class
folders 00_dog ... 08_fish); testing on the Background Challenge's variants of IN-9's validation images,
each bg_challenge/<variant>/val/<class>/: original ("test"), mixed_same, mixed_rand, only_fg, no_fg,
only_bg_t and only_bg_b. Foreground masks: bg_challenge/fg_mask/val/<class>/<image stem>.npy for the
original images; training masks (which CLAD needs; no release provides them, the CLAD authors made them with
GrabCut or U2-Net) from a folder named by `train_masks` that mirrors in9l/train with one mask per image
(MASK_FORMAT says the format).

The release archives unpack to in9l/ and bg_challenge/; they are looked for in $BENCHSUITE_DATA/imagenet9/ and
in $BENCHSUITE_DATA itself. Every split has the training split's class folders, each holding images.

Groups are the classes. The background label is the class whose image the background came from: the class
itself on every variant but Mixed-Rand, whose file names do not say it (no background label there).
Biased / debiased accuracy are Mixed-Same / Mixed-Rand, and bg_gap their difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from benchsuite.datasets.class_folders import class_folders, images_by_class
from benchsuite.datasets.decoding import IMAGENET_MEAN, IMAGENET_STD, ImageFiles, MaskFiles, Preprocess
from benchsuite.datasets.from_disk import DiskDataset
from benchsuite.datasets.locating import DataSource
from benchsuite.datasets.splits import FileSplit
from benchsuite.errors import ConfigError
from benchsuite.registry import DATASETS

VARIANTS = ("original", "mixed_same", "mixed_rand", "only_fg", "no_fg", "only_bg_t", "only_bg_b")
#: variants whose backgrounds come from an image of the same class
_OWN_BACKGROUND = ("original", "mixed_same", "only_fg", "no_fg", "only_bg_t", "only_bg_b")
#: the training masks that `ImageNet9.train_masks` names, as the loader reads them (images.read_mask)
MASK_FORMAT = (
    "a folder that mirrors in9l/train, <class>/<image stem>.npy (a 2-D array of the image's height x width, "
    "non-zero = foreground, e.g. numpy.save of a bool array) or <class>/<image stem>.png (grayscale, non-zero = "
    "foreground), one per training image; no release provides it: make it with GrabCut (cv2.grabCut) or a "
    "saliency model such as U2-Net, as the CLAD authors did, and bind ImageNet9.train_masks to it (relative to "
    "the dataset folder, e.g. 'in9l_masks/train', or absolute)"
)


@DATASETS.register("ImageNet9")
class ImageNet9(DiskDataset):
    """IN-9L for training, the Background Challenge's variants for testing; fg masks where present."""

    num_classes = 9
    num_groups = 9
    biased_split = "mixed_same"
    debiased_split = "mixed_rand"
    data_source = DataSource(
        "ImageNet9", ("imagenet9", ""), ("in9l", "bg_challenge"),
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
        allow_missing_groups: bool = False,
    ) -> None:
        super().__init__(root, preprocess, mean, std, allow_missing_groups)
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

    def group_name(self, group: int) -> str:
        return self.classes[group] if hasattr(self, "classes") else str(group)

    def _masks(self, folder: Path, paths: list[Path], image_root: Path, what: str) -> MaskFiles:
        """The mask of every image: folder/<class>/<stem>.npy or .png, all present."""
        masks = []
        for path in paths:
            stem = folder / path.relative_to(image_root).parent / path.stem
            found = next((stem.with_suffix(s) for s in (".npy", ".png") if stem.with_suffix(s).is_file()), None)
            if found is None and what == "ImageNet9.train_masks":
                raise ConfigError(
                    f"ImageNet9.train_masks = '{self.train_masks}': no mask for the training image '{path}' (looked "
                    f"for '{stem}.npy' and '{stem}.png'). The training masks are {MASK_FORMAT}."
                )
            if found is None:
                raise self.data_source.error(
                    folder, f"{what} has no mask for the image '{path}' (looked for {stem}.npy and .png)"
                )
            masks.append(found)
        return MaskFiles(masks, self.registered_name)

    def _split(self, folder: Path, reference: Path, own_background: bool, masks: Path | None = None,
               what: str = "", evaluation: bool = True) -> FileSplit:
        paths, labels = images_by_class(
            folder, self.classes, self.data_source, reference, allow_empty=evaluation and self.allow_missing_groups,
            binding="ImageNet9.allow_missing_groups" if evaluation else "",
        )
        labels_t = torch.tensor(labels, dtype=torch.long)
        mask_files = None if masks is None else self._masks(masks, paths, folder, what)
        return FileSplit(
            ImageFiles(paths, self.registered_name), labels_t, labels_t.clone(),
            labels_t.clone() if own_background else None, mask_files, preprocess=self.preprocess,
        )

    def _train_masks(self) -> Path | None:
        if self.train_masks is None:
            return None
        folder = self.path / self.train_masks
        if not folder.is_dir():
            raise ConfigError(
                f"ImageNet9.train_masks = '{self.train_masks}': the folder '{folder}' does not exist. The training "
                f"masks (CLAD builds its positives from them) are {MASK_FORMAT}."
            )
        return folder

    def load(self) -> dict[str, FileSplit]:
        train_root, challenge = self.path / self.train_dir, self.path / self.challenge_dir
        for folder, archive in ((train_root, "in9l.tar.gz"), (challenge, "backgrounds_challenge_data.tar.gz")):
            if not folder.is_dir():
                raise self.data_source.error(
                    self.path, f"the folder '{folder.name}' is missing (it is what the release's {archive} unpacks to)"
                )
        train = train_root / "train"
        self.classes = class_folders(train, self.data_source, "the IN-9L training folder")
        if len(self.classes) != self.num_classes:
            raise self.data_source.error(
                train, f"{len(self.classes)} class folders instead of ImageNet-9's {self.num_classes}"
            )
        splits = {
            "train": self._split(train, train, True, self._train_masks(), "ImageNet9.train_masks", evaluation=False),
            "val": self._split(train_root / "val", train, True),
        }
        fg_mask = challenge / "fg_mask" / "val"
        for variant in self.variants:
            masks = fg_mask if variant == "original" and fg_mask.is_dir() else None
            splits["test" if variant == "original" else variant] = self._split(
                challenge / variant / "val", train, variant in _OWN_BACKGROUND, masks, "fg_mask/val"
            )
        return splits
