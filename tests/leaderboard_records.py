"""Writing run folders by hand for the leaderboard tests: record.json and metrics.jsonl as runs write them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: (stage, epoch, row label, metrics) of one evaluation line
Evaluation = tuple[str, int, str, dict[str, float]]


def write_run(
    results: Path,
    experiment: str,
    run_id: str,
    *,
    dataset: str,
    method: str,
    seed: int,
    evaluations: list[Evaluation],
    setting: str = "",
    **overrides: Any,
) -> Path:
    """A finished run; `setting` adds gin lines (a hyperparameter setting), `overrides` replace record keys."""
    folder = results / experiment / run_id
    folder.mkdir(parents=True)
    with open(folder / "metrics.jsonl", "w") as handle:
        for stage, epoch, row, metrics in evaluations:
            line = {"stage": stage, "epoch": epoch, "train_loss": 0.5, "row": row, **metrics}
            handle.write(json.dumps(line, sort_keys=True) + "\n")
    final: dict[str, dict[str, float]] = {}
    for _, _, row, metrics in evaluations:
        final[row] = metrics  # the record holds the last evaluation of each row
    record = {
        "schema_version": 1, "run_id": run_id, "experiment": experiment, "status": "finished", "error": None,
        "method": method, "dataset": dataset, "backbone": "SmallCNN", "seed": seed, "metrics": final,
        "gin_config": f"import benchsuite\n\nrun.method = @{method}()\nrun.seed = {seed}\n{setting}",
        "gin_files": [f"gin/{experiment}.gin"],
        "gin_bindings": [f"run.seed = {seed}", *(line for line in setting.splitlines() if line.strip())],
        "git": {"commit": "0123456789abcdef", "dirty": False},
        **overrides,
    }
    (folder / "record.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return folder


def markdown_table(text: str, heading: str) -> dict[tuple[str, str], dict[str, str]]:
    """The table under `## heading...` as (method, source) -> column header -> cell."""
    section = text.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    table = {}
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        row = dict(zip(header, cells, strict=True))
        table[row["method"], row["source"]] = row
    return table
