"""What a real-data run reads, as a cheap fingerprint that goes into the run id, so that data fixed (or changed)
after a run is never mistaken for the data the run saw.

The manifest of a dataset read from disk is every file its loader reads: the metadata (metadata.csv, the
attribute lists, CIFAR's pickles) and every image and mask file of every split. Its fingerprint is the
SHA-256 of the sorted lines "<path relative to the dataset folder>\t<size in bytes>": one stat per file, no
image byte is read. The run id is the hash of the canonical gin config with a line "# data manifest: <fingerprint>"
appended; datasets not read from disk (the embedded ones, identified by their generator version in the config,
and Hugging Face datasets) append nothing, so their run ids are those of the config alone.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Manifest:
    files: int
    bytes: int
    fingerprint: str

    def as_record(self) -> dict:
        return {"files": self.files, "bytes": self.bytes, "fingerprint": self.fingerprint}


def manifest(folder: Path, files: Iterable[str | Path]) -> Manifest:
    """The manifest of `files` (each counted once), with names relative to `folder` where they lie under it.
    Plain strings throughout: pathlib's relative_to would take most of the time on CelebA's 200k files."""
    prefix = os.path.join(str(folder), "")
    lines, total = [], 0
    for file in sorted(set(map(str, files))):
        size = os.stat(file).st_size
        total += size
        name = file[len(prefix):] if file.startswith(prefix) else file  # else: a mask folder bound elsewhere
        lines.append(f"{name}\t{size}")
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
    return Manifest(len(lines), total, digest)
