"""One owner per run folder (benchsuite/experiment/ownership.py): a second process is refused with who owns the run and
since when, a stale lock is taken over, and two `python -m benchsuite run` of one config at once write
every evaluation once."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter

import pytest

from benchsuite import records
from benchsuite.errors import RunOwned
from benchsuite.experiment import ownership
from tests.conftest import GIN, REPO, TINY_DATA


def _write_lock(run_dir, **fields):
    run_dir.mkdir(parents=True, exist_ok=True)
    owner = {"host": socket.gethostname(), "pid": os.getpid(), "started_at": "2026-01-01T00:00:00+00:00",
             "heartbeat": time.time(), "token": "other"} | fields
    (run_dir / ownership.LOCK).write_text(json.dumps(owner))


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_second_owner_is_refused_with_host_pid_and_since_and_gets_the_folder_once_it_is_released(tmp_path):
    first, second = ownership.Ownership(tmp_path / "run"), ownership.Ownership(tmp_path / "run")
    first.acquire()
    with pytest.raises(RunOwned) as refused:
        second.acquire()
    message = str(refused.value)
    assert f"host {socket.gethostname()}, pid {os.getpid()}, since {first.owner.started_at}" in message
    assert str(tmp_path / "run" / ownership.LOCK) in message
    first.release()
    assert not (tmp_path / "run" / ownership.LOCK).exists()
    second.acquire()
    assert ownership.read_owner(tmp_path / "run").token == second.owner.token
    second.release()


def test_the_lock_of_a_process_that_died_on_this_host_is_taken_over(tmp_path, capsys):
    _write_lock(tmp_path, pid=_dead_pid())
    owner = ownership.Ownership(tmp_path)
    owner.acquire()  # a lock kept by a dead pid would refuse here
    assert owner.owns()
    assert "its lock is stale (process" in capsys.readouterr().err
    owner.release()


def test_a_lock_from_another_host_is_kept_while_its_heartbeat_is_fresh_and_taken_over_after(tmp_path):
    _write_lock(tmp_path, host="node-elsewhere", pid=1)
    with pytest.raises(RunOwned, match="host node-elsewhere, pid 1, since 2026-01-01"):
        ownership.Ownership(tmp_path).acquire()
    _write_lock(tmp_path, host="node-elsewhere", pid=1, heartbeat=time.time() - ownership.STALE_AFTER_S - 1)
    owner = ownership.Ownership(tmp_path)
    owner.acquire()
    assert owner.owns()
    owner.release()


def test_an_empty_lock_file_is_someone_writing_it_unless_it_is_old(tmp_path):
    (tmp_path / ownership.LOCK).write_text("")
    with pytest.raises(RunOwned, match="writing its lock file now"):
        ownership.Ownership(tmp_path).acquire()
    old = time.time() - ownership.HEARTBEAT_S - 1
    os.utime(tmp_path / ownership.LOCK, (old, old))
    owner = ownership.Ownership(tmp_path)
    owner.acquire()
    owner.release()


def test_the_heartbeat_is_rewritten_while_the_folder_is_owned(tmp_path):
    owner = ownership.Ownership(tmp_path, heartbeat_s=0.05)
    owner.acquire()
    first = ownership.read_owner(tmp_path).heartbeat
    deadline = time.monotonic() + 10
    while ownership.read_owner(tmp_path).heartbeat == first and time.monotonic() < deadline:
        time.sleep(0.02)
    assert ownership.read_owner(tmp_path).heartbeat > first  # a lock without a heartbeat would go stale
    owner.release()


#: ERM long enough (about ten seconds) that the second start meets the first still training
BINDINGS = [
    "SmallCNN.width = 8",
    "Trainer.epochs = 24",
    "Trainer.eval_every = 6",
    "Trainer.batch_size = 32",
    "Trainer.progress = False",
    *TINY_DATA["SyntheticWaterbirds"],
    "SyntheticWaterbirds.train_size = 512",
]


@pytest.mark.slow
def test_two_runs_of_one_config_at_once_one_finishes_the_other_says_who_owns_it(tmp_path):
    command = [sys.executable, "-m", "benchsuite", "run", "--gin", str(GIN / "erm_synthetic_waterbirds.gin"),
               *(arg for binding in BINDINGS for arg in ("--gin-param", binding)), "--results", str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    processes = [subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]
    outputs = [process.communicate(timeout=240) for process in processes]
    statuses = [process.returncode for process in processes]
    assert sorted(statuses) == [0, 3], outputs
    winner = processes[statuses.index(0)]
    message = outputs[statuses.index(3)][1]
    assert message.startswith("error: The run folder") and "is owned by another run of the same config" in message
    assert f"(host {socket.gethostname()}, pid {winner.pid}, since " in message, message
    assert "Traceback" not in message
    (run_dir,) = (tmp_path / "erm_synthetic_waterbirds").iterdir()
    lines = [json.loads(line) for line in (run_dir / records.METRICS).read_text().splitlines()]
    # two writers would log every evaluation twice
    assert Counter((line["stage"], line["epoch"]) for line in lines) == {("train", e): 1 for e in (6, 12, 18, 24)}
    assert records.read_record(run_dir)["status"] == "finished"
    assert not (run_dir / ownership.LOCK).exists()  # released by the winner


def test_a_requeued_slurm_job_takes_over_its_own_lock_from_another_node(tmp_path, monkeypatch):
    # a preempted job's process was killed on node-a; SLURM requeues the same job id, here on another node:
    # without this, the requeued job would be refused until the old heartbeat went stale
    _write_lock(tmp_path, host="node-a", pid=1, slurm_job="4242", slurm_restart=0)
    monkeypatch.setenv("SLURM_JOB_ID", "4243")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    with pytest.raises(RunOwned, match="host node-a, pid 1, SLURM job 4242, since"):
        ownership.Ownership(tmp_path).acquire()  # another job's lock is kept
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "0")
    with pytest.raises(RunOwned):  # the same job, not requeued: a second run inside one allocation
        ownership.Ownership(tmp_path).acquire()
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    owner = ownership.Ownership(tmp_path)
    owner.acquire()
    assert owner.owns() and (ownership.read_owner(tmp_path).slurm_job, owner.owner.slurm_restart) == ("4242", 1)
    owner.release()
