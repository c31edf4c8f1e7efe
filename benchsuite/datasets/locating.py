"""Where real datasets live on disk, and the one-paragraph error when they are missing or malformed.

One environment variable, BENCHSUITE_DATA, names the data root for every dataset. Each dataset is looked for
there under every folder name it comes in: the suite's short name (e.g. waterbirds/) and the names its
official archives unpack to (waterbird_complete95_forest2water2/, the WILDS copy's waterbirds_v1.0/; CIFAR's
cifar-10-batches-py/ straight under the root). A candidate counts when it holds one of the dataset's marker
files; the first that does is used, and when several do, the choice is said (`Location.note`). A `root`
binding in gin names the folder itself (or a folder holding one of those names). Nothing is ever
downloaded: a missing or malformed dataset raises a ConfigError that names every place looked in, what is
wrong, where the official data is published and which binding or variable to set.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from benchsuite.errors import ConfigError

DATA_ENV = "BENCHSUITE_DATA"


def data_root() -> Path | None:
    """The data root named by $BENCHSUITE_DATA, or None when the variable is unset or empty."""
    value = os.environ.get(DATA_ENV, "").strip()
    return Path(value).expanduser() if value else None


@dataclass(frozen=True)
class Location:
    """The folder a dataset is read from, and a sentence on the choice when several candidates hold it."""

    path: Path
    note: str = ""


class DataSource:
    """What a dataset needs to find its folder and to say in its errors.

    folders: the folder names under the data root, in order of preference ('' is the data root itself);
    markers: paths relative to such a folder, any of which shows that the dataset is there.
    """

    def __init__(
        self, dataset: str, folders: tuple[str, ...], markers: tuple[str, ...], published: str, layout: str
    ) -> None:
        self.dataset = dataset
        self.folders = folders
        self.markers = markers
        self.published = published
        self.layout = layout

    def where_to_point(self) -> str:
        names = ", ".join(f"${DATA_ENV}/{folder}" if folder else f"${DATA_ENV} itself" for folder in self.folders)
        return (
            f"Point the suite at it with the environment variable {DATA_ENV} (the suite then looks in {names}) or "
            f"with the gin binding {self.dataset}.root = '/path/to/{self.folders[0]}'."
        )

    def error(self, path: Path, problem: str) -> ConfigError:
        """One paragraph: the path, the problem, the expected layout, where the data is published, the fix."""
        return ConfigError(
            f"{self.dataset}: {problem} (looked in '{path}'). Expected layout: {self.layout}. The official data "
            f"is published at {self.published}; nothing is downloaded by the suite. {self.where_to_point()}"
        )

    def holds(self, folder: Path) -> bool:
        return any((folder / marker).exists() for marker in self.markers)

    def candidates(self, root: str | None) -> list[Path]:
        """Every folder looked in, in order: the `root` binding and the names under it, else those under the
        data root."""
        if root is not None:
            base = Path(root).expanduser()
            return [base, *(base / folder for folder in self.folders if folder)]
        base = data_root()
        if base is None:
            raise ConfigError(
                f"{self.dataset}: no data folder given: neither the gin binding {self.dataset}.root nor the "
                f"environment variable {DATA_ENV} is set. Expected layout: {self.layout}. The official data "
                f"is published at {self.published}. {self.where_to_point()}"
            )
        return [base / folder if folder else base for folder in self.folders]

    def locate(self, root: str | None) -> Location:
        """The dataset's folder: the first candidate that holds a marker (see the module doc)."""
        candidates = self.candidates(root)
        found = [folder for folder in candidates if self.holds(folder)]
        if not found:
            markers = " or ".join(self.markers)
            looked = "; ".join(
                f"'{folder}' ({'exists but holds no ' + markers if folder.is_dir() else 'absent'})"
                for folder in candidates
            )
            raise ConfigError(
                f"{self.dataset}: not found. Looked in {looked}. Expected layout: {self.layout}. The official data "
                f"is published at {self.published}; nothing is downloaded by the suite. {self.where_to_point()}"
            )
        if len(found) == 1:
            return Location(found[0])
        others = ", ".join(f"'{folder}'" for folder in found[1:])
        return Location(
            found[0],
            f"{self.dataset} is present in several folders; using '{found[0]}', not {others} (bind "
            f"{self.dataset}.root to choose)",
        )

    def require(self, path: Path, what: str) -> Path:
        """`path` itself, which must exist (a file or folder the layout names)."""
        if not path.exists():
            raise self.error(path.parent, f"{what} '{path.name}' is missing")
        return path

    def first_of(self, folder: Path, names: Iterable[str], what: str) -> Path:
        """The first of folder/<name> that exists (the places one file or folder may be in the layouts); the
        error names them all."""
        paths = [folder / name for name in names]
        for path in paths:
            if path.exists():
                return path
        looked = ", ".join(f"'{path}'" for path in paths)
        raise self.error(folder, f"{what} is missing: none of {looked} exists")

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
