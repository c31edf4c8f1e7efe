"""Finding run folders under a results folder: results/<experiment>/<run_id>/, with record.json's stat.

One os.stat per run folder is the whole cost of a warm regeneration's file-system work, so the walk reads
nothing else. record.json alone decides whether a run changed: runs write it last (atomically, after their
metrics.jsonl is complete), and a run started again either rewrites it or deletes its folder first. Its
inode is compared too, because an atomic rewrite makes a new one even within the file system's mtime tick.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from benchsuite.records import RECORD

#: the schema of a walk: run key ("experiment/run_id"), record.json's mtime (ns), size and inode; null when absent
STAT_SCHEMA = {"run": pl.String, "mtime_ns": pl.Int64, "size": pl.Int64, "inode": pl.Int64}


def _visible_dirs(folder: str) -> list[str]:
    """Sub-folder names of `folder`, sorted, hidden ones (the index, editors' files) left out."""
    with os.scandir(folder) as entries:
        return sorted(entry.name for entry in entries if not entry.name.startswith(".") and entry.is_dir())


def walk(results: Path) -> pl.DataFrame:
    """A row per run folder, sorted by key; folders without record.json have null stats."""
    keys: list[str] = []
    mtimes: list[int | None] = []
    sizes: list[int | None] = []
    inodes: list[int | None] = []
    root = str(results)
    for experiment in _visible_dirs(root):
        base = f"{root}/{experiment}"
        for run in _visible_dirs(base):
            keys.append(f"{experiment}/{run}")
            try:
                stat = os.stat(f"{base}/{run}/{RECORD}")
            except FileNotFoundError:
                mtimes.append(None)
                sizes.append(None)
                inodes.append(None)
            else:
                mtimes.append(stat.st_mtime_ns)
                sizes.append(stat.st_size)
                inodes.append(stat.st_ino)
    return pl.DataFrame({"run": keys, "mtime_ns": mtimes, "size": sizes, "inode": inodes}, schema=STAT_SCHEMA)
