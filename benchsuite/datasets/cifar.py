"""CIFAR-10 and CIFAR-100 (Krizhevsky, 2009) from the official python pickles, through torchvision.

The WCL paper's Table 1 reports top-1, top-5 and worst-class accuracy on the test split; the classes are
the groups, so `worst_group` is its ACC (worst). 60k 32x32 images fit in memory (180 MB), so the splits
are in-memory `TensorSplit`s. torchvision's readers are used with download=False; their MD5 check of the
official archives is replaced by a check that every file is present, so that tiny fixtures in the same
format load too, and an unreadable pickle is reported as malformed data. The archives unpack to
cifar-10-batches-py/ and cifar-100-python/, looked for in $BENCHSUITE_DATA/cifar/ and in $BENCHSUITE_DATA itself.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import torch
import torchvision

from benchsuite.datasets.decoding import Preprocess
from benchsuite.datasets.from_disk import DiskDataset
from benchsuite.datasets.locating import DataSource
from benchsuite.datasets.splits import TensorSplit
from benchsuite.errors import ConfigError
from benchsuite.registry import DATASETS

#: the per-channel mean and std of CIFAR-10's training images, as in the SimCLR CIFAR code that the DCL, HCL
#: and WCL authors build on
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)
_PUBLISHED = "https://www.cs.toronto.edu/~kriz/cifar.html (the 'python version' archives)"


class _PresentFiles:
    """torchvision's CIFAR readers with the MD5 checks replaced by presence checks (see the module doc)."""

    def _check_integrity(self) -> bool:
        folder = Path(self.root) / self.base_folder
        return all((folder / name).is_file() for name, _ in self.train_list + self.test_list)

    def _load_meta(self) -> None:
        with open(Path(self.root) / self.base_folder / self.meta["filename"], "rb") as handle:
            data = pickle.load(handle, encoding="latin1")
        self.classes = data[self.meta["key"]]
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}


class _CIFAR10Files(_PresentFiles, torchvision.datasets.CIFAR10):
    pass


class _CIFAR100Files(_PresentFiles, torchvision.datasets.CIFAR100):
    pass


class _CIFAR(DiskDataset):
    """Shared reader: train and test from the pickles, and an optional validation split held out of train."""

    reader: ClassVar[type]
    files: ClassVar[tuple[str, ...]]

    def __init__(
        self,
        root: str | None = None,
        val_size: int = 0,
        preprocess: Preprocess | None = None,
        mean: Sequence[float] = CIFAR_MEAN,
        std: Sequence[float] = CIFAR_STD,
        seed: int = 0,
        allow_missing_groups: bool = False,
    ) -> None:
        preprocess = preprocess if preprocess is not None else Preprocess(size=32, resize=None)
        super().__init__(root, preprocess, mean, std, allow_missing_groups)
        if val_size < 0:
            raise ConfigError(f"{type(self).__name__}.val_size = {val_size}: must be at least 0.")
        self.val_size = val_size
        self.seed = seed
        # The authors train on all 50k images and report the test split; val_size > 0 holds some out.
        self.eval_splits = ("val", "test") if val_size else ("test",)

    def load(self) -> dict[str, TensorSplit]:
        folder = self.path / self.reader.base_folder
        if not folder.is_dir():
            raise self.data_source.error(self.path, f"the folder '{self.reader.base_folder}' is missing")
        for name in self.files:
            self.metadata_files.append(self.data_source.require(folder / name, "the pickle file"))
        try:
            parts = {name: self.reader(str(self.path), train=name == "train", download=False)
                     for name in ("train", "test")}
        except (pickle.UnpicklingError, KeyError, ValueError, EOFError, TypeError, RuntimeError) as error:
            raise self.data_source.error(
                folder, f"a pickle file is malformed ({type(error).__name__}: {error})"
            ) from None
        splits = {name: self._to_split(part.data, part.targets) for name, part in parts.items()}
        if self.val_size:
            train = splits["train"]
            if self.val_size >= len(train):
                raise ConfigError(
                    f"{type(self).__name__}.val_size = {self.val_size}: the training split has only {len(train)} "
                    "images."
                )
            order = torch.randperm(len(train), generator=torch.Generator().manual_seed(self.seed))
            val, rest = order[: self.val_size], order[self.val_size :]
            splits["val"] = TensorSplit(train.images[val], train.labels[val], train.groups[val])
            splits["train"] = TensorSplit(train.images[rest], train.labels[rest], train.groups[rest])
        return splits

    def _to_split(self, data, targets) -> TensorSplit:
        images = torch.from_numpy(data).permute(0, 3, 1, 2).contiguous()
        if images.shape[-1] != self.preprocess.size or images.shape[-2] != self.preprocess.size:
            images = self.preprocess(images)
        labels = torch.tensor(targets, dtype=torch.long)
        if len(labels) and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise self.data_source.error(
                self.path / self.reader.base_folder,
                f"labels lie in [{labels.min()}, {labels.max()}], not in [0, {self.num_classes})",
            )
        return TensorSplit(images, labels, labels.clone())


@DATASETS.register("CIFAR10")
class CIFAR10(_CIFAR):
    """CIFAR-10 from the official python pickles; groups = classes (worst-class accuracy)."""

    num_classes = 10
    num_groups = 10
    reader = _CIFAR10Files
    files = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch",
             "batches.meta")
    data_source = DataSource(
        "CIFAR10", ("cifar", ""), ("cifar-10-batches-py",), _PUBLISHED,
        "<root>/cifar-10-batches-py/{data_batch_1..data_batch_5, test_batch, batches.meta}",
    )


@DATASETS.register("CIFAR100")
class CIFAR100(_CIFAR):
    """CIFAR-100 from the official python pickles (fine labels); groups = classes (worst-class accuracy)."""

    num_classes = 100
    num_groups = 100
    reader = _CIFAR100Files
    files = ("train", "test", "meta")
    data_source = DataSource(
        "CIFAR100", ("cifar", ""), ("cifar-100-python",), _PUBLISHED, "<root>/cifar-100-python/{train, test, meta}",
    )

