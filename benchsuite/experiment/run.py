"""The gin root of one experiment: `run(method, dataset, backbone, trainer, seed)` builds the run from the parts
gin configured, takes its folder and writes its record; `execute.py` parses gin and names the run before it.
The frozen-encoder evaluation of representation methods is built here too, once, and passed down to the
method (its evaluation) and to the record (what produced the metrics).

Order of work in a run, so that bad input leaves nothing under results/: build the dataset's training split,
build the method; only then create the run folder and take it (ownership.py), mark it "running" in
record.json, train (resuming from the folder's checkpoint if there is one), and rewrite record.json last,
atomically, as "finished", "failed" with the reason, or "interrupted" (SIGINT, or SIGTERM outside SLURM:
`execute.stop_on_sigterm`).
"""
from __future__ import annotations

import random
import shutil
import signal
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import gin
import numpy as np
import torch

from benchsuite import records
from benchsuite.datasets.base import Dataset
from benchsuite.datasets.splits import ImageLoading
from benchsuite.errors import SIGNAL_NAMES, ConfigError, RunInterrupted, Terminated
from benchsuite.evaluation import FrozenEncoderEvaluation
from benchsuite.experiment import ownership
from benchsuite.faults import kill_point
from benchsuite.methods.base import BackboneFactory, Method, RepresentationMethod
from benchsuite.models.backbones import Backbone
from benchsuite.registry import BACKBONES, DATASETS, METHODS
from benchsuite.training import checkpoints, distributed
from benchsuite.training.host_memory import retain_freed_memory
from benchsuite.training.trainer import Trainer, prepare_for_device


def _remove_partial_writes(run_dir: Path) -> None:
    """Delete the temporary files of writes that a killed process left half done (records.write_atomic)."""
    for temporary in run_dir.glob(".*.tmp"):
        temporary.unlink(missing_ok=True)


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


# `evaluation` is passed from Python (tests), not bound in gin: gin configures it through the
# FrozenEncoderEvaluation bindings (`FrozenEncoderEvaluation.probe = @LinearProbe()`), and a `run.evaluation`
# line in every record's operative config would only repeat them.
@gin.configurable(denylist=["evaluation"])
def run(
    method: Method = gin.REQUIRED,
    dataset: Dataset = gin.REQUIRED,
    backbone: BackboneFactory = gin.REQUIRED,
    trainer: Trainer | None = None,
    seed: int = 0,
    experiment: str | None = None,
    rerun_of: str | None = None,
    image_loading: ImageLoading | None = None,
    *,
    run_dir: Path,
    provenance: dict[str, Any] | None = None,
    fresh: bool = False,
    owner: ownership.Ownership | None = None,
    evaluation: FrozenEncoderEvaluation | None = None,
) -> dict[str, Any]:
    """Train `method` with `backbone` on `dataset` and return the run record (also written to run_dir).

    experiment names the folder under results/ (default: the stem of the first --gin file); rerun_of names the
    selection rule when the sweep's --rerun-best runs a chosen setting with new seeds (recorded; the leaderboard
    then shows these seeds for the entry, not the grid's); image_loading: how file-backed splits decode (None:
    `ImageLoading.from_gin()`, as gin binds it), built here once and handed to the dataset; run_dir and
    provenance (the gin files and bindings the run came from) are given by `execute`, not bound in gin.
    fresh: delete run_dir first (`--force`): rank 0 deletes it while the other processes wait, so that none of
    them deletes what rank 0 has begun to write or resumes from what it was about to delete.
    owner: the run folder's lock (ownership.py), taken by rank 0 once the data and the method are built and
    released after the last record; `execute` passes its own, to release it also on an early error.
    evaluation: how a representation method's frozen encoders are evaluated (probe and kNN); default the
    gin-configured FrozenEncoderEvaluation(), built only for a representation method (a supervised method is
    evaluated by its own classifier, and its record's operative config does not list the probe's settings).
    """
    _check_kind("run.method", method, isinstance(method, Method), METHODS)
    _check_kind("run.dataset", dataset, isinstance(dataset, Dataset), DATASETS)
    _check_kind("run.backbone", backbone, isinstance(backbone, type) and issubclass(backbone, Backbone), BACKBONES)
    trainer = trainer if trainer is not None else Trainer()
    dataset.use(image_loading if image_loading is not None else ImageLoading.from_gin())
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
    if isinstance(method, RepresentationMethod):  # evaluated on frozen features: the probe and kNN of the config
        method.use_evaluation(evaluation if evaluation is not None else FrozenEncoderEvaluation())

    if not distributed.is_main():  # the other processes train in step and read the checkpoint; rank 0 writes
        return {"status": "finished", "metrics": trainer.fit(method, dataset, run_dir)}
    owner = owner if owner is not None else ownership.Ownership(run_dir)
    owner.acquire()  # creates the folder; RunOwned if a live process has it
    kill_point("run.owned")
    _remove_partial_writes(run_dir)
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
        metrics = trainer.fit(method, dataset, run_dir)
        record |= {"status": "finished", "metrics": metrics, "error": None}
        checkpoints.drop_previous(run_dir)
    except (KeyboardInterrupt, Terminated) as error:
        number = signal.SIGINT if isinstance(error, KeyboardInterrupt) else signal.SIGTERM
        record |= {"status": "interrupted", "metrics": {}, "error": f"stopped by {SIGNAL_NAMES[number]}"}
        where = checkpoints.describe(run_dir)
        raise RunInterrupted(
            f"Stopped by {SIGNAL_NAMES[number]}; the run {run_dir} is recorded as interrupted. Its last "
            f"checkpoint is {where}; the same command resumes the run from it.", number
        ) from None
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
        if owner.owns():  # not after a stall in which another process took the folder over
            records.write_json_atomic(run_dir / records.RECORD, record)
        owner.release()
    return record
