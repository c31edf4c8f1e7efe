"""The fault-injection driver (tests/fault_injection.py): a run killed with SIGKILL at 20 named points, and
stopped, truncated or damaged as a user would meet it, ends every time as if it had never been interrupted."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="module")
def summary(tmp_path_factory):
    out = tmp_path_factory.mktemp("faults")
    command = ["-m", "tests.fault_injection", "--out", str(out / "runs"), "--json", str(out / "summary.json")]
    done = subprocess.run(
        [sys.executable, *command], cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True,
        text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((out / "summary.json").read_text())


def _no_traceback(case):
    assert not any("Traceback" in text for text in case["stderr"]), (case["name"], case["stderr"])


@pytest.mark.slow
def test_killed_at_each_of_20_points_and_resumed_every_run_equals_the_uninterrupted_one(summary):
    kills = summary["kill_cases"]
    assert len(kills) == 20 and {case["config"] for case in kills} == {"erm", "jtt", "simclr"}
    for case in kills:
        # -9 first: the run died of SIGKILL at the named point (a point never reached would prove nothing);
        # then 0: the same command resumed it and finished
        assert case["statuses"] == [-9, 0], (case["name"], case["stderr"])
        assert case["record_statuses"][-1] == "finished", case["name"]
        # metrics.jsonl byte for byte and the record's metrics: a lost, repeated or half-written evaluation,
        # or a resume from the wrong epoch or random state, makes them differ
        assert case["identical"], case["name"]
        assert (case["lost"], case["duplicated"], case["broken_lines"]) == (0, 0, 0), case["name"]
        _no_traceback(case)
    # a kill after a checkpoint must count as a resume: runs killed before their first checkpoint start afresh
    resumed = {case["name"] for case in kills if case["resumes"] == 1}
    assert {"checkpoint.replaced:2", "metrics.half:2", "stage.start:2", "epoch.linear_probe:4"} <= resumed
    assert summary["evaluations_lost"] == 0 and summary["identical"] == summary["cases"]


@pytest.mark.slow
def test_ctrl_c_and_sigterm_stop_the_run_record_it_interrupted_and_say_where_the_checkpoint_is(summary):
    cases = {case["name"]: case for case in summary["user_cases"]}
    for name, status, epoch in (("sigint", 130, 2), ("sigterm", 143, 1)):
        case = cases[name]
        assert case["statuses"] == [status, 0] and case["record_statuses"] == ["interrupted", "finished"], name
        message = case["stderr"][0]
        assert message.startswith("stopped: Stopped by SIG"), message
        assert f"checkpoint.pt (stage 'train', after epoch {epoch})" in message, message
        assert "the same command resumes the run" in message, message
        assert case["identical"], name
        _no_traceback(case)


@pytest.mark.slow
def test_a_truncated_checkpoint_is_named_and_the_run_resumes_from_the_previous_one(summary):
    case = {case["name"]: case for case in summary["user_cases"]}["truncated-checkpoint"]
    assert case["statuses"] == [-9, 0] and case["identical"]
    note = case["stderr"][1]
    assert "checkpoint.pt does not load (RuntimeError" in note and "checkpoint.corrupt.pt" in note, note
    assert "resuming from the previous checkpoint" in note, note
    assert "checkpoint.previous.pt (stage 'train', after epoch 1)" in note, note
    # kept aside for a look, in this case only: with no good checkpoint to fall back on nothing is moved
    assert [path.split("/")[0] for path in summary["corrupt_checkpoint_kept"]] == ["user-truncated-checkpoint"]
    _no_traceback(case)


@pytest.mark.slow
def test_a_truncated_only_checkpoint_stops_with_status_2_and_says_what_force_does(summary):
    case = {case["name"]: case for case in summary["user_cases"]}["truncated-only-checkpoint"]
    assert case["statuses"] == [-9, 2, 0], case["stderr"]
    message = case["stderr"][1]
    assert "error: The run folder" in message and "has no checkpoint that loads (checkpoint.pt: " in message
    assert "with --force to delete the folder and train the run from the start" in message
    assert case["identical"]  # the --force run
    _no_traceback(case)


@pytest.mark.slow
def test_a_malformed_record_or_resumes_file_is_named_and_the_run_resumes(summary):
    cases = {case["name"]: case for case in summary["user_cases"]}
    record = cases["malformed-record"]
    assert record["statuses"] == [-9, 0] and record["identical"]
    assert "record.json is malformed (JSONDecodeError" in record["stderr"][1]
    resumes = cases["malformed-resumes"]
    assert resumes["statuses"] == [-9, -9, 0] and resumes["identical"]
    assert "resumes.json is malformed (it holds a JSON list, not an object)" in resumes["stderr"][2]
    assert resumes["resumes"] == 2  # recovered from record.json's count, not restarted at 1
    for case in (record, resumes):
        _no_traceback(case)
