"""Where real datasets live on disk, and the one-paragraph error when they are missing or malformed.

One environment variable, BENCHSUITE_DATA, names the data root for every dataset; each dataset looks in its
own folder under it (e.g. $BENCHSUITE_DATA/waterbirds) unless its `root` binding in gin names another place.
Nothing is ever downloaded: a missing or malformed dataset raises a ConfigError that says which path was
looked for, what is wrong, where the official data is published and which binding or variable to set.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from benchsuite.errors import ConfigError

DATA_ENV = "BENCHSUITE_DATA"


def data_root() -> Path | None:
    """The data root named by $BENCHSUITE_DATA, or None when the variable is unset or empty."""
    value = os.environ.get(DATA_ENV, "").strip()
    return Path(value).expanduser() if value else None


class DataSource:
    """What a dataset needs to say in its errors: its name, its folder under the data root, where to get it."""

    def __init__(self, dataset: str, subdir: str, published: str, layout: str) -> None:
        self.dataset = dataset
        self.subdir = subdir
        self.published = published
        self.layout = layout

    def where_to_point(self) -> str:
        return (
            f"Point the suite at it with the environment variable {DATA_ENV} (the suite then reads "
            f"${DATA_ENV}/{self.subdir}) or with the gin binding {self.dataset}.root = '/path/to/{self.subdir}'."
        )

    def error(self, path: Path, problem: str) -> ConfigError:
        """One paragraph: the path, the problem, the expected layout, where the data is published, the fix."""
        return ConfigError(
            f"{self.dataset}: {problem} (looked in '{path}'). Expected layout: {self.layout}. The official data "
            f"is published at {self.published}; nothing is downloaded by the suite. {self.where_to_point()}"
        )

    def resolve(self, root: str | None) -> Path:
        """The dataset's folder: the `root` binding if given, else $BENCHSUITE_DATA/<subdir>; it must exist."""
        if root is not None:
            path = Path(root).expanduser()
        else:
            base = data_root()
            if base is None:
                raise ConfigError(
                    f"{self.dataset}: no data folder given: neither the gin binding {self.dataset}.root nor the "
                    f"environment variable {DATA_ENV} is set. Expected layout: {self.layout}. The official data "
                    f"is published at {self.published}. {self.where_to_point()}"
                )
            path = base / self.subdir
        if not path.is_dir():
            raise self.error(path, "the folder does not exist")
        return path

    def require(self, path: Path, what: str) -> Path:
        """`path` itself, which must exist (a file or folder the layout names)."""
        if not path.exists():
            raise self.error(path.parent, f"{what} '{path.name}' is missing")
        return path

    def check_files(self, files: Iterable[Path], listed_in: str) -> None:
        """Every file exists; checked by listing each folder once, which is fast even for CelebA's 200k images."""
        by_folder: dict[Path, list[Path]] = defaultdict(list)
        for file in files:
            by_folder[file.parent].append(file)
        for folder, wanted in by_folder.items():
            present = set(os.listdir(folder)) if folder.is_dir() else set()
            absent = [file for file in wanted if file.name not in present]
            if absent:
                examples = ", ".join(f"'{file}'" for file in absent[:3])
                raise self.error(
                    folder,
                    f"{len(absent)} image(s) listed in {listed_in} are absent, e.g. {examples}; the dataset is "
                    "incomplete (a partial copy or an unfinished extraction)",
                )
