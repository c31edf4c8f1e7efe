"""A SLURM job's `scontrol requeue` child must outlive the SIGTERM that its own requeue makes Slurm send."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# The child shell sends itself SIGTERM, as slurmd does to every process of a job that is being requeued,
# then reports that it lived on.
_JOB = """
import subprocess
from benchsuite.sweep.submit import keep_requeue_alive
keep_requeue_alive()
print(subprocess.run(["sh", "-c", "kill -TERM $$; echo lived"], capture_output=True, text=True).stdout.strip()
      or "killed")
"""


@pytest.mark.parametrize(("in_slurm_job", "expected"), [(True, "lived"), (False, "killed")])
def test_a_child_of_a_slurm_job_survives_sigterm_and_elsewhere_nothing_changes(in_slurm_job, expected):
    env = {key: value for key, value in os.environ.items() if not key.startswith("SLURM_")}
    if in_slurm_job:
        env["SLURM_JOB_ID"] = "42"
    out = subprocess.run([sys.executable, "-c", _JOB], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected
