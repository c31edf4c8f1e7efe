"""CelebA (Liu et al., ICCV 2015) with a target and a spurious attribute, in the official or the CSV layout.

Official layout: img_align_celeba/ (the aligned 178x218 JPEGs), list_attr_celeba.txt (a count line, a line
of the 40 attribute names, then one line per image: file name and 40 values in {-1, 1}) and
list_eval_partition.txt (file name and 0 train, 1 val, 2 test). The common CSV variant (Kaggle's copy) has
list_attr_celeba.csv (image_id and the 40 attributes) and list_eval_partition.csv (image_id, partition),
with the images in img_align_celeba/ or img_align_celeba/img_align_celeba/. The official page's folders
keep the files apart, Img/img_align_celeba/, Anno/list_attr_celeba.txt and Eval/list_eval_partition.txt,
which is read as well; the dataset folder is looked for under $BENCHSUITE_DATA as celeba/, CelebA/ (the
official folder's name), celeba-dataset/ (Kaggle's) or the data root itself.

The label is `target` and the group 2 * target + `spurious` (the JTT code's convention). JTT's protocol,
the default, is Blond_Hair with Male; the WCL authors' code uses Attractive with Male (gin files for both
protocols). The bias-aligned groups are those that hold the majority of their class in training.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch

from benchsuite.datasets.decoding import IMAGENET_MEAN, IMAGENET_STD, ImageFiles, Preprocess
from benchsuite.datasets.from_disk import DiskDataset
from benchsuite.datasets.locating import DataSource
from benchsuite.datasets.splits import FileSplit
from benchsuite.errors import ConfigError
from benchsuite.registry import DATASETS

_SPLIT_CODES = {"train": 0, "val": 1, "test": 2}
_TXT = ("list_attr_celeba.txt", "list_eval_partition.txt")
_CSV = ("list_attr_celeba.csv", "list_eval_partition.csv")
#: the folders of the official page's layout that hold each text file, beside the flat layout's own folder
_TXT_FOLDERS = {"list_attr_celeba.txt": ("", "Anno"), "list_eval_partition.txt": ("", "Eval")}
#: where the aligned images may be: flat, Kaggle's nesting, the official page's Img/ folder
_IMAGE_FOLDERS = ("img_align_celeba/img_align_celeba", "img_align_celeba", "Img/img_align_celeba")


@DATASETS.register("CelebA")
class CelebA(DiskDataset):
    """CelebA: label = target attribute, group = 2 * target + spurious attribute (default Blond_Hair x Male)."""

    num_classes = 2
    num_groups = 4
    eval_splits = ("val", "test")
    spurious = True
    data_source = DataSource(
        "CelebA", ("celeba", "CelebA", "celeba-dataset", ""),
        ("list_attr_celeba.txt", "Anno/list_attr_celeba.txt", "list_attr_celeba.csv", "img_align_celeba", "Img"),
        "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (Align&Cropped images and the Anno and Eval folders; "
        "the CSV variant is Kaggle's jessicali9530/celeba-dataset)",
        "<root>/img_align_celeba/*.jpg with <root>/list_attr_celeba.txt and <root>/list_eval_partition.txt; or the "
        "official page's <root>/Img/img_align_celeba/*.jpg, <root>/Anno/list_attr_celeba.txt and "
        "<root>/Eval/list_eval_partition.txt; or Kaggle's <root>/list_attr_celeba.csv and "
        "<root>/list_eval_partition.csv with <root>/img_align_celeba[/img_align_celeba]/*.jpg",
    )

    def __init__(
        self,
        root: str | None = None,
        target: str = "Blond_Hair",
        spurious_attribute: str = "Male",
        preprocess: Preprocess | None = None,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        allow_missing_groups: bool = False,
    ) -> None:
        # JTT's CelebA transform: centre crop 178, resize to 224 (no further crop)
        preprocess = preprocess if preprocess is not None else Preprocess(224, None, pre_crop=178)
        super().__init__(root, preprocess, mean, std, allow_missing_groups)
        self.target = target
        self.spurious_attribute = spurious_attribute

    def group_name(self, group: int) -> str:
        return f"{'' if group // 2 else 'not '}{self.target}, {'' if group % 2 else 'not '}{self.spurious_attribute}"

    def _txt_files(self) -> list[Path] | None:
        """The two text files, each beside the images or in its official folder (Anno/, Eval/), if both exist."""
        found = [next((self.path / folder / name for folder in _TXT_FOLDERS[name]
                       if (self.path / folder / name).is_file()), None) for name in _TXT]
        return None if None in found else found

    def _read_txt(self, attr_file: Path, partition_file: Path) -> tuple[pd.DataFrame, pd.Series]:
        lines = attr_file.read_text().splitlines()
        if len(lines) < 2 or not lines[0].strip().isdigit():
            raise self.data_source.error(
                self.path, f"{attr_file.name} must start with a count line and a line of attribute names"
            )
        names = lines[1].split()
        rows = [line.split() for line in lines[2:] if line.strip()]
        for number, row in enumerate(rows, start=3):
            if len(row) != len(names) + 1:
                raise self.data_source.error(
                    self.path,
                    f"{attr_file.name} line {number} has {len(row) - 1} attribute values for {len(names)} names",
                )
        if int(lines[0]) != len(rows):
            raise self.data_source.error(
                self.path, f"{attr_file.name} announces {int(lines[0])} images but lists {len(rows)}"
            )
        attributes = pd.DataFrame([row[1:] for row in rows], index=[row[0] for row in rows], columns=names)
        partition_rows = [line.split() for line in partition_file.read_text().splitlines() if line.strip()]
        for number, row in enumerate(partition_rows, start=1):
            if len(row) != 2:
                raise self.data_source.error(
                    self.path, f"{partition_file.name} line {number} is not '<file name> <partition>'"
                )
        partition = pd.Series([row[1] for row in partition_rows], index=[row[0] for row in partition_rows])
        return attributes, partition

    def _read_csv(self) -> tuple[pd.DataFrame, pd.Series]:
        attr_file, partition_file = (self.path / name for name in _CSV)
        attributes, partition = pd.read_csv(attr_file), pd.read_csv(partition_file)
        for file, frame, columns in ((attr_file, attributes, ["image_id"]),
                                     (partition_file, partition, ["image_id", "partition"])):
            missing = [column for column in columns if column not in frame.columns]
            if missing:
                raise self.data_source.error(self.path, f"{file.name} lacks the column(s) {', '.join(missing)}")
        return attributes.set_index("image_id"), partition.set_index("image_id")["partition"]

    def _image_folder(self) -> Path:
        zipped = self.path / "Img" / "img_align_celeba.zip"
        if zipped.is_file() and not (self.path / "Img" / "img_align_celeba").is_dir():
            raise self.data_source.error(
                self.path, f"the images are still zipped: unzip '{zipped}' in its folder (it holds img_align_celeba/)"
            )
        return self.data_source.first_of(self.path, _IMAGE_FOLDERS, "the image folder")

    def load(self) -> dict[str, FileSplit]:
        txt = self._txt_files()
        if txt is not None:
            attributes, partition = self._read_txt(*txt)
            self.metadata_files += txt
        elif all((self.path / name).is_file() for name in _CSV):
            attributes, partition = self._read_csv()
            self.metadata_files += [self.path / name for name in _CSV]
        else:
            looked = ", ".join(
                [*(f"'{self.path / folder / name}'" for name in _TXT for folder in _TXT_FOLDERS[name]),
                 *(f"'{self.path / name}'" for name in _CSV)]
            )
            raise self.data_source.error(
                self.path,
                f"neither {' and '.join(_TXT)} (beside the images, or in Anno/ and Eval/) nor {' and '.join(_CSV)} "
                f"are both present; looked for {looked}",
            )
        for binding, name in (("target", self.target), ("spurious_attribute", self.spurious_attribute)):
            if name not in attributes.columns:
                raise ConfigError(
                    f"CelebA.{binding} = '{name}' is not a CelebA attribute (in '{self.path}'). Attributes: "
                    f"{', '.join(map(str, attributes.columns))}."
                )
        values = attributes[[self.target, self.spurious_attribute]].apply(pd.to_numeric, errors="coerce")
        bad = values[~values.isin([-1, 1]).all(axis=1)]
        if len(bad):
            raise self.data_source.error(
                self.path, f"the attribute values of image {bad.index[0]} are not -1 or 1 ({bad.iloc[0].tolist()})"
            )
        codes = pd.to_numeric(partition, errors="coerce")
        if not codes.isin([0, 1, 2]).all():
            raise self.data_source.error(self.path, "the partition list holds values other than 0, 1 and 2")
        unpartitioned = values.index.difference(codes.index)
        if len(unpartitioned):
            raise self.data_source.error(
                self.path, f"{len(unpartitioned)} image(s) have attributes but no partition, e.g. {unpartitioned[0]}"
            )
        folder = self._image_folder()
        self.data_source.check_files([folder / name for name in values.index], "the attribute list")
        splits = {}
        for name in self.split_names:
            rows = values[codes.reindex(values.index).to_numpy() == _SPLIT_CODES[name]]
            if rows.empty:
                raise self.data_source.error(self.path, f"no image is in the {name} partition ({_SPLIT_CODES[name]})")
            labels = torch.tensor((rows[self.target] == 1).to_numpy(), dtype=torch.long)
            spurious = torch.tensor((rows[self.spurious_attribute] == 1).to_numpy(), dtype=torch.long)
            splits[name] = FileSplit(
                ImageFiles([folder / f for f in rows.index], self.registered_name), labels,
                2 * labels + spurious, spurious, preprocess=self.preprocess,
            )
        return splits
