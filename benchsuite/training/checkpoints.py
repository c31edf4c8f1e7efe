"""Checkpoints that survive their own corruption.

A checkpoint is written whole beside the old one, flushed and read back (records.write_atomic); only then
does the old checkpoint.pt become checkpoint.previous.pt and the new one take its place. So the run folder
holds at every moment at least one complete checkpoint, once it has written one.

On resume, checkpoint.pt is loaded, or checkpoint.previous.pt when checkpoint.pt is missing (a kill between
the two renames) or does not load (a copy cut short, a disk that filled up): the broken file is moved aside
as checkpoint.corrupt.pt, so the next checkpoint cannot push the good previous one out, and the note names it
with the reason. With no checkpoint that loads, the run stops with one paragraph that says what --force does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from benchsuite import records
from benchsuite.errors import ConfigError, StorageError, storage_message

CORRUPT = "checkpoint.corrupt.pt"


def save(run_dir: Path, checkpoint: dict[str, Any]) -> None:
    """Write `checkpoint` as run_dir/checkpoint.pt, keeping the one it replaces as checkpoint.previous.pt."""
    records.write_atomic(
        run_dir / records.CHECKPOINT, lambda file: torch.save(checkpoint, file), "checkpoint",
        keep_previous=run_dir / records.PREVIOUS_CHECKPOINT,
    )


def drop_previous(run_dir: Path) -> None:
    """Delete checkpoint.previous.pt once the run has finished: a finished run is not resumed, and the copy
    would double the disk a sweep's checkpoints take."""
    (run_dir / records.PREVIOUS_CHECKPOINT).unlink(missing_ok=True)


def _load(path: Path, mmap: bool = False) -> tuple[dict[str, Any] | None, str | None]:
    """The checkpoint in `path` and None, or None and why it does not load (None, None when missing)."""
    if not path.exists():
        return None, None
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as error:  # a truncated zip, bad pickle, or an I/O error: all mean "does not load"
        first = str(error).splitlines()[0].split(". ")[0] if str(error) else "no detail"  # torch appends advice
        return None, f"{type(error).__name__}: {first}"
    if not isinstance(checkpoint, dict) or not {"stage_index", "epoch", "state"} <= checkpoint.keys():
        return None, "it is not a checkpoint of this suite (no stage_index, epoch and state)"
    return checkpoint, None


def describe(run_dir: Path) -> str:
    """Where the run's latest checkpoint that loads is, in words (memory-mapped: only its header is read)."""
    for name in (records.CHECKPOINT, records.PREVIOUS_CHECKPOINT):
        checkpoint, _ = _load(run_dir / name, mmap=True)
        if checkpoint is not None:
            return f"{run_dir / name} (stage {checkpoint['stage']!r}, after epoch {checkpoint['epoch'] + 1})"
    return f"none in {run_dir}: the run stopped before the end of its first epoch, and starts again from the beginning"


def load(run_dir: Path, repair: bool = True) -> dict[str, Any] | None:
    """The latest checkpoint of `run_dir` that loads, None for a run that has none yet.

    repair: move a checkpoint.pt that does not load aside and say so (the process that writes the run's files;
    the others only read). Raises ConfigError (exit status 2) when there are checkpoints but none loads.
    """
    current = run_dir / records.CHECKPOINT
    checkpoint, problem = _load(current)
    if checkpoint is not None:
        return checkpoint
    previous = run_dir / records.PREVIOUS_CHECKPOINT
    fallback, fallback_problem = _load(previous)
    if fallback is not None and problem is not None and repair:
        corrupt = run_dir / CORRUPT
        try:
            os.replace(current, corrupt)
        except OSError as error:
            raise StorageError(storage_message(corrupt, error)) from None
        records.notice(
            f"the checkpoint {current} does not load ({problem}); moved it aside as {corrupt} and resuming from "
            f"the previous checkpoint, {previous} (stage {fallback['stage']!r}, after epoch {fallback['epoch'] + 1})."
        )
    if fallback is not None or (problem is None and fallback_problem is None):
        return fallback  # None: no checkpoint yet; else checkpoint.pt is missing (killed between the renames)
    reasons = "; ".join(
        f"{path.name}: {reason}" for path, reason in ((current, problem), (previous, fallback_problem)) if reason
    )
    raise ConfigError(
        f"The run folder {run_dir} has no checkpoint that loads ({reasons}), so the run cannot resume. Run the "
        "same command with --force to delete the folder and train the run from the start (its evaluations so "
        f"far, in {records.METRICS}, are deleted with it), or restore a checkpoint from a copy."
    )
