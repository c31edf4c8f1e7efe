"""Waterbirds (Sagawa et al., ICLR 2020): CUB birds pasted on Places backgrounds, landbird/waterbird x land/water.

Layout of the official archive (waterbird_complete95_forest2water2): metadata.csv beside the image folders,
with the columns img_filename (relative to the folder), y (0 landbird, 1 waterbird), place (0 land, 1 water)
and split (0 train, 1 val, 2 test). In training 95% of each bird type stand on their own kind of place;
val and test are balanced within each bird type. Group = 2 * y + place, as in the JTT and WCL code; the
bias-aligned groups (landbird on land, waterbird on water) are those that hold the majority of their class
in training. The background label is the place.

Looked for under $BENCHSUITE_DATA as waterbirds/, as the tarball's waterbird_complete95_forest2water2/ and as the
WILDS copy's waterbirds_v1.0/ (the same metadata.csv columns), also one level down in waterbirds/.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch

from benchsuite.datasets.decoding import IMAGENET_MEAN, IMAGENET_STD, ImageFiles, Preprocess
from benchsuite.datasets.from_disk import DiskDataset
from benchsuite.datasets.locating import DataSource
from benchsuite.datasets.splits import FileSplit
from benchsuite.registry import DATASETS

_COLUMNS = ("img_filename", "y", "place", "split")
_SPLIT_CODES = {"train": 0, "val": 1, "test": 2}


@DATASETS.register("Waterbirds")
class Waterbirds(DiskDataset):
    """Waterbirds from metadata.csv and its image folders; group = 2 * bird type + place."""

    num_classes = 2
    num_groups = 4
    eval_splits = ("val", "test")
    spurious = True
    data_source = DataSource(
        "Waterbirds",
        ("waterbirds", "waterbird_complete95_forest2water2", "waterbirds_v1.0",
         "waterbirds/waterbird_complete95_forest2water2", "waterbirds/waterbirds_v1.0"),
        ("metadata.csv",),
        "https://nlp.stanford.edu/data/dro/waterbird_complete95_forest2water2.tar.gz (Sagawa et al., "
        "github.com/kohpangwei/group_DRO; or the WILDS copy, waterbirds_v1.0)",
        "<root>/metadata.csv with columns img_filename, y, place, split (0 train, 1 val, 2 test), and the image "
        "files it names, relative to <root> (e.g. 001.Black_footed_Albatross/Black_Footed_Albatross_0001_796111.jpg)",
    )

    def __init__(
        self,
        root: str | None = None,
        preprocess: Preprocess | None = None,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        allow_missing_groups: bool = False,
    ) -> None:
        # the group DRO / JTT code's transform: the whole image to 256 x 256, centre crop 224
        preprocess = preprocess if preprocess is not None else Preprocess(224, 256, keep_aspect=False)
        super().__init__(root, preprocess, mean, std, allow_missing_groups)

    def group_name(self, group: int) -> str:
        return f"{'waterbird' if group // 2 else 'landbird'} on {'water' if group % 2 else 'land'}"

    def load(self) -> dict[str, FileSplit]:
        file = self.data_source.require(self.path / "metadata.csv", "the metadata file")
        self.metadata_files.append(file)
        try:
            metadata = pd.read_csv(file)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
            raise self.data_source.error(self.path, f"metadata.csv cannot be read as CSV ({error})") from None
        missing = [column for column in _COLUMNS if column not in metadata.columns]
        if missing:
            raise self.data_source.error(
                self.path,
                f"metadata.csv lacks the column(s) {', '.join(missing)} (it has "
                f"{', '.join(map(str, metadata.columns))})",
            )
        for column, valid in (("y", {0, 1}), ("place", {0, 1}), ("split", {0, 1, 2})):
            values = pd.to_numeric(metadata[column], errors="coerce")
            bad = metadata[~values.isin(valid)]
            if len(bad):
                raise self.data_source.error(
                    self.path,
                    f"metadata.csv row {bad.index[0] + 2} has {column} = {bad[column].iloc[0]}; valid values: "
                    f"{sorted(valid)}",
                )
        paths = [self.path / name for name in metadata["img_filename"]]
        self.data_source.check_files(paths, "metadata.csv")
        splits = {}
        for name in self.split_names:
            rows = metadata[metadata["split"].astype(int) == _SPLIT_CODES[name]]
            if rows.empty:
                raise self.data_source.error(self.path, f"metadata.csv has no row of split {name} "
                                                        f"(split = {_SPLIT_CODES[name]})")
            labels = torch.tensor(rows["y"].astype(int).to_numpy())
            places = torch.tensor(rows["place"].astype(int).to_numpy())
            splits[name] = FileSplit(
                ImageFiles([self.path / f for f in rows["img_filename"]], self.registered_name), labels,
                2 * labels + places, places, preprocess=self.preprocess,
            )
        return splits
