"""The gin root of one experiment: `run(method, dataset, backbone, trainer, seed)`, and `execute`, which
parses gin, names the run by its config and writes its record.

Order of work in a run, so that bad input leaves nothing under results/: parse and validate the config,
build the dataset's training split, build the method; only then create the run folder, mark it "running"
in record.json, train (resuming from the folder's checkpoint if there is one), and rewrite record.json
last, atomically, as "finished" or "failed" with the reason.
"""

from __future__ import annotations

import random
import shutil
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import gin
import numpy as np
import torch

from benchsuite import config, distributed, records
from benchsuite.backbones import Backbone
from benchsuite.datasets.base import Dataset
from benchsuite.datasets.manifest import identified_config
from benchsuite.errors import ConfigError
from benchsuite.host_memory import retain_freed_memory
from benchsuite.methods.base import BackboneFactory, Method
from benchsuite.registry import BACKBONES, DATASETS, METHODS
from benchsuite.trainer import Trainer, prepare_for_device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _describe(value: Any) -> str:
    name = getattr(value, "registered_name", None)
    kinds = [registry.kind for registry in (METHODS, DATASETS, BACKBONES) if name in registry]
    return f"{name} (a registered {kinds[0]})" if kinds else repr(value)


def _check_kind(binding: str, value: Any, ok: bool, registry) -> None:
    if not ok:
        raise ConfigError(
            f"Gin binding {binding} is {_describe(value)}, which is not a registered {registry.kind}. Bind one of "
            f"{', '.join(registry.names())}, e.g. {binding} = @{registry.names()[0]}"
            f"{'' if registry is BACKBONES else '()'}."
        )


@gin.configurable
def run(
    method: Method = gin.REQUIRED,
    dataset: Dataset = gin.REQUIRED,
    backbone: BackboneFactory = gin.REQUIRED,
    trainer: Trainer | None = None,
    seed: int = 0,
    experiment: str | None = None,
    rerun_of: str | None = None,
    *,
    run_dir: Path,
    provenance: dict[str, Any] | None = None,
    fresh: bool = False,
) -> dict[str, Any]:
    """Train `method` with `backbone` on `dataset` and return the run record (also written to run_dir).

    experiment names the folder under results/ (default: the stem of the first --gin file); rerun_of names the
    selection rule when the sweep's --rerun-best runs a chosen setting with new seeds (recorded; the leaderboard
    then shows these seeds for the entry, not the grid's); run_dir and
    provenance (the gin files and bindings the run came from) are given by `execute`, not bound in gin.
    fresh: delete run_dir first (`--force`): rank 0 deletes it while the other processes wait, so that none of
    them deletes what rank 0 has begun to write or resumes from what it was about to delete.
    """
    _check_kind("run.method", method, isinstance(method, Method), METHODS)
    _check_kind("run.dataset", dataset, isinstance(dataset, Dataset), DATASETS)
    _check_kind("run.backbone", backbone, isinstance(backbone, type) and issubclass(backbone, Backbone), BACKBONES)
    trainer = trainer if trainer is not None else Trainer()
    distributed.init_from_environment(trainer.device)  # one process per GPU under torchrun or SLURM tasks
    if trainer.device.type == "cpu":
        retain_freed_memory()  # no page faults on every step's activations (host_memory.py)
    if fresh:
        if distributed.is_main() and run_dir.exists():
            shutil.rmtree(run_dir)
        distributed.barrier()
    seed_everything(seed)
    trainer.generator.manual_seed(seed)

    dataset.split("train")  # builds or loads the data now, so that missing data fails before any output
    method.check_dataset(dataset)
    method.setup(backbone, dataset)
    method = distributed.convert_batch_norm(method, trainer.device)
    prepare_for_device(method, trainer.device, trainer.compile, trainer.channels_last)

    trainer.run_dir = run_dir
    if not distributed.is_main():  # the other processes train in step and read the checkpoint; rank 0 writes
        return {"status": "finished", "metrics": method.fit(dataset, trainer)}
    run_dir.mkdir(parents=True, exist_ok=True)
    resumes = records.count_resume(run_dir)
    record: dict[str, Any] = {
        "schema_version": records.SCHEMA_VERSION,
        "run_id": run_dir.name,
        "experiment": run_dir.parent.name,
        "method": method.registered_name,
        "dataset": dataset.registered_name,
        "backbone": backbone.registered_name,
        "initial_weights": sorted({m.initial_weights for m in method.modules() if isinstance(m, Backbone)}),
        "evaluation": method.evaluation_details(),
        "seed": seed,
        "family": method.family,
        "rerun_of": rerun_of,
        "resumed": resumes > 0,
        "resumes": resumes,
        "git": records.git_state(),
        "versions": records.library_versions(),
        "device": records.device_description(trainer.device),
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **(provenance or {}),
    }
    if (data := dataset.data_details()) is not None:  # datasets read from disk: folder, manifest, missing groups
        record["data"] = data
    # A "running" record marks the folder as started: sweeps count it as incomplete, leaderboards skip it.
    records.write_json_atomic(run_dir / records.RECORD, record | {"status": "running"})
    start = time.perf_counter()
    try:
        evaluation = method.fit(dataset, trainer)
        record |= {"status": "finished", "metrics": evaluation, "error": None}
    except Exception as error:
        record |= {"status": "failed", "metrics": {}, "error": f"{type(error).__name__}: {error}",
                   "traceback": traceback.format_exc()}
        raise
    finally:
        record |= {
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "wall_time_s": round(time.perf_counter() - start, 2),
            "peak_memory": records.peak_memory(trainer.device),
            "gin_config": gin.operative_config_str(),
            "method_details": method.record_details(),
        }
        records.write_json_atomic(run_dir / records.RECORD, record)
    return record


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
    config.parse(gin_files, bindings)
    try:
        run_dir = Path(results) / experiment_name(gin_files) / records.run_id(identified_config())
        existing = records.read_record(run_dir)
        if existing is not None and existing.get("status") == "finished" and not force:
            return Outcome(run_dir, existing, already_finished=True)
        provenance = {"gin_files": [str(f) for f in gin_files], "gin_bindings": list(bindings)}
        try:
            record = run(run_dir=run_dir, provenance=provenance, fresh=force)
        except (ValueError, RuntimeError) as error:
            if "Required bindings" not in str(error):
                raise
            raise ConfigError(
                f"{str(error).splitlines()[0]} Bind run.method, run.dataset and run.backbone in a gin file "
                f"(gin/base.gin shows how). {config.registered_choices()}"
            ) from None
        return Outcome(run_dir, record, already_finished=False)
    finally:
        gin.clear_config()
