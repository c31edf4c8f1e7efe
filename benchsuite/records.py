"""Run ids, the run record, atomic writes and provenance.

A run lives in results/<experiment>/<run_id>/ with
- record.json: written last and atomically; its schema is documented in README.md ("Run records");
- metrics.jsonl: one line per evaluation and row (every epoch's numbers, for model selection later);
- checkpoint.pt: the latest epoch's state, for resuming; resumes.json: how often the run was resumed.
The run id is a hash of the canonical gin config, so the same config always maps to the same folder.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import resource
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch loads where a run needs it, not for the leaderboard, which reads records only
    import torch

SCHEMA_VERSION = 1
RECORD = "record.json"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.pt"
RESUMES = "resumes.json"
_LIBRARIES = ("torch", "torchvision", "gin-config", "kornia", "numpy", "scikit-learn", "polars", "datasets")


#: bindings that change how a run is displayed, how fast its images load or which extra checkpoints it keeps,
#: not what it computes: left out of the run id
_PRESENTATION_ONLY = ("Trainer.progress", "ImageLoading.", "Trainer.rule_checkpoints")


def run_id(config_str: str) -> str:
    """12 hex digits of the SHA-256 of the canonical config: gin's config string, presentation bindings removed."""
    canonical = "\n".join(line for line in config_str.splitlines() if not line.startswith(_PRESENTATION_ONLY))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write to a temporary file in the same folder, then rename: readers never see half a record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as handle:
        json.dump(payload, handle, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(handle.name, path)


def read_record(run_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((run_dir / RECORD).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def append_metrics(run_dir: Path, line: dict[str, Any]) -> None:
    with open(run_dir / METRICS, "a") as handle:
        handle.write(json.dumps(line, sort_keys=True) + "\n")


def has_metrics(run_dir: Path, stage: str, epoch: int) -> bool:
    """Whether the last evaluation in metrics.jsonl is of `stage` at `epoch` (lines are appended in order)."""
    try:
        lines = (run_dir / METRICS).read_text().splitlines()
    except FileNotFoundError:
        return False
    if not lines:
        return False
    last = json.loads(lines[-1])
    return last.get("stage") == stage and last.get("epoch") == epoch


def count_resume(run_dir: Path) -> int:
    """How many times this run folder has been resumed, this start included; 0 for a fresh start.

    Kept in its own small file, written as soon as the run starts, so that a run killed before its next
    checkpoint still counts the attempt.
    """
    path = run_dir / RESUMES
    if not (run_dir / CHECKPOINT).exists():
        path.unlink(missing_ok=True)
        return 0
    try:
        count = json.loads(path.read_text())["resumes"] + 1
    except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError):
        count = 1
    write_json_atomic(path, {"resumes": count})
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
