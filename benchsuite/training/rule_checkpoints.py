"""A checkpoint per selection rule: the model state of the evaluation each epoch-picking rule would choose.

The leaderboard chooses evaluations after the fact (leaderboard/rules.py); reloading the chosen model (for
saliency maps, WCL's negatives figure) needs its weights, which checkpoint.pt (the latest epoch's) no longer
has. With `Trainer.rule_checkpoints = True` (off by default: a model's weights per kept epoch cost disk) the
Trainer calls `keep` after every evaluation. For each rule that picks an epoch and each row label it tracks
the best score so far on the rule's metric, exactly as the rule ranks them (the earliest on ties, only the
final stage: a later stage replaces what an earlier one kept), and keeps

- `best/epoch-<stage>-<epoch>.pt`: the method's state_dict at that evaluation, one file however many rules
  and rows chose it, deleted as soon as none does;
- `best/chosen.json`: "<rule>/<row>" -> {"stage", "epoch", "score", "file"}, written atomically after the
  state file it names.

An epoch evaluated again after a crash (its evaluation ran, its checkpoint.pt was not written) replaces what
it kept. `chosen_state` reads a rule's state back.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from benchsuite import records
from benchsuite.errors import ConfigError
from benchsuite.leaderboard.rules import EPOCH_RULES

FOLDER = "best"
INDEX = "chosen.json"


def _read(path: Path) -> dict[str, dict[str, Any]]:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _better(kept: dict[str, Any] | None, stage: str, epoch: int, score: float) -> bool:
    if kept is None or kept["stage"] != stage or kept["epoch"] == epoch:
        return True
    return score > kept["score"]  # strictly: the earliest evaluation wins a tie, as the rules choose


def keep(run_dir: Path, stage: str, epoch: int, evaluation: dict[str, dict[str, float]], state: nn.Module) -> None:
    """Update the kept checkpoints with this evaluation (row label -> metric -> value) of `stage` at `epoch`."""
    folder = run_dir / FOLDER
    chosen = _read(folder / INDEX)
    file = f"epoch-{stage}-{epoch}.pt"
    updates = {}
    for rule in EPOCH_RULES:
        for row, metrics in evaluation.items():
            score = metrics.get(rule.metric)
            if score is None or math.isnan(score):
                continue
            key = f"{rule.name}/{row}"
            if _better(chosen.get(key), stage, epoch, score):
                updates[key] = {"stage": stage, "epoch": epoch, "score": score, "file": file}
    if not updates:
        return
    records.write_atomic(folder / file, lambda out: torch.save(state.state_dict(), out), "rule_checkpoint")
    chosen.update(updates)
    records.write_json_atomic(folder / INDEX, chosen)
    used = {entry["file"] for entry in chosen.values()}
    for old in folder.glob("epoch-*.pt"):
        if old.name not in used:
            old.unlink(missing_ok=True)


def chosen_state(run_dir: Path, rule: str, row: str) -> dict[str, Any]:
    """The state_dict kept for `rule` and row label `row`; a ConfigError says why there is none."""
    entry = _read(Path(run_dir) / FOLDER / INDEX).get(f"{rule}/{row}")
    if entry is None:
        kept = sorted(_read(Path(run_dir) / FOLDER / INDEX))
        raise ConfigError(
            f"Run folder '{run_dir}' kept no checkpoint for rule {rule!r} and row {row!r} "
            f"({'it kept: ' + ', '.join(kept) if kept else 'it kept none'}). Checkpoints per rule are kept only "
            f"for the rules that pick an epoch ({', '.join(r.name for r in EPOCH_RULES)}) and only by runs made "
            "with the binding Trainer.rule_checkpoints = True."
        )
    return torch.load(Path(run_dir) / FOLDER / entry["file"], map_location="cpu", weights_only=True)
