"""Run ids, the run record, the one atomic write and provenance.

A run lives in results/<experiment>/<run_id>/ with
- record.json: written last and atomically; its schema is documented in README.md ("Run records");
- metrics.jsonl: one line per evaluation and row (every epoch's numbers, for model selection later);
- checkpoint.pt: the latest epoch's state, for resuming, and checkpoint.previous.pt, the one before it
  (checkpoints.py); resumes.json: how often the run was resumed; owner.json: the process that owns the
  folder while a run is in it (ownership.py).
Every file but metrics.jsonl is replaced whole by `write_atomic`; metrics.jsonl is cut back to the length
the checkpoint recorded when a run resumes, so a kill never leaves half a line or an evaluation twice.
The run id is a hash of the canonical gin config, so the same config always maps to the same folder.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib.metadata
import io
import json
import os
import platform
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from benchsuite.errors import StorageError, storage_message
from benchsuite.faults import kill_point

if TYPE_CHECKING:  # torch loads where a run needs it, not for the leaderboard, which reads records only
    import torch

SCHEMA_VERSION = 1
RECORD = "record.json"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.pt"
PREVIOUS_CHECKPOINT = "checkpoint.previous.pt"
RESUMES = "resumes.json"
_LIBRARIES = ("torch", "torchvision", "gin-config", "kornia", "numpy", "scikit-learn", "polars", "datasets")


#: bindings that change how a run is displayed, how fast its images load or which extra checkpoints it keeps,
#: not what it computes: left out of the run id
_PRESENTATION_ONLY = ("Trainer.progress", "ImageLoading.", "Trainer.rule_checkpoints")


def run_id(config_str: str) -> str:
    """12 hex digits of the SHA-256 of the canonical config: gin's config string, presentation bindings removed."""
    canonical = "\n".join(line for line in config_str.splitlines() if not line.startswith(_PRESENTATION_ONLY))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def write_atomic(
    path: Path, data: bytes | Callable[[BinaryIO], object], point: str, keep_previous: Path | None = None
) -> None:
    """Replace `path` by `data` so that it holds either its old content or all of `data`, never a part: the one
    way the suite writes a file that others may read (records, checkpoints, caches, the leaderboard's index).

    `data` is the bytes, or a function that writes them to a binary file (`lambda f: torch.save(state, f)`,
    `frame.write_parquet`). The bytes go to a temporary file beside `path`, are flushed to disk and read back,
    and only then is the file renamed over `path`; with `keep_previous`, the old `path` is first moved there.
    Any failure (a full disk) removes the temporary file and raises StorageError naming `path` and the cause.
    `point` names the kill points on the way (faults.py).
    """
    if callable(data):
        buffer = io.BytesIO()
        data(buffer)
        data = buffer.getvalue()
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "wb") as handle:
            handle.write(data[: len(data) // 2])
            handle.flush()
            kill_point(f"{point}.half")
            handle.write(data[len(data) // 2 :])
            handle.flush()
            os.fsync(handle.fileno())
        if temporary.read_bytes() != data:
            raise OSError(errno.EIO, "the file read back differs from what was written")
        kill_point(f"{point}.written")
        if keep_previous is not None and path.exists():
            os.replace(path, keep_previous)
            kill_point(f"{point}.rotated")
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise StorageError(storage_message(path, error)) from error  # the cause, for callers that report it
        raise
    kill_point(f"{point}.replaced")


def write_json_atomic(path: Path, payload: dict[str, Any], point: str = "record") -> None:
    """`write_atomic` of `payload` as indented JSON: readers never see half a record."""
    write_atomic(path, (json.dumps(payload, indent=2, sort_keys=True) + "\n").encode(), point)


def notice(message: str) -> None:
    """A note on stderr about something the run repaired or set aside (a corrupt file), and how."""
    print(f"note: {message}", file=sys.stderr, flush=True)


def _read_json(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The JSON object in `path` and None, or None and why it could not be read (None, None when missing)."""
    try:
        payload = json.loads(path.read_text())
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return None, f"{type(error).__name__}: {error}"
    if not isinstance(payload, dict):
        return None, f"it holds a JSON {type(payload).__name__}, not an object"
    return payload, None


def read_record(run_dir: Path) -> dict[str, Any] | None:
    """The run's record; None if there is none or it cannot be read (`record_problem` says why)."""
    return _read_json(run_dir / RECORD)[0]


def record_problem(run_dir: Path) -> str | None:
    """Why record.json cannot be read, or None if it reads or does not exist."""
    return _read_json(run_dir / RECORD)[1]


def append_metrics(run_dir: Path, lines: list[dict[str, Any]]) -> None:
    """Append one evaluation's lines to metrics.jsonl; a write cut short is cut back on resume (`truncate_metrics`)."""
    text = "".join(json.dumps(line, sort_keys=True) + "\n" for line in lines).encode()
    path = run_dir / METRICS
    try:
        with open(path, "ab") as handle:
            handle.write(text[: len(text) // 2])
            handle.flush()
            kill_point("metrics.half")
            handle.write(text[len(text) // 2 :])
    except OSError as error:
        raise StorageError(storage_message(path, error)) from None
    kill_point("metrics.appended")


def metrics_size(run_dir: Path) -> int:
    """The length of metrics.jsonl in bytes (0 if there is none), kept in each checkpoint."""
    try:
        return (run_dir / METRICS).stat().st_size
    except FileNotFoundError:
        return 0


def truncate_metrics(run_dir: Path, size: int) -> None:
    """Cut metrics.jsonl back to `size` bytes: the evaluations logged up to a checkpoint, before it is resumed."""
    path = run_dir / METRICS
    if metrics_size(run_dir) == size:
        return
    try:
        with open(path, "ab") as handle:
            handle.truncate(size)
    except OSError as error:
        raise StorageError(storage_message(path, error)) from None


def has_metrics(run_dir: Path, stage: str, epoch: int) -> bool:
    """Whether the last evaluation in metrics.jsonl is of `stage` at `epoch` (for checkpoints written before
    they recorded the length of metrics.jsonl)."""
    try:
        lines = (run_dir / METRICS).read_text().splitlines()
    except FileNotFoundError:
        return False
    if not lines:
        return False
    try:
        last = json.loads(lines[-1])
    except json.JSONDecodeError:
        return False
    return last.get("stage") == stage and last.get("epoch") == epoch


def count_resume(run_dir: Path) -> int:
    """How many times this run folder has been resumed, this start included; 0 for a fresh start.

    Kept in its own small file, written as soon as the run starts, so that a run killed before its next
    checkpoint still counts the attempt.
    """
    path = run_dir / RESUMES
    if not any((run_dir / name).exists() for name in (CHECKPOINT, PREVIOUS_CHECKPOINT)):
        path.unlink(missing_ok=True)
        return 0
    saved, problem = _read_json(path)
    if saved is not None and isinstance(saved.get("resumes"), int):
        count = saved["resumes"] + 1
    else:
        record = read_record(run_dir) or {}
        count = record["resumes"] + 1 if isinstance(record.get("resumes"), int) else 1
        if problem is not None or saved is not None:
            notice(f"{path} is malformed ({problem or 'no integer resumes'}); counting this start as resume "
                   f"{count}, from record.json's count, and rewriting it.")
    write_json_atomic(path, {"resumes": count}, point="resumes")
    return count


def git(*args: str) -> str | None:
    """`git args` run in the suite's package folder: its stripped output, or None outside a checkout or on error."""
    try:
        done = subprocess.run(["git", *args], cwd=Path(__file__).resolve().parent, capture_output=True, text=True,
                              timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_state() -> dict[str, Any]:
    """The commit and dirty flag of the repository holding the suite's source (None outside a checkout)."""
    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def device_description(device: torch.device) -> str:
    import torch

    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def peak_memory(device: torch.device) -> dict[str, float]:
    """Peak resident memory of this process and, on CUDA, peak allocated device memory, in MiB."""
    peak = {"cpu_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if device.type == "cuda":
        import torch

        peak["gpu_max_allocated_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    return peak
