"""Texture sets for shape-versus-texture evaluation: a model trained on natural images is tested on images whose
texture no longer carries the class, e.g. Stylized-ImageNet (Geirhos et al., ICLR 2019) or ImageNet-Sketch
(Wang et al., NeurIPS 2019) restricted to the training classes, as the CLAD poster's texture experiment does.

Every split is a folder of class folders (ImageFolder layout) under the dataset's root: `train_dir`,
`val_dir` and one folder per evaluation set in `eval_dirs` (default stylized/ and sketch/), all with the
same class folder names. Groups are the classes. Biased / debiased accuracy are those of `biased_split`
(default the validation split, natural textures) and `debiased_split` (default stylized).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import torch

from benchsuite.datasets.disk import DiskDataset
from benchsuite.datasets.files import FileSplit, ImageFiles
from benchsuite.datasets.folders import class_folders, images_by_class
from benchsuite.datasets.images import IMAGENET_MEAN, IMAGENET_STD, Preprocess
from benchsuite.datasets.roots import DataSource
from benchsuite.errors import ConfigError
from benchsuite.registry import DATASETS


@DATASETS.register("TextureSets")
class TextureSets(DiskDataset):
    """Class folders for training and for texture-shifted evaluation sets (stylized, sketch); groups = classes."""

    data_source = DataSource(
        "TextureSets", "textures",
        "https://github.com/rgeirhos/Stylized-ImageNet (stylized images) and https://github.com/HaohanWang/"
        "ImageNet-Sketch (sketches), restricted to your training classes",
        "<root>/<train_dir>/<class>/*, <root>/<val_dir>/<class>/* and <root>/<eval set>/<class>/* for each of "
        "TextureSets.eval_dirs, with the same class folder names everywhere",
    )

    def __init__(
        self,
        root: str | None = None,
        train_dir: str = "train",
        val_dir: str = "val",
        eval_dirs: Sequence[str] = ("stylized", "sketch"),
        biased_split: str | None = "val",
        debiased_split: str | None = "stylized",
        preprocess: Preprocess | None = None,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        super().__init__(root, preprocess, mean, std)
        self.train_dir, self.val_dir, self.eval_dirs = train_dir, val_dir, tuple(eval_dirs)
        names = ("val", *self.eval_dirs)
        if len(set(names)) != len(names) or "train" in names or "test" in names:
            raise ConfigError(
                f"TextureSets.eval_dirs = {self.eval_dirs}: names must be distinct and not 'val', 'train' or 'test'."
            )
        self.eval_splits = names
        for binding, split in (("biased_split", biased_split), ("debiased_split", debiased_split)):
            if split is not None and split not in names:
                raise ConfigError(f"TextureSets.{binding} = '{split}' is not a split; splits: {', '.join(names)}.")
        self.biased_split, self.debiased_split = biased_split, debiased_split

    @cached_property
    def classes(self) -> list[str]:
        return class_folders(self.path / self.train_dir, self.data_source)

    @property
    def num_classes(self) -> int:  # type: ignore[override]  the class folders decide
        return len(self.classes)

    @property
    def num_groups(self) -> int:  # type: ignore[override]
        return len(self.classes)

    def group_name(self, group: int) -> str:
        return self.classes[group]

    def load(self) -> dict[str, FileSplit]:
        folders = {"train": self.train_dir, "val": self.val_dir, **{name: name for name in self.eval_dirs}}
        splits = {}
        for name, folder in folders.items():
            paths, labels = images_by_class(self.path / folder, self.classes, self.data_source)
            labels_t = torch.tensor(labels, dtype=torch.long)
            splits[name] = FileSplit(ImageFiles(paths), labels_t, labels_t.clone(), preprocess=self.preprocess)
        return splits
