"""Running a sweep's runs through submitit: one job array on SLURM, a capped pool locally, in-process for debug.

Each job is a `SweepJob`, a submitit Checkpointable: on preemption or time-out submitit requeues it with the
same RunSpec, and the run resumes from the checkpoint its Trainer wrote after the last finished epoch (the
run folder is named by the config's hash, so the requeued job finds it). A job that raises (an exception,
a NaN loss) has already written its record as failed; the other jobs go on.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import submitit
import torch

from benchsuite.errors import ConfigError
from benchsuite.sweep.grid import PlannedRun, RunSpec, Sweep
from benchsuite.training import distributed

CLUSTERS = ("slurm", "local", "debug")


class SweepJob(submitit.helpers.Checkpointable):
    """One run of a sweep in a worker process: parse its gin files and bindings, run or resume it."""

    def __init__(self, threads: int) -> None:
        self.threads = threads

    def __call__(self, spec: RunSpec) -> dict[str, Any]:
        from benchsuite.experiment.execute import execute  # parsing the run's gin files registers the built-ins

        keep_requeue_alive()
        os.chdir(spec.workdir)
        torch.set_num_threads(self.threads)  # jobs sharing a node must not each take every core
        outcome = execute(spec.gin_files, spec.bindings, results=spec.results)
        distributed.finish()  # the job's tasks leave their process group together
        return {"run_dir": str(outcome.run_dir), "status": outcome.record["status"]}


def keep_requeue_alive() -> None:
    """Ignore SIGTERM in this job process, so that submitit's `scontrol requeue` outlives the requeue it asks for.

    On a preemption or near its time limit a job gets submitit's USR2; submitit then checkpoints and runs
    `scontrol requeue <job>`. Slurm requeues the job at once and sends its processes SIGTERM (SIGKILL after
    KillWait), and on a loaded node the `scontrol` child is often still exiting then: it dies of that SIGTERM,
    submitit raises CalledProcessError and records the job as failed although it was requeued and runs again.
    A signal set to SIG_IGN stays ignored across exec, so `scontrol` started from here survives until it has
    exited on its own. The job process itself loses nothing: submitit only logs and ignores SIGTERM too, and
    SIGKILL still ends everything after KillWait.
    """
    if "SLURM_JOB_ID" in os.environ:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def executor_for(sweep: Sweep, cluster: str, folder: Path) -> submitit.Executor:
    if cluster not in CLUSTERS:
        raise ConfigError(f"Unknown cluster '{cluster}' (from --cluster or Sweep.cluster); choose one of "
                          f"{', '.join(CLUSTERS)}.")
    executor = submitit.AutoExecutor(folder=folder / "%j", cluster=cluster)
    parameters: dict[str, Any] = {
        "name": f"benchsuite-{sweep.name}",
        "timeout_min": sweep.timeout_min,
        "gpus_per_node": sweep.gpus_per_node,
        "tasks_per_node": sweep.tasks_per_node,
        "cpus_per_task": sweep.cpus_per_task,
    }
    if cluster == "slurm":
        parameters["slurm_array_parallelism"] = sweep.parallelism
        if sweep.partition:
            parameters["slurm_partition"] = sweep.partition
        if sweep.mem_gb is not None:
            parameters["mem_gb"] = sweep.mem_gb
    executor.update_parameters(**parameters)
    return executor


def submit(
    sweep: Sweep,
    runs: Sequence[PlannedRun],
    cluster: str,
    folder: Path,
    report: Callable[[str], None] = print,
    wait: bool = True,
) -> list[tuple[PlannedRun, BaseException | None]]:
    """Run every run that is neither finished nor running elsewhere; with `wait`, return each with the exception
    its job raised.

    On SLURM the runs go as one job array (at most `sweep.parallelism` at once); locally at most
    `sweep.parallelism` worker processes run at once; `debug` runs them one after the other in this process.
    """
    todo = [run for run in runs if run.state not in ("finished", "running")]
    if not todo:
        return []
    executor = executor_for(sweep, cluster, folder)
    job = SweepJob(threads=sweep.cpus_per_task)
    if cluster == "slurm":
        jobs = executor.map_array(job, [run.spec for run in todo])
        report(f"submitted {len(jobs)} runs as SLURM job array {jobs[0].job_id.split('_')[0]} "
               f"(at most {sweep.parallelism} at once); logs in {folder}")
        return _wait(list(zip(todo, jobs, strict=True)), report) if wait else []
    if cluster == "debug":
        outcomes = []
        for run in todo:
            outcomes.append((run, _exception(executor.submit(job, run.spec))))
            report(_line(len(outcomes), len(todo), run, outcomes[-1][1]))
        return outcomes
    return _local_pool(executor, job, todo, max(1, sweep.parallelism), report)


def _exception(job: submitit.Job) -> BaseException | None:
    try:
        job.result()
    except Exception as error:  # the run's own error, already in its record
        return error
    return None


def _line(done: int, total: int, run: PlannedRun, error: BaseException | None) -> str:
    state = "finished" if error is None else f"FAILED ({_first_line(error)})"
    return f"[{done}/{total}] {state}: {run.run_dir}"


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    # submitit wraps a worker's exception in FailedJobError whose text is the worker's traceback
    return next((line for line in reversed(text) if line.strip()), type(error).__name__)


def _reap(pending, outcomes, total: int, report):
    """Move the finished jobs of `pending` to `outcomes` (reporting each); return the ones still running."""
    still = []
    for run, job in pending:
        if job.done():
            outcomes.append((run, _exception(job)))
            report(_line(len(outcomes), total, run, outcomes[-1][1]))
        else:
            still.append((run, job))
    return still


def _wait(pairs: list[tuple[PlannedRun, submitit.Job]], report: Callable[[str], None], poll_s: float = 2.0):
    outcomes: list[tuple[PlannedRun, BaseException | None]] = []
    pending = _reap(pairs, outcomes, len(pairs), report)
    while pending:
        time.sleep(poll_s)
        pending = _reap(pending, outcomes, len(pairs), report)
    return outcomes


def _local_pool(executor, job: SweepJob, todo: Sequence[PlannedRun], parallelism: int, report, poll_s: float = 0.5):
    """submitit's local executor starts every job at once; keep at most `parallelism` in flight instead."""
    outcomes: list[tuple[PlannedRun, BaseException | None]] = []
    queue = list(todo)
    running: list[tuple[PlannedRun, submitit.Job]] = []
    while queue or running:
        while queue and len(running) < parallelism:
            run = queue.pop(0)
            running.append((run, executor.submit(job, run.spec)))
        running = _reap(running, outcomes, len(todo), report)
        if running:
            time.sleep(poll_s)
    return outcomes
