"""`python -m benchsuite data`: each registered dataset, whether its data is found, and its split sizes;
`data --verify [DATASET ...]` also decodes every image.

Real datasets are looked for where a run would look: the `root` binding of the gin files given with --gin,
else under $BENCHSUITE_DATA by each of the dataset's folder names. Finding a dataset reads its metadata (and
checks that every listed image exists) but decodes no image; `--verify` decodes every image and mask file
of the named datasets (default: every dataset read from disk that is found) in parallel worker processes,
with a progress bar, lists each unreadable file with the decoder's reason, and exits with status 1 if any.
The embedded benchmarks are generated, never looked for.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor

import gin
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from benchsuite import config
from benchsuite.datasets.disk import DiskDataset
from benchsuite.datasets.files import ImageLoading, decode_problem
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
    if isinstance(dataset, HuggingFaceDataset):
        return "found", f"{_sizes(sizes)}  ({dataset.local_path()})"
    notes = "".join(f"; {note}" for note in dataset.notes())
    return "found", f"{_sizes(sizes)}  ({dataset.path}){notes}"


def report(print_line: Callable[[str], None] = print) -> None:
    base = data_root()
    print_line(f"data root: {base if base is not None else 'not set'} (${DATA_ENV})")
    for name, cls in DATASETS.items():
        status, details = describe(name, cls)
        print_line(f"{name:<22} {status:<10} {details}")


def _disk_datasets(names: Sequence[str]) -> dict[str, type[DiskDataset]]:
    """The named datasets read from disk (all of them when `names` is empty); an unknown name is a ConfigError."""
    disk = {name: cls for name, cls in DATASETS.items() if issubclass(cls, DiskDataset)}
    unknown = [name for name in names if name not in disk]
    if unknown:
        raise ConfigError(
            f"data --verify: {', '.join(unknown)} is not a dataset read from disk; valid names: {', '.join(disk)} "
            "(the embedded datasets are generated; --verify does not cover Hugging Face datasets)."
        )
    return {name: disk[name] for name in names} if names else disk


def _decode_all(files: list[str], workers: int, label: str) -> list[tuple[str, str]]:
    """(file, reason) of every file that does not decode, decoding in `workers` processes with a progress bar."""
    failures = []
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(label, total=len(files))
        if workers <= 1:
            results = map(decode_problem, files)
            executor = None
        else:
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
            executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method))
            results = executor.map(decode_problem, files, chunksize=max(1, min(256, len(files) // (4 * workers))))
        try:
            for file, problem in zip(files, results, strict=True):
                if problem is not None:
                    failures.append((file, problem))
                progress.advance(task)
        finally:
            if executor is not None:
                executor.shutdown(cancel_futures=True)
    return failures


def verify(names: Sequence[str], workers: int | None = None, print_line: Callable[[str], None] = print) -> int:
    """Decode every image of the named datasets; 1 if any file is unreadable, else 0. A dataset named explicitly
    must be found (its ConfigError otherwise); with no names, the datasets not found are listed and skipped."""
    workers = workers if workers is not None else max(1, ImageLoading().num_workers)
    unreadable = 0
    for name, cls in _disk_datasets(names).items():
        dataset = cls()
        try:
            dataset.split_sizes()
        except ConfigError as error:
            if names:
                raise
            print_line(f"{name}: skipped, {_problem(error)}")
            continue
        files = sorted({str(path) for path in dataset.image_files()})
        if not files:
            sizes = _sizes(dataset.split_sizes())
            print_line(f"{name}: {sizes}; read whole from its files when found, so no image file to decode")
            continue
        failures = _decode_all(files, workers, name)
        unreadable += len(failures)
        print_line(f"{name}: {len(files)} files decoded in {workers} processes, {len(failures)} unreadable "
                   f"({dataset.path})")
        for file, reason in failures:
            print_line(f"  unreadable: {file}: {reason}")
    if unreadable:
        print_line(f"{unreadable} unreadable file(s): replace them from the official archives.")
    return 1 if unreadable else 0


def main(gin_files: Sequence[str] = (), verify_names: Sequence[str] | None = None, workers: int | None = None) -> int:
    """List the datasets, or with `verify_names` (a list, maybe empty) decode their images, with the bindings
    of `gin_files` (e.g. a per-dataset root) applied."""
    if gin_files:
        config.parse(gin_files)
    try:
        if verify_names is not None:
            return verify(verify_names, workers)
        report()
    finally:
        gin.clear_config()
    return 0
