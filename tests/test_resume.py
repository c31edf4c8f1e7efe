"""A run killed with SIGKILL and started again with the same command resumes from its last checkpoint and
ends with the same metrics, line for line, as a run that was never interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from benchsuite import records
from tests.conftest import GIN, REPO, TINY_DATA

#: SimCLR, so that augmentation randomness must be restored too; six epochs of a few hundred images
BINDINGS = [
    "SmallCNN.width = 8",
    "Trainer.epochs = 6",
    "Trainer.eval_every = 2",
    "Trainer.batch_size = 32",
    "Trainer.progress = False",
    "LinearProbe.epochs = 2",
    *TINY_DATA["SyntheticBackgrounds"],
    "SyntheticBackgrounds.train_size = 512",
]


def _command(results):
    params = [arg for binding in BINDINGS for arg in ("--gin-param", binding)]
    return [sys.executable, "-m", "benchsuite", "run", "--gin", str(GIN / "simclr_synthetic_backgrounds.gin"),
            *params, "--results", str(results)]


def _run_dir(results):
    (run_dir,) = (results / "simclr_synthetic_backgrounds").iterdir()
    return run_dir


def _checkpointed_epoch(results) -> int:
    try:
        checkpoint = torch.load(_run_dir(results) / records.CHECKPOINT, map_location="cpu", weights_only=True)
    except (FileNotFoundError, ValueError, RuntimeError, EOFError):
        return -1
    return checkpoint["epoch"]


@pytest.mark.slow
def test_a_killed_run_resumes_and_ends_as_if_never_interrupted(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # same threads in both runs: same floating-point sums
    subprocess.run(_command(tmp_path / "whole"), cwd=REPO, env=env, check=True, capture_output=True)

    killed = tmp_path / "killed"
    process = subprocess.Popen(_command(killed), cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while _checkpointed_epoch(killed) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be killed: " + process.stderr.read().decode()
    process.send_signal(signal.SIGKILL)
    process.wait()
    epoch = _checkpointed_epoch(killed)
    assert 2 <= epoch < 5, f"killed after epoch {epoch + 1} of 6"
    assert json.loads((_run_dir(killed) / records.RECORD).read_text())["status"] == "running"

    subprocess.run(_command(killed), cwd=REPO, env=env, check=True, capture_output=True)
    whole, resumed = (json.loads((_run_dir(r) / records.RECORD).read_text()) for r in (tmp_path / "whole", killed))
    assert (resumed["status"], resumed["resumes"], whole["resumes"]) == ("finished", 1, 0)
    assert resumed["metrics"] == whole["metrics"]
    logged = [(_run_dir(r) / records.METRICS).read_text() for r in (tmp_path / "whole", killed)]
    assert logged[0] == logged[1]
