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
from benchsuite.datasets.files import FileSplit, ImageLoading, UnreadableImage
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


def _verifiable(names: Sequence[str]) -> dict[str, type]:
    """The named datasets whose images --verify decodes (all of them when `names` is empty): those read from disk
    and the Hugging Face adapter; any other name is a ConfigError."""
    valid = {name: cls for name, cls in DATASETS.items() if issubclass(cls, DiskDataset | HuggingFaceDataset)}
    unknown = [name for name in names if name not in valid]
    if unknown:
        raise ConfigError(
            f"data --verify: {', '.join(unknown)} is not a dataset whose images are read from files; valid names: "
            f"{', '.join(valid)} (the embedded datasets are generated)."
        )
    return {name: valid[name] for name in names} if names else valid


def _image_sources(dataset) -> list:
    """The image and mask sources of every split of a loaded dataset (none for in-memory splits)."""
    sources = []
    for name in ("train", *dataset.eval_splits):
        split = dataset.split(name)
        if isinstance(split, FileSplit):
            sources += [source for source in (split.source, split.mask_source) if source is not None]
    return sources


#: the image sources that a --verify worker reads, set once per worker process (inherited under fork)
_SOURCES: list = []


def _set_sources(sources: list) -> None:
    global _SOURCES
    _SOURCES = sources


def _decode(task: tuple[int, int]) -> tuple[str, str] | None:
    """(image, reason) if row task[1] of source task[0] does not decode, else None."""
    source, row = task
    try:
        _SOURCES[source].read(row)
    except UnreadableImage as error:
        return error.path, error.reason
    return None


def _decode_all(sources: list, workers: int, label: str) -> tuple[int, list[tuple[str, str]]]:
    """The number of images decoded and (image, reason) of each that does not decode, decoding in `workers`
    processes with a progress bar on stderr."""
    tasks = [(index, row) for index, source in enumerate(sources) for row in range(len(source))]
    failures = []
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(label, total=len(tasks))
        executor = None
        if workers <= 1:
            _set_sources(sources)
            results = map(_decode, tasks)
        else:
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
            executor = ProcessPoolExecutor(workers, multiprocessing.get_context(method), _set_sources, (sources,))
            results = executor.map(_decode, tasks, chunksize=max(1, min(256, len(tasks) // (4 * workers))))
        try:
            for failure in results:
                if failure is not None:
                    failures.append(failure)
                progress.advance(task)
        finally:
            if executor is not None:
                executor.shutdown(cancel_futures=True)
    return len(tasks), failures


def _load_for_verify(name: str, cls: type, named: bool) -> tuple[object | None, str]:
    """(the loaded dataset, "") or, for a dataset skipped because it is not there, (None, why)."""
    if issubclass(cls, HuggingFaceDataset):
        status, details = describe(name, cls)
        if status == "configure" and named:
            raise ConfigError(f"data --verify {name}: {details}.")
        if status != "found" and (status == "configure" or not named):
            return None, details
    dataset = cls()
    try:
        dataset.split_sizes()
    except ConfigError as error:
        if named:
            raise
        return None, _problem(error)
    return dataset, ""


def verify(names: Sequence[str], workers: int | None = None, print_line: Callable[[str], None] = print) -> int:
    """Decode every image of the named datasets; 1 if any is unreadable, else 0. A dataset named explicitly
    must be found (its ConfigError otherwise); with no names, the datasets not found are listed and skipped."""
    workers = workers if workers is not None else max(1, ImageLoading().num_workers)
    unreadable = 0
    for name, cls in _verifiable(names).items():
        dataset, why = _load_for_verify(name, cls, bool(names))
        if dataset is None:
            print_line(f"{name}: skipped, {why}")
            continue
        sources = _image_sources(dataset)
        if not sources:
            sizes = _sizes(dataset.split_sizes())
            print_line(f"{name}: {sizes}; read whole from its files when found, so no image file to decode")
            continue
        count, failures = _decode_all(sources, workers, name)
        unreadable += len(failures)
        where = dataset.local_path() if isinstance(dataset, HuggingFaceDataset) else dataset.path
        print_line(f"{name}: {count} images decoded in {workers} processes, {len(failures)} unreadable ({where})")
        for image, reason in failures:
            print_line(f"  unreadable: {image}: {reason}")
    if unreadable:
        print_line(f"{unreadable} unreadable image(s): replace them from the official archives.")
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
