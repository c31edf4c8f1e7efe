"""Sweeps: a gin file that expands into many runs, each named by its run id, with the state of each.

A sweep file binds the `Sweep` gin root: the methods and datasets (each pair is the experiment file
gin/<method>_<dataset>.gin), the seeds, per-method hyperparameter grids, bindings and override files for
every run, and the executor settings (sweep_submit.py). It expands to `RunSpec`s made of plain strings
(gin files and bindings), so that only strings cross process boundaries; each run's id comes from parsing
its config exactly as `python -m benchsuite run` would, so a sweep and a single run of the same config
share one run folder, and a resubmitted sweep runs only what has not finished and is not running elsewhere
(a live owner holds its folder, ownership.py; a run whose owner died is resumed).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gin

from benchsuite import config, records
from benchsuite.errors import ConfigError
from benchsuite.experiment import components, ownership
from benchsuite.experiment.execute import experiment_name, identified_config

#: where a run stands, from its folder: no folder, a finished or failed record, owned by a live process (of
#: this sweep's earlier submission, another terminal or another host), or started but not done
STATES = ("finished", "failed", "running", "incomplete", "to do")


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep, as the strings `python -m benchsuite run` would be given."""

    gin_files: tuple[str, ...]
    bindings: tuple[str, ...]
    results: str
    #: the folder the gin paths are relative to; a worker changes into it before parsing
    workdir: str

    def command(self) -> str:
        files = " ".join(f"--gin {file}" for file in self.gin_files)
        params = " ".join(f"--gin-param '{binding}'" for binding in self.bindings)
        return f"python -m benchsuite run {files} {params} --results {self.results}"


@dataclass(frozen=True)
class PlannedRun:
    spec: RunSpec
    run_dir: Path
    state: str
    #: the failed record's error, or the reason a run is incomplete
    detail: str = ""


def _gin_literal(value: Any) -> str:
    """A Python value as gin writes it (gin's literals are Python's for numbers, strings, lists, None, bools)."""
    return repr(value)


@gin.configurable
class Sweep:
    """A grid of runs: methods x datasets x hyperparameter settings x seeds.

    methods, datasets: the names in the experiment files' names (gin/<method>_<dataset>.gin, e.g. 'wcl'
    and 'waterbirds'). grids: method -> {binding name -> values}; the cartesian product of one method's
    values gives its settings (a method without a grid has one setting). bindings and gin_overrides
    (files parsed after the experiment file, e.g. gin/overrides/fixture_scale.gin) apply to every run.
    The remaining arguments are the executor settings: `cluster` is slurm, local or debug (the command
    line's --cluster overrides it); `parallelism` caps the jobs that run at once (the SLURM array's %
    limit, or how many local jobs are in flight); the others go to submitit.
    """

    def __init__(
        self,
        name: str = gin.REQUIRED,
        methods: Sequence[str] = gin.REQUIRED,
        datasets: Sequence[str] = gin.REQUIRED,
        seeds: Sequence[int] = (0, 1, 2),
        grids: Mapping[str, Mapping[str, Sequence[Any]]] | None = None,
        bindings: Sequence[str] = ("Trainer.progress = False",),
        gin_overrides: Sequence[str] = (),
        cluster: str = "local",
        parallelism: int = 1,
        timeout_min: int = 60,
        partition: str | None = None,
        gpus_per_node: int = 0,
        tasks_per_node: int = 1,
        cpus_per_task: int = 2,
        mem_gb: float | None = None,
    ) -> None:
        self.name = name
        self.methods = list(methods)
        self.datasets = list(datasets)
        self.seeds = list(seeds)
        self.grids = {method: dict(grid) for method, grid in (grids or {}).items()}
        self.bindings = list(bindings)
        self.gin_overrides = list(gin_overrides)
        self.cluster = cluster
        self.parallelism = parallelism
        self.timeout_min = timeout_min
        self.partition = partition
        self.gpus_per_node = gpus_per_node
        self.tasks_per_node = tasks_per_node
        self.cpus_per_task = cpus_per_task
        self.mem_gb = mem_gb

    def settings(self, method: str) -> list[list[str]]:
        """The bindings of each hyperparameter setting of `method` (one empty setting without a grid)."""
        grid = self.grids.get(method, {})
        names = sorted(grid)
        return [
            [f"{name} = {_gin_literal(value)}" for name, value in zip(names, values, strict=True)]
            for values in itertools.product(*(grid[name] for name in names))
        ]

    def specs(self, gin_root: Path, results: str, extra_bindings: Sequence[str] = ()) -> list[RunSpec]:
        """Every run of the sweep, in a stable order: method, dataset, setting, seed."""
        unknown = sorted(set(self.grids) - set(self.methods))
        if unknown:
            raise ConfigError(
                f"Sweep '{self.name}': Sweep.grids names {', '.join(unknown)}, which Sweep.methods does not list; "
                f"grids are keyed by the methods of the sweep: {', '.join(self.methods)}."
            )
        workdir = Path.cwd()
        missing = [
            f"{method}_{dataset}.gin" for method in self.methods for dataset in self.datasets
            if not (gin_root / f"{method}_{dataset}.gin").is_file()
        ]
        if missing:
            available = sorted(path.name for path in gin_root.glob("*_*.gin"))
            raise ConfigError(
                f"Sweep '{self.name}': no experiment file {', '.join(missing)} in {gin_root}; each method and "
                f"dataset pair of Sweep.methods x Sweep.datasets needs gin/<method>_<dataset>.gin. "
                f"Experiment files there: {', '.join(available)}."
            )
        overrides = tuple(_relative(gin_root.parent / path if not Path(path).is_absolute() else Path(path), workdir)
                          for path in self.gin_overrides)
        specs = []
        for method in self.methods:
            for dataset in self.datasets:
                experiment = _relative(gin_root / f"{method}_{dataset}.gin", workdir)
                for setting in self.settings(method):
                    for seed in self.seeds:
                        bindings = (f"run.seed = {seed}", *setting, *self.bindings, *extra_bindings)
                        specs.append(RunSpec((experiment, *overrides), bindings, results, str(workdir)))
        return specs


def _relative(path: Path, start: Path) -> str:
    try:
        return os.path.relpath(path, start)
    except ValueError:  # another drive on Windows
        return str(path)


def gin_root_of(sweep_file: Path) -> Path:
    """The gin/ folder that holds a sweep file (gin/sweeps/<name>.gin -> gin/); ConfigError if none does."""
    root = config.gin_root(sweep_file)
    if root is not None:
        return root
    raise ConfigError(
        f"Sweep file '{sweep_file}' is not inside a gin/ folder; sweeps live in gin/sweeps/ so that the "
        "experiment files gin/<method>_<dataset>.gin can be found beside them."
    )


def load_sweep(files: Sequence[str | Path], bindings: Sequence[str] = ()) -> Sweep:
    """Parse sweep gin files (unknown names rejected) and build the `Sweep` they bind."""
    components.load()
    config.parse(files, bindings)
    try:
        return Sweep()
    except (ValueError, TypeError, RuntimeError) as error:  # gin raises RuntimeError for required bindings
        first = str(error).splitlines()[0].rstrip(".") + "."
        raise ConfigError(
            f"Sweep file(s) {', '.join(map(str, files))}: {first} A sweep binds at least Sweep.name, "
            "Sweep.methods and Sweep.datasets (gin/sweeps/embedded.gin shows how)."
        ) from None
    finally:
        gin.clear_config()


def locate(spec: RunSpec) -> Path:
    """The run folder of `spec`: parse its config as a worker would and hash it (for a dataset read from disk, with
    its manifest: the metadata is read, no image is decoded)."""

    here = Path.cwd()
    os.chdir(spec.workdir)
    try:
        config.parse(spec.gin_files, spec.bindings)
        run_dir = Path(spec.results) / experiment_name(spec.gin_files) / records.run_id(identified_config())
        return run_dir if run_dir.is_absolute() else Path(spec.workdir) / run_dir
    finally:
        gin.clear_config()
        os.chdir(here)


def plan(specs: Sequence[RunSpec]) -> list[PlannedRun]:
    """Each spec with its run folder and state (see STATES)."""
    planned = []
    for spec in specs:
        run_dir = locate(spec)
        record = records.read_record(run_dir)
        if record is not None and record.get("status") in ("finished", "failed"):
            planned.append(PlannedRun(spec, run_dir, record["status"], record.get("error") or ""))
        elif (owner := ownership.live_owner(run_dir)) is not None:
            planned.append(PlannedRun(spec, run_dir, "running", f"elsewhere: {owner.describe()}"))
        elif run_dir.exists():
            epochs = "with a checkpoint" if (run_dir / records.CHECKPOINT).exists() else "without a checkpoint"
            planned.append(PlannedRun(spec, run_dir, "incomplete", f"started, {epochs}"))
        else:
            planned.append(PlannedRun(spec, run_dir, "to do"))
    return planned
