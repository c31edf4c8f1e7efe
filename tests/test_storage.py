"""File-system failures around a run: each is one paragraph naming the path and the cause, with its exit
status, and never leaves a half-written file in place of a good one (records.write_atomic)."""

from __future__ import annotations

import errno
import json
import os

import pytest

from benchsuite import records
from benchsuite.cli import main
from benchsuite.training import checkpoints
from tests.conftest import GIN, TINY, TINY_DATA

ARGS = ["--gin", str(GIN / "erm_synthetic_waterbirds.gin"),
        *(arg for binding in [*TINY, "Trainer.epochs = 2", *TINY_DATA["SyntheticWaterbirds"]]
          for arg in ("--gin-param", binding))]


def _one_paragraph(text: str) -> str:
    assert text.startswith("error: ") and text.count("\n") == 1 and "Traceback" not in text, text
    return text


@pytest.mark.parametrize("below", ["", "sub"])
def test_results_on_a_file_is_one_paragraph_and_status_2(tmp_path, capsys, below):
    # the reported NotADirectoryError traceback came from `--results <file>/...`
    file = tmp_path / "a-file"
    file.write_text("")
    results = file / below if below else file
    assert main(["run", *ARGS, "--results", str(results)]) == 2
    error = _one_paragraph(capsys.readouterr().err)
    assert f"--results {results} cannot be used: {file} is a file, not a folder" in error


def _full_disk_at(monkeypatch, name: str, call: int) -> None:
    """Make the `call`-th fsync of a temporary file of `name` fail as a full disk does."""
    real, seen = os.fsync, []

    def fsync(descriptor: int) -> None:
        if f".{name}." in os.readlink(f"/proc/self/fd/{descriptor}"):
            seen.append(descriptor)
            if len(seen) == call:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(descriptor)

    monkeypatch.setattr(os, "fsync", fsync)


@pytest.mark.slow
def test_a_full_disk_during_a_checkpoint_keeps_the_last_good_one_and_the_run_resumes(tmp_path, capsys, monkeypatch):
    _full_disk_at(monkeypatch, records.CHECKPOINT, call=2)
    assert main(["run", *ARGS, "--results", str(tmp_path)]) == 1
    error = _one_paragraph(capsys.readouterr().err)
    (run_dir,) = (tmp_path / "erm_synthetic_waterbirds").iterdir()
    assert f"Could not write {run_dir / records.CHECKPOINT}: No space left on device" in error
    assert sorted(path.name for path in run_dir.iterdir()) == [
        records.CHECKPOINT, records.METRICS, "record.json"
    ]  # no temporary file left, no lock left
    assert checkpoints.load(run_dir)["epoch"] == 0  # epoch 1's checkpoint, whole
    record = records.read_record(run_dir)
    assert record["status"] == "failed" and record["error"].startswith("StorageError: Could not write")
    monkeypatch.undo()
    assert main(["run", *ARGS, "--results", str(tmp_path)]) == 0  # space freed: the same command resumes
    assert records.read_record(run_dir)["resumes"] == 1
    assert not (run_dir / records.PREVIOUS_CHECKPOINT).exists()  # a finished run keeps one checkpoint, not two


@pytest.mark.slow
def test_a_full_disk_while_writing_the_record_leaves_the_previous_record_whole(tmp_path, capsys, monkeypatch):
    _full_disk_at(monkeypatch, records.RECORD, call=2)  # the finished record; the first is the running one
    assert main(["run", *ARGS, "--results", str(tmp_path)]) == 1
    (run_dir,) = (tmp_path / "erm_synthetic_waterbirds").iterdir()
    assert f"Could not write {run_dir / records.RECORD}: No space left on device" in _one_paragraph(
        capsys.readouterr().err
    )
    assert json.loads((run_dir / records.RECORD).read_text())["status"] == "running"  # valid, not half written
