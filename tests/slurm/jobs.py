"""Plain functions that the SLURM smoke tests submit; they report where and how often they ran."""

from __future__ import annotations

import os
import time
from pathlib import Path

import submitit

from benchsuite.sweep.submit import keep_requeue_alive


def square(x: int) -> tuple[int, str]:
    """x squared, with the SLURM job id it ran under (proof that it went through the cluster)."""
    return x * x, os.environ["SLURM_JOB_ID"]


def fail(message: str) -> None:
    raise ValueError(message)


def wait_forever(started: str) -> None:
    """Touches `started` then sleeps until it is killed."""
    Path(started).touch()
    time.sleep(3600)


class Resumable(submitit.helpers.Checkpointable):
    """Waits in its first run until it is preempted, then finishes in the next.

    Each start appends its time to `<folder>/starts`; checkpoint() counts its calls in the object that
    submitit pickles for the requeued job, so the second run knows it was checkpointed first.
    """

    def __init__(self) -> None:
        self.checkpoints = 0

    def __call__(self, folder: str) -> dict[str, object]:
        keep_requeue_alive()  # as the suite's SweepJob does; without it a busy node can fail the requeue
        starts = Path(folder) / "starts"
        with starts.open("a") as log:
            log.write(f"{time.time()}\n")
        if self.checkpoints == 0:
            time.sleep(3600)  # the test preempts the job long before this ends
        return {"checkpoints": self.checkpoints, "starts": len(starts.read_text().split()),
                "job_id": os.environ["SLURM_JOB_ID"], "restarts": os.environ.get("SLURM_RESTART_COUNT", "0")}

    def checkpoint(self, *args: object, **kwargs: object) -> submitit.helpers.DelayedSubmission:
        self.checkpoints += 1
        return super().checkpoint(*args, **kwargs)
