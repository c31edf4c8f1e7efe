"""The leaderboard index is updated incrementally (only new, changed and removed run folders are read) and the
generated folder is deterministic: the same records give the same bytes, PNGs included, cold or warm."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import polars as pl
import pytest

from benchsuite.leaderboard import index as run_index
from benchsuite.leaderboard.build import generate
from tests.leaderboard_records import markdown_table, write_run
from tests.test_leaderboard import _golden, _selection_fixture


def _erm(results: Path, run_id: str, seed: int, top1: float) -> Path:
    metrics = {"val/top1": top1, "test/top1": top1, "test/worst_group": top1 / 2, "biased": 0.9, "debiased": top1}
    return write_run(results, "erm", run_id, dataset="Toy", method="ERM", seed=seed,
                     evaluations=[("train", 1, "ERM", metrics)])


def _test_top1(index: run_index.Index) -> dict[str, float]:
    frame = index.evaluations.select("run", "test/top1").collect()
    return dict(frame.iter_rows())


def test_index_reads_only_new_changed_and_removed_runs(tmp_path):
    results = tmp_path / "results"
    for seed, top1 in enumerate([0.5, 0.6, 0.7]):
        _erm(results, f"r{seed}", seed, top1)
    first = run_index.update(results)
    assert (first.added, first.removed, first.unchanged) == (3, 0, 0)
    parquet = results / run_index.INDEX_DIR / "runs.v4.parquet"
    written = parquet.stat().st_mtime_ns

    again = run_index.update(results)
    assert (again.added, again.removed, again.unchanged) == (0, 0, 3)
    assert parquet.stat().st_mtime_ns == written, "an unchanged results folder rewrote the index"
    assert _test_top1(again) == {"erm/r0": 0.5, "erm/r1": 0.6, "erm/r2": 0.7}

    shutil.rmtree(results / "erm" / "r1")
    _erm(results, "r1", 1, 0.65)  # the same run again with another result: a new record.json
    _erm(results, "r3", 3, 0.8)
    shutil.rmtree(results / "erm" / "r0")
    changed = run_index.update(results)
    assert (changed.added, changed.removed, changed.unchanged) == (2, 1, 1)
    assert _test_top1(changed) == {"erm/r1": 0.65, "erm/r2": 0.7, "erm/r3": 0.8}
    assert changed.runs["run"].to_list() == ["erm/r1", "erm/r2", "erm/r3"]


def test_record_rewritten_in_place_with_same_size_is_noticed(tmp_path):
    results = tmp_path / "results"
    folder = _erm(results, "r0", 0, 0.5)
    run_index.update(results)
    record = folder / "record.json"
    stat = record.stat()
    lines = folder / "metrics.jsonl"
    lines.write_text(lines.read_text().replace("0.5", "0.6"))
    os.replace(record, folder / "old.json")  # an atomic rewrite: a new file (inode) under the same name
    (folder / "record.json").write_text((folder / "old.json").read_text())
    os.utime(record, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even within one mtime tick
    assert record.stat().st_size == stat.st_size
    updated = run_index.update(results)
    assert updated.added == 1 and _test_top1(updated) == {"erm/r0": 0.6}


def test_a_run_that_finishes_leaves_the_skipped_list(tmp_path):
    results = tmp_path / "results"
    folder = _erm(results, "r0", 0, 0.5)
    record = json.loads((folder / "record.json").read_text())
    (folder / "record.json").write_text(json.dumps({**record, "status": "running"}))
    running = run_index.update(results)
    assert running.runs.filter(pl.col("run") == "erm/r0")["problem"].to_list() == ["still running (status 'running')"]
    (folder / "record.json").write_text(json.dumps(record, indent=2))
    done = run_index.update(results)
    assert done.added == 1 and done.runs["problem"].to_list() == [None]


@pytest.mark.parametrize("damaged", ["runs.v4.parquet", "evaluations.v4.parquet"])
def test_a_damaged_index_is_rebuilt(tmp_path, damaged):
    results = tmp_path / "results"
    _erm(results, "r0", 0, 0.5)
    run_index.update(results)
    (results / run_index.INDEX_DIR / damaged).write_bytes(b"not parquet")
    rebuilt = run_index.update(results)
    assert rebuilt.added == 1 and _test_top1(rebuilt) == {"erm/r0": 0.5}


def _folder_bytes(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_same_records_give_the_same_bytes(tmp_path):
    results = tmp_path / "results"
    _golden(results)
    _selection_fixture(results)
    generate(results, tmp_path / "first")
    first = _folder_bytes(tmp_path / "first")
    assert {"Toy10.png", "Waterbirds.png", "README.md", "Toy2.md"} <= first.keys()

    generate(results, tmp_path / "warm")  # from the index as it stands
    shutil.rmtree(results / run_index.INDEX_DIR)
    generate(results, tmp_path / "cold")  # the index rebuilt from the run folders
    generate(results, tmp_path / "first")  # over the previous generation
    for name in ("warm", "cold", "first"):
        assert _folder_bytes(tmp_path / name) == first, name


def test_regeneration_shows_a_changed_record(tmp_path):
    results = tmp_path / "results"
    for seed, top1 in enumerate([0.5, 0.7]):
        _erm(results, f"r{seed}", seed, top1)
    generate(results, tmp_path / "out")
    table = markdown_table((tmp_path / "out" / "Toy.md").read_text(), "Accuracy")
    assert table["ERM", "erm"]["top-1"] == "60.00 ± 14.14 [-67.06, 187.06]"
    _erm(results, "r2", 2, 0.9)
    summary = generate(results, tmp_path / "out")
    assert summary.changed == 1
    table = markdown_table((tmp_path / "out" / "Toy.md").read_text(), "Accuracy")
    assert table["ERM", "erm"]["top-1"] == "70.00 ± 20.00 [20.32, 119.68]" and table["ERM", "erm"]["n"] == "3"


def test_an_index_that_cannot_be_saved_still_gives_the_leaderboard(tmp_path, monkeypatch):
    results = tmp_path / "results"
    _erm(results, "r0", 0, 0.5)

    def read_only(frame, path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(run_index, "_write_parquet", read_only)  # a read-only results folder, even for root
    summary = generate(results, tmp_path / "out")
    assert summary.note is not None and "could not be saved" in summary.note
    assert markdown_table((tmp_path / "out" / "Toy.md").read_text(), "Accuracy")["ERM", "erm"]["top-1"] == "50.00"
