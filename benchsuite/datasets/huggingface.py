"""Any image classification dataset through Hugging Face `datasets`: a hub id, a local parquet or image-folder
dataset, or a folder written by `save_to_disk`, with the suite's fields mapped to its columns in gin.

    run.dataset = @HuggingFaceDataset()
    HuggingFaceDataset.path = '/data/waterbirds-parquet'        # or 'owner/name' on the hub
    HuggingFaceDataset.columns = {'image': 'image', 'label': 'y', 'group': 'group', 'background': 'place'}
    HuggingFaceDataset.splits = {'train': 'train', 'val': 'validation', 'test': 'test'}

Images are read as their encoded bytes (the Image feature with decode=False) and decoded by torchvision,
batch by batch, like files on disk (a FileSplit). Without a `group` column the class is the group. A hub id
needs the network: offline (HF_DATASETS_OFFLINE or HF_HUB_OFFLINE set, or the hub unreachable) it fails with
a paragraph saying how to bring the dataset here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import gin
import numpy as np
import torch
from torch import Tensor

from benchsuite.datasets.base import Dataset
from benchsuite.datasets.decoding import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Preprocess,
    UnreadableImage,
    decode_rgb,
    decoder_reason,
)
from benchsuite.datasets.locating import data_root
from benchsuite.datasets.splits import FileSplit
from benchsuite.errors import ConfigError
from benchsuite.registry import DATASETS

_FIELDS = ("image", "label", "group", "background", "mask")
_OFFLINE_VARIABLES = ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")


def _offline() -> str | None:
    """The variable that switches the hub off, if one is set to a true value."""
    for name in _OFFLINE_VARIABLES:
        if os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on"):
            return name
    return None


def _encoded(value: Any) -> Tensor:
    """A stored image (the Image feature's {'bytes', 'path'} or raw bytes) -> its encoded bytes as uint8 (n,)."""
    if isinstance(value, dict):
        data = value.get("bytes")
        if data is None:
            data = Path(value["path"]).read_bytes()
    else:
        data = value
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


class HFImages:
    """One image column of a Hugging Face split, decoded by torchvision; `where` names the split and column in
    the error for an image that cannot be decoded."""

    def __init__(self, table, column: str, where: str = "") -> None:
        self.table = table
        self.column = column
        self.where = where

    def __len__(self) -> int:
        return len(self.table)

    def decode(self, data: Tensor) -> Tensor:
        return decode_rgb(data)

    def read(self, row: int) -> Tensor:
        value = self.table[row][self.column]
        try:
            return self.decode(_encoded(value))
        except (RuntimeError, ValueError, OSError) as error:
            path = value.get("path") if isinstance(value, dict) else None
            raise UnreadableImage(path or f"row {row} of {self.where}", decoder_reason(error),
                                  "HuggingFaceDataset") from None


class HFMasks(HFImages):
    def decode(self, data: Tensor) -> Tensor:
        return decode_rgb(data)[:1] != 0


@DATASETS.register("HuggingFaceDataset")
class HuggingFaceDataset(Dataset):
    """A Hugging Face dataset (hub id or local folder) with its columns mapped to image, label, group, ...

    path: hub id ('owner/name') or a local folder (parquet or image files, or a save_to_disk folder) or
    parquet file (a relative path is looked for in the working directory, then under $BENCHSUITE_DATA).
    name: the hub config. columns: suite field -> column (image and label required; group,
    background, mask optional). splits: suite split -> the dataset's split ('train' required; every other
    key is an evaluation split, 'val' first). num_classes: None reads it from a ClassLabel column or the
    largest label. aligned_groups, biased_split, debiased_split: the bias metrics, where the data has them.
    """

    verifiable = True

    def __init__(
        self,
        path: str = gin.REQUIRED,
        name: str | None = None,
        columns: Mapping[str, str] = {"image": "image", "label": "label"},
        splits: Mapping[str, str] = {"train": "train", "val": "validation", "test": "test"},
        num_classes: int | None = None,
        num_groups: int | None = None,
        aligned_groups: Sequence[int] | None = None,
        biased_split: str | None = None,
        debiased_split: str | None = None,
        revision: str | None = None,
        cache_dir: str | None = None,
        preprocess: Preprocess | None = None,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        unknown = [field for field in columns if field not in _FIELDS]
        if unknown or "image" not in columns or "label" not in columns:
            raise ConfigError(
                f"HuggingFaceDataset.columns = {dict(columns)}: keys must be among {', '.join(_FIELDS)}, with image "
                "and label present (each maps a suite field to a column of the dataset)."
            )
        if "train" not in splits or len(splits) < 2:
            raise ConfigError(
                f"HuggingFaceDataset.splits = {dict(splits)}: map 'train' and at least one evaluation split "
                "(e.g. {'train': 'train', 'val': 'validation', 'test': 'test'})."
            )
        self.path, self.name, self.revision, self.cache_dir = path, name, revision, cache_dir
        self.columns = dict(columns)
        self.split_map = dict(splits)
        others = [s for s in splits if s != "train"]
        self.eval_splits = tuple(sorted(others, key=lambda s: s != "val"))
        self._num_classes, self._num_groups = num_classes, num_groups
        self._aligned = None if aligned_groups is None else frozenset(aligned_groups)
        self.biased_split, self.debiased_split = biased_split, debiased_split
        self.preprocess = preprocess if preprocess is not None else Preprocess()
        self.mean, self.std = tuple(mean), tuple(std)
        self.has_masks = "mask" in columns

    # -- loading -------------------------------------------------------------------------------------------

    def _load_local(self, local: Path):
        import datasets

        if local.is_dir() and ((local / "dataset_dict.json").is_file() or (local / "state.json").is_file()):
            return datasets.load_from_disk(str(local))
        if local.is_file():
            if local.suffix != ".parquet":
                raise ConfigError(
                    f"HuggingFaceDataset.path = '{self.path}' is a file but not a .parquet file; name a parquet "
                    "file, a folder of parquet or image files, or a save_to_disk folder."
                )
            return datasets.load_dataset("parquet", data_files={"train": str(local)}, cache_dir=self.cache_dir)
        return datasets.load_dataset(str(local), self.name, cache_dir=self.cache_dir)

    def _load_hub(self):
        variable = _offline()
        how = (
            f"On a machine with internet, run `datasets.load_dataset('{self.path}').save_to_disk('DIR')` (or "
            f"`huggingface-cli download --repo-type dataset {self.path} --local-dir DIR`), copy DIR here and set "
            "HuggingFaceDataset.path = 'DIR' (a local folder is never looked up on the hub)."
        )
        if variable is not None:
            raise ConfigError(
                f"HuggingFaceDataset.path = '{self.path}' is not a local file or folder, so it would be a Hugging "
                f"Face hub id, but the hub is switched off ({variable}={os.environ[variable]}, offline mode). {how}"
            )
        import datasets

        try:
            return datasets.load_dataset(self.path, self.name, revision=self.revision, cache_dir=self.cache_dir)
        except Exception as error:  # connection errors, unknown ids, gated datasets: one paragraph either way
            message = " ".join(str(error).split())[:300]
            raise ConfigError(
                f"HuggingFaceDataset.path = '{self.path}': no local file or folder of that name, and loading it "
                f"from the Hugging Face hub failed ({type(error).__name__}: {message}). Check the id, or work "
                f"offline: {how}"
            ) from None

    def local_path(self) -> Path | None:
        """The local file or folder that `path` names (also looked for under $BENCHSUITE_DATA), or None."""
        local, base = Path(self.path).expanduser(), data_root()
        if not local.exists() and not local.is_absolute() and base is not None and (base / local).exists():
            local = base / local
        return local if local.exists() else None

    @cached_property
    def _dataset_dict(self):
        local = self.local_path()
        if local is not None:
            try:
                loaded = self._load_local(local)
            except ConfigError:
                raise
            except Exception as error:
                raise ConfigError(
                    f"HuggingFaceDataset.path = '{self.path}': the local dataset could not be read "
                    f"({type(error).__name__}: {' '.join(str(error).split())[:300]}). It must be parquet files, "
                    "an image folder (<split>/<class>/<image>), or a save_to_disk folder."
                ) from None
        elif self.path.startswith(("/", ".", "~")) or self.path.count("/") > 1:
            raise ConfigError(
                f"HuggingFaceDataset.path = '{self.path}' does not exist. Name a local parquet file or a folder "
                "of parquet or image files, or a hub id of the form 'owner/name'."
            )
        else:
            loaded = self._load_hub()
        if not hasattr(loaded, "keys"):  # a single Dataset
            loaded = {"train": loaded}
        return loaded

    def _hf_split(self, name: str):
        available = list(self._dataset_dict.keys())
        wanted = self.split_map[name]
        if wanted not in available:
            raise ConfigError(
                f"HuggingFaceDataset.splits maps '{name}' to '{wanted}', which '{self.path}' does not have. Its "
                f"splits: {', '.join(available)}."
            )
        table = self._dataset_dict[wanted]
        missing = [f"{field} -> '{column}'" for field, column in self.columns.items()
                   if column not in table.column_names]
        if missing:
            raise ConfigError(
                f"HuggingFaceDataset.columns names column(s) that split '{wanted}' of '{self.path}' lacks: "
                f"{', '.join(missing)}. Its columns: {', '.join(table.column_names)}."
            )
        return table

    def _image_table(self, table, column: str):
        import datasets

        feature = table.features[column]
        if isinstance(feature, datasets.Image):
            return table.cast_column(column, datasets.Image(decode=False))
        if isinstance(feature, datasets.Value) and feature.dtype in ("binary", "large_binary"):
            return table
        raise ConfigError(
            f"HuggingFaceDataset.columns maps '{column}' to an image, but in '{self.path}' it is {feature}; image "
            "columns must hold an Image feature or encoded bytes."
        )

    def _integers(self, table, column: str) -> Tensor:
        values = np.asarray(table[column])
        if not np.issubdtype(values.dtype, np.integer) and not np.issubdtype(values.dtype, np.bool_):
            raise ConfigError(
                f"HuggingFaceDataset: column '{column}' of '{self.path}' holds {values.dtype} values, not integer "
                "class, group or background labels."
            )
        return torch.from_numpy(values.astype(np.int64))

    @cached_property
    def _splits(self) -> dict[str, FileSplit]:
        splits = {}
        for name in self.split_names:
            table = self._hf_split(name)
            keep = [c for c in dict.fromkeys(self.columns.values())]
            table = table.select_columns(keep)
            images_table = self._image_table(table, self.columns["image"])
            if "mask" in self.columns:
                images_table = self._image_table(images_table, self.columns["mask"])
            labels = self._integers(table, self.columns["label"])
            groups = self._integers(table, self.columns["group"]) if "group" in self.columns else labels.clone()
            background = self._integers(table, self.columns["background"]) if "background" in self.columns else None
            where = f"split '{self.split_map[name]}' of '{self.path}', column"  # for an undecodable image
            masks = None
            if "mask" in self.columns:
                masks = HFMasks(images_table, self.columns["mask"], f"{where} '{self.columns['mask']}'")
            splits[name] = FileSplit(
                HFImages(images_table, self.columns["image"], f"{where} '{self.columns['image']}'"), labels, groups,
                background, masks,
                preprocess=self.preprocess,
            )
        return splits

    # -- the Dataset interface -----------------------------------------------------------------------------

    def data_location(self) -> Path | None:
        return self.local_path()

    @classmethod
    def data_status(cls) -> tuple[str, str, Dataset | None]:
        try:
            dataset = cls()
        except (TypeError, ValueError, RuntimeError):  # gin's missing required `path`
            return "configure", "bind HuggingFaceDataset.path (a hub id or a local folder) in a gin file (--gin)", None
        if dataset.local_path() is None:
            return "hub", f"'{dataset.path}' is a hub id (no such local file or folder); not looked up offline", None
        return dataset.found_status()

    @cached_property
    def num_classes(self) -> int:  # type: ignore[override]
        if self._num_classes is not None:
            return self._num_classes
        feature = self._hf_split("train").features[self.columns["label"]]
        if hasattr(feature, "num_classes"):
            return int(feature.num_classes)
        return 1 + max(int(self.split(name).labels.max()) for name in self.split_names)

    @cached_property
    def num_groups(self) -> int:  # type: ignore[override]
        if self._num_groups is not None:
            return self._num_groups
        if "group" not in self.columns:
            return self.num_classes
        return 1 + max(int(self.split(name).groups.max()) for name in self.split_names)

    @property
    def aligned_groups(self) -> frozenset[int] | None:
        return self._aligned

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (3, self.preprocess.size, self.preprocess.size)
