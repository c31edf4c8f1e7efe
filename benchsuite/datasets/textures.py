"""Texture sets for shape-versus-texture evaluation: a model trained on natural images is tested on images whose
texture no longer carries the class, e.g. Stylized-ImageNet (Geirhos et al., ICLR 2019) or ImageNet-Sketch
(Wang et al., NeurIPS 2019) restricted to the training classes, as the CLAD poster's texture experiment does.

Every split is a folder of class folders (ImageFolder layout) under the dataset's root: `train_dir`,
`val_dir` and one folder per evaluation set. By default the evaluation sets are whichever of stylized/ and
sketch/ are present (`notes` lists them, as the record and `data` do); binding `eval_dirs` names them, and
then each must be there. All have the same class folder names. Groups are the classes. Biased / debiased
accuracy are those of `biased_split` (default the validation split, natural textures) and `debiased_split`
(default stylized, when present).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import torch

from benchsuite.datasets.class_folders import class_folders, images_by_class
from benchsuite.datasets.decoding import IMAGENET_MEAN, IMAGENET_STD, ImageFiles, Preprocess
from benchsuite.datasets.from_disk import DiskDataset
from benchsuite.datasets.locating import DataSource
from benchsuite.datasets.splits import FileSplit
from benchsuite.errors import ConfigError
from benchsuite.registry import DATASETS

#: the texture sets used when `eval_dirs` is not bound, each if its folder is present
TEXTURE_SETS = ("stylized", "sketch")


@DATASETS.register("TextureSets")
class TextureSets(DiskDataset):
    """Class folders for training and for texture-shifted evaluation sets (stylized, sketch); groups = classes."""

    data_source = DataSource(
        "TextureSets", ("textures",), ("train",),
        "https://github.com/rgeirhos/Stylized-ImageNet (stylized images) and https://github.com/HaohanWang/"
        "ImageNet-Sketch (sketches), restricted to your training classes",
        "<root>/<train_dir>/<class>/*, <root>/<val_dir>/<class>/* and <root>/<eval set>/<class>/* for each texture "
        f"set present of {', '.join(TEXTURE_SETS)} (or each of TextureSets.eval_dirs), with the same class folder "
        "names everywhere",
    )

    def __init__(
        self,
        root: str | None = None,
        train_dir: str = "train",
        val_dir: str = "val",
        eval_dirs: Sequence[str] | None = None,
        biased_split: str | None = "val",
        debiased_split: str | None = "stylized",
        preprocess: Preprocess | None = None,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        allow_missing_groups: bool = False,
    ) -> None:
        super().__init__(root, preprocess, mean, std, allow_missing_groups)
        self.train_dir, self.val_dir = train_dir, val_dir
        self.bound_eval_dirs = None if eval_dirs is None else tuple(eval_dirs)
        names = ("val", *(self.bound_eval_dirs or TEXTURE_SETS))
        if len(set(names)) != len(names) or "train" in names or "test" in names:
            raise ConfigError(
                f"TextureSets.eval_dirs = {self.bound_eval_dirs}: names must be distinct and not 'val', 'train' or "
                "'test'."
            )
        for binding, split in (("biased_split", biased_split), ("debiased_split", debiased_split)):
            if split is not None and split not in names:
                raise ConfigError(f"TextureSets.{binding} = '{split}' is not a split; splits: {', '.join(names)}.")
        self._biased, self._debiased = biased_split, debiased_split

    @cached_property
    def eval_dirs(self) -> tuple[str, ...]:
        """The texture sets evaluated: the bound ones, else those of TEXTURE_SETS whose folders are present."""
        if self.bound_eval_dirs is not None:
            return self.bound_eval_dirs
        present = tuple(name for name in TEXTURE_SETS if (self.path / name).is_dir())
        if not present:
            raise self.data_source.error(
                self.path, f"none of the texture sets {', '.join(TEXTURE_SETS)} is present (no such folder)"
            )
        return present

    @property
    def eval_splits(self) -> tuple[str, ...]:  # type: ignore[override]  the folders present decide
        return ("val", *self.eval_dirs)

    @property
    def biased_split(self) -> str | None:  # type: ignore[override]
        return self._biased if self._biased in self.eval_splits else None

    @property
    def debiased_split(self) -> str | None:  # type: ignore[override]
        return self._debiased if self._debiased in self.eval_splits else None

    def notes(self) -> list[str]:
        notes = super().notes()
        if self.bound_eval_dirs is None:
            absent = [name for name in TEXTURE_SETS if name not in self.eval_dirs]
            notes.append(
                f"TextureSets evaluates the texture sets present: {', '.join(self.eval_dirs)}"
                + (f" ({', '.join(absent)} absent under '{self.path}')" if absent else "")
                + ("" if self.debiased_split else "; no debiased accuracy without its split")
            )
        return notes

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
        reference = self.path / self.train_dir
        splits = {}
        for name, folder in folders.items():
            paths, labels = images_by_class(
                self.path / folder, self.classes, self.data_source, reference,
                allow_empty=name != "train" and self.allow_missing_groups,
                binding="" if name == "train" else "TextureSets.allow_missing_groups",
            )
            labels_t = torch.tensor(labels, dtype=torch.long)
            splits[name] = FileSplit(
                ImageFiles(paths, self.registered_name), labels_t, labels_t.clone(), preprocess=self.preprocess
            )
        return splits
