"""The training loop: schedules, non-finite losses, checkpoints and resuming within a stage."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from benchsuite import records
from benchsuite.datasets.splits import TensorSplit
from benchsuite.training.schedules import cosine_schedule, multistep_schedule
from benchsuite.training.trainer import NonFiniteLoss, Trainer


def _optimizer(lr=1.0):
    return torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr)


def _rates(schedule, epochs=4, steps=3, **kwargs):
    optimizer = _optimizer()
    scheduler = schedule(optimizer, epochs, steps, **kwargs)
    rates = []
    for _ in range(epochs * steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def test_multistep_drops_at_epoch_milestones():
    rates = _rates(multistep_schedule, milestones=[1, 3], gamma=0.1)
    assert rates == pytest.approx([1.0] * 3 + [0.1] * 6 + [0.01] * 3)


def test_cosine_starts_at_base_and_halves_midway():
    rates = _rates(cosine_schedule, epochs=2, steps=2)
    assert rates == pytest.approx([1.0, 0.5 * (1 + 2**-0.5), 0.5, 0.5 * (1 - 2**-0.5)])


def _regression_split(n=64):
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, 255, (n, 1, 2, 2), dtype=torch.uint8, generator=generator)
    y = x.flatten(1).float().sum(1)
    return TensorSplit(x, y, torch.zeros(n, dtype=torch.long))


class _Linear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layer = nn.Linear(4, 1)

    def step(self, batch):
        prediction = self.layer(batch["image"].flatten(1).float() / 255).squeeze(1)
        return ((prediction - batch["label"] / 255) ** 2).mean()


def _trainer_and_stage(folder, lr=0.1):
    folder.mkdir(parents=True, exist_ok=True)
    model = _Linear()
    trainer = Trainer(batch_size=8, optimizer=torch.optim.SGD, lr=lr, progress=False, device="cpu")
    trainer.generator.manual_seed(0)
    trainer.run_dir = folder
    return model, trainer, trainer.stage("train", model, model.step, _regression_split(), epochs=4)


def _train(folder, lr=0.1):
    model, trainer, stage = _trainer_and_stage(folder, lr)
    trainer.fit(stage, model)
    return model


def test_resuming_from_a_checkpoint_matches_an_uninterrupted_run(tmp_path):
    uninterrupted = _train(tmp_path / "a")

    # Interrupt a second run right after its second epoch's checkpoint, then start it again.
    interrupted, trainer, stage = _trainer_and_stage(tmp_path / "b")
    save = trainer._save_checkpoint

    def save_then_stop(stage, state, index, epoch, logged):
        save(stage, state, index, epoch, logged)
        if epoch == 1:
            raise KeyboardInterrupt

    trainer._save_checkpoint = save_then_stop
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(stage, interrupted)
    assert not torch.equal(interrupted.layer.weight, uninterrupted.layer.weight)
    resumed = _train(tmp_path / "b")
    assert torch.equal(resumed.layer.weight, uninterrupted.layer.weight)


def _evaluated_stage(folder):
    model, trainer, stage = _trainer_and_stage(folder)
    stage.evaluate = lambda: {"row": {"test/weight": float(model.layer.weight.sum())}}
    return model, trainer, stage


def _logged(folder):
    lines = [json.loads(line) for line in (folder / records.METRICS).read_text().splitlines()]
    return [(line["epoch"], line["test/weight"]) for line in lines]


def test_an_evaluation_is_logged_once_when_the_run_dies_between_checkpoint_and_log(tmp_path):
    model, trainer, stage = _evaluated_stage(tmp_path / "a")
    trainer.fit(stage, model)
    expected = _logged(tmp_path / "a")
    assert [epoch for epoch, _ in expected] == [1, 2, 3, 4]

    model, trainer, stage = _evaluated_stage(tmp_path / "b")
    save = trainer._save_checkpoint

    def save_then_die(stage, state, index, epoch, logged):
        save(stage, state, index, epoch, logged)
        if epoch == 2:
            raise KeyboardInterrupt  # after epoch 3's checkpoint, before its metrics line

    trainer._save_checkpoint = save_then_die
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(stage, model)
    assert [epoch for epoch, _ in _logged(tmp_path / "b")] == [1, 2]
    model, trainer, stage = _evaluated_stage(tmp_path / "b")
    trainer.fit(stage, model)
    assert _logged(tmp_path / "b") == expected


def test_non_finite_loss_stops_the_stage(tmp_path):
    with pytest.raises(NonFiniteLoss, match="Stage 'train': the loss became nan"):
        _train(tmp_path, lr=1e30)
