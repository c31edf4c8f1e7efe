"""Plain submitit jobs on the real local SLURM cluster: an array, a cancelled job, a failing job and a
Checkpointable job that is preempted, requeued and finishes. Timings go to the test report (`-rA` shows them)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import submitit
from submitit.core.utils import FailedJobError, UncompletedJobError

from tests.slurm import jobs
from tests.slurm.cluster import Cluster

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(240)]


def _wait_for(path: Path, job: submitit.Job, what: str, timeout_s: float = 120.0) -> None:
    """Waits until the job has created `path`; fails early with the job's logs if it ended before that."""
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if job.done(force_check=True):
            pytest.fail(f"job {job.job_id} ended before {what}:\n{job.stderr()}")
        if time.monotonic() > deadline:
            pytest.fail(f"job {job.job_id} did not reach {what} within {timeout_s:.0f} s (state {job.state})")
        time.sleep(0.2)


def test_cluster_is_up_and_start_is_idempotent(slurm_cluster: Cluster, record_property) -> None:
    record_property("slurm_start_seconds", round(slurm_cluster.start_seconds, 1))
    print(f"cluster started in {slurm_cluster.start_seconds:.1f} s")
    pids = slurm_cluster.status()["daemons"]
    assert all(pids.values()), pids
    assert slurm_cluster.start() is False  # a second start finds it running and touches nothing
    assert slurm_cluster.status()["daemons"] == pids
    partitions = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, check=True).stdout
    assert partitions.split() == [f"{slurm_cluster.partition}*", slurm_cluster.urgent_partition]


def test_job_array_returns_every_result(slurm_executor: submitit.AutoExecutor) -> None:
    inputs = [1, 2, 3, 4]
    array = slurm_executor.map_array(jobs.square, inputs)
    results = [job.result() for job in array]
    assert [value for value, _ in results] == [x * x for x in inputs]
    # one array: the tasks share the array's job id, each with its own index
    assert {job.job_id.split("_")[0] for job in array} == {array[0].job_id.split("_")[0]}
    assert sorted(job_id for _, job_id in results) == sorted({job_id for _, job_id in results})


def test_cancelled_job_result_raises(slurm_executor: submitit.AutoExecutor, tmp_path: Path) -> None:
    started = tmp_path / "started"
    job = slurm_executor.submit(jobs.wait_forever, str(started))
    _wait_for(started, job, "its start")
    cancelled = time.monotonic()
    job.cancel(check=True)
    # sacct (through slurmdbd) is what tells submitit the job is over; without it result() waits forever
    with pytest.raises(UncompletedJobError, match="CANCELLED"):
        job.result()
    print(f"result() raised {time.monotonic() - cancelled:.1f} s after scancel")


def test_failing_job_returns_its_exception(slurm_executor: submitit.AutoExecutor) -> None:
    job = slurm_executor.submit(jobs.fail, "a deliberate failure")
    with pytest.raises(FailedJobError, match="ValueError: a deliberate failure"):
        job.result()
    assert isinstance(job.exception(), FailedJobError)


def test_preempted_checkpointable_job_requeues_and_finishes(slurm_executor: submitit.AutoExecutor,
                                                          tmp_path: Path, record_property) -> None:
    starts = tmp_path / "starts"
    job = slurm_executor.submit(jobs.Resumable(), str(tmp_path))
    _wait_for(starts, job, "its first start")
    signalled = time.time()
    # what a preempting cluster sends (submitit's --signal): USR2 long before the 15 min limit is a preemption
    subprocess.run(["scancel", "--signal=USR2", job.job_id], check=True)
    result = job.result()
    assert result == {"checkpoints": 1, "starts": 2, "job_id": job.job_id, "restarts": "1"}
    second_start = float(starts.read_text().split()[1])
    record_property("requeue_turnaround_seconds", round(second_start - signalled, 1))
    print(f"requeued job started again {second_start - signalled:.1f} s after USR2; "
          f"result {time.time() - signalled:.1f} s after it")


def test_job_preempted_by_urgent_partition_requeues_and_finishes(slurm_cluster: Cluster,
                                                                   slurm_executor: submitit.AutoExecutor,
                                                                   tmp_path: Path, slow_requeue_exit) -> None:
    """Real preemption: a job of the urgent partition that needs every CPU of the node pushes the running job
    out; Slurm sends it submitit's USR2 at once (preempt_send_user_signal), it checkpoints and is requeued,
    even when its `scontrol requeue` is still exiting as Slurm's SIGTERM for the requeue arrives."""
    starts = tmp_path / "starts"
    job = slurm_executor.submit(jobs.Resumable(), str(tmp_path))
    _wait_for(starts, job, "its first start")
    signalled = time.time()
    cpus = int(subprocess.run(["sinfo", "-h", "-N", "-o", "%c"], capture_output=True, text=True,
                              check=True).stdout.split()[0])
    slurm_executor.update_parameters(slurm_partition=slurm_cluster.urgent_partition, cpus_per_task=cpus)
    urgent = slurm_executor.submit(jobs.square, 3)
    assert urgent.result()[0] == 9
    result = job.result()
    assert result["checkpoints"] == 1 and result["starts"] == 2 and result["job_id"] == job.job_id
    second_start = float(starts.read_text().split()[1])
    print(f"preempted job started again {second_start - signalled:.1f} s after the urgent job was submitted")
