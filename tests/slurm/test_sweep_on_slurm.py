"""The suite's sweeps on the real local SLURM cluster: one job array with a failing run beside finished ones, a
cancelled run that a resubmitted sweep finishes, and a run preempted mid-training that requeues, resumes from
its checkpoint and ends with the metrics of an uninterrupted run. Figures go to the test report (`-rA`)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import torch

from benchsuite import records
from benchsuite.cli import main
from benchsuite.sweep.grid import gin_root_of, load_sweep, plan
from benchsuite.sweep.submit import SweepJob, executor_for
from tests.conftest import GIN, TINY, TINY_DATA
from tests.slurm.cluster import Cluster

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(420)]

SWEEP = GIN / "sweeps" / "embedded.gin"
#: CPU jobs of 2 cores; 15 minutes so that an early USR2 is a preemption for submitit (tests/slurm/conftest.py)
ON_SLURM = ["Sweep.cpus_per_task = 2", "Sweep.timeout_min = 15", "Sweep.parallelism = 2"]
SMALL = ["Sweep.methods = ['erm', 'jtt']", "Sweep.datasets = ['synthetic_backgrounds']", "Sweep.seeds = [0, 1]",
         *ON_SLURM, *TINY, *TINY_DATA["SyntheticBackgrounds"]]
#: one SimCLR run of four epochs, long enough to be preempted or cancelled in the middle
LONG = ["Sweep.methods = ['simclr']", "Sweep.datasets = ['synthetic_backgrounds']", "Sweep.seeds = [0]", *ON_SLURM,
        *TINY, *TINY_DATA["SyntheticBackgrounds"], "Trainer.epochs = 4", "SyntheticBackgrounds.train_size = 512"]


def _params(bindings):
    return [arg for binding in bindings for arg in ("--gin-param", binding)]


def _sweep(results: Path, bindings, *extra: str) -> int:
    return main(["sweep", "--gin", str(SWEEP), "--cluster", "slurm", "--results", str(results),
                 *_params(bindings), *extra])


def _runs(results: Path, bindings):
    sweep = load_sweep([SWEEP], [b for b in bindings if b.startswith("Sweep.")])
    specs = sweep.specs(gin_root_of(SWEEP), str(results), [b for b in bindings if not b.startswith("Sweep.")])
    return sweep, plan(specs)


def _epoch(run_dir: Path) -> int:
    try:
        return torch.load(run_dir / records.CHECKPOINT, map_location="cpu", weights_only=True)["epoch"]
    except (FileNotFoundError, RuntimeError, EOFError, ValueError):
        return -1


def _wait_for_epoch(run_dir: Path, job, epoch: int, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while _epoch(run_dir) < epoch:
        if job.done(force_check=True):
            pytest.fail(f"job {job.job_id} ended before epoch {epoch + 1}:\n{job.stderr()}")
        if time.monotonic() > deadline:
            pytest.fail(f"job {job.job_id} did not finish epoch {epoch + 1} in {timeout_s} s (state {job.state})")
        time.sleep(0.2)


#: the cancelled run must outlive SLURM's KillWait (5 s): submitit's jobs ignore the SIGTERM of scancel, and
#: only the SIGKILL after KillWait stops them, so a short run could finish in between
CANCELLED = [*LONG, "Trainer.epochs = 16", "SyntheticBackgrounds.train_size = 2048"]


def test_a_sweep_goes_as_one_array_and_a_failing_run_does_not_stop_the_others(
    slurm_cluster: Cluster, tmp_path: Path, capsys, record_property
) -> None:
    failing = [*SMALL, "Sweep.grids = {'jtt': {'Trainer.lr': [1e30]}}"]  # a NaN loss for both JTT runs
    start = time.monotonic()
    assert _sweep(tmp_path, failing) == 1
    record_property("sweep_4_runs_seconds", round(time.monotonic() - start, 1))
    out = capsys.readouterr().out
    assert "submitted 4 runs as SLURM job array" in out and "(at most 2 at once)" in out
    assert "4 runs: 2 finished, 2 failed, 0 running, 0 incomplete, 0 to do" in out
    assert out.count("the loss became nan") == 2
    _, runs = _runs(tmp_path, failing)
    for run in runs:
        record = json.loads((run.run_dir / records.RECORD).read_text())
        assert record["status"] == ("failed" if run.run_dir.parent.name.startswith("jtt") else "finished")
    # resubmitting submits only what is not finished: the two failed runs, which fail again
    assert _sweep(tmp_path, failing) == 1
    assert "submitted 2 runs as SLURM job array" in capsys.readouterr().out


def test_a_cancelled_run_is_incomplete_and_a_resubmitted_sweep_finishes_it(
    slurm_cluster: Cluster, tmp_path: Path, capsys
) -> None:
    sweep, (run,) = _runs(tmp_path, CANCELLED)
    job = executor_for(sweep, "slurm", tmp_path / "submitit").submit(SweepJob(threads=2), run.spec)
    _wait_for_epoch(run.run_dir, job, 0)
    job.cancel(check=True)
    slurm_cluster.cancel_all()
    (after,) = _runs(tmp_path, CANCELLED)[1]
    assert after.state == "incomplete" and after.detail == "started, with a checkpoint"
    assert _sweep(tmp_path, CANCELLED) == 0
    assert "1 runs: 1 finished" in capsys.readouterr().out
    record = json.loads((run.run_dir / records.RECORD).read_text())
    assert record["resumes"] == 1


def test_a_preempted_run_requeues_resumes_and_ends_as_if_never_interrupted(
    slurm_cluster: Cluster, tmp_path: Path, record_property, slow_requeue_exit
) -> None:
    """Preempted after its first epoch, the run is requeued, resumes and logs what an uninterrupted run logs,
    also when its `scontrol requeue` lingers into the SIGTERM of its own requeue (see `keep_requeue_alive`)."""
    sweep, (whole,) = _runs(tmp_path / "whole", LONG)
    _, (preempted,) = _runs(tmp_path / "preempted", LONG)
    executor = executor_for(sweep, "slurm", tmp_path / "submitit")
    jobs = [executor.submit(SweepJob(threads=2), run.spec) for run in (whole, preempted)]
    _wait_for_epoch(preempted.run_dir, jobs[1], 0)
    signalled = time.monotonic()
    subprocess.run(["scancel", "--signal=USR2", jobs[1].job_id], check=True)  # what SLURM sends on preemption
    results = [job.result() for job in jobs]
    record_property("preempted_run_total_seconds_after_signal", round(time.monotonic() - signalled, 1))
    assert [result["status"] for result in results] == ["finished", "finished"]
    on_disk = [json.loads((run.run_dir / records.RECORD).read_text()) for run in (whole, preempted)]
    assert (on_disk[0]["resumes"], on_disk[1]["resumes"]) == (0, 1)
    assert on_disk[1]["metrics"] == on_disk[0]["metrics"]
    logged = [(run.run_dir / records.METRICS).read_text() for run in (whole, preempted)]
    assert logged[0] == logged[1]
