"""A checkpoint per selection rule: each epoch-picking rule keeps the state of the evaluation it would choose
(the earliest best, final stage only), one file per kept epoch, off by default and out of the run id."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from benchsuite.cli.saliency import load_run
from benchsuite.errors import ConfigError
from benchsuite.leaderboard.rules import EPOCH_RULES
from benchsuite.training import rule_checkpoints
from tests.test_run import tiny_run


def _evaluation(worst_group: float, top1: float, worst_class: float, test_worst: float) -> dict:
    return {"ERM": {"val/worst_group": worst_group, "val/top1": top1, "val/worst_class": worst_class,
                    "test/worst_group": test_worst}}


def test_each_rule_keeps_the_state_of_the_evaluation_it_would_choose(tmp_path):
    model = nn.Linear(1, 1, bias=False)
    # epoch: (val worst-group, val top-1, val worst-class, test worst-group)
    epochs = {1: (0.2, 0.6, 0.5, 0.1), 2: (0.5, 0.5, 0.4, 0.1), 3: (0.5, 0.7, 0.4, 0.2), 4: (0.3, 0.7, 0.6, 0.1)}
    for epoch, scores in epochs.items():
        model.weight.data.fill_(float(epoch))  # the state tells which epoch it was saved at
        rule_checkpoints.keep(tmp_path, "train", epoch, _evaluation(*scores), model)
    chosen = json.loads((tmp_path / "best" / "chosen.json").read_text())
    # the earliest best on ties: worst-group .5 at epochs 2 and 3 -> 2; top-1 .7 at 3 and 4 -> 3
    expected = {"best-val-worst-group": 2, "best-val-average": 3, "best-val-worst-class": 4,
                "oracle-test-worst-group": 3}
    assert {key: entry["epoch"] for key, entry in chosen.items()} == {f"{r}/ERM": e for r, e in expected.items()}
    assert {rule.name for rule in EPOCH_RULES} == set(expected)  # last-epoch picks no epoch: nothing kept
    for rule, epoch in expected.items():
        assert rule_checkpoints.chosen_state(tmp_path, rule, "ERM")["weight"].item() == epoch
    # one file per kept epoch; epoch 1, chosen by nothing any more, was deleted
    assert sorted(path.name for path in (tmp_path / "best").glob("*.pt")) == [
        "epoch-train-2.pt", "epoch-train-3.pt", "epoch-train-4.pt"
    ]
    # a later stage replaces what an earlier one kept (only the final stage counts), even with lower scores
    model.weight.data.fill_(10.0)
    rule_checkpoints.keep(tmp_path, "final", 1, _evaluation(0.0, 0.0, 0.0, 0.0), model)
    assert rule_checkpoints.chosen_state(tmp_path, "best-val-worst-group", "ERM")["weight"].item() == 10.0
    assert [path.name for path in (tmp_path / "best").glob("*.pt")] == ["epoch-final-1.pt"]
    with pytest.raises(ConfigError, match=r"Trainer\.rule_checkpoints = True"):
        rule_checkpoints.chosen_state(tmp_path, "last-epoch", "ERM")


def test_a_run_keeps_them_only_when_asked_and_its_run_id_does_not_change(tmp_path):
    plain = tiny_run(tmp_path / "plain", "ERM", extra=["Trainer.epochs = 3"])
    assert not (plain.run_dir / "best").exists()  # off by default
    kept = tiny_run(tmp_path / "kept", "ERM", extra=["Trainer.epochs = 3", "Trainer.rule_checkpoints = True"])
    assert kept.run_dir.name == plain.run_dir.name  # which checkpoints a run keeps is not what it computes
    lines = [json.loads(line) for line in (kept.run_dir / "metrics.jsonl").read_text().splitlines()]
    chosen = json.loads((kept.run_dir / "best" / "chosen.json").read_text())
    for rule in EPOCH_RULES:
        best = max(line[rule.metric] for line in lines)
        earliest = min(line["epoch"] for line in lines if line[rule.metric] == best)
        assert chosen[f"{rule.name}/ERM"]["epoch"] == earliest, rule.name
    # the saliency command's loader reloads the kept state
    loaded = load_run(kept.run_dir, selection="best-val-worst-group")
    state = rule_checkpoints.chosen_state(kept.run_dir, "best-val-worst-group", "ERM")
    assert all(torch.equal(value, loaded.method.state_dict()[key]) for key, value in state.items())
