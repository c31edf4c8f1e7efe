"""The errors that the command line turns into a one-paragraph message and an exit status, never a traceback.

ConfigError (status 2) is bad input; the others are what happens to a run folder around the run: another
process owns it (status 3), a file in it cannot be written or read (status 1), the run was stopped by a
signal (128 + the signal's number, as a shell reports a process killed by it).
"""

from __future__ import annotations

import signal


class ConfigError(ValueError):
    """Bad input from the user: a gin file, a binding, a path or a dataset that is not as expected.

    The message is a complete paragraph: what is wrong, where (file and line, binding or path), and the
    valid choices or the fix.
    """

    status = 2


class StorageError(RuntimeError):
    """A file of a run could not be written or read back (a full disk, a lost permission); the message names
    the path and the cause. The file it would have replaced is left as it was."""

    status = 1


class RunOwned(RuntimeError):
    """Another live process owns the run folder (ownership.py); the message says which and since when."""

    status = 3


class RunInterrupted(RuntimeError):
    """SIGINT or SIGTERM stopped the run; the message says where its last checkpoint is."""

    def __init__(self, message: str, signal_number: int) -> None:
        super().__init__(message)
        self.status = 128 + signal_number


class Terminated(BaseException):
    """Raised by the SIGTERM handler of run.stop_on_sigterm; like KeyboardInterrupt, `except Exception` lets it
    through."""


def storage_message(path: object, error: OSError) -> str:
    """One paragraph for an OSError on `path`: the path, the cause, and what was kept."""
    cause = error.strerror or str(error) or type(error).__name__
    return (
        f"Could not write {path}: {cause} ({type(error).__name__}). Nothing was put in its place: the file keeps "
        "its previous content, if it had any. Free space or fix the permission, then run the same command again; "
        "a run resumes from its last checkpoint."
    )


#: the signals that stop a run outside SLURM, by name for the messages
SIGNAL_NAMES = {signal.SIGINT: "SIGINT (Ctrl-C)", signal.SIGTERM: "SIGTERM"}
