"""The consolidated index of a results folder: three parquet files kept beside the runs and updated
incrementally, so that regenerating the leaderboards reads one stat per run instead of every record.

`<results>/.leaderboard-index/runs.v4.parquet` has a row per run folder (its record.json's mtime, size, inode,
its facts or the reason it cannot be used); `evaluations.v4.parquet` a row per evaluation line of the usable
runs; `settings.v4.parquet` the bindings of each hyperparameter setting, to name the chosen ones. An update
walks the folder, compares the stats with the runs table, reads only the new and changed folders, drops the
removed ones, and rewrites the files atomically (nothing when nothing changed).
The version in the names changes whenever the index's columns or their meaning change (v2: settings from the
command, not the operative config; v3: the runs' cost and family, and the reruns of best settings; v4: the
dataset's own parameters bound by a command make a benchmark variant, not a setting): an old index is rebuilt.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from benchsuite import records
from benchsuite.errors import StorageError
from benchsuite.leaderboard.discover import walk
from benchsuite.leaderboard.ingest import EVAL_SCHEMA, RUN_SCHEMA, SETTING_SCHEMA, ingest

INDEX_DIR = ".leaderboard-index"
_RUNS = "runs.v4.parquet"
_EVALUATIONS = "evaluations.v4.parquet"
_SETTINGS = "settings.v4.parquet"


@dataclass
class Index:
    """The index's two tables and what the last update did."""

    runs: pl.DataFrame
    evaluations: pl.LazyFrame
    settings: pl.LazyFrame
    added: int
    removed: int
    unchanged: int
    note: str | None = None


def _write_parquet(frame: pl.DataFrame, path: Path) -> None:
    records.write_atomic(path, lambda file: frame.write_parquet(file, statistics=False), "leaderboard_index")


def _previous_runs(folder: Path) -> pl.DataFrame | None:
    """The stored runs table, if the index exists, is readable and was written by this version of the code;
    the evaluations file is only checked here (its schema), and read when something changed."""
    try:
        runs = pl.read_parquet(folder / _RUNS)
        evaluations = pl.read_parquet_schema(folder / _EVALUATIONS)
        settings = pl.read_parquet_schema(folder / _SETTINGS)
    except (OSError, pl.exceptions.PolarsError):
        return None  # missing or damaged: rebuilt, the index holds nothing that the run folders do not
    fixed = {name: evaluations.get(name) for name in EVAL_SCHEMA}
    if dict(runs.schema) != RUN_SCHEMA or fixed != EVAL_SCHEMA or dict(settings) != SETTING_SCHEMA:
        return None  # written by another version of this code
    return runs


def update(results: Path) -> Index:
    """Bring the index of `results` up to date with its run folders and return it."""
    folder = results / INDEX_DIR
    stats = walk(results)
    old_runs = _previous_runs(folder)
    stored = old_runs is not None
    if old_runs is None:
        old_runs = pl.DataFrame(schema=RUN_SCHEMA)
    known = old_runs.select("run", old_mtime="mtime_ns", old_size="size", old_inode="inode", known=pl.lit(True))
    changed = (
        stats.join(known, on="run", how="left")
        .filter(
            pl.col("known").is_null()
            | pl.col("mtime_ns").ne_missing(pl.col("old_mtime"))
            | pl.col("size").ne_missing(pl.col("old_size"))
            | pl.col("inode").ne_missing(pl.col("old_inode"))
        )
        .select(stats.columns)
    )
    gone = old_runs.join(stats.select("run"), on="run", how="anti")["run"]
    if stored and changed.is_empty() and gone.is_empty():
        scan = pl.scan_parquet
        return Index(old_runs, scan(folder / _EVALUATIONS), scan(folder / _SETTINGS), 0, 0, len(stats))

    try:
        old_evaluations = pl.read_parquet(folder / _EVALUATIONS) if stored else pl.DataFrame(schema=EVAL_SCHEMA)
        old_settings = pl.read_parquet(folder / _SETTINGS) if stored else pl.DataFrame(schema=SETTING_SCHEMA)
    except (OSError, pl.exceptions.PolarsError):  # damaged since its schema was read: start again
        old_runs, old_evaluations = pl.DataFrame(schema=RUN_SCHEMA), pl.DataFrame(schema=EVAL_SCHEMA)
        old_settings = pl.DataFrame(schema=SETTING_SCHEMA)
        changed, gone = stats, old_runs["run"]
    fresh = ingest(results, changed)
    replaced = pl.concat([changed["run"], gone]).to_frame()
    runs = pl.concat([old_runs.join(replaced, on="run", how="anti"), fresh.runs]).sort("run")
    evaluations = pl.concat(
        [old_evaluations.join(replaced, on="run", how="anti"), fresh.evaluations], how="diagonal_relaxed"
    ).sort("run", "line")
    # only the settings that some run still has
    settings = (
        pl.concat([old_settings, fresh.settings]).unique("setting", keep="last")
        .join(runs.select("setting").drop_nulls().unique(), on="setting", how="semi").sort("setting")
    )
    note = None
    try:
        folder.mkdir(exist_ok=True)
        _write_parquet(evaluations, folder / _EVALUATIONS)
        _write_parquet(settings, folder / _SETTINGS)
        _write_parquet(runs, folder / _RUNS)
    except (OSError, StorageError) as error:
        # a read-only results folder still gets its leaderboard, only without the speed-up next time
        cause = error if isinstance(error, OSError) else error.__cause__
        reason = getattr(cause, "strerror", None) or cause
        note = f"the index could not be saved in {folder} ({reason}): every run was read"
    return Index(
        runs, evaluations.lazy(), settings.lazy(), len(changed), len(gone), len(stats) - len(changed), note
    )
