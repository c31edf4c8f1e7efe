"""Fixtures for tests against a real single-node SLURM cluster on localhost (tests/slurm/cluster.py).

`slurm_cluster` (session scope) starts the cluster once, or skips the test with the reason where this machine
cannot run it (not root, no apt-get, packages that fail to install); BENCHSUITE_REQUIRE_SLURM=1 (set by .ci/run)
turns that skip into a failure. A daemon that does not come up is always an error. `slurm_executor` gives each
test a submitit AutoExecutor on that cluster with a fresh folder, and cancels the test's leftover jobs after it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import cloudpickle
import pytest
import submitit

from tests.slurm import jobs
from tests.slurm.cluster import Cluster, ClusterUnavailable

REQUIRE = "BENCHSUITE_REQUIRE_SLURM"


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[Cluster]:
    """The running local cluster; SLURM_CONF points at it for the session (submitit's sbatch, sacct and the
    scontrol inside jobs inherit it). Stopped at the end unless it was already running before the session."""
    cluster = Cluster()
    try:
        started = cluster.start()
    except ClusterUnavailable as error:
        reason = f"cannot start a local SLURM cluster here: {error}"
        if os.environ.get(REQUIRE) == "1":
            pytest.fail(f"{reason}\n({REQUIRE}=1 makes this a failure instead of a skip)")
        pytest.skip(reason)
    # Jobs unpickle the test functions without importing the tests package, wherever pytest runs from.
    cloudpickle.register_pickle_by_value(jobs)
    previous = {key: os.environ.get(key) for key in cluster.env}
    os.environ.update(cluster.env)
    try:
        yield cluster
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if started:
            cluster.stop()
        else:
            cluster.cancel_all()


@pytest.fixture
def slurm_executor(slurm_cluster: Cluster, tmp_path: Path) -> Iterator[submitit.AutoExecutor]:
    """An AutoExecutor on the local cluster with a fresh folder (Slurm job ids restart at 1 with each fresh
    cluster, so an old folder's result files could pass for new ones). The 15 minute limit keeps an early USR2
    a preemption for submitit 1.5.4 rather than a time-out."""
    executor = submitit.AutoExecutor(folder=tmp_path / "submitit", cluster="slurm")
    executor.update_parameters(slurm_partition=slurm_cluster.partition, timeout_min=15, cpus_per_task=1)
    yield executor
    slurm_cluster.cancel_all()


@pytest.fixture
def slow_requeue_exit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs submitted in this test find an `scontrol` that lingers 3 s after a `requeue`, as a busy node's does.

    Slurm answers `scontrol requeue` by sending the job's processes SIGTERM; a lingering scontrol is still alive
    then, so this makes the race that once failed CI (scontrol killed, the job recorded as failed although it
    was requeued) happen every time. sbatch exports the submitting environment, PATH included, to the job.
    """
    wrappers = tmp_path / "slow-scontrol"
    wrappers.mkdir()
    real = subprocess.run(["sh", "-c", "command -v scontrol"], capture_output=True, text=True, check=True)
    script = wrappers / "scontrol"
    script.write_text(f'#!/bin/sh\n{real.stdout.strip()} "$@"; rc=$?\n[ "$1" = requeue ] && sleep 3\nexit $rc\n')
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrappers}{os.pathsep}{os.environ['PATH']}")
