"""`sweep --rerun-best N --selection RULE` end to end on the embedded benchmark: a two-setting grid of ERM, the
chosen setting rerun with new seeds as one more batch, nothing run by a second call, and the leaderboard showing
the rerun's seeds for the entry."""

from __future__ import annotations

import json

import pytest

from benchsuite.cli import main
from benchsuite.errors import ConfigError
from benchsuite.leaderboard.build import generate
from benchsuite.sweep.rerun import new_seeds
from tests.conftest import GIN, TINY, TINY_DATA
from tests.leaderboard_records import markdown_table

SWEEP = GIN / "sweeps" / "embedded.gin"
GRID = [
    "Sweep.methods = ['erm']",
    "Sweep.datasets = ['synthetic_backgrounds']",
    "Sweep.seeds = [0, 1]",
    # a learning rate too small to learn in two epochs against a workable one: validation tells them apart
    "Sweep.grids = {'erm': {'Trainer.lr': [1e-06, 0.01]}}",
    *TINY,
    "Trainer.epochs = 2",
    *TINY_DATA["SyntheticBackgrounds"],
]
RULE = "best-val-average"


def _sweep(results, *extra: str) -> int:
    params = [arg for binding in GRID for arg in ("--gin-param", binding)]
    return main(["sweep", "--gin", str(SWEEP), "--results", str(results), "--cluster", "debug", *params, *extra])


def _records(results):
    return [json.loads(path.read_text()) for path in sorted(results.glob("*/*/record.json"))]


def test_new_seeds_are_never_the_grids():
    assert new_seeds([0, 1, 2], 3) == [3, 4, 5]
    assert new_seeds([7, 2], 2) == [8, 9]  # after the largest, whatever the order
    with pytest.raises(ConfigError, match="--rerun-best 0"):
        new_seeds([0], 0)


def test_rerun_before_the_grid_has_finished_is_refused(tmp_path, capsys):
    assert _sweep(tmp_path / "results", "--rerun-best", "3", "--selection", RULE) == 2
    assert "are not finished" in capsys.readouterr().err


def test_selection_without_rerun_best_is_refused(tmp_path, capsys):
    assert _sweep(tmp_path / "results", "--selection", RULE) == 2
    assert "go together" in capsys.readouterr().err


@pytest.mark.slow
def test_rerun_best_runs_the_chosen_setting_with_new_seeds_once(tmp_path, capsys):
    results = tmp_path / "results"
    assert _sweep(results) == 0  # the grid: 2 settings x seeds 0, 1
    grid = _records(results)
    assert {(r["seed"], r["gin_bindings"][1]) for r in grid} == {
        (0, "Trainer.lr = 1e-06"), (0, "Trainer.lr = 0.01"), (1, "Trainer.lr = 1e-06"), (1, "Trainer.lr = 0.01"),
    }
    # the setting the rule chooses: the best mean validation top-1 over seeds (the best epoch of each run)
    score = {}
    for record in grid:
        lines = (results / record["experiment"] / record["run_id"] / "metrics.jsonl").read_text().splitlines()
        best = max(json.loads(line)["val/top1"] for line in lines)
        score.setdefault(record["gin_bindings"][1], []).append(best)
    chosen = max(sorted(score), key=lambda setting: sum(score[setting]) / 2)
    assert len({sum(values) for values in score.values()}) == 2  # no tie: the rule has a choice to make
    capsys.readouterr()

    assert _sweep(results, "--rerun-best", "3", "--selection", RULE) == 0
    out = capsys.readouterr().out
    assert "new seeds 2, 3, 4" in out and "3 runs: 0 finished, 0 failed, 0 running, 0 incomplete, 3 to do" in out
    reruns = [r for r in _records(results) if r["rerun_of"]]
    assert sorted(r["seed"] for r in reruns) == [2, 3, 4]
    assert {r["rerun_of"] for r in reruns} == {RULE}
    assert {r["gin_bindings"][1] for r in reruns} == {chosen}

    assert _sweep(results, "--rerun-best", "3", "--selection", RULE) == 0  # idempotent
    out = capsys.readouterr().out
    assert "3 runs: 3 finished, 0 failed, 0 running, 0 incomplete, 0 to do" in out and "[1/" not in out
    assert len(_records(results)) == 7

    generate(results, tmp_path / "leaderboards", RULE)
    # the tiny dataset's bound sizes make it a variant of SyntheticBackgrounds, with a page of its own
    page = (tmp_path / "leaderboards" / "SyntheticBackgrounds-image_size-16-test_size-64-train_size-128-val_size-64.md"
            ).read_text()
    (source, row), = [(source, row) for (method, source), row in markdown_table(page, "Accuracy").items()]
    assert row["n"] == "3"  # the rerun's three seeds, not the grid's two
    assert f"`{chosen}`" in source and f"seeds 2, 3, 4 of a rerun of the setting chosen by {RULE}" in source
