"""`python -m benchsuite data`: each registered dataset, whether its data is found, and its split sizes.

Real datasets are looked for where a run would look: the `root` binding of the gin files given with --gin,
else $BENCHSUITE_DATA/<the dataset's folder>. Finding a dataset reads its metadata (and checks that every
listed image exists) but decodes no image. The embedded benchmarks are generated, never looked for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import gin

from benchsuite import config
from benchsuite.datasets.disk import DiskDataset
from benchsuite.datasets.huggingface import HuggingFaceDataset
from benchsuite.datasets.roots import DATA_ENV, data_root
from benchsuite.datasets.synthetic import _SyntheticDigits
from benchsuite.errors import ConfigError
from benchsuite.registry import DATASETS


def _sizes(sizes: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sizes.items())


def _problem(error: ConfigError) -> str:
    """The error's what-and-where, without the layout and the how-to that every missing dataset repeats."""
    return str(error).split(" Expected layout:")[0].split(" The official data")[0]


def describe(name: str, cls: type) -> tuple[str, str]:
    """(status, details) of one registered dataset: found / missing / embedded / not configured."""
    if issubclass(cls, _SyntheticDigits):
        return "embedded", "generated from scikit-learn's digits on first use, cached under $BENCHSUITE_CACHE"
    if issubclass(cls, HuggingFaceDataset):
        try:
            dataset = cls()
        except (TypeError, ValueError, RuntimeError):  # gin's missing required `path`
            return "configure", "bind HuggingFaceDataset.path (a hub id or a local folder) in a gin file (--gin)"
        if dataset.local_path() is None:
            return "hub", f"'{dataset.path}' is a hub id (no such local file or folder); not looked up offline"
    elif issubclass(cls, DiskDataset):
        dataset = cls()
    else:
        return "-", "not read from disk by the suite (a plugin's dataset?)"
    try:
        sizes = dataset.split_sizes()
    except ConfigError as error:
        return "missing", _problem(error)
    where = dataset.local_path() if isinstance(dataset, HuggingFaceDataset) else dataset.path
    return "found", f"{_sizes(sizes)}  ({where})"


def report(print_line: Callable[[str], None] = print) -> None:
    base = data_root()
    print_line(f"data root: {base if base is not None else 'not set'} (${DATA_ENV})")
    for name, cls in DATASETS.items():
        status, details = describe(name, cls)
        print_line(f"{name:<22} {status:<10} {details}")


def main(gin_files: Sequence[str] = ()) -> int:
    """List the datasets, with the bindings of `gin_files` (e.g. a per-dataset root) applied."""
    if gin_files:
        config.parse(gin_files)
    try:
        report()
    finally:
        gin.clear_config()
    return 0
