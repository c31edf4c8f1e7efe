"""One owner per run folder: a lock file that works on the shared file systems clusters use.

A run takes its folder by creating run_dir/owner.json with O_CREAT | O_EXCL, which is atomic on local file
systems and on NFS v3 and later, unlike flock or fcntl locks, which some cluster file systems do not pass
on between hosts. The file names the owner's host, process id and start time, and a heartbeat that a thread
rewrites every HEARTBEAT_S seconds. Another process on the same config finds the file and stops with
RunOwned (exit status 3), saying who owns the run and since when; a sweep lists the run as running
elsewhere and does not submit it.

A lock is stale, and is taken over, when its process is gone (same host: the pid is not running), when it
is this SLURM job's own from before a requeue (same SLURM_JOB_ID, a lower SLURM_RESTART_COUNT: preempted,
requeued, maybe on another node), or when its heartbeat is older than STALE_AFTER_S (any host: a dead node
stops the heartbeat). Taking over goes through a second O_EXCL file, owner.json.takeover, so that of two
processes finding the same stale lock only one replaces it.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from benchsuite import records
from benchsuite.errors import RunOwned, StorageError, storage_message

LOCK = "owner.json"
HEARTBEAT_S = 30.0
#: ten missed heartbeats: generous for clock skew between hosts and for a node stalled by I/O
STALE_AFTER_S = 300.0
#: a takeover file older than this was left by a process that died while taking over
_TAKEOVER_STALE_S = 30.0


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    started_at: str
    heartbeat: float
    token: str
    #: SLURM_JOB_ID of the owner's job (None outside SLURM) and how often SLURM had requeued it
    slurm_job: str | None = None
    slurm_restart: int = 0

    def describe(self) -> str:
        job = f", SLURM job {self.slurm_job}" if self.slurm_job else ""
        return f"host {self.host}, pid {self.pid}{job}, since {self.started_at}"


def read_owner(run_dir: Path) -> Owner | None:
    """The owner in run_dir/owner.json; None if there is no lock file or it is not a complete one."""
    try:
        return Owner(**json.loads((run_dir / LOCK).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _process_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _slurm_restart() -> int:
    return int(os.environ.get("SLURM_RESTART_COUNT") or 0)


def stale_reason(owner: Owner | None, lock: Path, now: float | None = None) -> str | None:
    """Why the lock (whose content is `owner`) is stale, or None while its owner is alive."""
    now = time.time() if now is None else now
    if owner is None:  # created but never filled in: its process died between creating and writing it
        try:
            age = now - lock.stat().st_mtime
        except FileNotFoundError:
            return "it is gone"
        return f"it is incomplete and {age:.0f} s old" if age > HEARTBEAT_S else None
    if owner.host == socket.gethostname() and not _process_running(owner.pid):
        return f"process {owner.pid} is not running on {owner.host}"
    if owner.slurm_job is not None and owner.slurm_job == os.environ.get("SLURM_JOB_ID") and (
        owner.slurm_restart < _slurm_restart()
    ):
        return f"it is this SLURM job's ({owner.slurm_job}), from before it was requeued"
    if now - owner.heartbeat > STALE_AFTER_S:
        return f"its last heartbeat is {now - owner.heartbeat:.0f} s old"
    return None


def live_owner(run_dir: Path) -> Owner | None:
    """The owner of `run_dir` if it has one and it is alive (a read-only look)."""
    owner = read_owner(run_dir)
    return owner if owner is not None and stale_reason(owner, run_dir / LOCK) is None else None


def check_free(run_dir: Path) -> None:
    """Raise RunOwned if a live process owns `run_dir` (a read-only look, before the data is built)."""
    owner = live_owner(run_dir)
    if owner is not None:
        raise RunOwned(_owned_message(run_dir, owner))


def _owned_message(run_dir: Path, owner: Owner | None) -> str:
    who = owner.describe() if owner is not None else "another process that is writing its lock file now"
    return (
        f"The run folder {run_dir} is owned by another run of the same config ({who}), which is still "
        f"running; its lock is {run_dir / LOCK}. Wait for it to finish (the same command then reports the "
        "finished run), or stop that process; a lock whose process has died is taken over by the next start."
    )


class Ownership:
    """Holds run_dir/owner.json from `acquire` to `release`, rewriting its heartbeat from a thread."""

    def __init__(self, run_dir: Path, heartbeat_s: float = HEARTBEAT_S) -> None:
        self.run_dir = run_dir
        self.lock = run_dir / LOCK
        self.heartbeat_s = heartbeat_s
        self.owner = Owner(
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            heartbeat=time.time(),
            token=uuid.uuid4().hex,
            slurm_job=os.environ.get("SLURM_JOB_ID"),
            slurm_restart=_slurm_restart(),
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> None:
        """Take the folder, or raise RunOwned naming its live owner; a stale lock is taken over."""
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StorageError(storage_message(self.run_dir, error)) from None
        for _ in range(3):
            if self._create():
                self._thread = threading.Thread(target=self._beat, name="benchsuite-heartbeat", daemon=True)
                self._thread.start()
                return
            owner = read_owner(self.run_dir)
            reason = stale_reason(owner, self.lock)
            if reason is None:
                raise RunOwned(_owned_message(self.run_dir, owner))
            self._take_over(owner, reason)
        raise RunOwned(_owned_message(self.run_dir, read_owner(self.run_dir)))

    def _create(self) -> bool:
        try:
            descriptor = os.open(self.lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        except OSError as error:
            raise StorageError(storage_message(self.lock, error)) from None
        with os.fdopen(descriptor, "w") as handle:
            json.dump(asdict(self.owner), handle)
            handle.flush()
            os.fsync(handle.fileno())
        return True

    def _take_over(self, stale: Owner | None, reason: str) -> None:
        """Remove the stale lock, unless another process is taking it over at the same moment."""
        guard = self.lock.with_name(LOCK + ".takeover")
        try:
            descriptor = os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                if time.time() - guard.stat().st_mtime > _TAKEOVER_STALE_S:
                    guard.unlink(missing_ok=True)
            except FileNotFoundError:
                pass
            time.sleep(0.2)  # the other process is taking over; `acquire` then finds its lock
            return
        os.close(descriptor)
        try:
            current = read_owner(self.run_dir)
            # nobody replaced the stale lock meanwhile (an empty one just created by a new owner is not stale)
            if current == stale and stale_reason(current, self.lock) is not None:
                self.lock.unlink(missing_ok=True)
                who = stale.describe() if stale is not None else "an unknown process"
                records.notice(f"taking over {self.run_dir} from {who}: its lock is stale ({reason}).")
        finally:
            guard.unlink(missing_ok=True)

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            if not self.owns():  # taken over meanwhile (this process had stalled)
                records.notice(f"lost the ownership of {self.run_dir} to {read_owner(self.run_dir)}.")
                return
            self.owner = Owner(**(asdict(self.owner) | {"heartbeat": time.time()}))
            try:
                records.write_json_atomic(self.lock, asdict(self.owner), point="owner")
            except StorageError as error:  # a full disk: the run itself fails on its next write
                records.notice(str(error))

    def owns(self) -> bool:
        """Whether the lock is still this process's (not taken over after a stall)."""
        owner = read_owner(self.run_dir)
        return owner is not None and owner.token == self.owner.token

    def release(self) -> None:
        """Stop the heartbeat and remove the lock if it is still this process's; again, it does nothing."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.owns():
            self.lock.unlink(missing_ok=True)
