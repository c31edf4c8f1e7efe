"""Executing one experiment: load the suite's parts, parse gin, name the run by its config, and call the `run`
gin root unless the run already finished. The command line's `run` and a sweep's worker both come here.

Order of work, so that bad input leaves nothing under results/: parse and validate the config, check that the
results folder can be written and that no live process owns the run folder; `run` does the rest (run.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gin

from benchsuite import config, records
from benchsuite.datasets.from_disk import DiskDataset
from benchsuite.errors import ConfigError, Terminated
from benchsuite.experiment import components, ownership
from benchsuite.experiment.run import run


def _dataset_of_config():
    """A fresh instance of the dataset that `run.dataset` builds, if it is read from disk (else None)."""
    try:
        reference = gin.query_parameter("run.dataset")
    except ValueError:
        return None
    configurable = getattr(reference, "configurable", None)
    wrapped = getattr(configurable, "wrapped", None)
    if not (getattr(reference, "evaluate", False) and isinstance(wrapped, type) and issubclass(wrapped, DiskDataset)):
        return None
    return reference.scoped_configurable_fn()


def identified_config() -> str:
    """The parsed gin config as the run id hashes it: gin's config string, plus the data manifest's line for a
    dataset read from disk (loading the dataset's metadata; a missing dataset raises its ConfigError here)."""
    config = gin.config_str()
    dataset = _dataset_of_config()
    if dataset is None:
        return config
    return f"{config}\n# data manifest: {dataset.manifest().fingerprint}\n"


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Outside SLURM, turn SIGTERM into Terminated, so that a run stops at once and records itself interrupted,
    as it does on Ctrl-C. Under SLURM SIGTERM is left alone: it comes with a requeue (sweep_submit.py)."""
    if "SLURM_JOB_ID" in os.environ:
        yield
        return

    def terminate(signal_number, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def check_results_folder(results: Path) -> None:
    """Raise ConfigError unless `results` is, or can be created as, a folder this process can write."""
    existing = next(path for path in (results, *results.absolute().parents) if path.exists())
    if not existing.is_dir():
        raise ConfigError(
            f"The results folder --results {results} cannot be used: {existing} is a file, not a folder. Pass a "
            "folder (it is created if missing), e.g. --results results."
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "it" if existing == results else f"{existing}, where it would be created,"
        raise ConfigError(
            f"The results folder --results {results} cannot be used: {where} is not writable by this user "
            "(permission denied). Pass a folder you can write, e.g. --results ~/benchsuite-results."
        )


@dataclass
class Outcome:
    run_dir: Path
    record: dict[str, Any]
    already_finished: bool


def experiment_name(gin_files: Sequence[str | Path]) -> str:
    try:
        name = gin.query_parameter("run.experiment")
    except ValueError:
        name = None
    # The first file: an experiment file is named first, override files (gin/overrides/) after it.
    return name or (Path(gin_files[0]).stem if gin_files else "experiment")


def execute(
    gin_files: Sequence[str | Path],
    bindings: Sequence[str] = (),
    results: str | Path = "results",
    force: bool = False,
) -> Outcome:
    """Parse the config, name the run by its hash, and run it unless it already finished (or `force`)."""
    components.load()
    config.parse(gin_files, bindings)
    try:
        check_results_folder(Path(results))
        run_dir = Path(results) / experiment_name(gin_files) / records.run_id(identified_config())
        existing = records.read_record(run_dir)
        if existing is not None and existing.get("status") == "finished" and not force:
            return Outcome(run_dir, existing, already_finished=True)
        ownership.check_free(run_dir)  # before the data is built: a second start of a running config stops here
        problem = records.record_problem(run_dir)
        if problem is not None:
            records.notice(f"{run_dir / records.RECORD} is malformed ({problem}); this run rewrites it.")
        provenance = {"gin_files": [str(f) for f in gin_files], "gin_bindings": list(bindings)}
        owner = ownership.Ownership(run_dir)
        try:
            record = run(run_dir=run_dir, provenance=provenance, fresh=force, owner=owner)
        except (ValueError, RuntimeError) as error:
            if "Required bindings" not in str(error):
                raise
            raise ConfigError(
                f"{str(error).splitlines()[0]} Bind run.method, run.dataset and run.backbone in a gin file "
                f"(gin/base.gin shows how). {config.registered_choices()}"
            ) from None
        finally:
            owner.release()  # after an early error; nothing to do where run released it or never took it
        return Outcome(run_dir, record, already_finished=False)
    finally:
        gin.clear_config()
