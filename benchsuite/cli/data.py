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
from benchsuite.datasets.base import Dataset, sizes_text
from benchsuite.datasets.decoding import UnreadableImage
from benchsuite.datasets.locating import DATA_ENV, data_root
from benchsuite.datasets.splits import ImageLoading
from benchsuite.errors import ConfigError
from benchsuite.registry import DATASETS


def describe(name: str, cls: type[Dataset]) -> tuple[str, str]:
    """(status, details) of one registered dataset, as the dataset tells it (`Dataset.data_status`): found /
    missing / embedded / not configured."""
    status, details, _ = cls.data_status()
    return status, details


def report(print_line: Callable[[str], None] = print) -> None:
    base = data_root()
    print_line(f"data root: {base if base is not None else 'not set'} (${DATA_ENV})")
    for name in DATASETS.names():
        status, details = describe(name, DATASETS.configured(name))
        print_line(f"{name:<22} {status:<10} {details}")


def _verifiable(names: Sequence[str]) -> dict[str, type]:
    """The named datasets whose images --verify decodes (all of them when `names` is empty): those read from disk
    and the Hugging Face adapter; any other name is a ConfigError."""
    valid = {name: DATASETS.configured(name) for name, cls in DATASETS.items() if cls.verifiable}
    unknown = [name for name in names if name not in valid]
    if unknown:
        raise ConfigError(
            f"data --verify: {', '.join(unknown)} is not a dataset whose images are read from files; valid names: "
            f"{', '.join(valid)} (the embedded datasets are generated)."
        )
    return {name: valid[name] for name in names} if names else valid


def _image_sources(dataset: Dataset) -> list:
    """The image and mask sources of every split of a loaded dataset (none for in-memory splits)."""
    return [source for name in dataset.split_names for source in dataset.split(name).image_sources()]


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


def _load_for_verify(name: str, cls: type[Dataset], named: bool) -> tuple[Dataset | None, str]:
    """(the loaded dataset, "") or, for a dataset skipped because it is not there, (None, why)."""
    status, details, dataset = cls.data_status()
    if status == "configure" and named:
        raise ConfigError(f"data --verify {name}: {details}.")
    if status != "found" and (status == "configure" or not named):
        return None, details
    if dataset is None:  # named but not found: loading it raises its ConfigError (a hub id may load online)
        dataset = cls()
        dataset.split_sizes()
    return dataset, ""


def verify(
    names: Sequence[str],
    image_loading: ImageLoading,
    workers: int | None = None,
    print_line: Callable[[str], None] = print,
) -> int:
    """Decode every image of the named datasets; 1 if any is unreadable, else 0. A dataset named explicitly
    must be found (its ConfigError otherwise); with no names, the datasets not found are listed and skipped.
    workers: decoding processes (None: as many as image_loading's DataLoader workers)."""
    workers = workers if workers is not None else max(1, image_loading.num_workers)
    unreadable = 0
    for name, cls in _verifiable(names).items():
        dataset, why = _load_for_verify(name, cls, bool(names))
        if dataset is None:
            print_line(f"{name}: skipped, {why}")
            continue
        dataset.use(image_loading)
        sources = _image_sources(dataset)
        if not sources:
            sizes = sizes_text(dataset.split_sizes())
            print_line(f"{name}: {sizes}; read whole from its files when found, so no image file to decode")
            continue
        count, failures = _decode_all(sources, workers, name)
        unreadable += len(failures)
        print_line(
            f"{name}: {count} images decoded in {workers} processes, {len(failures)} unreadable "
            f"({dataset.data_location()})"
        )
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
            return verify(verify_names, ImageLoading.from_gin(), workers)  # built here, once, from gin
        report()
    finally:
        gin.clear_config()
    return 0
